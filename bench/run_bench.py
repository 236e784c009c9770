"""Benchmark the nightly batch against the naive loop, on the standard formal zh_CN letter.

Generates ``--records`` copies of the sample formal letter MT-000004 (distinct account ids),
runs the whole batch on them (from reading the CSV to the last manifest line, as ``dunning run``
does), then renders the first ``--naive-records`` of the same letters the naive way: one cold
WeasyPrint call per letter in this process, with a fresh font configuration, the stylesheets
fetched and parsed again and the system fonts. Prints letters per second, ms per letter (wall
and CPU), peak memory of the whole run (every process of it: the batch and its workers, sampled
every 0.1 s from /proc) and the median PDF size, and the ratio of the two rates.

    .venv/bin/python bench/run_bench.py --records 200 --workers 2

Timings depend on what else the machine is doing: CPU time per letter is printed as well,
because it does not.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 20)
SAMPLE_ID = "MT-000004"  # the formal-stage sample letter (mingtai, zh_CN, two pages)
PAGE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- memory


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(pid: int) -> list[int]:
    tree = _children()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += tree.get(current, [])
    return found


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in bytes; PSS shares shared pages out fairly."""
    try:
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
        return rss, pss
    except (OSError, ValueError, IndexError):
        return 0, 0


class MemorySampler(threading.Thread):
    """Peak total RSS and PSS of this process and all its descendants."""

    def __init__(self, interval: float = 0.1, report_every: float | None = None) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.report_every = report_every
        self.peak_rss = self.peak_pss = self.peak_processes = 0
        self._done = threading.Event()

    def run(self) -> None:
        last = time.monotonic()
        while not self._done.is_set():
            pids = _tree(os.getpid())
            sizes = [_memory(pid) for pid in pids]
            if self.report_every and time.monotonic() - last >= self.report_every:
                last = time.monotonic()
                sys.stderr.write(f"memory now {sum(r for r, _ in sizes) / 2**20:.0f} MiB RSS / "
                                 f"{sum(p for _, p in sizes) / 2**20:.0f} MiB PSS, peak "
                                 f"{self.peak_rss / 2**20:.0f} / {self.peak_pss / 2**20:.0f}\n")
            self.peak_rss = max(self.peak_rss, sum(r for r, _ in sizes))
            self.peak_pss = max(self.peak_pss, sum(p for _, p in sizes))
            self.peak_processes = max(self.peak_processes, len(pids))
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# --------------------------------------------------------------------------- runs


def warm_sample_letter() -> tuple[Any, Any]:
    """``(dunning, plan)`` for the sample formal letter, in this process warmed up as a batch
    worker is (renderer warmed, one letter made, then ``workers.settle``)."""
    from dunning.letter import Dunning
    from dunning.records import Record, read_records
    from dunning.settings import Settings
    from dunning.workers import settle

    dunning = Dunning.load(Settings.at(ROOT))
    record = next(r for r in read_records([ROOT / "data" / "samples" / "accounts.csv"],
                                          dunning.record_rules())
                  if isinstance(r, Record) and r.account_id == SAMPLE_ID)
    plan = dunning.plan(record, AS_OF)
    dunning.renderer.warm()
    dunning.render(plan)
    settle()
    return dunning, plan


def make_records(path: Path, count: int) -> None:
    """``count`` copies of the sample formal letter, each with its own account id."""
    with (ROOT / "data" / "samples" / "accounts.csv").open(encoding="utf-8", newline="") as f:
        sample = next(r for r in csv.DictReader(f) if r["account_id"] == SAMPLE_ID)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(sample))
        writer.writeheader()
        for i in range(count):
            writer.writerow({**sample, "account_id": f"BENCH-{i:07d}"})


def run_batch_bench(export: Path, out: Path, workers: int, verbose: bool) -> dict[str, Any]:
    from dunning.batch import run_batch
    from dunning.letter import Dunning
    from dunning.output import read_manifest
    from dunning.settings import Settings

    dunning = Dunning.load(Settings.at(ROOT))
    sampler = MemorySampler(report_every=60 if verbose else None)
    sampler.start()
    cpu, started = _cpu(), time.monotonic()
    summary = run_batch([export], as_of=AS_OF, out_dir=out, dunning=dunning, workers=workers,
                        progress="log" if verbose else "off")
    wall, cpu = time.monotonic() - started, _cpu() - cpu
    sampler.stop()
    entries = read_manifest(out / "manifest.jsonl")
    sizes = [(out / e["path"]).stat().st_size for e in entries if e["outcome"] == "rendered"]
    letters = summary.counts["rendered"]
    if letters != len(entries):
        raise SystemExit(f"expected every row rendered, got {dict(summary.counts)}")
    return {
        "letters": letters, "workers": workers, "seconds": wall,
        "letters_per_s": letters / wall, "ms_per_letter": 1000 * wall / letters,
        "cpu_ms_per_letter": 1000 * cpu / letters,
        "peak_rss_mib": sampler.peak_rss / 2**20, "peak_pss_mib": sampler.peak_pss / 2**20,
        "processes": sampler.peak_processes,
        "median_pdf_kib": statistics.median(sizes) / 1024, "max_pdf_kib": max(sizes) / 1024,
        "pages": sorted({e["pages"] for e in entries}),
    }


def run_naive_bench(export: Path, count: int) -> dict[str, Any]:
    """The naive loop: one cold WeasyPrint call per letter, nothing kept between letters."""
    from weasyprint import HTML

    from dunning.letter import Dunning
    from dunning.pdf import _fetcher_class
    from dunning.records import Record, read_records
    from dunning.settings import Settings

    dunning = Dunning.load(Settings.at(ROOT))
    assets = dunning.settings.assets_dir.resolve()
    fetcher = _fetcher_class()
    records = []
    for row in read_records([export], dunning.record_rules()):
        if isinstance(row, Record):
            records.append(row)
        if len(records) == count:
            break
    sizes = []
    cpu, started = _cpu(), time.monotonic()
    for record in records:
        markup = dunning.html(dunning.plan(record, AS_OF))
        data = HTML(string=markup, base_url=assets.as_uri() + "/",
                    url_fetcher=fetcher(assets)).write_pdf()
        sizes.append(len(data))
    wall, cpu = time.monotonic() - started, _cpu() - cpu
    return {
        "letters": len(records), "seconds": wall, "letters_per_s": len(records) / wall,
        "ms_per_letter": 1000 * wall / len(records),
        "cpu_ms_per_letter": 1000 * cpu / len(records),
        "median_pdf_kib": statistics.median(sizes) / 1024,
    }


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200, help="letters in the batch run")
    parser.add_argument("--workers", type=int, default=None, help="default: every core")
    parser.add_argument("--naive-records", type=int, default=30,
                        help="letters for the naive loop (the first of the same ones; "
                             "default 30; 0 skips it)")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--verbose", action="store_true",
                        help="progress lines and the memory every minute on stderr")
    args = parser.parse_args(argv)

    from dunning.workers import default_workers

    workers = args.workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="dunning-bench-") as tmp:
        export = Path(tmp) / "bench.csv"
        make_records(export, args.records)
        batch = run_batch_bench(export, Path(tmp) / "out", workers, args.verbose)
        naive = run_naive_bench(export, min(args.naive_records, args.records)) \
            if args.naive_records else None

    load = os.getloadavg()[0]
    say(f"batch  {batch['letters']} letters, {workers} workers: "
          f"{batch['letters_per_s']:.1f} letters/s, {batch['ms_per_letter']:.0f} ms/letter "
          f"(CPU {batch['cpu_ms_per_letter']:.0f} ms/letter), {batch['seconds']:.1f} s")
    say(f"       peak memory {batch['peak_rss_mib']:.0f} MiB RSS / "
          f"{batch['peak_pss_mib']:.0f} MiB PSS over {batch['processes']} processes; "
          f"median PDF {batch['median_pdf_kib']:.0f} KiB (max {batch['max_pdf_kib']:.0f}), "
          f"pages {batch['pages']}")
    if naive:
        say(f"naive  {naive['letters']} letters, 1 process: "
              f"{naive['letters_per_s']:.2f} letters/s, {naive['ms_per_letter']:.0f} ms/letter "
              f"(CPU {naive['cpu_ms_per_letter']:.0f} ms/letter), median PDF "
              f"{naive['median_pdf_kib']:.0f} KiB")
        say(f"ratio  {batch['letters_per_s'] / naive['letters_per_s']:.1f}x the naive loop "
              f"(CPU per letter: {naive['cpu_ms_per_letter'] / batch['cpu_ms_per_letter']:.1f}x)")
    say(f"load   1-min load average at the end: {load:.2f} on {os.cpu_count()} cores")
    if args.json:
        say(json.dumps({"batch": batch, "naive": naive, "load": load}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
