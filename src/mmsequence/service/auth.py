"""Authentication of the CDS client (the EHR) by its signed JWT, as CDS Hooks 2.0 requires.

Checked on every request, each failure an AuthError whose message says why (no patient data):

- a bearer token in compact JWS form, whose header and payload are JSON objects;
- header: ``alg`` an asymmetric algorithm (``none`` and HMAC are refused), ``kid`` a non-empty
  string naming a key of the issuer's configured JWK Set (a ``jku`` or ``jwk`` header is never
  followed), ``typ`` absent or ``JWT``, no ``crit`` (no extension is understood);
- the key's type and curve fit ``alg``, and so does the JWK's own ``alg`` when it has one (an RSA
  JWK without ``alg`` verifies RS256, RS384, RS512 and PS* tokens alike); the signature;
- payload: ``iss`` a trusted issuer (a string); ``aud`` a string or list of strings naming the
  endpoint called under one of the issuer's audiences; ``exp`` and ``iat`` numbers, ``iat`` not in
  the future and not older than the maximum lifetime, ``exp`` not past and at most the maximum
  lifetime after ``iat``; ``nbf``, when present, passed; ``jti`` a non-empty string, used once
  (the caller records it).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

import attrs
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from .keys import Key, KeyRing
from .trust import Issuer, Trust

#: Asymmetric JWS algorithms (RFC 7518, RFC 8037); ES384 and RS384 are the ones CDS Hooks recommends.
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")
LEEWAY_SECONDS = 30
MAX_LIFETIME_SECONDS = 300
MAX_TOKEN_BYTES = 16_384
_MAX_ID_CHARS = 256
_LATEST_TIME = 2**33  # the year 2242: anything later is not a time
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


class AuthError(Exception):
    """The request is not from a trusted CDS client; the message says why (no patient data)."""


@attrs.frozen
class Token:
    """A verified token: its issuer's trust entry and claims."""

    issuer: Issuer
    claims: dict[str, Any]

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def exp(self) -> int:
        return int(math.ceil(self.claims["exp"]))  # noqa: RUF046 (a claim is Any to the type checker)


def _segment(text: str, what: str) -> dict[str, Any]:
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise AuthError(f"the token's {what} is not base64url")
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise AuthError(f"the token's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise AuthError(f"the token's {what} is not a JSON object")
    return value


def _encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (JSON lets a lone surrogate through)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("no bearer token in the Authorization header")
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthError(f"the bearer token is over {MAX_TOKEN_BYTES} characters")
    return token


def _check_header(header: dict[str, Any]) -> tuple[str, str]:
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        shown = alg if isinstance(alg, str) else type(alg).__name__
        raise AuthError(f"algorithm {shown!r} is refused (only asymmetric signatures are accepted)")
    typ = header.get("typ", "JWT")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise AuthError("the token header's typ is not JWT")
    if "crit" in header:
        raise AuthError("the token header has crit extensions, which this service does not understand")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_ID_CHARS:
        raise AuthError("the token header's kid is not a non-empty string")
    return alg, kid


def _check_key(key: Key, alg: str) -> None:
    if key.alg is not None and key.alg != alg:
        raise AuthError(f"the key is for {key.alg}, the token is signed with {alg}")
    material = key.key
    if alg.startswith(("RS", "PS")):
        fits = isinstance(material, rsa.RSAPublicKey)
    elif alg in _CURVES:
        fits = isinstance(material, ec.EllipticCurvePublicKey) and isinstance(material.curve, _CURVES[alg])
    else:
        fits = isinstance(material, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey))
    if not fits:
        raise AuthError(f"the key ({key.kty}{' ' + key.crv if key.crv else ''}) cannot verify {alg}")


def _numeric_date(claims: Mapping[str, Any], name: str, required: bool = True) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if name not in claims:
        raise AuthError(f"the token has no {name} claim")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= _LATEST_TIME:
        raise AuthError(f"the token's {name} is not a time in seconds since 1970")
    return float(value)


class Verifier:
    """Verifies bearer JWTs against the trust file's issuers and their keys."""

    def __init__(self, trust: Trust, keys: KeyRing, max_lifetime: int = MAX_LIFETIME_SECONDS,
                 leeway: int = LEEWAY_SECONDS) -> None:
        self.trust, self.keys = trust, keys
        self.max_lifetime, self.leeway = max_lifetime, leeway

    async def verify(self, authorization: str | None, path: str) -> Token:
        """The verified token for a request to ``path`` (``/cds-services/...``); AuthError if anything is wrong.
        The caller still has to record its ``jti`` (see Store.first_use_of_token)."""
        token = _bearer(authorization)
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthError("the bearer token is not a signed JWT (three dot-separated parts)")
        header, claims = _segment(parts[0], "header"), _segment(parts[1], "payload")
        alg, kid = _check_header(header)
        iss = claims.get("iss")
        issuer = self.trust.issuer(iss) if isinstance(iss, str) else None
        if issuer is None:
            # the claims are not verified yet: the caller's text is not echoed into the answer or the log
            raise AuthError("the token's issuer is not trusted" if isinstance(iss, str) else "the token's iss is not a string")
        key = await self.keys.key(issuer.iss, kid)
        if key is None:
            raise AuthError("no key with the token's kid in the issuer's JWK Set")
        _check_key(key, alg)
        try:
            jwt.PyJWS().decode_complete(token, key=key.key, algorithms=[alg])
        except jwt.InvalidSignatureError:
            raise AuthError("the signature does not verify") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError("the token cannot be verified") from None
        self._check_claims(claims, issuer, path)
        return Token(issuer, claims)

    def _check_claims(self, claims: dict[str, Any], issuer: Issuer, path: str) -> None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or not audiences or not all(isinstance(a, str) for a in audiences):
            raise AuthError("the token's aud is not a string or a list of strings")
        wanted = {f"{base}{path}".rstrip("/") for base in issuer.audiences}
        if not wanted & {a.rstrip("/") for a in audiences}:
            raise AuthError("the token's aud is not this endpoint")
        now = time.time()
        exp, iat = _numeric_date(claims, "exp"), _numeric_date(claims, "iat")
        nbf = _numeric_date(claims, "nbf", required=False)
        assert exp is not None and iat is not None
        if exp < now - self.leeway:
            raise AuthError("the token has expired")
        if iat > now + self.leeway or (nbf is not None and nbf > now + self.leeway):
            raise AuthError("the token is not valid yet (iat or nbf in the future)")
        if now - iat > self.max_lifetime + self.leeway:
            raise AuthError(f"the token was issued more than {self.max_lifetime} s ago")
        if exp - iat > self.max_lifetime:
            raise AuthError(f"the token lives {exp - iat:.0f} s, more than the {self.max_lifetime} s allowed")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_ID_CHARS or not jti.isprintable() \
                or not _encodable(jti):
            raise AuthError("the token's jti is not a non-empty string of printable characters")
