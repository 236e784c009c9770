"""``dunning verify``: sealed letters from a real run checked through the CLI, one verdict per
file; the printed verification code read back from the rendered page by an independent
decoder (zbarimg) and checked offline against the ledger."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dunning.batch import run_batch
from dunning.cli import main
from dunning.config import Signing
from dunning.letter import Dunning
from dunning.sign import load_signer, sign_pdf
from dunning.vcode import (
    QR_ATTRIBUTE,
    QR_BORDER,
    check_code,
    code_for,
    mac,
    qr_attribute,
    qr_modules,
)

from .helpers import SAMPLE_FILES, SAMPLES_AS_OF, pdf_text
from .pki import P12_PASSWORD, PASSWORD_ENV, SECRET, SECRET_ENV, Authority, Trust, write_p12

ACCOUNTS = ("MT-000004", "JQ-000001")


@pytest.fixture(scope="module")
def home(trust: Trust) -> Path:
    """A project folder with the shipped templates and catalogs and the sealed config."""
    return trust.home


@pytest.fixture(scope="module")
def run(sealed: Dunning, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A run over two sample accounts (one signed, one encrypted and signed): their files."""
    folder = tmp_path_factory.mktemp("verify")
    with SAMPLE_FILES[0].open(encoding="utf-8", newline="") as source:
        rows = list(csv.DictReader(source))
    picked = folder / "accounts.csv"
    with picked.open("w", encoding="utf-8", newline="") as target:
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["account_id"] in ACCOUNTS)
    out = folder / "out"
    summary = run_batch([picked], as_of=SAMPLES_AS_OF, out_dir=out, dunning=sealed, workers=1)
    assert summary.exit_code == 0
    return {path.stem: path for path in out.rglob("*.pdf")}


def verify(home: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["--home", str(home), "verify", *args])
    return code, capsys.readouterr().out.splitlines()


def test_a_sealed_letter_passes_with_its_ledger(
    home: Path, run: dict[str, Path], capsys: pytest.CaptureFixture[str],
) -> None:
    letter = run["MT-000004"]
    out_dir = letter.parents[2]
    code, lines = verify(home, str(letter), "--ledger-dir", str(out_dir), capsys=capsys)
    assert code == 0, lines
    (line,) = lines
    assert line.startswith(f"OK    {letter}: ")
    assert "signature valid over the whole file" in line
    assert "chained to the brand's trust anchor" in line
    assert "reference MT-LN-2025-000248-20261120" in line
    assert "the attached total is the one printed on the letter" in line
    assert "in the ledger" in line


def test_the_attached_total_must_be_the_printed_one(run: dict[str, Path]) -> None:
    from decimal import Decimal

    from dunning.archive import read_letter_data
    from dunning.verify import printed_total

    data = run["MT-000004"].read_bytes()
    total = Decimal(read_letter_data(data)["letter"]["total"])
    assert printed_total(data, str(total)) is True
    assert printed_total(data, str(total + Decimal("0.01"))) is False


def test_an_encrypted_sealed_letter_passes_with_its_password(
    home: Path, run: dict[str, Path], sealed: Dunning, capsys: pytest.CaptureFixture[str],
) -> None:
    letter = run["JQ-000001"]
    code, lines = verify(home, str(letter), capsys=capsys)
    assert code == 1
    assert "pass --password" in lines[0]
    code, lines = verify(home, str(letter), "--password", "207331", "--out",
                         str(letter.parents[2]), capsys=capsys)
    assert code == 0, lines


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_one_verdict_per_file_and_exit_1_when_any_fails(
    home: Path, run: dict[str, Path], dunning: Dunning, trust: Trust, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = run["MT-000004"]
    data = good.read_bytes()
    changed = bytearray(data)
    changed[data.index(b"stream", len(data) // 4) + 40] ^= 0x01
    appended = data + b"\n1000 0 obj\n<< /Injected true >>\nendobj\n"
    unsigned = dunning.render(dunning.plan(_record(dunning), SAMPLES_AS_OF)).pdf.data
    other = Authority.make("Some Other CA")
    key, cert = other.issue("Impostor Seal")
    p12 = write_p12(tmp_path / "other.p12", key, cert, [other.cert])
    signer = load_signer(Signing(pkcs12=str(p12), password_env=PASSWORD_ENV,
                                 trust_anchor=str(p12)), {PASSWORD_ENV: P12_PASSWORD})
    forged = sign_pdf(unsigned, signer, signing_time=datetime(2026, 11, 20, tzinfo=UTC))
    files = [str(good),
             _write(tmp_path / "changed.pdf", bytes(changed)),
             _write(tmp_path / "appended.pdf", appended),
             _write(tmp_path / "unsigned.pdf", unsigned),
             _write(tmp_path / "forged.pdf", forged)]
    code, lines = verify(home, *files, "--out", str(good.parents[2]), capsys=capsys)
    assert code == 1
    assert len(lines) == len(files)
    verdicts = dict(zip(files, lines, strict=True))
    assert verdicts[files[0]].startswith("OK")
    for path in files[1:]:
        assert verdicts[path].startswith("FAIL"), verdicts[path]
        assert "the ledger has no letter with sha256" in verdicts[path]
    assert "does not match the signed bytes" in verdicts[files[1]]
    assert "does not cover the whole file" in verdicts[files[2]]
    assert "not signed" in verdicts[files[3]]
    assert "does not chain to the brand's trust anchor" in verdicts[files[4]]


def _record(dunning: Dunning) -> object:
    from dunning.records import Record, read_records

    return next(r for r in read_records([SAMPLE_FILES[0]], dunning.record_rules())
                if isinstance(r, Record) and r.account_id == "MT-000004")


# --------------------------------------------------------------------------- codes


def printed_code(letter: Path) -> str:
    """The code as the letter prints it in text (pdftotext)."""
    text = pdf_text(letter)
    line = next(line for line in text.splitlines() if "查证码" in line)
    return line.split("查证码：", 1)[1].strip()


def scanned_code(letter: Path, tmp_path: Path) -> str:
    """The QR code of the letter's last page, as zbarimg (an independent decoder) reads it
    from the page rendered at 150 dpi by poppler."""
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "2", "-l", "2", "-singlefile",
                    str(letter), str(tmp_path / "page")], check=True)
    out = subprocess.run(["zbarimg", "--quiet", "--raw", str(tmp_path / "page.png")],
                         capture_output=True, text=True, check=True).stdout
    (code,) = out.split()
    return code


def test_the_qr_code_scans_to_the_printed_code(run: dict[str, Path], sealed: Dunning,
                                              tmp_path: Path) -> None:
    letter = run["MT-000004"]
    scanned = scanned_code(letter, tmp_path)
    assert scanned == printed_code(letter)
    assert scanned == code_for("MT-LN-2025-000248-20261120", sealed.brands["mingtai"])
    with_tool = subprocess.run(["pdftotext", str(letter), "-"], capture_output=True,
                               check=True).stdout
    assert b"MT-LN-2025-000248-20261120" in with_tool


def _painted(rects: Iterable[tuple[int, int, int, int]]) -> set[tuple[int, int]]:
    """The modules (row, column) that ``rects`` (x, y, width, height, in modules of the grid
    with its border) paint, in the QR code's own coordinates (without its border)."""
    return {(y + dy - QR_BORDER, x + dx - QR_BORDER)
            for x, y, w, h in rects for dy in range(h) for dx in range(w)}


def _dark(code: str) -> set[tuple[int, int]]:
    """The dark modules of ``code``'s QR code as segno makes it."""
    import segno

    matrix = segno.make_qr(code, error="m").matrix
    return {(y, x) for y, row in enumerate(matrix) for x, bit in enumerate(row) if bit}


@pytest.mark.parametrize("code", [
    "MT-LN-2025-000248-20261120-K7Q2M-XW4PA", "JQ-2024-0001-20261120-AAAAA-BBBBB", "A", "x" * 120,
])
def test_the_qr_rectangles_paint_exactly_the_dark_modules(code: str) -> None:
    import segno

    matrix = segno.make_qr(code, error="m").matrix
    modules = qr_modules(code)
    assert modules.size == len(matrix) + 2 * QR_BORDER
    assert _painted(modules.rects) == _dark(code)
    assert sum(w * h for _, _, w, h in modules.rects) == len(_dark(code))  # none overlap
    runs = sum(1 for row in matrix for x, bit in enumerate(row)
               if bit and (x == 0 or not row[x - 1]))
    assert len(modules.rects) < runs  # fewer than one per horizontal run


def test_the_qr_attribute_carries_the_code_escaped() -> None:
    assert qr_attribute('A"<b>') == 'data-dunning-qr="A&quot;&lt;b&gt;"'


def test_a_qr_code_with_no_room_above_its_text_fails_the_letter_plainly(
        sealed: Dunning) -> None:
    """The code is painted in the top padding of the element carrying it; without one it
    would cover the text, so the letter fails, saying what to give the element."""
    from dunning.errors import RenderError

    markup = (f'<html lang="en"><body><div {QR_ATTRIBUTE}="MT-1-20261120-AAAAA-BBBBB">'
              "Verification code</div></body></html>")
    with pytest.raises(RenderError, match=r"no room above its text.*padding-top: 18mm") as caught:
        sealed.renderer.render(markup, "en_GB")
    assert caught.value.kind == "stylesheet"
    room = markup.replace("<div ", '<div style="padding-top: 10mm" ')
    assert sealed.renderer.render(room, "en_GB").data.startswith(b"%PDF")


def _page_drawing(letter: Path, page: int) -> list[tuple[str, list[object]]]:
    """The operators of a page's content, as (operator, operands), with pikepdf (qpdf)."""
    import pikepdf

    with pikepdf.open(letter) as pdf:
        return [(str(op), list(operands))
                for operands, op in pikepdf.parse_content_stream(pdf.pages[page - 1])]


def test_the_qr_code_is_painted_over_its_place_as_an_artifact(run: dict[str, Path]) -> None:
    """The modules are painted at the end of the page's content, marked as an artifact (the
    code's text line next to it is what a screen reader reads), one filled path of
    rectangles covering exactly the dark modules of the printed code, 18 mm wide."""
    import pikepdf

    from dunning.archive import tagging_problems

    letter = run["MT-000004"]
    ops = _page_drawing(letter, 2)
    start = max(i for i, (op, args) in enumerate(ops)
                if op == "BMC" and args == [pikepdf.Name.Artifact])
    drawing = ops[start:]
    assert [op for op, _ in drawing[:4]] == ["BMC", "q", "cm", "rg"]
    assert [op for op, _ in drawing[-3:]] == ["f", "Q", "EMC"]
    rects = [tuple(int(v) for v in args) for op, args in drawing[4:-3]]
    assert {op for op, _ in drawing[4:-3]} == {"re"}
    assert _painted(rects) == _dark(printed_code(letter))  # type: ignore[arg-type]
    unit = float(drawing[2][1][0])
    assert unit * qr_modules(printed_code(letter)).size == pytest.approx(18 / 25.4 * 72, abs=0.01)
    with pikepdf.open(letter) as pdf:
        assert tagging_problems(pdf) == []


_VCODE = ('<div class="vcode" data-section="verification" {{ letter.verification.qr }}>'
          '{{ _("Verification code: %(code)s", code=letter.verification.code) }}</div>')


@pytest.mark.parametrize(("brand", "partial", "expected"), [
    # the attribute used the way it was documented before: printed as the element's text
    ("mingtai", '<div class="vcode">{{ letter.verification.qr }} '
                "{{ letter.verification.code }}</div>", "needs its QR code, once"),
    ("mingtai", '<div class="vcode">{{ letter.verification.code }}</div>',
     "needs its QR code, once"),
    ("mingtai", _VCODE + _VCODE, "needs its QR code, once"),
    ("jinqiao", '<div style="padding-top: 18mm" data-dunning-qr="HELLO">x</div>',
     "its brand prints no verification code"),
])
def test_a_template_that_misplaces_the_qr_code_fails_the_letter(
        trust: Trust, tmp_path: Path, brand: str, partial: str, expected: str) -> None:
    """A letter whose brand prints a code shows its QR code once, and one whose brand does
    not shows none: a template that prints the attribute as text, leaves the QR code out,
    repeats it or paints one of its own makes no letter."""
    import shutil

    from dunning.job import Task, make_letter
    from dunning.records import Record, read_records
    from dunning.settings import Settings

    home = tmp_path / "home"
    shutil.copytree(trust.home / "config", home / "config")
    shutil.copytree(trust.home / "templates", home / "templates")
    (home / "locales").symlink_to(trust.home / "locales")
    signature = home / "templates" / "letter" / "partials" / "signature.html"
    text = signature.read_text("utf-8")
    start, end = text.index('  {% if letter.verification %}'), text.index("</section>")
    signature.write_text(text[:start] + partial + "\n" + text[end:], "utf-8")
    dunning = Dunning.load(Settings.at(home))
    record = next(r for r in read_records(SAMPLE_FILES, dunning.record_rules())
                  if isinstance(r, Record) and r.brand == brand)
    outcome = make_letter(Task(record), dunning, SAMPLES_AS_OF)
    assert outcome.data is None
    assert outcome.entry.outcome == "failed"
    assert expected in (outcome.entry.reason or "")


def test_a_code_no_qr_code_holds_fails_the_letter_plainly(sealed: Dunning) -> None:
    from dunning.errors import RenderError

    markup = (f'<html lang="en"><body><div style="padding-top: 18mm" {QR_ATTRIBUTE}='
              f'"{"x" * 3000}"></div></body></html>')
    with pytest.raises(RenderError, match="cannot be a QR code") as caught:
        sealed.renderer.render(markup, "en_GB")
    assert caught.value.kind == "overflow"


def test_the_qr_code_is_vector(run: dict[str, Path]) -> None:
    import pikepdf

    with pikepdf.open(run["MT-000004"]) as pdf:  # logo, seal and QR code are all paths
        assert [len(page.get_images()) for page in pdf.pages] == [0, 0]


def test_a_genuine_code_finds_the_letter_in_the_ledger(
    home: Path, run: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    letter = run["MT-000004"]
    code_text = scanned_code(letter, tmp_path)
    out_dir = letter.parents[2]
    status, lines = verify(home, "--code", code_text, "--out", str(out_dir), capsys=capsys)
    assert status == 0, lines
    (line,) = lines
    assert "reference MT-LN-2025-000248-20261120" in line
    assert "brand mingtai" in line
    assert "dated 2026-11-20" in line
    assert f"sha256 {hashlib.sha256(letter.read_bytes()).hexdigest()}" in line
    typed = code_text[:-10] + code_text[-10:].lower().replace("-", " - ")
    status, _ = verify(home, "--code", typed, "--out", str(out_dir), capsys=capsys)
    assert status == 0


def test_an_altered_or_forged_code_is_refused(
    home: Path, run: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    genuine = scanned_code(run["MT-000004"], tmp_path)
    reference = genuine[:-12]
    last = genuine[-1]
    altered_mac = genuine[:-1] + ("A" if last != "A" else "B")
    other_reference = reference.replace("000248", "000249") + genuine[-12:]
    chars = mac(b"not-the-brand-secret-at-all", "mingtai", reference)
    forged = f"{reference}-{chars[:5]}-{chars[5:]}"
    out_dir = str(run["MT-000004"].parents[2])
    for code in (altered_mac, other_reference, forged, "nonsense"):
        status, lines = verify(home, "--code", code, "--out", out_dir, capsys=capsys)
        assert status == 1, code
        assert lines[0].startswith("FAIL"), lines
        assert "not a code any configured brand made" in lines[0]


def test_codes_need_the_secret_of_their_brand(sealed: Dunning) -> None:
    brands = list(sealed.brands.by_key.values())
    code = code_for("MT-LN-2025-000248-20261120", sealed.brands["mingtai"])
    assert code is not None
    found = check_code(code, brands)
    assert found is not None
    assert (found.brand, found.reference) == ("mingtai", "MT-LN-2025-000248-20261120")
    assert check_code(code, brands, {SECRET_ENV: SECRET + "x"}) is None
    assert SECRET_ENV in os.environ


def test_verify_prints_its_verdict_and_no_library_warning(
    home: Path, run: dict[str, Path],
) -> None:
    """In a fresh process, as an operator runs it: cryptography 51 warns that DSA is
    deprecated when pyHanko is first imported; that warning is not the operator's to read."""
    import sys

    letter = run["MT-000004"]
    exe = Path(sys.executable).with_name("dunning")
    done = subprocess.run(
        [str(exe), "--home", str(home), "verify", str(letter)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK    {letter}: ")
    assert done.stderr == ""
