"""``serve --log-format json``: every line a JSON object, a request line with its fields, and no
patient data, as in the text log; with one process and with --workers."""

from __future__ import annotations

import json
import logging
import sys

import httpx
import pytest

from mmsequence.service.logs import JsonFormatter

from .service_support import Ehr, example, running_service

PATIENT_VIEW = "/cds-services/mmsequence-patient-view"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_json_log_lines_are_objects_with_the_request_fields_and_no_patient_data(tmp_path, workers):
    ehr = Ehr(tmp_path / "ehr")
    log = tmp_path / "service.log"
    with running_service(ehr, tmp_path / "s.sqlite3", log, "--log-format", "json", "--workers", workers) as base:
        reply = httpx.post(base + PATIENT_VIEW, json=example("patient-view"),
                           headers=ehr.auth(base + PATIENT_VIEW), timeout=60)
        assert reply.status_code == 200
        refused = httpx.post(base + PATIENT_VIEW, json=example("patient-view"), timeout=60)
        assert refused.status_code == 401
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) > 3 and all({"time", "level", "logger", "process", "message"} <= set(line) for line in lines)
    requests = [line for line in lines if "status" in line]
    assert [(r["method"], r["path"], r["status"]) for r in requests if r["path"] == PATIENT_VIEW] == [
        ("POST", PATIENT_VIEW, 200), ("POST", PATIENT_VIEW, 401)]
    assert all(isinstance(r["duration_ms"], float) and r["level"] == "INFO" for r in requests)
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # the server's own lines too
    assert any("authentication failed" in line["message"] and line["level"] == "WARNING" for line in lines)
    assert "tb-014" not in log.read_text()


def test_a_record_with_an_exception_keeps_its_traceback_in_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("mmsequence.service", logging.ERROR, __file__, 1, "failed: %s", ("x",), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed: x" and "ValueError: boom" in parsed["exception"]
    assert parsed["time"].endswith("+00:00")
