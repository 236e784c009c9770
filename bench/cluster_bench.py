"""Throughput of the batch on a Dask cluster with 1 and 2 local workers (and the local pool).

Generates ``--records`` copies of the standard formal zh_CN letter (sample MT-000004, as
bench/run_bench.py does), starts a ``distributed.LocalCluster`` with N worker processes of one
thread each, and runs the whole batch on it twice, each time into a fresh folder: the first
run includes putting the dunning plugin on the workers and warming their renderers, the
second finds them warm (as the next night's run would on a long-lived cluster). For
comparison, the same letters with the local process pool (``--workers N``). Prints letters
per second, wall and CPU ms per letter (CPU of every process of this benchmark, workers
included, read from /proc), and checks that every letter is byte-identical across the runs.

    .venv/bin/python bench/cluster_bench.py --records 40 --workers 1 2

Timings depend on what else the machine is doing: the load average is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_bench import AS_OF, ROOT, _tree, make_records

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process, every live descendant and the children
    that ended and were waited for (the local pool's workers)."""
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ended.ru_utime + ended.ru_stime
    for pid in _tree(os.getpid()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def _run(export: Path, out: Path, **options: Any) -> dict[str, Any]:
    from dunning.batch import run_batch
    from dunning.letter import Dunning
    from dunning.settings import Settings

    dunning = Dunning.load(Settings.at(ROOT))
    cpu, started = _cpu_seconds(), time.monotonic()
    summary = run_batch([export], as_of=AS_OF, out_dir=out, dunning=dunning, progress="off",
                        **options)
    wall, cpu = time.monotonic() - started, _cpu_seconds() - cpu
    letters = summary.counts["rendered"]
    if letters != summary.rows:
        raise SystemExit(f"expected every row rendered, got {dict(summary.counts)}")
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.pdf")}
    return {"letters": letters, "seconds": wall, "letters_per_s": letters / wall,
            "ms_per_letter": 1000 * wall / letters, "cpu_ms_per_letter": 1000 * cpu / letters,
            "files": files}


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _line(label: str, result: dict[str, Any]) -> str:
    return (f"{label:<34} {result['letters']} letters in {result['seconds']:5.1f} s: "
            f"{result['letters_per_s']:4.2f} letters/s, {result['ms_per_letter']:4.0f} ms/letter "
            f"(CPU {result['cpu_ms_per_letter']:4.0f} ms/letter)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=40, help="letters per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="cluster sizes to measure (worker processes, one thread each)")
    parser.add_argument("--no-local", action="store_true",
                        help="skip the local process pool for comparison")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)

    from distributed import LocalCluster

    say(f"load: 1-min load average at the start {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} cores")
    results: dict[str, dict[str, Any]] = {}
    reference: dict[str, bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="dunning-cluster-bench-") as tmp:
        export = Path(tmp) / "bench.csv"
        make_records(export, args.records)
        for n in args.workers:
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                              dashboard_address=":0") as cluster:
                for run in ("cold", "warm"):
                    label = f"cluster, {n} worker(s), {run}"
                    result = _run(export, Path(tmp) / f"c{n}-{run}",
                                  cluster=cluster.scheduler_address)
                    results[label] = result
                    say(_line(label, result))
            if not args.no_local:
                label = f"local pool, {n} worker(s)"
                results[label] = _run(export, Path(tmp) / f"l{n}", workers=n)
                say(_line(label, results[label]))
        for label, result in results.items():
            files = result.pop("files")
            reference = reference or files
            if files != reference:
                raise SystemExit(f"{label}: letters differ from the first run")
    say(f"letters byte-identical across all {len(results)} runs")
    load = os.getloadavg()[0]
    say(f"load: 1-min load average at the end {load:.2f} on {os.cpu_count()} cores")
    if args.json:
        say(json.dumps({"results": results, "load": load}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
