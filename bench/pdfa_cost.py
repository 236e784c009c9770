"""What archive-grade letters cost: PDF/A-3b with the attached record data against plain PDF.

Renders the same sample letters (the standard formal zh_CN letter MT-000004 first, then other
brands, locales and page counts) in one warm process, alternately with ``pdf_archive`` off and
on, ``--rounds`` times each, and prints per letter the median time of the PDF writing step
(WeasyPrint's ``write_pdf``, where the two modes differ: layout is the same) in CPU and wall
time, the median time of the whole letter, and the size of each mode: what PDF/A, its sRGB
output intent, the XMP metadata and ``letter-data.json`` add.

    .venv/bin/python bench/pdfa_cost.py --rounds 15

Alternating the modes letter by letter keeps the machine's load from favouring either; CPU
time is printed as well because other work on the machine changes it much less.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dunning.letter import Dunning  # noqa: E402
from dunning.records import Record, read_records  # noqa: E402
from dunning.settings import Settings  # noqa: E402

AS_OF = date(2026, 11, 20)
SAMPLES = [ROOT / "data" / "samples" / "accounts.csv", ROOT / "data" / "samples" / "accounts.yaml"]
#: The standard formal zh_CN letter first, then other brands, locales and page counts.
DEFAULT_IDS = ("MT-000004", "JQ-000004", "LM-000004", "RS-000002", "MT-000041")


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="renders per letter and mode")
    parser.add_argument("--ids", nargs="*", default=list(DEFAULT_IDS), help="sample accounts")
    args = parser.parse_args()

    base = Dunning.load(Settings.at(ROOT))
    modes = {
        "plain": dataclasses.replace(base, settings=base.settings.with_changes(
            pdf_archive=False)),
        "pdf/a": dataclasses.replace(base, settings=base.settings.with_changes(
            pdf_archive=True)),
    }
    from weasyprint.document import Document

    writing: list[tuple[float, float]] = []
    original = Document.write_pdf

    def timed_write(self: Document, *args: object, **kwargs: object) -> object:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            writing.append(((time.perf_counter() - t0) * 1000,
                            (time.process_time() - c0) * 1000))

    Document.write_pdf = timed_write
    shared = base.renderer
    shared.warm()
    for dunning in modes.values():
        dunning._renderer = shared  # one warm renderer: only the PDF writing differs
    records = {r.account_id: r for r in read_records(SAMPLES, base.record_rules())
               if isinstance(r, Record)}

    say(f"{'letter':<11}{'pages':>5}  {'write ms CPU':>17}  {'write ms wall':>17}"
          f"  {'letter ms wall':>15}  {'KiB':>17}")
    say(f"{'':<16}  {'plain PDF/A    +':>17}  {'plain PDF/A    +':>17}"
          f"  {'plain PDF/A':>15}  {'plain PDF/A    +':>17}")
    extra_cpu, extra_wall, extra_kib = [], [], []
    for account in args.ids:
        plans = {name: d.plan(records[account], AS_OF) for name, d in modes.items()}
        write_cpu: dict[str, list[float]] = {name: [] for name in modes}
        write_wall: dict[str, list[float]] = {name: [] for name in modes}
        total: dict[str, list[float]] = {name: [] for name in modes}
        size: dict[str, int] = {}
        pages = 0
        for round_ in range(args.rounds + 1):  # round 0 warms this letter's fonts
            for name, dunning in modes.items():
                writing.clear()
                t0 = time.perf_counter()
                letter = dunning.render(plans[name])
                if round_:
                    total[name].append((time.perf_counter() - t0) * 1000)
                    write_wall[name].append(writing[0][0])
                    write_cpu[name].append(writing[0][1])
                size[name], pages = len(letter.pdf.data), letter.pdf.pages
        cpu = {n: statistics.median(v) for n, v in write_cpu.items()}
        wall = {n: statistics.median(v) for n, v in write_wall.items()}
        whole = {n: statistics.median(v) for n, v in total.items()}
        kib = {n: s / 1024 for n, s in size.items()}
        extra_cpu.append(cpu["pdf/a"] - cpu["plain"])
        extra_wall.append(wall["pdf/a"] - wall["plain"])
        extra_kib.append(kib["pdf/a"] - kib["plain"])
        say(f"{account:<11}{pages:>5}  {cpu['plain']:>5.0f} {cpu['pdf/a']:>5.0f} "
              f"{extra_cpu[-1]:>+5.1f}  {wall['plain']:>5.0f} {wall['pdf/a']:>5.0f} "
              f"{extra_wall[-1]:>+5.1f}  {whole['plain']:>7.0f} {whole['pdf/a']:>7.0f}  "
              f"{kib['plain']:>5.1f} {kib['pdf/a']:>5.1f} {extra_kib[-1]:>+5.1f}")
    say(f"PDF/A costs {statistics.median(extra_cpu):+.1f} ms of CPU "
          f"({statistics.median(extra_wall):+.1f} ms wall) and "
          f"{statistics.median(extra_kib):+.1f} KiB per letter (median over "
          f"{len(args.ids)} letters, {args.rounds} rounds each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
