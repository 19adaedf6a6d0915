"""The EHR's JWT, as CDS Hooks 2.0 requires: one token accepted, every kind of bad token refused
with a reason; JWK Sets fetched outside the request path; the trust file."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mmsequence.errors import InputError
from mmsequence.service.auth import AuthError, Verifier
from mmsequence.service.keys import KeyRing
from mmsequence.service.trust import Issuer, Trust, load_trust, parse_shorthand, parse_trust

from .service_support import EXAMPLES, ISSUER, KID, Ehr

BASE = "https://cds.example.org"
PATH = "/cds-services/mmsequence-patient-view"
AUDIENCE = BASE + PATH
EXAMPLE_TRUST = EXAMPLES / "trust.yaml"


def verifier_for(ehr: Ehr, jwks: str | None = None, **options) -> Verifier:
    trust = Trust({ISSUER: Issuer(ISSUER, jwks or str(ehr.jwks), audiences=(BASE,))})
    return Verifier(trust, KeyRing({ISSUER: jwks or str(ehr.jwks)}), **options)


def verify(verifier: Verifier, token: str, path: str = PATH):
    return asyncio.run(verifier.verify(f"Bearer {token}", path))


def refused(verifier: Verifier, token: str, path: str = PATH) -> str:
    with pytest.raises(AuthError) as caught:
        verify(verifier, token, path)
    return str(caught.value)


def _encode(part: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _claims(**changes) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **changes}


@pytest.fixture
def ehr(tmp_path):
    return Ehr(tmp_path)


@pytest.fixture
def verifier(ehr):
    return verifier_for(ehr)


def test_a_valid_token_is_accepted_as_a_string_or_list_audience(ehr, verifier):
    assert verify(verifier, ehr.token(AUDIENCE)).claims["iss"] == ISSUER
    assert verify(verifier, ehr.token(["https://other.example", AUDIENCE])).issuer.iss == ISSUER
    assert verify(verifier, ehr.token(AUDIENCE + "/"), PATH + "/").claims["aud"] == AUDIENCE + "/"


@pytest.mark.parametrize("make, reason", [
    (lambda e: e.token(AUDIENCE, key=ec.generate_private_key(ec.SECP384R1())), "the signature does not verify"),
    (lambda e: e.token("https://cds.example.org/cds-services/other"), "the token's aud is not this endpoint"),
    (lambda e: e.token("https://another-deployment.example" + PATH), "the token's aud is not this endpoint"),
    (lambda e: e.token(AUDIENCE, iat=int(time.time()) - 900, exp=int(time.time()) - 600), "the token has expired"),
    (lambda e: e.token(AUDIENCE, iat=int(time.time()) + 600, exp=int(time.time()) + 900), "not valid yet"),
    (lambda e: e.token(AUDIENCE, exp=int(time.time()) + 10 * 365 * 86400), "more than the 300 s allowed"),
    (lambda e: e.token(AUDIENCE, iat=int(time.time()) - 365 * 86400, exp=int(time.time()) + 60),
     "issued more than 300 s ago"),
    (lambda e: e.token(AUDIENCE, iss="https://rogue.example/"), "the token's issuer is not trusted"),
    (lambda e: e.token(AUDIENCE, headers={"kid": "other"}), "no key with the token's kid in the issuer's JWK Set"),
    (lambda e: e.token(AUDIENCE, jti=None), "the token's jti is not"),
    (lambda e: e.token(AUDIENCE, exp=None), "the token has no exp claim"),
    (lambda e: e.token(AUDIENCE, iat=None), "the token has no iat claim"),
    (lambda e: jwt.encode(_claims(), "a-shared-secret-of-at-least-32-bytes!", algorithm="HS256", headers={"kid": KID}),
     "algorithm 'HS256' is refused"),
    (lambda e: f"{_encode({'alg': 'none', 'kid': KID})}.{_encode(_claims())}.", "algorithm 'none' is refused"),
    (lambda e: e.signed({"alg": "ES384", "kid": 7}, _claims()), "kid is not a non-empty string"),
    (lambda e: e.signed({"alg": "ES384", "kid": ["a"]}, _claims()), "kid is not a non-empty string"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID, "crit": ["exp"], "exp": 1}, _claims()), "crit extensions"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID, "typ": "JOSE+JSON"}, _claims()), "typ is not JWT"),
    (lambda e: e.signed({"alg": ["ES384"], "kid": KID}, _claims()), "algorithm 'list' is refused"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID}, _claims(iss=[ISSUER])), "the token's iss is not a string"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID}, _claims(exp=1e30)), "exp is not a time"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID}, _claims(exp="soon")), "exp is not a time"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID}, _claims(iat=True)), "iat is not a time"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID}, _claims(nbf=int(time.time()) + 900)), "not valid yet"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID}, _claims(aud=7)), "aud is not a string"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID}, _claims(jti="\ud800")), "the token's jti is not"),
    (lambda e: e.signed({"alg": "ES384", "kid": KID}, _claims(jti={"a": 1})), "the token's jti is not"),
    (lambda e: e.signed({"alg": "ES256", "kid": KID}, _claims()), "the key is for ES384"),
    (lambda e: f"{_encode([1])}.{_encode(_claims())}.c2ln", "the token's header is not a JSON object"),
    (lambda e: "YWJj.e30.c2ln", "the token's header is not JSON"),
    (lambda e: "a.b!.c", "the token's header is not base64url"),
    (lambda e: "not-a-jwt", "three dot-separated parts"),
])
def test_every_malformed_or_wrong_token_is_refused_with_a_reason(ehr, verifier, make, reason):
    assert reason in refused(verifier, make(ehr))


def test_the_claims_of_a_token_not_verified_are_not_echoed(ehr, verifier):
    for make in (lambda: ehr.token(AUDIENCE, iss="https://rogue.example/" + "x" * 11_000),
                 lambda: ehr.token(AUDIENCE, headers={"kid": "k" * 200})):
        reason = refused(verifier, make())
        assert "xxxx" not in reason and "kkkk" not in reason and len(reason) < 100


def test_no_bearer_token(verifier):
    for header in (None, "", "Basic dXNlcjpwdw==", "Bearer ", "Bearer " + "a" * 20_000):
        with pytest.raises(AuthError):
            asyncio.run(verifier.verify(header, PATH))


@pytest.mark.parametrize("jwk_alg, algorithm", [(None, "RS384"), (None, "RS256"), (None, "PS256"), ("RS384", "RS384")])
def test_an_rsa_key_without_alg_verifies_every_rsa_algorithm(tmp_path, jwk_alg, algorithm):
    ehr = Ehr(tmp_path, rsa_key=True, jwk_alg=jwk_alg)
    assert verify(verifier_for(ehr), ehr.token(AUDIENCE, algorithm=algorithm)).claims["iss"] == ISSUER


def test_an_rsa_key_that_names_its_alg_refuses_another(tmp_path):
    ehr = Ehr(tmp_path, rsa_key=True, jwk_alg="RS384")
    assert "the key is for RS384" in refused(verifier_for(ehr), ehr.token(AUDIENCE, algorithm="RS256"))


def test_an_ec_key_of_another_curve_is_refused(tmp_path):
    ehr = Ehr(tmp_path, jwk_alg=None)
    other = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(_claims(), other, algorithm="ES256", headers={"kid": KID})
    assert "cannot verify ES256" in refused(verifier_for(ehr), token)


# ------------------------------------------------------------------ JWK Sets from URLs

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _started_ring(answer, clock: FakeClock, **options) -> tuple[KeyRing, list[httpx.Request]]:
    """A KeyRing for one issuer whose JWK Set URL ``answer``s, started; the requests it sent."""
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await answer(request)

    ring = KeyRing({ISSUER: "https://ehr.example.org/jwks?tenant=a=b"}, clock=clock, **options)
    await ring.start(httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    return ring, seen


def test_jwk_set_from_a_url_is_fetched_at_start_and_an_unknown_kid_fetches_once_per_interval(ehr):
    clock = FakeClock()

    async def answer(request):
        return httpx.Response(200, json=json.loads(ehr.jwks.read_text()))

    async def scenario() -> list[httpx.Request]:
        ring, seen = await _started_ring(answer, clock, min_interval=30)
        verifier = Verifier(Trust({ISSUER: Issuer(ISSUER, "https://x", audiences=(BASE,))}), ring)
        assert (await verifier.verify(f"Bearer {ehr.token(AUDIENCE)}", PATH)).issuer.iss == ISSUER
        clock.now += 31
        for _ in range(45):  # made-up kids: one fetch at most in the interval
            with pytest.raises(AuthError, match="no key"):
                await verifier.verify(f"Bearer {ehr.token(AUDIENCE, headers={'kid': str(uuid.uuid4())})}", PATH)
        clock.now += 31
        with pytest.raises(AuthError, match="no key"):
            await verifier.verify(f"Bearer {ehr.token(AUDIENCE, headers={'kid': 'rotated'})}", PATH)
        await ring.stop()
        return seen

    seen = asyncio.run(scenario())
    assert [str(r.url) for r in seen] == ["https://ehr.example.org/jwks?tenant=a=b"] * 3  # start, 45 kids, next interval


def test_a_jwk_set_url_that_hangs_stalls_no_request_with_a_known_key(ehr, tmp_path):
    """Unauthenticated callers with made-up kids cannot hold up a caller whose key is cached."""
    clock = FakeClock()
    state: dict = {"calls": 0}

    async def answer(request):
        state["calls"] += 1
        if state["calls"] == 1:
            return httpx.Response(200, json=json.loads(ehr.jwks.read_text()))
        await state["gate"].wait()  # never answers until the test ends
        return httpx.Response(503)

    async def scenario() -> tuple[float, int]:
        state["gate"] = asyncio.Event()
        ring, _ = await _started_ring(answer, clock, wait_seconds=0.5)
        verifier = Verifier(Trust({ISSUER: Issuer(ISSUER, "https://x", audiences=(BASE,))}), ring)

        async def attacker() -> None:
            with pytest.raises(AuthError):
                await verifier.verify(f"Bearer {ehr.token(AUDIENCE, headers={'kid': str(uuid.uuid4())})}", PATH)

        clock.now += 31
        attackers = [asyncio.create_task(attacker()) for _ in range(45)]
        await asyncio.sleep(0)
        started = time.perf_counter()
        await verifier.verify(f"Bearer {ehr.token(AUDIENCE)}", PATH)
        honest = time.perf_counter() - started
        await asyncio.gather(*attackers)
        state["gate"].set()
        await ring.stop()
        return honest, state["calls"]

    honest, calls = asyncio.run(scenario())
    assert honest < 0.4  # not held up by the hanging fetch (whose wait is 0.5 s)
    assert calls == 2  # the start, then one fetch for 45 unknown kids


def test_a_failing_jwk_set_url_backs_off_and_keeps_the_last_good_keys(ehr):
    clock = FakeClock()
    state = {"calls": 0}

    async def answer(request):
        state["calls"] += 1
        return httpx.Response(200, json=json.loads(ehr.jwks.read_text())) if state["calls"] == 1 else httpx.Response(500)

    async def scenario() -> list[float]:
        ring, seen = await _started_ring(answer, clock, min_interval=10, max_backoff=600)
        attempts = []
        for _ in range(40):
            clock.now += 10
            before = len(seen)
            assert await ring.key(ISSUER, "unknown") is None
            if len(seen) > before:
                attempts.append(clock.now)
        assert await ring.key(ISSUER, KID) is not None  # the last good set is kept
        await ring.stop()
        return attempts

    attempts = asyncio.run(scenario())
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert len(attempts) >= 3 and gaps == sorted(gaps) and gaps[-1] > gaps[0]  # the waits grow


# ------------------------------------------------------------------ trust file and --trust

def test_trust_shorthand_splits_at_the_first_equals_sign_after_the_scheme(ehr):
    issuer = parse_shorthand(f"{ISSUER}=https://ehr.example.org/jwks?tenant=a&v=2")
    assert (issuer.iss, issuer.jwks) == (ISSUER, "https://ehr.example.org/jwks?tenant=a&v=2")
    assert parse_shorthand(f"{ISSUER}={ehr.jwks}").jwks == str(ehr.jwks)
    assert parse_shorthand(f"epic-client={ehr.jwks}").iss == "epic-client"
    assert issuer.fhir_servers == ()
    for bad in ("no-equals-sign", f"{ISSUER}=http://ehr.example.org/jwks", f"{ISSUER}=/no/such/file.json"):
        with pytest.raises(InputError):
            parse_shorthand(bad)


def test_trust_file_reads_issuers_their_fhir_servers_and_audiences(ehr, tmp_path):
    (tmp_path / "trust.yaml").write_text(
        f"issuers:\n  - iss: {ISSUER}\n    jwks: {ehr.jwks.name}\n"
        "    fhir_servers: [https://FHIR.example.org:443/r4/, http://127.0.0.1:8080/fhir]\n"
        "    audiences: [https://cds.example.org/]\n    private_networks: [10.20.0.0/16]\n")
    issuer = load_trust(tmp_path / "trust.yaml").issuer(ISSUER)
    assert issuer.jwks == str(ehr.jwks)  # beside the trust file
    assert issuer.fhir_servers == ("https://fhir.example.org/r4", "http://127.0.0.1:8080/fhir")
    assert issuer.audiences == ("https://cds.example.org",)
    assert issuer.fhir_base("https://fhir.example.org/r4/") == "https://fhir.example.org/r4"
    assert issuer.fhir_base("https://fhir.example.org/r4/../admin") is None
    assert issuer.fhir_base("https://fhir.example.org.evil.example/r4") is None
    assert issuer.fhir_base("https://user@fhir.example.org/r4") is None
    assert [str(n) for n in issuer.allowed_networks()] == ["10.20.0.0/16", "127.0.0.1/32"]


def test_the_example_trust_file_reads():
    issuer = load_trust(EXAMPLE_TRUST).issuer("https://ehr.example.org/")
    assert issuer.fhir_servers == ("https://fhir.example.org/r4",) and issuer.audiences == ("https://cds.example.org",)


@pytest.mark.parametrize("entry, problem", [
    ({"jwks": "x"}, "issuers[0].iss: expected"),
    ({"iss": ISSUER, "jwks": "http://plain/jwks"}, "issuers[0].jwks: 'http://plain/jwks' is not https"),
    ({"iss": ISSUER, "jwks": "https://k", "fhir_servers": ["http://fhir.example.org"]}, "plain http only to a loopback"),
    ({"iss": ISSUER, "jwks": "https://k", "fhir_servers": ["https://f?x=1"]}, "issuers[0].fhir_servers[0]"),
    ({"iss": ISSUER, "jwks": "https://k", "private_networks": ["10.0.0.0/33"]}, "issuers[0].private_networks[0]"),
    ({"iss": ISSUER, "jwks": "https://k", "audience": ["x"]}, "issuers[0].audience: unknown key"),
])
def test_a_bad_trust_file_names_the_field(entry, problem):
    with pytest.raises(InputError) as caught:
        parse_trust({"issuers": [entry]}, "trust.yaml")
    assert any(p.startswith("trust.yaml: ") and problem in p for p in caught.value.problems), caught.value.problems
