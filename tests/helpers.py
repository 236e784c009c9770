"""Shared test helpers: sample paths, PDF text extraction, an independent figure computation.

The figures here are computed from the raw sample rows with fractions and integer cents, not
with dunning.money, so that a test compares two independent computations.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import re
import subprocess
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from dunning.config import Brands
from dunning.fonts import PREFIX
from dunning.letter import Dunning
from dunning.records import Record, read_records

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
SAMPLE_FILES = [SAMPLES / "accounts.csv", SAMPLES / "accounts.yaml"]
BAD_FILES = [SAMPLES / "bad" / "bad_records.csv", SAMPLES / "bad" / "bad_records.yaml"]
SAMPLES_AS_OF = date(2026, 11, 20)


def pdf_text(path: Path | bytes) -> str:
    """Text of a PDF via poppler's pdftotext (a tool independent of WeasyPrint)."""
    if isinstance(path, bytes):
        out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"], input=path,
                             capture_output=True, check=True)
    else:
        out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
                             capture_output=True, check=True)
    return out.stdout.decode("utf-8")


#: PDF points per millimetre.
PT_PER_MM = 72 / 25.4


@dataclass(frozen=True)
class Word:
    """A word pdftotext found, with its box in points from the page's top-left corner."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def inside(self, box: tuple[float, float, float, float], slack: float = 0.5) -> bool:
        """Whether the whole word lies in ``box`` (x0, y0, x1, y1 in points)."""
        return (self.x0 >= box[0] - slack and self.y0 >= box[1] - slack
                and self.x1 <= box[2] + slack and self.y1 <= box[3] + slack)

    def touches(self, box: tuple[float, float, float, float]) -> bool:
        """Whether any part of the word lies in ``box``."""
        return self.x0 < box[2] and self.x1 > box[0] and self.y0 < box[3] and self.y1 > box[1]


def pdf_words(path: Path | bytes, page: int = 1) -> list[Word]:
    """The words of one page with their positions, per poppler's ``pdftotext -bbox``."""
    source = "-" if isinstance(path, bytes) else str(path)
    out = subprocess.run(["pdftotext", "-bbox", "-enc", "UTF-8", "-f", str(page), "-l",
                          str(page), source, "-"], input=path if isinstance(path, bytes)
                         else None, capture_output=True, check=True).stdout.decode("utf-8")
    return [Word(html.unescape(m["text"]), *(float(m[k]) for k in ("x0", "y0", "x1", "y1")))
            for m in _WORD.finditer(out)]


_WORD = re.compile(r'<word xMin="(?P<x0>[\d.]+)" yMin="(?P<y0>[\d.]+)" '
                   r'xMax="(?P<x1>[\d.]+)" yMax="(?P<y1>[\d.]+)">(?P<text>[^<]*)</word>')


def embedded_families(pdf: bytes) -> set[str]:
    """Font families embedded in a PDF, per poppler's pdffonts (e.g. 'Noto Sans CJK TC'); a
    prepared subset (dunning.fonts: 'dunning Noto Sans CJK TC') counts as its family."""
    out = subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=False)
    if out.returncode:  # older poppler: no stdin
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
            handle.write(pdf)
            handle.flush()
            out = subprocess.run(["pdffonts", handle.name], capture_output=True, check=True)
    families = set()
    for line in out.stdout.decode().splitlines()[2:]:
        name = line.split()[0].split("+")[-1]
        name = re.sub(r"-(Bold|Regular|Italic|Medium|Light|Black|SemiBold)$", "", name)
        families.add(name.replace("-", " ").removeprefix(PREFIX))
    return families


def write_export(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (plain dicts, as :func:`raw_rows` gives them) as a CSV export."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def hanging_home(home: Path, contract_no: str = "MT-LN-2025-000248") -> Path:
    """A copy of the project's config, templates and catalogs in ``home`` whose letter for
    ``contract_no`` (MT-000004's) loops for hours in a template: for per-letter time limits."""
    import shutil

    for folder in ("config", "templates", "locales"):
        shutil.copytree(ROOT / folder, home / folder)
    partial = home / "templates" / "letter" / "partials" / "contacts.html"
    partial.write_text(
        f'{{% if borrower.contract_no == "{contract_no}" %}}{{% for i in range(100000) %}}'
        "{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}"
        + partial.read_text("utf-8"), "utf-8")
    return home


def read_manifest_lines(out: Path) -> list[dict[str, Any]]:
    """The lines of a run's manifest.jsonl."""
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text("utf-8").splitlines()]


def squash(text: str) -> str:
    """Text without any whitespace, so that line breaks in the PDF do not matter."""
    return "".join(text.split())


def pdf_pages(path: Path) -> int:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise AssertionError(f"pdfinfo gave no page count for {path}")


def raw_rows(path: Path) -> list[dict[str, Any]]:
    """The sample rows as plain dicts of strings (as the exporter wrote them)."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = data["records"] if isinstance(data, dict) else data
    return [{k: ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
             for k, v in row.items()} for row in rows]


def cents(value: Fraction) -> int:
    """Round half up to whole cents (value in yuan)."""
    scaled = value * 100
    floor = scaled.numerator // scaled.denominator
    return floor + (1 if scaled - floor >= Fraction(1, 2) else 0)


def fmt(c: int) -> str:
    """Cents as the zh_CN table shows them: 12,345.67 / -200.00."""
    sign = "-" if c < 0 else ""
    c = abs(c)
    return f"{sign}{c // 100:,}.{c % 100:02d}"


def expected_figures(row: dict[str, Any], as_of: date, max_annual: Fraction) -> dict[str, Any]:
    """dpd and every itemized line in cents, from docs/domain.md §4, independently."""
    def money(name: str) -> Fraction:
        return Fraction(row.get(name) or "0")

    dpd = (as_of - date.fromisoformat(row["due_date"])).days
    rate = Fraction(row["penalty_rate_daily"])
    capped = rate * 365 > max_annual
    if capped:
        rate = max_annual / 365
    principal, interest = money("overdue_principal"), money("overdue_interest")
    penalty = cents(principal * rate * dpd) if dpd > 0 else 0
    compound = cents(interest * rate * dpd) if dpd > 0 and row.get("compound") == "true" else 0
    lines = {
        "principal": cents(principal), "interest": cents(interest), "penalty": penalty,
        "compound": compound, "fees": cents(money("fees")), "paid": -cents(money("paid_since_due")),
    }
    return {"dpd": dpd, "capped": capped, "lines": lines, "total": sum(lines.values())}


def expected_outcome(row: dict[str, Any], as_of: date, max_annual: Fraction,
                     stages: tuple[int, int] = (30, 90)) -> tuple[str, str | None]:
    """(outcome, stage or suppression code) for a valid sample row, per docs/domain.md §1."""
    figures = expected_figures(row, as_of, max_annual)
    dpd = figures["dpd"]
    if dpd < 1:
        return "suppressed", "not_overdue"
    for flag in ("deceased", "bankrupt", "disputed", "cease_contact"):
        if row.get(flag) == "true":
            return "suppressed", flag
    if figures["total"] <= 0:
        return "suppressed", "nothing_owed"
    if row.get("last_notice_date"):
        since = (as_of - date.fromisoformat(row["last_notice_date"])).days
        if 0 <= since < 7:
            return "suppressed", "recent_notice"
    stage = "reminder" if dpd <= stages[0] else "formal" if dpd <= stages[1] else "final"
    return "rendered", stage


def check_id(id17: str) -> str:
    """GB 11643 check character, written independently of dunning.identity."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(id17))
    return "10X98765432"[total % 11]


def sample_record(dunning: Dunning, account_id: str) -> Record:
    """The validated sample record ``account_id``."""
    return next(r for r in read_records(SAMPLE_FILES, dunning.record_rules())
                if isinstance(r, Record) and r.account_id == account_id)


def with_brand(dunning: Dunning, key: str, **changes: Any) -> Dunning:
    """A copy of ``dunning`` whose brand ``key`` has ``changes`` (e.g. ``encryption=``,
    ``window=``), sharing its warm renderer."""
    brands = dict(dunning.brands.by_key)
    brands[key] = brands[key].model_copy(update=changes)
    return dataclasses.replace(dunning, brands=Brands(by_key=brands, path=dunning.brands.path),
                               _renderer=dunning.renderer)
