"""Archive-grade letters: PDF/A-3b with the record data attached, dated by the as-of date.

Takes a letter's plan (record, as-of date, stage, locale) and its brand; gives the
:class:`ArchiveOptions` that :class:`~dunning.pdf.PdfRenderer` applies when it writes the PDF:

- the PDF/A variant, ``pdf/a-3b`` (WeasyPrint's ``pdf_variant``): XMP metadata with the
  PDF/A identification, an sRGB output intent, every font embedded. A brand whose letters are
  encrypted (:mod:`dunning.protect`) gets no variant: PDF/A forbids encryption, and a file
  that claims PDF/A and is encrypted would claim what it is not;
- ``letter-data.json``, attached with the relationship ``Source``: the record the letter was
  made from, with the ID number and phone masked as the letter shows them (docs/domain.md
  §5), and the letter's reference, as-of date, stage, locale and total;
- document metadata without personal data: the title and author (the brand's legal name)
  come from the template's ``<title>`` and ``<meta name=author>``, the language from
  ``<html lang>``; the subject is the letter reference, the keywords the reference, brand,
  stage and as-of date;
- creation and modification dates fixed at midnight of the as-of date in the configured
  time zone, so that the same record, templates and as-of date give the same bytes (the
  file identifier is a hash of the content and the font subset names a hash of the font
  description, so nothing else varies from one run to the next).

:func:`archive_problems` checks the PDF/A essentials of a file with pikepdf (the structure is
for ``qpdf --check``); :func:`read_letter_data` reads the attachment back. What is and is not
validated: docs/print-and-archive.md.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pikepdf

from .identity import mask_id, mask_phone
from .records import FIELDS

if TYPE_CHECKING:
    from .config import Brand
    from .plan import Plan

#: The PDF/A flavour of archive letters: part 3 (embedded files of any type), level B.
PDF_VARIANT = "pdf/a-3b"
#: Name of the attached record data.
ATTACHMENT_NAME = "letter-data.json"
#: Relationship of the attachment to the letter (ISO 32000-2 §7.11.3, PDF/A-3's /AFRelationship).
ATTACHMENT_RELATIONSHIP = "Source"
#: Identifies the layout of the attached JSON, for whoever reads it years later.
DATA_FORMAT = "dunning.letter-data/1"


@dataclass(frozen=True, slots=True)
class ArchiveOptions:
    """What the renderer adds to a letter's PDF (see the module docstring)."""

    #: ``pdf/a-3b``, or None for a letter that will be encrypted.
    pdf_variant: str | None
    #: Creation and modification date (timezone-aware).
    created: datetime
    reference: str
    keywords: tuple[str, ...]
    #: The UTF-8 JSON attached as :data:`ATTACHMENT_NAME`.
    attachment: bytes

    @property
    def w3c_date(self) -> str:
        """The date as WeasyPrint's metadata takes it (W3C ISO 8601 with an offset)."""
        return self.created.isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    return str(value)  # Decimal: its exact text, never a float


def letter_data(plan: Plan, brand: Brand) -> dict[str, Any]:
    """The data attached to the letter: the record (ID number and phone masked as the
    letter shows them; no source file or line) and what the run decided for it."""
    record = plan.record
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)
              if f.name in FIELDS}  # the record format's fields, in the Record's order
    fields["id_number"] = mask_id(record.id_number, brand.id_mask.keep_start,
                                  brand.id_mask.keep_end)
    fields["phone"] = mask_phone(record.phone) if record.phone else ""
    return {
        "format": DATA_FORMAT,
        "letter": {
            "reference": plan.reference,
            "as_of": plan.as_of.isoformat(),
            "stage": str(plan.stage),
            "locale": plan.locale,
            "total": str(plan.items.total),
            "currency": plan.items.currency,
        },
        "record": {name: _plain(value) for name, value in fields.items()},
    }


def as_of_midnight(as_of: date, tz: ZoneInfo) -> datetime:
    """The letter's fixed creation date: 00:00 of the as-of date in the configured zone."""
    return datetime.combine(as_of, time(0, 0), tzinfo=tz)


def archive_options(plan: Plan, brand: Brand, tz: ZoneInfo) -> ArchiveOptions:
    """The archive options of one letter: PDF/A-3b unless its brand encrypts letters."""
    data = letter_data(plan, brand)
    reference = data["letter"]["reference"]
    encrypted = brand.encryption.password != "none"
    return ArchiveOptions(
        pdf_variant=None if encrypted else PDF_VARIANT,
        created=as_of_midnight(plan.as_of, tz),
        reference=reference,
        keywords=(reference, f"brand:{brand.key}", f"stage:{plan.stage}",
                  f"as-of:{plan.as_of.isoformat()}"),
        attachment=(json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
    )


# --------------------------------------------------------------------------- reading back


def read_letter_data(pdf_data: bytes, password: str = "") -> dict[str, Any]:
    """The ``letter-data.json`` attached to a letter (KeyError when there is none)."""
    with pikepdf.open(io.BytesIO(pdf_data), password=password) as pdf:
        spec = pdf.attachments[ATTACHMENT_NAME]
        result: dict[str, Any] = json.loads(spec.get_file().read_bytes().decode("utf-8"))
        return result


def archive_problems(pdf_data: bytes) -> list[str]:
    """What keeps ``pdf_data`` from being the PDF/A-3b archive letter it should be, as far as
    pikepdf can tell: no PDF/A-3 level B identification in the XMP metadata, no PDF/A output
    intent with an ICC profile, encryption, no ``letter-data.json`` with an
    ``/AFRelationship`` listed in the catalog's ``/AF``, a font without its font program, or
    Info dates that differ from the XMP ones. An empty list when none is found. (This is not
    a full PDF/A validation: see docs/print-and-archive.md.)"""
    problems: list[str] = []
    try:
        pdf = pikepdf.open(io.BytesIO(pdf_data))
    except pikepdf.PasswordError:
        return ["encrypted (PDF/A forbids encryption)"]
    with pdf:
        if pdf.is_encrypted:
            problems.append("encrypted (PDF/A forbids encryption)")
        meta = pdf.open_metadata()
        part, level = meta.get("pdfaid:part"), meta.get("pdfaid:conformance")
        if (part, level) != ("3", "B"):
            problems.append(f"XMP says pdfaid part={part} conformance={level}, not 3/B")
        intents = pdf.Root.get("/OutputIntents")
        if not intents or not any(
                intent.get("/S") == "/GTS_PDFA1" and "/DestOutputProfile" in intent
                for intent in intents):
            problems.append("no /GTS_PDFA1 output intent with an ICC profile")
        spec = pdf.attachments.get(ATTACHMENT_NAME)
        if spec is None:
            problems.append(f"no {ATTACHMENT_NAME} attached")
        else:
            relationship = spec.obj.get("/AFRelationship")
            if relationship != pikepdf.Name("/" + ATTACHMENT_RELATIONSHIP):
                problems.append(f"{ATTACHMENT_NAME} has /AFRelationship {relationship}")
            listed = pdf.Root.get("/AF")
            times = 0 if listed is None else sum(
                item.objgen == spec.obj.objgen for item in listed)
            if times != 1:
                problems.append(f"{ATTACHMENT_NAME} is listed {times} times in the catalog's "
                                "/AF (once expected)")
        problems += [f"font {name} is not embedded" for name in sorted(_unembedded_fonts(pdf))]
        for key, prop in (("/CreationDate", "xmp:CreateDate"), ("/ModDate", "xmp:ModifyDate")):
            if key in pdf.docinfo and prop not in meta:
                problems.append(f"Info {key} without XMP {prop}")
    return problems


def _unembedded_fonts(pdf: pikepdf.Pdf) -> set[str]:
    missing: set[str] = set()
    for page in pdf.pages:
        resources = page.obj.get("/Resources")
        fonts = resources.get("/Font") if resources is not None else None
        for font in (fonts.values() if fonts is not None else ()):
            if font.get("/Subtype") == "/Type3":
                continue
            target = font.DescendantFonts[0] if font.get("/Subtype") == "/Type0" else font
            descriptor = target.get("/FontDescriptor")
            if descriptor is None or not any(
                    key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
                missing.add(str(font.get("/BaseFont", "?")))
    return missing
