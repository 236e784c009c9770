"""Files a run writes: atomic writes, safe letter file names, the manifest and the summary.

Every file goes through a temporary file in the same folder, fsync, then ``os.replace``, so
a reader sees it whole or not at all. Files are created readable by the owner and group only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal

from .errors import OutputError

FILE_MODE = 0o640
DIR_MODE = 0o750

Outcome = Literal["rendered", "suppressed", "rejected", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("rendered", "suppressed", "rejected", "failed")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM\d|LPT\d)(\..*)?", re.I)
MAX_NAME = 80


def safe_name(account_id: str) -> str:
    """A file name stem for ``account_id``: ASCII letters, digits, ``._-`` only, no leading
    dot, no reserved device name, bounded length. When the id had to change, a short hash of
    the original is appended so that different ids never share a name.

    >>> safe_name("MT-000001")
    'MT-000001'
    >>> safe_name("../etc/passwd")
    '_etc_passwd~7fef78f5'
    """
    name = _UNSAFE.sub("_", account_id).lstrip(".") or "_"
    if _RESERVED.fullmatch(name):
        name = "_" + name
    if name != account_id or len(name) > MAX_NAME:
        digest = hashlib.sha256(account_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}~{digest}"
    return name


def ensure_dir(path: Path) -> Path:
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {path}: {exc.strerror or exc}") from exc
    return path


@contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write ``path`` through a temp file in the same folder; replaced only on success."""
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        handle: IO[Any]
        with (os.fdopen(fd, mode) if "b" in mode else
              os.fdopen(fd, mode, encoding="utf-8")) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    try:
        with atomic_file(path) as handle:
            handle.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


class ManifestWriter:
    """Appends manifest lines to a temp file; ``close`` moves it into place atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cm = atomic_file(path, "w")
        self._handle = self._cm.__enter__()

    def write(self, entry: ManifestEntry) -> None:
        self._handle.write(entry.to_json() + "\n")

    def close(self) -> None:
        self._cm.__exit__(None, None, None)

    def abort(self, exc: BaseException) -> None:
        self._cm.__exit__(type(exc), exc, exc.__traceback__)


def read_manifest(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    with atomic_file(path, "w") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2, sort_keys=False)
        handle.write("\n")
