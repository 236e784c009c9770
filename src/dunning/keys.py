"""API keys for letters on demand: who may ask for a letter, and for which brands.

Takes a keys file (YAML: a list of ``{name, sha256, brands, created}``) and a key sent as
``Authorization: Bearer KEY``; gives the key's name and brands, or nothing. A key is made once
(:func:`add_key`, ``dunning keys add``) and shown once: the file keeps only its SHA-256 (a key
is 256 random bits, so a fast hash is as safe as a slow one), its name and the brands it may
use. Keys never appear in logs, metrics or errors: only their names do.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .output import write_bytes_atomic
from .yamlconf import config_error, load_yaml_file

#: What a new key starts with: recognisable in a leaked config or a secret scanner.
PREFIX = "dk_"
#: The keys file when none is named: beside the config, never in git (.gitignore).
KEYS_FILE = "api-keys.yaml"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key as the file keeps it: never the key itself."""

    name: str
    sha256: str
    brands: tuple[str, ...]
    created: str = ""

    def may_use(self, brand: str) -> bool:
        return brand in self.brands


def digest(key: str) -> str:
    """The SHA-256 of a key, as the keys file keeps it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Keys:
    """The keys of one file, looked up by the key sent."""

    path: Path
    keys: tuple[ApiKey, ...]

    def find(self, key: str) -> ApiKey | None:
        """The key's entry, or None; compared in constant time."""
        sent = digest(key)
        found = None
        for entry in self.keys:
            if hmac.compare_digest(entry.sha256, sent):
                found = entry
        return found

    def names(self) -> list[str]:
        return [entry.name for entry in self.keys]


def load_keys(path: Path, brands: Iterable[str] | None = None) -> Keys:
    """Read and check a keys file (ConfigError naming the line of any problem); ``brands``,
    when given, are the brand keys a key may name."""
    if not path.exists():
        return Keys(path=path, keys=())
    data = load_yaml_file(path) or []
    if not isinstance(data, list):
        raise config_error(ConfigError, "expected a list of keys", path=str(path))
    known = None if brands is None else set(brands)
    entries: list[ApiKey] = []
    for index, item in enumerate(data):
        where = f"[{index}]"
        if not isinstance(item, Mapping) or set(item) - {"name", "sha256", "brands",
                                                         "created"}:
            raise config_error(ConfigError, "expected name, sha256, brands (and created)",
                               path=str(path), key=where)
        name, hashed, allowed = item.get("name"), item.get("sha256"), item.get("brands")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise config_error(ConfigError, "name: letters, digits, '.', '_', '-' (at most 64)",
                               path=str(path), key=f"{where}.name")
        if not isinstance(hashed, str) or not _SHA256.fullmatch(hashed):
            raise config_error(ConfigError, "sha256: the key's SHA-256 in 64 hex digits",
                               path=str(path), key=f"{where}.sha256")
        if not isinstance(allowed, list) or not allowed or not all(
                isinstance(b, str) for b in allowed):
            raise config_error(ConfigError, "brands: a list of brand keys", path=str(path),
                               key=f"{where}.brands")
        unknown = sorted(set(allowed) - known) if known is not None else []
        if unknown:
            raise config_error(ConfigError, f"no brand {unknown[0]!r} in the brands file",
                               path=str(path), key=f"{where}.brands")
        if name in {e.name for e in entries}:
            raise config_error(ConfigError, f"the name {name!r} is used twice",
                               path=str(path), key=f"{where}.name")
        entries.append(ApiKey(name=name, sha256=hashed, brands=tuple(allowed),
                              created=str(item.get("created") or "")))
    return Keys(path=path, keys=tuple(entries))


def add_key(path: Path, name: str, brands: Iterable[str],
            known_brands: Iterable[str]) -> str:
    """Make a new key named ``name`` for ``brands``, add its hash to the keys file (created
    owner-read-write, group-read) and return the key: the only time it is seen."""
    allowed = [b.strip() for b in brands if b.strip()]
    if not _NAME.fullmatch(name):
        raise ConfigError(f"key name {name!r}: letters, digits, '.', '_', '-' (at most 64)")
    known_brands = list(known_brands)
    current = load_keys(path, known_brands)
    if name in current.names():
        raise ConfigError(f"a key named {name!r} exists already", path=str(path))
    known = sorted(known_brands)
    unknown = sorted(set(allowed) - set(known))
    if not allowed or unknown:
        what = f"no brand {unknown[0]!r}" if unknown else "no brand given"
        raise ConfigError(f"--brands: {what} (brands: {', '.join(known)})")
    key = PREFIX + secrets.token_urlsafe(32)
    entries: list[dict[str, Any]] = [
        {"name": e.name, "sha256": e.sha256, "brands": list(e.brands),
         **({"created": e.created} if e.created else {})} for e in current.keys]
    entries.append({"name": name, "sha256": digest(key), "brands": allowed,
                    "created": datetime.now(UTC).isoformat(timespec="seconds")})
    text = ("# API keys of `dunning serve`: hashes only (dunning keys add NAME --brands …)\n"
            + yaml.safe_dump(entries, allow_unicode=True, sort_keys=False))
    write_bytes_atomic(path, text.encode("utf-8"))
    return key
