"""The batch in worker processes: the same letters as in one process, input streamed through a
bounded window, the manifest in input order, and a killed worker failing only its letter."""

from __future__ import annotations

import gc
import io
import json
import multiprocessing
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from dunning.batch import RunSummary, run_batch
from dunning.letter import Dunning
from dunning.output import ManifestEntry
from dunning.progress import LogProgress
from dunning.workers import GC_THRESHOLD, WorkerPool, death_reason

from .helpers import SAMPLE_FILES, SAMPLES_AS_OF, raw_rows, read_manifest_lines, write_export


def _formal(account_id: str) -> dict[str, Any]:
    """A copy of the sample formal letter MT-000004 under another account id."""
    row = next(r for r in raw_rows(SAMPLE_FILES[0]) if r["account_id"] == "MT-000004")
    return {**row, "account_id": account_id}


def _not_overdue(account_id: str) -> dict[str, Any]:
    return {**_formal(account_id), "due_date": "2026-12-01"}


def test_two_workers_give_the_same_letters_as_one(
    sample_run: tuple[RunSummary, Path], tmp_path: Path, dunning: Dunning
) -> None:
    """Byte-identical PDFs: a letter depends only on its record, the config and the fonts,
    never on which process rendered it or what it rendered before."""
    summary, out = sample_run
    assert summary.workers == 2
    single = run_batch(SAMPLE_FILES, as_of=SAMPLES_AS_OF, out_dir=tmp_path, dunning=dunning,
                       workers=1)
    assert single.workers == 1
    # outcomes, order, pages and sha256
    assert read_manifest_lines(tmp_path) == read_manifest_lines(out)
    for entry in read_manifest_lines(out):
        if entry["path"]:
            assert (tmp_path / entry["path"]).read_bytes() == (out / entry["path"]).read_bytes()


def test_input_is_streamed_through_a_bounded_window(tmp_path: Path, dunning: Dunning) -> None:
    rows = []
    for i in range(2000):
        if i % 500 == 7:
            rows.append(_formal(f"S-{i:05d}"))
        elif i % 333 == 5:
            rows.append({**_not_overdue(f"S-{i:05d}"), "overdue_principal": "12,000.00"})
        else:
            rows.append(_not_overdue(f"S-{i:05d}"))
    export = write_export(tmp_path / "big.csv", rows)
    seen: list[str] = []
    log = io.StringIO()
    summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out",
                        dunning=dunning, workers=2, window=16, recycle_after=700,
                        progress=LogProgress(log, every=500, interval=float("inf")),
                        on_row=lambda entry: seen.append(str(entry.account_id)))
    assert 2 <= summary.peak_in_flight <= 16
    manifest = read_manifest_lines(tmp_path / "out")
    assert [e["account_id"] for e in manifest] == [r["account_id"] for r in rows] == seen
    lines = [int(e["source"].rsplit(":", 1)[1]) for e in manifest]
    assert lines == sorted(lines)
    assert summary.counts == {"rendered": 4, "rejected": 6, "suppressed": 1990}
    assert summary.worker_deaths == 0  # recycled workers are not deaths
    progress = log.getvalue().splitlines()
    assert [line.split("progress: ")[1].split(",")[0] for line in progress] == [
        "500/2000 rows (25.0%)", "1000/2000 rows (50.0%)", "1500/2000 rows (75.0%)",
        "2000/2000 rows (100.0%)", "2000/2000 rows (100.0%)",
    ]
    assert "4 letters" in progress[-1]
    assert "done in" in progress[-1]


def test_a_killed_worker_fails_only_its_letter(tmp_path: Path, dunning: Dunning) -> None:
    rows = [_formal(f"K-{i:03d}") for i in range(10)]
    export = write_export(tmp_path / "in.csv", rows)
    killed: list[int] = []

    def kill_one(entry: ManifestEntry) -> None:
        if not killed:
            victim = multiprocessing.active_children()[0]
            assert victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim.pid)

    summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=tmp_path / "out",
                        dunning=dunning, workers=2, on_row=kill_one)
    manifest = read_manifest_lines(tmp_path / "out")
    assert [e["account_id"] for e in manifest] == [r["account_id"] for r in rows]
    failed = [e for e in manifest if e["outcome"] == "failed"]
    assert len(failed) == 1, manifest
    assert failed[0]["reason"] == death_reason(-signal.SIGKILL)
    assert failed[0]["path"] is None
    assert summary.counts["rendered"] == 9
    assert summary.worker_deaths == 1
    assert summary.exit_code == 1
    assert not multiprocessing.active_children(), "workers left running"


def test_death_reason_names_the_signal_or_exit_code() -> None:
    assert "SIGSEGV" in death_reason(-signal.SIGSEGV)
    assert "exit code 3" in death_reason(3)


def test_workers_must_be_positive(tmp_path: Path, dunning: Dunning) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_batch(SAMPLE_FILES, as_of=SAMPLES_AS_OF, out_dir=tmp_path, dunning=dunning,
                  workers=0)


def test_progress_is_log_lines_when_stderr_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dunning.cli import main

    export = write_export(tmp_path / "in.csv", [_not_overdue("P-1"), _not_overdue("P-2")])
    args = ["run", str(export), "--as-of", SAMPLES_AS_OF.isoformat(), "--workers", "1"]
    assert main(["-v", *args, "--out", str(tmp_path / "a")]) == 0  # progress is INFO: -v
    [line] = [x for x in capsys.readouterr().err.splitlines() if "progress:" in x]
    assert re.search(r"progress: 2/2 rows \(100\.0%\), 0 letters, [\d.]+ rows/s, done in \d+s$",
                     line), line
    assert main(["-q", *args, "--out", str(tmp_path / "b")]) == 0
    assert "progress:" not in capsys.readouterr().err


class GcProbe:
    """A job that answers with the garbage collector's state of the process that runs it."""

    def warm(self) -> None:
        self.kept = [{"warm": [i]} for i in range(5000)]  # stands in for fonts and stylesheets

    def __call__(self, row: Any) -> ManifestEntry:
        state = {"frozen": gc.get_freeze_count(), "threshold": list(gc.get_threshold())}
        return ManifestEntry(account_id=str(row), source="probe", outcome="rendered",
                             reason=json.dumps(state))


def test_a_warm_worker_freezes_what_it_loaded_and_collects_less_often() -> None:
    """The letters' short-lived objects are collected as before; what warm-up loaded is no
    longer walked by every collection (workers.settle)."""
    before = gc.get_threshold()
    with WorkerPool(GcProbe(), workers=1, recycle_after=10,
                    failed=lambda row, why: pytest.fail(why)) as pool:
        pool.submit(0, "G-1")
        answers: list[tuple[int, ManifestEntry]] = []
        while not answers:
            answers += pool.collect(timeout=30)
    [(_seq, entry)] = answers
    state = json.loads(entry.reason or "{}")
    assert state["frozen"] >= 5000 * 2  # the warm-up's dicts and lists at least
    assert tuple(state["threshold"]) == GC_THRESHOLD != before
    assert gc.get_threshold() == before  # this process: as it was
    assert gc.get_freeze_count() == 0
