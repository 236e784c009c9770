"""The batch on a real Dask cluster (``distributed.LocalCluster``, two worker processes):
the same letters, byte for byte, as a local run; a worker killed mid-run loses and duplicates
nothing; a killed driver resumes; workers with other templates are refused; output to an
fsspec URL (``memory://``)."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from dunning.batch import RunSummary, run_batch
from dunning.errors import ClusterError, OutputError
from dunning.ledger import Ledger
from dunning.letter import Dunning
from dunning.output import ManifestEntry, sha256
from dunning.settings import Settings
from dunning.store import LocalStore, open_store

from .helpers import (
    ROOT,
    SAMPLE_FILES,
    SAMPLES_AS_OF,
    hanging_home,
    raw_rows,
    read_manifest_lines,
    write_export,
)

distributed = pytest.importorskip("distributed")

#: 20 sample rows (every stage, several brands and locales, suppressed ones) and a bad one.
ROWS = 20


def _export(path: Path) -> Path:
    rows = raw_rows(SAMPLE_FILES[0])[:ROWS]
    bad = {**rows[0], "account_id": "BAD-000001", "overdue_principal": "12,000.00"}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([*rows[:10], bad, *rows[10:]])
    return path


def _without_resumed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "resumed"} for e in entries]


def _pdfs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.pdf"))}


def _temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes, one thread each, started for these tests."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _export(tmp_path_factory.mktemp("cluster-in") / "in.csv")


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, dunning: Dunning, export: Path
) -> tuple[RunSummary, Path]:
    """The same input run locally, in this process."""
    out = tmp_path_factory.mktemp("cluster-ref") / "out"
    summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                        workers=1)
    return summary, out


def _check_letters_once(out: Path, reference: Path, ledger_url: str | None = None) -> None:
    """Every row has one entry, as in the local run; every letter exists once, with the
    local run's bytes; the ledger holds exactly these letters, all current."""
    manifest = read_manifest_lines(out)
    assert _without_resumed(manifest) == _without_resumed(read_manifest_lines(reference))
    rendered = {e["account_id"]: e for e in manifest if e["outcome"] == "rendered"}
    assert _pdfs(out) == _pdfs(reference), "a letter is missing, twice, or has other bytes"
    assert not _temp_files(out)
    ledger = Ledger(ledger_url) if ledger_url else Ledger.for_output(out)
    rows = list(ledger.letters_in(out))
    ledger.close()
    assert sorted(r.account_id for r in rows) == sorted(rendered), "one ledger row a letter"
    assert all(r.status == "current" for r in rows)
    for row in rows:
        assert sha256((out / row.path).read_bytes()) == row.sha256
        assert rendered[row.account_id]["path"] == row.path


def test_cluster_letters_are_byte_identical_to_a_local_run(
    cluster: Any, reference: tuple[RunSummary, Path], export: Path, tmp_path: Path,
    dunning: Dunning, caplog: pytest.LogCaptureFixture,
) -> None:
    local, ref_out = reference
    out = tmp_path / "out"
    caplog.set_level(logging.WARNING, logger="dunning")
    summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                        cluster=cluster.scheduler_address)
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("dunning")]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("rejected")
    assert summary.cluster == cluster.scheduler_address
    assert summary.workers == 2
    assert summary.counts == local.counts
    assert summary.counts["rejected"] == 1
    assert summary.counts["rendered"] >= 14
    # outcomes, order, paths, pages and sha256
    assert read_manifest_lines(out) == read_manifest_lines(ref_out)
    _check_letters_once(out, ref_out)
    data = json.loads((out / "summary.json").read_text("utf-8"))
    assert data["cluster"] == cluster.scheduler_address
    assert data["outcomes"] == local.to_dict()["outcomes"]

    again = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                      cluster=cluster.scheduler_address)
    assert again.resumed == summary.counts["rendered"], "a rerun on the cluster resumes"


def test_a_killed_worker_loses_no_letter_and_duplicates_none(
    cluster: Any, client: Any, reference: tuple[RunSummary, Path], export: Path,
    tmp_path: Path, dunning: Dunning,
) -> None:
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_a_busy_worker(entry: ManifestEntry) -> None:
        if killed:
            return
        busy = [w for w, keys in client.processing().items() if keys]
        if not busy:
            return
        pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                        cluster=cluster.scheduler_address, on_row=kill_a_busy_worker)
    assert killed, "no worker was busy when the first letters came back: use more records"
    assert summary.counts == reference[0].counts  # nothing failed: the chunk was retried
    assert summary.resumed == 0
    _check_letters_once(out, reference[1])
    client.wait_for_workers(2, timeout=120)  # the nanny restarts it, for the next tests


def test_a_chunk_run_twice_writes_each_letter_once(
    cluster: Any, reference: tuple[RunSummary, Path], export: Path, tmp_path: Path,
    dunning: Dunning,
) -> None:
    """What Dask does with the chunk of a worker that died: run it again, elsewhere (here
    both at once, on the two workers). The driver fixed each letter's path and version,
    rendering is deterministic and writes are atomic: the same bytes land in the same files,
    and no other file is made."""
    from dunning.cluster import ClusterPool
    from dunning.job import LetterJob, Task
    from dunning.job import failed_entry as _worker_died
    from dunning.records import Record, read_records

    out = tmp_path / "out"
    store = open_store(out)
    store.prepare()
    records = [r for r in read_records([export], dunning.record_rules())
               if isinstance(r, Record)][:6]
    chunk = [(seq, Task(record=record)) for seq, record in enumerate(records)]
    pool = ClusterPool(LetterJob(dunning=dunning, as_of=SAMPLES_AS_OF, store=store),
                       cluster.scheduler_address, run_id="twice", letter_timeout=None,
                       template_version=dunning.template_version(), failed=_worker_died)
    results: list[tuple[int, ManifestEntry]] = []
    with pool:
        pool._send(chunk)
        pool._send(chunk)
        deadline = time.monotonic() + 240
        while len(results) < 2 * len(chunk) and time.monotonic() < deadline:
            results += pool.collect(timeout=1.0)
    assert sorted(seq for seq, _ in results) == sorted(2 * [seq for seq, _ in chunk])
    by_seq: dict[int, list[ManifestEntry]] = {}
    for seq, entry in results:
        by_seq.setdefault(seq, []).append(entry)
    assert all(first == second for first, second in by_seq.values()), "same entry twice"
    paths = {e.path for e, _ in by_seq.values() if e.outcome == "rendered"}
    assert len(paths) >= 4
    made = _pdfs(out)
    assert set(made) == paths, "one file a letter"
    assert made == {p: b for p, b in _pdfs(reference[1]).items() if p in paths}
    assert not _temp_files(out)


class _KillingStore(LocalStore):
    """A folder whose writes of MT-000004's letter kill the worker process writing it, as a
    crash inside a C library would (workers import this module by name)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_KillingStore, (self.root,))

    def write(self, rel: str, data: bytes) -> None:
        if "MT-000004" in rel:
            os.kill(os.getpid(), signal.SIGKILL)
        super().write(rel, data)


def test_a_letter_that_kills_every_worker_fails_alone(tmp_path: Path, dunning: Dunning) -> None:
    """Dask gives up on a chunk that killed its workers (KilledWorker, here after the first
    death): its records are sent again one by one, so only the letter that kills fails.
    (One task per worker thread, so that no other chunk waits on a worker that dies.)"""
    import dask

    rows = [r for r in raw_rows(SAMPLE_FILES[0])
            if r["account_id"] in ("MT-000001", "MT-000004", "MT-000007", "JQ-000004")]
    export = write_export(tmp_path / "in.csv", rows)
    out = tmp_path / "out"
    store = _KillingStore(out)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as local:
        with mock.patch("dunning.batch.open_store", return_value=store):
            summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                                cluster=local.scheduler_address)
    by_id = {e["account_id"]: e for e in read_manifest_lines(out)}
    assert by_id["MT-000004"]["outcome"] == "failed"
    assert "worker process died" in by_id["MT-000004"]["reason"]
    assert [by_id[i]["outcome"] for i in ("MT-000001", "MT-000007", "JQ-000004")] \
        == ["rendered"] * 3
    assert summary.worker_deaths >= 2
    assert summary.exit_code == 1
    assert sorted(p.name for p in out.rglob("*.pdf")) == [
        "JQ-000004.pdf", "MT-000001.pdf", "MT-000007.pdf"]


def test_a_killed_driver_resumes(
    cluster: Any, reference: tuple[RunSummary, Path], export: Path, tmp_path: Path,
    dunning: Dunning,
) -> None:
    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("dunning")
    proc = subprocess.Popen(
        [str(exe), "-q", "run", str(export), "--as-of", SAMPLES_AS_OF.isoformat(), "--out",
         str(out), "--cluster", cluster.scheduler_address, "--progress", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "DUNNING_HOME": str(ROOT)},
    )
    made = 0
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{out / 'ledger.sqlite'}?mode=ro", uri=True) as db:
                made = db.execute("SELECT count(*) FROM dunning_letters").fetchone()[0]
        except sqlite3.Error:
            made = 0
        if made >= 2:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        _, err = proc.communicate()
        pytest.fail(f"the run ended before it was killed (exit {proc.returncode}): "
                    f"{err.decode()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert made >= 2
    assert not (out / "manifest.jsonl").exists()

    summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                        cluster=cluster.scheduler_address)
    assert summary.resumed >= made, "letters the killed run recorded are not made again"
    assert summary.counts == reference[0].counts
    _check_letters_once(out, reference[1])


def test_workers_with_other_templates_are_refused(
    cluster: Any, client: Any, export: Path, tmp_path: Path, dunning: Dunning,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dunning.cli import main

    home = tmp_path / "home"
    for folder in ("config", "templates", "locales"):
        shutil.copytree(ROOT / folder, home / folder, ignore=shutil.ignore_patterns("*.mo"))
    partial = home / "templates" / "letter" / "partials" / "signature.html"
    partial.write_text(partial.read_text("utf-8") + "\n<!-- reviewed -->\n", "utf-8")
    out = tmp_path / "out"
    where = str(home)  # the workers' project folder from now on (lambdas travel by value)
    client.run(lambda: os.environ.__setitem__("DUNNING_HOME", where))
    try:
        with pytest.raises(ClusterError, match=r"makes other letters than the driver: "
                                               r"templates \w+ \(driver: \w+\)"):
            run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out, dunning=dunning,
                      cluster=cluster.scheduler_address)
        code = main(["-q", "--home", str(ROOT), "run", str(export), "--as-of",
                     SAMPLES_AS_OF.isoformat(), "--out", str(out), "--cluster",
                     cluster.scheduler_address])
    finally:
        client.run(lambda: os.environ.pop("DUNNING_HOME", None))
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("dunning: error: worker tcp://")
    assert "templates" in err
    assert "install the same" in err
    assert not list(out.rglob("*.pdf"))
    assert not (out / "manifest.jsonl").exists()


def test_a_hanging_letter_fails_alone_on_the_cluster(cluster: Any, tmp_path: Path) -> None:
    home = hanging_home(tmp_path / "home")
    rows = [r for r in raw_rows(SAMPLE_FILES[0])
            if r["account_id"] in ("MT-000004", "MT-000001", "JQ-000004")]
    export = write_export(tmp_path / "in.csv", rows)
    out = tmp_path / "out"
    summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=out,
                        dunning=Dunning.load(Settings.at(home)),
                        cluster=cluster.scheduler_address, letter_timeout=5)
    by_id = {e["account_id"]: e for e in read_manifest_lines(out)}
    assert by_id["MT-000004"]["outcome"] == "failed"
    assert by_id["MT-000004"]["reason"] == "took longer than the per-letter time limit of 5 s"
    assert by_id["MT-000001"]["outcome"] == by_id["JQ-000004"]["outcome"] == "rendered"
    assert summary.exit_code == 1


def test_memory_url_output(
    reference: tuple[RunSummary, Path], export: Path, tmp_path: Path, dunning: Dunning,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An fsspec URL as the output location. ``memory://`` lives in one process, so this
    cluster's worker is a thread of this process (an object store would be shared)."""
    import fsspec

    url = f"memory://dunning-tests/{tmp_path.name}"
    ledger = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with pytest.raises(OutputError, match="needs a ledger database"):
        run_batch([export], as_of=SAMPLES_AS_OF, out_dir=url, dunning=dunning, workers=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as local:
        summary = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=url, dunning=dunning,
                            cluster=local.scheduler_address, ledger=ledger)
        again = run_batch([export], as_of=SAMPLES_AS_OF, out_dir=url + "/", dunning=dunning,
                          cluster=local.scheduler_address, ledger=ledger)
    assert summary.counts == reference[0].counts
    assert summary.manifest == f"{url}/manifest.jsonl"
    assert again.resumed == summary.counts["rendered"]
    fs = fsspec.filesystem("memory")
    root = fs._strip_protocol(url)
    manifest = [json.loads(line) for line in fs.cat_file(f"{root}/manifest.jsonl").splitlines()]
    assert _without_resumed(manifest) == _without_resumed(read_manifest_lines(reference[1]))
    stored = json.loads(fs.cat_file(f"{root}/summary.json"))
    assert stored["outcomes"]["rendered"] == summary.counts["rendered"]
    letters = {p.removeprefix(root + "/"): fs.cat_file(p)
               for p in fs.find(root) if p.endswith(".pdf")}
    assert letters == _pdfs(reference[1])
    assert not [p for p in fs.find(root) if p.endswith(".tmp")]
    book = Ledger(ledger)
    assert {r.path for r in book.letters_in(url)} == set(letters)
    book.close()
    locks = ROOT / "output" / "locks" / open_store(url).key
    assert (locks / "run.lock").is_file()
    shutil.rmtree(locks)  # the project's output/ keeps nothing of the tests
    from dunning.cli import main

    first = next(e for e in manifest if e["outcome"] == "rendered")
    capsys.readouterr()
    assert main(["history", first["account_id"], "--ledger", ledger]) == 0
    assert f"{url}/{first['path']}" in capsys.readouterr().out
    fs.rm(root, recursive=True)
