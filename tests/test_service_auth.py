"""The EHR's JWT, as CDS Hooks 2.0 requires: one token accepted, every kind of bad token refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mmsequence.service.auth import AuthError, Verifier
from mmsequence.service.store import Store

from .service_support import ISSUER, KID, Ehr

AUDIENCE = "https://cds.example.org/cds-services/mmsequence-patient-view"


@pytest.fixture
def ehr(tmp_path):
    return Ehr(tmp_path)


@pytest.fixture
def verifier(ehr, tmp_path):
    return Verifier({ISSUER: str(ehr.jwks)}, Store(tmp_path / "auth.sqlite3"))


def refused(verifier: Verifier, token: str, audience: str = AUDIENCE) -> str:
    with pytest.raises(AuthError) as caught:
        verifier.verify(f"Bearer {token}", audience)
    return str(caught.value)


def _unsigned(header: dict, claims: dict) -> str:
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part(header)}.{part(claims)}."


def test_a_valid_token_is_accepted_as_a_string_or_list_audience(ehr, verifier):
    assert verifier.verify(f"Bearer {ehr.token(AUDIENCE)}", AUDIENCE)["iss"] == ISSUER
    assert verifier.verify(f"Bearer {ehr.token([AUDIENCE])}", AUDIENCE)["iss"] == ISSUER


def test_bad_signature(ehr, verifier):
    impostor = ec.generate_private_key(ec.SECP384R1())
    assert "Signature verification failed" in refused(verifier, ehr.token(AUDIENCE, key=impostor))


def test_wrong_audience(ehr, verifier):
    token = ehr.token("https://cds.example.org/cds-services/other")
    assert "Audience doesn't match" in refused(verifier, token)


def test_expired(ehr, verifier):
    now = int(time.time())
    assert "Signature has expired" in refused(verifier, ehr.token(AUDIENCE, iat=now - 900, exp=now - 600))


def test_issued_in_the_future(ehr, verifier):
    now = int(time.time())
    assert "not yet valid" in refused(verifier, ehr.token(AUDIENCE, iat=now + 600, exp=now + 900))


def test_replayed_jti(ehr, verifier):
    token = ehr.token(AUDIENCE)
    verifier.verify(f"Bearer {token}", AUDIENCE)
    assert refused(verifier, token) == "token replayed (its jti was used before)"


def test_alg_none(verifier):
    now = int(time.time())
    token = _unsigned({"alg": "none", "typ": "JWT", "kid": KID},
                      {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": "n1"})
    assert refused(verifier, token) == "algorithm 'none' is refused (only asymmetric signatures are accepted)"


def test_hs256(verifier):
    now = int(time.time())
    forged = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": "h1"},
                        "a-shared-secret-of-at-least-32-bytes!", algorithm="HS256", headers={"kid": KID})
    assert refused(verifier, forged) == "algorithm 'HS256' is refused (only asymmetric signatures are accepted)"


def test_unknown_issuer(ehr, verifier):
    assert refused(verifier, ehr.token(AUDIENCE, iss="https://rogue.example/")) == (
        "issuer 'https://rogue.example/' is not trusted"
    )


@pytest.mark.parametrize("claim", ["jti", "exp", "iat"])
def test_required_claims(ehr, verifier, claim):
    assert f'missing the "{claim}" claim' in refused(verifier, ehr.token(AUDIENCE, **{claim: None}))


def test_unknown_kid_and_missing_bearer(ehr, verifier):
    assert refused(verifier, ehr.token(AUDIENCE, headers={"kid": "other"})) == "no key 'other' in the issuer's JWK Set"
    with pytest.raises(AuthError, match="no bearer token"):
        verifier.verify(None, AUDIENCE)


def test_jwk_set_from_an_https_url(ehr, tmp_path, monkeypatch):
    fetched = []

    def fetch_data(client):
        fetched.append(client.uri)
        return json.loads(ehr.jwks.read_text())

    monkeypatch.setattr(jwt.PyJWKClient, "fetch_data", fetch_data)
    verifier = Verifier({ISSUER: "https://ehr.example.org/jwks"}, Store(tmp_path / "url.sqlite3"))
    assert verifier.verify(f"Bearer {ehr.token(AUDIENCE)}", AUDIENCE)["iss"] == ISSUER
    assert refused(verifier, ehr.token(AUDIENCE, headers={"kid": "other"})).startswith("no key 'other'")
    assert fetched[0] == "https://ehr.example.org/jwks"
