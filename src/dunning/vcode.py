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
#: The attribute of the element whose top padding the letter's QR code is painted in (its
#: value: the code).
QR_ATTRIBUTE = "data-dunning-qr"


def qr_attribute(code: str) -> str:
    """The attribute that places ``code``'s QR code on a letter, on the element that prints
    the code as text: the renderer paints the code's modules (:func:`qr_modules`,
    :func:`dunning.pdf.qr_codes`, :func:`dunning.weasy.paint_squares`) as a square filling
    that element's top padding (``.vcode``: 18 mm) at its left, above the text, once the
    letter is laid out. One element for both, not an element of its own for the QR code:
    each box a letter lays out costs it about 3 M instructions (docs/trust.md)."""
    return f'{QR_ATTRIBUTE}="{escape(code)}"'


@dataclass(frozen=True, slots=True)
class QrModules:
    """A QR code as rectangles of dark modules: ``rects`` are ``(x, y, width, height)`` in
    modules, on a ``size`` × ``size`` grid that includes the light border."""

    size: int
    rects: tuple[tuple[int, int, int, int], ...]


def qr_modules(code: str) -> QrModules:
    """``code`` as a QR code (error correction M: segno's symbol, from
    :func:`dunning.qr.qr_matrix`), its dark modules painted by :func:`qr_rectangles`.

    Raises ``ValueError`` (segno's ``DataOverflowError``) for a text no QR code holds."""
    matrix = qr_matrix(code)
    rects = tuple((x + QR_BORDER, y + QR_BORDER, width, height)
                  for x, y, width, height in qr_rectangles(matrix))
    return QrModules(len(matrix) + 2 * QR_BORDER, rects)


def qr_rectangles(matrix: Sequence[bytes | bytearray]) -> list[tuple[int, int, int, int]]:
    """Rectangles ``(x, y, width, height)`` that together paint exactly the dark modules of
    ``matrix`` (rows of modules 0 and 1), none overlapping another: each row's runs of dark
    modules, a run that the rows below repeat at the same place merged with them (a letter's
    code: 118 rectangles for 160 runs)."""
    found: list[tuple[int, int, int, int]] = []
    above: dict[tuple[int, int], int] = {}  # (x, width) of the last row's runs: first row
    for y, row in enumerate(matrix):
        here = {}
        x = 0
        for run in bytes(row).split(b"\x00"):
            if run:
                here[x, len(run)] = above.pop((x, len(run)), y)
            x += len(run) + 1
        found += [(x, top, width, y - top) for (x, width), top in above.items()]
        above = here
    y = len(matrix)
    found += [(x, top, width, y - top) for (x, width), top in above.items()]
    return found
