"""Where a warm worker's time goes, phase by phase, for the standard formal zh_CN letter.

Renders ``--letters`` copies of the sample formal letter MT-000004 in this process, after the
same warm-up as a batch worker (renderer warmed, then ``workers.settle``), and prints the CPU
milliseconds per letter of each phase. The phases are timed by wrapping the functions that do
them (nothing is changed in what they do); an indented phase is part of the one above it.

    .venv/bin/python bench/phases.py --letters 40

Two workers on two cores make at most 2 × 1000 / (ms per letter) letters per second: the
last line prints that ceiling, the most the batch could reach with this renderer here.
CPU time varies by some 10% from run to run on a shared machine; ``bench/instructions.py``
counts instructions instead, which do not.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from run_bench import SAMPLE_ID, say, warm_sample_letter

#: (label, indent): the phases in the order printed.
PHASES = [
    ("letter (Dunning.render)", 0),
    ("compose: plan to HTML (Jinja, catalogs)", 1),
    ("glyph check", 1),
    ("parse HTML (tinyhtml5)", 1),
    ("cascade: computed styles", 1),
    ("boxes: formatting structure", 1),
    ("layout: lines, tables, pages", 1),
    ("fit check (data-fit)", 1),
    ("PDF: write_pdf", 1),
    ("draw pages", 2),
    ("fonts: subset and embed", 2),
    ("serialize and compress (pydyf)", 2),
]

spent: dict[str, float] = defaultdict(float)


@contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.process_time()
    try:
        yield
    finally:
        spent[label] += time.process_time() - started


def wrap(owner: Any, name: str, label: str, *, generator: bool = False) -> None:
    """Time every call of ``owner.name`` under ``label``; a generator is run to the end."""
    original: Callable[..., Any] = getattr(owner, name)

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        with timed(label):
            result = original(*args, **kwargs)
            return iter(list(result)) if generator else result

    setattr(owner, name, timed_call)


def instrument() -> None:
    import pydyf
    import weasyprint
    import weasyprint.document
    import weasyprint.pdf

    from dunning import pdf
    from dunning.letter import Dunning

    wrap(Dunning, "render", "letter (Dunning.render)")
    wrap(Dunning, "html", "compose: plan to HTML (Jinja, catalogs)")
    wrap(pdf.PdfRenderer, "check_glyphs", "glyph check")
    wrap(weasyprint.HTML, "__init__", "parse HTML (tinyhtml5)")
    wrap(weasyprint.document, "get_all_computed_styles", "cascade: computed styles")
    wrap(weasyprint.document, "build_formatting_structure", "boxes: formatting structure")
    wrap(weasyprint.document, "layout_document", "layout: lines, tables, pages",
         generator=True)
    wrap(pdf, "overflowing", "fit check (data-fit)")
    wrap(weasyprint.document.Document, "write_pdf", "PDF: write_pdf")
    wrap(weasyprint.document.Page, "paint", "draw pages")
    wrap(weasyprint.pdf, "build_fonts_dictionary", "fonts: subset and embed")
    wrap(pydyf.PDF, "write", "serialize and compress (pydyf)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=40, help="letters timed (default 40)")
    parser.add_argument("--workers", type=int, default=2,
                        help="workers for the ceiling line (default 2)")
    args = parser.parse_args(argv)

    dunning, plan = warm_sample_letter()
    for _ in range(2):
        dunning.render(plan)
    instrument()
    for _ in range(args.letters):
        letter = dunning.render(plan)

    def ms(label: str) -> float:
        return 1000 * spent[label] / args.letters

    total = ms(PHASES[0][0])
    say(f"{args.letters} letters of {SAMPLE_ID} ({letter.pdf.pages} pages, "
        f"{len(letter.pdf.data) / 1024:.0f} KiB), CPU ms per letter:")
    for label, indent in PHASES:
        say(f"  {'  ' * indent}{label:<{44 - 2 * indent}} {ms(label):7.1f}"
            f"  {100 * ms(label) / total:5.1f}%")
    say(f"ceiling: {args.workers} workers × 1000 / {total:.0f} ms = "
        f"{args.workers * 1000 / total:.1f} letters/s (rendering only, nothing else)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
