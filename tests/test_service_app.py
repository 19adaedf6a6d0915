"""The service application in-process: reading the FHIR server within its limits, bad requests,
data problems, orders by code, feedback, CORS and the dev flag."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
from ipaddress import ip_network
from typing import Any

import httpx
import pytest

from mmsequence.errors import InputError
from mmsequence.service.app import Settings, create_app, logged_path
from mmsequence.service.fhir_client import Limits
from mmsequence.service.hooks import PREFETCH
from mmsequence.service.trust import Issuer, Trust

from . import fhir_builders as fb
from .service_support import ISSUER, Ehr, FhirServer, call_app, call_app_many, example, prefetch_answer

FHIR = "https://ehr.example.org/fhir"
PATIENT_VIEW = "/cds-services/mmsequence-patient-view"
ORDER_SELECT = "/cds-services/mmsequence-order-select"
WITHOUT_PREFETCH = example("patient-view-without-prefetch") | {
    "fhirServer": FHIR, "fhirAuthorization": {"access_token": "t0k", "token_type": "Bearer", "expires_in": 300,
                                              "scope": "patient/*.read", "subject": "mmsequence"}}


def fhir_server(seen: list[httpx.Request], answer=None) -> httpx.AsyncClient:
    """A FHIR server holding the patient-view example, two pages for each search (or ``answer``)."""

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if answer is not None:
            return await answer(request)
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        data = prefetch_answer(request.url.path)
        if "?" in str(request.url):
            data["link"] = [{"relation": "next", "url": f"{FHIR}/{request.url.path.split('/')[2]}?page=2"}]
        return httpx.Response(200, json=data)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def app_with(tmp_path, client: httpx.AsyncClient | None = None, **settings: Any) -> Any:
    trust = Trust({ISSUER: Issuer(ISSUER, "unused", fhir_servers=(FHIR,))})
    return create_app(Settings(database=tmp_path / "db.sqlite3", authenticate=False, trust=trust, **settings),
                      http_client=client)


def post(app: Any, path: str, body: Any) -> httpx.Response:
    return call_app(app, "POST", path, body)


def test_missing_prefetch_is_read_from_the_fhir_server_with_the_given_token(tmp_path):
    seen: list[httpx.Request] = []
    reply = post(app_with(tmp_path, fhir_server(seen)), PATIENT_VIEW, WITHOUT_PREFETCH)
    direct = post(app_with(tmp_path), PATIENT_VIEW, example("patient-view"))
    assert reply.status_code == 200
    assert [c["summary"] for c in reply.json()["cards"]] == [c["summary"] for c in direct.json()["cards"]]
    assert {r.headers["authorization"] for r in seen} == {"Bearer t0k"}
    assert f"{FHIR}/Patient/tb-014" in {str(r.url) for r in seen}
    searches = [r for r in seen if "?" in str(r.url) and r.url.params.get("page") != "2"]
    assert len(searches) == len(PREFETCH) - 1 and all(r.url.params["_count"] == "100" for r in searches)
    assert sum(r.url.params.get("page") == "2" for r in seen) == len(searches)


def test_a_fhir_server_not_named_for_the_issuer_is_refused_before_any_request(tmp_path):
    seen: list[httpx.Request] = []
    for server in ("https://elsewhere.example/fhir", "http://127.0.0.1:9/fhir", "https://ehr.example.org/fhir/../x",
                   "https://ehr.example.org/fhir2", "https://user:pw@ehr.example.org/fhir"):
        reply = post(app_with(tmp_path, fhir_server(seen)), PATIENT_VIEW, WITHOUT_PREFETCH | {"fhirServer": server})
        assert reply.status_code == 412 and "not a FHIR server the trust file names" in reply.json()["error"]
    assert seen == []


@pytest.mark.parametrize("answer, status", [
    (lambda r: httpx.Response(503), 412),
    (lambda r: httpx.Response(302, headers={"Location": "http://169.254.169.254/"}), 412),
    (lambda r: httpx.Response(200, content=b"<html>"), 412),
    (lambda r: httpx.Response(200, json={"resourceType": "Bundle", "entry": "five"}), 412),
    (lambda r: httpx.Response(200, json={"resourceType": "Bundle", "entry": [5]}), 412),
    (lambda r: httpx.Response(200, json={"resourceType": "Bundle", "link": [{"relation": "next", "url": 5}]}), 412),
    (lambda r: httpx.Response(200, json=["not", "a", "resource"]), 412),
    (lambda r: httpx.Response(200, json={"resourceType": "Bundle", "link": [
        {"relation": "next", "url": "https://evil.example/fhir/x"}]}), 412),
])
def test_an_unusable_fhir_server_answer_is_412_naming_no_internal_field(tmp_path, answer, status):
    async def respond(request):
        return answer(request)
    reply = post(app_with(tmp_path, fhir_server([], respond)), PATIENT_VIEW, WITHOUT_PREFETCH)
    assert reply.status_code == status
    assert reply.json()["error"].startswith("cannot read the FHIR server: ")


def _cut(reply: httpx.Response) -> str:
    assert reply.status_code == 200
    [card] = reply.json()["cards"]
    assert card["indicator"] == "warning" and card["source"]["topic"]["code"] == "data-cut"
    return card["detail"]


def test_a_slow_fhir_server_is_cut_at_the_deadline_and_the_card_says_so(tmp_path):
    async def slow(request):
        await asyncio.sleep(5)
        return httpx.Response(200, json={"resourceType": "Bundle"})
    app = app_with(tmp_path, fhir_server([], slow), limits=Limits(deadline_seconds=0.3))
    assert "did not give all data within 0.3 s" in _cut(post(app, PATIENT_VIEW, WITHOUT_PREFETCH))


def test_answers_over_the_size_cap_are_cut_and_the_card_says_so(tmp_path):
    async def huge(request):
        return httpx.Response(200, json={"resourceType": "Bundle", "entry": [{"resource": {
            "resourceType": "Observation", "id": f"o{i}", "status": "final", "code": {"text": "x" * 500}}} for i in range(40)]})
    app = app_with(tmp_path, fhir_server([], huge), limits=Limits(max_bytes=50_000))
    assert "exceed the 50,000 bytes read for one call" in _cut(post(app, PATIENT_VIEW, WITHOUT_PREFETCH))


def test_paging_stops_at_the_page_bound_and_the_card_says_so(tmp_path):
    seen: list[httpx.Request] = []

    async def endless(request):
        page = int(request.url.params.get("page", "1"))
        return httpx.Response(200, json={"resourceType": "Bundle", "link": [
            {"relation": "next", "url": f"{FHIR}/Condition?patient=tb-014&page={page + 1}"}]})
    app = app_with(tmp_path, fhir_server(seen, endless), limits=Limits(max_pages=3, page_size=7))
    assert "more than 3 pages of 7" in _cut(post(app, PATIENT_VIEW, WITHOUT_PREFETCH))
    assert max(int(r.url.params.get("page", "1")) for r in seen) <= 3


@pytest.mark.parametrize("networks, contacted", [((), False), (("127.0.0.0/8",), True)])
def test_a_named_host_resolving_to_a_private_address_is_connected_to_only_if_the_trust_file_allows(
        tmp_path, networks, contacted):
    """The address a name resolves to is checked at connection time (and connected to), so a trusted
    name pointing into the hospital's own network is refused unless the issuer's private_networks hold it."""
    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "fhir.hospital.test" else []

    with FhirServer() as trap:
        server = f"https://fhir.hospital.test:{trap.port}/fhir"
        issuer = Issuer(ISSUER, "unused", fhir_servers=(server,), private_networks=tuple(map(ip_network, networks)))
        app = create_app(Settings(database=tmp_path / "db.sqlite3", authenticate=False, trust=Trust({ISSUER: issuer})),
                         resolver=resolver)
        reply = post(app, PATIENT_VIEW, WITHOUT_PREFETCH | {"fhirServer": server})
    assert reply.status_code == 412
    assert ("an address this issuer may not use" in reply.json()["error"]) != contacted
    assert (trap.connections > 0) == contacted and trap.calls == []  # TLS to a plain server: no request gets through


def test_prefetch_key_answered_with_null_means_no_data(tmp_path):
    request = example("patient-view")
    request["prefetch"]["carePlans"] = None
    assert post(app_with(tmp_path), PATIENT_VIEW, request).status_code == 200


def test_contradictory_record_gets_one_warning_card_naming_the_problem(tmp_path):
    request = example("patient-view")
    entry = request["prefetch"]["medicationAdministrations"]["entry"][0]["resource"]
    entry["subject"] = {"reference": "Patient/someone-else"}
    [card] = post(app_with(tmp_path), PATIENT_VIEW, request).json()["cards"]
    assert card["indicator"] == "warning"
    assert "'Patient/someone-else' is not the bundle's patient" in card["detail"]


def test_the_same_problem_in_many_records_is_one_line_of_the_problems_card(tmp_path):
    """A record whose every resource has the same defect (here each subject names another patient)
    gets one line naming the problem and its places, the places after the twentieth counted."""
    request = example("patient-view")
    given = request["prefetch"]["medicationAdministrations"]["entry"]
    given += [{"resource": {**given[0]["resource"], "id": f"again-{n}"}} for n in range(30)]
    for entry in given:
        entry["resource"]["subject"] = {"reference": "Patient/someone-else"}
    [card] = post(app_with(tmp_path), PATIENT_VIEW, request).json()["cards"]
    assert card["summary"] == f"TCRT sequencing not assessed: the patient record has {len(given)} data problems to correct"
    [line] = card["detail"].splitlines()
    assert line.startswith("- 'Patient/someone-else' is not the bundle's patient")
    assert line.count("FHIR entry") == 20
    assert line.endswith(f" and {len(given) - 20} more")


def test_order_for_a_conventional_drug_gets_no_cards(tmp_path):
    request = example("order-select")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationCodeableConcept"] = {"text": "Revlimid 25 mg"}
    assert post(app_with(tmp_path), ORDER_SELECT, request).json() == {"cards": []}


@pytest.mark.parametrize("name", ["order-select", "order-sign"])
def test_an_order_gets_one_card_for_the_ordered_therapy(tmp_path, name):
    [card] = post(app_with(tmp_path), f"/cds-services/mmsequence-{name}", example(name)).json()["cards"]
    assert card["indicator"] == "critical" and card["source"]["topic"]["code"] == "order"
    assert card["summary"] == "Talquetamab: avoid now (no bispecific antibody before CAR-T apheresis)"


def test_drafted_therapy_named_through_a_contained_medication(tmp_path):
    request = example("order-sign")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    del draft["medicationCodeableConcept"]
    draft["medicationReference"] = {"reference": "#med"}
    draft["contained"] = [{"resourceType": "Medication", "id": "med", "code": {"text": "Elrexfio 40 mg/mL"}}]
    [card] = post(app_with(tmp_path), "/cds-services/mmsequence-order-sign", request).json()["cards"]
    assert card["summary"].startswith("Elranatamab: avoid now")


def _order(draft_concept: dict, *history: dict) -> dict:
    """An order-select request for patient p1 (prefetch from ``history``) drafting ``draft_concept``."""
    def searchset(kind: str) -> dict:
        return {"resourceType": "Bundle", "type": "searchset",
                "entry": [{"resource": r} for r in (fb.myeloma(), *history) if r["resourceType"] == kind]}
    draft = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order",
             "medicationCodeableConcept": draft_concept, **fb.subject()}
    return {"hook": "order-select", "hookInstance": "h-1",
            "context": {"userId": "Practitioner/1", "patientId": fb.PATIENT, "selections": ["MedicationRequest/d1"],
                        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}},
            "prefetch": {"patient": {"resourceType": "Patient", "id": fb.PATIENT}, "conditions": searchset("Condition"),
                         "medicationAdministrations": searchset("MedicationAdministration"),
                         "medicationStatements": searchset("MedicationStatement"),
                         "medicationRequests": None, "procedures": searchset("Procedure"),
                         "serviceRequests": None, "carePlans": None, "observations": searchset("Observation")}}


def test_an_order_coded_only_by_rxnorm_is_recognised_by_the_catalogs_code(tmp_path):
    policy = tmp_path / "site.yaml"
    policy.write_text(
        "agents:\n  - name: site-bcma-engager\n    targets: [BCMA]\n    modality: bsab\n    class: bispecific\n"
        "    status: investigational\n    role: anti-myeloma\n    codes:\n"
        "      - {system: RxNorm, version: test-site, code: '990001', source: the site's formulary}\n")
    concept = {"coding": [{"system": fb.RXNORM, "code": "990001"}]}
    request = _order(concept)
    [card] = post(app_with(tmp_path, policy=str(policy)), ORDER_SELECT, request).json()["cards"]
    assert card["summary"].startswith("Site-bcma-engager: ")
    # without the site's code the same order names no drug the catalog holds: no card
    assert post(app_with(tmp_path), ORDER_SELECT, request).json() == {"cards": []}


def test_an_avoided_order_suggests_the_best_alternative_and_feedback_may_accept_it(tmp_path):
    request = _order({"text": "Elrexfio 40 mg/mL"},
                     fb.statement("tec", "teclistamab", "2023-01-01", "2023-06-01"),
                     fb.procedure("cilta", "Ciltacabtagene autoleucel infusion (CAR-T)", "2024-02-01"))
    app = app_with(tmp_path)
    [card] = post(app, ORDER_SELECT, request).json()["cards"]
    assert card["indicator"] == "critical" and card["summary"].startswith("Elranatamab: avoid now")
    [suggestion] = card["suggestions"]
    assert [a["type"] for a in suggestion["actions"]] == ["delete", "create"]
    assert suggestion["actions"][0]["resourceId"] == "MedicationRequest/d1"
    accepted = {"card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": suggestion["uuid"]}],
                "outcomeTimestamp": "2026-06-01T10:00:00Z"}
    wrong = accepted | {"acceptedSuggestions": [{"id": "made-up"}]}
    first, retry, bad = call_app_many(app, [("POST", ORDER_SELECT + "/feedback", {"feedback": [b]}, None, None)
                                            for b in (accepted, accepted, wrong)])
    assert (first.status_code, first.json()) == (200, {"stored": 1}) and retry.json() == first.json()
    assert bad.status_code == 400 and "'made-up' is not a suggestion of that card" in bad.json()["problems"][0]
    assert [f.accepted_suggestions for f in app.state.store.feedback()] == [(suggestion["uuid"],)]


@pytest.mark.parametrize("mutate, problem", [
    (lambda r: r.update(hook="order-sign"), "hook: 'order-sign' is not this service's hook ('patient-view')"),
    (lambda r: r["context"].pop("patientId"), "context.patientId: expected a non-empty string"),
    (lambda r: r.pop("hookInstance"), "hookInstance: expected a non-empty string"),
    (lambda r: r["prefetch"]["conditions"].update(entry=5), "prefetch.conditions.entry: expected a list"),
    (lambda r: r["prefetch"].update(patient=[1]), "prefetch.patient: expected a FHIR resource or null"),
    (lambda r: r["prefetch"]["conditions"].update(entry=[7]),
     "prefetch.conditions.entry[0]: expected an object with a resource object"),
    (lambda r: r.update(fhirAuthorization={"access_token": 5}),
     "fhirAuthorization.access_token: expected a non-empty string"),
])
def test_invalid_hook_request_is_400_naming_the_field(tmp_path, mutate, problem):
    request = example("patient-view")
    mutate(request)
    reply = post(app_with(tmp_path), PATIENT_VIEW, request)
    assert reply.status_code == 400 and problem in reply.json()["problems"]


def test_draft_orders_with_entries_that_are_not_a_list_is_400(tmp_path):
    request = example("order-select")
    request["context"]["draftOrders"]["entry"] = 5
    reply = post(app_with(tmp_path), ORDER_SELECT, request)
    assert reply.status_code == 400 and "context.draftOrders.entry: expected a list" in reply.json()["problems"]


@pytest.mark.parametrize("kind", [[], {}, 5, None])
def test_a_draft_order_whose_type_is_not_a_string_is_400_naming_the_field(tmp_path, kind):
    """A draft is told apart by its resourceType; one that is a list or an object was a server error."""
    request = example("order-select")
    request["context"]["draftOrders"]["entry"][0]["resource"]["resourceType"] = kind
    reply = post(app_with(tmp_path), ORDER_SELECT, request)
    assert reply.status_code == 400
    assert reply.json()["problems"] == ["context.draftOrders.entry[0].resource.resourceType: expected a string"]


@pytest.mark.parametrize("path, raw", [
    (PATIENT_VIEW, json.dumps(example("patient-view") | {"hookInstance": "\\ud800"}).replace("\\\\ud800", "\\ud800")),
    (PATIENT_VIEW + "/feedback", '{"feedback": [{"card": "\\udc00", "outcome": "overridden",'
                                 ' "outcomeTimestamp": "2026-01-10T10:00:00Z"}]}'),
    (PATIENT_VIEW, "{\"hook\": "), (PATIENT_VIEW, "\xff\xfe"),
])
def test_bodies_that_are_not_json_text_are_400(tmp_path, path, raw):
    reply = call_app(app_with(tmp_path), "POST", path, content=raw.encode("utf-8", "surrogatepass"))
    assert reply.status_code == 400, reply.text


def _issued_card(app: Any) -> str:
    return post(app, PATIENT_VIEW, example("patient-view")).json()["cards"][0]["uuid"]


@pytest.mark.parametrize("item, problem", [
    ({"outcome": "accepted", "outcomeTimestamp": "2026-01-10T10:00:00Z"},
     "feedback[0].acceptedSuggestions: required when the outcome is accepted"),
    ({"outcome": "ignored", "outcomeTimestamp": "2026-01-10T10:00:00Z"},
     "feedback[0].outcome: expected one of accepted, overridden"),
    ({"outcome": "overridden", "outcomeTimestamp": "2026-01-10T10:00:00Z", "card": None},
     "feedback[0].card: expected a non-empty string"),
    ({"outcome": "overridden", "outcomeTimestamp": "2026-01-10T10:00:00Z", "card": "never-issued"},
     "feedback[0].card: not a card this service issued to this EHR"),
])
def test_invalid_feedback_is_400_and_nothing_is_stored(tmp_path, item, problem):
    app = app_with(tmp_path)
    item = {"card": _issued_card(app)} | item
    reply = post(app, PATIENT_VIEW + "/feedback", {"feedback": [item]})
    assert reply.status_code == 400 and problem in reply.json()["problems"]
    assert app.state.store.feedback() == []


def test_feedback_for_a_card_of_another_service_is_refused(tmp_path):
    app = app_with(tmp_path)
    item = {"card": _issued_card(app), "outcome": "overridden", "outcomeTimestamp": "2026-01-10T10:00:00Z"}
    assert post(app, ORDER_SELECT + "/feedback", {"feedback": [item]}).status_code == 400
    assert post(app, PATIENT_VIEW + "/feedback", {"feedback": [item]}).json() == {"stored": 1}


def test_unknown_service_is_404_and_discovery_takes_a_trailing_slash(tmp_path):
    app = app_with(tmp_path)
    missing, slash, plain = call_app_many(app, [("POST", "/cds-services/nope", {}, None, None),
                                                ("GET", "/cds-services/", None, None, None),
                                                ("GET", "/cds-services", None, None, None)])
    assert missing.status_code == 404
    assert slash.status_code == 200 and slash.json() == plain.json()


def test_cors_preflight_is_answered_for_configured_origins_only(tmp_path):
    app = app_with(tmp_path, cors_origins=("https://ehr.example.org",))
    preflight = {"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    allowed, other, call = call_app_many(app, [
        ("OPTIONS", PATIENT_VIEW, None, preflight, None),
        ("OPTIONS", PATIENT_VIEW, None, preflight | {"Origin": "https://evil.example"}, None),
        ("POST", PATIENT_VIEW, example("patient-view"), {"Origin": "https://ehr.example.org"}, None)])
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://ehr.example.org"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    assert call.headers["access-control-allow-origin"] == "https://ehr.example.org"


def test_without_cors_origins_a_preflight_gets_no_cors_headers(tmp_path):
    reply = call_app(app_with(tmp_path), "OPTIONS", PATIENT_VIEW,
                     headers={"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST"})
    assert reply.status_code == 405 and "access-control-allow-origin" not in reply.headers


def test_turning_authentication_off_is_logged_loudly(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="mmsequence.service"):
        app_with(tmp_path)
    assert "AUTHENTICATION IS OFF" in caplog.text


def test_authentication_needs_an_audience_never_taken_from_the_request(tmp_path):
    ehr = Ehr(tmp_path)
    trust = Trust({ISSUER: Issuer(ISSUER, str(ehr.jwks))})
    with pytest.raises(InputError, match="--public-url: required"):
        create_app(Settings(database=tmp_path / "db.sqlite3", trust=trust))
    with pytest.raises(InputError, match="no trusted EHR"):
        create_app(Settings(database=tmp_path / "db.sqlite3"))
    app = create_app(Settings(database=tmp_path / "db.sqlite3", trust=trust, public_url="https://cds.example.org"))
    here = call_app(app, "GET", "/cds-services", headers=ehr.auth("http://test/cds-services"))
    there = call_app(app, "GET", "/cds-services", headers=ehr.auth("https://cds.example.org/cds-services"))
    assert (here.status_code, there.status_code) == (401, 200)


def test_the_log_shows_only_known_service_paths():
    assert logged_path("/cds-services/mmsequence-order-sign/feedback") == "/cds-services/mmsequence-order-sign/feedback"
    assert logged_path("/cds-services/tb-014") == "/cds-services/(unknown service)"
    assert logged_path("/Patient/tb-014") == "(another path)"


def test_logs_carry_no_patient_data(tmp_path, caplog):
    request = copy.deepcopy(WITHOUT_PREFETCH)
    with caplog.at_level(logging.DEBUG):
        post(app_with(tmp_path, fhir_server([])), PATIENT_VIEW, request)
    assert caplog.records and "tb-014" not in caplog.text and "t0k" not in caplog.text


def test_cards_follow_the_accept_language_header_and_fall_back_to_english(tmp_path):
    app = app_with(tmp_path)

    def cards(path: str, body: Any, language: str | None) -> list[dict]:
        headers = {"accept-language": language} if language else None
        return call_app(app, "POST", path, body, headers=headers).json()["cards"]

    for path, body in ((PATIENT_VIEW, example("patient-view")), (ORDER_SELECT, example("order-select"))):
        english = cards(path, body, None)
        assert cards(path, body, "fr-FR, de;q=0.8") == english == cards(path, body, "en-GB,zh-CN;q=0.5")
        chinese = cards(path, body, "zh-CN,zh;q=0.9,en;q=0.8")
        assert len(chinese) == len(english) and chinese != english
        assert [c["indicator"] for c in chinese] == [c["indicator"] for c in english]
        # every summary in Chinese, and every detail but the record's own data warnings (quoted as read)
        assert all(re.search(r"[\u4e00-\u9fff]", c["summary"]) for c in chinese)
        assert all(re.search(r"[\u4e00-\u9fff]", c["detail"]) for c in chinese if c["source"]["topic"]["code"] != "data-quality")
    # cilta-cel and ide-cel are equal first in the example: both are named
    assert cards(PATIENT_VIEW, example("patient-view"), "zh-CN")[0]["summary"].startswith("最佳 TCRT 方案（并列）：")
