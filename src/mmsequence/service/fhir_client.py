"""Reading from the EHR's FHIR server what the prefetch did not bring, with the token it gave."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from .hooks import PREFETCH

MAX_PAGES = 20
TIMEOUT_SECONDS = 10.0


class FhirUnavailable(Exception):
    """The FHIR server cannot give the data (the service answers 412); the message has no patient data."""


def _allowed(url: str) -> bool:
    """https, or http to the loopback interface (a server on the same machine)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    try:
        return parts.scheme == "http" and (parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname or "").is_loopback)
    except ValueError:
        return False


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str], key: str) -> dict[str, Any]:
    try:
        reply = await client.get(url, headers=headers, timeout=TIMEOUT_SECONDS)
        data = reply.json() if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as error:
        raise FhirUnavailable(f"{key}: {type(error).__name__}") from None
    if not isinstance(data, dict):
        raise FhirUnavailable(f"{key}: the FHIR server answered {reply.status_code} without a resource")
    return data


async def fetch(client: httpx.AsyncClient, server: str, token: str, patient_id: str, keys: list[str]) -> list[dict[str, Any]]:
    """The entries of each missing prefetch query, following ``next`` pages on the same server."""
    if not _allowed(server):
        raise FhirUnavailable("fhirServer must be an https URL")
    base = server.rstrip("/") + "/"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    entries: list[dict[str, Any]] = []
    for key in keys:
        url: str | None = base + PREFETCH[key].replace("{{context.patientId}}", quote(patient_id, safe=""))
        for page in range(MAX_PAGES + 1):
            if url is None:
                break
            if page == MAX_PAGES:
                raise FhirUnavailable(f"{key}: more than {MAX_PAGES} pages")
            data = await _get(client, url, headers, key)
            if data.get("resourceType") != "Bundle":
                entries.append({"resource": data})
                break
            entries.extend(data.get("entry") or ())
            url = next((link.get("url") for link in data.get("link") or () if link.get("relation") == "next"), None)
            if url is not None and not url.startswith(base):
                raise FhirUnavailable(f"{key}: a next page outside the FHIR server")
    return entries
