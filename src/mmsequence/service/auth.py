"""Authentication of the CDS client (the EHR) by its signed JWT, as CDS Hooks 2.0 requires.

Checked on every request: a bearer token; an asymmetric signature algorithm (``none`` and
HMAC are refused); a ``kid`` naming a key of the JWK Set configured for the token's issuer
(a ``jku`` header is never followed: keys come only from configuration); the signature; ``iss``
on the allow-list; ``aud`` equal to the URL of the endpoint called; ``exp``, ``iat`` and ``jti``
present, not expired, not issued in the future, and the ``jti`` not used before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt

from .store import Store

#: Asymmetric JWS algorithms (RFC 7518); ES384 and RS384 are the ones CDS Hooks recommends.
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")
LEEWAY_SECONDS = 30


class AuthError(Exception):
    """The request is not from a trusted CDS client; the message says why (no patient data)."""


class KeySource:
    """The JWK Set of one issuer: a JSON file read once, or an https URL fetched and cached by PyJWT."""

    def __init__(self, location: str) -> None:
        self.location = location
        if location.startswith("https://"):
            self._client: jwt.PyJWKClient | None = jwt.PyJWKClient(location, cache_keys=True, timeout=10)
            self._keys: dict[str, jwt.PyJWK] = {}
        else:
            self._client = None
            data = json.loads(Path(location).read_text(encoding="utf-8"))
            self._keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(data).keys if key.key_id}

    def key(self, kid: str) -> jwt.PyJWK:
        if self._client is not None:
            try:
                return self._client.get_signing_key(kid)
            except jwt.PyJWKClientError as error:
                raise AuthError(f"no key {kid!r} in the issuer's JWK Set ({error})") from None
        if kid not in self._keys:
            raise AuthError(f"no key {kid!r} in the issuer's JWK Set")
        return self._keys[kid]


class Verifier:
    """Verifies bearer JWTs against trusted issuers (``iss`` -> JWK Set file or https URL)."""

    def __init__(self, issuers: Mapping[str, str], store: Store) -> None:
        self.sources = {iss: KeySource(location) for iss, location in issuers.items()}
        self.store = store

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The token's claims; AuthError if anything is wrong."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("no bearer token in the Authorization header")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.DecodeError:
            raise AuthError("the bearer token is not a JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(f"algorithm {alg!r} is refused (only asymmetric signatures are accepted)")
        if header.get("typ", "JWT") != "JWT":
            raise AuthError(f"token type {header.get('typ')!r} is not JWT")
        issuer = unverified.get("iss")
        if issuer not in self.sources:
            raise AuthError(f"issuer {issuer!r} is not trusted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token header has no kid")
        key = self.sources[issuer].key(kid)
        try:
            claims = jwt.decode(
                token, key=key, algorithms=[alg], audience=audience, issuer=issuer, leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.InvalidTokenError as error:
            raise AuthError(f"token rejected: {error}") from None
        if not self.store.first_use_of_token(issuer, str(claims["jti"]), int(claims["exp"])):
            raise AuthError("token replayed (its jti was used before)")
        return claims
