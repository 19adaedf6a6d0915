"""``mmsequence dev-keys``: the local recipe of the README, run as printed (keys, tokens, the service
on loopback, discovery and one patient-view), and its refusals of anything beyond loopback."""

from __future__ import annotations

import datetime
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from mmsequence.cli import main
from mmsequence.service.dev import DEV_ISSUER, EXAMPLE_DAY, shift_dates

from .service_support import EXAMPLES, free_port


def _curl(line: str) -> httpx.Response:
    """What a printed ``curl`` line does (-X, -H, --data @FILE, URL), done with httpx."""
    words = shlex.split(line)
    assert words[0] == "curl"
    method, headers, body, url = "GET", {}, None, None
    options = iter(words[1:])
    for word in options:
        if word == "-X":
            method = next(options)
        elif word == "-H":
            name, _, value = next(options).partition(": ")
            headers[name] = value
        elif word == "--data":
            body = Path(next(options).removeprefix("@")).read_bytes()
        else:
            url = word
    assert url is not None
    return httpx.request(method, url, headers=headers, content=body, timeout=60)


def _recipe(capsys, folder: Path, port: int) -> tuple[str, list[str]]:
    assert main(["dev-keys", str(folder), "--port", str(port)]) == 0
    lines = capsys.readouterr().out.splitlines()
    (serve,) = [line for line in lines if line.startswith("mmsequence serve ")]
    return serve, [line for line in lines if line.startswith("curl ")]


def test_the_local_recipe_runs_end_to_end(tmp_path, capsys):
    port = free_port()
    serve, (discovery, patient_view) = _recipe(capsys, tmp_path / "dev", port)
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "mmsequence.cli", *shlex.split(serve)[1:]],
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=1)  # 401 without a token: it is up
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        found = _curl(discovery)
        assert found.status_code == 200, found.text
        assert "mmsequence-patient-view" in [s["id"] for s in found.json()["services"]]
        cards = _curl(patient_view)
        assert cards.status_code == 200, cards.text
        texts = [card["summary"] + card.get("detail", "") for card in cards.json()["cards"]]
        assert texts and any("CAR-T" in text or "cilta-cel" in text for text in texts)
        assert not [text for text in texts if "before the evaluation date" in text]  # dates moved to today: none stale
        replayed = _curl(patient_view)
        assert replayed.status_code == 401 and "replayed" in replayed.text  # each token is used once
    finally:
        process.terminate()
        process.wait(timeout=20)
    logged = log.read_text()
    assert logged.count("GET /cds-services 200") == logged.count("POST /cds-services/mmsequence-patient-view 200") == 1
    assert logged.count("POST /cds-services/mmsequence-patient-view: authentication failed: token replayed") == 1


def test_running_it_again_keeps_the_key_and_gives_fresh_tokens(tmp_path, capsys):
    folder = tmp_path / "dev"
    _, first = _recipe(capsys, folder, 8088)
    key = (folder / "dev-issuer-key.pem").read_bytes()
    _, second = _recipe(capsys, folder, 8088)
    assert (folder / "dev-issuer-key.pem").read_bytes() == key
    assert (folder / "dev-issuer-key.pem").stat().st_mode & 0o077 == 0
    tokens = [shlex.split(line)[shlex.split(line).index("-H") + 1].removeprefix("Authorization: Bearer ")
              for line in first + second]
    claims = [jwt.decode(t, options={"verify_signature": False}) for t in tokens]
    assert len({c["jti"] for c in claims}) == 4 and {c["iss"] for c in claims} == {DEV_ISSUER}
    assert [c["aud"] for c in claims[:2]] == ["http://127.0.0.1:8088/cds-services",
                                              "http://127.0.0.1:8088/cds-services/mmsequence-patient-view"]
    assert all(c["exp"] - c["iat"] == 300 for c in claims)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "cds.example.org"])
def test_dev_keys_is_for_loopback_only(tmp_path, capsys, host):
    assert main(["dev-keys", str(tmp_path / "dev"), "--host", host]) == 2
    assert "is not a loopback address" in capsys.readouterr().err
    assert not (tmp_path / "dev").exists()


def test_serve_refuses_the_development_issuer_beyond_loopback(tmp_path, capsys):
    _recipe(capsys, tmp_path / "dev", 8088)
    code = main(["serve", "--host", "0.0.0.0", "--trust-file", str(tmp_path / "dev" / "trust.yaml"),
                 "--public-url", "http://127.0.0.1:8088", "--database", str(tmp_path / "s.sqlite3")])
    assert code == 2
    assert "'0.0.0.0' is not a loopback address, and the trust file holds the local development issuer" \
           in capsys.readouterr().err
    assert not (tmp_path / "s.sqlite3").exists()


def test_the_example_request_moves_to_any_day_keeping_its_intervals():
    request = json.loads((EXAMPLES / "patient-view.json").read_text())
    today = EXAMPLE_DAY + datetime.timedelta(days=400)
    moved = shift_dates(request, 400)
    text, before = json.dumps(moved), json.dumps(request)
    assert "2026-07-01" in before and "2027-08-05" in text   # the planned apheresis stays ahead of today
    assert datetime.date(2027, 8, 5) > today
    assert len(text) == len(before) and text.count("-") == before.count("-")
