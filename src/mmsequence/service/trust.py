"""Which EHRs the service trusts, and what each may ask of it: the trust file.

A trust file (YAML or JSON) lists each trusted issuer with its JWK Set, the FHIR server base
URLs it may send as ``fhirServer``, and the audiences (public base URLs of this service) its
tokens may name::

    issuers:
      - iss: https://ehr.example.org/
        jwks: https://ehr.example.org/.well-known/jwks.json   # or a file, relative to this one
        fhir_servers: [https://fhir.example.org/r4]
        audiences: [https://cds.example.org]                  # default: --public-url
        private_networks: [10.20.0.0/16]                      # optional, see below

A FHIR server base is ``https``, or ``http`` on a loopback address named literally
(``http://127.0.0.1:8080/fhir``: nothing leaves the machine). The service connects only to
public addresses, to addresses the trust file names literally, and to addresses inside the
issuer's ``private_networks``; a hostname resolving anywhere else is refused at connection
time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from .. import _yaml as yaml
from ..errors import InputError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ISSUER_KEYS = ("iss", "jwks", "fhir_servers", "audiences", "private_networks")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


#: Percent-encodings a server may decode into a path separator or a dot segment: refused, since
#: the path checked would not be the path served.
_AMBIGUOUS_ESCAPE = re.compile(r"%(?:2e|2f|5c)", re.IGNORECASE)


def clean_path(path: str) -> str | None:
    """``path`` with its dot segments resolved (RFC 3986, 5.2.4) as a client will send it, or None
    when it holds an encoded dot, slash or backslash (the server could read another path)."""
    if _AMBIGUOUS_ESCAPE.search(path):
        return None
    kept: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        if segment == "..":
            if len(kept) > 1:
                kept.pop()
        elif segment != "." or i == 0:
            kept.append(segment)
        if segment in (".", "..") and i == len(segments) - 1:
            kept.append("")  # a trailing dot segment names the folder
    return "/".join(kept)


def normalise_url(url: str, query: bool = False) -> tuple[str, str, str] | None:
    """(origin, path, query) of an http(s) URL in one spelling: scheme and host lowercased, default
    port dropped, dot segments resolved; None if it has credentials, a fragment, a query (unless
    ``query``), a backslash, a control character or an ambiguous escape."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    if (parts.query and not query) or parts.fragment or "\\" in url or any(ord(c) < 33 for c in url):
        return None
    path = clean_path(parts.path)
    if path is None:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}", path, parts.query


def normalise_base(url: str) -> str | None:
    """A FHIR base URL in one spelling (scheme and host lowercased, default port, dot segments and
    trailing slash dropped), or None if it is not a plain http(s) URL without credentials, query or fragment."""
    parts = normalise_url(url)
    return None if parts is None else parts[0] + parts[1].rstrip("/")


def _is_loopback(host: str) -> bool:
    address = _literal_address(host)
    return host == "localhost" or (address is not None and address.is_loopback)


@attrs.frozen
class Issuer:
    """One trusted EHR: its ``iss``, JWK Set (file path or https URL), FHIR bases and audiences."""

    iss: str
    jwks: str
    fhir_servers: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    private_networks: tuple[Network, ...] = ()

    def fhir_base(self, server: str) -> str | None:
        """The configured base ``server`` names (compared normalised), else None."""
        wanted = normalise_base(server)
        return wanted if wanted is not None and wanted in self.fhir_servers else None

    def allowed_networks(self) -> tuple[Network, ...]:
        """Non-public networks the issuer's FHIR servers may be reached at: its ``private_networks``
        and every address its FHIR bases name literally (``localhost`` is the loopback range)."""
        named: list[Network] = list(self.private_networks)
        for base in self.fhir_servers:
            host = urlsplit(base).hostname or ""
            if host == "localhost":
                named += [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
            elif (address := _literal_address(host)) is not None:
                named.append(ipaddress.ip_network(address))
        return tuple(named)


@attrs.frozen
class Trust:
    """The trusted issuers by ``iss``."""

    issuers: Mapping[str, Issuer] = attrs.field(factory=dict)

    def issuer(self, iss: str) -> Issuer | None:
        return self.issuers.get(iss)

    def with_audience(self, public_url: str | None) -> Trust:
        """Every issuer without audiences of its own gets ``public_url``."""
        if public_url is None:
            return self
        base = public_url.rstrip("/")
        return Trust({iss: issuer if issuer.audiences else attrs.evolve(issuer, audiences=(base,))
                      for iss, issuer in self.issuers.items()})

    def merged(self, other: Trust) -> Trust:
        """Both sets of issuers; InputError if an issuer is in both."""
        both = sorted(set(self.issuers) & set(other.issuers))
        if both:
            raise InputError([f"--trust {iss!r}: also in the trust file" for iss in both])
        return Trust({**self.issuers, **other.issuers})


def _jwks_location(value: Any, path: str, folder: Path | None, problems: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path}: expected an https URL or a file")
        return ""
    if value.startswith("https://"):
        return value
    if value.startswith("http://"):
        problems.append(f"{path}: {value!r} is not https (keys must not travel in the clear)")
        return ""
    file = Path(value) if folder is None or Path(value).is_absolute() else folder / value
    if not file.is_file():
        problems.append(f"{path}: {value!r} is neither an https URL nor a file")
    return str(file)


def _fhir_servers(value: Any, path: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{path}: expected a list of FHIR base URLs")
        return ()
    bases = []
    for i, url in enumerate(value):
        base = normalise_base(url)
        if base is None:
            problems.append(f"{path}[{i}]: {url!r} is not an http(s) URL without credentials, query or fragment")
        elif base.startswith("http://") and not _is_loopback(urlsplit(base).hostname or ""):
            problems.append(f"{path}[{i}]: {url!r}: plain http only to a loopback address; use https")
        else:
            bases.append(base)
    return tuple(bases)


def _audiences(value: Any, path: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.startswith(("https://", "http://")) for v in value):
        problems.append(f"{path}: expected a list of this service's base URLs")
        return ()
    return tuple(v.rstrip("/") for v in value)


def _networks(value: Any, path: str, problems: list[str]) -> tuple[Network, ...]:
    networks = []
    for i, text in enumerate(value if isinstance(value, list) else [None]):
        try:
            networks.append(ipaddress.ip_network(text))
        except (TypeError, ValueError):
            where = f"{path}[{i}]" if isinstance(value, list) else path
            problems.append(f"{where}: expected a network such as 10.20.0.0/16")
    return tuple(networks)


def _issuer(entry: Any, path: str, folder: Path | None, problems: list[str]) -> Issuer | None:
    if not isinstance(entry, dict):
        problems.append(f"{path}: expected a mapping with iss and jwks")
        return None
    problems.extend(f"{path}.{key}: unknown key" for key in entry if key not in _ISSUER_KEYS)
    iss = entry.get("iss")
    if not isinstance(iss, str) or not iss.strip():
        problems.append(f"{path}.iss: expected the issuer's iss (a non-empty string)")
    before = len(problems)
    issuer = Issuer(
        iss=iss if isinstance(iss, str) else "",
        jwks=_jwks_location(entry.get("jwks"), f"{path}.jwks", folder, problems),
        fhir_servers=_fhir_servers(entry.get("fhir_servers", []), f"{path}.fhir_servers", problems),
        audiences=_audiences(entry.get("audiences", []), f"{path}.audiences", problems),
        private_networks=_networks(entry.get("private_networks", []), f"{path}.private_networks", problems),
    )
    return issuer if len(problems) == before and issuer.iss else None


def parse_trust(data: Any, source: str, folder: Path | None = None) -> Trust:
    """A trust file's contents; InputError naming each bad field (``trust.yaml: issuers[0].jwks: ...``)."""
    problems: list[str] = []
    entries = data.get("issuers") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError([f"{source}: issuers: expected a non-empty list"])
    if isinstance(data, dict):
        problems.extend(f"{key}: unknown key" for key in data if key != "issuers")
    issuers: dict[str, Issuer] = {}
    for i, entry in enumerate(entries):
        issuer = _issuer(entry, f"issuers[{i}]", folder, problems)
        if issuer is not None and issuer.iss in issuers:
            problems.append(f"issuers[{i}].iss: {issuer.iss!r} is listed twice")
        elif issuer is not None:
            issuers[issuer.iss] = issuer
    if problems:
        raise InputError([f"{source}: {p}" for p in problems])
    return Trust(issuers)


def load_trust(path: str | Path) -> Trust:
    """Read a trust file (YAML or JSON); relative JWK Set files are read beside it."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError([f"{file}: cannot be read ({error.strerror})"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError([f"{file}: not valid YAML or JSON ({error})"]) from None
    return parse_trust(data, str(file), file.parent)


def parse_shorthand(value: str) -> Issuer:
    """``ISS=JWKS`` from ``--trust``: split at the first ``=`` after the issuer's ``://``, so that a
    JWK Set URL may carry a query string; such an issuer may send no ``fhirServer``."""
    scheme_end = value.find("://")
    split = value.find("=", scheme_end + 3 if scheme_end >= 0 else 0)
    issuer, jwks = (value[:split], value[split + 1:]) if split > 0 else ("", "")
    problems: list[str] = []
    if not issuer or not jwks:
        raise InputError([f"--trust {value!r}: expected ISS=JWKS"])
    location = _jwks_location(jwks, f"--trust {value!r}", None, problems)
    if problems:
        raise InputError(problems)
    return Issuer(iss=issuer, jwks=location)
