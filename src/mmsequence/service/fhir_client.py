"""Reading from the EHR's FHIR server what the prefetch did not bring, with the token it gave.

Only a FHIR base URL the trust file names for the token's issuer is read (checked before any
connection is made), and each connection goes only to an address that issuer may use (see
``trust``): the resolved address is checked and connected to, so a name cannot be re-pointed
between check and connection. Redirects are not followed and ``next`` pages must stay under
the same base. Searches ask for ``_count`` entries a page and follow at most ``max_pages``
pages; the whole read has one deadline and one size cap. When a limit cuts the data, ``Cut``
says which and the service reports it on a card instead of assessing part of the record.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import attrs
import httpcore
import httpx

from .hooks import PREFETCH
from .trust import Network, normalise_url

Resolver = Callable[[str, int], Awaitable[list[str]]]


@attrs.frozen
class Limits:
    """How much one hook call may read from a FHIR server."""

    deadline_seconds: float = 10.0
    max_bytes: int = 20_000_000
    page_size: int = 100
    max_pages: int = 20


class FhirUnavailable(Exception):
    """The FHIR server cannot give the data (the service answers 412); the message has no patient data."""


class Cut(Exception):
    """A limit stopped the read before all data was in; the message says which (no patient data)."""


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


#: IPv6 ranges that carry an IPv4 address (IPv4-compatible, IPv4-translated, NAT64, 6to4): Python
#: counts them as global, yet they may lead to any IPv4 host, loopback included. Refused unless an
#: issuer's networks name them.
_EMBEDDING_IPV4 = tuple(ipaddress.ip_network(n) for n in (
    "::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16"))


class AddressRefused(httpcore.ConnectError):
    """The FHIR server's name resolves to no address its issuer may use."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves a host, keeps the addresses that are public or in ``allowed``, and connects to the first."""

    def __init__(self, allowed: Iterable[Network], resolver: Resolver) -> None:
        self._allowed = tuple(allowed)
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    def permits(self, text: str) -> bool:
        address = _address(text)
        if any(address in network for network in self._allowed):
            return True
        return address.is_global and not any(address in network for network in _EMBEDDING_IPV4)

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolver(host, port)
        except OSError:
            raise httpcore.ConnectError("the FHIR server's name does not resolve") from None
        usable = [a for a in addresses if self.permits(a)]
        if not usable:
            raise AddressRefused("the FHIR server resolves to an address this issuer may not use")
        return await self._inner.connect_tcp(usable[0], port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections go only to public addresses or to ``allowed`` networks."""

    def __init__(self, allowed: Iterable[Network], resolver: Resolver = _system_resolver) -> None:
        super().__init__(trust_env=False)
        # The one change to httpx's own pool: connections through the guarded backend.
        self._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(),
                                                  network_backend=_GuardedBackend(allowed, resolver))


def guarded_client(allowed: Iterable[Network], resolver: Resolver = _system_resolver) -> httpx.AsyncClient:
    """A client for one issuer's FHIR servers: no redirects, no proxies from the environment."""
    return httpx.AsyncClient(transport=GuardedTransport(allowed, resolver), follow_redirects=False, trust_env=False)


@attrs.define
class _Budget:
    """What is left of a call's size cap."""

    limit: int
    remaining: int = attrs.field()

    @remaining.default
    def _all(self) -> int:
        return self.limit


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str], key: str, budget: _Budget) -> dict[str, Any]:
    try:
        async with client.stream("GET", url, headers=headers) as reply:
            if reply.status_code != 200:
                raise FhirUnavailable(f"{key}: the FHIR server answered {reply.status_code}")
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > budget.remaining:
                    raise Cut(f"the FHIR server's answers exceed the {budget.limit:,} bytes read for one call")
            budget.remaining -= len(body)
        data = json.loads(body)
    except httpx.HTTPError as error:
        refused = isinstance(error.__cause__, AddressRefused)
        raise FhirUnavailable(f"{key}: {error.__cause__ if refused else type(error).__name__}") from None
    except (ValueError, RecursionError):
        raise FhirUnavailable(f"{key}: the FHIR server's answer is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirUnavailable(f"{key}: the FHIR server's answer is not a FHIR resource")
    return data


def _page(data: dict[str, Any], key: str) -> tuple[list[dict[str, Any]], str | None]:
    """A searchset page's entries and its next link; FhirUnavailable for any other shape."""
    entries, links = data.get("entry") or [], data.get("link") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("resource", {}), dict)
                                                 for e in entries):
        raise FhirUnavailable(f"{key}: the FHIR server's Bundle has malformed entries")
    if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
        raise FhirUnavailable(f"{key}: the FHIR server's Bundle has malformed links")
    following = [link.get("url") for link in links if link.get("relation") == "next"]
    if following and not isinstance(following[0], str):
        raise FhirUnavailable(f"{key}: the FHIR server's next link is not a URL")
    return entries, following[0] if following else None


async def _read_pages(client: httpx.AsyncClient, base: str, headers: dict[str, str], key: str, url: str,
                      limits: Limits, budget: _Budget) -> list[dict[str, Any]]:
    """The entries of a search from ``url`` on, following its next links under ``base``."""
    entries: list[dict[str, Any]] = []
    next_url: str | None = url
    for _ in range(limits.max_pages):
        assert next_url is not None
        data = await _get(client, next_url, headers, key, budget)
        if data.get("resourceType") != "Bundle":
            return [{"resource": data}]
        page, following = _page(data, key)
        entries.extend(page)
        if following is None:
            return entries
        next_url = within(base, following)
        if next_url is None:
            raise FhirUnavailable(f"{key}: a next page outside the FHIR server")
    raise Cut(f"{key}: more than {limits.max_pages} pages of {limits.page_size}")


def within(base: str, url: str) -> str | None:
    """``url`` as it will be sent, if it lies under ``base`` (``https://host/fhir/``) once both are
    normalised (dot segments resolved, so ``<base>/../trap`` is outside), else None."""
    origin, base_path, _ = normalise_url(base) or ("", "", "")
    parts = normalise_url(url, query=True)
    if not origin or parts is None or parts[0] != origin or not parts[1].startswith(base_path):
        return None
    return parts[0] + parts[1] + (f"?{parts[2]}" if parts[2] else "")


async def fetch(client: httpx.AsyncClient, base: str, token: str, patient_id: str, keys: list[str],
                limits: Limits, templates: Mapping[str, str] = PREFETCH,
                following: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The entries of each missing prefetch query (``keys``, by ``templates``) and of the pages after
    each paged prefetch (``following``: key -> its next link), from the FHIR base ``base`` (already
    checked against the trust file), read side by side under one deadline and size cap. A next link
    outside the base is refused before any request."""
    base = base.rstrip("/") + "/"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    budget = _Budget(limits.max_bytes)
    starts: list[tuple[str, str]] = []
    for key in keys:
        query = templates[key].replace("{{context.patientId}}", quote(patient_id, safe=""))
        starts.append((key, base + query + (f"&_count={limits.page_size}" if "?" in query else "")))
    for key, link in (following or {}).items():
        url = within(base, link)
        if url is None:
            raise FhirUnavailable(f"{key}: the prefetch's next page is outside the FHIR server")
        starts.append((key, url))
    tasks = [asyncio.create_task(_read_pages(client, base, headers, key, url, limits, budget)) for key, url in starts]
    try:
        async with asyncio.timeout(limits.deadline_seconds):
            pages = await asyncio.gather(*tasks)
    except TimeoutError:
        raise Cut(f"the FHIR server did not give all data within {limits.deadline_seconds:g} s") from None
    finally:  # the first failure ends the other reads too
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [entry for page in pages for entry in page]
