"""Where a run's letters go: a local (or shared) folder, or an fsspec URL such as
``s3://bucket/prefix`` for a cluster without a shared file system.

Takes a location (a path, ``file://…``, or any fsspec URL); gives a :class:`Store` that writes
a letter's bytes under a relative path, reads them back (for resume), writes the manifest and
the summary, and cleans up temp files a killed run left. Every write is atomic where the store
allows it:

- a folder: temp file in the same folder, fsync, rename (:func:`~dunning.output.atomic_file`),
  files 0640 and folders 0750, as for every run;
- an object store (S3, GCS, Azure, ``memory://``): one ``put`` of the whole object, which
  readers see whole or not at all;
- any other fsspec file system (SFTP, HDFS, …): a temp object next to the target, then a move.

A store is picklable (the URL travels, the file-system client is made again where it is used),
so the worker processes of the local pool and the workers of a Dask cluster write through it.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from .errors import OutputError, reason
from .extras import require
from .output import (
    RUN_DEPTH,
    TEMP_MARK,
    ManifestEntry,
    ManifestWriter,
    ensure_dir,
    is_own_temp,
    open_regular,
    remove_stale_temp_files,
    write_bytes_atomic,
    write_json_atomic,
)

#: fsspec protocols whose single put is atomic: an object appears whole or not at all.
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss",
                        "memory"})


def is_url(location: Path | str) -> bool:
    """Whether ``location`` names a store other than a local folder.

    >>> is_url("s3://letters/2026-11-20"), is_url("/srv/out"), is_url("file:///srv/out")
    (True, False, False)
    """
    if isinstance(location, Path):
        return False
    scheme = urlsplit(location).scheme
    return "://" in location and len(scheme) > 1 and scheme != "file"


#: Query parameters of a URL that carry a secret (a database password, an object store's key).
_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:password|passwd|pwd|secret|token|key|access_key|secret_key|sslpassword|"
    r"credentials?|sig|signature|x-amz-signature|x-amz-credential)=)[^&#]*")


def redact(url: str) -> str:
    """A URL without its secrets, for messages, logs and summaries: the password of its
    user part and every query parameter that carries a secret.

    >>> redact("postgresql://dunning:s3cret@db:5432/letters")
    'postgresql://dunning:***@db:5432/letters'
    >>> redact("postgresql://db/letters?user=d&password=s3cret&sslmode=require")
    'postgresql://db/letters?user=d&password=***&sslmode=require'
    """
    head, sep, tail = url.partition("://")
    if "@" in tail and ":" in tail.split("@", 1)[0]:
        user = tail.split("@", 1)[0].split(":", 1)[0]
        tail = f"{user}:***@{tail.split('@', 1)[1]}"
    return _SECRET_PARAMS.sub(r"\1***", f"{head}{sep}{tail}")


def scrub(text: str, url: str) -> str:
    """``text`` (a library's error message) with ``url`` and its secrets redacted."""
    secrets_in_url = [m.group(0).split("=", 1)[1] for m in _SECRET_PARAMS.finditer(url)]
    userinfo = url.partition("://")[2].split("@", 1)
    if len(userinfo) == 2 and ":" in userinfo[0]:
        secrets_in_url.append(userinfo[0].split(":", 1)[1])
    text = text.replace(url, redact(url))
    for secret in secrets_in_url:
        if secret:
            text = text.replace(secret, "***")
    return text


def output_location(location: Path | str) -> Path | str:
    """The one spelling of an output location, so that every way of naming a folder is the
    same folder for the ledger, the resume and the locks: a folder (a path or a ``file://``
    URL) absolute, with symlinks and ``..`` resolved; another URL without its trailing
    slash. An empty location is an OutputError (it is not "the default folder")."""
    if isinstance(location, str):
        if not location.strip():
            raise OutputError("the output location is empty: give a folder or a URL")
        if location.startswith("file://"):
            location = Path(url2pathname(unquote(urlsplit(location).path)))
        elif is_url(location):
            return location.rstrip("/")
        else:
            location = Path(location)
    return location.resolve()


def open_store(location: Path | str) -> Store:
    """The store for a folder path, a ``file://`` URL or an fsspec URL."""
    if isinstance(location, str) and location.startswith("file://"):
        return LocalStore(Path(location[len("file://"):]))
    if is_url(location):
        require("cluster", f"output to {location}")
        return FsspecStore(str(location))
    return LocalStore(Path(location))


class Store(ABC):
    """The output location of one run (see the module docstring)."""

    #: The location as given (a folder path or a URL without a trailing slash).
    url: str

    @property
    @abstractmethod
    def local(self) -> bool:
        """A folder of this machine's file system (possibly shared with other machines)."""

    @property
    def key(self) -> str:
        """A short, file-name-safe hash of the location (for the run lock of a URL)."""
        return hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:16]

    @abstractmethod
    def write(self, rel: str, data: bytes) -> None:
        """Write ``data`` at ``rel`` (a relative POSIX path) atomically; OutputError if the
        store refuses it."""

    @abstractmethod
    def read(self, rel: str) -> bytes | None:
        """The bytes at ``rel``, or None when there is nothing readable there."""

    @abstractmethod
    def lines(self, rel: str) -> Generator[str, None, None]:
        """The text lines of the file at ``rel``, streamed (none when there is no file)."""

    @abstractmethod
    def manifest(self, name: str) -> ManifestSink:
        """A writer for the manifest ``name``: lines appended, the whole placed by ``close``."""

    @abstractmethod
    def write_json(self, name: str, data: dict[str, Any]) -> None: ...

    @abstractmethod
    def prepare(self) -> None:
        """Make the location ready to be written (create the folder); OutputError if not."""

    @abstractmethod
    def remove_stale_temp_files(self, letters_only: bool = False) -> int:
        """Remove the temp files a killed run (or a killed worker) left, only while holding
        the run lock; ``letters_only``: those of letters (``.*.pdf.*.tmp``), not the
        manifest this run is writing."""

    def where(self, rel: str) -> str:
        """``rel`` inside the store, for messages."""
        return f"{self.url}/{rel}"


class ManifestSink:
    """What :meth:`Store.manifest` gives: ``write`` lines, then ``close`` or ``abort``."""

    def write(self, entry: ManifestEntry) -> None:
        self.write_line(entry.to_json())

    def write_line(self, text: str) -> None:  # pragma: no cover - interface
        """Append one line, an entry's :meth:`~dunning.output.ManifestEntry.to_json`."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def abort(self, exc: BaseException) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class _LocalManifest(ManifestSink):
    def __init__(self, path: Path) -> None:
        self._writer = ManifestWriter(path)

    def write_line(self, text: str) -> None:
        self._writer.write_line(text)

    def close(self) -> None:
        self._writer.close()

    def abort(self, exc: BaseException) -> None:
        self._writer.abort(exc)


class LocalStore(Store):
    """A folder: the same atomic files, modes and temp-file cleanup as every local run."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.url = str(self.root)

    @property
    def local(self) -> bool:
        return True

    def __reduce__(self) -> tuple[Any, ...]:
        return (LocalStore, (self.root,))

    def prepare(self) -> None:
        ensure_dir(self.root)

    def write(self, rel: str, data: bytes) -> None:
        write_bytes_atomic(self.root / rel, data)

    def read(self, rel: str) -> bytes | None:
        """The file's bytes; None when it is absent or not a regular file (a letter swapped
        for a link to a device or a pipe is missing, never read without end)."""
        try:
            with open_regular(self.root / rel) as handle:
                return handle.read()
        except OSError:
            return None

    def lines(self, rel: str) -> Generator[str, None, None]:
        try:
            with io.TextIOWrapper(open_regular(self.root / rel), encoding="utf-8") as handle:
                yield from handle
        except FileNotFoundError:
            return
        except OSError as exc:  # a device or a pipe where the file was
            raise OutputError(f"cannot read {self.root / rel}: {reason(exc)}") from exc

    def manifest(self, name: str) -> ManifestSink:
        return _LocalManifest(self.root / name)

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        write_json_atomic(self.root / name, data)

    def remove_stale_temp_files(self, letters_only: bool = False) -> int:
        return remove_stale_temp_files(self.root, letters_only=letters_only)

    def where(self, rel: str) -> str:
        return str(self.root / rel)


class _SpooledManifest(ManifestSink):
    """The manifest of a remote store: spooled to a local temp file, put whole at the end."""

    def __init__(self, store: FsspecStore, name: str) -> None:
        self.store = store
        self.name = name
        self._handle: IO[bytes] = tempfile.TemporaryFile("w+b")

    def write_line(self, text: str) -> None:
        self._handle.write(text.encode("utf-8") + b"\n")

    def close(self) -> None:
        self._handle.seek(0)
        data = self._handle.read()
        self._handle.close()
        self.store.write(self.name, data)

    def abort(self, exc: BaseException) -> None:
        self._handle.close()


class FsspecStore(Store):
    """An fsspec URL. Credentials come from fsspec's usual places (environment variables,
    ``~/.aws``, ``FSSPEC_S3_…``), on the driver and on every worker."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._fs: Any = None
        self._root = ""

    @property
    def local(self) -> bool:
        return False

    def __reduce__(self) -> tuple[Any, ...]:
        return (FsspecStore, (self.url,))

    @property
    def fs(self) -> Any:
        if self._fs is None:
            from fsspec.core import url_to_fs

            try:
                self._fs, self._root = url_to_fs(self.url)
            except (ImportError, ValueError) as exc:
                raise OutputError(f"cannot open the output location {self.url}: {exc}") from exc
            self._root = self._root.rstrip("/")
        return self._fs

    @property
    def atomic_put(self) -> bool:
        protocols = self.fs.protocol
        names = {protocols} if isinstance(protocols, str) else set(protocols)
        return bool(names & ATOMIC_PUT)

    def _path(self, rel: str) -> str:
        self.fs  # noqa: B018 - resolves the root on first use
        return f"{self._root}/{rel}" if self._root else rel

    def prepare(self) -> None:
        try:
            if not self.atomic_put:
                self.fs.makedirs(self._root, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.url}: {exc}") from exc

    def write(self, rel: str, data: bytes) -> None:
        path = self._path(rel)
        try:
            if self.atomic_put:
                self.fs.pipe_file(path, data)
                return
            parent, _, name = path.rpartition("/")
            if parent:
                self.fs.makedirs(parent, exist_ok=True)
            tmp = f"{parent}/.{name}.{TEMP_MARK}{secrets.token_hex(4)}.tmp"
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, path)
        except OSError as exc:
            raise OutputError(f"cannot write {self.where(rel)}: {exc}") from exc

    def read(self, rel: str) -> bytes | None:
        try:
            data = self.fs.cat_file(self._path(rel))
        except OSError:
            return None
        return bytes(data)

    def lines(self, rel: str) -> Generator[str, None, None]:
        try:
            with self.fs.open(self._path(rel), "rt", encoding="utf-8") as handle:
                yield from handle
        except FileNotFoundError:
            return

    def manifest(self, name: str) -> ManifestSink:
        return _SpooledManifest(self, name)

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        import json

        text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
        self.write(name, text.encode("utf-8"))

    def remove_stale_temp_files(self, letters_only: bool = False) -> int:
        """Object stores leave none (one put per object); elsewhere, remove ``.*.tmp``
        (the manifest is spooled locally, so there is none of it here)."""
        if self.atomic_put:
            return 0
        removed = 0
        try:
            for path in self.fs.find(self._root, maxdepth=RUN_DEPTH):
                if is_own_temp(path.rpartition("/")[2], letters_only=letters_only):
                    self.fs.rm_file(path)
                    removed += 1
        except OSError:
            pass
        return removed


def lock_folder(output_dir: Path, store: Store) -> Path:
    """Where the run lock of ``store`` lives: the folder itself for a local store, else
    ``locks/<hash of the URL>/`` in the project's ``output_dir`` (created)."""
    if isinstance(store, LocalStore):
        return store.root
    return ensure_dir(output_dir / "locks" / store.key)


def samefile_hint(store: Store) -> str:
    """How a worker that cannot see a local store can be helped, for messages."""
    if store.local:
        return ("the workers must see the output folder at the same path (a shared file "
                "system), or write to an object store (--out s3://bucket/prefix)")
    return "the workers need the store's credentials (environment or fsspec configuration)"
