"""Instructions per letter of a warm worker: a measure of rendering cost that machine load
does not change, for comparing two versions of the code, the templates or the libraries.

CPU time on a shared virtual machine varies by 10-20% between runs, more than most single
optimizations gain. This runs the standard formal zh_CN letter (sample MT-000004) under
valgrind's cachegrind twice, once with 1 letter after the warm-up and once with 1 +
``--letters``, and prints the difference per letter (warm-up and start-up cancel out).
Needs valgrind (Debian: ``apt-get install valgrind``); takes about a minute.

    .venv/bin/python bench/instructions.py --letters 3
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

from run_bench import SAMPLE_ID, say, warm_sample_letter


def render(count: int) -> None:
    """The child: warm up as a batch worker does, then render ``count`` letters."""
    dunning, plan = warm_sample_letter()
    for _ in range(count):
        dunning.render(plan)


def instructions(count: int) -> int:
    """Instructions executed by a child rendering ``count`` letters after the warm-up."""
    run = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, __file__, "--child", str(count)],
        capture_output=True, text=True, check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode != 0 or not found:
        raise SystemExit(f"valgrind failed (exit {run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=3,
                        help="letters measured beyond the first (default 3)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        render(args.child)
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    base, more = instructions(0), instructions(args.letters)
    per_letter = (more - base) / args.letters
    say(f"{per_letter / 1e6:.0f} M instructions per letter of {SAMPLE_ID} "
          f"(warm worker; {args.letters} letters, start-up and warm-up subtracted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
