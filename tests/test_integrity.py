"""The run's guarantees on every path (issue 17): no letter overwrites another borrower's, bad
bytes reject a row or stop the run before any letter, outputs are never devices or inputs.
Each test is one reproduction that failed before its fix."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from dunning.api import render_one
from dunning.batch import run_batch
from dunning.cli import main
from dunning.errors import InputError, OutputError
from dunning.letter import Dunning

from .helpers import (
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    pdf_text,
    raw_rows,
    read_manifest_lines,
    squash,
    write_export,
)


def _row(sample: str, **changes: str) -> dict[str, str]:
    row = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == sample)
    return {**row, **changes}


def test_a_second_version_never_takes_another_accounts_file(
        tmp_path: Path, dunning: Dunning) -> None:
    """Accounts ``CX-1.v2`` and ``CX-1``; ``CX-1`` changes: its second version must not
    replace the letter of ``CX-1.v2``."""
    out = tmp_path / "out"
    other = _row("MT-000007", account_id="CX-1.v2")
    mine = _row("MT-000004", account_id="CX-1")
    run_batch([write_export(tmp_path / "a.csv", [other, mine])], as_of=SAMPLES_AS_OF,
              out_dir=out, dunning=dunning, workers=1)
    changed = {**mine, "overdue_interest": "1.23"}
    run_batch([write_export(tmp_path / "b.csv", [other, changed])], as_of=SAMPLES_AS_OF,
              out_dir=out, dunning=dunning, workers=1)
    entries = {e["account_id"]: e for e in read_manifest_lines(out)}
    assert entries["CX-1"]["path"] != entries["CX-1.v2"]["path"]
    assert squash(other["name"]) in squash(pdf_text(out / entries["CX-1.v2"]["path"]))
    assert squash(mine["name"]) in squash(pdf_text(out / entries["CX-1"]["path"]))
    assert squash(mine["name"]) not in squash(pdf_text(out / entries["CX-1.v2"]["path"]))


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_lone_surrogate_rejects_the_row_naming_the_field(
        tmp_path: Path, dunning: Dunning, suffix: str) -> None:
    good = _row("MT-000004")
    bad = {**_row("MT-000007"), "name": "\ud800x"}
    path = tmp_path / f"records{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps([bad]), "utf-8")  # \ud800 escaped, as an exporter writes it
        entry = render_one(path, output=tmp_path / "x.pdf", as_of=SAMPLES_AS_OF,
                           dunning=dunning)
        assert entry["outcome"] == "rejected"
        assert "name" in entry["reason"]
        return
    path.write_text("records:\n" + "".join(
        "  - " + json.dumps(row) + "\n" for row in (bad, good)), "utf-8")
    summary = run_batch([path], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out",
                        dunning=dunning, workers=1)
    entries = read_manifest_lines(tmp_path / "out")
    assert [e["outcome"] for e in entries] == ["rejected", "rendered"]
    assert entries[0]["reason"].startswith("name:")
    assert summary.rows == 2


@pytest.mark.parametrize("char", ["\x00", "\x7f", "\ufffe"])
def test_a_control_character_in_a_yaml_file_stops_the_run_before_any_letter(
        tmp_path: Path, dunning: Dunning, char: str) -> None:
    rows = [_row("MT-000004"), _row("MT-000007", address=f"Road 1{char}")]
    path = tmp_path / "records.yaml"
    text = "records:\n" + "".join(
        "  - " + json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_text(text.replace("\\u0000", "\x00"), "utf-8")  # the raw character
    assert char in path.read_text("utf-8")
    with pytest.raises(InputError) as caught:
        run_batch([path], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out", dunning=dunning,
                  workers=1)
    assert caught.value.path == str(path)
    assert caught.value.line == 3
    assert f"U+{ord(char):04X}" in str(caught.value)
    assert not list((tmp_path / "out").rglob("*.pdf"))


def test_render_refuses_a_device_as_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null of our own
    code = main(["render", "--input", str(SAMPLE_FILES[0]), "--id", "MT-000004", "--as-of",
                 SAMPLES_AS_OF.isoformat(), "-o", str(device)])
    assert code == 2
    assert stat.S_ISCHR(device.stat().st_mode)
    assert "not a regular file" in capsys.readouterr().err


def test_render_never_overwrites_its_input(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    single = tmp_path / "one.json"
    single.write_text(json.dumps(_row("MT-000004")), "utf-8")
    before = single.read_bytes()
    link = tmp_path / "same.json"
    link.symlink_to(single)
    for target in (single, link):
        code = main(["render", "--input", str(single), "--as-of", SAMPLES_AS_OF.isoformat(),
                     "-o", str(target)])
        assert code == 2
        assert "is the input" in capsys.readouterr().err
    assert single.read_bytes() == before


@pytest.mark.parametrize("amount", ["０.９", "١٢٣", "12３"])
def test_amounts_take_ascii_digits_only(tmp_path: Path, dunning: Dunning, amount: str) -> None:
    path = write_export(tmp_path / "x.csv", [_row("MT-000004", overdue_interest=amount)])
    run_batch([path], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out", dunning=dunning,
              workers=1)
    (entry,) = read_manifest_lines(tmp_path / "out")
    assert entry["outcome"] == "rejected"
    assert "overdue_interest" in entry["reason"]
    assert "ASCII digits" in entry["reason"]


def test_penalty_rates_take_ascii_digits_only(tmp_path: Path, dunning: Dunning) -> None:
    path = write_export(tmp_path / "x.csv", [_row("MT-000004", penalty_rate_daily="０.９")])
    run_batch([path], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out", dunning=dunning,
              workers=1)
    (entry,) = read_manifest_lines(tmp_path / "out")
    assert entry["outcome"] == "rejected"
    assert "penalty_rate_daily" in entry["reason"]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_duplicate_key_rejects_the_record_naming_it(tmp_path: Path, dunning: Dunning,
                                                      suffix: str) -> None:
    row = _row("MT-000004")
    body = json.dumps(row, ensure_ascii=False)[:-1] + ', "fees": "999.00"}'
    path = tmp_path / f"x{suffix}"
    path.write_text(("records:\n  - " + body + "\n") if suffix == ".yaml" else body, "utf-8")
    if suffix == ".json":
        entry = render_one(path, output=tmp_path / "x.pdf", as_of=SAMPLES_AS_OF,
                           dunning=dunning)
    else:
        run_batch([path], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out", dunning=dunning,
                  workers=1)
        (entry,) = read_manifest_lines(tmp_path / "out")
    assert entry["outcome"] == "rejected"
    assert "fees" in entry["reason"]
    assert "more than once" in entry["reason"]
    assert not (tmp_path / "x.pdf").exists()


def test_an_as_of_date_letters_cannot_carry_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(SAMPLE_FILES[0]), "--as-of", "9999-12-01", "--out",
                 str(tmp_path / "out")])
    assert code == 2
    assert "--as-of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_file_url_is_a_folder(tmp_path: Path, dunning: Dunning) -> None:
    export = write_export(tmp_path / "x.csv", [_row("MT-000004")])
    out = tmp_path / "out"
    run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out.as_uri(), dunning=dunning, workers=1)
    assert [e["outcome"] for e in read_manifest_lines(out)] == ["rendered"]
    assert not (Path.cwd() / "file:").exists()


def test_an_empty_out_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(SAMPLE_FILES[0]), "--as-of", SAMPLES_AS_OF.isoformat(),
                 "--out", ""])
    assert code == 2
    assert "--out" in capsys.readouterr().err


def test_a_utf16_export_is_named_as_such(tmp_path: Path, dunning: Dunning) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes("account_id,name\nA,B\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16") as caught:
        run_batch([path], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out", dunning=dunning,
                  workers=1)
    assert "UTF-8" in str(caught.value)


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("device nodes as outputs are a Linux test")


def test_cleanup_removes_only_its_own_temp_files(tmp_path: Path, dunning: Dunning) -> None:
    out = tmp_path / "out"
    foreign = [out / ".draft.txt.tmp", out / "cache" / ".index.tmp", out / "notes.tmp",
               out / "deep" / "er" / "still" / ".x.pdf.dunning-abcd1234.tmp"]
    own = [out / "mingtai" / "formal" / ".MT-000004.pdf.dunning-a1b2c3d4.tmp",
           out / ".manifest.jsonl.k9x8y7z6.tmp"]
    for path in foreign + own:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("left behind", "utf-8")
    run_batch([write_export(tmp_path / "x.csv", [_row("MT-000004")])], as_of=SAMPLES_AS_OF,
              out_dir=out, dunning=dunning, workers=1)
    assert [p.exists() for p in foreign] == [True] * len(foreign)
    assert [p.exists() for p in own] == [False] * len(own)


@pytest.mark.parametrize(("live", "new"), [("nest/inner", "nest"), ("nest", "nest/inner")])
def test_a_run_folder_may_not_contain_or_lie_inside_a_live_runs(
        tmp_path: Path, dunning: Dunning, live: str, new: str) -> None:
    from dunning.output import RunLock

    export = write_export(tmp_path / "x.csv", [_row("MT-000004")])
    (tmp_path / live).mkdir(parents=True)
    with RunLock(tmp_path / live):  # what a run holds while it runs
        with pytest.raises(OutputError, match="another run is writing to"):
            run_batch([export], as_of=SAMPLES_AS_OF, out_dir=tmp_path / new, dunning=dunning,
                      workers=1)
    assert not list((tmp_path / new).rglob("*.pdf"))
    run_batch([export], as_of=SAMPLES_AS_OF, out_dir=tmp_path / new, dunning=dunning,
              workers=1)  # once the other run is over
    assert [e["outcome"] for e in read_manifest_lines(tmp_path / new)] == ["rendered"]


def test_a_live_run_in_another_process_refuses_a_nested_one(tmp_path: Path) -> None:
    """Two real runs: one into ``nest/inner`` that stays busy (a template loops), one
    into ``nest``."""
    import subprocess
    import time

    from .helpers import hanging_home

    home = hanging_home(tmp_path / "home")
    export = write_export(tmp_path / "x.csv", [_row("MT-000004")])
    exe = Path(sys.executable).with_name("dunning")
    inner = tmp_path / "nest" / "inner"
    busy = subprocess.Popen(
        [str(exe), "--home", str(home), "-q", "run", str(export), "--as-of",
         SAMPLES_AS_OF.isoformat(), "--out", str(inner), "--workers", "1",
         "--letter-timeout", "120"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (inner / "run.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        outer = subprocess.run(
            [str(exe), "-q", "run", str(export), "--as-of", SAMPLES_AS_OF.isoformat(),
             "--out", str(tmp_path / "nest"), "--workers", "1"],
            capture_output=True, text=True, timeout=120)
        assert busy.poll() is None, "the busy run ended too early to test against"
    finally:
        busy.kill()
        busy.wait()
    assert outer.returncode == 2
    assert f"another run is writing to {inner.resolve()}" in outer.stderr
    assert not (tmp_path / "nest" / "manifest.jsonl").exists()


def test_a_subset_rerun_keeps_the_folders_letters(tmp_path: Path, dunning: Dunning) -> None:
    from dunning.printfile import make_print_files

    out = tmp_path / "out"
    ids = ["MT-000001", "MT-000004", "MT-000007", "JQ-000004", "JQ-000007", "MT-000012"]
    rows = [_row(i) for i in ids]
    full = run_batch([write_export(tmp_path / "all.csv", rows)], as_of=SAMPLES_AS_OF,
                     out_dir=out, dunning=dunning, workers=1)
    letters = {e["account_id"]: e["path"] for e in read_manifest_lines(out)
               if e["outcome"] == "rendered"}
    assert len(letters) == full.counts["rendered"] == 5
    subset = run_batch([write_export(tmp_path / "one.csv", [_row("MT-000004")])],
                       as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning, workers=1)
    assert subset.rows == 1
    assert subset.carried_over == 4
    folder = read_manifest_lines(out)
    assert folder[0]["account_id"] == "MT-000004"
    assert {e["account_id"]: e["path"] for e in folder} == letters
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["outcomes"]["rendered"] == 5
    assert summary["carried_over"] == 4
    runs = sorted((out / "runs").iterdir())
    assert [len((r / "manifest.jsonl").read_text("utf-8").splitlines()) for r in runs] == [6, 1]
    assert [json.loads((r / "summary.json").read_text("utf-8"))["run_id"] for r in runs] == \
        [full.run_id, subset.run_id]
    printed = make_print_files(out)
    assert printed.to_dict()["letters"] == 5


def test_letters_a_killed_run_left_unrecorded_are_recognised(tmp_path: Path) -> None:
    """``--workers 1`` writes up to a window of letters before it records them: a SIGKILL
    there leaves letters on disk that the ledger does not know. The rerun finds them equal
    and records them; it makes none twice."""
    import signal
    import subprocess
    import time

    from dunning.ledger import Ledger

    ids = [r["account_id"] for r in raw_rows(SAMPLE_FILES[0])][:14]
    export = write_export(tmp_path / "in.csv", [_row(i) for i in ids])
    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("dunning")
    args = [str(exe), "-q", "run", str(export), "--as-of", SAMPLES_AS_OF.isoformat(),
            "--out", str(out), "--workers", "1", "--progress", "off"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(out.rglob("*.pdf"))) < 4 and time.monotonic() < deadline \
            and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*.pdf")}
    ledger = Ledger.for_output(out)
    known = {r.path for r in ledger.letters_in(out.resolve())}
    ledger.close()
    assert on_disk - known, "the kill came after every letter was recorded"
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["recovered"] == len(on_disk - known)
    assert summary["interrupted_runs"] == 1
    assert not [p for p in out.rglob("*.pdf") if "~v" in p.name]
    ledger = Ledger.for_output(out)
    rows = list(ledger.letters_in(out.resolve()))
    assert sorted(r.account_id for r in rows) == sorted(
        e["account_id"] for e in read_manifest_lines(out) if e["outcome"] == "rendered")
    assert {r.status for r in rows} == {"current"}
    assert [r["status"] for r in ledger.runs()] == ["interrupted", "finished"]
    ledger.close()


def test_a_ledger_at_an_explicit_path_is_private(tmp_path: Path) -> None:
    from dunning.ledger import Ledger

    path = tmp_path / "ledger.sqlite"
    Ledger(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_ledger_urls_never_show_their_secrets(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["history", "MT-000004", "--ledger",
                 "postgresql://dunning:pw-Xy7@127.0.0.1:9/letters?password=s3cret-Zq9"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot open the ledger postgresql://dunning:***@127.0.0.1:9/letters" in err
    assert "pw-Xy7" not in err
    assert "s3cret-Zq9" not in err


def test_a_corrupt_ledger_stops_the_run_with_one_line(tmp_path: Path) -> None:
    import subprocess

    out = tmp_path / "out"
    out.mkdir()
    (out / "ledger.sqlite").write_bytes(b"SQLite format 3\0" + b"\xff" * 4096)
    export = write_export(tmp_path / "x.csv", [_row("MT-000004")])
    exe = Path(sys.executable).with_name("dunning")
    done = subprocess.run([str(exe), "run", str(export), "--as-of", SAMPLES_AS_OF.isoformat(),
                           "--out", str(out), "--workers", "1"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("dunning: error:")]
    assert len(errors) == 1
    assert "ledger" in errors[0]


def test_an_unexpected_failure_exits_2_with_one_line(tmp_path: Path) -> None:
    """A 5001-digit JSON integer (Python refuses to convert it), and any other exception
    that is not one of dunning's own: exit code 2, one line, the traceback only with -v."""
    import subprocess

    single = tmp_path / "one.json"
    single.write_text('{"account_id": "A-1", "loan_amount": ' + "9" * 5001 + "}", "utf-8")
    exe = Path(sys.executable).with_name("dunning")
    done = subprocess.run([str(exe), "render", "--input", str(single), "-o",
                           str(tmp_path / "x.pdf")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("dunning: error: ")
    boom = ("import sys\nimport dunning.batch as b\n"
            "def boom(*a, **k):\n    raise RuntimeError('disk on fire')\n"
            "b.run_batch = boom\nfrom dunning.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    for verbose in ([], ["-v"]):
        done = subprocess.run([sys.executable, "-c", boom, *verbose, "run", str(single)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert "disk on fire" in done.stderr
        assert ("Traceback" in done.stderr) == bool(verbose)


@pytest.mark.parametrize(("currency", "problem"), [
    ("XAU", "not a currency letters are made in"),
    ("XXX", "not a currency letters are made in"),
    ("BHD", "not a currency letters are made in"),
    ("ABC", "not an ISO 4217 currency"),
])
def test_currencies_letters_cannot_print_are_rejected(tmp_path: Path, dunning: Dunning,
                                                      currency: str, problem: str) -> None:
    path = write_export(tmp_path / "x.csv", [_row("MT-000004", currency=currency)])
    run_batch([path], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out", dunning=dunning,
              workers=1)
    (entry,) = read_manifest_lines(tmp_path / "out")
    assert entry["outcome"] == "rejected"
    assert entry["reason"].startswith(f"currency: '{currency}' is {problem}")
    assert "CNY" in entry["reason"]


def _home_with_currencies(tmp_path: Path, text: str) -> Path:
    import shutil

    from .helpers import ROOT

    home = tmp_path / "home"
    for folder in ("config", "templates", "locales"):
        shutil.copytree(ROOT / folder, home / folder)
    (home / "config" / "settings.yaml").write_text(text, "utf-8")
    return home


def test_a_configured_three_decimal_currency_prints_in_thousandths(tmp_path: Path) -> None:
    from dunning.settings import Settings

    home = _home_with_currencies(tmp_path, "currencies: {CNY: 2, HKD: 2, TWD: 2, USD: 2, "
                                           "GBP: 2, BHD: 3}\n")
    row = _row("MT-000004", currency="BHD", loan_amount="5000.000",
               overdue_principal="1000.010", overdue_interest="10.003", fees="0",
               paid_since_due="0", penalty_rate_daily="0.0005", compound="false")
    path = write_export(tmp_path / "x.csv", [row])
    run_batch([path], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out",
              dunning=Dunning.load(Settings.at(home)), workers=1)
    (entry,) = read_manifest_lines(tmp_path / "out")
    assert entry["outcome"] == "rendered", entry
    dpd = (SAMPLES_AS_OF - __import__("datetime").date.fromisoformat(row["due_date"])).days
    penalty_thousandths = (1000010 * 5 * dpd + 5000) // 10000  # half up, in 0.001
    total = 1000010 + 10003 + penalty_thousandths
    assert entry["total"] == f"{total // 1000}.{total % 1000:03d}"
    text = squash(pdf_text(tmp_path / "out" / entry["path"]))
    assert total % 10, "choose amounts whose total has thousandths"
    assert f"{'零壹贰叁肆伍陆柒捌玖'[total % 10]}厘" in text
    assert "巴林第纳尔" in text


@pytest.mark.parametrize(("setting", "problem"), [
    ("XAU: 2", "XAU is not a currency of payment (ISO 4217 X-codes are metals, funds "
               "and tests)"),
    ("KWD: 2", "KWD has 3 decimals in ISO 4217, not 2"),
    ("EUR: 4", "EUR: 4 decimals; letters print amounts with 0, 2 or 3"),
])
def test_the_currency_setting_is_checked(tmp_path: Path, setting: str, problem: str) -> None:
    from dunning.errors import ConfigError
    from dunning.settings import Settings

    home = _home_with_currencies(tmp_path, f"currencies:\n  CNY: 2\n  {setting}\n")
    with pytest.raises(ConfigError) as caught:
        Settings.at(home)
    assert caught.value.message == problem
    assert caught.value.key == f"currencies.{setting.split(':')[0]}"
    assert caught.value.line == 3


def test_the_row_pre_count_reads_a_huge_line_in_bounded_memory(tmp_path: Path) -> None:
    """The progress display counts rows first: a 30 MB line must not be read whole."""
    import tracemalloc

    from dunning.records import MAX_CSV_LINE, count_rows

    row = _row("MT-000004")
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(",".join(row) + "\n")
        handle.write(",".join(row.values()).replace("\n", " ") + "x" * 30_000_000 + "\n")
    tracemalloc.start()
    count_rows([path])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * MAX_CSV_LINE * 4  # a few bounded lines (4 bytes a character at most)


@pytest.mark.parametrize("field", ["name", "fees"])
def test_an_unclosed_quote_names_every_account_it_touches(tmp_path: Path, dunning: Dunning,
                                                          field: str) -> None:
    """A quote opened in one value and never closed joins the lines after it (with ``fees``,
    the whole next record): each of the four accounts still has its one manifest line, and
    those the broken lines touch are rejected naming the lines."""
    rows = [r for r in raw_rows(SAMPLE_FILES[0])][:4]
    path = write_export(tmp_path / "x.csv", rows)
    value = rows[1][field] or "0.00"
    if not rows[1][field]:
        rows[1][field] = value
        path = write_export(tmp_path / "x.csv", rows)
    text = path.read_text("utf-8")
    broken = text.replace(f",{value},", f',"{value},', 1)
    assert broken != text
    path.write_text(broken, "utf-8")
    run_batch([path], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out", dunning=dunning,
              workers=1)
    entries = read_manifest_lines(tmp_path / "out")
    assert [e["account_id"] for e in entries] == [r["account_id"] for r in rows]
    rejected = [e for e in entries if e["outcome"] == "rejected"]
    assert rejected
    assert rejected[0]["account_id"] == rows[1]["account_id"]
    for entry in rejected:
        assert "malformed CSV in lines" in entry["reason"]
        assert "quote" in entry["reason"]


def test_letters_of_every_channel_are_recorded_and_count_for_the_interval(
        tmp_path: Path, dunning: Dunning) -> None:
    """The batch's letter of day 0, an agent's ``dunning render`` on day 3 (refused, then
    forced with a reason), the batch on day 5: the ledger holds both letters with their
    channel, and the batch counts the agent's letter for the minimum interval."""
    from datetime import timedelta

    from dunning.ledger import Ledger

    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    export = write_export(tmp_path / "x.csv", [_row("MT-000004")])
    run_batch([export], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "d0", dunning=dunning,
              workers=1, ledger=ledger)
    day3 = SAMPLES_AS_OF + timedelta(days=3)
    agent = ["render", "--input", str(export), "--id", "MT-000004", "--as-of",
             day3.isoformat(), "--ledger", ledger, "-o", str(tmp_path / "agent.pdf")]
    assert main(agent) == 0  # suppressed: an outcome, not a problem (issue 18, exitcodes.py)
    assert not (tmp_path / "agent.pdf").exists()
    assert main([*agent, "--force"]) == 2  # a reason is required
    assert main([*agent, "--force", "--reason", "borrower asked for a copy"]) == 0
    assert (tmp_path / "agent.pdf").read_bytes().startswith(b"%PDF")
    day5 = SAMPLES_AS_OF + timedelta(days=5)
    run_batch([export], as_of=day5, out_dir=tmp_path / "d5", dunning=dunning, workers=1,
              ledger=ledger)
    (entry,) = read_manifest_lines(tmp_path / "d5")
    assert entry["outcome"] == "suppressed"
    assert entry["reason"].startswith("recent_notice: last letter 2 days ago")
    book = Ledger(ledger)
    rows = book.history("MT-000004")
    book.close()
    assert [(r.as_of, r.channel, r.override_reason) for r in rows] == [
        (SAMPLES_AS_OF, "batch", None), (day3, "render", "borrower asked for a copy")]
    assert rows[1].path == "agent.pdf"
    assert rows[1].out_dir == str(tmp_path.resolve())


def test_a_same_day_render_after_the_batch_is_suppressed(tmp_path: Path,
                                                        dunning: Dunning) -> None:
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    export = write_export(tmp_path / "x.csv", [_row("MT-000004")])
    run_batch([export], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "d0", dunning=dunning,
              workers=1, ledger=ledger)
    entry = render_one(export, account_id="MT-000004", output=tmp_path / "again.pdf",
                       as_of=SAMPLES_AS_OF, dunning=dunning, ledger=ledger)
    assert entry["outcome"] == "suppressed"
    assert entry["reason"].startswith("recent_notice: last letter 0 days ago")


def test_every_spelling_of_a_folder_resumes_the_same_letters(tmp_path: Path,
                                                            dunning: Dunning) -> None:
    from dunning.ledger import Ledger

    out = tmp_path / "out"
    export = write_export(tmp_path / "x.csv", [_row("MT-000004"), _row("MT-000001")])
    first = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning, workers=1)
    link = tmp_path / "link"
    link.symlink_to(out)
    (out / "sub").mkdir()
    for spelling in (link, out / "sub" / "..", f"{out}/", out.as_uri()):
        again = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=spelling, dunning=dunning,
                          workers=1)
        assert again.resumed == first.counts["rendered"] == 2, spelling
    assert not [p for p in out.rglob("*.pdf") if "~v" in p.name]
    book = Ledger.for_output(out)
    assert len([r for r in book.history("MT-000004") if r.status == "current"]) == 1
    book.close()


def test_an_output_folder_that_breaks_mid_run_stops_it_with_an_output_error(
        tmp_path: Path, dunning: Dunning) -> None:
    """The folder of the next letters is taken away after the first letter (as root a
    read-only folder is still writable, so it becomes a file): the run stops with an
    OutputError, which the command line turns into exit 2."""
    import shutil

    from dunning.errors import OutputError

    out = tmp_path / "out"
    rows = [_row("MT-000001"), _row("MT-000004"), _row("MT-000007")]

    def break_folder(entry: object) -> None:
        target = out / "mingtai"
        if target.is_dir():
            shutil.rmtree(target)
            target.write_text("not a folder", "utf-8")

    with pytest.raises(OutputError):
        run_batch([write_export(tmp_path / "x.csv", rows)], as_of=SAMPLES_AS_OF, out_dir=out,
                  dunning=dunning, workers=1, window=1, on_row=break_folder)
