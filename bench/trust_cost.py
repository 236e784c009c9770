"""What issue 21 costs per letter: the letter as it was (PDF/A-3b), tagged (PDF/A-3a), and
tagged, sealed (PAdES B-B with a 2048-bit RSA key) and carrying its verification code.

Makes the same sample letters through the one letter path (:func:`dunning.job.make_letter`:
plan, render, protect, seal) in one warm process, in turn in the three modes (``pdf/a-3b``
is selected by setting :data:`dunning.archive.PDF_VARIANT` back for that mode; the sealed
mode uses a config whose brands sign and print codes, with a test CA and key made here as
the tests make them: tests/pki.py), ``--rounds`` times each, and prints per letter the
median CPU and wall time of the whole letter in each mode, the median time of the signing
step alone, and the size of each mode.

    .venv/bin/python bench/trust_cost.py --rounds 9
    .venv/bin/python bench/trust_cost.py --instructions          # valgrind, ~8 min
    .venv/bin/python bench/trust_cost.py --sizes --modes 3b 3a   # every sample letter

Letters are made as a batch worker makes them: once warm, the process settles its garbage
collector (:func:`dunning.workers.settle`: what was loaded frozen, young objects collected
less often). Without that, a full collection walks the whole warm heap (about 80 ms, once
every four to seven letters) and the sealed letter, which allocates more, triggers more of
them: measured so, MT-000001 looked 16-17 % dearer sealed instead of 13-14 %. Alternating the
modes letter by letter keeps the machine's load from favouring either; CPU time is printed
as well because other work on the machine changes it much less.
``--instructions`` counts the instructions of one warm letter per mode (and of the signing
step alone) under valgrind's callgrind: the count does not depend on the machine's load, so
it is the figure to compare on a shared machine. ``--sizes`` makes every sample letter in
each mode and prints the median size. The issue's target: a sealed letter costs at most
15 % more CPU than today's.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.pki import P12_PASSWORD, PASSWORD_ENV, SECRET, SECRET_ENV, make_trust  # noqa: E402

from dunning import archive  # noqa: E402
from dunning.archive import as_of_midnight  # noqa: E402
from dunning.config import load_brands  # noqa: E402
from dunning.job import Task, make_letter  # noqa: E402
from dunning.letter import Dunning  # noqa: E402
from dunning.records import Record, read_records  # noqa: E402
from dunning.settings import Settings  # noqa: E402
from dunning.sign import load_signer, sign_pdf  # noqa: E402
from dunning.workers import settle  # noqa: E402

AS_OF = date(2026, 11, 20)
SAMPLES = [ROOT / "data" / "samples" / "accounts.csv", ROOT / "data" / "samples" / "accounts.yaml"]
#: mingtai letters (the brand with a printed seal): the standard formal zh_CN letter first.
DEFAULT_IDS = ("MT-000004", "MT-000041", "MT-000001")
MODES = ("3b", "3a", "3a+seal")
#: The signing step alone, measured next to the modes.
SIGNING = "signing"
#: What callgrind counted before the first measured letter (dropped).
WARMING = "warming"


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    data = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, data


@dataclasses.dataclass
class Bench:
    """The warm renderer and what each mode needs."""

    modes: dict[str, tuple[Dunning, str]]
    records: dict[str, Record]
    plain: Dunning
    signer: Any
    when: Any

    @classmethod
    def make(cls, names: list[str]) -> Bench:
        os.environ[PASSWORD_ENV] = P12_PASSWORD
        os.environ[SECRET_ENV] = SECRET
        folder = Path(tempfile.mkdtemp(prefix="trust-cost-"))  # test CA and brand keys
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        trust = make_trust(folder, ROOT)
        plain = Dunning.load(Settings.at(ROOT))
        plain.warm()
        # The same Dunning and warm renderer, with brands that sign and print codes.
        sealed = dataclasses.replace(plain, brands=load_brands(
            trust.config_dir / "brands.yaml", plain.settings.assets_dir))
        every = {"3b": (plain, "pdf/a-3b"), "3a": (plain, "pdf/a-3a"),
                 "3a+seal": (sealed, "pdf/a-3a")}
        records = {r.account_id: r for r in read_records(SAMPLES, plain.record_rules())
                   if isinstance(r, Record)}
        signing = sealed.brands["mingtai"].signing
        assert signing is not None
        return cls({name: every[name] for name in names}, records, plain,
                   load_signer(signing), as_of_midnight(AS_OF, plain.settings.tz))

    def letter(self, mode: str, task: Task) -> Any:
        dunning, variant = self.modes[mode]
        archive.PDF_VARIANT = variant
        return make_letter(task, dunning, AS_OF)

    def unsigned(self, task: Task) -> bytes:
        archive.PDF_VARIANT = "pdf/a-3a"
        data: bytes = self.plain.render(self.plain.plan(task.record, AS_OF)).pdf.data
        return data

    def sign(self, unsigned: bytes) -> bytes:
        return sign_pdf(unsigned, self.signer, signing_time=self.when)


def timing(args: argparse.Namespace) -> int:
    bench = Bench.make(args.modes)
    for mode in bench.modes:  # warm: fonts, stylesheets, pyHanko's imports
        bench.letter(mode, Task(bench.records[args.ids[0]]))
    settle()  # the garbage collector as in a batch worker, after its warm-up
    say(f"{'account':<11} {'mode':<8} {'cpu ms':>8} {'wall ms':>8} {'bytes':>8}")
    totals = {name: 0.0 for name in bench.modes}
    for account in args.ids:
        task = Task(bench.records[account])
        cpu: dict[str, list[float]] = {name: [] for name in bench.modes}
        wall: dict[str, list[float]] = {name: [] for name in bench.modes}
        size: dict[str, int] = {}
        for _ in range(args.rounds):
            for name in bench.modes:
                c, w, outcome = _timed(partial(bench.letter, name, task))
                cpu[name].append(c)
                wall[name].append(w)
                assert outcome.data is not None, outcome.entry.reason
                size[name] = len(outcome.data)
        for name in bench.modes:
            median = statistics.median(cpu[name])
            totals[name] += median
            say(f"{account:<11} {name:<8} {median * 1000:8.1f} "
                f"{statistics.median(wall[name]) * 1000:8.1f} {size[name]:8d}")
        unsigned = bench.unsigned(task)
        signs = [_timed(partial(bench.sign, unsigned))[0] for _ in range(args.rounds)]
        say(f"{account:<11} signing step alone {statistics.median(signs) * 1000:.1f} ms cpu")
        if "3b" in bench.modes:
            base = statistics.median(cpu["3b"])
            say(f"{account:<11} " + "; ".join(
                f"{name} {statistics.median(cpu[name]) / base - 1:+.1%} cpu "
                f"{size[name] - size['3b']:+d} bytes" for name in bench.modes if name != "3b"))
    if "3b" in bench.modes:
        for name in bench.modes:
            if name != "3b":
                say(f"all letters {name}: {totals[name] / totals['3b'] - 1:+.1%} cpu against "
                    "3b (sum of medians)")
    return 0


# ------------------------------------------------------------------ instruction counts
#
# Under callgrind, entering getppid() zeroes the counters and entering getpgrp() dumps them
# (--zero-before / --dump-before): the measured process calls os.getppid() just before a
# letter and os.getpgrp() just after, so each dump holds exactly one letter's instructions.
# Nothing else in the letter path calls either.


def _measured(fn: Callable[[], Any]) -> Any:
    """``fn()`` between the two markers, after a full garbage collection and with every
    object left frozen (gc.freeze): a full collection of the warm process's heap (about
    100 ms, once every few letters) would otherwise land in whichever letter happens to
    cross the threshold; collections during ``fn`` see only its own objects."""
    gc.collect()
    gc.freeze()
    os.getppid()
    result = fn()
    os.getpgrp()
    gc.unfreeze()
    return result


def inside_callgrind(args: argparse.Namespace) -> int:
    """The measured process: warm letters, then one measured letter per mode and account,
    then the signing step alone; prints the order of the dumps."""
    bench = Bench.make(args.modes)
    labels = []
    for account in args.ids:
        task = Task(bench.records[account])
        for mode in bench.modes:  # two warm letters, so caches are as in a batch
            for _ in range(2):
                bench.letter(mode, task)
        settle()
        # A first, empty dump, dropped: the first dump also held the work of threads that
        # ran (and ended) while warming, about 430 M instructions, whatever mode came first.
        _measured(lambda: None)
        labels.append(f"{account} {WARMING} 0")
        for mode in bench.modes:
            outcome = _measured(partial(bench.letter, mode, task))
            assert outcome.data is not None, outcome.entry.reason
            labels.append(f"{account} {mode} {len(outcome.data)}")
        unsigned = bench.unsigned(task)
        bench.sign(unsigned)
        _measured(partial(bench.sign, unsigned))
        labels.append(f"{account} {SIGNING} 0")
    say("\n".join(labels))
    return 0


def instructions(args: argparse.Namespace) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        say("--instructions needs valgrind (Debian package valgrind)")
        return 2
    folder = (Path(args.callgrind_out) if args.callgrind_out
              else Path(tempfile.mkdtemp(prefix="trust-cost-callgrind-")))
    folder.mkdir(parents=True, exist_ok=True)
    command = [valgrind, "--tool=callgrind", "--zero-before=getppid",
               "--dump-before=getpgrp", f"--callgrind-out-file={folder}/cg.out",
               sys.executable, __file__, "--inside-callgrind",
               "--modes", *args.modes, "--ids", *args.ids]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        say(done.stderr[-4000:])
        return 1
    names = (*MODES, SIGNING, WARMING)
    pattern = re.compile(rf"^\S+ ({'|'.join(map(re.escape, names))}) \d+$")
    labels = [line.split() for line in done.stdout.splitlines() if pattern.match(line)]
    counts = []
    for number in range(1, len(labels) + 1):
        text = (folder / f"cg.out.{number}").read_text("utf-8", errors="replace")
        match = re.search(r"^summary: (\d+)$", text, re.M)
        assert match, f"no summary in dump {number}"
        counts.append(int(match[1]))
    if not args.callgrind_out:
        shutil.rmtree(folder)
    say(f"{'account':<11} {'mode':<8} {'instructions':>14} {'bytes':>8}  against 3b")
    base: dict[str, int] = {}
    totals: dict[str, int] = {}
    for (account, mode, size), count in zip(labels, counts, strict=True):
        if mode == WARMING:
            continue
        if mode == "3b":
            base[account] = count
        totals[mode] = totals.get(mode, 0) + count
        against = f"{count / base[account] - 1:+.1%}" if account in base and mode not in (
            "3b", SIGNING) else ""
        say(f"{account:<11} {mode:<8} {count:14,d} {int(size):8d}  {against}")
    if "3b" in totals:
        for mode, total in totals.items():
            if mode not in ("3b", SIGNING):
                say(f"all letters {mode}: {total / totals['3b'] - 1:+.1%} instructions "
                    "against 3b")
    return 0


# ------------------------------------------------------------------ sizes


def sizes(args: argparse.Namespace) -> int:
    """Every sample letter in each mode: the median size, and the smallest and largest."""
    bench = Bench.make(args.modes)
    say(f"{'mode':<8} {'letters':>7} {'median':>10} {'min':>9} {'max':>9}")
    for mode in bench.modes:
        dunning = bench.modes[mode][0]
        made = []
        for record in bench.records.values():
            if mode == "3a+seal" and dunning.brands[record.brand].signing is None:
                continue
            outcome = bench.letter(mode, Task(record))
            if outcome.data is not None:
                made.append(len(outcome.data))
        say(f"{mode:<8} {len(made):7d} {statistics.median(made) / 1024:8.1f} KiB "
            f"{min(made) / 1024:5.1f} KiB {max(made) / 1024:5.1f} KiB")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="letters per account and mode")
    parser.add_argument("--ids", nargs="*", default=None,
                        help="sample accounts (default: three mingtai letters; "
                             "one with --instructions)")
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES,
                        help="which modes to make")
    parser.add_argument("--callgrind-out", metavar="DIR",
                        help="with --instructions: keep callgrind's dumps in DIR "
                             "(callgrind_annotate DIR/cg.out.N shows where a letter spends)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--instructions", action="store_true",
                     help="instructions of one warm letter per mode (valgrind callgrind)")
    how.add_argument("--sizes", action="store_true",
                     help="median size of every sample letter in each mode")
    how.add_argument("--inside-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ids is None:
        one = args.instructions or args.inside_callgrind
        args.ids = list(DEFAULT_IDS[:1] if one else DEFAULT_IDS)
    if args.instructions:
        return instructions(args)
    if args.inside_callgrind:
        return inside_callgrind(args)
    if args.sizes:
        return sizes(args)
    return timing(args)


if __name__ == "__main__":
    sys.exit(main())
