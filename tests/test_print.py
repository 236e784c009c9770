"""Print files and window envelopes, on real rendered letters.

Print files: each merged PDF holds exactly the letters its print manifest lists, in mailing
order, page for page the letters the run wrote, each padded to an even page count; letters that
are missing, changed or encrypted are left out with a reason and exit code 1.

Window envelopes: on the first page, the text inside the envelope window (per poppler's
``pdftotext -bbox``) is the sender's return line and the addressee, and nothing else; the
title starts below it; a brand's own window moves the block there.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import yaml

from dunning.batch import RunSummary, run_batch
from dunning.cli import main
from dunning.config import (
    PAGE_MARGIN_LEFT_MM,
    PAGE_MARGIN_TOP_MM,
    Encryption,
    Window,
    load_brands,
)
from dunning.errors import ConfigError, RenderError
from dunning.letter import Dunning
from dunning.locale import translations
from dunning.printfile import MANIFEST_COLUMNS, make_print_files

from .helpers import (
    PT_PER_MM,
    ROOT,
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    pdf_text,
    pdf_words,
    raw_rows,
    read_manifest_lines,
    sample_record,
    squash,
    with_brand,
    write_export,
)

# --------------------------------------------------------------------------- print files


@pytest.fixture(scope="module")
def printed(sample_run: tuple[RunSummary, Path], tmp_path_factory: pytest.TempPathFactory,
            ) -> tuple[Path, Any]:
    """The print files of a copy of the sample run (the session's run stays as it is)."""
    _, out = sample_run
    copy = tmp_path_factory.mktemp("print") / "run"
    shutil.copytree(out, copy)
    return copy, make_print_files(copy)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _natural(text: str) -> list[Any]:
    """Natural order, written apart from dunning.printfile: digit runs compare as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part.lower())
            for part in re.split(r"(\d+)", text) if part]


def test_every_rendered_letter_is_in_one_print_file(printed: tuple[Path, Any]) -> None:
    run, result = printed
    assert result.exit_code == 0
    assert result.skipped == []
    rendered = [e for e in read_manifest_lines(run) if e["outcome"] == "rendered"]
    listed: dict[tuple[str, str], list[str]] = {}
    for made in result.files:
        rows = _csv(run / made.manifest)
        assert list(rows[0]) == list(MANIFEST_COLUMNS)
        listed[(made.brand, made.stage)] = [row["account_id"] for row in rows]
        assert made.pdf == f"print/{SAMPLES_AS_OF}/{made.brand}-{made.stage}.pdf"
    expected: dict[tuple[str, str], list[str]] = {}
    for entry in rendered:
        expected.setdefault((entry["brand"], entry["stage"]), []).append(entry["account_id"])
    assert {k: sorted(v) for k, v in listed.items()} == {
        k: sorted(v) for k, v in expected.items()}
    assert len(result.files) >= 10  # four brands, three stages (a few combinations unused)


def test_print_files_are_in_mailing_order(printed: tuple[Path, Any]) -> None:
    run, result = printed
    postal = {e["account_id"]: e["postal_code"] for e in read_manifest_lines(run)
              if e["outcome"] == "rendered"}
    rows_by_id = {row["account_id"]: row for path in SAMPLE_FILES for row in raw_rows(path)}
    for made in result.files:
        rows = _csv(run / made.manifest)
        assert [int(row["sequence"]) for row in rows] == list(range(1, len(rows) + 1))
        keys = [(not row["postal_code"], _natural(row["postal_code"]),
                 _natural(row["account_id"])) for row in rows]
        assert keys == sorted(keys), made.manifest
        for row in rows:  # the postal code is the record's, through the run manifest
            assert row["postal_code"] == postal[row["account_id"]]
            assert row["postal_code"] == rows_by_id[row["account_id"]].get("postal_code", "")


def test_print_file_pages_match_the_manifest_and_the_letters(printed: tuple[Path, Any]) -> None:
    """Page by page, the merged file is the letters the run wrote, in the manifest's order,
    each followed by a blank page when its count is odd; the reference printed on each
    letter's pages is that letter's."""
    run, result = printed
    run_manifest = {e["account_id"]: e for e in read_manifest_lines(run)
                    if e["outcome"] == "rendered"}
    contracts = {row["account_id"]: row["contract_no"]
                 for path in SAMPLE_FILES for row in raw_rows(path)}
    blanks_seen = 0
    for made in result.files:
        rows = _csv(run / made.manifest)
        text_pages = subprocess.run(
            ["pdftotext", "-layout", "-enc", "UTF-8", str(run / made.pdf), "-"],
            capture_output=True, check=True).stdout.decode("utf-8").split("\f")
        cover = made.cover_pages
        with pikepdf.open(run / made.pdf) as merged:
            assert len(merged.pages) == cover + made.pages
            assert len(merged.pages) % 2 == 0, "duplex: the file has whole sheets"
            assert len(merged.pages) == 2 * made.sheets
            expected_first = 1
            for row in rows:
                first, count = int(row["first_page"]), int(row["page_count"])
                blank = int(row["blank_pages_added"])
                entry = run_manifest[row["account_id"]]
                assert first == expected_first
                assert count == entry["pages"]
                assert blank == count % 2
                assert (count + blank) % 2 == 0
                with pikepdf.open(run / entry["path"]) as letter:
                    for i, page in enumerate(letter.pages):
                        copied = merged.pages[cover + first - 1 + i]
                        assert copied.Contents.read_bytes() == page.Contents.read_bytes()
                        assert list(copied.mediabox) == list(page.mediabox)
                        assert squash(contracts[row["account_id"]]) in squash(
                            text_pages[cover + first - 1 + i])
                    if blank:
                        padding = merged.pages[cover + first - 1 + count]
                        assert list(padding.mediabox) == list(letter.pages[-1].mediabox)
                        assert text_pages[cover + first - 1 + count].strip() == ""
                        assert padding.obj.get("/Contents") is None or not \
                            padding.Contents.read_bytes().strip()
                        blanks_seen += 1
                expected_first += count + blank
            assert expected_first - 1 == made.pages
    assert blanks_seen > 0, "the samples include letters with an odd page count"
    assert blanks_seen == sum(made.blank_pages for made in result.files)


def test_print_files_carry_no_attachment_and_no_personal_metadata(
    printed: tuple[Path, Any],
) -> None:
    run, result = printed
    names = [row["name"] for path in SAMPLE_FILES for row in raw_rows(path)]
    for made in result.files:
        with pikepdf.open(run / made.pdf) as merged:
            assert len(merged.attachments) == 0
            info = " ".join(str(v) for v in merged.docinfo.values())
            assert made.brand in info
            assert not any(name in info for name in names)
    for made in result.files:
        assert re.fullmatch(r"print/\d{4}-\d\d-\d\d/[a-z]+-[a-z]+\.pdf", made.pdf)


def test_print_files_are_the_same_bytes_again(
    printed: tuple[Path, Any], tmp_path: Path,
) -> None:
    run, result = printed
    again = tmp_path / "again"
    shutil.copytree(run, again)
    second = make_print_files(again)
    assert [f.sha256 for f in second.files] == [f.sha256 for f in result.files]
    for made in result.files:
        assert (again / made.manifest).read_bytes() == (run / made.manifest).read_bytes()


def test_a_stage_split_into_parts_keeps_the_sequence(
    printed: tuple[Path, Any], tmp_path: Path,
) -> None:
    run, result = printed
    copy = tmp_path / "parts"
    shutil.copytree(run, copy)
    parts = make_print_files(copy, letters_per_file=5)
    whole = {(f.brand, f.stage): _csv(run / f.manifest) for f in result.files}
    joined: dict[tuple[str, str], list[dict[str, str]]] = {}
    for made in parts.files:
        rows = _csv(copy / made.manifest)
        assert 1 <= len(rows) <= 5
        assert int(rows[0]["first_page"]) == 1
        joined.setdefault((made.brand, made.stage), []).extend(rows)
    for key, rows in whole.items():
        assert [(r["sequence"], r["account_id"]) for r in joined[key]] == [
            (r["sequence"], r["account_id"]) for r in rows]
    # the single files of the earlier call are gone: no stale file beside the parts
    night = copy / "print" / SAMPLES_AS_OF.isoformat()
    assert not (night / "mingtai-formal.pdf").exists()
    assert (night / "mingtai-formal.part01.pdf").exists()


def test_natural_order_and_missing_postal_codes_last(tmp_path: Path, dunning: Dunning) -> None:
    base = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == "MT-000004")
    plan = [("T-10", "200120"), ("T-2", ""), ("T-9", "100010"), ("T-10a", "100010"),
            ("T-100", "100010")]
    rows = [{**base, "account_id": account, "postal_code": postal,
             "contract_no": f"C-{account}"} for account, postal in plan]
    out = tmp_path / "run"
    run_batch([write_export(tmp_path / "in.csv", rows)], as_of=SAMPLES_AS_OF, out_dir=out,
              dunning=dunning, workers=1)
    result = make_print_files(out)
    [made] = result.files
    order = [row["account_id"] for row in _csv(out / made.manifest)]
    assert order == ["T-9", "T-10a", "T-100", "T-10", "T-2"]


def test_changed_missing_and_encrypted_letters_are_left_out(
    tmp_path: Path, dunning: Dunning,
) -> None:
    """A brand that encrypts its letters cannot be printed from them; a letter changed or
    deleted after the run is left out; the others are printed; exit code 1."""
    rows = [r for r in raw_rows(SAMPLE_FILES[0])
            if r["account_id"] in ("MT-000004", "MT-000005", "JQ-000004", "JQ-000005",
                                   "JQ-000006")]
    locked = with_brand(dunning, "mingtai", encryption=Encryption(password="id_last6"))
    out = tmp_path / "run"
    summary = run_batch([write_export(tmp_path / "in.csv", rows)], as_of=SAMPLES_AS_OF,
                        out_dir=out, dunning=locked, workers=1)
    assert summary.counts["rendered"] == 5
    entries = {e["account_id"]: e for e in read_manifest_lines(out)}
    changed = out / entries["JQ-000005"]["path"]
    changed.write_bytes(changed.read_bytes() + b"\n% changed\n")
    (out / entries["JQ-000006"]["path"]).unlink()
    result = make_print_files(out)
    assert result.exit_code == 1
    reasons = {s.account_id: s.reason for s in result.skipped}
    assert set(reasons) == {"MT-000004", "MT-000005", "JQ-000005", "JQ-000006"}
    assert reasons["MT-000004"].startswith("encrypted")
    assert "differs from the run manifest" in reasons["JQ-000005"]
    assert "cannot read" in reasons["JQ-000006"]
    [made] = result.files
    assert [r["account_id"] for r in _csv(out / made.manifest)] == ["JQ-000004"]
    # the command says the same, with exit code 1
    assert main(["--home", str(ROOT), "print", str(out)]) == 1


def test_run_with_print_file_and_the_print_command(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rows = [r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] in ("JQ-000004", "JQ-000001")]
    out = tmp_path / "run"
    code = main(["--home", str(ROOT), "-q", "run", str(write_export(tmp_path / "in.csv", rows)),
                 "--as-of", SAMPLES_AS_OF.isoformat(), "--out", str(out), "--workers", "1",
                 "--print-file"])
    assert code == 0
    shown = capsys.readouterr().out
    made = sorted(p.relative_to(out).as_posix() for p in (out / "print").rglob("*.pdf"))
    assert made, shown
    for name in made:
        assert name in shown
    assert main(["--home", str(ROOT), "print", str(out)]) == 0
    assert main(["--home", str(ROOT), "print", str(tmp_path / "nowhere")]) == 2


# --------------------------------------------------------------------------- window envelopes


def _window_box(window: Window) -> tuple[float, float, float, float]:
    return (float(window.left) * PT_PER_MM, float(window.top) * PT_PER_MM,
            float(window.left + window.width) * PT_PER_MM,
            float(window.top + window.height) * PT_PER_MM)


def _allowed_in_window(row: dict[str, str], locale: str, dunning: Dunning) -> str:
    """Everything the window may show, squashed: the brand's return line (short name,
    mailing address, postal code) and the addressee (name, address, postal code)."""
    from dunning.config import localized

    brand = dunning.brands[row["brand"]]
    personal = translations(dunning.settings.locales_dir, locale).gettext(
        "%(name)s (personal)") % {"name": row["name"]}
    return squash("·".join([localized(brand.short_name, locale),
                            localized(brand.mailing_address, locale), brand.postal_code,
                            personal, row["address"], row.get("postal_code", "")]))


def test_the_window_shows_the_return_line_and_the_addressee_only(
    sample_run: tuple[RunSummary, Path], dunning: Dunning,
) -> None:
    """Every sample letter: each word touching the DL window is part of the return line or
    the addressee; the whole addressee is inside it; the title starts below it."""
    _, out = sample_run
    rows = {row["account_id"]: row for path in SAMPLE_FILES for row in raw_rows(path)}
    checked = 0
    for entry in read_manifest_lines(out):
        if entry["outcome"] != "rendered":
            continue
        row = rows[entry["account_id"]]
        window = dunning.brands[row["brand"]].window
        assert window == Window()  # the samples use the default DL window
        box = _window_box(window)
        words = pdf_words(out / entry["path"])
        allowed = _allowed_in_window(row, entry["locale"], dunning)
        shown = [w for w in words if w.touches(box)]
        for word in shown:
            assert word.inside(box), (entry["account_id"], word)
            assert squash(word.text) in allowed, (entry["account_id"], word.text)
        seen = squash("".join(w.text for w in shown))
        assert squash(row["name"]) in seen, entry["account_id"]
        for line in row["address"].splitlines():
            assert squash(line) in seen, entry["account_id"]
        with pikepdf.open(out / entry["path"]) as pdf:
            title = str(pdf.docinfo["/Title"]).split(" · ", 1)[1]
        [head] = [w for w in words if squash(title).startswith(squash(w.text))][:1]
        assert head.y0 > box[3], (entry["account_id"], "title not below the window")
        checked += 1
    assert checked > 80


def test_a_brand_window_moves_the_addressee(tmp_path: Path, dunning: Dunning) -> None:
    """A right-hand window (110 mm from the left, 50 mm from the top, 90 × 40 mm)."""
    window = Window(left=Decimal(110), top=Decimal(50), width=Decimal(90), height=Decimal(40))
    moved = with_brand(dunning, "mingtai", window=window)
    record = sample_record(moved, "MT-000004")
    data = moved.render(moved.plan(record, SAMPLES_AS_OF)).pdf.data
    words = pdf_words(data)
    box = _window_box(window)
    row = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == "MT-000004")
    allowed = _allowed_in_window(row, "zh_CN", moved)
    inside = [w for w in words if w.touches(box)]
    assert squash(row["name"]) in squash("".join(w.text for w in inside))
    for word in inside:
        assert word.inside(box), word
        assert squash(word.text) in allowed, word
    default = _window_box(Window())
    assert not [w for w in words if w.touches(default) and squash(w.text) in squash(
        row["address"])], "nothing of the address is left at the default position"


def test_the_page_margins_match_letter_css() -> None:
    css = (ROOT / "templates" / "assets" / "letter.css").read_text("utf-8")
    match = re.search(r"@page\s*\{[^}]*?margin:\s*(\d+)mm (\d+)mm (\d+)mm (\d+)mm", css)
    assert match, "letter.css sets the page margins in mm"
    assert (Decimal(match[1]), Decimal(match[4])) == (PAGE_MARGIN_TOP_MM, PAGE_MARGIN_LEFT_MM)


@pytest.mark.parametrize(("window", "message"), [
    ({"wdth": 90}, r"brands\.mingtai\.window\.wdth.*did you mean 'width'"),
    ({"top": 30}, r"brands\.mingtai\.window\.top.*greater than or equal to 40"),
    ({"top": 65, "height": 50}, r"above the DL fold at 105 mm"),
    ({"left": 120, "width": 90}, r"205 mm from the left edge"),
    ({"left": "twenty"}, r"brands\.mingtai\.window\.left"),
])
def test_bad_window_config_is_refused(tmp_path: Path, window: dict[str, Any],
                                      message: str) -> None:
    data = yaml.safe_load((ROOT / "config" / "brands.yaml").read_text("utf-8"))
    data["brands"]["mingtai"]["window"] = window
    path = tmp_path / "brands.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_brands(path, ROOT / "templates" / "assets")


def test_a_window_in_millimetres_is_read_from_the_config(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "config" / "brands.yaml").read_text("utf-8"))
    data["brands"]["jinqiao"]["window"] = {"left": 22.5, "top": 50, "width": 90, "height": 45}
    path = tmp_path / "brands.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    brands = load_brands(path, ROOT / "templates" / "assets")
    assert brands["jinqiao"].window == Window(left=Decimal("22.5"), top=Decimal(50),
                                              width=Decimal(90), height=Decimal(45))
    assert brands["mingtai"].window == Window()


def test_an_address_too_long_for_the_window_fails_the_letter(
    tmp_path: Path, dunning: Dunning,
) -> None:
    """Cut off by the window, the address would be undeliverable: the letter fails, and
    the reason names no part of the address."""
    record = sample_record(dunning, "JQ-000018")
    lines = ("新疆维吾尔自治区伊犁哈萨克自治州伊宁市解放西路街道阿依墩社区幸福巷",) * 6
    long = dataclasses.replace(record, address=lines)
    with pytest.raises(RenderError, match="does not fit") as caught:
        dunning.render(dunning.plan(long, SAMPLES_AS_OF))
    assert "伊宁" not in str(caught.value)
    # the sample's own long address and name fit, in the smaller size
    assert dunning.render(dunning.plan(record, SAMPLES_AS_OF)).pdf.pages >= 2


def test_print_files_carry_the_night_and_a_cover_sheet(printed: tuple[Path, Any]) -> None:
    """Names carry the as-of date; the cover says job, brand, stage, letters, sheets, first
    and last account id, and is outside the letters' page numbering (page labels)."""
    run, result = printed
    run_id = json.loads((run / "summary.json").read_text("utf-8"))["run_id"]
    for made in result.files:
        assert made.pdf.startswith(f"print/{SAMPLES_AS_OF}/{made.brand}-{made.stage}")
        rows = _csv(run / made.manifest)
        cover = pdf_text((run / made.pdf).read_bytes()).split("\f")[0]
        for fact in (run_id, made.brand, made.stage, f"letters {len(rows)}",
                     f"{made.sheets}", rows[0]["account_id"], rows[-1]["account_id"]):
            assert fact in " ".join(cover.split()), (fact, cover)
        with pikepdf.open(run / made.pdf) as merged:
            labels = merged.Root.PageLabels.Nums
            assert int(labels[0]) == 0
            assert str(labels[1].P) == "cover-"
            assert int(labels[2]) == made.cover_pages
            assert "/P" not in labels[3]
        assert int(rows[0]["first_page"]) == 1
