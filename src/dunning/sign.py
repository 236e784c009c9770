"""Seal letters with the lender's digital signature: PAdES baseline B-B, with pyHanko.

Takes a letter's final bytes (PDF/A from :mod:`dunning.pdf`, or encrypted by
:mod:`dunning.protect`), its record and its brand; gives the bytes with one signature added
as an incremental update, so that everything written before (PDF/A identification, XMP,
the attached record data) stays as it was, the update itself leaves the Info dictionary and
the XMP metadata alone, and the letter stays PDF/A.

The brand's ``signing`` settings (:class:`dunning.config.Signing`) name a PKCS#12 file and
the environment variable holding its password. The key is read once per process
(:func:`load_signer`) and never leaves it: it is not pickled into worker processes (each
reads the file itself), never logged, and no error message carries the password.

What the signature holds and why:

- ``/SubFilter /ETSI.CAdES.detached`` with the signer's certificate as a signed attribute
  (signing-certificate-v2) and SHA-256: PAdES B-B (ETSI EN 319 142-1). No timestamp (B-T)
  and no revocation data (B-LT): the letter is dated by its as-of date, not by a trusted
  time (docs/trust.md says what that proves).
- The claimed signing time is midnight of the letter's as-of date in the configured time
  zone, the date the letter's metadata already carries; with the update's file identifier
  derived from the letter's bytes, two runs give the same signed byte range, and with an
  RSA key (PKCS#1 v1.5 is deterministic) the same file.
- The signature field's widget lies over the brand's seal (where ``partials/signature.html``
  prints it, found through the named destination :data:`SEAL_ANCHOR`), with an empty
  appearance, so the printed seal is what the reader sees and clicking it opens the
  signature panel. A brand without a seal image gets an invisible field (a zero-size
  widget on the last page).

An encrypted letter is signed after encryption, inside the encryption (the user password
opens it for the update): encrypting after signing would rewrite the file and break the
signature. Its signature is then checked with the same password.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import os
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, RenderError, reason

if TYPE_CHECKING:
    from pyhanko.sign.signers import SimpleSigner

    from .config import Brand, Signing
    from .records import Record

#: Name of the signature form field.
FIELD_NAME = "Seal"
#: The ``id`` of the seal image in ``partials/signature.html`` when the brand signs: its
#: named destination gives the seal's page and top-left corner.
SEAL_ANCHOR = "dunning-seal"
#: The seal's printed size (``.signature .seal`` in templates/assets/letter.css; a test checks
#: they agree), in points.
SEAL_SIZE_PT = 36 * 72 / 25.4
#: Digest of the signed bytes and of the signed attributes.
DIGEST = "sha256"


def import_pyhanko(what: str = "sealing letters (brands.yaml signing:)") -> Any:
    """Import pyHanko's signing modules, or raise ConfigError naming the extra for ``what``.

    cryptography 51 deprecates DSA and warns when a module imports its DSA key type, as
    pyHanko 0.38 does on its first import; dunning never signs or verifies with DSA, so that
    one warning is silenced here rather than printed on every run's stderr."""
    from .extras import require

    require("signing", what)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="DSA is deprecated", category=UserWarning)
        import pyhanko.sign
        import pyhanko.sign.signers
        import pyhanko.sign.validation

    return pyhanko.sign


#: Stands for the document digest in a signer's container template: where it lies there is
#: where each letter's digest goes (32 bytes, found exactly once, or no template is kept).
_TEMPLATE_DIGEST = hashlib.sha256(b"dunning.sign: signature container template").digest()


@dataclass(frozen=True, slots=True)
class ContainerTemplate:
    """A signer's CMS signed-data container, made once by pyHanko for a stand-in digest:
    where the digest, the signed attributes and the signature lie in its DER. A letter's
    container is the template with the letter's digest put in its place and the signed
    attributes (with that digest) signed again: the same bytes pyHanko makes for the letter,
    without encoding the certificates and attributes anew (tests/test_signing.py compares
    them)."""

    der: bytes
    digest_at: int
    attrs_at: int
    attrs_len: int
    signature_at: int
    signature_len: int

    @classmethod
    def find(cls, der: bytes, attrs: bytes, signature: bytes) -> ContainerTemplate | None:
        """The template of ``der``, or None when a part is not found exactly once."""
        places = []
        for part in (_TEMPLATE_DIGEST, attrs, signature):
            at = der.find(part)
            if at < 0 or der.find(part, at + 1) >= 0:
                return None
            places.append(at)
        digest_at, attrs_at, signature_at = places
        if not attrs_at < digest_at < attrs_at + len(attrs) <= signature_at:
            return None
        return cls(der, digest_at, attrs_at, len(attrs), signature_at, len(signature))

    def fill(self, digest: bytes, sign: Any) -> bytes:
        """The container for a document ``digest``; ``sign`` signs the DER of the signed
        attributes (a SET, as CMS signs them: the container holds them as ``[0]``)."""
        if len(digest) != len(_TEMPLATE_DIGEST):
            raise ValueError("digest of another length than the template's")
        der = bytearray(self.der)
        der[self.digest_at:self.digest_at + len(digest)] = digest
        attrs = b"\x31" + bytes(der[self.attrs_at + 1:self.attrs_at + self.attrs_len])
        signature: bytes = sign(attrs)
        if len(signature) != self.signature_len:
            raise ValueError("signature of another length than the template's")
        der[self.signature_at:self.signature_at + self.signature_len] = signature
        return bytes(der)


def _kept_key_signer_class() -> Any:
    from asn1crypto import cms
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.util import get_pyca_cryptography_hash

    class KeptKeySigner(SimpleSigner):
        """pyHanko's SimpleSigner with the private key loaded once (SimpleSigner loads it
        from DER for every raw signature: about 40 ms for RSA 2048, with its checks) and,
        for an RSA PKCS#1 v1.5 key, the signature container made once per signing time and
        digest algorithm (:class:`ContainerTemplate`: one a day for a long-running service)
        instead of encoded anew for every letter. Other
        keys (ECDSA, RSA-PSS) and anything a template does not cover (timestamps, extra
        attributes, dry runs) take pyHanko's general path."""

        def __init__(self, signer: SimpleSigner) -> None:
            super().__init__(signing_key=signer.signing_key, signing_cert=signer.signing_cert,
                             cert_registry=signer.cert_registry,
                             signature_mechanism=signer.signature_mechanism)
            self._key = serialization.load_der_private_key(signer.signing_key.dump(),
                                                           password=None)
            self._templates: dict[tuple[Any, ...], ContainerTemplate | None] = {}

        def _pkcs1(self, digest_algorithm: str) -> bool:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            return (isinstance(self._key, RSAPrivateKey)
                    and mechanism.signature_algo == "rsassa_pkcs1v15")

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            key = self._key
            if isinstance(key, RSAPrivateKey) and self._pkcs1(digest_algorithm):
                return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
            signature: bytes = super().sign_raw(data, digest_algorithm)
            return signature

        async def async_sign(self, data_digest: bytes, digest_algorithm: str,
                             dry_run: bool = False, use_pades: bool = False,
                             timestamper: Any = None, signed_attr_settings: Any = None,
                             is_pdf_sig: bool = True, encap_content_info: Any = None) -> Any:
            settings = signed_attr_settings
            plain = (not dry_run and timestamper is None and is_pdf_sig
                     and encap_content_info is None and self._pkcs1(digest_algorithm)
                     and self.signed_attr_prov_spec is None
                     and self.unsigned_attr_prov_spec is None and not self.attribute_certs
                     and (settings is None or (settings.cades_signed_attrs is None
                                               and settings.adobe_revinfo_attr is None)))
            if plain:
                key = (digest_algorithm, use_pades,
                       None if settings is None else settings.signing_time)
                if key not in self._templates:
                    self._templates[key] = await self._template(
                        digest_algorithm, use_pades, settings)
                template = self._templates[key]
                if template is not None:
                    return cms.ContentInfo.load(template.fill(
                        data_digest, lambda attrs: self.sign_raw(attrs, digest_algorithm)))
            return await super().async_sign(
                data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
                timestamper=timestamper, signed_attr_settings=signed_attr_settings,
                is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)

        async def _template(self, digest_algorithm: str, use_pades: bool,
                            settings: Any) -> ContainerTemplate | None:
            container = await super().async_sign(
                _TEMPLATE_DIGEST, digest_algorithm, use_pades=use_pades,
                signed_attr_settings=settings)
            (info,) = container["content"]["signer_infos"]
            return ContainerTemplate.find(container.dump(), info["signed_attrs"].dump(),
                                          info["signature"].native)

    return KeptKeySigner


@lru_cache(maxsize=8)
def _signer(pkcs12: str, mtime_ns: int, password: bytes) -> SimpleSigner:
    from pyhanko.sign.signers import SimpleSigner

    signer: SimpleSigner | None = SimpleSigner.load_pkcs12(  # type: ignore[no-untyped-call]
        pkcs12, passphrase=password or None)
    if signer is None:
        raise ConfigError("cannot read the signing key: wrong password, or not a PKCS#12 "
                          "file with one key and its certificate", path=pkcs12)
    kept: SimpleSigner = _kept_key_signer_class()(signer)
    return kept


def load_signer(signing: Signing, environ: Mapping[str, str] | None = None) -> SimpleSigner:
    """The signer of ``signing``'s PKCS#12 file, read once per process and file version.

    ConfigError (naming the file and the variable, never the password) when the password
    variable is unset or the file cannot be read with it."""
    import_pyhanko()
    env = os.environ if environ is None else environ
    if signing.password_env not in env:
        raise ConfigError(f"${signing.password_env} (the password of the signing key) is not "
                          "set", path=signing.pkcs12)
    try:
        mtime = Path(signing.pkcs12).stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"cannot read the signing key: {reason(exc)}",
                          path=signing.pkcs12) from exc
    try:
        return _signer(signing.pkcs12, mtime, env[signing.password_env].encode("utf-8"))
    except ConfigError:
        raise
    except Exception as exc:  # pyHanko/cryptography raise several kinds for a bad file
        raise ConfigError(f"cannot read the signing key: {type(exc).__name__}",
                          path=signing.pkcs12) from exc


def check_signing(brands: Mapping[str, Brand], environ: Mapping[str, str] | None = None
                  ) -> None:
    """Load every brand's signing key once, so a missing password or a bad file stops the
    run before its first letter (ConfigError)."""
    for brand in brands.values():
        if brand.signing is not None:
            load_signer(brand.signing, environ)


@dataclass(frozen=True, slots=True)
class SealPlace:
    """Where the signature's widget goes: a 0-based page index and a box in points."""

    page: int
    box: tuple[int, int, int, int]


def seal_place(data: bytes, password: str = "") -> SealPlace:
    """The seal's place on the letter (its named destination :data:`SEAL_ANCHOR`), or a
    zero-size box on the last page when the letter prints no seal."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    if reader.encrypted:
        reader.decrypt(password)
    return _seal_place(reader.root)


def _page_refs(node: Any) -> list[tuple[int, int]]:
    """The (object number, generation) of each page under a page tree node, in order."""
    refs = []
    for kid in node.raw_get("/Kids"):
        obj = kid.get_object()
        if obj.get("/Type") == "/Pages":
            refs.extend(_page_refs(obj))
        else:
            refs.append((kid.idnum, kid.generation))
    return refs


def _name_tree_get(node: Any, key: str) -> Any:
    """The value of ``key`` in a name tree (ISO 32000 §7.9.6), or None."""
    if "/Names" in node:
        names = node["/Names"]
        for index in range(0, len(names) - 1, 2):
            if str(names[index]) == key:
                return names[index + 1]
    for kid in node.get("/Kids", ()):
        kid = kid.get_object()
        low, high = (str(limit) for limit in kid.get("/Limits", ("", "\uffff")))
        if low <= key <= high:
            found = _name_tree_get(kid, key)
            if found is not None:
                return found
    return None


def _seal_place(root: Any) -> SealPlace:
    """:func:`seal_place` in a document catalog read by pyHanko (its reader's, or the
    incremental writer's, which then need not read the letter a second time)."""
    pages = _page_refs(root["/Pages"])
    dests = root["/Names"].get("/Dests") if "/Names" in root else None
    target = _name_tree_get(dests, SEAL_ANCHOR) if dests is not None else None
    if target is None:
        return SealPlace(len(pages) - 1, (0, 0, 0, 0))
    from pyhanko.pdf_utils import generic

    array = target["/D"] if isinstance(target, generic.DictionaryObject) else target
    page_ref = array.raw_get(0)
    page = pages.index((page_ref.idnum, page_ref.generation))
    left, top = float(array[2]), float(array[3])
    # Whole points, rounded outwards (pyHanko takes integer boxes).
    return SealPlace(page, (math.floor(left), math.floor(top - SEAL_SIZE_PT),
                            math.ceil(left + SEAL_SIZE_PT), math.ceil(top)))


def _writer_class() -> Any:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    class ReproducibleWriter(IncrementalPdfFileWriter):
        """pyHanko's incremental writer that leaves the document's metadata alone and has no
        randomness: pyHanko would rewrite the Info dictionary and the XMP stream (its name
        in the producer, the clock's time as the modification date), which would change
        what the PDF/A letter says about itself and put the clock into the signed bytes; and
        the second half of the file identifier is taken from the letter's bytes (ISO 32000
        §14.4 asks only that it change when the file changes). Both are pyHanko internals
        (pinned to 0.38 in pyproject.toml); tests/test_signing.py checks that Info and XMP
        stay as they were and that two signings give the same bytes."""

        def _update_meta(self) -> None:
            pass

        @classmethod
        def _handle_id(cls, prev: Any) -> Any:
            ids = super()._handle_id(prev)  # type: ignore[no-untyped-call]
            prev.stream.seek(0)
            digest = hashlib.sha256(prev.stream.read()).digest()[:16]
            return generic.ArrayObject([ids[0], generic.ByteStringObject(digest)])

    return ReproducibleWriter


def _signer_class() -> Any:
    from pyhanko.sign.signers import PdfSigner

    class FixedTimeSigner(PdfSigner):
        """pyHanko's PdfSigner claiming a given signing time instead of the clock's."""

        def __init__(self, *args: Any, signing_time: datetime, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.signing_time = signing_time

        def init_signing_session(self, *args: Any, **kwargs: Any) -> Any:
            session = super().init_signing_session(*args, **kwargs)
            session.system_time = self.signing_time
            return session

    return FixedTimeSigner


def reserved_bytes(signer: SimpleSigner) -> int:
    """Bytes of the file reserved for the signature container: room for the certificates it
    carries and 4 KiB for the rest (signed attributes, a signature of up to 4096-bit RSA),
    written as hex, so two bytes of the file per byte of the container (pyHanko's
    ``bytes_reserved`` counts the hex digits). Fixed per signer, so pyHanko need not make a
    trial signature to size it."""
    certs = [signer.signing_cert, *signer.cert_registry]
    size = 4096 + sum(len(cert.dump()) for cert in certs if cert is not None)
    return 2 * size


def sign_pdf(data: bytes, signer: SimpleSigner, *, signing_time: datetime,
             password: str = "", reason: str | None = None) -> bytes:
    """``data`` with a PAdES B-B signature by ``signer`` added as an incremental update,
    claiming ``signing_time``; ``password`` opens an encrypted ``data``."""
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import StaticStampStyle

    writer = _writer_class()(io.BytesIO(data))
    if password:
        writer.encrypt(password)
    place = _seal_place(writer.root)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME, md_algorithm=DIGEST, reason=reason,
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    spec = fields.SigFieldSpec(FIELD_NAME, on_page=place.page, box=place.box)
    pdf_signer = _signer_class()(
        meta, signer=signer, new_field_spec=spec, signing_time=signing_time,
        stamp_style=StaticStampStyle(border_width=0, background=None),
    )
    out = _run(pdf_signer.async_sign_pdf(writer, bytes_reserved=reserved_bytes(signer)))
    result: bytes = out.getvalue()
    return result


class _Loop:
    """An event loop for one thread of one process, closed when the thread's locals go."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        self.loop.close()


_loops = threading.local()


def _run(coroutine: Any) -> Any:
    """Run one of pyHanko's coroutines to its end on this thread's event loop, made once
    per thread and process and kept: pyHanko's synchronous ``sign_pdf`` is ``asyncio.run``
    of ``async_sign_pdf``, which makes and closes a new loop for every letter (about 0.13 ms,
    a thirtieth of the signing step). Like ``asyncio.run``, it cannot be called from a
    thread whose own loop is running."""
    held: _Loop | None = getattr(_loops, "held", None)
    if held is None or held.pid != os.getpid():
        held = _loops.held = _Loop()
    return held.loop.run_until_complete(coroutine)


def seal_letter(data: bytes, record: Record, brand: Brand, *, signing_time: datetime,
                environ: Mapping[str, str] | None = None) -> bytes:
    """The letter's bytes to deliver: signed when ``brand`` has ``signing`` settings, else
    ``data`` unchanged. RenderError (kind ``signing``, with the account id) when signing
    fails; ConfigError when the key cannot be read."""
    if brand.signing is None:
        return data
    from .protect import password_for

    signer = load_signer(brand.signing, environ)
    password = password_for(record, brand.encryption) or ""
    try:
        return sign_pdf(data, signer, signing_time=signing_time, password=password)
    except Exception as exc:
        raise RenderError(f"cannot sign the letter: {type(exc).__name__}: {exc}",
                          kind="signing", account_id=record.account_id) from exc
