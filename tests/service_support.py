"""Helpers for the service tests: an EHR's signing key, tokens and trust file, a FHIR server on
loopback that records who called it, the service in-process, and the service as a real uvicorn process."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mmsequence.service.hooks import PREFETCH

ISSUER = "https://ehr.example.org/"
KID = "ehr-key-1"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "cds-hooks"


class Ehr:
    """A CDS client with a key pair whose public half is in a JWK Set file: ES384 by default, or
    RSA (its JWK with or without ``alg``)."""

    def __init__(self, folder: Path, rsa_key: bool = False, jwk_alg: str | None = "ES384") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if rsa_key:
            self.key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        else:
            self.key = ec.generate_private_key(ec.SECP384R1())
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        self.algorithm = "ES384" if not rsa_key else (jwk_alg or "RS384")
        self.jwk = {**jwk, "kid": KID, "use": "sig", **({"alg": jwk_alg} if jwk_alg else {})}
        self.jwks = folder / "ehr-jwks.json"
        self.jwks.write_text(json.dumps({"keys": [self.jwk]}))

    def token(self, audience: str | list[str], key: Any = None, headers: dict[str, Any] | None = None,
              algorithm: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key if key is not None else self.key, algorithm=algorithm or self.algorithm,
                          headers={"kid": KID, **(headers or {})})

    def signed(self, header: dict[str, Any], claims: Any) -> str:
        """A compact JWS of any header and payload, however malformed, signed by this EHR's EC key."""
        def part(data: Any) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
        signing_input = f"{part(header)}.{part(claims)}".encode()
        signature = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA384).sign(signing_input, self.key)
        return f"{signing_input.decode()}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    def auth(self, audience: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(audience, **claims)}"}

    def trust_file(self, folder: Path, audiences: list[str] | None = None, fhir_servers: list[str] = (),
                   **extra: Any) -> Path:
        """A trust file naming this EHR (JSON, which is YAML too)."""
        entry = {"iss": ISSUER, "jwks": str(self.jwks), "fhir_servers": list(fhir_servers), **extra}
        if audiences is not None:
            entry["audiences"] = audiences
        path = folder / "trust.json"
        path.write_text(json.dumps({"issuers": [entry]}))
        return path


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefetch_answer(path: str) -> dict[str, Any]:
    """What a FHIR server at ``/fhir`` holding the patient-view example answers to one prefetch
    query (``/fhir/Patient/tb-014``, ``/fhir/Condition``, ...)."""
    prefetch = example("patient-view")["prefetch"]
    by_type = {template.split("?")[0].split("/")[0]: key for key, template in PREFETCH.items()}
    segments = path.strip("/").split("/")
    data = copy.deepcopy(prefetch.get(by_type.get(segments[1] if len(segments) > 1 else "", "")))
    return data or {"resourceType": "Bundle", "type": "searchset"}


class FhirServer:
    """A FHIR server on 127.0.0.1 answering the patient-view example's prefetch queries; ``calls``
    holds every request line it was sent, ``connections`` every TCP connection it accepted."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.connections = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.calls.append(self.path)
                body = json.dumps(prefetch_answer(self.path.partition("?")[0])).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def get_request(self) -> Any:
                outer.connections += 1
                return super().get_request()

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FhirServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def call_app(app: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             content: bytes | None = None) -> httpx.Response:
    """One request to the application in-process, its lifespan run around it."""
    return call_app_many(app, [(method, path, body, headers, content)])[0]


def call_app_many(app: Any, requests: list[tuple[str, str, Any, dict[str, str] | None, bytes | None]]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                replies = []
                for method, path, body, headers, content in requests:
                    kwargs: dict[str, Any] = {"headers": headers or {}}
                    if content is not None:
                        kwargs["content"] = content
                    elif body is not None:
                        kwargs["json"] = body
                    replies.append(await client.request(method, path, **kwargs))
                return replies
    return asyncio.run(run())


@contextlib.contextmanager
def running_service(ehr: Ehr, database: Path, log: Path, *extra: str, trust_file: Path | None = None,
                    public_url: str | None = None) -> Iterator[str]:
    """``mmsequence serve`` on 127.0.0.1 and a free port; yields its base URL and stops it on exit.
    The EHR is trusted through ``--trust`` unless a trust file is given; the public URL is the
    service's own loopback URL unless given."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    trust = ["--trust-file", str(trust_file)] if trust_file else ["--trust", f"{ISSUER}={ehr.jwks}"]
    command = [sys.executable, "-m", "mmsequence.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--database", str(database), *trust, "--public-url", public_url or base, *extra]
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
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
