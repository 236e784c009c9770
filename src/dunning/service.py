"""Letters on demand over HTTP (``dunning serve``): one record in, its letter out, for CRMs
and collection agents.

Takes a JSON body (one record in the public record format, plus ``as_of`` and
``override_reason``) and an API key (:mod:`dunning.keys`); gives the letter (PDF or its
manifest entry), the plan without rendering, or an RFC 9457 problem. Every letter takes the
batch's path (:func:`dunning.job.make_letter`, in warm worker processes of
:class:`~dunning.workers.WorkerPool`), is written under ``output/service/<as-of>/`` and is
recorded in the ledger with the channel ``service``, the key's name and the request id; the
minimum-interval rule counts the letters of every channel.

:class:`Renderers` bridges the worker pool (a blocking API) to asyncio: one thread owns the
pool, requests reach it through a bounded queue, answers come back as futures, so the event
loop never waits for a letter. :class:`LetterService` is the library side of every route (a
Python caller can use it without HTTP); :func:`create_app` the Starlette application.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import queue
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from .errors import DunningError, InputError, OutputError
from .hashing import record_hash
from .job import Task, make_letter
from .keys import ApiKey, Keys
from .letter import Dunning
from .output import MAX_LETTER_BYTES, ManifestEntry, read_regular, write_bytes_atomic
from .plan import letter_reference
from .records import Rejection, validate_row
from .settings import RECYCLE_AFTER, check_as_of

log = logging.getLogger("dunning.service")

#: The largest request body accepted (one record is a few hundred bytes).
MAX_BODY = 64 * 1024
#: Requests waiting for a renderer, per renderer, before the service answers 429.
QUEUE_PER_WORKER = 8


class ServiceError(DunningError):
    """A request the service answers with an HTTP problem: ``status``, a short ``title``,
    and for 422 the field problems (``errors``)."""

    def __init__(self, status: int, title: str, detail: str, *,
                 errors: list[dict[str, str]] | None = None, code: str | None = None) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.code = code
        #: For ``recent_notice``: the as-of date and reference of the letter sent before.
        self.earlier: dict[str, str] | None = None
        super().__init__(f"{status} {title}: {detail}")

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem details."""
        body: dict[str, Any] = {"type": f"https://dunning.invalid/problems/{self.status}",
                                "title": self.title, "status": self.status,
                                "detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        if self.code:
            body["code"] = self.code
        if self.earlier:
            body["earlier"] = self.earlier
        return body


# --------------------------------------------------------------------------- renderers


@dataclass(frozen=True, slots=True)
class ServiceTask:
    """What a renderer process is given: the batch's task, for this request's as-of date."""

    task: Task
    as_of: date


@dataclass
class ServiceJob:
    """What each renderer process runs: :func:`~dunning.job.make_letter`, answering with the
    manifest entry and the letter's bytes (the front end writes and records them)."""

    dunning: Dunning

    def warm(self) -> None:
        self.dunning.warm()

    def __call__(self, request: ServiceTask, /) -> tuple[ManifestEntry, bytes | None]:
        outcome = make_letter(request.task, self.dunning, request.as_of)
        return outcome.entry, outcome.data


@dataclass(frozen=True, slots=True)
class _Failed:
    """A renderer process died or was stopped while rendering a letter."""

    reason: str
    timed_out: bool


class Renderers:
    """Warm renderer processes behind a bounded queue; :meth:`render` awaits a letter."""

    def __init__(self, dunning: Dunning, *, workers: int, letter_timeout: float | None,
                 queue_size: int | None = None) -> None:
        from .workers import WorkerPool

        self.workers = workers
        self._pool = WorkerPool(ServiceJob(dunning), workers=workers,
                                recycle_after=RECYCLE_AFTER, letter_timeout=letter_timeout,
                                failed=lambda _task, reason, timed_out=False:
                                _Failed(reason, timed_out))
        self._inbox: queue.Queue[tuple[int, ServiceTask, asyncio.Future[Any]]] = queue.Queue(
            maxsize=queue_size or QUEUE_PER_WORKER * workers)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dunning-renderers",
                                        daemon=True)
        self._seq = 0
        self.ready = False
        self.restarts = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def depth(self) -> int:
        """Requests waiting for a renderer, and being rendered."""
        return self._inbox.qsize() + len(self._waiting)

    async def render(self, request: ServiceTask) -> tuple[ManifestEntry, bytes | None]:
        """The letter for ``request``; ServiceError 429 when every renderer is busy and the
        queue is full, 504 when the letter took longer than its time limit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._seq += 1
        try:
            self._inbox.put_nowait((self._seq, request, future))
        except queue.Full:
            raise ServiceError(429, "Too many requests", "every renderer is busy and the "
                               "queue is full; retry after a moment") from None
        answer = await future
        if isinstance(answer, _Failed):
            if answer.timed_out:
                raise ServiceError(504, "Letter timed out", answer.reason)
            raise ServiceError(500, "Renderer failed", answer.reason)
        return answer  # type: ignore[no-any-return]

    def _run(self) -> None:
        with self._pool as pool:
            while not self._stop.is_set():
                while True:
                    try:
                        seq, request, future = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    self._waiting[seq] = future
                    pool.submit(seq, request)
                for seq, answer in pool.collect(timeout=0.05):
                    future = self._waiting.pop(seq)
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(_settle, future, answer)
                self.ready = pool.ready > 0
                self.restarts = pool.deaths


def _settle(future: asyncio.Future[Any], answer: Any) -> None:
    if not future.done():
        future.set_result(answer)


# --------------------------------------------------------------------------- the service


@dataclass
class LetterService:
    """Everything the routes do, as a library: validate, check the key, plan or render,
    write, record."""

    dunning: Dunning
    keys: Keys
    ledger_url: str | None = None
    letters_dir: Path | None = None
    renderers: Renderers | None = None
    #: Stopping (after SIGTERM): /readyz says 503 while the letters in flight finish.
    draining: bool = False
    #: Letter requests being answered now.
    in_flight: int = 0
    _book: Any = field(default=None, repr=False)
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        from .ledger import Ledger

        # one spelling of the folder for the ledger, as the batch does
        self.letters_dir = (Path(self.letters_dir).resolve() if self.letters_dir
                            else self.dunning.settings.output_dir / "service")
        self._book = (Ledger(self.ledger_url) if self.ledger_url
                      else Ledger.for_output(self.dunning.settings.ledger_folder()))

    def close(self) -> None:
        self._book.close()

    # ----------------------------------------------------------------- requests

    def authenticate(self, header: str | None) -> ApiKey:
        scheme, _, key = (header or "").partition(" ")
        found = self.keys.find(key.strip()) if scheme.lower() == "bearer" and key else None
        if found is None:
            raise ServiceError(401, "Unauthorized", "send a valid API key as "
                               "'Authorization: Bearer KEY'")
        return found

    def parse(self, body: bytes, key: ApiKey) -> tuple[Any, date, str | None]:
        """The record (or its Rejection), the as-of date and the override reason of a
        request body; ServiceError 422 for a body that is not one JSON object, 403 for a
        brand outside the key's."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ServiceError(422, "Not a record", "the body must be one JSON object of "
                               "record fields (UTF-8)") from None
        if not isinstance(data, dict):
            raise ServiceError(422, "Not a record", "the body must be one JSON object")
        as_of_text = data.pop("as_of", None)
        reason = data.pop("override_reason", None)
        try:
            as_of = (check_as_of(date.fromisoformat(as_of_text)) if isinstance(as_of_text, str)
                     else self.dunning.settings.today())
        except (ValueError, InputError):
            raise ServiceError(422, "Invalid as_of", "as_of must be an ISO date (YYYY-MM-DD) "
                               "from 2000-01-01 to 2999-12-31",
                               errors=[{"field": "as_of", "problem": "not a date letters "
                                        "can speak from"}]) from None
        if reason is not None and (not isinstance(reason, str) or not reason.strip()):
            raise ServiceError(422, "Invalid override_reason", "override_reason must be text")
        try:
            row: Any = validate_row(data, source="request", line=1,
                                    rules=self.dunning.record_rules())
        except DunningError as exc:
            row = Rejection(exc)  # type: ignore[arg-type]
        if isinstance(row, Rejection):
            raise ServiceError(422, "Invalid record", "the record has problems; each is "
                               "listed with what would be accepted", errors=[
                                   {"field": p.field or "", "problem": p.problem,
                                    "accepted": p.accepted} for p in row.error.problems])
        if not key.may_use(row.brand):
            raise ServiceError(403, "Forbidden", f"the key {key.name!r} may not ask for "
                               f"letters of the brand {row.brand!r}")
        return row, as_of, reason.strip() if reason else None

    def plan(self, body: bytes, key: ApiKey) -> dict[str, Any]:
        """``POST /v1/plans``: what the letter would say, without rendering it."""
        record, as_of, reason = self.parse(body, key)
        last = None if reason else self._book.last_sent_before(record.account_id, as_of)
        plan = self.dunning.plan(record, as_of, last_notice=last)
        return _plan_json(plan)

    async def letter(self, body: bytes, key: ApiKey, *, request_id: str,
                     idempotency_key: str | None = None) -> tuple[dict[str, Any], bytes]:
        """``POST /v1/letters``: make, write and record the letter; its entry and bytes.
        With ``idempotency_key``, a repeat of the same body gets the letter made the first
        time (nothing new recorded); the same key with another body is a 422."""
        if idempotency_key is None:
            return await self._letter(body, key, request_id=request_id)
        if not 1 <= len(idempotency_key) <= 255 or not idempotency_key.isprintable():
            raise ServiceError(422, "Invalid Idempotency-Key", "1 to 255 printable characters")
        lock = self._locks.setdefault((key.name, idempotency_key), asyncio.Lock())
        async with lock:
            digest = hashlib.sha256(body).hexdigest()
            earlier = self._book.request(key.name, idempotency_key)
            if earlier is not None:
                if earlier[0] != digest:
                    raise ServiceError(422, "Idempotency-Key reused", "this Idempotency-Key "
                                       "was sent before with another body")
                _, data = self.letter_file(earlier[1], key)
                return json.loads(earlier[2]), data
            entry, data = await self._letter(body, key, request_id=request_id)
            self._book.record_request(key.name, idempotency_key, body_sha256=digest,
                                      letter_id=int(entry["id"]), response=json.dumps(entry))
            return entry, data

    async def _letter(self, body: bytes, key: ApiKey, *,
                      request_id: str) -> tuple[dict[str, Any], bytes]:
        record, as_of, reason = self.parse(body, key)
        last = None if reason else self._book.last_sent_before(record.account_id, as_of)
        if self.renderers is None:
            raise ServiceError(503, "Not ready", "no renderers")
        entry, data = await self.renderers.render(
            ServiceTask(Task(record=record, last_notice=last), as_of))
        if entry.outcome == "suppressed":
            code = str(entry.reason).split(":")[0]
            error = ServiceError(409, "No letter", str(entry.reason), code=code)
            if code == "recent_notice" and last is not None:
                error.earlier = {"as_of": last.isoformat(),
                                 "reference": letter_reference(record.contract_no, last)}
            raise error
        if entry.outcome != "rendered" or data is None:
            raise ServiceError(500, "Letter failed", "the letter could not be made; the "
                               f"service's log names account {record.account_id}")
        folder = Path(str(self.letters_dir)) / as_of.isoformat()
        version = self._book.versions(record.account_id, as_of, folder) + 1
        rel = self.dunning.letter_file(record, str(entry.stage), version)
        try:
            write_bytes_atomic(folder / rel, data)
        except OutputError as exc:  # a full disk, a folder it may not write, a device there
            log.error("cannot write the letter of %s: %s", record.account_id, exc)
            raise ServiceError(500, "Letter not written", "the letter was made but could not "
                               "be written; the service's log names account "
                               f"{record.account_id} and the reason") from None
        letter_id = self._book.record_entry(
            entry, run_id=f"service-{request_id}", as_of=as_of,
            template_version=self.dunning.template_version(), record_hash=record_hash(record),
            out_dir=folder, path=rel.as_posix(), channel="service", requested_by=key.name,
            override_reason=reason)
        result = asdict(replace(entry, path=rel.as_posix(), source="request", resumed=None,
                                postal_code=None))
        result.update({"id": letter_id, "version": version,
                       "reference": letter_reference(record.contract_no, as_of),
                       "url": f"/v1/letters/{letter_id}"})
        return result, data

    def letter_file(self, letter_id: int, key: ApiKey) -> tuple[Any, bytes]:
        """``GET /v1/letters/{id}``: a letter made earlier (404 when unknown or of a brand
        outside the key's)."""
        row = self._book.letter(letter_id)
        if row is None or not key.may_use(row.brand):
            raise ServiceError(404, "Not found", f"no letter {letter_id} for this key")
        if row.file is None:
            raise ServiceError(404, "Not found", f"letter {letter_id} was written to standard "
                               "output; no copy was kept")
        try:
            data = read_regular(row.file, limit=MAX_LETTER_BYTES)
        except OSError:
            raise ServiceError(404, "Not found", f"letter {letter_id}'s file is gone or is no "
                               "longer a letter file") from None
        return row, data

    def history(self, account_id: str, key: ApiKey) -> list[dict[str, Any]]:
        """``GET /v1/accounts/{id}/letters``: the account's letters of the key's brands."""
        return [{"id": r.id, "as_of": r.as_of.isoformat(), "channel": r.channel,
                 "stage": r.stage, "status": r.status, "sha256": r.sha256, "pages": r.pages,
                 "total": r.total, "currency": r.currency}
                for r in self._book.history(account_id) if key.may_use(r.brand)]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a named tuple: by name
        return _plain(value._asdict())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return _plain(asdict(value))
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)  # Decimal, date, enum: their exact text


def _plan_json(plan: Any) -> dict[str, Any]:
    return {"account_id": plan.record.account_id, "as_of": plan.as_of.isoformat(),
            "locale": plan.locale, "stage": str(plan.stage) if plan.stage else None,
            "suppression": str(plan.suppression) if plan.suppression else None,
            "reference": plan.reference, "items": _plain(plan.items),
            "options": _plain(plan.options) if plan.options else None}
