"""Encrypt letters delivered electronically: AES-256 with a password per recipient.

Takes a letter's PDF bytes (from ``pdf``), its record and its brand; gives the bytes to write,
encrypted or not as the brand's ``encryption`` policy says (``config/brands.yaml``):

``encryption.password``
    ``none`` (the default): the letter is written as rendered.
    ``id_last6``: the user password is the last six characters of the borrower's ID number,
    letters in upper case (``11010519491231002X`` → ``31002X``). The e-mail or message that
    carries the letter states the rule, never the password.

``encryption.owner_password_env``
    The environment variable holding the owner password (default
    ``DUNNING_PDF_OWNER_PASSWORD``), which lifts the restrictions below. Secrets never live
    in the repository or the config. Unset or empty: a random password per letter, which
    nobody keeps, so nobody can lift the restrictions.

The PDF is encrypted with the PDF 2.0 security handler (revision 6, AES-256; qpdf through
pikepdf). Reading needs the user password; printing and text extraction for accessibility
are allowed, changing, annotating, filling in or reassembling the letter are not. Encryption
uses random salts, so an encrypted letter's bytes (and its sha256 in the manifest) differ
from run to run.

Strength: six characters of an ID number are about 15–20 bits (a mainland ID's last six are
the day of birth, three sequence digits and a check character). That stops a letter sent to
the wrong address from being read by whoever receives it; it does not stop a determined
attacker who has the file, who can try every candidate offline in seconds. See
docs/security.md.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Mapping
from typing import Literal

import pikepdf

from .config import Brand, Encryption
from .errors import RenderError
from .records import Record

PasswordPolicy = Literal["none", "id_last6"]
POLICIES: tuple[PasswordPolicy, ...] = ("none", "id_last6")

#: Characters the ``id_last6`` policy takes from the end of the ID number.
ID_CHARS = 6


def password_for(record: Record, policy: Encryption | PasswordPolicy) -> str | None:
    """The user password of ``record``'s letter under ``policy``, or None (not encrypted).

    Raises RenderError (naming the account, never the number) when the ID number is too short
    for the policy.

    >>> from types import SimpleNamespace
    >>> password_for(SimpleNamespace(id_number="11010519491231002x", account_id="A-1"),
    ...              "id_last6")
    '31002X'
    >>> password_for(SimpleNamespace(id_number="11010519491231002X", account_id="A-1"), "none")
    """
    name = policy if isinstance(policy, str) else policy.password
    if name == "none":
        return None
    if name == "id_last6":
        number = "".join(record.id_number.split()).upper()
        if len(number) < ID_CHARS:
            raise RenderError(
                f"encryption policy id_last6 needs an ID number of at least {ID_CHARS} "
                f"characters; this one has {len(number)}", kind="encryption",
                account_id=record.account_id)
        return number[-ID_CHARS:]
    raise ValueError(f"unknown encryption policy {name!r}; expected one of {POLICIES}")


def owner_password(policy: Encryption, environ: Mapping[str, str] | None = None) -> str:
    """The owner password: the policy's environment variable, else a random one."""
    value = (os.environ if environ is None else environ).get(policy.owner_password_env, "")
    return value or secrets.token_urlsafe(32)


#: What a reader with the user password may do.
PERMISSIONS = pikepdf.Permissions(
    accessibility=True, extract=True, print_lowres=True, print_highres=True,
    modify_annotation=False, modify_assembly=False, modify_form=False, modify_other=False,
)


def encrypt_pdf(data: bytes, password: str, owner_password: str) -> bytes:
    """``data`` (a PDF) encrypted with AES-256 (R6): opening it needs ``password``."""
    if not password:
        raise ValueError("an empty user password would not protect anything")
    if password == owner_password:
        raise ValueError("the owner password must differ from the user password")
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(
            user=password, owner=owner_password, R=6, aes=True, metadata=True,
            allow=PERMISSIONS,
        ))
    return out.getvalue()


def protect_letter(
    data: bytes, record: Record, brand: Brand, environ: Mapping[str, str] | None = None,
) -> bytes:
    """The letter's bytes to write: encrypted when ``brand``'s policy asks for it, else
    ``data`` unchanged. Raises RenderError (with the account id) when it cannot be done."""
    password = password_for(record, brand.encryption)
    if password is None:
        return data
    owner = owner_password(brand.encryption, environ)
    if owner == password:
        raise RenderError(f"the owner password in ${brand.encryption.owner_password_env} "
                          "equals this letter's password", kind="encryption",
                          account_id=record.account_id)
    try:
        return encrypt_pdf(data, password, owner)
    except (pikepdf.PdfError, ValueError) as exc:
        raise RenderError(f"cannot encrypt the letter: {type(exc).__name__}",
                          kind="encryption", account_id=record.account_id) from exc
