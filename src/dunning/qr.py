"""A letter's QR code: segno's symbol, its mask chosen on whole rows at once.

ISO/IEC 18004 (7.8.3) has an encoder apply each of the eight data masks to the symbol, score
each result by four penalty rules (runs of five or more modules of one colour, 2 × 2 blocks,
finder-like 1:1:3:1:1 patterns, the share of dark modules) and keep the lowest. segno does
that module by module in Python, about four fifths of what a letter's code costs (a sealed
letter's budget is tight: docs/trust.md). :func:`qr_matrix` asks segno for the symbol with
mask 0, takes the mask off the data modules to get what segno scores, scores the eight masks
on whole rows at once (bit operations on integers, regular expressions on strings) by
segno's own rules, and puts the best mask and its format information on segno's symbol,
in half the time for the whole code (docs/trust.md).
The result is segno's symbol, module for module and mask for mask: tests/test_qr.py compares
both on about a thousand texts, and the scores with segno's ``mask_scores`` on random matrices.

Uses segno's encoder functions (``segno.encoder``: ``encode``, ``make_matrix``,
``add_finder_patterns``, ``add_alignment_patterns``, ``get_data_mask_functions``,
``add_format_info``), not its documented API; pinned to segno 1.6 in pyproject.toml.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

#: Five or more modules of one colour in a row: rule N1 (3 points, and 1 for each further).
_RUN = re.compile(r"0{5,}|1{5,}")
#: Dark, light, dark × 3, light, dark: rule N3 (40 points with four light modules beside).
_FINDER_LIKE = "1011101"
#: Modules 0 and 1 to the digits "0" and "1", and back.
_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
_MODULES = bytes.maketrans(b"01", b"\x00\x01")


def _encoder() -> Any:
    """segno's encoder module (untyped: its functions are called through ``Any``)."""
    from segno import encoder

    return encoder


@lru_cache(maxsize=8)
def _layout(size: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """For a symbol of ``size`` modules a side, each row as an integer whose bit
    ``size - 1 - j`` is column ``j``: the data modules (those the masks change), the dark
    function modules as segno has them when it scores the masks (finder, separator, timing
    and alignment patterns; format and version areas still light), and each mask's dark
    modules."""
    encoder = _encoder()
    frame = encoder.make_matrix(size, size)
    encoder.add_finder_patterns(frame, size, size)
    encoder.add_alignment_patterns(frame, size, size)

    def bits(dark: Sequence[bool]) -> int:
        return int("".join("1" if d else "0" for d in dark), 2)

    data = tuple(bits([v > 1 for v in row]) for row in frame)
    fixed = tuple(bits([v == 1 for v in row]) for row in frame)
    masks = tuple(tuple(bits([bool(fn(i, j)) for j in range(size)]) for i in range(size))
                  for fn in encoder.get_data_mask_functions(False))
    return data, fixed, masks


def _finder_like(line: str) -> int:
    """Rule N3 on one row or column, as segno counts it: a pattern with no dark module among
    the (up to) four beside it on either side; at the line's end, what lies beyond is light."""
    points, at = 0, line.find(_FINDER_LIKE)
    while at != -1:
        after = at + 7
        if "1" not in line[max(at - 4, 0):at] or "1" not in line[after:after + 4]:
            points += 40
        else:
            after = at + 4  # the next pattern may start at this one's third dark module
        at = line.find(_FINDER_LIKE, after)
    return points


def penalty(rows: Sequence[int], size: int) -> int:
    """The penalty score of a symbol given as row integers (see :func:`_layout`), rules
    N1 to N4 of ISO/IEC 18004 7.8.3.1 as segno's ``mask_scores`` computes them."""
    lines = [format(row, f"0{size}b") for row in rows]
    columns = ["".join(column) for column in zip(*lines, strict=True)]
    text = "\n".join(lines)
    runs = _RUN.findall(text + "\n" + "\n".join(columns))
    n1 = sum(map(len, runs)) - 2 * len(runs)
    inner = (1 << (size - 1)) - 1  # not column 0: a block needs the column to its left
    blocks = sum((~(above ^ row) & ~(row ^ (row >> 1)) & ~(above ^ (above >> 1))
                  & inner).bit_count() for above, row in itertools.pairwise(rows))
    n3 = sum(_finder_like(line) for line in lines + columns if _FINDER_LIKE in line)
    dark = text.count("1")
    n4 = 10 * int(abs(dark / size ** 2 * 100 - 50) / 5)
    return n1 + 3 * blocks + n3 + n4


def qr_matrix(text: str) -> tuple[bytearray, ...]:
    """The QR code of ``text`` as ``segno.make_qr(text, error="m").matrix`` is (error
    correction M or better, rows of modules 0 and 1, no border), the mask chosen by
    :func:`penalty`. Raises ``ValueError`` (segno's ``DataOverflowError``) for a text no QR
    code holds."""
    encoder = _encoder()
    code = encoder.encode(text, error="m", mask=0, micro=False)
    size = len(code.matrix)
    data, fixed, masks = _layout(size)
    symbol = [int(bytes(row).translate(_TO_DIGITS), 2) for row in code.matrix]
    # What segno scores: the data unmasked, format and version areas light.
    plain = [(row ^ mask) & region | dark
             for row, mask, region, dark in zip(symbol, masks[0], data, fixed, strict=True)]
    scores = [penalty([row ^ (mask & region) for row, mask, region
                       in zip(plain, pattern, data, strict=True)], size) for pattern in masks]
    best = scores.index(min(scores))  # the first of equals, as segno keeps it
    matrix = tuple(bytearray(format(row ^ ((zero ^ mask) & region), f"0{size}b").encode()
                             .translate(_MODULES))
                   for row, zero, mask, region in zip(symbol, masks[0], masks[best], data,
                                                     strict=True))
    encoder.add_format_info(matrix, code.version, code.error, best)
    return matrix
