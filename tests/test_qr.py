"""dunning.qr against segno itself: the same symbol, module for module and mask for mask, and
the same penalty scores as segno's own ``mask_scores``."""

from __future__ import annotations

import random
import string

import pytest
import segno
from segno import encoder

from dunning.qr import penalty, qr_matrix


def _texts() -> list[str]:
    rng = random.Random(20261205)
    upper = string.ascii_uppercase + string.digits + "-:"
    texts = [f"MT-LN-2025-{n:06d}-20261120:{rng.getrandbits(40):010X}" for n in range(300)]
    texts += ["".join(rng.choices(upper, k=rng.randint(1, 300))) for _ in range(300)]
    texts += ["".join(rng.choices(string.printable, k=rng.randint(1, 200))) for _ in range(200)]
    texts += ["".join(rng.choices("明泰金桥贷款逾期通知ABC123", k=rng.randint(1, 60)))
              for _ in range(100)]
    texts += ["0", "A", "a", "12345678901234567890", "1" * 1500]
    return texts


def test_the_symbol_is_segnos_module_for_module() -> None:
    versions = set()
    for text in _texts():
        expected = segno.make_qr(text, error="m")
        versions.add(expected.version)
        assert qr_matrix(text) == expected.matrix, text
    assert min(versions) == 1
    assert max(versions) >= 10  # past the version information too


@pytest.mark.parametrize("size", [21, 25, 45, 57])
def test_penalty_is_segnos_mask_score(size: int) -> None:
    rng = random.Random(size)
    cases = [[bytearray([1] * size) for _ in range(size)],
             [bytearray([0] * size) for _ in range(size)]]
    for density in (0.1, 0.3, 0.5, 0.7, 0.9):
        for _ in range(40):
            cases.append([bytearray(int(rng.random() < density) for _ in range(size))
                          for _ in range(size)])
    for matrix in cases:
        assert penalty(matrix) == sum(encoder.mask_scores(matrix, size, size)), matrix


#: Pieces of rows that make rule N3's hard cases: patterns overlapping by four or six modules
#: (segno's scan skips the second after counting the first), chains of them, light and dark
#: surroundings.
_PIECES = ["1011101", "10111011101", "1011101011101", "101110111011101", "0000", "1111", "0",
           "1", "00001011101", "10111010000"]


@pytest.mark.parametrize("size", [21, 29, 45])
def test_penalty_counts_overlapping_finder_like_patterns_as_segno(size: int) -> None:
    rng = random.Random(size * 7)
    matrices = []
    for _ in range(120):
        rows = []
        for _ in range(size):
            line = ""
            while len(line) < size:
                line += rng.choice(_PIECES)
            start = rng.randrange(len(line) - size + 1)
            rows.append(bytearray(int(c) for c in line[start:start + size]))
        matrices += [rows, [bytearray(column) for column in zip(*rows, strict=True)]]
    for matrix in matrices:
        assert penalty(matrix) == sum(encoder.mask_scores(matrix, size, size)), matrix


def test_a_text_no_qr_code_holds_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="too large"):
        qr_matrix("A" * 5000)
