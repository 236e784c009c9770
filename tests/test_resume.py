"""Runs that never lose or duplicate a letter: resume, versions, force, interval from the
ledger, the output lock, a per-letter time limit, and SIGKILL at random points."""

from __future__ import annotations

import fcntl
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pikepdf
import pytest

from dunning.batch import run_batch
from dunning.errors import OutputError
from dunning.ledger import Ledger
from dunning.letter import Dunning
from dunning.output import sha256
from dunning.settings import Settings

from .helpers import (
    ROOT,
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    hanging_home,
    raw_rows,
    read_manifest_lines,
    write_export,
)

IDS = ["MT-000001", "MT-000004", "MT-000007", "JQ-000004", "JQ-000007", "MT-000012"]


def _export(path: Path, ids: list[str] = IDS, **changes: dict[str, str]) -> Path:
    rows = [r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] in ids]
    rows = [{**r, **changes.get(r["account_id"].replace("-", "_"), {})} for r in rows]
    return write_export(path, rows)


def _pdfs(out: Path) -> dict[str, float]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*.pdf")}


def test_rerun_resumes_and_changed_data_makes_a_new_version(
    tmp_path: Path, dunning: Dunning, ledger_url: str
) -> None:
    out = tmp_path / "out"
    export = _export(tmp_path / "in.csv")
    first = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                      workers=1, ledger=ledger_url)
    assert first.counts["rendered"] == 5
    assert first.counts["suppressed"] == 1
    files = _pdfs(out)
    assert len(files) == 5

    again = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                      workers=1, ledger=ledger_url)
    assert again.counts["rendered"] == 5
    assert again.resumed == 5
    assert _pdfs(out) == files, "a resumed letter must not be written again"
    assert all(e["resumed"] for e in read_manifest_lines(out) if e["outcome"] == "rendered")

    changed = _export(tmp_path / "in2.csv", MT_000004={"paid_since_due": "100.00"})
    third = run_batch([changed], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                      workers=1, ledger=ledger_url)
    assert third.resumed == 4
    now = _pdfs(out)
    assert set(files) < set(now), "the old letter is kept"
    [new] = set(now) - set(files)
    assert new == "mingtai/formal/MT-000004~v2.pdf"
    ledger = Ledger(ledger_url)
    history = ledger.history("MT-000004")
    assert [h.status for h in history] == ["superseded", "current"]
    assert history[1].path == new
    assert history[0].superseded_by == history[1].id
    entry = next(e for e in read_manifest_lines(out) if e["account_id"] == "MT-000004")
    assert entry["path"] == new
    assert not entry["resumed"]
    ledger.close()


def test_force_renders_every_letter_again(tmp_path: Path, dunning: Dunning) -> None:
    out = tmp_path / "out"
    export = _export(tmp_path / "in.csv")
    run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning, workers=1)
    forced = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                       workers=1, force=True)
    assert forced.resumed == 0
    assert forced.counts["rendered"] == 5
    assert len(_pdfs(out)) == 10
    ledger = Ledger.for_output(out)
    assert sum(1 for r in ledger.letters_in(out) if r.status == "current") == 5
    ledger.close()


def test_template_change_is_a_new_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for folder in ("config", "templates", "locales"):
        shutil.copytree(ROOT / folder, home / folder)
    out = tmp_path / "out"
    export = _export(tmp_path / "in.csv", ["MT-000004"])
    run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out,
              dunning=Dunning.load(Settings.at(home)), workers=1)
    partial = home / "templates" / "letter" / "partials" / "signature.html"
    partial.write_text(partial.read_text("utf-8") + "\n<p>Reviewed 2026.</p>\n", "utf-8")
    second = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out,
                       dunning=Dunning.load(Settings.at(home)), workers=1)
    assert second.resumed == 0
    assert second.new_versions == {"templates": 1}
    assert sorted(_pdfs(out)) == ["mingtai/formal/MT-000004.pdf",
                                  "mingtai/formal/MT-000004~v2.pdf"]


def test_stray_files_and_invisible_changes_make_no_new_version(tmp_path: Path) -> None:
    """An editor's backup in templates/ is no template; a template change that leaves the
    letter's bytes as they were makes no new version either."""
    home = tmp_path / "home"
    for folder in ("config", "templates", "locales"):
        shutil.copytree(ROOT / folder, home / folder)
    out = tmp_path / "out"
    export = _export(tmp_path / "in.csv", ["MT-000004", "MT-000001"])
    first = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out,
                      dunning=Dunning.load(Settings.at(home)), workers=1)
    before = _pdfs(out)
    partials = home / "templates" / "letter" / "partials"
    (partials / "consequences.html.bak").write_text("old wording", "utf-8")
    (partials / ".consequences.html.swp").write_bytes(b"\0swap")
    (home / "templates" / ".DS_Store").write_bytes(b"\0")
    (home / "config" / "brands.yaml~").write_text("x", "utf-8")
    stray = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out,
                      dunning=Dunning.load(Settings.at(home)), workers=1)
    assert stray.resumed == first.counts["rendered"] == 2
    assert stray.new_versions == {}
    signature = partials / "signature.html"
    signature.write_text(signature.read_text("utf-8") + "\n<!-- reviewed -->\n", "utf-8")
    invisible = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out,
                          dunning=Dunning.load(Settings.at(home)), workers=1)
    assert invisible.new_versions == {}
    assert invisible.resumed == 2  # rendered again, found equal: the same letters
    assert _pdfs(out) == before
    again = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out,
                      dunning=Dunning.load(Settings.at(home)), workers=1)
    assert again.resumed == 2
    assert _pdfs(out) == before
    ledger = Ledger.for_output(out)
    assert [r.status for r in ledger.letters_in(out.resolve())] == ["current", "current"]
    ledger.close()


def test_minimum_interval_reads_the_ledger(
    tmp_path: Path, dunning: Dunning, ledger_url: str
) -> None:
    export = _export(tmp_path / "in.csv", ["MT-000004"])
    run_batch([export], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "d0", dunning=dunning,
              workers=1, ledger=ledger_url)
    soon = run_batch([export], as_of=SAMPLES_AS_OF + timedelta(days=3),
                     out_dir=tmp_path / "d3", dunning=dunning, workers=1, ledger=ledger_url)
    [entry] = read_manifest_lines(tmp_path / "d3")
    assert entry["outcome"] == "suppressed"
    assert entry["reason"].startswith("recent_notice: last letter 3 days ago")
    assert soon.exit_code == 0
    later = run_batch([export], as_of=SAMPLES_AS_OF + timedelta(days=7),
                      out_dir=tmp_path / "d7", dunning=dunning, workers=1, ledger=ledger_url)
    assert later.counts["rendered"] == 1


def test_two_runs_cannot_write_one_folder(tmp_path: Path, dunning: Dunning) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with (out / "run.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OutputError, match="another run"):
            run_batch([_export(tmp_path / "in.csv")], as_of=SAMPLES_AS_OF, out_dir=out,
                      dunning=dunning, workers=1)
    assert not (out / "manifest.jsonl").exists()


def test_a_hanging_letter_fails_alone(tmp_path: Path) -> None:
    home = hanging_home(tmp_path / "home")
    out = tmp_path / "out"
    export = _export(tmp_path / "in.csv", ["MT-000004", "MT-000001", "JQ-000004"])
    started = time.monotonic()
    summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out,
                        dunning=Dunning.load(Settings.at(home)), workers=2, letter_timeout=5)
    assert time.monotonic() - started < 120
    by_id = {e["account_id"]: e for e in read_manifest_lines(out)}
    assert by_id["MT-000004"]["outcome"] == "failed"
    assert "time limit" in by_id["MT-000004"]["reason"]
    assert by_id["MT-000001"]["outcome"] == by_id["JQ-000004"]["outcome"] == "rendered"
    assert summary.exit_code == 1


def _run_cli(export: Path, out: Path, ledger: str,
             capture: bool = False, workers: int = 2) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("dunning")
    return subprocess.Popen(
        [str(exe), "-q", "run", str(export), "--as-of", SAMPLES_AS_OF.isoformat(), "--out",
         str(out), "--workers", str(workers), "--ledger", ledger, "--progress", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_at_random_points_never_loses_or_duplicates(tmp_path: Path,
                                                            workers: int) -> None:
    """Ten SIGKILLs at random moments with each worker count (twenty in all), each run a
    rerun of the killed one, then a run to the end.

    The 47 rows of two brands in their default locale: with 24, a fast machine finished the
    work within four runs (start-up and pre-flight take ~2 s a run, then ~7 letters/s) and
    left nothing to kill; with all 68, pre-flight renders a letter for every brand and locale
    (~4 s) and every kill fell before the run began."""
    ids = [r["account_id"] for r in raw_rows(SAMPLE_FILES[0])
           if not r["locale"] and r["brand"] in ("mingtai", "jinqiao")]
    export = _export(tmp_path / "in.csv", ids)
    out = tmp_path / "out"
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    chance = random.Random(20261120 + workers)
    kills = 0
    for _ in range(10):
        proc = _run_cli(export, out, ledger_url, workers=workers)
        time.sleep(chance.uniform(0.5, 4.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, no cleanup
            kills += 1
        proc.wait()
    assert kills >= 5, "the runs finished before they could be killed: use more records"
    final = _run_cli(export, out, ledger_url, capture=True, workers=workers)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()

    manifest = read_manifest_lines(out)
    assert [e["account_id"] for e in manifest] == ids
    rendered = {e["account_id"]: e for e in manifest if e["outcome"] == "rendered"}
    pdfs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.pdf"))
    assert pdfs == sorted(e["path"] for e in rendered.values()), "a letter exists twice"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    ledger = Ledger(ledger_url)
    current = [r for r in ledger.letters_in(out) if r.status == "current"]
    assert sorted(r.account_id for r in current) == sorted(rendered)
    assert all(r.status == "current" for r in ledger.letters_in(out)), "nothing superseded"
    for row in current:
        data = (out / row.path).read_bytes()
        assert sha256(data) == row.sha256 == rendered[row.account_id]["sha256"]
        with pikepdf.open(out / row.path) as pdf:
            assert len(pdf.pages) == row.pages
    statuses = [r["status"] for r in ledger.runs()]
    assert statuses[-1] == "finished"
    assert "running" not in statuses
    assert 0 < statuses.count("interrupted") <= kills  # a run killed early has no row
    ledger.close()


def test_report_and_history_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dunning.cli import main

    out = tmp_path / "out"
    export = _export(tmp_path / "in.csv")
    assert main(["-q", "run", str(export), "--as-of", SAMPLES_AS_OF.isoformat(), "--out",
                 str(out), "--workers", "1"]) == 0
    printed_by_run = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["reconciles"] is True
    assert summary["rows"] == 6
    assert summary["rendered_by_locale"] == {"zh_CN": 5}
    total = sum(Decimal(v["CNY"]) for v in summary["demanded_by_stage"].values())
    assert total == Decimal(summary["total_demanded"]["CNY"])

    assert main(["report", str(out)]) == 0
    report = capsys.readouterr().out
    assert "6 rows = 5 rendered + 1 suppressed + 0 rejected + 0 failed" in report
    assert report.strip() in printed_by_run

    assert main(["history", "MT-000004", "--out", str(out)]) == 0
    history = capsys.readouterr().out
    assert "MT-000004: 1 letter(s)" in history
    assert "2026-11-20  run " in history
    assert " formal " in history
    assert "mingtai/formal/MT-000004.pdf" in history

    assert main(["history", "MT-000004", "--out", str(tmp_path / "nothing")]) == 2
    assert main(["report", str(tmp_path / "nothing")]) == 2


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 400 KiB file system (tmpfs), made bigger on demand: room for about two
    letters, so that a run fills it. Needs root (CI and `make test` run as root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_stops_the_run_and_a_rerun_with_room_resumes(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk fills after a few letters: exit 2 naming the file and the reason, no temp
    file left, every letter on disk whole. The run stopped before recording them, as a
    killed run does; with room, the rerun finds them equal to what it makes (recovered, not
    made twice), makes the rest, and the manifest lists each row once."""
    from dunning.cli import main

    picked = {"MT-000001", "MT-000002", "MT-000003", "JQ-000001", "JQ-000002", "JQ-000003"}
    ids = [r["account_id"] for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] in picked]
    export = _export(tmp_path / "in.csv", ids)
    out = small_disk / "run"
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    args = ["-q", "run", str(export), "--as-of", SAMPLES_AS_OF.isoformat(), "--out", str(out),
            "--ledger", ledger_url, "--workers", "1", "--no-preflight"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err, err
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    first = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.pdf")}
    assert 0 < len(first) < len(ids)
    for data in first.values():
        with pikepdf.open(io.BytesIO(data)) as pdf:  # whole, not cut short by the full disk
            assert len(pdf.pages) >= 1
    assert not (out / "manifest.jsonl").exists()

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert (summary["interrupted_runs"], summary["recovered"]) == (1, len(first))
    manifest = read_manifest_lines(out)
    assert [e["account_id"] for e in manifest] == ids
    assert all(e["outcome"] == "rendered" for e in manifest)
    assert {e["path"] for e in manifest if e.get("resumed")} == set(first)
    for path, data in first.items():
        assert (out / path).read_bytes() == data  # kept, not made again
    ledger = Ledger(ledger_url)
    rows = list(ledger.letters_in(out))
    statuses = [r["status"] for r in ledger.runs()]
    ledger.close()
    assert statuses == ["interrupted", "finished"]
    assert sorted(r.account_id for r in rows) == sorted(ids)
    assert all(r.status == "current" for r in rows)
    for row in rows:
        assert sha256((out / row.path).read_bytes()) == row.sha256


def test_a_dry_run_into_a_full_disk_says_which_file(
    small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its manifest cannot be written: exit 2, the file and the reason in one line (it was
    "unexpected OSError"), no temp file left; with room, the same command completes."""
    from dunning.cli import main

    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (392 * 1024))  # leaves about 8 KiB
    out = small_disk / "run"
    args = ["-q", "run", str(SAMPLE_FILES[0]), "--as-of", SAMPLES_AS_OF.isoformat(), "--out",
            str(out), "--dry-run", "--no-preflight", "--workers", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"dunning: error: cannot write {out / 'dry-run' / 'manifest.jsonl'}:"
                           " No space left on device")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    filler.unlink()
    assert main(args) == 0
    assert len(read_manifest_lines(out / "dry-run")) == len(raw_rows(SAMPLE_FILES[0]))
