"""The CDS Hooks service as a real uvicorn process on 127.0.0.1: the endpoints an EHR calls."""

from __future__ import annotations

import httpx
import pytest

from mmsequence.service.hooks import PREFETCH, SERVICES
from mmsequence.service.store import Store

from .service_support import Ehr, example, running_service


@pytest.fixture(scope="module")
def ehr(tmp_path_factory):
    return Ehr(tmp_path_factory.mktemp("ehr"))


@pytest.fixture(scope="module")
def service(ehr, tmp_path_factory):
    folder = tmp_path_factory.mktemp("service")
    with running_service(ehr, folder / "service.sqlite3", folder / "service.log") as base:
        yield base, folder


def post(base: str, ehr: Ehr, path: str, body: dict, **claims) -> httpx.Response:
    return httpx.post(base + path, json=body, headers=ehr.auth(base + path, **claims), timeout=30)


def test_discovery_lists_each_service_with_its_prefetch(service, ehr):
    base, _ = service
    reply = httpx.get(base + "/cds-services", headers=ehr.auth(base + "/cds-services"), timeout=10)
    assert reply.status_code == 200
    services = reply.json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [(s.id, s.hook) for s in SERVICES.values()]
    assert {"patient-view", "order-select", "order-sign"} == {s["hook"] for s in services}
    assert all(s["prefetch"] == PREFETCH and s["description"] and s["title"] for s in services)


def test_patient_view_assesses_every_candidate(service, ehr):
    base, _ = service
    reply = post(base, ehr, "/cds-services/mmsequence-patient-view", example("patient-view"))
    assert reply.status_code == 200
    cards = reply.json()["cards"]
    assert cards[0]["source"]["topic"]["code"] == "summary"
    critical = sorted(c["summary"].split(" now")[0] for c in cards if c["indicator"] == "critical")
    assert critical == ["Avoid elranatamab", "Avoid linvoseltamab", "Avoid talquetamab", "Avoid teclistamab"]


@pytest.mark.parametrize("name", ["order-select", "order-sign"])
def test_order_hooks_assess_the_drafted_therapy_only(service, ehr, name):
    base, _ = service
    reply = post(base, ehr, f"/cds-services/mmsequence-{name}", example(name))
    assert reply.status_code == 200
    summaries = [c["summary"] for c in reply.json()["cards"][1:]]
    assert summaries == ["Avoid talquetamab now: review.no-bsab-before-apheresis"]


def test_missing_prefetch_without_a_fhir_server_is_412(service, ehr):
    base, _ = service
    reply = post(base, ehr, "/cds-services/mmsequence-patient-view", example("patient-view-without-prefetch"))
    assert reply.status_code == 412
    assert reply.json()["missing"] == list(PREFETCH)


def test_no_token_is_401_and_an_oversized_body_413(service, ehr):
    base, _ = service
    assert httpx.get(base + "/cds-services", timeout=10).status_code == 401
    huge = {"hook": "patient-view", "padding": "x" * 6_000_000}
    assert post(base, ehr, "/cds-services/mmsequence-patient-view", huge).status_code == 413


def test_feedback_survives_a_restart_and_so_do_used_token_ids(ehr, tmp_path):
    database, log = tmp_path / "feedback.sqlite3", tmp_path / "service.log"
    public = "https://cds.example.org"  # behind a proxy: the aud is the public URL, the same after a restart
    body = example("feedback")
    path = "/cds-services/mmsequence-patient-view/feedback"
    with running_service(ehr, database, log, "--public-url", public) as base:
        hook = httpx.post(base + "/cds-services/mmsequence-patient-view", json=example("patient-view"),
                          headers=ehr.auth(public + "/cds-services/mmsequence-patient-view"), timeout=30)
        card = hook.json()["cards"][1]
        body["feedback"][0]["card"] = card["uuid"]
        token = ehr.token(public + path)
        reply = httpx.post(base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert reply.json() == {"stored": 1}
    with running_service(ehr, database, log, "--public-url", public) as base:
        replay = httpx.post(base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert replay.status_code == 401 and "replayed" in replay.json()["error"]
    [stored] = Store(database).feedback("mmsequence-patient-view")
    assert (stored.card, stored.outcome, stored.reason_code, stored.user_comment) == (
        card["uuid"], "overridden", "rapid-progression", "Discussed at tumour board")
    assert "tb-014" not in log.read_text()  # no patient data in the logs
