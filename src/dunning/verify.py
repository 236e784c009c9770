"""Check a letter someone holds: its seal, its data and the ledger; or a printed code.

Takes letter files (or a verification code typed from paper), the brands (their trust
anchors and code secrets) and optionally the ledger; gives one :class:`Verdict` per file,
with what passed and what did not. ``dunning verify`` prints them and exits 0 when all pass.

For a file, in order:

1. it has exactly one signature, pyHanko finds it intact (the signed bytes hash to the
   signed digest) and cryptographically valid, and it covers the whole file (nothing was
   added or changed after signing: no appended page, no later revision);
2. the signer's certificate chains to the trust anchor of the brand the letter names in
   its attached record data (``brands.yaml`` ``signing.trust_anchor``), valid now (PAdES
   B-B has no trusted time: an expired certificate fails), with no fetching from the
   network (no revocation check: docs/trust.md);
3. the attached ``letter-data.json`` agrees with the letter: its reference is the
   document's subject and first keyword, its brand is a configured one;
4. with a ledger: the ledger has a letter with the file's sha256, for the same account,
   as-of date, total and currency as the attached data.

For a code (:func:`verify_code`): the MAC checks with one brand's secret, and the ledger
has letters of that brand and as-of date with that reference (their file is opened to read
the reference, which the ledger does not store).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .archive import ATTACHMENT_NAME
from .errors import ConfigError, reason
from .output import MAX_LETTER_BYTES, read_regular
from .sign import import_pyhanko

if TYPE_CHECKING:
    from .config import Brand
    from .ledger import Ledger, LetterRow


@dataclass
class Verdict:
    """What one file came to: ``passed`` lists the checks that passed, ``failed`` those that
    did not (each a short sentence); the file passes when nothing failed."""

    path: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and bool(self.passed)

    def line(self) -> str:
        """The plain one-line verdict."""
        if self.ok:
            return f"OK    {self.path}: " + "; ".join(self.passed)
        return f"FAIL  {self.path}: " + "; ".join(self.failed)


def _load_anchor(path: str) -> Any:
    import_pyhanko("dunning verify")
    from pyhanko.keys import load_cert_from_pemder

    return load_cert_from_pemder(path)  # type: ignore[no-untyped-call]


def _check_signature(data: bytes, anchor: Any, password: str, verdict: Verdict) -> None:
    import_pyhanko("dunning verify")
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            reader.decrypt(password)
        signatures = reader.embedded_regular_signatures
    except Exception as exc:
        verdict.failed.append(f"not a readable PDF ({type(exc).__name__})")
        return
    if len(signatures) != 1:
        verdict.failed.append("not signed" if not signatures
                              else f"{len(signatures)} signatures (one expected)")
        return
    context = ValidationContext(trust_roots=[anchor], allow_fetching=False)
    try:
        status = validate_pdf_signature(signatures[0], context)
    except Exception as exc:
        verdict.failed.append(f"the signature cannot be checked ({type(exc).__name__})")
        return
    if not (status.intact and status.valid):
        verdict.failed.append("the signature does not match the signed bytes (changed "
                              "after signing)")
        return
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        verdict.failed.append("the signature does not cover the whole file (something "
                              "was added after signing)")
    else:
        verdict.passed.append("signature valid over the whole file")
    signer = status.signing_cert.subject.human_friendly
    if status.trusted:
        verdict.passed.append(f"signed by {signer}, chained to the brand's trust anchor")
    else:
        verdict.failed.append(f"the signer ({signer}) does not chain to the brand's trust "
                              "anchor, or its certificate is expired or not valid")


def _letter_data(data: bytes, password: str) -> tuple[dict[str, Any] | None, str, list[str]]:
    """The attached data, the document's subject and keywords (None when not readable)."""
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data), password=password) as pdf:
            spec = pdf.attachments.get(ATTACHMENT_NAME)
            attached = (json.loads(spec.get_file().read_bytes().decode("utf-8"))
                        if spec is not None else None)
            subject = str(pdf.docinfo.get("/Subject", ""))
            keywords = [k.strip() for k in str(pdf.docinfo.get("/Keywords", "")).split(",")]
            return attached, subject, keywords
    except (pikepdf.PdfError, pikepdf.PasswordError, ValueError, KeyError):
        return None, "", []


def verify_file(path: Path, brands: Mapping[str, Brand], *, ledger: Ledger | None = None,
                password: str = "") -> Verdict:
    """The verdict on one letter file (see the module docstring)."""
    verdict = Verdict(str(path))
    try:
        data = read_regular(path, limit=MAX_LETTER_BYTES)
    except OSError as exc:
        verdict.failed.append(f"cannot read the file ({reason(exc)})")
        return verdict
    attached, subject, keywords = _letter_data(data, password)
    if attached is None:
        verdict.failed.append(f"no readable {ATTACHMENT_NAME} (not a dunning letter, or "
                              "encrypted: pass --password)")
        return verdict
    letter = attached.get("letter", {})
    record = attached.get("record", {})
    reference, brand_key = letter.get("reference", ""), record.get("brand", "")
    brand = brands.get(brand_key)
    if brand is None:
        verdict.failed.append(f"names brand {brand_key!r}, which is not configured here")
        return verdict
    if brand.signing is None:
        verdict.failed.append(f"brand {brand_key} has no signing: settings (no trust anchor "
                              "to check against)")
    else:
        _check_signature(data, _load_anchor(brand.signing.trust_anchor), password, verdict)
    if reference and subject == reference and keywords[:1] == [reference]:
        verdict.passed.append(f"reference {reference}, total {letter.get('total')} "
                              f"{letter.get('currency')}")
    else:
        verdict.failed.append("the attached data's reference differs from the document's "
                              "subject and keywords")
    printed = printed_total(data, str(letter.get("total", "")), password)
    if printed is True:
        verdict.passed.append("the attached total is the one printed on the letter")
    elif printed is False:
        verdict.failed.append(f"the attached total {letter.get('total')} is not printed on "
                              "the letter")
    if ledger is not None:
        _check_ledger(hashlib.sha256(data).hexdigest(), record, letter, ledger, verdict)
    return verdict


def printed_total(data: bytes, total: str, password: str = "") -> bool | None:
    """Whether the letter's text (poppler's pdftotext) shows ``total`` as letters print it
    (digits grouped by commas: 12,522.00); None when the text cannot be read."""
    import subprocess

    try:
        amount = Decimal(total)
    except ArithmeticError:
        return False
    args = ["pdftotext", "-enc", "UTF-8", *(["-upw", password] if password else []), "-", "-"]
    try:
        text = subprocess.run(args, input=data, capture_output=True, check=True,
                              timeout=60).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{amount:,}" in "".join(text.split())


def _rows_with_sha256(ledger: Ledger, digest: str) -> list[LetterRow]:
    from sqlalchemy import select

    from .ledger import LetterRow, letters

    query = select(letters).where(letters.c.sha256 == digest).order_by(letters.c.id)
    with ledger.engine.connect() as conn:
        return [LetterRow.from_mapping(row) for row in conn.execute(query).mappings()]


def _check_ledger(digest: str, record: Mapping[str, Any], letter: Mapping[str, Any],
                  ledger: Ledger, verdict: Verdict) -> None:
    rows = _rows_with_sha256(ledger, digest)
    if not rows:
        verdict.failed.append(f"the ledger has no letter with sha256 {digest[:16]}…")
        return
    row = rows[-1]
    expected = (record.get("account_id"), letter.get("as_of"), letter.get("total"),
                letter.get("currency"))
    if (row.account_id, row.as_of.isoformat(), row.total, row.currency) != expected:
        verdict.failed.append(f"the ledger's letter {row.id} with this sha256 is for other "
                              "data (account, date or total)")
    else:
        verdict.passed.append(f"in the ledger (run {row.run_id}, {row.status})")


# --------------------------------------------------------------------------- codes


@dataclass(frozen=True)
class CodeVerdict:
    """What a printed code came to: genuine or not, and the ledger's letters for it."""

    code: str
    reference: str | None
    brand: str | None
    letters: tuple[LetterRow, ...] = ()

    @property
    def ok(self) -> bool:
        return self.reference is not None and bool(self.letters)

    def lines(self) -> list[str]:
        if self.reference is None:
            return [f"FAIL  {self.code}: not a code any configured brand made (altered, "
                    "forged, or its brand's secret is not set here)"]
        if not self.letters:
            return [f"FAIL  {self.code}: genuine code of {self.brand} for {self.reference}, "
                    "but the ledger has no such letter"]
        return [f"OK    {self.code}: reference {self.reference}, brand {row.brand}, dated "
                f"{row.as_of.isoformat()}, sha256 {row.sha256} ({row.status}, {row.path})"
                for row in self.letters]


def _reference_date(reference: str) -> date | None:
    try:
        return date.fromisoformat(f"{reference[-8:-4]}-{reference[-4:-2]}-{reference[-2:]}")
    except ValueError:
        return None


def verify_code(code: str, brands: Mapping[str, Brand], ledger: Ledger | None,
                environ: Mapping[str, str] | None = None) -> CodeVerdict:
    """Check a printed code's MAC, then find its letters in ``ledger``: rows of the code's
    brand and as-of date whose file (under the row's output folder) has that reference."""
    from sqlalchemy import select

    from .ledger import LetterRow, letters
    from .vcode import check_code

    try:
        found = check_code(code, brands.values(), environ)
    except ConfigError:
        raise
    if found is None:
        return CodeVerdict(code, None, None)
    as_of = _reference_date(found.reference)
    if ledger is None or as_of is None:
        return CodeVerdict(code, found.reference, found.brand)
    query = select(letters).where(letters.c.brand == found.brand,
                                  letters.c.as_of == as_of).order_by(letters.c.id)
    with ledger.engine.connect() as conn:
        rows = [LetterRow.from_mapping(r) for r in conn.execute(query).mappings()]
    matching = []
    for row in rows:
        if row.file is None:  # handed over on a stream: no file to read
            continue
        try:
            data = read_regular(row.file, limit=MAX_LETTER_BYTES)
        except OSError:
            continue
        attached, _, _ = _letter_data(data, "")
        if attached is not None and attached.get("letter", {}).get("reference") == \
                found.reference:
            matching.append(row)
    return CodeVerdict(code, found.reference, found.brand, tuple(matching))
