"""Hashes that decide whether a letter is still the one made before: of a record's data and
of the files that shape every letter (templates, catalogs, config, the package's code).

Takes records and folders; gives short hex digests. Standard library only, so the worker
processes and the cluster's workers can compute them without loading the ledger's database
layer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from .records import FIELDS, Record


def record_hash(record: Record) -> str:
    """A hash of the record's data (every field of the record format, not its location), so a
    changed export row is recognized as a new version of the letter."""
    data = {name: getattr(record, name) for name in FIELDS}
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tree_hash(paths: Iterable[Path]) -> str:
    """A hash of every file under ``paths`` (names and contents), in a stable order: the
    template version is the tree hash of the templates, catalogs and policy."""
    digest = hashlib.sha256()
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if path.suffix in (".mo", ".pyc", ".pot"):
                continue  # built from the .po / .py / templates that are hashed
            data = path.read_bytes()
            if path.suffix == ".po":
                data = _PO_STAMPS.sub(b"", data)
            digest.update(str(path.relative_to(root.parent)).encode("utf-8") + b"\0")
            digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


#: What in ``templates/`` takes part in a letter: what the template loader loads and what
#: the stylesheets and templates may fetch from the assets folder (the URL fetcher allows
#: nothing else). Anything else there (an editor's ``.bak`` or ``~``, ``.DS_Store``) does not.
TEMPLATE_SUFFIXES = frozenset({".html", ".css", ".svg", ".png", ".jpg", ".jpeg", ".gif",
                               ".webp", ".otf", ".ttf", ".woff", ".woff2", ".json"})
#: The config files a letter is made from (``wording.yaml`` is read by the checks only).
CONFIG_FILES = ("brands.yaml", "policy.yaml", "settings.yaml")


def letter_files(templates_dir: Path, locales_dir: Path, config_dir: Path) -> list[Path]:
    """The files that shape every letter besides its record, in a stable order: the
    templates and assets (:data:`TEMPLATE_SUFFIXES`, no hidden file or folder), the compiled
    catalogs (``.mo``) and the config files (:data:`CONFIG_FILES`)."""
    def visible(path: Path, root: Path) -> bool:
        return not any(part.startswith(".") for part in path.relative_to(root).parts)

    templates = sorted(p for p in templates_dir.rglob("*") if p.is_file()
                       and p.suffix.lower() in TEMPLATE_SUFFIXES and visible(p, templates_dir))
    catalogs = sorted(p for p in locales_dir.rglob("*.mo") if p.is_file()
                      and visible(p, locales_dir))
    config = [config_dir / name for name in CONFIG_FILES if (config_dir / name).is_file()]
    return [*templates, *catalogs, *config]


def files_hash(files: Iterable[Path], root: Path) -> str:
    """A hash of ``files`` (their paths below ``root`` and their contents)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


#: Header lines of a gettext catalog that extraction and ``pybabel update`` rewrite without
#: any message changing: left out of the template version, so that re-extracting the catalogs
#: does not make every letter of a resumed run a new version.
_PO_STAMPS = re.compile(
    rb'^"(?:POT-Creation-Date|PO-Revision-Date|Generated-By): [^"\n]*\\n"\r?\n', re.MULTILINE)
