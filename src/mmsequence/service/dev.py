"""``mmsequence dev-keys``: what trying the CDS Hooks service on this machine, with authentication,
needs: a signing key for a local issuer, its JWK Set, a trust file naming it, a patient-view request
whose dates are moved to today, and the commands to run, with signed tokens.

Everything is for loopback only: the public URL is ``http://127.0.0.1:PORT`` (or ``[::1]``), the
service is started with that ``--host``, and ``serve`` refuses a trust file holding the local
issuer on any other address. Each token is for one endpoint and is used once (the service records
its ``jti``), and lives as long as the service accepts (``--max-token-lifetime``, 300 s by default);
running the command again keeps the key and prints fresh tokens.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import re
import shlex
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._paths import cds_hooks_examples_dir
from ..errors import InputError, missing_extra

#: The local issuer's ``iss``: a URN, so it cannot be mistaken for an EHR's.
DEV_ISSUER = "urn:mmsequence:dev-issuer"
KID = "mmsequence-dev-key"
#: The day the shipped patient-view example is written for (its patient's document, tb-014, is
#: as of this day): its dates move by the days from then to today.
EXAMPLE_DAY = datetime.date(2026, 1, 10)
_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
#: Seconds a token lives: the service's default --max-token-lifetime.
LIFETIME = 300


def loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1 or localhost)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def refuse_public_bind(host: str, issuers: Mapping[str, Any]) -> None:
    """InputError when the local issuer is trusted and the service would listen beyond loopback."""
    if DEV_ISSUER in issuers and not loopback(host):
        raise InputError([f"--host: {host!r} is not a loopback address, and the trust file holds the local"
                          f" development issuer {DEV_ISSUER}: serve it on 127.0.0.1 only"])


def shift_dates(value: Any, days: int) -> Any:
    """``value`` (JSON data) with every YYYY-MM-DD date in its strings moved by ``days``."""
    if isinstance(value, dict):
        return {key: shift_dates(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [shift_dates(item, days) for item in value]
    if isinstance(value, str):
        return _DATE.sub(lambda m: (datetime.date(*map(int, m.groups())) + datetime.timedelta(days)).isoformat(), value)
    return value


def _key(folder: Path) -> Any:
    """The local issuer's EC P-384 private key, created (readable by its owner only) when missing."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = folder / "dev-issuer-key.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def token(key: Any, audience: str) -> str:
    """A JWT of the local issuer for one endpoint (``aud``), used once, living :data:`LIFETIME` seconds."""
    import jwt

    issued = int(time.time())
    claims = {"iss": DEV_ISSUER, "aud": audience, "iat": issued, "exp": issued + LIFETIME, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID})


def write_dev_files(folder: Path, base: str, today: datetime.date) -> Any:
    """The key (kept if present), JWK Set, trust file and today's patient-view request in ``folder``;
    returns the key."""
    import jwt

    folder.mkdir(parents=True, exist_ok=True)
    key = _key(folder)
    jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": KID, "use": "sig", "alg": "ES384"}
    (folder / "jwks.json").write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n", encoding="utf-8")
    trust = {"issuers": [{"iss": DEV_ISSUER, "jwks": "jwks.json", "fhir_servers": [], "audiences": [base]}]}
    (folder / "trust.yaml").write_text(
        "# The local development issuer of `mmsequence dev-keys`: loopback only, never for patient data.\n"
        + json.dumps(trust, indent=2) + "\n", encoding="utf-8")
    request = json.loads((cds_hooks_examples_dir() / "patient-view.json").read_text(encoding="utf-8"))
    moved = shift_dates(request, (today - EXAMPLE_DAY).days)
    (folder / "patient-view.json").write_text(json.dumps(moved, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return key


def public_url(host: str, port: int) -> str:
    """The service's base URL on a loopback ``host``."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def recipe(folder: Path, host: str, port: int, key: Any) -> str:
    """The commands to start the service and call discovery and patient-view, with fresh tokens."""
    base = public_url(host, port)
    where = shlex.quote(str(folder))
    discovery = f"{base}/cds-services"
    patient_view = f"{discovery}/mmsequence-patient-view"
    return "\n".join([
        "# 1. Start the service on this machine only (leave it running):",
        f"mmsequence serve --host {host} --port {port} --trust-file {where}/trust.yaml --public-url {base}"
        f" --database {where}/service.sqlite3",
        f"# 2. In another shell, within {LIFETIME} s. Each token's aud is the endpoint it calls"
        f" (<public URL>/cds-services[/<id>]) and it is accepted once;",
        f"#    `mmsequence dev-keys {where} --port {port}` prints fresh ones (the key is kept).",
        "# Discovery:",
        f"curl -H 'Authorization: Bearer {token(key, discovery)}' {discovery}",
        "# patient-view, on the shipped example with its dates moved to today:",
        f"curl -X POST -H 'Authorization: Bearer {token(key, patient_view)}' -H 'Content-Type: application/json'"
        f" --data @{where}/patient-view.json {patient_view}",
    ]) + "\n"


def _dev_keys(args: argparse.Namespace) -> str:
    try:
        import cryptography  # noqa: F401
        import jwt  # noqa: F401
    except ImportError as error:
        raise missing_extra("dev-keys", "service", error.name) from None
    if not loopback(args.host):
        raise InputError([f"--host: {args.host!r} is not a loopback address (127.0.0.1, ::1, localhost):"
                          " the development issuer is for this machine only"])
    if not 0 < args.port < 65536:
        raise InputError([f"--port: {args.port} is not a TCP port"])
    host = "127.0.0.1" if args.host == "localhost" else args.host.strip("[]")
    folder = Path(args.folder)
    key = write_dev_files(folder, public_url(host, args.port), datetime.date.today())
    return recipe(folder, host, args.port, key)


def add_dev_keys_command(commands: Any) -> None:
    """Add ``dev-keys`` to the CLI's subcommands."""
    dev = commands.add_parser("dev-keys", help="a local issuer, its keys and tokens, to try the service on this machine")
    dev.add_argument("folder", help="where to write the key, JWK Set, trust file and request (created if missing)")
    dev.add_argument("--host", default="127.0.0.1", help="loopback address the service will listen on (default: %(default)s)")
    dev.add_argument("--port", type=int, default=8088, help="port the service will listen on (default: %(default)s)")
    dev.set_defaults(run=_dev_keys)
