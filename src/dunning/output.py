"""Files a run writes: atomic writes, safe letter file names, the manifest and the summary,
and CSV files that a spreadsheet opens without running formulas.

Every file goes through a temporary file in the same folder, fsync, then ``os.replace``, so
a reader sees it whole or not at all. Files are created readable by the owner and group only
(0640), folders likewise (0750), each level of a new path.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, Literal

from .errors import OutputError, reason

FILE_MODE = 0o640
DIR_MODE = 0o750

Outcome = Literal["rendered", "suppressed", "rejected", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("rendered", "suppressed", "rejected", "failed")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM\d|LPT\d)(\..*)?", re.I)
MAX_NAME = 80


def safe_name(account_id: str) -> str:
    """A file name stem for ``account_id``: ASCII letters, digits, ``._-`` only, no leading
    dot or dash, no trailing dot, no reserved device name, bounded length. When the id had to
    change, a short hash of the original is appended, so different ids never share a name
    (an unchanged name has no ``~``) and the same id always gets the same one.

    >>> safe_name("MT-000001")
    'MT-000001'
    >>> safe_name("../etc/passwd")
    '_etc_passwd~7fef78f5'
    """
    name = _UNSAFE.sub("_", account_id).lstrip(".").rstrip(".") or "_"
    if _RESERVED.fullmatch(name) or name.startswith("-"):
        name = "_" + name
    if name != account_id or len(name) > MAX_NAME:
        digest = hashlib.sha256(account_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}~{digest}"
    return name


def ensure_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents, each with DIR_MODE (``mkdir -p`` would give
    the parents the default mode, usually 0755)."""
    try:
        missing = []
        here = path
        while not here.exists() and here != here.parent:
            missing.append(here)
            here = here.parent
        for folder in reversed(missing):
            folder.mkdir(mode=DIR_MODE, exist_ok=True)
        if not path.is_dir():
            raise NotADirectoryError(20, "not a folder")
    except OSError as exc:
        raise OutputError(f"cannot create folder {path}: {reason(exc)}") from exc
    return path


def write_error(path: Path | str, exc: OSError) -> OutputError:
    """The OutputError for an OSError while writing ``path`` (a full disk, a folder it may
    not write): the file and the reason, in one line."""
    return OutputError(f"cannot write {path}: {reason(exc)}")


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Writing ``path``: an OSError becomes :func:`write_error`'s OutputError."""
    try:
        yield
    except OSError as exc:
        raise write_error(path, exc) from exc


def check_target(path: Path) -> None:
    """OutputError unless ``path`` is absent or a regular file (or a link to one): an output
    never replaces a device, a folder or a pipe (``-o /dev/null`` as root would otherwise
    turn the device into a file)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise write_error(path, exc) from exc
    if not stat.S_ISREG(mode):
        raise OutputError(f"{path} is not a regular file: outputs are new files or replace "
                          "regular files, never devices, folders or pipes")


def read_regular(path: Path | str, *, limit: int) -> bytes:
    """The bytes of ``path``, a regular file (or a link to one) of at most ``limit`` bytes.

    OSError with a plain ``strerror`` for anything else: a device (``/dev/zero`` would be
    read without end), a pipe (opened without blocking, so one with no writer does not wait
    for ever), a folder, or a file larger than ``limit``. What is checked is the file opened,
    not the name (a link swapped between a check and the read changes nothing)."""
    with open_regular(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than the {limit:,} bytes accepted")
    return data


def open_regular(path: Path | str) -> IO[bytes]:
    """``path`` opened for reading in binary, when it is a regular file (see
    :func:`read_regular`); for files read line by line, whatever their size."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a device or a pipe"
        raise OSError(errno.EINVAL, f"{kind}, not a regular file")
    return os.fdopen(fd, "rb")


#: The largest configuration file, template, stylesheet or catalog read as text.
MAX_TEXT_BYTES = 8 * 1024**2
#: The largest letter read back (``dunning verify``, the service, print files): a letter is
#: tens to hundreds of KiB; a larger file is refused, not read.
MAX_LETTER_BYTES = 64 * 1024**2


def read_regular_text(path: Path | str, *, limit: int = MAX_TEXT_BYTES) -> str:
    """:func:`read_regular`, decoded as UTF-8 (UnicodeDecodeError when it is not)."""
    return read_regular(path, limit=limit).decode("utf-8")


@contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write ``path`` through a temp file in the same folder; replaced only on success.
    ``path`` must be absent or a regular file (:func:`check_target`)."""
    check_target(path)
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{TEMP_MARK}", suffix=".tmp",
                               dir=path.parent)
    handle: IO[Any] = (os.fdopen(fd, mode) if "b" in mode else
                       os.fdopen(fd, mode, encoding="utf-8"))
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        try:  # closing flushes what is buffered: on a full disk that fails again; the
            handle.close()  # first error is the one to report (the file descriptor is closed)
        except OSError:
            pass
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with writing(path), atomic_file(path) as handle:
        handle.write(data)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One line of ``manifest.jsonl``: the outcome of one input row."""

    account_id: str | None
    source: str
    outcome: Outcome
    stage: str | None = None
    locale: str | None = None
    path: str | None = None
    pages: int | None = None
    sha256: str | None = None
    reason: str | None = None
    brand: str | None = None
    total: str | None = None
    currency: str | None = None
    capped: bool | None = None
    #: True when a rerun found this letter already made (same data and templates).
    resumed: bool | None = None
    #: The addressee's postal code (rendered letters): the print files' sort key.
    postal_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as a dict of its fields (plain values only: no deep copy
        as ``dataclasses.asdict`` makes, which cost a dry run a tenth of its time)."""
        return {name: getattr(self, name) for name in _ENTRY_FIELDS}

    def to_json(self) -> str:
        return _compact_json(self.to_dict())


_ENTRY_FIELDS = tuple(f.name for f in fields(ManifestEntry))
#: One manifest line's JSON (an encoder made once: ``json.dumps`` with options makes one
#: for every call).
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: Every field of an entry, null: what :func:`manifest_line` fills in.
_NO_ENTRY = dict.fromkeys(_ENTRY_FIELDS)


def manifest_line(values: Mapping[str, Any]) -> str:
    """``ManifestEntry(**values).to_json()``, without making the entry (the dry run writes a
    line for every row of an export): the fields in the entry's order, those not in
    ``values`` null. ``values`` holds field names only."""
    return _compact_json({**_NO_ENTRY, **values})


class ManifestWriter:
    """Appends manifest lines to a temp file; ``close`` moves it into place atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cm = atomic_file(path, "w")
        self._handle = self._cm.__enter__()

    def write(self, entry: ManifestEntry) -> None:
        self.write_line(entry.to_json())

    def write_line(self, text: str) -> None:
        try:  # not `writing`: a line for every row of a dry run, and try costs nothing
            self._handle.write(text + "\n")
        except OSError as exc:  # a full disk: said as the batch's letters say it
            raise write_error(self.path, exc) from exc

    def close(self) -> None:
        with writing(self.path):
            self._cm.__exit__(None, None, None)

    def abort(self, exc: BaseException) -> None:
        self._cm.__exit__(type(exc), exc, exc.__traceback__)


def read_manifest(path: Path) -> list[dict[str, Any]]:
    with io.TextIOWrapper(open_regular(path), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    with writing(path), atomic_file(path, "w") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2, sort_keys=False)
        handle.write("\n")


# --------------------------------------------------------------------------- CSV

#: What makes a spreadsheet read a cell as a formula (OWASP "CSV injection"): =, +, -, @, and
#: tab or carriage return before one of them.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def csv_cell(value: Any) -> str:
    """``value`` as a CSV cell that Excel, LibreOffice and Google Sheets show as text, never
    run as a formula: text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading ``'``. Numbers (and text that is a plain decimal like ``-200.00``)
    stay as they are, so amounts remain numbers; None is an empty cell.

    >>> print(csv_cell('=HYPERLINK("http://x","y")'))
    '=HYPERLINK("http://x","y")
    >>> from decimal import Decimal
    >>> csv_cell("-200.00"), csv_cell(Decimal("-200.00")), csv_cell("-1+2"), csv_cell(None)
    ('-200.00', '-200.00', "'-1+2", '')
    """
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START) \
            and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv_atomic(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
) -> int:
    """Write a CSV file (UTF-8 with a BOM, so that Excel reads it as UTF-8; CRLF line ends)
    atomically with FILE_MODE, every cell through :func:`csv_cell`. A row is a sequence in
    ``header`` order or a mapping by column name (missing columns are empty; unknown ones are
    an error). Returns the number of rows written."""
    columns = list(header)
    count = 0
    with writing(path), atomic_file(path, "wb") as raw:
        handle = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        writer = csv.writer(handle)
        writer.writerow([csv_cell(name) for name in columns])
        for row in rows:
            if isinstance(row, Mapping):
                unknown = [key for key in row if key not in columns]
                if unknown:
                    raise ValueError(f"{path.name}: unknown column {unknown[0]!r}")
                values = [row.get(name) for name in columns]
            else:
                values = list(row)
                if len(values) != len(columns):
                    raise ValueError(f"{path.name}: row {count + 1} has {len(values)} "
                                     f"values for {len(columns)} columns")
            writer.writerow([csv_cell(value) for value in values])
            count += 1
        handle.flush()
        handle.detach()
    return count


LOCK_FILE = "run.lock"


class RunLock:
    """An exclusive lock on an output folder for the length of a run, so two runs never
    write the same letters. The operating system releases it when the process dies."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._handle: IO[str] | None = None

    def __enter__(self) -> RunLock:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise OutputError(f"another run ({holder}) is writing to {self.path.parent}; "
                              "wait for it to finish") from exc
        handle.seek(0)
        handle.truncate()
        import socket

        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the lock
            self._handle = None


def _held(lock: Path) -> bool:
    """Whether a live run holds the lock file ``lock`` (it is released when its run ends or
    dies)."""
    import fcntl

    try:
        if not stat.S_ISREG(os.lstat(lock).st_mode):
            return False
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


def refuse_nested_runs(folder: Path) -> None:
    """OutputError when ``folder`` lies inside, or contains, the folder of a live run (whose
    :class:`RunLock` is held): a run into ``out`` beside one into ``out/inner`` would clean
    up or rewrite the other's files. Two runs into the same folder are the lock's to refuse;
    call this while holding it, so that of two runs starting together neither misses the
    other. Looks at every folder above, and below without following links or entering
    hidden folders."""
    folder = folder.resolve()

    def refuse(other: Path, inside: bool) -> None:
        raise OutputError(
            f"another run is writing to {other}, which {'contains' if inside else 'lies inside'}"
            f" {folder}: a run folder may not contain or lie inside a live run's; wait for it "
            "to finish, or choose another folder")

    for parent in folder.parents:
        if _held(parent / LOCK_FILE):
            refuse(parent, inside=True)
    stack = [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                sub = Path(entry.path)
                if _held(sub / LOCK_FILE):
                    refuse(sub, inside=False)
                stack.append(sub)


#: Marks the temp files dunning writes (``.NAME.dunning-RANDOM.tmp``), so that cleaning up
#: after a killed run removes only its own, never a file it did not create.
TEMP_MARK = "dunning-"
#: A temp file dunning wrote: with its mark, or (written before there was one) a file a run
#: writes followed by the random part of :func:`tempfile.mkstemp`.
_OWN_TEMP = (re.compile(r"\.(?P<name>.+)\.dunning-[a-z0-9_]{8}\.tmp"),
             re.compile(r"\.(?P<name>.+\.(?:pdf|json|jsonl|csv))\.[a-z0-9_]{8}\.tmp"))
#: How deep below a run folder its files lie (``brand/stage/letter.pdf``, ``print/…``).
RUN_DEPTH = 3


def is_own_temp(name: str, *, letters_only: bool = False) -> bool:
    """Whether a file name is one of the temp files dunning writes.

    >>> is_own_temp(".MT-1.pdf.dunning-a1b2c3d4.tmp"), is_own_temp(".draft.txt.tmp")
    (True, False)
    >>> is_own_temp(".manifest.jsonl.x1y2z3w4.tmp"), is_own_temp(".index.tmp")
    (True, False)
    """
    for pattern in _OWN_TEMP:
        match = pattern.fullmatch(name)
        if match is not None:
            return not letters_only or match["name"].endswith(".pdf")
    return False


def own_temp_files(folder: Path, *, letters_only: bool = False) -> Iterator[Path]:
    """The temp files dunning wrote in ``folder`` and the folders a run writes below it
    (:data:`RUN_DEPTH` levels); nothing else, and never through a symlinked folder."""
    def walk(here: Path, depth: int) -> Iterator[Path]:
        try:
            entries = list(os.scandir(here))
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if depth < RUN_DEPTH:
                    yield from walk(Path(entry.path), depth + 1)
            elif entry.is_file(follow_symlinks=False) and is_own_temp(
                    entry.name, letters_only=letters_only):
                yield Path(entry.path)

    yield from walk(folder, 1)


def remove_stale_temp_files(folder: Path, *, letters_only: bool = False) -> int:
    """Delete the temp files a killed run left behind (:func:`own_temp_files`); call it only
    while holding the folder's :class:`RunLock`. Returns how many were removed."""
    removed = 0
    for path in own_temp_files(folder, letters_only=letters_only):
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
