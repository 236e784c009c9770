"""Rows per second and memory of the dry run (``dunning run --dry-run``) on a generated export.

Generates ``--rows`` rows (default 100,000) by cycling through every sample row of
data/samples/accounts.csv, each with its own account id (so the mix of stages, suppressions,
locales and brands is the samples'), then runs :func:`dunning.dryrun.dry_run` on it into a
fresh folder, as the CLI does (no ledger). Prints rows per second, the peak resident memory of
the process, and the resident memory sampled through the run (flat: it does not grow with the
row count). Pre-flight is not included (it takes a few seconds whatever the size).

    .venv/bin/python bench/dry_run_bench.py --rows 100000

Timings depend on what else the machine is doing: the load average is printed at the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 20)
PAGE = os.sysconf("SC_PAGE_SIZE")


def make_export(path: Path, rows: int) -> None:
    with (ROOT / "data" / "samples" / "accounts.csv").open(encoding="utf-8", newline="") as f:
        samples = list(csv.DictReader(f))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(samples[0]))
        writer.writeheader()
        for i in range(rows):
            writer.writerow({**samples[i % len(samples)], "account_id": f"DRY-{i:08d}"})


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


class Sampler(threading.Thread):
    """Resident memory every ``every`` seconds while the run goes."""

    def __init__(self, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.done.wait(self.every):
            self.samples.append((time.monotonic() - started, rss()))


def helpers() -> float:
    """CPU seconds of the helper processes that have ended (the dry run waits for them)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def instructions(rows: int) -> int:
    """Instructions a child process executes for a dry run of ``rows`` rows in one process
    (valgrind's cachegrind), export included."""
    run = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, __file__, "--rows", str(rows), "--workers", "1", "--child"],
        capture_output=True, text=True, check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode != 0 or not found:
        raise SystemExit(f"valgrind failed (exit {run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="processes planning (default: one per core)")
    parser.add_argument("--instructions", action="store_true",
                        help="print the instructions per row of one process instead (valgrind: "
                             "the same on a busy machine; --rows 1000 and 3000 compared)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
        few, many = instructions(1000), instructions(3000)
        print(f"{(many - few) / 2000 / 1e3:,.0f} k instructions per row "  # noqa: T201
              "(one process; a dry run of 3,000 rows less one of 1,000)")
        return
    from dunning.dryrun import dry_run
    from dunning.letter import Dunning
    from dunning.settings import Settings

    dunning = Dunning.load(Settings.at(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.csv"
        make_export(export, args.rows)
        if args.child:
            dry_run([export], as_of=AS_OF, out_dir=Path(tmp) / "out", dunning=dunning,
                    workers=args.workers)
            return
        before = rss()
        sampler = Sampler()
        sampler.start()
        started, cpu_started, helpers_started = time.monotonic(), time.process_time(), helpers()
        summary = dry_run([export], as_of=AS_OF, out_dir=Path(tmp) / "out", dunning=dunning,
                          workers=args.workers)
        wall = time.monotonic() - started
        cpu = time.process_time() - cpu_started
        helper_cpu = helpers() - helpers_started
        sampler.done.set()
        sampler.join()
    if summary.rows != args.rows:
        raise SystemExit(f"expected {args.rows} rows in the manifest, got {summary.rows}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    samples = sampler.samples or [(wall, rss())]
    quarter = [samples[int(len(samples) * q)][1] for q in (0.1, 0.5)] + [samples[-1][1]]
    print(f"dry run: {args.rows} rows in {wall:.1f} s = {args.rows / wall:,.0f} rows/s "  # noqa: T201
          f"({dict(summary.counts)})")
    print(f"CPU time: {cpu + helper_cpu:.1f} s = {args.rows / (cpu + helper_cpu):,.0f} rows "  # noqa: T201
          f"per CPU second (this process {cpu:.1f} s, helpers {helper_cpu:.1f} s; "
          f"{(cpu + helper_cpu) / wall:.2f} cores busy)")
    print(f"memory: {before / 2**20:.0f} MiB before; resident at 10%/50%/end of the run: "  # noqa: T201
          + " / ".join(f"{r / 2**20:.0f}" for r in quarter)
          + f" MiB; peak {peak / 2**20:.0f} MiB")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "  # noqa: T201
          f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
