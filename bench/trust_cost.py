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

Alternating the modes letter by letter keeps the machine's load from favouring either; CPU
time is printed as well because other work on the machine changes it much less. The issue's
target: a sealed letter costs at most 15 % more CPU than today's.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from functools import partial
from pathlib import Path

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

AS_OF = date(2026, 11, 20)
SAMPLES = [ROOT / "data" / "samples" / "accounts.csv", ROOT / "data" / "samples" / "accounts.yaml"]
#: mingtai letters (the brand with a printed seal): the standard formal zh_CN letter first.
DEFAULT_IDS = ("MT-000004", "MT-000041", "MT-000001")


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _timed(fn: object) -> tuple[float, float, bytes]:
    cpu, wall = time.process_time(), time.perf_counter()
    data = fn()  # type: ignore[operator]
    return time.process_time() - cpu, time.perf_counter() - wall, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="letters per account and mode")
    parser.add_argument("--ids", nargs="*", default=list(DEFAULT_IDS), help="sample accounts")
    args = parser.parse_args()

    os.environ[PASSWORD_ENV] = P12_PASSWORD
    os.environ[SECRET_ENV] = SECRET
    trust = make_trust(Path(tempfile.mkdtemp(prefix="trust-cost-")), ROOT)
    plain = Dunning.load(Settings.at(ROOT))
    plain.warm()
    # The same Dunning and warm renderer, with brands that sign and print codes.
    sealed = dataclasses.replace(plain, brands=load_brands(trust.config_dir / "brands.yaml",
                                                           plain.settings.assets_dir))
    #: mode → (Dunning, PDF/A variant)
    modes = {"3b": (plain, "pdf/a-3b"), "3a": (plain, "pdf/a-3a"),
             "3a+seal": (sealed, "pdf/a-3a")}
    records = {r.account_id: r for r in read_records(SAMPLES, plain.record_rules())
               if isinstance(r, Record)}
    signing = sealed.brands["mingtai"].signing
    assert signing is not None
    signer = load_signer(signing)
    when = as_of_midnight(AS_OF, plain.settings.tz)
    for dunning, variant in modes.values():  # warm: fonts, stylesheets, pyHanko's imports
        archive.PDF_VARIANT = variant
        make_letter(Task(records[args.ids[0]]), dunning, AS_OF)

    say(f"{'account':<11} {'mode':<8} {'cpu ms':>8} {'wall ms':>8} {'bytes':>8}")
    totals = {name: 0.0 for name in modes}
    for account in args.ids:
        task = Task(records[account])
        cpu: dict[str, list[float]] = {name: [] for name in modes}
        wall: dict[str, list[float]] = {name: [] for name in modes}
        size: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, (dunning, variant) in modes.items():
                archive.PDF_VARIANT = variant
                c, w, outcome = _timed(partial(make_letter, task, dunning, AS_OF))
                cpu[name].append(c)
                wall[name].append(w)
                assert outcome.data is not None, outcome.entry.reason
                size[name] = len(outcome.data)
        for name in modes:
            median = statistics.median(cpu[name])
            totals[name] += median
            say(f"{account:<11} {name:<8} {median * 1000:8.1f} "
                f"{statistics.median(wall[name]) * 1000:8.1f} {size[name]:8d}")
        unsigned = plain.render(plain.plan(task.record, AS_OF)).pdf.data
        signs = [_timed(partial(sign_pdf, unsigned, signer, signing_time=when))[0]
                 for _ in range(args.rounds)]
        base = statistics.median(cpu["3b"])
        say(f"{account:<11} signing step alone {statistics.median(signs) * 1000:.1f} ms cpu; "
            f"tagged {statistics.median(cpu['3a']) / base - 1:+.1%} cpu "
            f"{size['3a'] - size['3b']:+d} bytes; tagged+sealed+code "
            f"{statistics.median(cpu['3a+seal']) / base - 1:+.1%} cpu "
            f"{size['3a+seal'] - size['3b']:+d} bytes")
    for name in ("3a", "3a+seal"):
        say(f"all letters {name}: {totals[name] / totals['3b'] - 1:+.1%} cpu against 3b "
            "(sum of medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
