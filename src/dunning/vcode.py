"""The verification code printed on a letter: its reference plus a keyed MAC, as text and QR.

Takes a letter's reference and its brand (whose ``verification.secret_env`` names the
environment variable holding the brand's secret); gives the code printed on the letter,
``<reference>-XXXXX-XXXXX``, and its QR code as vector SVG paths (segno). The ten characters
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigError

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


def qr_svg(code: str) -> str:
    """``code`` as a QR code (error correction M), inline SVG of vector paths sized by CSS,
    whose ``<title>`` (the code: what the image says) is its alternative text in a tagged
    letter."""
    import segno

    svg: str = segno.make_qr(code, error="m").svg_inline(
        scale=1, border=2, omitsize=True, dark="#000", svgclass="vcode-qr", lineclass=None,
        title=code)
    return svg
