"""docs/figures.md: every figure in its example tables is recomputed from the samples;
docs/domain.md: every reference to it names a section it has, and nothing refers to a file
outside the repository instead; every link between the README and docs/ leads to a file and,
with an anchor, to a heading there."""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal

from dunning.letter import Dunning, Plan
from dunning.records import Record, read_records

from .helpers import ROOT, SAMPLE_FILES, SAMPLES_AS_OF

DOC = ROOT / "docs" / "figures.md"
ROW = re.compile(r"^\| `(\w+)` \|.*\| (-?[\d,]+(?:\.\d+)?) \|$")


def _examples() -> dict[str, dict[str, Decimal]]:
    examples: dict[str, dict[str, Decimal]] = {}
    current = None
    for line in DOC.read_text("utf-8").splitlines():
        heading = re.match(r"^## Example \d+ .*\((\S+)\)$", line)
        if heading:
            current = examples.setdefault(heading.group(1), {})
        elif current is not None and (row := ROW.match(line)):
            current[row.group(1)] = Decimal(row.group(2).replace(",", ""))
    return examples


def _figures(plan: Plan) -> dict[str, Decimal]:
    items, options = plan.items, plan.options
    assert options is not None
    figures = {
        "dpd": Decimal(items.dpd), "principal": items.principal, "interest": items.interest,
        "penalty": items.penalty, "compound": items.compound, "fees": items.fees,
        "paid": -items.paid, "total": items.total,
    }
    if options.settlement:
        figures["settlement"] = options.settlement.amount
    for p in options.installments:
        figures[f"plan_{p.months}"] = p.payment
        figures[f"plan_{p.months}_total"] = p.total
    if options.extension:
        figures["extension_cost"] = options.extension.cost
    return figures


def test_every_documented_figure_is_what_the_program_computes(dunning: Dunning) -> None:
    examples = _examples()
    assert len(examples) >= 3
    records = {r.account_id: r for r in read_records(SAMPLE_FILES, dunning.record_rules())
               if isinstance(r, Record)}
    checked = 0
    for account_id, documented in examples.items():
        figures = _figures(dunning.plan(records[account_id], SAMPLES_AS_OF))
        for key, value in documented.items():
            assert figures[key] == value, (account_id, key, figures[key], value)
            checked += 1
    assert checked >= 25


DOMAIN = ROOT / "docs" / "domain.md"
#: A reference to the domain page: ``docs/domain.md §4.6``, also as a link
#: (``[`docs/domain.md`](domain.md) §6``) or a Python literal (````docs/domain.md```` §2).
DOMAIN_REF = re.compile(r"domain\.md\S*\s*§\s*(\d+(?:\.\d+)?)")
#: What pointed at the brief outside the repository: a relative ``shared/`` path (an absolute
#: example path such as ``/shared/letters`` in docs/cluster.md is not one), ``/work/shared``,
#: the words "domain brief".
OUTSIDE = re.compile(r"(?<![\w/])shared/|/work/shared|domain brief", re.IGNORECASE)


def _tracked_text_files() -> list[str]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode("utf-8").split("\0")
    return [n for n in names if n and (ROOT / n).is_file() and not n.startswith(
        "templates/assets/fonts/") and not n.endswith((".png", ".svg", ".mo", ".pdf", ".otf"))]


def _domain_sections() -> set[str]:
    """The numbers of docs/domain.md's headings: ``## 4. The figures`` → 4,
    ``### 4.6 Installment plans`` → 4.6."""
    found = set()
    for line in DOMAIN.read_text("utf-8").splitlines():
        heading = re.match(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", line)
        if heading:
            found.add(heading.group(1))
    return found


def test_the_domain_page_has_its_sections() -> None:
    sections = _domain_sections()
    assert {str(n) for n in range(1, 9)} <= sections
    assert {"2.1", "2.12", "4.3", "4.6", "6.1", "6.2"} <= sections


def test_nothing_refers_to_a_file_outside_the_repository() -> None:
    found = []
    for name in _tracked_text_files():
        if name == "tests/test_docs.py":  # names them, to forbid them
            continue
        try:
            text = (ROOT / name).read_text("utf-8")
        except UnicodeDecodeError:
            continue
        found += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}"
                  for m in OUTSIDE.finditer(text)]
    assert not found, found


def test_every_domain_reference_names_a_section_that_exists() -> None:
    sections = _domain_sections()
    checked = 0
    for name in _tracked_text_files():
        try:
            text = (ROOT / name).read_text("utf-8")
        except UnicodeDecodeError:
            continue
        for m in DOMAIN_REF.finditer(text):
            assert m.group(1) in sections, f"{name}: {m.group()} names no section of docs/domain.md"
            checked += 1
    assert checked >= 20


#: A Markdown link's target: ``[text](target)``, not an image's source.
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as
    hyphens, ``-1``, ``-2`` … after a repeated one (headings inside code blocks are none)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_every_link_of_the_readme_and_docs_leads_somewhere() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken, checked = [], 0
    for page in pages:
        text = page.read_text("utf-8")
        for target in LINK.findall(re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)):
            if re.match(r"[a-z]+:", target):  # http(s), mailto: not checked here
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            checked += 1
            if not file.exists() or ROOT not in file.parents:
                broken.append(f"{page.relative_to(ROOT)}: {target}: no such file")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(
                    file.read_text("utf-8")):
                broken.append(f"{page.relative_to(ROOT)}: {target}: no such heading")
    assert not broken, broken
    assert checked >= 50
