"""The CDS Hooks 2.0 service as a Starlette application.

Endpoints: ``GET /cds-services`` (discovery, also with a trailing slash), ``POST
/cds-services/{id}`` (a hook call) and ``POST /cds-services/{id}/feedback``. Every request must
carry a JWT signed by an issuer of the trust file, unless the service was started with
authentication explicitly turned off for development. Bad input of any kind gets a 4xx answer
naming the problem, never a 500; bodies over the size limit get 413. CORS preflights are
answered for the configured origins only. The log names the endpoint, status, timing and the
reason for a refusal, never patient data (httpx's request log, which names FHIR URLs, is off).

Evaluations run off the event loop, on two lanes: bodies up to ``large_body_bytes`` on one
thread, larger ones in a process of their own (started on the first large call), so a large
record (decoded, checked and assessed there) neither queues the ordinary calls behind it nor takes
the GIL from them: a 4 MB record takes a core for a fifth of a second. A large call whose record
must still be read from the FHIR server is assessed on a second thread instead. More threads would
only make evaluations wait in turns for the GIL, and requests would finish in random order (a
long tail); for more throughput run more processes (``serve --workers N``). Each lane admits a
bounded number of calls (``max_evaluations``, ``max_large_evaluations``); beyond it the answer is
503 with ``Retry-After``. When the large lane's process has ended (or cannot start), the call is
assessed on the lane's thread, and the process starts again on the next large call. A request's
JSON is held to the reader's limits (nesting: 422; items, string length: 413) and its Bundles to
``max_entries`` entries in all (413). A failure of the service's database is a 503 with its reason
logged, never a bare 500.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import multiprocessing
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

import attrs
import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..assessment import Assessment
from ..documents import READ_LIMITS, LimitExceeded, ReadLimits, check_limits
from ..errors import InputError
from ..evaluator import Evaluator, evaluator_for
from ..i18n import ENGLISH, negotiate
from ..policy import Policy, load_policy
from . import cards
from .auth import MAX_LIFETIME_SECONDS, AuthError, Verifier
from .fhir_client import Cut, FhirUnavailable, Limits, Resolver, fetch, guarded_client
from .hooks import (
    SERVICES,
    HookRequest,
    Prefetched,
    Service,
    merged_bundle,
    ordered_drugs,
    parse_feedback,
    parse_request,
    prefetch_entries,
    prefetch_templates,
)
from .keys import KeyRing, KeySetError
from .server import die_with
from .store import open_store
from .trust import Issuer, Trust

log = logging.getLogger("mmsequence.service")
for _chatty in ("httpx", "httpcore"):  # their INFO lines carry FHIR URLs, and so patient ids
    logging.getLogger(_chatty).setLevel(logging.WARNING)
T = TypeVar("T")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SERVICE_PATH = re.compile(r"/cds-services(?:/(?P<id>[^/]+)(?P<feedback>/feedback)?)?/?")


@attrs.frozen
class Settings:
    """How the service runs."""

    database: Path = Path("mmsequence-service.sqlite3")
    trust: Trust = attrs.field(factory=Trust)
    public_url: str | None = None
    authenticate: bool = True
    max_body_bytes: int = 5_000_000
    policy: str | None = None
    limits: Limits = attrs.field(factory=Limits)
    cors_origins: tuple[str, ...] = ()
    max_token_lifetime: int = MAX_LIFETIME_SECONDS
    max_entries: int = 10_000
    max_evaluations: int = 64
    large_body_bytes: int = 256_000
    max_large_evaluations: int = 1

    def checked_trust(self) -> Trust:
        """The trust file's issuers, each with its audiences (``public_url`` by default); InputError if
        authentication is on and an issuer has none (the audience is never taken from the request)."""
        trust = self.trust.with_audience(self.public_url)
        if self.authenticate:
            if not trust.issuers:
                raise InputError(["--trust-file: no trusted EHR given (use --insecure-dev-no-auth only for development)"])
            if any(not issuer.audiences for issuer in trust.issuers.values()):
                raise InputError(["--public-url: required (the base URL the EHR calls, which its tokens' aud names),"
                                  " unless the trust file gives every issuer its audiences"])
        return trust


class _AsciiJSON(JSONResponse):
    """JSON in ASCII: text from a FHIR server (even a lone surrogate) can always be sent."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def logged_path(path: str) -> str:
    """A request path as the log may show it: a known service's path, else a placeholder (a path
    is the caller's text and could hold anything)."""
    match = _SERVICE_PATH.fullmatch(path)
    if match is None:
        return "(another path)"
    if match["id"] is None:
        return "/cds-services"
    service = match["id"] if match["id"] in SERVICES else "(unknown service)"
    return f"/cds-services/{service}{match['feedback'] or ''}"


def _fail(status: int, message: str, **extra: Any) -> HTTPException:
    return HTTPException(status, detail=json.dumps({"error": message, **extra}))


def _lone_surrogate(value: Any) -> bool:
    """Whether any string in a decoded JSON value holds a lone surrogate (valid JSON, not valid UTF-8)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def _raw_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _fail(413, f"request body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _fail(413, f"request body over {limit} bytes")
    return bytes(body)


#: A request wraps its Bundles in up to four levels (prefetch, its key, the Bundle; context, draftOrders).
REQUEST_LIMITS = ReadLimits(max_depth=READ_LIMITS.max_depth + 4)


def _limit_failure(error: LimitExceeded) -> HTTPException:
    """A request over a reader limit: 422 for nesting, 413 for size."""
    return _fail(422 if error.limit == "max_depth" else 413, error.problems[0])


def _decoded(body: bytes) -> Any:
    """The request's JSON within the request limits; 400 for text that is not JSON, 413/422 over a limit."""
    try:
        value = json.loads(body)
    except ValueError:
        raise _fail(400, "the request body is not JSON (UTF-8)") from None
    except RecursionError:
        raise _fail(422, f"request: nested deeper than {REQUEST_LIMITS.max_depth} levels (limit max_depth)") from None
    try:
        check_limits(value, "request", REQUEST_LIMITS)
    except LimitExceeded as error:
        raise _limit_failure(error) from None
    if _SURROGATE_ESCAPE.search(body) and _lone_surrogate(value):
        raise _fail(400, "the request body holds a lone surrogate (\\ud800-\\udfff), which is not text")
    return value


async def _json_body(request: Request, limit: int) -> Any:
    return _decoded(await _raw_body(request, limit))


class _Guard:
    """Outermost layer: logs each request (method, service path, status, time; never the query or
    patient data), and turns an unexpected error into a 500 logged by its type alone (a traceback
    could quote patient data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]
        path = logged_path(scope["path"])

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except sqlite3.Error as error:  # a full disk, a database made read-only: the reason is the engine's, no data
            log.error("%s %s: the service's database failed: %s", scope["method"], path, error)
            if not status[0]:
                await _AsciiJSON({"error": "the service cannot record calls now (its database failed); try later"},
                                 status_code=503, headers={"Retry-After": "30"})(scope, receive, send)
                status[0] = 503
        except Exception as error:  # noqa: BLE001 (every error, so that none reaches the server's log)
            log.error("%s %s: internal error (%s)", scope["method"], path, type(error).__name__)
            if not status[0]:
                await _AsciiJSON({"error": "internal error"}, status_code=500)(scope, receive, send)
                status[0] = 500
        log.info("%s %s %d %.1f ms", scope["method"], path, status[0], (time.perf_counter() - started) * 1000)


class _Incomplete(Cut):
    """The prefetch holds the first page of a search, and its other pages cannot be read."""


def _cut_cards(cut: Cut, hook: HookRequest) -> list[cards.Card]:
    advice = cards.INCOMPLETE_PREFETCH if isinstance(cut, _Incomplete) else None
    return [cards.cut_card(str(cut), hook.hook_instance, *([advice] if advice else []))]


@attrs.frozen
class _Assessor:
    """What turns a hook call into cards, built once per process (the worker's, and its large lane's):
    the policy's evaluator and prefetch templates, and the cap on a call's entries."""

    evaluator: Evaluator
    templates: Mapping[str, str]
    max_entries: int

    @classmethod
    def of(cls, policy: Policy, max_entries: int) -> _Assessor:
        evaluator = evaluator_for(policy)
        return cls(evaluator, prefetch_templates(policy.observation_codes()), max_entries)

    def hook(self, body: bytes, service: Service) -> HookRequest:
        """The request's body as a hook call for ``service``; 400 naming each bad field."""
        try:
            return parse_request(_decoded(body), service)
        except InputError as error:
            raise _fail(400, "invalid hook request", problems=list(error.problems)) from None

    def prefetched(self, hook: HookRequest) -> Prefetched:
        """What the prefetch brought, within ``max_entries`` (413); _Incomplete or 412 when the rest
        is needed and no fhirServer with fhirAuthorization was given to read it."""
        prefetched = prefetch_entries(hook.prefetch, self.templates)
        if len(prefetched.entries) + self.drafts(hook) > self.max_entries:
            raise _fail(413, f"the request's Bundles hold more than {self.max_entries:,} entries (limit max_entries)")
        readable = bool(hook.fhir_server and hook.access_token)
        if prefetched.following and not readable:
            raise _Incomplete(f"the prefetched {', '.join(sorted(prefetched.following))} hold only the first page of a"
                              " longer search, and no fhirServer with fhirAuthorization was given to read the rest:"
                              " drugs, diagnoses or progressions on the other pages could change every verdict")
        if prefetched.missing and not readable:
            raise _fail(412, "prefetch data missing and no fhirServer with fhirAuthorization given",
                        missing=prefetched.missing)
        return prefetched

    @staticmethod
    def drafts(hook: HookRequest) -> int:
        return len((hook.draft_orders or {}).get("entry") or ())

    def evaluate(self, bundle: dict[str, Any], patient_id: str, candidates: list[str] | None) -> Assessment:
        """The one call into the evaluation: the Bundle read through the policy's catalog, then assessed."""
        return self.evaluator.evaluate(self.evaluator.read(bundle, patient_id=patient_id, candidates=candidates))

    def cards(self, hook: HookRequest, bundle: dict[str, Any], language: str = ENGLISH) -> list[cards.Card]:
        """The cards for the call, its record read in full into ``bundle``."""
        try:
            if hook.draft_orders is None:
                return cards.patient_view_cards(self.evaluate(bundle, hook.patient_id, None), hook.hook_instance,
                                                language)
            orders, notes = ordered_drugs(hook, self.evaluator.catalog)
            if not orders:
                return []
            names = [o.name for o in orders] + [a.name for a in self.evaluator.catalog.approved_tcrts()]
            assessment = self.evaluate(bundle, hook.patient_id, list(dict.fromkeys(names)))
            return cards.order_cards(assessment, orders, self.evaluator.catalog, hook.hook_instance, language, notes)
        except LimitExceeded as error:
            raise _limit_failure(error) from None
        except InputError as error:
            return [cards.problems_card(error.problems, hook.hook_instance)]


@attrs.frozen
class _Answer:
    """What the large lane's process answers: the cards (and the cut that made them, if any), an
    HTTP refusal, or neither when the call is to be assessed on the lane's thread (its record must
    first be read from the FHIR server, or the process ended)."""

    issued: list[cards.Card] | None = None
    cut: str | None = None
    refusal: tuple[int, str, Mapping[str, str] | None] | None = None


_LARGE_LANE: list[_Assessor] = []  # in the large lane's process: its assessor


def _start_large_lane(policy: Policy, max_entries: int, worker: int) -> None:
    """The large lane's process starts: it ends with its worker, and builds its own assessor."""
    die_with(worker)
    _LARGE_LANE.append(_Assessor.of(policy, max_entries))


def _large_call(body: bytes, service_id: str, language: str) -> _Answer:
    """In the large lane's process: a hook call whose prefetch holds its whole record, to its cards."""
    (assessor,) = _LARGE_LANE
    try:
        hook = assessor.hook(body, SERVICES[service_id])
        try:
            prefetched = assessor.prefetched(hook)
        except Cut as cut:
            return _Answer(_cut_cards(cut, hook), cut=str(cut))
        if prefetched.missing or prefetched.following:
            return _Answer()
        return _Answer(assessor.cards(hook, merged_bundle(prefetched.entries), language))
    except HTTPException as error:  # not picklable as it is: its detail would be lost
        return _Answer(refusal=(error.status_code, error.detail, error.headers))


@attrs.define
class _Process:
    """The large lane's process, spawned on the first large call and again after it ends."""

    policy: Policy
    max_entries: int
    pool: concurrent.futures.ProcessPoolExecutor | None = None

    async def answer(self, body: bytes, service: Service, language: str) -> _Answer:
        """The process's answer; when the process has ended (or cannot start), the error is logged
        and the answer is empty, so that the call is assessed on the lane's thread."""
        if self.pool is None:
            self.pool = concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_large_lane,
                initargs=(self.policy, self.max_entries, os.getpid()))
        pool = self.pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _large_call, body, service.id, language)
        except BrokenProcessPool:
            log.error("the large-body lane's process ended: this call is assessed on the lane's thread,"
                      " and the process starts again on the next large call")
            if self.pool is pool:  # not one a later call has started since
                self.close()
            return _Answer()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


@attrs.define
class _Lane:
    """A lane of evaluations: its thread (and for large bodies its process), and how many calls it
    has admitted (counted on the event loop)."""

    limit: int
    name: str
    process: _Process | None = None
    thread: concurrent.futures.ThreadPoolExecutor | None = None
    admitted: int = 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[concurrent.futures.ThreadPoolExecutor]:
        """The lane's thread for one call; 503 with Retry-After when the lane is full."""
        if self.admitted >= self.limit:
            log.warning("%s evaluations: %d admitted, the limit; call refused with 503", self.name, self.admitted)
            raise HTTPException(503, detail=json.dumps({"error": "the service is busy; try again shortly"}),
                                headers={"Retry-After": "2"})
        assert self.thread is not None
        self.admitted += 1
        try:
            yield self.thread
        finally:
            self.admitted -= 1


def create_app(settings: Settings, http_client: httpx.AsyncClient | None = None,
               resolver: Resolver | None = None) -> Starlette:
    """The service. ``http_client`` replaces the FHIR clients (tests); ``resolver`` resolves FHIR
    server names (tests; default: the system's)."""
    trust = settings.checked_trust()
    store = open_store(settings.database)
    try:
        keys = KeyRing({iss: issuer.jwks for iss, issuer in trust.issuers.items()} if settings.authenticate else {})
    except KeySetError as error:
        raise InputError([f"JWK Set: {error}"]) from None
    verifier = Verifier(trust, keys, max_lifetime=settings.max_token_lifetime)
    policy = load_policy(settings.policy)
    assessor = _Assessor.of(policy, settings.max_entries)
    templates = assessor.templates
    state: dict[str, Any] = {}
    ordinary = _Lane(settings.max_evaluations, "ordinary")
    large = _Lane(settings.max_large_evaluations, "large", _Process(policy, settings.max_entries))
    if not settings.authenticate:
        log.warning("AUTHENTICATION IS OFF: any caller is accepted without a JWT. "
                    "Development only; never expose this service to patient data.")

    async def authenticate(request: Request) -> Issuer | None:
        """The caller's issuer (None when authentication is off); 401 with the reason logged."""
        if not settings.authenticate:
            return None
        try:
            token = await verifier.verify(request.headers.get("authorization"), request.url.path)
            if not await run_in_threadpool(store.first_use_of_token, token.issuer.iss, token.jti, token.exp):
                raise AuthError("token replayed (its jti was used before)")
        except AuthError as error:
            log.warning("%s %s: authentication failed: %s", request.method, logged_path(request.url.path), error)
            raise _fail(401, f"authentication failed: {error}") from None
        return token.issuer

    def service_of(request: Request) -> Service:
        service = SERVICES.get(request.path_params["service_id"])
        if service is None:
            raise _fail(404, "no such CDS service")
        return service

    async def discovery(request: Request) -> Response:
        await authenticate(request)
        return _AsciiJSON({"services": [s.to_dict(templates) for s in SERVICES.values()]})

    def fhir_base(issuer: Issuer | None, server: str) -> tuple[str, httpx.AsyncClient]:
        """The trusted base the request's fhirServer names, and the client for its issuer; 412 otherwise
        (checked before any connection is made)."""
        candidates = [issuer] if issuer is not None else list(trust.issuers.values())
        for allowed in candidates:
            base = allowed.fhir_base(server)
            if base is not None:
                return base, http_client or state["clients"][allowed.iss]
        log.warning("fhirServer refused: not a FHIR server the trust file names for this issuer")
        raise _fail(412, "fhirServer is not a FHIR server the trust file names for this EHR")

    async def bundle_of(hook: HookRequest, issuer: Issuer | None) -> dict[str, Any]:
        prefetched = assessor.prefetched(hook)
        entries, missing, following = prefetched.entries, prefetched.missing, prefetched.following
        if missing or following:
            assert hook.fhir_server is not None and hook.access_token is not None
            base, client = fhir_base(issuer, hook.fhir_server)
            try:
                entries += await fetch(client, base, hook.access_token, hook.patient_id, missing, settings.limits,
                                       templates, following)
            except FhirUnavailable as error:
                raise _fail(412, f"cannot read the FHIR server: {error}") from None
            if len(entries) + assessor.drafts(hook) > settings.max_entries:
                raise Cut(f"the record holds more than {settings.max_entries:,} entries, the most one call assesses")
        return merged_bundle(entries)

    def record(issuer: Issuer | None, service: Service, issued: list[cards.Card]) -> list[cards.Card]:
        """Record the cards issued (on the evaluation's thread: one hand-over fewer per call)."""
        store.add_cards(issuer.iss if issuer else "", service.id, {c.uuid: tuple(s.uuid for s in c.suggestions)
                                                                     for c in issued})
        return issued

    async def read(request: Request, parse: Callable[[Any, Service], T], what: str) -> tuple[T, Service, Issuer | None]:
        """The authenticated request's body for its service, parsed, and the caller's issuer;
        400 naming each bad field."""
        issuer = await authenticate(request)
        service = service_of(request)
        try:
            parsed = parse(await _json_body(request, settings.max_body_bytes), service)
        except InputError as error:
            raise _fail(400, f"invalid {what}", problems=list(error.problems)) from None
        return parsed, service, issuer

    async def call(request: Request) -> Response:
        issuer = await authenticate(request)
        service = service_of(request)
        body = await _raw_body(request, settings.max_body_bytes)
        language = negotiate(request.headers.get("accept-language"))  # the cards' language, else English
        lane = large if len(body) > settings.large_body_bytes else ordinary
        with lane.admit() as thread:
            if lane.process is not None:
                answer = await lane.process.answer(body, service, language)
                if answer.refusal is not None:
                    status, detail, headers = answer.refusal
                    raise HTTPException(status, detail=detail, headers=headers)
                if answer.cut is not None:
                    log.warning("%s: record incomplete: %s", logged_path(request.url.path), answer.cut)
                if answer.issued is not None:
                    return _AsciiJSON(cards.response(await run_in_threadpool(record, issuer, service, answer.issued)))
            issued = await on_thread(thread, request, body, service, issuer, language)
        return _AsciiJSON(cards.response(issued))

    async def on_thread(thread: concurrent.futures.ThreadPoolExecutor, request: Request, body: bytes,
                        service: Service, issuer: Issuer | None, language: str) -> list[cards.Card]:
        """The call on its lane's thread, its record read from the FHIR server where the prefetch lacks it."""
        loop = asyncio.get_running_loop()
        hook = await loop.run_in_executor(thread, assessor.hook, body, service)
        del body
        try:
            bundle = await bundle_of(hook, issuer)
        except Cut as cut:
            log.warning("%s: record incomplete: %s", logged_path(request.url.path), cut)
            return await run_in_threadpool(record, issuer, service, _cut_cards(cut, hook))
        return await loop.run_in_executor(thread, lambda: record(issuer, service, assessor.cards(hook, bundle, language)))

    async def feedback(request: Request) -> Response:
        items, service, caller = await read(request, parse_feedback, "feedback")
        issuer = caller.iss if caller else ""
        issued = await run_in_threadpool(store.issued_cards, issuer, service.id, [item.card for item in items])
        problems = []
        for i, item in enumerate(items):
            if item.card not in issued:
                problems.append(f"feedback[{i}].card: not a card this service issued to this EHR")
            elif unknown := [s for s in item.accepted_suggestions if s not in issued[item.card]]:
                problems.append(f"feedback[{i}].acceptedSuggestions: {unknown[0]!r} is not a suggestion of that card")
        if problems:
            raise _fail(400, "invalid feedback", problems=problems)
        new = await run_in_threadpool(store.add_feedback, issuer, items)
        log.info("%s: %d feedback entries, %d new", logged_path(request.url.path), len(items), new)
        return _AsciiJSON({"stored": len(items)})

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        body = json.loads(error.detail) if error.detail.startswith("{") else {"error": error.detail}
        return _AsciiJSON(body, status_code=error.status_code, headers=error.headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for lane in (ordinary, large):
            lane.thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"mmsequence-{lane.name}")
        state["clients"] = {iss: guarded_client(issuer.allowed_networks(), *([resolver] if resolver else []))
                            for iss, issuer in trust.issuers.items()}
        await keys.start()
        try:
            yield
        finally:
            await keys.stop()
            for client in state.pop("clients").values():
                await client.aclose()
            for lane in (ordinary, large):
                assert lane.thread is not None
                lane.thread.shutdown(wait=False, cancel_futures=True)
                if lane.process is not None:
                    lane.process.close()

    middleware = [Middleware(_Guard)]
    if settings.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                                     allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
                                     max_age=600))
    app = Starlette(
        routes=[
            Route("/cds-services", discovery, methods=["GET"]),
            Route("/cds-services/", discovery, methods=["GET"]),
            Route("/cds-services/{service_id}", call, methods=["POST"]),
            Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
        middleware=middleware,
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.store = store
    return app

