"""Benchmark the nightly batch against the naive loop, on the standard formal zh_CN letter.

Generates ``--records`` copies of the sample formal letter MT-000004 (distinct account ids),
runs the whole batch on them (from reading the CSV to the last manifest line, as ``dunning run``
does), and renders the first ``--naive-records`` of the same letters the naive way, half before
the batch and half after (so that the machine's speed drifting during the run favours neither
side), each half in a process of its own: one cold WeasyPrint call per letter, with a fresh font
configuration, the stylesheets fetched and parsed again and the system fonts. Prints letters per
second, ms per letter (wall and CPU), the rate between the 10% and 90% marks of the batch,
peak memory of the whole batch run (every process of it: the batch and its workers, sampled
every 0.1 s from /proc) and the median PDF size, and the ratio of the two rates.

    .venv/bin/python bench/run_bench.py --records 200 --workers 2

Timings depend on what else the machine is doing, and on this shared virtual machine drift by
10-20% from one hour to the next; CPU time per letter varies less, and ``bench/instructions.py``
not at all.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
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
    done: list[float] = []  # when each manifest line was written
    summary = run_batch([export], as_of=AS_OF, out_dir=out, dunning=dunning, workers=workers,
                        progress="log" if verbose else "off",
                        on_row=lambda entry: done.append(time.monotonic()))
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
        "steady_letters_per_s": _steady_rate(done),
    }


def _steady_rate(done: list[float]) -> float:
    """Letters per second between the 10% and the 90% marks of the run: without the start
    (workers starting and warming up) and the end (the last letters, one worker idle)."""
    first, last = len(done) // 10, len(done) * 9 // 10
    return (last - first) / (done[last] - done[first]) if last > first else float("nan")


def run_naive_bench(export: Path, count: int, skip: int = 0) -> dict[str, Any]:
    """The naive loop: one cold WeasyPrint call per letter, nothing kept between letters;
    over ``count`` records after the first ``skip``."""
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
        if len(records) == skip + count:
            break
    records = records[skip:]

    def naive_letter(record: Record) -> bytes:
        markup = dunning.html(dunning.plan(record, AS_OF))
        data: bytes = HTML(string=markup, base_url=assets.as_uri() + "/",
                           url_fetcher=fetcher(assets)).write_pdf()
        return data

    naive_letter(records[0])  # once, untimed: what a process pays once (templates, fontconfig)
    sizes = []
    cpu, started = _cpu(), time.monotonic()
    for record in records:
        sizes.append(len(naive_letter(record)))
    wall, cpu = time.monotonic() - started, _cpu() - cpu
    return {"letters": len(records), "seconds": wall, "cpu_seconds": cpu, "sizes": sizes}


def naive_child(export: Path, count: int, skip: int = 0) -> dict[str, Any]:
    """:func:`run_naive_bench` in a process of its own (its fonts and caches must not count
    in the batch's memory, nor the batch's in its time)."""
    out = subprocess.run([sys.executable, __file__, "--naive-child", str(export), str(skip),
                          str(count)], capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


def naive_totals(*parts: dict[str, Any]) -> dict[str, Any]:
    """Several naive runs as one."""
    letters = sum(p["letters"] for p in parts)
    wall = sum(p["seconds"] for p in parts)
    return {
        "letters": letters, "seconds": wall, "letters_per_s": letters / wall,
        "ms_per_letter": 1000 * wall / letters,
        "cpu_ms_per_letter": 1000 * sum(p["cpu_seconds"] for p in parts) / letters,
        "median_pdf_kib": statistics.median([n for p in parts for n in p["sizes"]]) / 1024,
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
    parser.add_argument("--naive-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--verbose", action="store_true",
                        help="progress lines and the memory every minute on stderr")
    args = parser.parse_args(argv)
    if args.naive_child:
        export, skip, count = args.naive_child
        say(json.dumps(run_naive_bench(Path(export), int(count), skip=int(skip))))
        return 0

    from dunning.workers import default_workers

    workers = args.workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="dunning-bench-") as tmp:
        export = Path(tmp) / "bench.csv"
        make_records(export, args.records)
        naive_count = min(args.naive_records, args.records)
        # Half of the naive loop before the batch and half after, so that a machine that
        # speeds up or slows down during the run does not favour either side.
        before = naive_child(export, naive_count // 2) if naive_count > 1 else None
        batch = run_batch_bench(export, Path(tmp) / "out", workers, args.verbose)
        after = naive_child(export, naive_count - naive_count // 2, skip=naive_count // 2) \
            if naive_count else None
        naive = naive_totals(*[p for p in (before, after) if p]) if after else None

    load = os.getloadavg()[0]
    say(f"batch  {batch['letters']} letters, {workers} workers: "
          f"{batch['letters_per_s']:.1f} letters/s, {batch['ms_per_letter']:.0f} ms/letter "
          f"(CPU {batch['cpu_ms_per_letter']:.0f} ms/letter), {batch['seconds']:.1f} s; "
          f"{batch['steady_letters_per_s']:.1f} letters/s between the 10% and 90% marks")
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
              f"(CPU per letter: {naive['cpu_ms_per_letter'] / batch['cpu_ms_per_letter']:.1f}x; "
              f"between the marks: "
              f"{batch['steady_letters_per_s'] / naive['letters_per_s']:.1f}x)")
    say(f"load   1-min load average at the end: {load:.2f} on {os.cpu_count()} cores")
    if args.json:
        say(json.dumps({"batch": batch, "naive": naive, "load": load}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
