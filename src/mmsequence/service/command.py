"""The ``mmsequence serve`` subcommand: options, then uvicorn running the service."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from ..errors import InputError, MmsequenceError


def add_serve_command(commands: Any) -> None:
    """Add ``serve`` to the CLI's subcommands (nothing of the service extra is imported here)."""
    serve = commands.add_parser("serve", help="run the CDS Hooks 2.0 service (needs the service extra)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8088)
    serve.add_argument("--trust", action="append", default=[], metavar="ISS=JWKS",
                       help="a trusted EHR: its JWT iss and its JWK Set (a JSON file or an https URL); repeatable")
    serve.add_argument("--public-url", help="base URL the EHR calls, for the JWT aud (default: the request's own)")
    serve.add_argument("--database", default="mmsequence-service.sqlite3",
                       help="SQLite file for feedback and seen token ids (default: %(default)s)")
    serve.add_argument("--max-body-bytes", type=int, default=5_000_000, help="larger requests get 413")
    serve.add_argument("--policy", help="site policy file (YAML or JSON)")
    serve.add_argument("--insecure-dev-no-auth", action="store_true",
                       help="accept requests without a JWT; for development only, logged loudly")
    serve.set_defaults(run=_serve)


def _issuers(values: list[str]) -> dict[str, str]:
    issuers, problems = {}, []
    for value in values:
        issuer, _, jwks = value.rpartition("=")
        if not issuer or not jwks:
            problems.append(f"--trust {value!r}: expected ISS=JWKS")
        elif not jwks.startswith("https://") and not Path(jwks).is_file():
            problems.append(f"--trust {value!r}: {jwks!r} is neither an https URL nor a file")
        else:
            issuers[issuer] = jwks
    if problems:
        raise InputError(problems)
    return issuers


def _serve(args: argparse.Namespace) -> str:
    try:
        import uvicorn

        from .app import Settings, create_app
    except ImportError:
        raise MmsequenceError("the service needs the service extra: pip install 'mmsequence[service]'") from None
    issuers = _issuers(args.trust)
    if not issuers and not args.insecure_dev_no_auth:
        raise InputError(["--trust: no trusted EHR given (use --insecure-dev-no-auth only for development)"])
    settings = Settings(database=Path(args.database), issuers=issuers, public_url=args.public_url,
                        authenticate=not args.insecure_dev_no_auth, max_body_bytes=args.max_body_bytes,
                        policy=args.policy)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return ""
