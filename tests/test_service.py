"""The CDS Hooks service as a real uvicorn process on 127.0.0.1: the endpoints an EHR calls, its
FHIR reads bound to the trust file, feedback across restarts, and several worker processes."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mmsequence.service.hooks import PREFETCH, SERVICES
from mmsequence.service.store import Store

from .service_support import ISSUER, Ehr, FhirServer, example, free_port, running_service

PATIENT_VIEW = "/cds-services/mmsequence-patient-view"


@pytest.fixture(scope="module")
def ehr(tmp_path_factory):
    return Ehr(tmp_path_factory.mktemp("ehr"))


@pytest.fixture(scope="module")
def fhir():
    with FhirServer() as server:
        yield server


@pytest.fixture(scope="module")
def service(ehr, fhir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("service")
    trust = ehr.trust_file(folder, fhir_servers=[fhir.base])
    log = folder / "service.log"
    with running_service(ehr, folder / "service.sqlite3", log, "--cors-origin", "https://ehr.example.org",
                         trust_file=trust) as base:
        yield base, log


def post(base: str, ehr: Ehr, path: str, body: dict, **claims) -> httpx.Response:
    return httpx.post(base + path, json=body, headers=ehr.auth(base + path, **claims), timeout=30)


def test_discovery_lists_each_service_with_its_prefetch_also_with_a_trailing_slash(service, ehr):
    base, _ = service
    for path in ("/cds-services", "/cds-services/"):
        reply = httpx.get(base + path, headers=ehr.auth(base + path), timeout=10)
        assert reply.status_code == 200  # no redirect
        services = reply.json()["services"]
        assert [(s["id"], s["hook"]) for s in services] == [(s.id, s.hook) for s in SERVICES.values()]
        assert all(s["prefetch"] == PREFETCH and s["description"] and s["title"] for s in services)


def test_patient_view_is_one_summary_card_and_one_data_quality_card_never_critical(service, ehr):
    base, _ = service
    reply = post(base, ehr, PATIENT_VIEW, example("patient-view"))
    assert reply.status_code == 200
    summary, quality = reply.json()["cards"]
    assert summary["source"]["topic"]["code"] == "summary" and quality["source"]["topic"]["code"] == "data-quality"
    assert {summary["indicator"], quality["indicator"]} <= {"info", "warning"}
    assert not re.search(r"review\.|extended\.|lines\[|bsab|car_t", summary["summary"] + quality["summary"])


@pytest.mark.parametrize("name", ["order-select", "order-sign"])
def test_order_hooks_give_one_card_for_the_drafted_therapy(service, ehr, name):
    base, _ = service
    reply = post(base, ehr, f"/cds-services/mmsequence-{name}", example(name))
    assert reply.status_code == 200
    assert [(c["indicator"], c["summary"]) for c in reply.json()["cards"]] == [
        ("critical", "Talquetamab: avoid now (no bispecific antibody before CAR-T apheresis)")]


def test_missing_prefetch_is_read_from_the_issuers_fhir_server_with_count(service, ehr, fhir):
    base, _ = service
    request = example("patient-view-without-prefetch") | {
        "fhirServer": fhir.base + "/", "fhirAuthorization": {"access_token": "t0k", "token_type": "Bearer"}}
    before = len(fhir.calls)
    reply = post(base, ehr, PATIENT_VIEW, request)
    assert reply.status_code == 200 and reply.json()["cards"][0]["source"]["topic"]["code"] == "summary"
    calls = fhir.calls[before:]
    assert len(calls) == len(PREFETCH) and "/fhir/Patient/tb-014" in calls
    assert all("_count=100" in call for call in calls if "?" in call)


def test_a_fhir_server_not_in_the_trust_file_is_never_contacted(service, ehr):
    base, _ = service
    with FhirServer() as trap:
        for server in (trap.base, f"http://localhost:{trap.port}/fhir", f"http://[::ffff:127.0.0.1]:{trap.port}/fhir"):
            request = example("patient-view-without-prefetch") | {"fhirServer": server,
                                                                   "fhirAuthorization": {"access_token": "t0k"}}
            reply = post(base, ehr, PATIENT_VIEW, request)
            assert reply.status_code == 412 and "not a FHIR server the trust file names" in reply.json()["error"]
        assert (trap.connections, trap.calls) == (0, [])


def test_no_token_is_401_an_oversized_body_413_and_a_preflight_answered(service, ehr):
    base, _ = service
    assert httpx.get(base + "/cds-services", timeout=10).status_code == 401
    huge = {"hook": "patient-view", "padding": "x" * 6_000_000}
    assert post(base, ehr, PATIENT_VIEW, huge).status_code == 413
    preflight = httpx.options(base + PATIENT_VIEW, timeout=10, headers={
        "Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://ehr.example.org"


def test_the_log_names_refusals_and_no_patient_data(service, ehr):
    base, log = service
    assert post(base, ehr, PATIENT_VIEW, example("patient-view")).status_code == 200  # this test's own request
    post(base, ehr, PATIENT_VIEW, example("patient-view"), exp=2_000_000_000)
    text = log.read_text()
    assert "authentication failed: the token lives" in text
    assert re.search(r"POST /cds-services/mmsequence-patient-view 200 \d", text)
    assert "tb-014" not in text and "t0k" not in text and "HTTP Request" not in text


def test_feedback_survives_a_restart_is_idempotent_and_used_token_ids_stay_used(ehr, tmp_path):
    database, log = tmp_path / "feedback.sqlite3", tmp_path / "service.log"
    public = "https://cds.example.org"  # behind a proxy: the aud is the public URL, the same after a restart
    body = example("feedback")
    path = PATIENT_VIEW + "/feedback"
    with running_service(ehr, database, log, public_url=public) as base:
        hook = httpx.post(base + PATIENT_VIEW, json=example("patient-view"),
                          headers=ehr.auth(public + PATIENT_VIEW), timeout=30)
        card = hook.json()["cards"][0]
        body["feedback"][0]["card"] = card["uuid"]
        token = ehr.token(public + path)
        reply = httpx.post(base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert reply.json() == {"stored": 1}
    with running_service(ehr, database, log, public_url=public) as base:
        replay = httpx.post(base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert replay.status_code == 401 and "replayed" in replay.json()["error"]
        retry = httpx.post(base + path, json=body, headers=ehr.auth(public + path), timeout=10)
        assert retry.json() == {"stored": 1}  # a retry with a fresh token stores nothing twice
    [stored] = Store(database).feedback("mmsequence-patient-view")
    assert (stored.card, stored.outcome, stored.reason_code, stored.user_comment) == (
        card["uuid"], "overridden", "rapid-progression", "Discussed at tumour board")
    assert "tb-014" not in log.read_text()


def test_two_worker_processes_share_the_connections_and_the_used_token_ids(ehr, tmp_path):
    log = tmp_path / "service.log"
    with running_service(ehr, tmp_path / "db.sqlite3", log, "--workers", "2") as base:
        tokens = [ehr.token(base + PATIENT_VIEW) for _ in range(24)]

        def send(token: str) -> int:
            return httpx.post(base + PATIENT_VIEW, json=example("patient-view"), timeout=60,
                              headers={"Authorization": f"Bearer {token}"}).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            first = list(pool.map(send, tokens))  # a connection each, spread over the workers
            again = list(pool.map(send, tokens))  # each token replayed, to whichever worker takes it
    assert first == [200] * 24 and again == [401] * 24
    served = re.findall(r"\[(\d+)\] mmsequence.service: POST /cds-services/mmsequence-patient-view 200", log.read_text())
    assert len(served) == 24 and len(set(served)) == 2


def test_serve_refuses_authentication_without_public_url(ehr, tmp_path):
    import subprocess
    import sys

    command = [sys.executable, "-m", "mmsequence.cli", "serve", "--port", str(free_port()),
               "--trust", f"https://ehr.example.org/={ehr.jwks}", "--database", str(tmp_path / "db")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--public-url: required" in done.stderr


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.name.isdigit() and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")
def test_workers_die_with_a_supervisor_killed_by_sigkill_and_a_served_port_is_refused(ehr, tmp_path):
    """And so do the workers' large-body processes (every body is large here)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mmsequence.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "2", "--database", str(tmp_path / "db.sqlite3"), "--trust", f"{ISSUER}={ehr.jwks}",
               "--public-url", base, "--large-body-bytes", "1"]
    log = (tmp_path / "service.log").open("wb")
    supervisor = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 or not _listening(port):
            assert supervisor.poll() is None and time.monotonic() < deadline, (tmp_path / "service.log").read_text()
            time.sleep(0.2)
            workers = _children(supervisor.pid)
        again = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert again.returncode == 2 and f"--port: 127.0.0.1:{port} is already in use" in again.stderr
        assert post(base, ehr, PATIENT_VIEW, example("patient-view")).status_code == 200
        lanes = [lane for w in workers for lane in _children(w) if _alive(lane)]
        assert lanes, "the call was not assessed in a large-body process"
        supervisor.kill()
        supervisor.wait(timeout=10)
        deadline = time.monotonic() + 15
        while (_listening(port) or any(_alive(p) for p in workers + lanes)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _listening(port) and not any(_alive(p) for p in workers + lanes)
    finally:
        supervisor.kill()
        supervisor.wait(timeout=10)
        for worker in workers + [lane for w in workers for lane in _children(w)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
        log.close()
