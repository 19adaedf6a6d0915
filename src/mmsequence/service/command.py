"""The ``mmsequence serve`` subcommand: options, then uvicorn running the service."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError, missing_extra
from .dev import refuse_public_bind

#: The service's log formats (:mod:`mmsequence.service.logs`, imported when serving).
LOG_FORMATS = ("text", "json")

#: With ``--workers N`` each worker process rebuilds its settings from the same arguments.
_ARGS_VARIABLE = "MMSEQUENCE_SERVE_ARGS"


def _add_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8088)
    serve.add_argument("--workers", type=int, default=1, help="service processes sharing the port (default: 1)")
    serve.add_argument("--trust-file", help="the trusted EHRs: issuer, JWK Set, FHIR servers, audiences (YAML or JSON)")
    serve.add_argument("--trust", action="append", default=[], metavar="ISS=JWKS",
                       help="a trusted EHR that sends complete prefetch (no fhirServer): its JWT iss and JWK Set"
                            " (a JSON file or an https URL); repeatable")
    serve.add_argument("--public-url", help="base URL the EHR calls (the JWT aud); required with authentication"
                                            " unless the trust file names every issuer's audiences")
    serve.add_argument("--database", default="mmsequence-service.sqlite3",
                       help="SQLite file for feedback, issued cards and seen token ids (default: %(default)s)")
    serve.add_argument("--max-body-bytes", type=int, default=5_000_000, help="larger requests get 413")
    serve.add_argument("--max-entries", type=int, default=10_000,
                       help="Bundle entries one hook call may bring; more get 413 (default: %(default)s)")
    serve.add_argument("--max-evaluations", type=int, default=64,
                       help="hook calls each worker holds at once (running or waiting); more get 503 (default: %(default)s)")
    serve.add_argument("--large-body-bytes", type=int, default=256_000,
                       help="bodies over this size are assessed on a lane of their own (default: %(default)s)")
    serve.add_argument("--max-large-evaluations", type=int, default=1,
                       help="large hook calls each worker holds at once; more get 503 (default: %(default)s)")
    serve.add_argument("--max-token-lifetime", type=int, default=300,
                       help="seconds a JWT may live (exp - iat) and its iat may lie back (default: %(default)s)")
    serve.add_argument("--fhir-deadline", type=float, default=10.0,
                       help="seconds for all FHIR reads of one hook call (default: %(default)s)")
    serve.add_argument("--fhir-max-bytes", type=int, default=20_000_000,
                       help="bytes all FHIR reads of one hook call may bring (default: %(default)s)")
    serve.add_argument("--fhir-page-size", type=int, default=100, help="_count of each FHIR search (default: %(default)s)")
    serve.add_argument("--fhir-max-pages", type=int, default=20, help="pages followed per search (default: %(default)s)")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="a browser origin allowed to call the service (https://ehr.example.org); repeatable")
    serve.add_argument("--policy", help="site policy file (YAML or JSON)")
    serve.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                       help="log lines as text or as one JSON object a line (default: %(default)s)")
    serve.add_argument("--insecure-dev-no-auth", action="store_true",
                       help="accept requests without a JWT; for development only, logged loudly")


def add_serve_command(commands: Any) -> None:
    """Add ``serve`` to the CLI's subcommands (nothing of the service extra is imported here)."""
    serve = commands.add_parser("serve", help="run the CDS Hooks 2.0 service (needs the service extra)")
    _add_options(serve)
    serve.set_defaults(run=_serve)


def settings_from(args: argparse.Namespace) -> Any:
    """The service's Settings from ``serve``'s options; InputError naming each bad option."""
    from .app import Settings
    from .fhir_client import Limits
    from .trust import Trust, load_trust, parse_shorthand

    problems = [f"--{name}: must be at least 1" for name, value in (
        ("workers", args.workers), ("max-token-lifetime", args.max_token_lifetime), ("fhir-max-bytes", args.fhir_max_bytes),
        ("fhir-page-size", args.fhir_page_size), ("fhir-max-pages", args.fhir_max_pages),
        ("max-body-bytes", args.max_body_bytes), ("max-entries", args.max_entries),
        ("max-evaluations", args.max_evaluations), ("large-body-bytes", args.large_body_bytes),
        ("max-large-evaluations", args.max_large_evaluations)) if value < 1]
    if not args.fhir_deadline > 0:
        problems.append("--fhir-deadline: must be more than 0")
    if problems:
        raise InputError(problems)
    trust = load_trust(args.trust_file) if args.trust_file else Trust()
    shorthand = [parse_shorthand(value) for value in args.trust]
    trust = trust.merged(Trust({issuer.iss: issuer for issuer in shorthand}))
    settings = Settings(
        database=Path(args.database), trust=trust, public_url=args.public_url, authenticate=not args.insecure_dev_no_auth,
        max_body_bytes=args.max_body_bytes, policy=args.policy, max_token_lifetime=args.max_token_lifetime,
        limits=Limits(args.fhir_deadline, args.fhir_max_bytes, args.fhir_page_size, args.fhir_max_pages),
        cors_origins=tuple(args.cors_origin), max_entries=args.max_entries, max_evaluations=args.max_evaluations,
        large_body_bytes=args.large_body_bytes, max_large_evaluations=args.max_large_evaluations,
    )
    settings.checked_trust()
    return settings


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """``serve``'s own options of a parsed command line."""
    parser = argparse.ArgumentParser()
    _add_options(parser)
    return {name: getattr(args, name) for name in vars(parser.parse_args([]))}


def worker_app() -> Any:
    """The application of one worker process (uvicorn's factory for ``--workers N``)."""
    from . import logs
    from .app import create_app

    args = argparse.Namespace(**json.loads(os.environ[_ARGS_VARIABLE]))
    logs.configure(args.log_format)
    return create_app(settings_from(args))


def _serve(args: argparse.Namespace) -> str:
    try:
        import uvicorn

        from . import logs
        from .app import create_app
        from .server import refuse_if_served, run_workers
        from .store import open_store
    except ImportError as error:
        raise missing_extra("the service", "service", error.name) from None
    settings = settings_from(args)
    refuse_public_bind(args.host, settings.trust.issuers)
    # uvicorn's access log would name every request's full URL: the service logs its own lines.
    options: dict[str, Any] = {"log_level": "info", "access_log": False, **logs.configure(args.log_format)}
    refuse_if_served(args.host, args.port)
    if args.workers == 1:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, **options)
        return ""
    open_store(settings.database)  # created (and upgraded) once, before the workers share it
    os.environ[_ARGS_VARIABLE] = json.dumps(_options(args))
    run_workers("mmsequence.service.command:worker_app", args.host, args.port, args.workers, options)
    return ""
