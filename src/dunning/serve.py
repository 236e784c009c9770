"""The HTTP side of the letter service: Starlette routes over
:class:`~dunning.service.LetterService`, served by uvicorn (``dunning serve``).

Routes, versioned under ``/v1``: ``POST /v1/letters`` (the letter: ``Accept:
application/pdf`` for the PDF, else its entry as JSON; 201), ``POST /v1/plans`` (the plan
without rendering), ``GET /v1/letters/{id}`` (a letter made earlier),
``GET /v1/accounts/{account_id}/letters`` (its history); ``GET /healthz`` (alive),
``GET /readyz`` (renderers warm; 503 while starting). Errors are RFC 9457 problem details.
Keys never appear in logs: requests are logged by key name and request id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import DunningError
from .service import MAX_BODY, LetterService, Renderers, ServiceError

log = logging.getLogger("dunning.serve")

PROBLEM = "application/problem+json"


def _problem(error: ServiceError, request_id: str) -> Response:
    headers = {"X-Request-Id": request_id}
    if error.status in (429, 503):
        headers["Retry-After"] = "1"
    return JSONResponse(error.problem(), status_code=error.status, media_type=PROBLEM,
                        headers=headers)


async def _body(request: Request) -> bytes:
    """The request body, refused (413) past MAX_BODY without reading on."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise ServiceError(413, "Body too large", f"at most {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ServiceError(413, "Body too large", f"at most {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


Handler = Callable[[Request, LetterService, str], Awaitable[Response]]


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (``GET /metrics``): requests
    by route and status, their duration, letters by outcome, the queue's depth and how often a
    renderer process was replaced. Labels are route templates and codes: never a key, an
    account id or any record value."""

    def __init__(self, service: LetterService) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.core import CounterMetricFamily
        from prometheus_client.registry import Collector

        self.registry = CollectorRegistry()
        self.requests = Counter("dunning_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.duration = Histogram(
            "dunning_request_duration_seconds", "Time to answer a request, by route",
            ["route"], registry=self.registry,
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30, 120))
        self.letters = Counter("dunning_letters", "Letter requests by outcome", ["outcome"],
                               registry=self.registry)
        depth = Gauge("dunning_queue_depth", "Letter requests waiting for or in a renderer",
                      registry=self.registry)
        depth.set_function(lambda: service.renderers.depth if service.renderers else 0)

        class Restarts(Collector):
            def collect(self) -> Any:
                yield CounterMetricFamily(
                    "dunning_renderer_restarts", "Renderer processes that died or were "
                    "stopped (a letter past its time limit) and were replaced",
                    value=service.renderers.restarts if service.renderers else 0)

        self.registry.register(Restarts())

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


def _route(handler: Handler, service: LetterService, metrics: Metrics,
           name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        started = time.monotonic()
        request_id = request.headers.get("x-request-id") or secrets.token_hex(8)
        if len(request_id) > 64 or not request_id.replace("-", "").isalnum():
            request_id = secrets.token_hex(8)
        try:
            response = await handler(request, service, request_id)
        except ServiceError as error:
            log.log(logging.ERROR if error.status >= 500 else logging.INFO, "%s %s → %d (%s)",
                    request.method, name, error.status, request_id)
            response = _problem(error, request_id)
        except Exception as exc:  # a problem document, not a bare 500
            # dunning's errors say what failed without personal data (a ledger that cannot
            # be read); of anything else, only its type (its text may quote a record)
            what = (f"{type(exc).__name__}: {exc}" if isinstance(exc, DunningError)
                    else type(exc).__name__)
            log.error("%s %s → 500 (%s): %s", request.method, name, request_id, what)
            log.debug("the error", exc_info=True)
            response = _problem(ServiceError(500, "Internal error", "the service failed on "
                                             f"this request; its log has request {request_id}"),
                                request_id)
        if name == "/v1/letters":
            metrics.letters.labels(_OUTCOMES.get(response.status_code, "failed")).inc()
        metrics.requests.labels(name, str(response.status_code)).inc()
        metrics.duration.labels(name).observe(time.monotonic() - started)
        return response
    return endpoint


#: A letter request's outcome by its status.
_OUTCOMES = {201: "rendered", 409: "suppressed", 422: "rejected", 400: "rejected",
             401: "refused", 403: "refused", 413: "refused", 429: "busy"}


async def _letters(request: Request, service: LetterService, request_id: str) -> Response:
    key = service.authenticate(request.headers.get("authorization"))
    body = await _body(request)
    service.in_flight += 1
    try:
        entry, data = await service.letter(
            body, key, request_id=request_id,
            idempotency_key=request.headers.get("idempotency-key"))
    finally:
        service.in_flight -= 1
    log.info("letter %s for %s by key %s (%s)", entry["id"], entry["account_id"], key.name,
             request_id)
    headers = {"X-Request-Id": request_id, "Location": entry["url"],
               "X-Letter-Reference": entry["reference"], "X-Letter-Stage": str(entry["stage"]),
               "X-Letter-Version": str(entry["version"]), "X-Letter-Pages": str(entry["pages"]),
               "X-Letter-Sha256": str(entry["sha256"])}
    if "application/pdf" in request.headers.get("accept", ""):
        return Response(data, status_code=201, media_type="application/pdf", headers=headers)
    return JSONResponse(entry, status_code=201, headers=headers)


async def _plans(request: Request, service: LetterService, request_id: str) -> Response:
    key = service.authenticate(request.headers.get("authorization"))
    body = await _body(request)
    plan = await asyncio.to_thread(service.plan, body, key)
    return JSONResponse(plan, headers={"X-Request-Id": request_id})


async def _letter(request: Request, service: LetterService, request_id: str) -> Response:
    key = service.authenticate(request.headers.get("authorization"))
    text = request.path_params["letter_id"]
    if not text.isdigit() or len(text) > 18:
        raise ServiceError(404, "Not found", "letter ids are whole numbers")
    row, data = await asyncio.to_thread(service.letter_file, int(text), key)
    return Response(data, media_type="application/pdf",
                    headers={"X-Request-Id": request_id, "X-Letter-Sha256": row.sha256})


async def _history(request: Request, service: LetterService, request_id: str) -> Response:
    key = service.authenticate(request.headers.get("authorization"))
    account_id = request.path_params["account_id"]
    rows = await asyncio.to_thread(service.history, account_id, key)
    return JSONResponse({"account_id": account_id, "letters": rows},
                        headers={"X-Request-Id": request_id})


async def _healthz(request: Request, service: LetterService, request_id: str) -> Response:
    return JSONResponse({"status": "ok"})


async def _openapi(request: Request, service: LetterService, request_id: str) -> Response:
    from .openapi import document

    return JSONResponse(document())


async def _readyz(request: Request, service: LetterService, request_id: str) -> Response:
    if service.draining:
        raise ServiceError(503, "Draining", "the service is stopping")
    if service.renderers is None or not service.renderers.ready:
        raise ServiceError(503, "Not ready", "the renderers are warming up")
    return JSONResponse({"status": "ready", "renderers": service.renderers.workers})


def create_app(service: LetterService, *, workers: int = 2,
               letter_timeout: float | None = None, queue_size: int | None = None) -> Starlette:
    """The application; its lifespan starts the renderers and stops them."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        service.renderers = Renderers(service.dunning, workers=workers,
                                      letter_timeout=letter_timeout, queue_size=queue_size)
        service.renderers.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            await asyncio.to_thread(service.renderers.stop)
            service.close()

    metrics = Metrics(service)

    async def _metrics(request: Request, service: LetterService, request_id: str) -> Response:
        return Response(metrics.text(), media_type="text/plain; version=0.0.4")

    handlers: list[tuple[str, Handler, str]] = [
        ("/v1/letters", _letters, "POST"), ("/v1/plans", _plans, "POST"),
        ("/v1/letters/{letter_id}", _letter, "GET"),
        ("/v1/accounts/{account_id}/letters", _history, "GET"),
        ("/healthz", _healthz, "GET"), ("/readyz", _readyz, "GET"),
        ("/metrics", _metrics, "GET"), ("/openapi.json", _openapi, "GET"),
    ]
    routes = [Route(path, _route(handler, service, metrics, path), methods=[method])
              for path, handler, method in handlers]
    return Starlette(routes=routes, lifespan=lifespan)


#: Seconds a draining service keeps answering (``/readyz`` 503) after the last request in
#: flight, so that a load balancer sees it leave before the port closes.
DRAIN_GRACE = 1.0
#: Longest a drain waits for the letters in flight.
DRAIN_LIMIT = 120.0


def serve(service: LetterService, *, host: str = "127.0.0.1", port: int = 8080,
          workers: int = 2, letter_timeout: float | None = None,
          queue_size: int | None = None) -> None:
    """Run the service until SIGINT or SIGTERM. The first signal drains: ``/readyz`` says
    503, the letters in flight finish (new ones are still taken while they do), then the
    server stops and the process exits 0; a second signal stops at once."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            """SIGINT and SIGTERM go to handle_exit (uvicorn's own would raise them again
            once the server stopped, and the process would end by the signal, not 0)."""
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit)
                        for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig: int, frame: Any) -> None:
            if service.draining:
                super().handle_exit(sig, frame)
                return
            service.draining = True
            log.info("draining: %d letter(s) in flight", service.in_flight)
            threading.Thread(target=self._drain, args=(sig, frame), daemon=True).start()

        def _drain(self, sig: int, frame: Any) -> None:
            deadline = time.monotonic() + DRAIN_LIMIT
            while service.in_flight and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(DRAIN_GRACE)
            super().handle_exit(sig, frame)

    app: Any = create_app(service, workers=workers, letter_timeout=letter_timeout,
                          queue_size=queue_size)
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="info",
                                    access_log=False))
    server.run()
