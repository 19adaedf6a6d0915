"""The trusted issuers' signing keys: JWK Sets read from files, or fetched from https URLs in the
background and cached.

A request never waits for a JWK Set it does not already have, except once: a ``kid`` missing from
an issuer's cached set (as after a key rotation) asks for one fetch, and that request waits for it
for at most ``wait_seconds``. An issuer's set is fetched at most once per ``min_interval``
seconds whatever the ``kid``s asked for, at most ``concurrency`` fetches run at a time, and a
failing URL is retried with a doubling back-off (up to ``max_backoff``); the last good keys are
kept meanwhile. So callers with made-up ``kid``s cannot stall the service or flood the EHR.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx
import jwt

log = logging.getLogger("mmsequence.service")

MAX_JWKS_BYTES = 1_000_000


class KeySetError(Exception):
    """A JWK Set could not be read; the message has no secrets."""


@attrs.frozen
class Key:
    """One verification key: the key object, its JWK ``kty``/``crv``, and the ``alg`` it names (if any)."""

    key: Any
    kty: str
    crv: str | None
    alg: str | None


def parse_key_set(data: Any) -> dict[str, Key]:
    """kid -> Key for every signing key of a JWK Set (keys without a kid, or for encryption, are skipped)."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeySetError("not a JWK Set (no keys list)")
    keys: dict[str, Key] = {}
    for entry in data["keys"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or entry.get("use", "sig") != "sig":
            continue
        alg = entry.get("alg")
        try:
            jwk = jwt.PyJWK.from_dict(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue  # a key of a type or curve PyJWT cannot use: not one to verify with
        keys[entry["kid"]] = Key(jwk.key, str(entry.get("kty")), entry.get("crv"), alg if isinstance(alg, str) else None)
    if not keys:
        raise KeySetError("the JWK Set has no usable signing key with a kid")
    return keys


def read_key_file(path: str) -> dict[str, Key]:
    try:
        return parse_key_set(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise KeySetError(f"{path}: cannot be read as a JWK Set ({type(error).__name__})") from None


@attrs.define
class _Source:
    """One issuer's JWK Set URL and what is known of it."""

    url: str
    keys: dict[str, Key] = attrs.field(factory=dict)
    last_attempt: float = float("-inf")
    failures: int = 0
    fetching: asyncio.Task[None] | None = None


class KeyRing:
    """The keys of every trusted issuer (``iss`` -> JWK Set file or https URL)."""

    def __init__(self, locations: Mapping[str, str], *, refresh_seconds: float = 300.0, min_interval: float = 30.0,
                 max_backoff: float = 600.0, concurrency: int = 4, timeout: float = 5.0, wait_seconds: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._files = {iss: read_key_file(where) for iss, where in locations.items() if not where.startswith("https://")}
        self._urls = {iss: _Source(where) for iss, where in locations.items() if where.startswith("https://")}
        self.refresh_seconds, self.min_interval, self.max_backoff = refresh_seconds, min_interval, max_backoff
        self.timeout, self.wait_seconds, self._clock = timeout, wait_seconds, clock
        self._concurrency = concurrency
        self._limit: asyncio.Semaphore | None = None
        self._client: httpx.AsyncClient | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self, client: httpx.AsyncClient | None = None) -> None:
        """Fetch every URL set once, then keep them fresh in the background (call from the event loop)."""
        self._limit = asyncio.Semaphore(self._concurrency)
        self._client = client or httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False)
        await asyncio.gather(*(self._fetch(iss) for iss in self._urls))
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def stop(self) -> None:
        tasks = [t for t in (self._refresher, *(s.fetching for s in self._urls.values())) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    def _backoff(self, source: _Source) -> float:
        if not source.failures:
            return self.min_interval
        return min(self.max_backoff, max(self.min_interval, 2.0 ** source.failures))

    def _due(self, source: _Source, interval: float) -> bool:
        return self._clock() - source.last_attempt >= max(interval, self._backoff(source))

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(min(self.min_interval, self.refresh_seconds))
            for iss, source in self._urls.items():
                if self._due(source, self.refresh_seconds):
                    self._schedule(iss)

    def _schedule(self, iss: str) -> asyncio.Task[None]:
        source = self._urls[iss]
        if source.fetching is None or source.fetching.done():
            source.last_attempt = self._clock()
            source.fetching = asyncio.create_task(self._fetch(iss))
        return source.fetching

    async def _fetch(self, iss: str) -> None:
        source = self._urls[iss]
        source.last_attempt = self._clock()
        assert self._limit is not None and self._client is not None, "KeyRing.start() was not called"
        async with self._limit:
            try:
                source.keys = parse_key_set(await self._download(source.url))
                source.failures = 0
            except (KeySetError, httpx.HTTPError, ValueError) as error:
                source.failures += 1
                log.warning("JWK Set of issuer %r not fetched (%s); retrying in %.0f s",
                            iss, error if isinstance(error, KeySetError) else type(error).__name__,
                            self._backoff(source))

    async def _download(self, url: str) -> Any:
        assert self._client is not None
        async with self._client.stream("GET", url, headers={"Accept": "application/json"}) as reply:
            if reply.status_code != 200:
                raise KeySetError(f"HTTP {reply.status_code}")
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise KeySetError(f"over {MAX_JWKS_BYTES} bytes")
        return json.loads(body)

    async def key(self, iss: str, kid: str) -> Key | None:
        """The issuer's key ``kid``, or None; an unknown kid may start one fetch (see the module)."""
        if iss in self._files:
            return self._files[iss].get(kid)
        source = self._urls.get(iss)
        if source is None:
            return None
        in_flight = source.fetching is not None and not source.fetching.done()
        if kid not in source.keys and (in_flight or self._due(source, self.min_interval)):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._schedule(iss)), self.wait_seconds)
        return source.keys.get(kid)
