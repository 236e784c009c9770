"""The operator at 3 am (issue 18): exit codes a scheduler can act on, signals, pre-flight,
empty exports, rejects for the data owner, the dry run, one log format."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dunning import exitcodes
from dunning.cli import main
from dunning.ledger import Ledger
from dunning.letter import Dunning

from .helpers import (
    BAD_FILES,
    ROOT,
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    hanging_home,
    raw_rows,
    read_manifest_lines,
    write_export,
)

AS_OF = SAMPLES_AS_OF.isoformat()
DUNNING = str(Path(sys.executable).with_name("dunning"))


def subset(tmp_path: Path, ids: list[str], name: str = "subset.csv") -> Path:
    rows = [r for path in SAMPLE_FILES for r in raw_rows(path) if r["account_id"] in ids]
    rows.sort(key=lambda r: ids.index(r["account_id"]))
    fields = list(raw_rows(SAMPLE_FILES[0])[0])
    return write_export(tmp_path / name, [{k: r.get(k, "") for k in fields} for r in rows])


def home_copy(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for folder in ("config", "templates", "locales"):
        shutil.copytree(ROOT / folder, home / folder)
    return home


def temp_files(folder: Path) -> list[Path]:
    return list(folder.rglob("*.tmp"))


# --------------------------------------------------------------------------- pre-flight


def test_a_template_typo_fails_preflight_with_exit_2_and_no_letter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = home_copy(tmp_path)
    partial = home / "templates" / "letter" / "partials" / "consequences.html"
    text = partial.read_text("utf-8")
    partial.write_text(text.replace("}}", "}", 1), "utf-8")
    line = text[: text.index("}}")].count("\n") + 1
    out = tmp_path / "out"
    code = main(["--home", str(home), "run", str(subset(tmp_path, ["MT-000001", "MT-000004"])),
                 "--as-of", AS_OF, "--out", str(out), "--workers", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"templates/letter/partials/consequences.html:{line}" in err
    assert "no letter was written" in err
    assert err.count("consequences.html") <= 3  # once, not once per letter
    assert err.count("error [syntax]") == 1, err  # not again as the letters' finding
    assert not list(out.rglob("*.pdf")) if out.exists() else True
    assert not (out / "manifest.jsonl").exists()


def test_a_bad_stylesheet_fails_preflight_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = home_copy(tmp_path)
    css = home / "templates" / "assets" / "letter.css"
    css.write_text(css.read_text("utf-8") + "\n.title { margin: banana; }\n", "utf-8")
    out = tmp_path / "out"
    code = main(["--home", str(home), "run", str(subset(tmp_path, ["MT-000001"])),
                 "--as-of", AS_OF, "--out", str(out), "--workers", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "letter.css" in err
    assert "banana" in err
    assert not (out / "manifest.jsonl").exists()


def test_preflight_prints_the_time_it_took(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(subset(tmp_path, ["MT-000012"])), "--as-of", AS_OF,
                 "--out", str(tmp_path / "out"), "--workers", "1"])
    assert code == 0
    assert re.search(r"pre-flight: ok in \d+\.\d s", capsys.readouterr().out)


# --------------------------------------------------------------------------- empty export


def test_an_empty_export_exits_2_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text(SAMPLE_FILES[0].read_text("utf-8").splitlines()[0] + "\n", "utf-8")
    out = tmp_path / "out"
    assert main(["run", str(empty), "--as-of", AS_OF, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no data row" in err
    assert "upstream export may have failed" in err
    assert not (out / "manifest.jsonl").exists()
    assert main(["run", str(empty), "--as-of", AS_OF, "--out", str(out), "--allow-empty",
                 "--workers", "1"]) == 0
    assert read_manifest_lines(out) == [] if (out / "manifest.jsonl").read_text() else True


# --------------------------------------------------------------------------- exit codes


def _docs_table() -> dict[int, str]:
    text = (ROOT / "docs" / "operations.md").read_text("utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| ([^|]+) \|", section, re.M)}


def test_the_docs_table_is_the_code_table() -> None:
    assert set(_docs_table()) == {code for code, _, _ in exitcodes.TABLE} == {
        0, 1, 2, 130, 143}


def _start(home: Path, export: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DUNNING, "--home", str(home), "-v", "run", str(export), "--as-of", AS_OF, "--out",
         str(out), "--workers", "1", "--progress", "off", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=home,
        preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """In the child before it runs dunning: SIGINT handled as by default, also when these
    tests run in the background (``make test &``), where the shell starts them ignoring it and
    the child would inherit that (Python then installs no KeyboardInterrupt for it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_first_letter(proc: subprocess.Popen[str], out: Path) -> None:
    """Until the first letter is written (the second one, MT-000004's, then hangs)."""
    while not list(out.rglob("MT-000001*.pdf")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)


@pytest.fixture(scope="module")
def hanging(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A project whose letter for MT-000004 loops for hours, and an export where it is the
    second of three rows."""
    base = tmp_path_factory.mktemp("hanging")
    home = hanging_home(base / "home")
    return home, subset(base, ["MT-000001", "MT-000004", "MT-000005"])


@pytest.mark.parametrize("code", [0, 1, 2, 130, 143])
def test_every_exit_code_of_the_docs_table(
    code: int, tmp_path: Path, hanging: tuple[Path, Path]
) -> None:
    assert code in _docs_table()
    out = tmp_path / "out"
    if code == 0:
        assert main(["-q", "run", str(subset(tmp_path, ["MT-000001", "MT-000012"])),
                     "--as-of", AS_OF, "--out", str(out), "--workers", "1"]) == 0
    elif code == 1:
        assert main(["-q", "run", str(BAD_FILES[0]), "--as-of", AS_OF, "--out", str(out),
                     "--workers", "1"]) == 1
    elif code == 2:
        assert main(["-q", "run", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
    else:
        home, export = hanging
        proc = _start(home, export, out, "--letter-timeout", "5")
        _wait_for_first_letter(proc, out)
        proc.send_signal(signal.SIGINT if code == 130 else signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == code, err
        assert not temp_files(out)


def test_sigterm_finishes_the_letter_in_flight_and_writes_manifest_and_summary(
    tmp_path: Path, hanging: tuple[Path, Path]
) -> None:
    home, export = hanging
    out = tmp_path / "out"
    proc = _start(home, export, out, "--letter-timeout", "5")
    _wait_for_first_letter(proc, out)
    proc.send_signal(signal.SIGTERM)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == exitcodes.TERMINATED, err
    assert "SIGTERM" in err
    manifest = read_manifest_lines(out)
    assert 1 <= len(manifest) < 3
    assert manifest[0] == {**manifest[0], "account_id": "MT-000001", "outcome": "rendered"}
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["interrupted"] == "SIGTERM"
    assert summary["exit_code"] == 143
    assert summary["rows"] == len(manifest)
    assert (out / "rejects.csv").is_file()
    assert not temp_files(out)
    assert "exit code: 143" in stdout


def test_a_second_sigterm_stops_at_once_safely(
    tmp_path: Path, hanging: tuple[Path, Path]
) -> None:
    home, export = hanging
    out = tmp_path / "out"
    proc = _start(home, export, out, "--letter-timeout", "3600")
    _wait_for_first_letter(proc, out)
    proc.send_signal(signal.SIGTERM)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == exitcodes.TERMINATED, err
    assert "second SIGTERM" in err
    assert not (out / "manifest.jsonl").exists()
    assert not temp_files(out)


def test_sigint_exits_130_not_2(tmp_path: Path, hanging: tuple[Path, Path]) -> None:
    home, export = hanging
    out = tmp_path / "out"
    proc = _start(home, export, out, "--letter-timeout", "3600")
    _wait_for_first_letter(proc, out)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not temp_files(out)
    assert not (out / "manifest.jsonl").exists()


def test_a_crash_is_exit_2_not_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    import dunning.batch

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(dunning.batch, "run_batch", crash)
    code = main(["run", str(subset(tmp_path, ["MT-000012"])), "--as-of", AS_OF, "--out",
                 str(tmp_path / "out"), "--no-preflight"])
    assert code == 2
    assert "unexpected RuntimeError: boom" in capsys.readouterr().err


# --------------------------------------------------------------------------- rejects


def test_rejects_csv_for_the_data_owner(tmp_path: Path) -> None:
    rows = raw_rows(BAD_FILES[0])
    assert main(["-q", "run", str(BAD_FILES[0]), "--as-of", AS_OF, "--out",
                 str(tmp_path / "out"), "--workers", "1"]) == 1
    data = (tmp_path / "out" / "rejects.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.DictReader(data.decode("utf-8-sig").splitlines()))
    assert list(table[0]) == ["source", "line", "account_id", "outcome", "field", "problem",
                              "accepted"]
    by_id = {r["account_id"]: r for r in table}
    due = by_id["BAD-CSV-03"]
    assert (due["line"], due["field"], due["outcome"]) == ("11", "due_date", "rejected")
    assert due["source"].endswith("bad_records.csv")
    assert due["accepted"]
    text = data.decode("utf-8-sig")
    for row in rows:
        for personal in ("name", "id_number", "phone"):
            value = row.get(personal, "")
            if len(value) >= 4:
                assert value not in text, personal
    manifest = read_manifest_lines(tmp_path / "out")
    rejected = {e["account_id"] or "" for e in manifest if e["outcome"] == "rejected"}
    assert rejected <= {r["account_id"] for r in table} | {""}


def test_rejects_csv_is_formula_safe(tmp_path: Path) -> None:
    row = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == "MT-000012")
    export = write_export(tmp_path / "x.csv", [
        {**row, "account_id": '=HYPERLINK("http://x","y")', "fees": "-5"}])
    assert main(["-q", "run", str(export), "--as-of", AS_OF, "--out", str(tmp_path / "out"),
                 "--workers", "1"]) == 1
    text = (tmp_path / "out" / "rejects.csv").read_text("utf-8-sig")
    assert "'=HYPERLINK" in text
    assert not re.search(r"(^|,)=", text, re.M)


def test_summary_and_report_group_problems_by_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == "MT-000012")
    rows = [{**good, "account_id": f"X-{i}", "fees": f"-{i}"} for i in range(1, 6)]
    export = write_export(tmp_path / "x.csv", rows)
    out = tmp_path / "out"
    assert main(["run", str(export), "--as-of", AS_OF, "--out", str(out),
                 "--workers", "1"]) == 1
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    [group] = summary["problems"]
    assert group["count"] == 5
    assert group["outcome"] == "rejected"
    assert group["first"][0].endswith("x.csv:2 (X-1)")
    assert len(group["first"]) == 3
    for text in (printed, _report(out, capsys)):
        assert "rejected and failed rows by reason" in text
        assert "5 rejected: fees" in text
        assert "and 2 more" in text
        assert summary["run_id"] in text
        assert "workers: 1" in text
        assert re.search(r"took \d", text)


def _report(out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["report", str(out)]) == 1
    return capsys.readouterr().out


# --------------------------------------------------------------------------- dry run


def test_dry_run_plans_every_row_without_a_letter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = subset(tmp_path, ["MT-000001", "MT-000004", "MT-000012", "MT-000013"])
    out = tmp_path / "out"
    code = main(["run", str(export), str(BAD_FILES[0]), "--as-of", AS_OF, "--out", str(out),
                 "--dry-run"])
    assert code == 1
    assert "dry run" in capsys.readouterr().out
    assert not list(out.rglob("*.pdf"))
    assert not (out / "manifest.jsonl").exists()
    assert not (out / "ledger.sqlite").exists()
    dry = out / "dry-run"
    planned = read_manifest_lines(dry)
    summary = json.loads((dry / "summary.json").read_text("utf-8"))
    assert summary["dry_run"] is True
    assert (dry / "rejects.csv").is_file()
    # the real run gives the same outcomes, stages and totals
    assert main(["-q", "run", str(export), str(BAD_FILES[0]), "--as-of", AS_OF, "--out",
                 str(out), "--workers", "1"]) == 1
    real = read_manifest_lines(out)

    def key(e: dict[str, object]) -> tuple[object, ...]:
        return (e["account_id"], e["outcome"], e["stage"], e["total"], e["path"], e["reason"])

    assert [key(e) for e in planned] == [key(e) for e in real]
    assert summary["outcomes"] == json.loads((out / "summary.json").read_text())["outcomes"]


class _SlowDunning(Dunning):
    """Plans each row after the first 1,000 2 ms late: given to the dry run's own process
    (its helper loads its own), so that the helper, started at the second chunk, has two
    seconds to start and take the third."""

    def plan(self, record: Any, *args: Any, **kwargs: Any) -> Any:
        if record.account_id >= "P-01000":
            time.sleep(0.002)
        return super().plan(record, *args, **kwargs)


def test_dry_run_in_two_processes_writes_what_one_process_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The dry run shares chunks of 1,000 rows between processes: manifest, rejects and
    summary are the same as one process's, and an id is unique in the run even when the
    rows that repeat it were planned by different processes."""
    from dunning.dryrun import CHUNK, dry_run
    from dunning.settings import Settings

    samples = raw_rows(SAMPLE_FILES[0])
    rows, repeats = [], {}
    for i in range(2 * CHUNK + 600):
        row = {**samples[i % len(samples)], "account_id": f"P-{i:05d}"}
        if i % 333 == 0:
            row["fees"] = "12,00"  # rejected, and still holds its id
        if i % 500 == 499 and i % 333:  # the id of a row in an earlier chunk, or a rejected row's
            earlier = i - 1100 if i > 1100 else 333
            row["account_id"] = f"P-{earlier:05d}"
            repeats[i] = earlier
        rows.append(row)
    export = write_export(tmp_path / "big.csv", rows)
    folders = {}
    for workers, kind in ((1, Dunning), (2, _SlowDunning)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="dunning.dryrun"):
            summary = dry_run([export], as_of=SAMPLES_AS_OF, out_dir=tmp_path / f"w{workers}",
                              dunning=kind.load(Settings.at(ROOT)), workers=workers)
        assert summary.workers == workers
        assert summary.rows == len(rows)
        folders[workers] = tmp_path / f"w{workers}" / "dry-run"
        [said] = [r.getMessage() for r in caplog.records if "chunk(s)" in r.getMessage()]
        here = int(re.search(r"(\d+) of them in this one", said).group(1))  # type: ignore[union-attr]
        assert here == 3 if workers == 1 else here < 3, said
    assert not multiprocessing.active_children()  # the helper is gone
    for name in ("manifest.jsonl", "rejects.csv"):
        assert (folders[2] / name).read_bytes() == (folders[1] / name).read_bytes(), name
    one, two = (json.loads((folders[w] / "summary.json").read_text("utf-8")) for w in (1, 2))
    for key in ("outcomes", "problems", "total_demanded", "rendered_by_stage",
                "suppressed_by_reason"):
        assert one[key] == two[key], key
    entries = read_manifest_lines(folders[2])
    assert len(entries) == len(rows)
    assert [e["account_id"] for e in entries] == [r["account_id"] for r in rows]
    used = {i: e["reason"] for i, e in enumerate(entries)
            if "already used at" in str(e.get("reason"))}
    assert used == {i: f"account_id: 'P-{earlier:05d}' already used at "
                       f"{entries[earlier]['source']} (expected an id unique in the run)"
                    for i, earlier in repeats.items()}


def test_a_dry_run_whose_helper_cannot_start_says_so(tmp_path: Path) -> None:
    """A script that calls dry_run with two workers but without the `__main__` guard: the
    spawned helper imports the script again and fails before it takes a row. The rows are
    all planned in the script's own process (nothing is missing), and the dry run says why
    it used one core instead of going on silently."""
    from dunning.dryrun import CHUNK

    samples = raw_rows(SAMPLE_FILES[0])
    rows = [{**samples[i % len(samples)], "account_id": f"G-{i:05d}"}
            for i in range(CHUNK + 200)]
    export = write_export(tmp_path / "in.csv", rows)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from datetime import date\n"
        "from pathlib import Path\n"
        "from dunning.dryrun import dry_run\n"
        "from dunning.letter import Dunning\n"
        "from dunning.settings import Settings\n"
        f"summary = dry_run([{str(export)!r}], as_of=date(2026, 11, 20),\n"
        f"                  out_dir={str(tmp_path / 'out')!r},\n"
        f"                  dunning=Dunning.load(Settings.at(Path({str(ROOT)!r}))), workers=2)\n"
        "print('workers', summary.workers, 'rows', summary.rows)\n", "utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["workers", "1", "rows", str(len(rows))]
    assert "1 dry-run helper process(es) ended with an error before taking any rows" \
        in done.stderr
    assert 'under `if __name__ == "__main__":`' in done.stderr
    entries = read_manifest_lines(tmp_path / "out" / "dry-run")
    assert [e["account_id"] for e in entries] == [r["account_id"] for r in rows]


# --------------------------------------------------------------------------- logs


_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "
                   r"(DEBUG|INFO|WARNING|ERROR) dunning[.\w]*: ")


def test_one_log_format_for_warnings_and_progress(tmp_path: Path) -> None:
    export = subset(tmp_path, ["MT-000001", "MT-000012"])
    bad = BAD_FILES[0]
    proc = subprocess.run([DUNNING, "-v", "run", str(export), str(bad), "--as-of", AS_OF,
                           "--out", str(tmp_path / "out"), "--workers", "1",
                           "--progress", "log"], capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert any(" WARNING dunning.batch: rejected " in line for line in lines)
    assert any(" INFO dunning.progress: " in line for line in lines)
    assert all(_LINE.match(line) for line in lines), [x for x in lines if not _LINE.match(x)]


def test_progress_lines_only_with_v(tmp_path: Path) -> None:
    export = subset(tmp_path, ["MT-000012"])
    proc = subprocess.run([DUNNING, "run", str(export), "--as-of", AS_OF, "--out",
                           str(tmp_path / "out"), "--workers", "1", "--progress", "log"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "progress" not in proc.stderr


def test_json_log_format(tmp_path: Path) -> None:
    proc = subprocess.run([DUNNING, "--log-format", "json", "-v", "run", str(BAD_FILES[0]),
                           "--as-of", AS_OF, "--out", str(tmp_path / "out"), "--workers", "1",
                           "--progress", "log"], capture_output=True, text=True, check=False,
                          env={**os.environ})
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    assert {r["level"] for r in records} >= {"INFO", "WARNING"}
    for record in records:
        assert set(record) >= {"time", "level", "logger", "message"}
        assert re.fullmatch(r".+T.+[+-]\d\d:\d\d", record["time"])


def test_a_closed_stdout_does_not_cut_the_run_short(tmp_path: Path) -> None:
    """``dunning run … --print-file | head``: the reader goes away before the summary is
    printed. The run still makes its print files, says on stderr that the summary was not
    shown, and exits with its own code (0 here), not click's 1 for a broken pipe."""
    export = subset(tmp_path, ["MT-000004", "MT-000001"])
    out = tmp_path / "out"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "dunning.cli", "run", str(export), "--as-of", AS_OF,
             "--out", str(out), "--workers", "1", "--print-file", "--progress", "off"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300, check=False)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert "standard output was closed by its reader" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Exception ignored" not in proc.stderr
    assert [e["outcome"] for e in read_manifest_lines(out)] == ["rendered", "rendered"]
    assert list((out / "print").rglob("*.pdf")), "the print files were not made"


# --------------------------------------------------------------------------- render


def test_render_to_stdout(tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    code = main(["render", str(SAMPLE_FILES[0]), "--id", "MT-000004", "--as-of", AS_OF,
                 "-o", "-", "--ledger", ledger])
    assert code == 0
    captured = capfdbinary.readouterr()
    assert captured.out.startswith(b"%PDF-")
    assert b"MT-000004: formal letter" in captured.err
    assert b"written to standard output" in captured.err
    assert not Path("-").exists()
    # the ledger knows the letter by its sha256, and that no copy of it was kept (not a
    # temporary file that is gone)
    book = Ledger(ledger)
    try:
        (row,) = book.history("MT-000004")
    finally:
        book.close()
    assert (row.channel, row.out_dir, row.path) == ("render", "", "-")
    assert row.sha256 == hashlib.sha256(captured.out).hexdigest()
    assert main(["history", "MT-000004", "--ledger", ledger]) == 0
    shown = capfdbinary.readouterr().out.decode()
    assert f"standard output (no copy kept)  sha256 {row.sha256}" in shown


def test_render_keeps_to_the_letter_time_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hanging: tuple[Path, Path]
) -> None:
    """A template that loops for one record: ``dunning render --letter-timeout`` fails that
    letter after the limit (exit 1, the data's problem), as the batch does, instead of
    hanging the agent's command; nothing is written or recorded."""
    home, export = hanging
    ledger = tmp_path / "ledger.sqlite"
    target = tmp_path / "letter.pdf"
    started = time.monotonic()
    code = main(["--home", str(home), "render", str(export), "--id", "MT-000004", "--as-of",
                 AS_OF, "--out", str(target), "--letter-timeout", "2", "--json",
                 "--ledger", f"sqlite:///{ledger}"])
    assert code == 1
    assert time.monotonic() - started < 60
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["outcome"] == "failed"
    assert "took longer than the per-letter time limit of 2 s" in result["reason"]
    assert "MT-000004" in captured.err
    assert not target.exists()
    book = Ledger(f"sqlite:///{ledger}")
    try:
        assert book.history("MT-000004") == []
    finally:
        book.close()


def test_render_unknown_id_gets_close_matches(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["render", "--input", str(SAMPLE_FILES[0]), "--id", "mt-000004", "-o",
                 "x.pdf"])
    assert code == 2
    err = capsys.readouterr().err
    assert "did you mean 'MT-000004'" in err
    assert "case-sensitive" in err
    assert main(["render", str(SAMPLE_FILES[0]), "--id", "MT-00004", "-o", "x.pdf"]) == 2
    assert "did you mean" in capsys.readouterr().err
    # an id pasted with thousands of characters is not echoed whole
    assert main(["render", str(SAMPLE_FILES[0]), "--id", "MT-" + "0" * 5000, "-o",
                 "x.pdf"]) == 2
    err = capsys.readouterr().err
    assert f"… (5003 characters) among its {len(raw_rows(SAMPLE_FILES[0]))} record(s)" in err
    assert len(err) < 300, err


def test_render_an_export_without_id_asks_for_one(capsys: pytest.CaptureFixture[str]) -> None:
    count = len(raw_rows(SAMPLE_FILES[0]))
    assert main(["render", str(SAMPLE_FILES[0]), "-o", "x.pdf"]) == 2
    err = capsys.readouterr().err
    assert f"this file has {count} records: give --id" in err


@pytest.mark.parametrize(("account_id", "outcome", "code", "words"), [
    ("MT-000013", "suppressed", 0, "no letter: suppressed (disputed"),
    ("BAD-CSV-07", "rejected", 1, "no letter: the record is rejected: fees"),
])
def test_render_says_every_outcome_in_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], account_id: str, outcome: str,
    code: int, words: str,
) -> None:
    source = BAD_FILES[0] if account_id.startswith("BAD") else SAMPLE_FILES[0]
    target = tmp_path / "x.pdf"
    assert main(["render", str(source), "--id", account_id, "--as-of", AS_OF, "--out",
                 str(target), "--json", "--ledger",
                 f"sqlite:///{tmp_path / 'ledger.sqlite'}"]) == code
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"{account_id}: ")
    assert words in line
    assert json.loads(captured.out)["outcome"] == outcome
    assert not target.exists()


def test_render_a_failed_letter_is_exit_1_with_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = home_copy(tmp_path)
    partial = home / "templates" / "letter" / "partials" / "contacts.html"
    partial.write_text("{{ no_such_name.x }}" + partial.read_text("utf-8"), "utf-8")
    code = main(["--home", str(home), "render", str(SAMPLE_FILES[0]), "--id", "MT-000004",
                 "--as-of", AS_OF, "-o", str(tmp_path / "x.pdf"), "--ledger",
                 f"sqlite:///{tmp_path / 'ledger.sqlite'}"])
    assert code == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("MT-000004: no letter: it could not be made: ")


# --------------------------------------------------------------------------- history


def test_history_answers_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = subset(tmp_path, ["MT-000004", "MT-000013"])
    out = tmp_path / "out"
    assert main(["-q", "run", str(export), "--as-of", AS_OF, "--out", str(out),
                 "--workers", "1", "--no-preflight"]) == 0
    assert main(["-q", "run", str(export), "--as-of", AS_OF, "--out", str(out),
                 "--workers", "1", "--no-preflight", "--force"]) == 0
    capsys.readouterr()
    run_id = json.loads((out / "summary.json").read_text("utf-8"))["run_id"]
    assert main(["history", "MT-000013", "--ledger-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"no letter on {AS_OF}: disputed" in text
    assert run_id in text
    assert main(["history", "MT-000004", "--out", str(out)]) == 0  # the old spelling
    lines = capsys.readouterr().out.splitlines()
    first, second = lines[1], lines[2]
    assert " v1 superseded " in first
    assert " v2 current " in second
    assert run_id in second
    assert " batch " in second  # the channel
    assert " formal " in second
    entry = next(e for e in read_manifest_lines(out) if e["account_id"] == "MT-000004")
    assert f"sha256 {entry['sha256']}" in second
    assert str(entry["path"]) in second
    # an id pasted with thousands of characters: one short line, not the id whole
    assert main(["history", "X" * 3000, "--ledger-dir", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith("'" + "X" * 64 + "'… (3000 characters): nothing in the ledger")
    assert len(said) < 200


def test_a_run_into_the_default_folder_spelled_out_keeps_the_default_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run` gave --out output/<as-of> (the default folder, spelled out): its ledger
    went to output/<as-of>/, where `history` and `render` do not look, so `render` made the
    same letter a second time the same night."""
    home = home_copy(tmp_path)
    export = subset(tmp_path, ["MT-000004"])
    spelled = home / "output" / AS_OF
    assert main(["-q", "--home", str(home), "run", str(export), "--as-of", AS_OF, "--out",
                 str(spelled), "--workers", "1", "--no-preflight"]) == 0
    assert (home / "output" / "ledger.sqlite").is_file()
    assert not (spelled / "ledger.sqlite").exists()
    capsys.readouterr()
    assert main(["--home", str(home), "history", "MT-000004"]) == 0
    assert " v1 current " in capsys.readouterr().out
    code = main(["--home", str(home), "render", str(export), "--id", "MT-000004",
                 "--as-of", AS_OF, "--out", str(tmp_path / "again.pdf")])
    err = capsys.readouterr().err
    assert code == 0, err  # suppressed: an outcome, not a failure
    assert err.startswith("MT-000004: no letter: suppressed (recent_notice"), err
    assert not (tmp_path / "again.pdf").exists()


# --------------------------------------------------------------------------- README


def _slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_is_arranged_by_reader() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    headings = re.findall(r"^#{2,3} (.+)$", text, re.M)
    for reader in ("operations", "agents", "template authors"):
        assert f"Five minutes for {reader}" in headings
    assert headings[0] == "Contents"
    anchors = {_slug(h) for h in headings}
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    for anchor in re.findall(r"\]\(#([\w-]+)\)", contents):
        assert anchor in anchors, anchor
    for doc in re.findall(r"\]\((docs/[\w.-]+)\)", contents):
        assert (ROOT / doc).is_file(), doc
    # the reference sections live in docs/ (the README links to them); the layout and a
    # letter's path in docs/development.md
    reference = text.split("## Reference\n", 1)[1].split("\n## ", 1)[0]
    for doc in ("reference", "operations", "api", "development", "performance"):
        assert f"(docs/{doc}.md)" in reference, doc
    development = (ROOT / "docs" / "development.md").read_text("utf-8")
    assert "## Project layout" in development
    assert "### A letter's path" in development
    # the benchmark tables live in docs/performance.md; the README quotes the dry-run rate
    performance = text.split("## Performance\n", 1)[1].split("\n## ", 1)[0]
    assert "|" not in performance
    rate = re.search(r"([\d,]+) rows per second", performance)
    assert rate
    assert "bench/dry_run_bench.py --rows 100000" in performance
    doc = (ROOT / "docs" / "performance.md").read_text("utf-8")
    assert f"= {rate[1]} rows/s" in doc
    assert "apt" not in text.split("## Contents", 1)[0]


def test_preflight_keeps_to_the_letter_time_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hanging: tuple[Path, Path]
) -> None:
    """A template that loops for one record's data is that letter's problem: pre-flight stops
    its letter checks at the time limit, and the run fails that letter (exit 1)."""
    home, _ = hanging
    export = subset(tmp_path, ["MT-000004", "MT-000001"])
    out = tmp_path / "out"
    code = main(["--home", str(home), "run", str(export), "--as-of", AS_OF, "--out",
                 str(out), "--workers", "1", "--letter-timeout", "2"])
    assert code == 1
    assert "pre-flight: the letter for MT-000004 took longer than 2 s" in capsys.readouterr().err
    assert [e["outcome"] for e in read_manifest_lines(out)] == ["failed", "rendered"]


def test_option_names_agree_across_commands() -> None:
    """``--out`` everywhere a command writes or reads a folder or file, ``--input`` everywhere
    it reads exports; the old spellings stay as aliases."""
    from dunning.cli import cli

    def options(command: str) -> set[str]:
        return {opt for param in cli.commands[command].params
                for opt in getattr(param, "opts", [])}

    assert {"--out", "-o", "--output", "--input"} <= options("render")
    assert {"--out", "--input"} <= options("run")
    assert {"--ledger-dir", "--out"} <= options("history")
    assert {"--input", "--samples"} <= options("check")
    # the folder whose ledger is read, the keys file: one name in every command
    assert {"--ledger-dir", "--out"} <= options("verify")
    assert "--keys" in options("serve")
    keys_add = cli.commands["keys"].commands["add"]  # type: ignore[attr-defined]
    assert {"--keys", "--file"} <= {o for p in keys_add.params for o in getattr(p, "opts", [])}
    # exports as arguments wherever --input is taken
    for command in ("run", "render", "check"):
        assert any(getattr(p, "param_type_name", "") == "argument"
                   for p in cli.commands[command].params), command
