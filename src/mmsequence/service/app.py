"""The CDS Hooks 2.0 service as a Starlette application.

Endpoints: ``GET /cds-services`` (discovery), ``POST /cds-services/{id}`` (a hook call) and
``POST /cds-services/{id}/feedback``. Every request must carry the EHR's signed JWT, unless the
service was started with authentication explicitly turned off for development. Request bodies
over the size limit are refused with 413. Logs name the endpoint, status and timing, never
patient data.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import InputError
from ..evaluator import evaluator_for
from ..i18n import ENGLISH, negotiate
from ..policy import load_policy
from . import cards
from .auth import AuthError, Verifier
from .fhir_client import FhirUnavailable, fetch
from .hooks import (
    SERVICES, HookRequest, Service, merged_bundle, ordered_candidates, parse_feedback, parse_request, prefetch_entries,
)
from .store import Store

log = logging.getLogger("mmsequence.service")
T = TypeVar("T")

@attrs.frozen
class Settings:
    """How the service runs; ``issuers`` maps each trusted ``iss`` to its JWK Set (a JSON file or an https URL)."""

    database: Path = Path("mmsequence-service.sqlite3")
    issuers: Mapping[str, str] = attrs.field(factory=dict)
    public_url: str | None = None
    authenticate: bool = True
    max_body_bytes: int = 5_000_000
    policy: str | None = None


def _fail(status: int, message: str, **extra: Any) -> HTTPException:
    return HTTPException(status, detail=json.dumps({"error": message, **extra}))


async def _json_body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _fail(413, f"request body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _fail(413, f"request body over {limit} bytes")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise _fail(400, "the request body is not JSON") from None


class _NoTracebacks(BaseHTTPMiddleware):
    """An unexpected error becomes a 500 logged by its type alone: a traceback could quote patient data."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        try:
            return await call_next(request)
        except Exception as error:  # noqa: BLE001 (every error, so that none reaches the server's log)
            log.error("%s %s: internal error (%s)", request.method, request.url.path, type(error).__name__)
            return JSONResponse({"error": "internal error"}, status_code=500)


def create_app(settings: Settings, http_client: httpx.AsyncClient | None = None) -> Starlette:
    """The service; ``http_client`` reads the EHR's FHIR server (one is made if not given)."""
    store = Store(settings.database)
    verifier = Verifier(settings.issuers, store)
    evaluator = evaluator_for(load_policy(settings.policy))
    clients = {"http": http_client} if http_client is not None else {}
    if not settings.authenticate:
        log.warning("AUTHENTICATION IS OFF: any caller is accepted without a JWT. "
                    "Development only; never expose this service to patient data.")

    async def authenticate(request: Request) -> None:
        if not settings.authenticate:
            return
        base = (settings.public_url or f"{request.url.scheme}://{request.url.netloc}").rstrip("/")
        try:  # in a thread: a JWK Set URL or the token store may block
            await run_in_threadpool(verifier.verify, request.headers.get("authorization"), base + request.url.path)
        except AuthError as error:
            log.warning("%s %s: authentication failed: %s", request.method, request.url.path, error)
            raise _fail(401, f"authentication failed: {error}") from None

    def service_of(request: Request) -> Service:
        service = SERVICES.get(request.path_params["service_id"])
        if service is None:
            raise _fail(404, "no such CDS service")
        return service

    async def discovery(request: Request) -> Response:
        await authenticate(request)
        return JSONResponse({"services": [s.to_dict() for s in SERVICES.values()]})

    async def bundle_of(hook: HookRequest) -> dict[str, Any]:
        entries, missing = prefetch_entries(hook.prefetch)
        if missing:
            if not (hook.fhir_server and hook.access_token):
                raise _fail(412, "prefetch data missing and no fhirServer with fhirAuthorization given",
                            missing=missing)
            try:
                entries += await fetch(clients["http"], hook.fhir_server, hook.access_token, hook.patient_id, missing)
            except FhirUnavailable as error:
                raise _fail(412, f"cannot read the FHIR server: {error}") from None
        return merged_bundle(entries)

    def assess(hook: HookRequest, bundle: dict[str, Any], language: str = ENGLISH) -> dict[str, Any]:
        try:
            candidates = None
            if hook.draft_orders is not None:
                candidates = ordered_candidates(hook, evaluator.catalog)
                if not candidates:
                    return {"cards": []}
            history = evaluator.read(bundle, patient_id=hook.patient_id, candidates=candidates)
            assessment = evaluator.evaluate(history)
        except InputError as error:
            return cards.problems_response(error.problems, hook.hook_instance, language)
        return cards.response(assessment, hook.hook_instance, language)

    async def read(request: Request, parse: Callable[[Any, Service], T], what: str) -> T:
        """The authenticated request's body for its service, parsed; 400 naming each bad field."""
        await authenticate(request)
        service = service_of(request)
        try:
            return parse(await _json_body(request, settings.max_body_bytes), service)
        except InputError as error:
            raise _fail(400, f"invalid {what}", problems=list(error.problems)) from None

    async def call(request: Request) -> Response:
        hook = await read(request, parse_request, "hook request")
        bundle = await bundle_of(hook)
        language = negotiate(request.headers.get("accept-language"))  # the cards' language, else English
        return JSONResponse(await run_in_threadpool(assess, hook, bundle, language))

    async def feedback(request: Request) -> Response:
        items = await read(request, parse_feedback, "feedback")
        await run_in_threadpool(store.add_feedback, items)
        return JSONResponse({"stored": len(items)})

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        body = json.loads(error.detail) if error.detail.startswith("{") else {"error": error.detail}
        return JSONResponse(body, status_code=error.status_code)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if http_client is None:
            clients["http"] = httpx.AsyncClient()
        try:
            yield
        finally:
            if http_client is None:
                await clients.pop("http").aclose()

    app = Starlette(
        routes=[
            Route("/cds-services", discovery, methods=["GET"]),
            Route("/cds-services/{service_id}", call, methods=["POST"]),
            Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
        middleware=[Middleware(_NoTracebacks)],
        lifespan=lifespan,
    )
    app.state.store = store
    return app
