"""A letter's QR code: segno's symbol, its mask chosen on the whole symbol at once.

ISO/IEC 18004 (7.8.3) has an encoder apply each of the eight data masks to the symbol, score
each result by four penalty rules (runs of five or more modules of one colour, 2 × 2 blocks,
finder-like 1:1:3:1:1 patterns, the share of dark modules) and keep the lowest. segno does
that module by module in Python, about four fifths of what a letter's code costs (a sealed
letter's budget is tight: docs/trust.md). :func:`qr_matrix` asks segno for the symbol with
mask 0, takes the mask off the data modules to get what segno scores, scores the eight masks
by segno's own rules with a few operations on one integer holding the whole symbol
(:class:`_Grid`), and puts the best mask and its format information on segno's symbol.
The result is segno's symbol, module for module and mask for mask: tests/test_qr.py compares
both on about a thousand texts, and the scores with segno's ``mask_scores`` on random and
on made-up matrices.

Uses segno's encoder functions (``segno.encoder``: ``encode``, ``make_matrix``,
``add_finder_patterns``, ``add_alignment_patterns``, ``get_data_mask_functions``,
``add_format_info``), not its documented API; pinned to segno 1.6 in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: Modules 0 and 1 to the digits "0" and "1", and back.
_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
_MODULES = bytes.maketrans(b"01", b"\x00\x01")
#: Bits that are no module beside each row and rows of them below and above the symbol:
#: rule N3 looks four modules past a pattern, where beyond the symbol counts as light.
_MARGIN = 4


def _encoder() -> Any:
    """segno's encoder module (untyped: its functions are called through ``Any``)."""
    from segno import encoder

    return encoder


@dataclass(frozen=True, slots=True)
class _Grid:
    """A ``size`` × ``size`` symbol as one integer: row ``i``'s modules in the ``size`` bits
    from ``(i + 4) * stride`` up (module ``j`` at ``size - 1 - j`` above that), four bits of
    no module after each row (``stride = size + 4``) and four rows of them below and above.
    Shifting the integer by 1 moves every row along itself and by ``stride`` every column,
    and no run of modules reaches from one row into the next. ``modules`` has the bits that
    are modules, ``outside`` the others."""

    size: int
    stride: int
    bits: int
    modules: int
    outside: int

    def pack(self, lines: Sequence[bytes]) -> int:
        """The symbol whose rows are ``lines`` of digits ``0`` and ``1``, module 0 first."""
        gap = b"0" * _MARGIN
        return int(b"".join(gap + line for line in reversed(lines))
                   + b"0" * (self.stride * _MARGIN), 2)

    def lines(self, symbol: int) -> list[bytes]:
        """The rows of ``symbol`` as digits ``0`` and ``1``, module 0 first."""
        digits = format(symbol, f"0{self.bits}b").encode("ascii")
        ends = (self.bits - (i + _MARGIN) * self.stride for i in range(self.size))
        return [digits[end - self.size:end] for end in ends]


@lru_cache(maxsize=8)
def _grid(size: int) -> _Grid:
    stride = size + _MARGIN
    bits = (size + 2 * _MARGIN) * stride
    row = (1 << size) - 1
    modules = sum(row << (i + _MARGIN) * stride for i in range(size))
    return _Grid(size, stride, bits, modules, ((1 << bits) - 1) ^ modules)


@lru_cache(maxsize=8)
def _layout(size: int) -> tuple[_Grid, int, int, tuple[int, ...]]:
    """For a symbol of ``size`` modules a side, as :class:`_Grid` packs it: the data modules
    (those the masks change), the dark function modules as segno has them when it scores
    the masks (finder, separator, timing and alignment patterns; format and version areas
    still light), and each mask's dark modules."""
    encoder = _encoder()
    grid = _grid(size)
    frame = encoder.make_matrix(size, size)
    encoder.add_finder_patterns(frame, size, size)
    encoder.add_alignment_patterns(frame, size, size)

    def packed(dark: Any) -> int:
        return grid.pack([b"".join(b"1" if dark(i, j) else b"0" for j in range(size))
                          for i in range(size)])

    data = packed(lambda i, j: frame[i][j] > 1)
    fixed = packed(lambda i, j: frame[i][j] == 1)
    masks = tuple(packed(fn) for fn in encoder.get_data_mask_functions(False))
    return grid, data, fixed, masks


def _counted(qualified: int, step: int) -> int:
    """Which of the patterns that qualify segno counts: it scans each line from module 0
    and, after a pattern it counts, goes on seven modules further, so it never looks at a
    pattern overlapping that one (four or six modules on, the only overlaps 1011101 has).
    A pattern overlapped on both sides has dark modules on both and never qualifies, so
    no chain reaches further. Along a row module 0 is the highest bit, along a column the
    lowest."""
    if step == 1:
        return qualified & ~(qualified >> 4 | qualified >> 6)
    return qualified & ~(qualified << 4 * step | qualified << 6 * step)


def _score(symbol: int, grid: _Grid) -> int:
    """The penalty score of ``symbol`` (packed by ``grid``): rules N1 to N4 of ISO/IEC 18004
    7.8.3.1 as segno's ``mask_scores`` computes them, along rows (shifts by 1) and columns
    (shifts by ``stride``) at once."""
    light = grid.modules & ~symbol
    open_ = light | grid.outside  # light, or beyond the symbol
    n1 = n2 = n3 = 0
    for step in (1, grid.stride):
        for same in (symbol, light):
            # N1: a run of n ≥ 5 modules scores n - 2: its n - 4 windows of five, and 2
            # for its first window (the one with none just before it).
            windows = (same & same >> step & same >> 2 * step & same >> 3 * step
                       & same >> 4 * step)
            n1 += windows.bit_count() + 2 * (windows & ~(windows << step)).bit_count()
        # N3: bit p of ``found`` starts a 1:1:3:1:1 pattern; it counts when the four
        # modules on one side are light or beyond the symbol.
        found = (symbol & light >> step & symbol >> 2 * step & symbol >> 3 * step
                 & symbol >> 4 * step & light >> 5 * step & symbol >> 6 * step)
        if found:
            before = (open_ << step & open_ << 2 * step & open_ << 3 * step
                      & open_ << 4 * step)
            after = (open_ >> 7 * step & open_ >> 8 * step & open_ >> 9 * step
                     & open_ >> 10 * step)
            n3 += 40 * _counted(found & (before | after), step).bit_count()
    s = grid.stride
    for same in (symbol, light):
        n2 += (same & same >> 1 & same >> s & same >> (s + 1)).bit_count()
    dark = symbol.bit_count()
    n4 = 10 * int(abs(dark / grid.size ** 2 * 100 - 50) / 5)
    return n1 + 3 * n2 + n3 + n4


def penalty(matrix: Sequence[Sequence[int]]) -> int:
    """The penalty score of a square ``matrix`` of modules 0 and 1, as segno's
    ``mask_scores`` gives it (the sum of the four rules)."""
    grid = _grid(len(matrix))
    return _score(grid.pack([bytes(row).translate(_TO_DIGITS) for row in matrix]), grid)


def qr_matrix(text: str) -> tuple[bytearray, ...]:
    """The QR code of ``text`` as ``segno.make_qr(text, error="m").matrix`` is (error
    correction M or better, rows of modules 0 and 1, no border), the mask chosen by
    :func:`penalty`. Raises ``ValueError`` (segno's ``DataOverflowError``) for a text no QR
    code holds."""
    encoder = _encoder()
    code = encoder.encode(text, error="m", mask=0, micro=False)
    grid, data, fixed, masks = _layout(len(code.matrix))
    symbol = grid.pack([bytes(row).translate(_TO_DIGITS) for row in code.matrix])
    # What segno scores: the data unmasked, format and version areas light.
    plain = (symbol ^ masks[0]) & data | fixed
    scores = [_score(plain ^ mask & data, grid) for mask in masks]
    best = scores.index(min(scores))  # the first of equals, as segno keeps it
    chosen = symbol ^ (masks[0] ^ masks[best]) & data
    matrix = tuple(bytearray(line.translate(_MODULES)) for line in grid.lines(chosen))
    encoder.add_format_info(matrix, code.version, code.error, best)
    return matrix
