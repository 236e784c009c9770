"""Keep the message catalogs in step with the templates, without ``make``: what ``dunning
catalogs`` does.

Takes the project (templates, ``babel.cfg``, ``locales/``); extracts every sentence the
templates (and the code) mark with ``_()`` into ``locales/messages.pot``, adds new sentences to
each locale's ``.po`` with an empty translation (a reworded sentence's old translation is kept
at the end as an obsolete ``#~`` entry, to reuse), compiles each ``.po`` into its ``.mo``, and
gives a :class:`CatalogReport`: per locale, the sentences left to translate with their line in
the ``.po``. Files are only written when their content changes, each through a temporary file
(``os.replace``), so a run over current catalogs changes nothing.

The result is that of ``make catalogs`` (``pybabel extract``, ``update --no-fuzzy-matching``,
``compile``, width 100), except that headers are not re-dated when nothing changed.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from .locale import CATALOG_DOMAIN
from .output import read_regular_text
from .settings import Settings

#: What is extracted when the project has no ``babel.cfg``: the templates.
DEFAULT_MAPPING = "[jinja2: templates/**.html]\nextensions = jinja2.ext.i18n\nsilent = false\n"
WIDTH = 100  # as the Makefile's ``-w 100``


@dataclass(frozen=True, slots=True)
class Untranslated:
    """A sentence a locale has no (or only a fuzzy) translation for, at ``line`` of its .po."""

    msgid: str
    line: int
    fuzzy: bool = False


@dataclass
class LocaleReport:
    locale: str
    po: Path
    total: int
    untranslated: list[Untranslated] = field(default_factory=list)
    obsolete: int = 0
    changed: list[Path] = field(default_factory=list)


@dataclass
class CatalogReport:
    pot: Path
    messages: int
    added: list[str]
    removed: list[str]
    locales: list[LocaleReport]
    changed: list[Path]

    @property
    def complete(self) -> bool:
        """Every sentence translated in every Chinese locale (English letters print the
        English source text, so an empty English entry is fine)."""
        return not any(r.untranslated for r in self.locales if not r.locale.startswith("en"))


def _same(old: bytes, new: bytes) -> bool:
    """Equal, but for the Babel version in a catalog's header (a new Babel is no change)."""
    def strip(data: bytes) -> list[bytes]:
        return [line for line in data.splitlines() if not line.startswith(b'"Generated-By:')]
    return old == new or strip(old) == strip(new)


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if _same(path.read_bytes(), data):
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def extract(root: Path) -> Catalog:
    """Every ``_()`` sentence of the project (``babel.cfg``, or the templates only)."""
    cfg = root / "babel.cfg"
    text = read_regular_text(cfg) if cfg.is_file() else DEFAULT_MAPPING
    method_map, options_map = parse_mapping_cfg(io.StringIO(text))  # type: ignore[no-untyped-call]
    catalog = Catalog(domain=CATALOG_DOMAIN)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(root), method_map, options_map):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments,
                    context=context)
    return catalog


def _po_bytes(catalog: Catalog, **options: bool) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=WIDTH, **options)
    return buffer.getvalue()


def update_catalogs(settings: Settings, root: Path | None = None) -> CatalogReport:
    """Extract, update every locale's catalog, compile; see the module docstring."""
    root = root or settings.root
    pot_path = settings.locales_dir / f"{CATALOG_DOMAIN}.pot"
    old: set[str] = set()
    if pot_path.is_file():
        with pot_path.open("rb") as handle:
            old = {str(m.id) for m in read_po(handle) if m.id}
    pot_data = _po_bytes(extract(root), no_location=True, omit_header=True,
                         sort_output=True)
    changed = [pot_path] if _write_if_changed(pot_path, pot_data) else []
    template = read_po(io.BytesIO(pot_data))
    ids = {str(m.id) for m in template if m.id}
    locales = []
    for po in sorted(settings.locales_dir.glob(f"*/LC_MESSAGES/{CATALOG_DOMAIN}.po")):
        locale = po.parent.parent.name
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=CATALOG_DOMAIN)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False,
                       update_creation_date=False)
        data = _po_bytes(catalog)
        report = LocaleReport(locale=locale, po=po, total=len(ids),
                              obsolete=len(catalog.obsolete))
        if _write_if_changed(po, data):
            report.changed.append(po)
        written = read_po(io.BytesIO(data), locale=locale, domain=CATALOG_DOMAIN)
        report.untranslated = [
            Untranslated(str(m.id), m.lineno or 0, m.fuzzy) for m in written
            if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple)
                                            else (m.string,)))]
        mo = io.BytesIO()
        write_mo(mo, written, use_fuzzy=False)
        if _write_if_changed(po.with_suffix(".mo"), mo.getvalue()):
            report.changed.append(po.with_suffix(".mo"))
        changed += report.changed
        locales.append(report)
    return CatalogReport(pot=pot_path, messages=len(ids), added=sorted(ids - old),
                         removed=sorted(old - ids), locales=locales, changed=changed)


def format_catalog_report(report: CatalogReport, root: Path) -> str:
    """What changed and what is left to translate, in an author's words."""

    def rel(path: Path) -> str:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return str(path)

    lines = [f"{report.messages} sentence(s) in the templates"
             + (f"; new: {', '.join(repr(m) for m in report.added)}" if report.added else "")
             + (f"; no longer used: {', '.join(repr(m) for m in report.removed)}"
                if report.removed else "")]
    for loc in report.locales:
        english = loc.locale.startswith("en")
        done = loc.total - len(loc.untranslated)
        lines.append(f"{loc.locale}: {done} of {loc.total} translated ({rel(loc.po)})"
                     + (" - English letters print the English sentence where the entry is "
                        "empty" if english and loc.untranslated else ""))
        if not english:
            for item in loc.untranslated:
                state = "check the translation, then remove the '#, fuzzy' line" \
                    if item.fuzzy else "translate it (msgstr)"
                lines.append(f"    {rel(loc.po)}:{item.line}: {item.msgid!r}: {state}")
        if loc.obsolete:
            lines.append(f"    {loc.obsolete} old translation(s) kept at the end as '#~' "
                         "entries: reuse them for reworded sentences, then delete them")
    lines.append("changed: " + (", ".join(rel(p) for p in report.changed) or "nothing"))
    lines.append("ok: every Chinese catalog is complete" if report.complete else
                 "left to translate: see above; letters in those locales cannot be made "
                 "until then")
    return "\n".join(lines)
