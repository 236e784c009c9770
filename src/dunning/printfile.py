"""Print files for the print shop: a run's letters merged per brand and stage, in mailing order.

Takes a run's output folder (``manifest.jsonl`` and the letters it lists, ``summary.json``
for its as-of date and run id); gives, under ``print/<as-of>/`` in that folder, for every
brand and stage (file names carry the night, so the print shop can tell nights apart):

``print/<as-of>/<brand>-<stage>.pdf``
    A cover sheet (:data:`COVER_PAGES` pages: the front says job (run id), as-of date,
    brand, stage, letters, sheets, first and last account id; the back is blank), then the
    stage's letters of that brand, one after the other, sorted by postal code and then
    account id (natural order: ``MT-9`` before ``MT-10``; letters without a postal code
    last). A letter with an odd number of pages is followed by one blank page of the same
    size, so that with duplex printing every letter starts on the front of a new sheet. The
    cover is outside the letters' page numbering: the PDF's page labels show it as
    ``cover-1``, ``cover-2`` and number the letters' pages from 1.
``print/<as-of>/<brand>-<stage>.csv``
    The print manifest, one row per letter in the file: ``sequence`` (1, 2, … in mailing
    order), ``account_id``, ``postal_code``, ``first_page`` (its first page, counted after
    the cover, as the page labels show it), ``page_count`` (the letter's own pages) and
    ``blank_pages_added`` (0 or 1). The letter takes pages ``first_page`` to
    ``first_page + page_count + blank_pages_added - 1``; the shop checks the count of rows
    and pages against what it printed.
``print/summary.json``
    The files written, and every letter left out with its reason.

With ``letters_per_file``, a stage with more letters is split into parts
(``<brand>-<stage>.part01.pdf`` with its ``.csv``, …), the sequence running on across
parts; it bounds the memory a merge takes (each letter's PDF is held until its file is
written, about 120 KiB for a two-page zh_CN letter).

Before a letter is merged its bytes are checked against the run manifest's sha256 and page
count. A letter that is missing, changed since the run, or encrypted (a brand that encrypts
letters for e-mail delivery, see :mod:`dunning.protect`: its pages cannot be copied) is left
out with its reason, and the result's exit code is 1. Merging uses pikepdf (qpdf); the merged
files are plain PDF, not PDF/A (the archive copies are the letters themselves), carry no
attachment and no personal data in their metadata, and the same letters give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import pikepdf

from .errors import InputError, reason
from .output import (
    MAX_LETTER_BYTES,
    RunLock,
    atomic_file,
    ensure_dir,
    read_manifest,
    read_regular,
    remove_stale_temp_files,
    write_csv_atomic,
    write_json_atomic,
    writing,
)

log = logging.getLogger("dunning.print")

PRINT_DIR = "print"
#: Pages of the cover sheet: its front, and a blank back (duplex).
COVER_PAGES = 2
SUMMARY = "summary.json"
MANIFEST_COLUMNS = ("sequence", "account_id", "postal_code", "first_page", "page_count",
                    "blank_pages_added")

_NUMBER = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """A sort key that orders the digit runs of ``text`` as numbers.

    >>> sorted(["MT-10", "MT-9", "mt-9a", "MT-09"], key=natural_key)
    ['MT-09', 'MT-9', 'mt-9a', 'MT-10']
    """
    return tuple((0, int(part), part) if part.isdigit() else (1, 0, part.casefold())
                 for part in _NUMBER.split(text) if part)


@dataclass(frozen=True, slots=True)
class PrintLetter:
    """A rendered letter of the run, as its manifest line describes it."""

    account_id: str
    brand: str
    stage: str
    postal_code: str
    path: str
    sha256: str
    pages: int

    @property
    def mailing_key(self) -> tuple[Any, ...]:
        """Postal code, then account id, in natural order; no postal code sorts last."""
        return (not self.postal_code, natural_key(self.postal_code),
                natural_key(self.account_id))


@dataclass(frozen=True, slots=True)
class Skipped:
    """A letter left out of the print files, and why."""

    account_id: str
    brand: str
    stage: str
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class PrintFile:
    """One merged PDF and its print manifest (paths relative to the run folder)."""

    brand: str
    stage: str
    pdf: str
    manifest: str
    letters: int
    #: Pages of the letters, blanks included; the cover's are in ``cover_pages``.
    pages: int
    blank_pages: int
    sha256: str
    cover_pages: int = COVER_PAGES
    #: Sheets of paper printed duplex, the cover's included.
    sheets: int = 0


@dataclass
class PrintResult:
    """What :func:`make_print_files` wrote and left out."""

    run_dir: Path
    files: list[PrintFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every rendered letter is in a print file, 1 when some were left out."""
        return 1 if self.skipped else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "letters": sum(f.letters for f in self.files),
            "files": [asdict(f) for f in self.files],
            "skipped": [asdict(s) for s in self.skipped],
            "exit_code": self.exit_code,
        }

    def describe(self) -> str:
        """The result as text for the terminal."""
        lines = [f"{f.pdf}: {f.letters} letters, {f.pages} pages "
                 f"({f.blank_pages} blank added) on {f.sheets} sheets with the cover; "
                 f"manifest {f.manifest}" for f in self.files]
        if not self.files:
            lines.append("no print file written: the run has no letter to print")
        lines += [f"left out {s.account_id} ({s.brand}/{s.stage}): {s.reason}"
                  for s in self.skipped]
        return "\n".join(lines)


def rendered_letters(run_dir: Path) -> list[PrintLetter]:
    """The rendered letters the run's manifest lists (InputError when it has none to read)."""
    path = run_dir / "manifest.jsonl"
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError("not a folder: give the folder of a run (the --out the run was "
                         "given)", path=str(run_dir))
    try:
        entries = read_manifest(path)
    except FileNotFoundError as exc:
        raise InputError("no manifest.jsonl: not a run folder, or the run did not finish "
                         "(rerun it to complete it)", path=str(path)) from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the run manifest: {reason(exc)}",
                         path=str(path)) from exc
    return [
        PrintLetter(account_id=str(e["account_id"]), brand=str(e["brand"]),
                    stage=str(e["stage"]), postal_code=str(e.get("postal_code") or ""),
                    path=str(e["path"]), sha256=str(e["sha256"]), pages=int(e["pages"]))
        for e in entries if e.get("outcome") == "rendered"
    ]


def mailing_order(letters: Iterable[PrintLetter]) -> list[PrintLetter]:
    return sorted(letters, key=lambda letter: letter.mailing_key)


def make_print_files(run_dir: Path | str, *, letters_per_file: int | None = None) -> PrintResult:
    """Write the print files of the run in ``run_dir`` (see the module docstring).

    Raises InputError when the folder holds no finished run, OutputError when the print files
    cannot be written or a run is writing the folder."""
    run_dir = Path(run_dir)
    if letters_per_file is not None and letters_per_file < 1:
        raise ValueError("letters_per_file must be at least 1")
    letters = rendered_letters(run_dir)
    job = _job(run_dir)
    result = PrintResult(run_dir=run_dir)
    groups: dict[tuple[str, str], list[PrintLetter]] = defaultdict(list)
    for letter in letters:
        groups[(letter.brand, letter.stage)].append(letter)
    with RunLock(run_dir):
        out = ensure_dir(run_dir / PRINT_DIR)
        remove_stale_temp_files(out)
        written: set[Path] = set()
        for (brand, stage), members in sorted(groups.items()):
            ordered = mailing_order(members)
            size = letters_per_file or max(1, len(ordered))
            chunks = [ordered[i:i + size] for i in range(0, len(ordered), size)]
            sequence = 0
            for number, chunk in enumerate(chunks, 1):
                stem = f"{brand}-{stage}" + ("" if len(chunks) == 1 else f".part{number:02d}")
                made = _print_file(run_dir, brand, stage, stem, chunk, sequence, result.skipped,
                                   job)
                if made is not None:
                    result.files.append(made)
                    written |= {run_dir / made.pdf, run_dir / made.manifest}
                    sequence += made.letters
        _remove_old_files(out, keep=written)
        write_json_atomic(out / SUMMARY, result.to_dict())
    log.info("print files: %d letters in %d files, %d left out", sum(
        f.letters for f in result.files), len(result.files), len(result.skipped))
    return result


def _job(run_dir: Path) -> dict[str, str]:
    """The run's as-of date and id, from its summary (``undated`` when it has none)."""
    try:
        data = json.loads((run_dir / "summary.json").read_text("utf-8"))
    except (OSError, ValueError):
        data = {}
    return {"as_of": str(data.get("as_of") or "undated"), "run_id": str(data.get("run_id") or "")}


def _cover(job: dict[str, str], brand: str, stem: str, stage: str, rows: list[dict[str, Any]],
           pages: int, size: tuple[float, float]) -> pikepdf.Pdf:
    """The cover sheet: a front page saying what the file holds, and a blank back."""
    from html import escape

    from weasyprint import HTML

    sheets = (COVER_PAGES + pages) // 2
    facts = [("job", job["run_id"] or "-"), ("as of", job["as_of"]), ("brand", brand),
             ("stage", stage), ("file", f"{stem}.pdf"), ("letters", str(len(rows))),
             ("sheets (duplex, cover included)", str(sheets)),
             ("pages after the cover", str(pages)),
             ("first account id", str(rows[0]["account_id"])),
             ("last account id", str(rows[-1]["account_id"]))]
    html = (f"<style>@page {{ size: {size[0]}pt {size[1]}pt; margin: 25mm }} "
            "body { font-family: 'Noto Sans', sans-serif; font-size: 14pt } "
            "td { padding: 2mm 6mm 2mm 0 } h1 { font-size: 20pt }</style>"
            "<h1>dunning print job</h1><table>"
            + "".join(f"<tr><td>{escape(k)}</td><td><b>{escape(v)}</b></td></tr>"
                      for k, v in facts) + "</table>")
    cover = pikepdf.open(io.BytesIO(HTML(string=html).write_pdf()))
    while len(cover.pages) < COVER_PAGES:
        cover.add_blank_page(page_size=size)
    return cover


def _label_pages(pdf: pikepdf.Pdf) -> None:
    """Page labels: ``cover-1``, ``cover-2``, then the letters' pages from 1."""
    pdf.Root.PageLabels = pdf.make_indirect(pikepdf.Dictionary(Nums=pikepdf.Array([
        0, pikepdf.Dictionary(P=pikepdf.String("cover-"), S=pikepdf.Name.D),
        COVER_PAGES, pikepdf.Dictionary(S=pikepdf.Name.D),
    ])))


def _print_file(run_dir: Path, brand: str, stage: str, stem: str,
                letters: Sequence[PrintLetter], sequence: int,
                skipped: list[Skipped], job: dict[str, str]) -> PrintFile | None:
    """Merge ``letters`` into ``print/<as-of>/<stem>.pdf`` after a cover sheet, with its
    manifest; letters that cannot be merged go to ``skipped``. None when no letter could be
    merged."""
    merged = pikepdf.new()
    sources: list[pikepdf.Pdf] = []
    rows: list[dict[str, Any]] = []
    page = blanks = 0
    try:
        for letter in letters:
            source = _open_letter(run_dir, letter, skipped)
            if source is None:
                continue
            sources.append(source)
            merged.pages.extend(source.pages)
            blank = len(source.pages) % 2
            if blank:
                box = [float(v) for v in source.pages[-1].mediabox]
                merged.add_blank_page(page_size=(box[2] - box[0], box[3] - box[1]))
            sequence += 1
            rows.append({"sequence": sequence, "account_id": letter.account_id,
                         "postal_code": letter.postal_code, "first_page": page + 1,
                         "page_count": letter.pages, "blank_pages_added": blank})
            page += letter.pages + blank
            blanks += blank
        if not rows:
            return None
        box = [float(v) for v in merged.pages[0].mediabox]
        cover = _cover(job, brand, stem, stage, rows, page, (box[2] - box[0], box[3] - box[1]))
        sources.append(cover)
        for i, cover_page in enumerate(cover.pages):
            merged.pages.insert(i, cover_page)
        _label_pages(merged)
        merged.docinfo["/Title"] = (f"Print file {brand} {stem} as of {job['as_of']}, run "
                                    f"{job['run_id']} ({len(rows)} letters)")
        merged.docinfo["/Creator"] = "dunning"
        pdf_path = run_dir / PRINT_DIR / job["as_of"] / f"{stem}.pdf"
        with writing(pdf_path):
            with atomic_file(pdf_path) as handle:
                merged.save(cast(BinaryIO, handle), deterministic_id=True, compress_streams=True,
                            object_stream_mode=pikepdf.ObjectStreamMode.generate)
            with pdf_path.open("rb") as written:
                digest = hashlib.file_digest(written, "sha256")
    finally:
        for source in sources:
            source.close()
        merged.close()
    csv_path = pdf_path.with_suffix(".csv")
    write_csv_atomic(csv_path, MANIFEST_COLUMNS, rows)
    return PrintFile(brand=brand, stage=stage, pdf=pdf_path.relative_to(run_dir).as_posix(),
                     manifest=csv_path.relative_to(run_dir).as_posix(), letters=len(rows),
                     pages=page, blank_pages=blanks, sha256=digest.hexdigest(),
                     sheets=(COVER_PAGES + page) // 2)


def _open_letter(run_dir: Path, letter: PrintLetter,
                 skipped: list[Skipped]) -> pikepdf.Pdf | None:
    """The letter's PDF, once its bytes match the manifest; else None, with the reason
    added to ``skipped`` and logged (by account id)."""

    def skip(reason: str) -> None:
        log.warning("print file: left out %s: %s", letter.account_id, reason)
        skipped.append(Skipped(account_id=letter.account_id, brand=letter.brand,
                               stage=letter.stage, path=letter.path, reason=reason))

    try:
        data = read_regular(run_dir / letter.path, limit=MAX_LETTER_BYTES)
    except OSError as exc:
        skip(f"cannot read {letter.path}: {reason(exc)}")
        return None
    if hashlib.sha256(data).hexdigest() != letter.sha256:
        skip(f"{letter.path} differs from the run manifest (sha256): changed after the run")
        return None
    try:
        source = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        skip("encrypted (its brand encrypts letters for e-mail delivery): an encrypted "
             "letter cannot be merged into a print file")
        return None
    except pikepdf.PdfError as exc:
        skip(f"not a readable PDF: {type(exc).__name__}")
        return None
    if source.is_encrypted:
        source.close()
        skip("encrypted (its brand encrypts letters for e-mail delivery): an encrypted "
             "letter cannot be merged into a print file")
        return None
    if len(source.pages) != letter.pages:
        source.close()
        skip(f"has {len(source.pages)} pages, the run manifest says {letter.pages}")
        return None
    return source


def _remove_old_files(out: Path, keep: set[Path]) -> None:
    """Remove print files of an earlier ``make_print_files`` on this run that this one did
    not write again (a stage split into fewer parts, or left with no letter)."""
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".pdf", ".csv") and path not in keep:
            path.unlink()
