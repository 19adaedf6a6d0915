"""Helpers for the service tests: an EHR's signing key and tokens, and a real uvicorn process."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://ehr.example.org/"
KID = "ehr-key-1"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "cds-hooks"


class Ehr:
    """A CDS client with an ES384 key pair whose public half is in a JWK Set file."""

    def __init__(self, folder: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = folder / "ehr-jwks.json"
        self.jwks.write_text(json.dumps({"keys": [{**jwk, "kid": KID, "alg": "ES384", "use": "sig"}]}))

    def token(self, audience: str, key: Any = None, headers: dict[str, Any] | None = None,
              algorithm: str = "ES384", **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key if key is not None else self.key, algorithm=algorithm,
                          headers={"kid": KID, **(headers or {})})

    def auth(self, audience: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(audience, **claims)}"}


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_service(ehr: Ehr, database: Path, log: Path, *extra: str) -> Iterator[str]:
    """``mmsequence serve`` on 127.0.0.1 and a free port; yields its base URL and stops it on exit."""
    port = free_port()
    command = [sys.executable, "-m", "mmsequence.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--database", str(database), "--trust", f"{ISSUER}={ehr.jwks}", *extra]
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/cds-services", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the service did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
