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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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


def _route(handler: Handler, service: LetterService) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        request_id = request.headers.get("x-request-id") or secrets.token_hex(8)
        if len(request_id) > 64 or not request_id.replace("-", "").isalnum():
            request_id = secrets.token_hex(8)
        try:
            return await handler(request, service, request_id)
        except ServiceError as error:
            log.info("%s %s → %d (%s)", request.method, request.url.path, error.status,
                     request_id)
            return _problem(error, request_id)
    return endpoint


async def _letters(request: Request, service: LetterService, request_id: str) -> Response:
    key = service.authenticate(request.headers.get("authorization"))
    body = await _body(request)
    entry, data = await service.letter(body, key, request_id=request_id)
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


async def _readyz(request: Request, service: LetterService, request_id: str) -> Response:
    if service.renderers is None or not service.renderers.ready:
        raise ServiceError(503, "Not ready", "the renderers are warming up")
    return JSONResponse({"status": "ready", "renderers": service.renderers.workers})


def create_app(service: LetterService, *, workers: int = 2,
               letter_timeout: float | None = None) -> Starlette:
    """The application; its lifespan starts the renderers and stops them."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        service.renderers = Renderers(service.dunning, workers=workers,
                                      letter_timeout=letter_timeout)
        service.renderers.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            await asyncio.to_thread(service.renderers.stop)
            service.close()

    routes = [
        Route("/v1/letters", _route(_letters, service), methods=["POST"]),
        Route("/v1/plans", _route(_plans, service), methods=["POST"]),
        Route("/v1/letters/{letter_id}", _route(_letter, service), methods=["GET"]),
        Route("/v1/accounts/{account_id}/letters", _route(_history, service),
              methods=["GET"]),
        Route("/healthz", _route(_healthz, service), methods=["GET"]),
        Route("/readyz", _route(_readyz, service), methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(service: LetterService, *, host: str = "127.0.0.1", port: int = 8080,
          workers: int = 2, letter_timeout: float | None = None) -> None:
    """Run the service until SIGINT or SIGTERM (uvicorn drains requests in flight)."""
    import uvicorn

    app: Any = create_app(service, workers=workers, letter_timeout=letter_timeout)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
