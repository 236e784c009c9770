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


#: Header lines of a gettext catalog that extraction and ``pybabel update`` rewrite without
#: any message changing: left out of the template version, so that re-extracting the catalogs
#: does not make every letter of a resumed run a new version.
_PO_STAMPS = re.compile(
    rb'^"(?:POT-Creation-Date|PO-Revision-Date|Generated-By): [^"\n]*\\n"\r?\n', re.MULTILINE)
