"""What a record gets, as plain data: the :class:`Plan` (stage or suppression, figures,
options), the :class:`Letter` made from it, and the letter's reference.

Data only, no behaviour: the modules that make a plan (:mod:`dunning.letter`), render it
(:mod:`dunning.compose`, :mod:`dunning.pdf`, :mod:`dunning.archive`) and check it
(:mod:`dunning.rules`) all import it from here, so none of them needs another for its types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .money import Itemization, Options
from .policy import Stage, Suppression
from .records import Record


def letter_reference(contract_no: str, as_of: date) -> str:
    """The reference printed in the letterhead and the footer.

    >>> letter_reference("HT-2024-0001", date(2026, 11, 20))
    'HT-2024-0001-20261120'
    """
    return f"{contract_no}-{as_of:%Y%m%d}"


@dataclass(frozen=True, slots=True)
class Plan:
    """What a record gets: a letter (``stage`` set) or a ``suppression``, with its figures."""

    record: Record
    as_of: date
    locale: str
    items: Itemization
    stage: Stage | None
    suppression: Suppression | None
    options: Options | None

    @property
    def reference(self) -> str:
        return letter_reference(self.record.contract_no, self.as_of)


@dataclass(frozen=True, slots=True)
class RenderedPdf:
    """The bytes of one rendered letter, its page count and the texts of the QR codes painted
    on it (:data:`dunning.vcode.QR_ATTRIBUTE`)."""

    data: bytes
    pages: int
    qr_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Letter:
    """A plan with a stage, rendered: its HTML and its PDF."""

    plan: Plan
    html: str
    pdf: RenderedPdf
