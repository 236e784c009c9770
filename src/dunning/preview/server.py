"""The preview's web server: Starlette on 127.0.0.1, one page, a small JSON API, page images,
and server-sent events that tell the page to refresh when a watched file changes.

::

    GET /                          the page (static/index.html)
    GET /static/...                its script, stylesheet and icon (also /favicon.ico)
    GET /api/options?source=       templates, stages, brands, locales, sample records
    GET /api/letter?template=&stage=&brand=&locale=&sample=&source=
                                   render (or reuse) the letter; JSON with page URLs,
                                   findings, metadata, or the problem to fix
    GET /letter/<id>/page-<n>.png  a page image;  GET /letter/<id>/draft.pdf  the DRAFT PDF
    GET /events                    server-sent events: ``change`` after files were saved

Only requests for 127.0.0.1 or localhost are answered (a web page elsewhere cannot reach the
server through DNS rebinding), and the server reads no file it was not asked to by name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..settings import Settings
from .workspace import Selection, Workspace

log = logging.getLogger(__name__)

STATIC = files("dunning.preview") / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html",
                ".svg": "image/svg+xml"}
KEEPALIVE = 15.0  # seconds between comments on an idle event stream


class Hub:
    """Fans change events out to every open event stream."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self.queues.discard(queue)

    def publish(self, event: dict[str, Any] | None) -> None:
        for queue in list(self.queues):
            queue.put_nowait(event)


class Watcher:
    """Watches the project's folders with watchfiles (and polls record files named in the
    page that lie outside them); on a change reloads the workspace and publishes a
    ``change`` event."""

    POLL = 0.4  # seconds between looks at named record files outside the project

    def __init__(self, workspace: Workspace, hub: Hub, debounce_ms: int = 150) -> None:
        self.workspace = workspace
        self.hub = hub
        self.debounce_ms = debounce_ms
        self._stop = _Flag()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._watch()), asyncio.create_task(self._poll())]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _watch(self) -> None:
        from watchfiles import awatch

        folders = [p.resolve() for p in self.workspace.watched_paths()]
        while not self._stop.is_set():
            try:
                async for changes in awatch(*folders, stop_event=self._stop,
                                            debounce=self.debounce_ms, step=30):
                    await self._changed(sorted({p for _, p in changes}))
            except Exception:  # a watcher problem must not stop the server
                log.exception("preview: file watching failed; retrying")
                await asyncio.sleep(1)

    async def _poll(self) -> None:
        folders = [p.resolve() for p in self.workspace.watched_paths()]
        seen: dict[Path, float] = {}
        while not self._stop.is_set():
            await asyncio.sleep(self.POLL)
            for path in list(self.workspace.extra_sources):
                if any(path.is_relative_to(f) for f in folders):
                    continue  # watchfiles sees it
                try:
                    stamp = path.stat().st_mtime
                except OSError:
                    stamp = -1.0
                if path in seen and seen[path] != stamp:
                    await self._changed([str(path)])
                seen[path] = stamp

    async def _changed(self, paths: list[str]) -> None:
        root = self.workspace.settings.root.resolve()
        shown = []
        for path in paths:
            try:
                shown.append(Path(path).resolve().relative_to(root).as_posix())
            except ValueError:
                shown.append(path)
        generation = await run_in_threadpool(self.workspace.reload)
        log.info("preview: %s changed (generation %d)", ", ".join(shown), generation)
        self.hub.publish({"generation": generation, "files": shown})


class _Flag:
    """A stop flag that watchfiles can poll from its thread (``is_set``) and await."""

    def __init__(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True

    async def wait(self) -> None:
        while not self.is_set():
            await asyncio.sleep(0.05)


def _static(name: str) -> Response:
    resource = STATIC / name
    if "/" in name or not resource.is_file():
        return Response("not found", status_code=404)
    media = STATIC_TYPES.get(Path(name).suffix, "application/octet-stream")
    return Response(resource.read_bytes(), media_type=media,
                    headers={"Cache-Control": "no-cache"})


def create_app(settings: Settings, *, debounce_ms: int = 150) -> Starlette:
    """The preview application for the project ``settings`` describes."""
    workspace = Workspace(settings)
    hub = Hub()
    watcher = Watcher(workspace, hub, debounce_ms=debounce_ms)

    async def index(request: Request) -> Response:
        page = (STATIC / "index.html").read_text("utf-8")
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    async def static(request: Request) -> Response:
        return _static(request.path_params["name"])

    async def favicon(request: Request) -> Response:
        return _static("favicon.svg")

    async def options(request: Request) -> Response:
        source = request.query_params.get("source", "")
        data = await run_in_threadpool(workspace.options, source)
        return JSONResponse(data)

    async def letter(request: Request) -> Response:
        selection = Selection.from_query(request.query_params)
        result = await run_in_threadpool(workspace.render, selection)
        return JSONResponse(result.to_json())

    async def page(request: Request) -> Response:
        result = workspace.result(request.path_params["rid"])
        number = int(request.path_params["n"])
        if result is None or not 1 <= number <= len(result.pages):
            return Response("gone: the files changed since; reload", status_code=404)
        return Response(result.pages[number - 1], media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})

    async def draft_pdf(request: Request) -> Response:
        result = workspace.result(request.path_params["rid"])
        if result is None or not result.pdf:
            return Response("gone: the files changed since; reload", status_code=404)
        return Response(result.pdf, media_type="application/pdf",
                        headers={"Content-Disposition": "inline; filename=draft.pdf"})

    async def events(request: Request) -> Response:
        queue = hub.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                hello = {"generation": workspace.generation}
                yield f"event: hello\ndata: {json.dumps(hello)}\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    if event is None:
                        return
                    yield f"event: change\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
            finally:
                hub.unsubscribe(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watcher.start()
        try:
            yield
        finally:
            hub.publish(None)  # end the open event streams
            await watcher.stop()

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/favicon.ico", favicon),
        Route("/api/options", options),
        Route("/api/letter", letter),
        Route("/letter/{rid}/page-{n:int}.png", page),
        Route("/letter/{rid}/draft.pdf", draft_pdf),
        Route("/events", events),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]),
    ])
    app.state.workspace = workspace
    app.state.hub = hub
    return app


def serve(settings: Settings, *, port: int = 8000,
          announce: Callable[[str], None] | None = None) -> None:
    """Serve the preview on 127.0.0.1:``port`` (0: any free port) until interrupted."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    (announce or _print)(f"dunning preview: {url} (project {settings.root}; Ctrl-C to stop)")
    config = uvicorn.Config(create_app(settings), log_level="warning",
                            timeout_graceful_shutdown=2, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def _print(line: str) -> None:
    print(line, flush=True)  # noqa: T201 - the command's own output
