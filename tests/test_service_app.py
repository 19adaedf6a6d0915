"""The service application in-process: reading the FHIR server, bad requests, data problems, the dev flag."""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

import httpx
import pytest

from mmsequence.service.app import Settings, create_app
from mmsequence.service.hooks import PREFETCH

from .service_support import example

FHIR = "https://ehr.example.org/fhir"


def call(app: Any, path: str, body: dict | None = None) -> httpx.Response:
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await (client.post(path, json=body) if body is not None else client.get(path))
    return asyncio.run(run())


def fhir_server(seen: list[httpx.Request], fail: bool = False) -> httpx.AsyncClient:
    """A FHIR server answering the prefetch queries from the patient-view example, two pages for one of them."""
    prefetch = example("patient-view")["prefetch"]
    by_type = {template.split("?")[0].split("/")[0]: key for key, template in PREFETCH.items()}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if fail:
            return httpx.Response(503)
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        data = copy.deepcopy(prefetch[by_type[request.url.path.split("/")[2]]])
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            data["link"] = [{"relation": "next", "url": f"{FHIR}/{request.url.path.split('/')[2]}?page=2"}]
        return httpx.Response(200, json=data or {"resourceType": "Bundle", "type": "searchset"})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


def app_with(tmp_path, client: httpx.AsyncClient | None = None) -> Any:
    return create_app(Settings(database=tmp_path / "db.sqlite3", authenticate=False), http_client=client)


def test_missing_prefetch_is_read_from_the_fhir_server_with_the_given_token(tmp_path):
    seen: list[httpx.Request] = []
    request = example("patient-view-without-prefetch") | {
        "fhirServer": FHIR, "fhirAuthorization": {"access_token": "t0k", "token_type": "Bearer", "expires_in": 300,
                                                  "scope": "patient/*.read", "subject": "mmsequence"}}
    reply = call(app_with(tmp_path, fhir_server(seen)), "/cds-services/mmsequence-patient-view", request)
    direct = call(app_with(tmp_path), "/cds-services/mmsequence-patient-view", example("patient-view"))
    assert reply.status_code == 200
    assert [c["summary"] for c in reply.json()["cards"]] == [c["summary"] for c in direct.json()["cards"]]
    assert {r.headers["authorization"] for r in seen} == {"Bearer t0k"}
    assert str(seen[0].url) == f"{FHIR}/Patient/tb-014"
    assert any(r.url.params.get("page") == "2" for r in seen)


@pytest.mark.parametrize("server, fail", [(FHIR, True), ("http://ehr.example.org/fhir", False)])
def test_an_unusable_fhir_server_is_412(tmp_path, server, fail):
    request = example("patient-view-without-prefetch") | {"fhirServer": server, "fhirAuthorization": {"access_token": "t"}}
    reply = call(app_with(tmp_path, fhir_server([], fail=fail)), "/cds-services/mmsequence-patient-view", request)
    assert reply.status_code == 412


def test_prefetch_key_answered_with_null_means_no_data(tmp_path):
    request = example("patient-view")
    request["prefetch"]["carePlans"] = None
    assert call(app_with(tmp_path), "/cds-services/mmsequence-patient-view", request).status_code == 200


def test_contradictory_record_gets_one_warning_card_naming_the_problem(tmp_path):
    request = example("patient-view")
    entry = request["prefetch"]["medicationAdministrations"]["entry"][0]["resource"]
    entry["subject"] = {"reference": "Patient/someone-else"}
    [card] = call(app_with(tmp_path), "/cds-services/mmsequence-patient-view", request).json()["cards"]
    assert card["indicator"] == "warning"
    assert "'Patient/someone-else' is not the bundle's patient" in card["detail"]


def test_order_for_a_conventional_drug_gets_no_cards(tmp_path):
    request = example("order-select")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationCodeableConcept"] = {"text": "Revlimid 25 mg"}
    assert call(app_with(tmp_path), "/cds-services/mmsequence-order-select", request).json() == {"cards": []}


def test_drafted_therapy_named_through_a_contained_medication(tmp_path):
    request = example("order-sign")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    del draft["medicationCodeableConcept"]
    draft["medicationReference"] = {"reference": "#med"}
    draft["contained"] = [{"resourceType": "Medication", "id": "med", "code": {"text": "Elrexfio 40 mg/mL"}}]
    cards = call(app_with(tmp_path), "/cds-services/mmsequence-order-sign", request).json()["cards"]
    assert [c["summary"].split(":")[0] for c in cards[1:]] == ["Avoid elranatamab now"]


@pytest.mark.parametrize("mutate, problem", [
    (lambda r: r.update(hook="order-sign"), "hook: 'order-sign' is not this service's hook ('patient-view')"),
    (lambda r: r["context"].pop("patientId"), "context.patientId: expected a non-empty string"),
    (lambda r: r.pop("hookInstance"), "hookInstance: expected a non-empty string"),
])
def test_invalid_hook_request_is_400_naming_the_field(tmp_path, mutate, problem):
    request = example("patient-view")
    mutate(request)
    reply = call(app_with(tmp_path), "/cds-services/mmsequence-patient-view", request)
    assert reply.status_code == 400 and problem in reply.json()["problems"]


@pytest.mark.parametrize("item, problem", [
    ({"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-01-10T10:00:00Z"},
     "feedback[0].acceptedSuggestions: required when the outcome is accepted"),
    ({"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-01-10T10:00:00Z"},
     "feedback[0].outcome: expected one of accepted, overridden"),
    ({"outcome": "overridden", "outcomeTimestamp": "2026-01-10T10:00:00Z"}, "feedback[0].card: expected a non-empty string"),
])
def test_invalid_feedback_is_400_and_nothing_is_stored(tmp_path, item, problem):
    app = app_with(tmp_path)
    reply = call(app, "/cds-services/mmsequence-patient-view/feedback", {"feedback": [item]})
    assert reply.status_code == 400 and problem in reply.json()["problems"]
    assert app.state.store.feedback() == []


def test_accepted_feedback_keeps_the_suggestion_ids(tmp_path):
    app = app_with(tmp_path)
    item = {"card": "c1", "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}], "outcomeTimestamp": "2026-01-10T10:00:00Z"}
    assert call(app, "/cds-services/mmsequence-order-sign/feedback", {"feedback": [item]}).json() == {"stored": 1}
    assert app.state.store.feedback()[0].accepted_suggestions == ("s1",)


def test_unknown_service_is_404(tmp_path):
    assert call(app_with(tmp_path), "/cds-services/nope", {}).status_code == 404


def test_turning_authentication_off_is_logged_loudly(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="mmsequence.service"):
        app_with(tmp_path)
    assert "AUTHENTICATION IS OFF" in caplog.text


def test_cards_follow_the_accept_language_header_and_fall_back_to_english(tmp_path):
    app = app_with(tmp_path)

    def cards(language: str | None) -> list[dict]:
        async def run() -> httpx.Response:
            headers = {"accept-language": language} if language else {}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                return await client.post("/cds-services/mmsequence-patient-view", json=example("patient-view"),
                                         headers=headers)
        return asyncio.run(run()).json()["cards"]

    english = cards(None)
    assert cards("fr-FR, de;q=0.8") == english == cards("en-GB,zh-CN;q=0.5")
    chinese = cards("zh-CN,zh;q=0.9,en;q=0.8")
    assert len(chinese) == len(english) and chinese != english
    assert chinese[0]["summary"].startswith("TCRT 排序：")
    assert all("证据：" in card["detail"] for card in chinese[1:])
    assert {c["indicator"] for c in chinese} == {c["indicator"] for c in english}
    assert [c["display"] for c in chinese[1]["overrideReasons"]][0] == "疾病快速进展：患者无法等待"
