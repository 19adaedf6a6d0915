"""The service under hostile or heavy input, in-process: limits answered 413/422, a bounded number
of calls at once (503 with Retry-After), large bodies on a lane of their own, linear cards, next
links normalised, IPv4-embedding IPv6 addresses refused, and a failing database a logged 503."""

from __future__ import annotations

import asyncio
import copy
import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
from typing import Any

import httpx
import pytest

from mmsequence.notices import Notice
from mmsequence.service import cards
from mmsequence.service.fhir_client import _GuardedBackend, within

from .service_support import call_app, example, free_port
from .test_robustness import nested_extension_bundle
from .test_service_app import FHIR, ORDER_SELECT, PATIENT_VIEW, WITHOUT_PREFETCH, app_with, fhir_server, post


def test_a_deeply_nested_prefetch_is_422_naming_the_limit(tmp_path):
    request = example("patient-view")
    request["prefetch"]["patient"] = nested_extension_bundle(150)["entry"][0]["resource"]
    reply = post(app_with(tmp_path), PATIENT_VIEW, request)
    assert reply.status_code == 422 and "limit max_depth" in reply.json()["error"]
    assert call_app(app_with(tmp_path), "POST", PATIENT_VIEW, content=b"[" * 100_000).status_code == 422


def test_bundles_over_the_entry_cap_are_413(tmp_path):
    request = example("patient-view")
    conditions = request["prefetch"]["conditions"]
    conditions["entry"] = [copy.deepcopy(conditions["entry"][0]) for _ in range(60)]
    reply = post(app_with(tmp_path, max_entries=50), PATIENT_VIEW, request)
    assert reply.status_code == 413 and "more than 50 entries (limit max_entries)" in reply.json()["error"]


def _concurrently(app: Any, bodies: list[dict]) -> list[tuple[int, httpx.Response]]:
    """The replies to ``bodies`` sent at once, each with the order in which it finished."""
    async def run() -> list[tuple[int, httpx.Response]]:
        finished: list[int] = []
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                async def send(i: int, body: dict) -> httpx.Response:
                    reply = await client.post(PATIENT_VIEW, json=body, timeout=120)
                    finished.append(i)
                    return reply
                replies = await asyncio.gather(*(send(i, b) for i, b in enumerate(bodies)))
        return [(finished.index(i), reply) for i, reply in enumerate(replies)]
    return asyncio.run(run())


def test_calls_beyond_the_cap_get_503_with_retry_after(tmp_path):
    replies = _concurrently(app_with(tmp_path, max_evaluations=1), [example("patient-view")] * 3)
    statuses = sorted(reply.status_code for _, reply in replies)
    assert statuses == [200, 503, 503]
    assert all(r.headers["retry-after"] == "2" for _, r in replies if r.status_code == 503)


def _large_record(observations: int) -> dict:
    request = example("patient-view")
    request["prefetch"]["observations"] = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final",
                      "subject": {"reference": "Patient/tb-014"}, "code": {"text": f"unmapped {i}"}}}
        for i in range(observations)]}
    return request


def test_a_large_body_does_not_hold_up_an_ordinary_call(tmp_path):
    large = _large_record(4000)
    replies = _concurrently(app_with(tmp_path, large_body_bytes=100_000), [large, example("patient-view")])
    (large_order, large_reply), (small_order, small_reply) = replies
    assert large_reply.status_code == 200 and small_reply.status_code == 200
    assert small_order < large_order


def test_a_second_large_body_at_once_gets_503(tmp_path):
    large = _large_record(2000)
    replies = _concurrently(app_with(tmp_path, large_body_bytes=100_000), [large, large])
    assert sorted(reply.status_code for _, reply in replies) == [200, 503]


def _without_uuids(reply: httpx.Response) -> list[dict]:
    return [{k: v for k, v in card.items() if k not in ("uuid", "suggestions")} | {
        "suggestions": [{k: v for k, v in s.items() if k != "uuid"} for s in card.get("suggestions", ())]}
        for card in reply.json()["cards"]]


@pytest.mark.parametrize("name, path", [("patient-view", PATIENT_VIEW), ("order-select", ORDER_SELECT)])
def test_a_call_assessed_in_the_large_lanes_process_gets_the_cards_of_the_ordinary_lane(tmp_path, name, path):
    ordinary = post(app_with(tmp_path / "ordinary"), path, example(name))
    large = post(app_with(tmp_path / "large", large_body_bytes=1), path, example(name))
    assert ordinary.status_code == large.status_code == 200
    assert _without_uuids(large) == _without_uuids(ordinary) and large.json()["cards"]


def test_the_large_lanes_process_refuses_as_the_ordinary_lane_does(tmp_path):
    request = example("patient-view") | {"hookInstance": 7}
    ordinary = post(app_with(tmp_path / "ordinary"), PATIENT_VIEW, request)
    large = post(app_with(tmp_path / "large", large_body_bytes=1), PATIENT_VIEW, request)
    assert ordinary.status_code == large.status_code == 400
    assert large.json() == ordinary.json() and "hookInstance" in str(large.json()["problems"])


def test_a_large_call_whose_record_is_on_the_fhir_server_reads_it_there(tmp_path):
    seen: list[httpx.Request] = []
    large = post(app_with(tmp_path / "large", fhir_server(seen), large_body_bytes=1), PATIENT_VIEW, WITHOUT_PREFETCH)
    direct = post(app_with(tmp_path / "direct"), PATIENT_VIEW, example("patient-view"))
    assert large.status_code == 200 and f"{FHIR}/Patient/tb-014" in {str(r.url) for r in seen}
    assert [c["summary"] for c in large.json()["cards"]] == [c["summary"] for c in direct.json()["cards"]]


def test_a_call_whose_large_lane_process_ended_is_assessed_on_the_thread_and_the_process_restarts(tmp_path, caplog):
    app = app_with(tmp_path, large_body_bytes=1)

    async def run() -> list[int]:
        statuses, earlier, started = [], {p.pid for p in multiprocessing.active_children()}, []
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                for kill in (False, True, False):
                    if kill:  # the process the first call started
                        (child,) = [p for p in multiprocessing.active_children() if p.pid not in earlier]
                        os.kill(child.pid, signal.SIGKILL)
                        child.join(30)
                    statuses.append((await client.post(PATIENT_VIEW, json=example("patient-view"), timeout=120)).status_code)
                    started.append({p.pid for p in multiprocessing.active_children() if p.pid not in earlier})
        return statuses, started
    with caplog.at_level(logging.ERROR, logger="mmsequence.service"):
        statuses, started = asyncio.run(run())
    assert statuses == [200, 200, 200]
    assert caplog.text.count("the large-body lane's process ended") == 1
    assert len(started[0]) == 1 and len(started[2] - started[0]) == 1  # started again for the third call


def test_the_data_card_names_a_bounded_number_of_places():
    warnings = [Notice("unused.observation", f"Observation/o{i}") for i in range(5000)]
    [group] = cards.warning_groups(warnings)
    assert group.endswith(f"and {5000 - cards.MAX_PLACES} more") and len(group) < 2000


@pytest.mark.parametrize("link", [
    "{base}/../trap", "{base}/%2e%2e/trap", "{base}/Condition/..%2Ftrap", "{base}/./../../trap",
    "https://ehr.example.org/fhirx/Condition",
])
def test_a_next_link_leaving_the_base_once_normalised_is_refused(tmp_path, link):
    seen: list[httpx.Request] = []

    async def answer(request):
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "link": [
            {"relation": "next", "url": link.format(base=FHIR)}]})
    reply = post(app_with(tmp_path, fhir_server(seen, answer)), PATIENT_VIEW, WITHOUT_PREFETCH)
    assert reply.status_code == 412 and "a next page outside the FHIR server" in reply.json()["error"]
    assert all(r.url.path.startswith("/fhir/") for r in seen)


def test_a_next_link_is_sent_as_it_was_checked():
    assert within(FHIR + "/", FHIR + "/a/./b/../Condition?page=2") == FHIR + "/a/Condition?page=2"
    assert within(FHIR + "/", "HTTPS://EHR.example.org:443/fhir/x") == FHIR + "/x"


@pytest.mark.parametrize("address", ["::127.0.0.1", "::ffff:0:7f00:1", "64:ff9b::7f00:1", "64:ff9b:1::a00:1",
                                     "2002:7f00:1::", "::a9fe:a9fe"])
def test_ipv6_addresses_embedding_an_ipv4_address_are_refused(address):
    async def resolver(host: str, port: int) -> list[str]:
        return [address]
    assert not _GuardedBackend((), resolver).permits(address)
    assert _GuardedBackend((), resolver).permits("2606:4700:4700::1111")


def test_a_failing_database_is_a_logged_503(tmp_path, caplog, monkeypatch):
    app = app_with(tmp_path)

    def full(*args: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(app.state.store, "add_cards", full)
    with caplog.at_level(logging.ERROR, logger="mmsequence.service"):
        reply = post(app, PATIENT_VIEW, example("patient-view"))
    assert reply.status_code == 503 and reply.headers["retry-after"] == "30"
    assert "the service's database failed: database or disk is full" in caplog.text


def test_a_database_that_cannot_be_written_is_exit_2_at_startup(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    command = [sys.executable, "-m", "mmsequence.cli", "serve", "--port", str(free_port()), "--insecure-dev-no-auth",
               "--database", str(blocker / "db.sqlite3")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--database: " in done.stderr and "Traceback" not in done.stderr


def test_fhir_server_urls_are_normalised_before_they_are_compared():
    from mmsequence.service.trust import normalise_base

    assert normalise_base("HTTPS://EHR.example.org:443/r4/../fhir/") == "https://ehr.example.org/fhir"
    assert normalise_base("https://ehr.example.org/fhir/./") == "https://ehr.example.org/fhir"
    for refused in ("https://ehr.example.org/%2e%2e/fhir", "https://ehr.example.org/fhir%2Fx", "https://ehr.example.org/a%5cb"):
        assert normalise_base(refused) is None
