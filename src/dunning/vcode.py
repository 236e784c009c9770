"""The verification code printed on a letter: its reference plus a keyed MAC, as text and QR.

Takes a letter's reference and its brand (whose ``verification.secret_env`` names the
environment variable holding the brand's secret); gives the code printed on the letter,
``<reference>-XXXXX-XXXXX``, and its QR code's modules as rectangles (segno), which the
renderer paints as vector graphics where the letter's template places the code. The ten characters
after the reference are the first 50 bits of HMAC-SHA256(secret, brand and reference) in
base32 (A–Z, 2–7: no 0/O or 1/I to confuse): whoever does not hold the brand's secret cannot
make a code that passes for a reference of their choosing (one guess in 2^50), and a code
altered in any character fails. :func:`check_code` finds which brand's secret a code was made
with; ``dunning verify --code`` then looks the letter up in the ledger.

The code proves that the lender made a letter with this reference; it does not prove the
content of a paper letter (the figures could be altered around a genuine code): the ledger's
sha256 of the file and the signed PDF do that (docs/trust.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from .errors import ConfigError
from .qr import qr_matrix

if TYPE_CHECKING:
    from .config import Brand

#: Versioned label of what the MAC covers, so another use of the secret never collides.
PURPOSE = b"dunning.verification-code/1"
#: Characters of MAC in the code (5 bits each), printed as two groups of five.
MAC_CHARS = 10
_CODE = re.compile(r"^(?P<reference>.+-\d{8})-(?P<mac>[A-Za-z2-7]{5})-?(?P<mac2>[A-Za-z2-7]{5})$")


def _secret(brand: Brand, environ: Mapping[str, str] | None = None) -> bytes:
    if brand.verification is None:
        raise ValueError(f"brand {brand.key} has no verification code")
    name = brand.verification.secret_env
    value = (os.environ if environ is None else environ).get(name, "")
    if len(value) < 16:
        raise ConfigError(f"brand {brand.key}: ${name} (the verification-code secret) is "
                          f"{'not set' if not value else 'shorter than 16 characters'}")
    return value.encode("utf-8")


def mac(secret: bytes, brand_key: str, reference: str) -> str:
    """The code's MAC characters for ``reference`` of ``brand_key``.

    >>> mac(b"0123456789abcdef", "mingtai", "HT-2024-0001-20261120")
    'SGPEAAZ2VX'
    """
    message = b"\x00".join((PURPOSE, brand_key.encode("utf-8"), reference.encode("utf-8")))
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:MAC_CHARS]


def code_for(reference: str, brand: Brand, environ: Mapping[str, str] | None = None
             ) -> str | None:
    """The verification code of a letter, or None when its brand prints none."""
    if brand.verification is None:
        return None
    chars = mac(_secret(brand, environ), brand.key, reference)
    return f"{reference}-{chars[:5]}-{chars[5:]}"


def check_secrets(brands: Mapping[str, Brand], environ: Mapping[str, str] | None = None
                  ) -> None:
    """Every brand that prints codes has its secret (ConfigError naming the variable)."""
    for brand in brands.values():
        if brand.verification is not None:
            _secret(brand, environ)


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """What a code says when it is genuine: the reference and the brand that made it."""

    reference: str
    brand: str


def normalize(code: str) -> str:
    """A typed code without spaces (the MAC's letters may be typed in either case)."""
    return "".join(code.split())


def check_code(code: str, brands: Iterable[Brand], environ: Mapping[str, str] | None = None
               ) -> CodeCheck | None:
    """The reference and brand of ``code`` when one of ``brands`` (with its secret in the
    environment) made it, else None: a code that was altered or forged."""
    match = _CODE.match(normalize(code))
    if match is None:
        return None
    reference, given = match["reference"], (match["mac"] + match["mac2"]).upper()
    for brand in brands:
        if brand.verification is None:
            continue
        expected = mac(_secret(brand, environ), brand.key, reference)
        if hmac.compare_digest(expected, given):
            return CodeCheck(reference=reference, brand=brand.key)
    return None


#: Light modules around the QR code, in modules (the quiet zone is the letter's white space
#: around the image as well).
QR_BORDER = 2
#: The attribute of the element the letter's QR code is painted over (its value: the code).
QR_ATTRIBUTE = "data-dunning-qr"


def qr_placeholder(code: str) -> str:
    """Where a letter shows ``code``'s QR code: an empty element that the stylesheet sizes
    (``.vcode-qr``), over whose content box the renderer paints the code's modules
    (:func:`qr_modules`, :func:`dunning.weasy.paint_squares`) once the letter is laid out."""
    return f'<div class="vcode-qr" {QR_ATTRIBUTE}="{escape(code)}"></div>'


@dataclass(frozen=True, slots=True)
class QrModules:
    """A QR code as rectangles of dark modules: ``rects`` are ``(x, y, width, height)`` in
    modules, on a ``size`` × ``size`` grid that includes the light border."""

    size: int
    rects: tuple[tuple[int, int, int, int], ...]


def qr_modules(code: str) -> QrModules:
    """``code`` as a QR code (error correction M: segno's symbol, from
    :func:`dunning.qr.qr_matrix`), the dark modules painted by as few rectangles as
    :func:`qr_cover` finds (one a module wide, along a row or a column).

    Raises ``ValueError`` (segno's ``DataOverflowError``) for a text no QR code holds."""
    matrix = qr_matrix(code)
    rows, columns = qr_cover(matrix)
    rects = [(start + QR_BORDER, y + QR_BORDER, end - start, 1) for y, start, end in rows]
    rects += [(x + QR_BORDER, start + QR_BORDER, 1, end - start) for x, start, end in columns]
    return QrModules(len(matrix) + 2 * QR_BORDER, tuple(rects))


def _runs(lines: Sequence[Sequence[int]],
          ) -> tuple[list[tuple[int, int, int]], dict[tuple[int, int], int]]:
    """The maximal runs of dark modules along each of ``lines``, as (line, start, end), and
    the run each dark module lies on, by (line, position)."""
    runs: list[tuple[int, int, int]] = []
    run_of: dict[tuple[int, int], int] = {}
    for i, line in enumerate(lines):
        x, n = 0, len(line)
        while x < n:
            if line[x]:
                start = x
                while x < n and line[x]:
                    run_of[i, x] = len(runs)
                    x += 1
                runs.append((i, start, x))
            x += 1
    return runs, run_of


def qr_cover(matrix: Sequence[Sequence[int]],
             ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """As few runs of dark modules as cover every dark module of ``matrix``: the horizontal
    runs ``(row, start, end)`` and the vertical runs ``(column, start, end)`` (``end``
    excluded).

    A module only needs to lie on one run, and the fewest runs that cover all dark modules
    are a minimum vertex cover of the bipartite graph whose edges are the modules (each joins
    its horizontal and its vertical run), which König's theorem gives from a maximum matching:
    119 runs for a letter's code where painting every horizontal run takes 159."""
    # Maximal runs: (row or column, start, end); each dark module's runs by index.
    hruns, hrun_of = _runs(matrix)
    vruns, vrun_of = _runs(list(zip(*matrix, strict=True)))  # columns, keyed (x, y)
    crossing: list[list[int]] = [[] for _ in hruns]  # horizontal run → vertical runs
    for (y, x), h in hrun_of.items():
        crossing[h].append(vrun_of[x, y])
    # Maximum matching (augmenting paths), then König: the cover is the horizontal runs
    # not reached from an unmatched horizontal run by alternating paths, and the vertical
    # runs reached.
    match_h = [-1] * len(hruns)
    match_v = [-1] * len(vruns)

    def augment(h: int, seen: list[bool]) -> bool:
        for v in crossing[h]:
            if not seen[v]:
                seen[v] = True
                if match_v[v] < 0 or augment(match_v[v], seen):
                    match_h[h], match_v[v] = v, h
                    return True
        return False

    for h in range(len(hruns)):
        augment(h, [False] * len(vruns))
    reached_h = [match < 0 for match in match_h]
    reached_v = [False] * len(vruns)
    todo = [h for h, reached in enumerate(reached_h) if reached]
    while todo:
        for v in crossing[todo.pop()]:
            if not reached_v[v]:
                reached_v[v] = True
                h = match_v[v]
                if h >= 0 and not reached_h[h]:
                    reached_h[h] = True
                    todo.append(h)
    return ([run for run, reached in zip(hruns, reached_h, strict=True) if not reached],
            [run for run, reached in zip(vruns, reached_v, strict=True) if reached])
