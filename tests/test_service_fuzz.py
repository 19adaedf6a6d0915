"""No bad input makes the service answer 5xx: Hypothesis drives every endpoint of a real uvicorn
with malformed bodies, tokens and headers, and with valid requests whose parts are replaced by
anything JSON can hold."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from .profiles import SEEDS
from .service_support import ISSUER, KID, Ehr, FhirServer, example, running_service

EXAMPLES = {"dev": 100, "ci": 300, "deep": 3000}.get(os.environ.get("MMSEQUENCE_PROFILE", "ci"), 300)
SERVICES = ("mmsequence-patient-view", "mmsequence-order-select", "mmsequence-order-sign")
ENDPOINTS = [("GET", "/cds-services"), ("GET", "/cds-services/"), ("POST", "/cds-services/nope"),
             ("PUT", "/cds-services/mmsequence-patient-view"), ("OPTIONS", "/cds-services/mmsequence-order-sign"),
             *[("POST", f"/cds-services/{s}") for s in SERVICES],
             *[("POST", f"/cds-services/{s}/feedback") for s in SERVICES]]
BODIES = {s: example(s.removeprefix("mmsequence-")) for s in SERVICES}
FEEDBACK = example("feedback")

lone_surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
#: Mostly plain JSON, sometimes a string that is not text (a lone surrogate survives json.loads).
replacements = st.one_of(json_values, json_values, json_values, lone_surrogates)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value (keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return copy


@st.composite
def bodies(draw: st.DrawFn, path: str) -> bytes:
    """A body for ``path``: a valid one with one part replaced, any JSON, or bytes that are not JSON."""
    service = path.split("/")[2] if path.count("/") >= 2 else ""
    valid = FEEDBACK if path.endswith("/feedback") else BODIES.get(service, BODIES[SERVICES[0]])
    kind = draw(st.sampled_from(["mutated"] * 6 + ["json", "bytes", "empty"]))
    if kind == "mutated":
        where = draw(st.sampled_from(_paths(valid)[1:]))
        return json.dumps(_replaced(valid, where, draw(replacements))).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    return b""


@st.composite
def authorizations(draw: st.DrawFn, ehr: Ehr, audience: str) -> dict[str, str]:
    """No Authorization header, junk, a forged or malformed token, or a valid token."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 120, "jti": str(uuid.uuid4())}
    kind = draw(st.sampled_from(["valid"] * 6 + ["none", "junk", "claims", "header"]))
    if kind == "none":
        return {}
    if kind == "junk":
        return {"Authorization": draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)).strip()}
    if kind == "claims":
        key = draw(st.sampled_from(sorted(claims)))
        token = ehr.signed({"alg": "ES384", "kid": KID}, claims | {key: draw(replacements)})
    elif kind == "header":
        header = {"alg": "ES384", "kid": KID}
        token = ehr.signed(header | {draw(st.sampled_from(["alg", "kid", "typ", "crit", "jku"])): draw(replacements)},
                           claims)
    else:
        token = ehr.token(audience)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    ehr = Ehr(folder)
    with FhirServer() as fhir, running_service(ehr, folder / "db.sqlite3", folder / "service.log",
                                               "--cors-origin", "https://ehr.example.org",
                                               trust_file=ehr.trust_file(folder, fhir_servers=[fhir.base])) as base:
        with httpx.Client(base_url=base, timeout=60) as client:
            yield client, ehr, base


@SEEDS
def test_no_request_gets_a_server_error(service, seed_value):
    client, ehr, base = service

    @seed(seed_value)
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        method, path = data.draw(st.sampled_from(ENDPOINTS))
        headers = data.draw(authorizations(ehr, base + path))
        content_type = data.draw(st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1"]))
        body = data.draw(bodies(path)) if method in ("POST", "PUT") else b""
        reply = client.request(method, path, content=body, headers={**headers, "Content-Type": content_type})
        assert reply.status_code < 500, (method, path, reply.status_code, reply.text[:300])

    check()
