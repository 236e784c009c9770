"""Sealed letters: real letters signed with certificates made in the test (tests/pki.py),
checked by pyHanko's validator and, independently, by poppler's pdfsig with an NSS
certificate store made in the test (certutil) that trusts the test CA."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from dunning.archive import archive_problems, as_of_midnight
from dunning.config import Signing
from dunning.errors import ConfigError
from dunning.job import Task, make_letter
from dunning.letter import Dunning
from dunning.protect import password_for
from dunning.records import Record, read_records
from dunning.sign import SEAL_ANCHOR, SEAL_SIZE_PT, load_signer, seal_place, sign_pdf

from .helpers import ROOT, SAMPLE_FILES, SAMPLES_AS_OF
from .pki import P12_PASSWORD, PASSWORD_ENV, Authority, Key, Trust, write_p12


def _record(dunning: Dunning, account_id: str) -> Record:
    return next(r for r in read_records([SAMPLE_FILES[0]], dunning.record_rules())
                if isinstance(r, Record) and r.account_id == account_id)


def _letter(dunning: Dunning, account_id: str) -> bytes:
    outcome = make_letter(Task(_record(dunning, account_id)), dunning, SAMPLES_AS_OF)
    assert outcome.data is not None, outcome.entry.reason
    return outcome.data


@pytest.fixture(scope="module")
def signed(sealed: Dunning) -> bytes:
    """A mingtai letter as the batch makes it with a signing key configured."""
    return _letter(sealed, "MT-000004")


@pytest.fixture(scope="module")
def unsigned(dunning: Dunning) -> bytes:
    """The same letter rendered without signing (nor verification code)."""
    return _letter(dunning, "MT-000004")


def pyhanko_status(data: bytes, anchor: Path, password: str = "") -> PdfSignatureStatus:
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    if reader.encrypted:
        reader.decrypt(password)
    (signature,) = reader.embedded_regular_signatures
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(anchor))],
                                allow_fetching=False)
    return validate_pdf_signature(signature, context)


@pytest.fixture(scope="module")
def nss(trust: Trust, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NSS certificate store (NSS's certutil) trusting the test root CA, and nothing
    else: pdfsig's trust store for these tests."""
    return nss_store(tmp_path_factory.mktemp("nss"), trust.anchor)


def nss_store(folder: Path, *anchors: Path) -> Path:
    folder.mkdir(exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True,
                   capture_output=True)
    for number, anchor in enumerate(anchors):
        subprocess.run(["certutil", "-A", "-d", f"sql:{folder}", "-n", f"test anchor {number}",
                        "-t", "C,C,C", "-i", str(anchor)], check=True, capture_output=True)
    return folder


def pdfsig(data: bytes, tmp_path: Path, nss: Path, password: str = "") -> str:
    """pdfsig's report on ``data``: the signature and, against the NSS store ``nss``, the
    signer's certificate, now. (The test certificates name no OCSP responder, so nothing is
    fetched; poppler 22.12's ``-no-ocsp`` turns every certificate verdict into "Unknown
    issue", so it is not passed.)"""
    path = tmp_path / "letter.pdf"
    path.write_bytes(data)
    args = ["pdfsig", "-nssdir", f"sql:{nss}",
            *(["-upw", password] if password else []), str(path)]
    return subprocess.run(args, capture_output=True, text=True, check=False).stdout


#: pdfsig's verdicts on the signer's certificate.
TRUSTED = "Certificate Validation: Certificate is Trusted."
UNTRUSTED_ISSUER = "Certificate Validation: Certificate issuer isn't Trusted."
EXPIRED = "Certificate Validation: Certificate has Expired"


def test_a_fresh_sealed_letter_validates(signed: bytes, trust: Trust, tmp_path: Path,
                                        nss: Path) -> None:
    status = pyhanko_status(signed, trust.anchor)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.signing_cert.subject.native["common_name"] == "Mingtai Consumer Finance Seal"
    report = pdfsig(signed, tmp_path, nss)
    assert "Signature Type: ETSI.CAdES.detached" in report
    assert "Signing Hash Algorithm: SHA-256" in report
    assert "Total document signed" in report
    assert "Signature Validation: Signature is Valid." in report
    assert TRUSTED in report
    assert "Signer Certificate Common Name: Mingtai Consumer Finance Seal" in report


def test_pdfsig_trusts_only_the_ca_in_its_store(signed: bytes, tmp_path: Path) -> None:
    report = pdfsig(signed, tmp_path, nss_store(tmp_path / "empty"))
    assert "Signature is Valid." in report
    assert TRUSTED not in report
    assert UNTRUSTED_ISSUER in report


def _info_and_xmp(data: bytes) -> tuple[dict[str, str], bytes]:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        info = {str(key): str(value) for key, value in pdf.trailer.Info.items()}
        return info, pdf.Root.Metadata.read_bytes()


def test_signing_leaves_the_info_dictionary_and_xmp_as_they_were(
    signed: bytes, sealed: Dunning,
) -> None:
    rendered = sealed.render(sealed.plan(_record(sealed, "MT-000004"), SAMPLES_AS_OF)).pdf.data
    info, xmp = _info_and_xmp(rendered)
    assert b"pdfaid:part" in xmp
    assert _info_and_xmp(signed) == (info, xmp)
    with pikepdf.open(io.BytesIO(signed)) as pdf, pikepdf.open(io.BytesIO(rendered)) as before:
        assert pdf.trailer.Info.objgen == before.trailer.Info.objgen
        assert pdf.Root.Metadata.objgen == before.Root.Metadata.objgen


def test_the_signature_is_an_incremental_update_and_the_letter_stays_pdf_a(
    signed: bytes, unsigned: bytes, sealed: Dunning,
) -> None:
    rendered = sealed.render(sealed.plan(_record(sealed, "MT-000004"), SAMPLES_AS_OF)).pdf.data
    assert signed.startswith(rendered)
    assert archive_problems(signed) == []
    assert archive_problems(unsigned) == []


def test_the_claimed_signing_time_is_the_letters_date(signed: bytes, trust: Trust,
                                                      sealed: Dunning) -> None:
    status = pyhanko_status(signed, trust.anchor)
    assert status.signer_reported_dt == as_of_midnight(SAMPLES_AS_OF, sealed.settings.tz)


def test_two_runs_sign_the_same_bytes(signed: bytes, sealed: Dunning) -> None:
    again = _letter(sealed, "MT-000004")
    assert again == signed


def test_signing_in_threads_gives_the_same_bytes_and_closes_its_loops(
        signed: bytes, unsigned: bytes, trust: Trust) -> None:
    """Each thread signs on an event loop of its own (pyHanko's signing is a coroutine),
    kept for its next letter and closed when the thread ends: an event loop left open
    warns (ResourceWarning) when it is collected, which fails a test here."""
    import gc
    import threading

    from dunning.sign import sign_pdf

    signer = load_signer(Signing(pkcs12=str(trust.p12), password_env=PASSWORD_ENV,
                                 trust_anchor=str(trust.anchor)), {PASSWORD_ENV: P12_PASSWORD})
    when = datetime(2026, 11, 20, tzinfo=UTC)
    made: list[bytes] = []

    def sign_twice() -> None:
        made.extend(sign_pdf(unsigned, signer, signing_time=when) for _ in range(2))

    threads = [threading.Thread(target=sign_twice) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gc.collect()
    assert len(made) == 6
    assert len(set(made)) == 1
    assert made[0] == sign_pdf(unsigned, signer, signing_time=when)


def test_the_widget_lies_over_the_printed_seal_and_prints(signed: bytes) -> None:
    place = seal_place(signed)
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        (field,) = pdf.Root.AcroForm.Fields
        assert field.FT == "/Sig"
        assert field.T == "Seal"
        assert pdf.pages[place.page].obj.objgen == field.P.objgen
        x0, y0, x1, y1 = (float(v) for v in field.Rect)
        assert x1 - x0 == pytest.approx(SEAL_SIZE_PT, abs=2)
        assert y1 - y0 == pytest.approx(SEAL_SIZE_PT, abs=2)
        assert int(field.F) & 4, "PDF/A: a widget must carry the Print flag"
        appearance = field.AP.N
        assert "/Font" not in appearance.get("/Resources", {}), "no unembedded font"
    assert place.page == 1  # the signature block of a two-page letter
    assert SEAL_ANCHOR in _destinations(signed)


def _destinations(data: bytes) -> set[str]:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        names = pdf.Root.get("/Names")
        if names is None or "/Dests" not in names:
            return set()
        return set(pikepdf.NameTree(names.Dests).keys())


def test_the_seal_size_agrees_with_the_stylesheet() -> None:
    css = (ROOT / "templates" / "assets" / "letter.css").read_text("utf-8")
    rule = re.search(r"\.signature \.seal \{[^}]*\}", css)
    assert rule is not None
    width = re.search(r"width:\s*([\d.]+)mm", rule.group())
    height = re.search(r"height:\s*([\d.]+)mm", rule.group())
    assert width
    assert height
    assert float(width.group(1)) * 72 / 25.4 == pytest.approx(SEAL_SIZE_PT)
    assert float(height.group(1)) * 72 / 25.4 == pytest.approx(SEAL_SIZE_PT)


def test_one_changed_byte_breaks_the_signature(signed: bytes, trust: Trust,
                                               tmp_path: Path, nss: Path) -> None:
    start = signed.index(b"stream", len(signed) // 4) + 40  # inside a content stream
    changed = bytearray(signed)
    changed[start] ^= 0x01
    status = pyhanko_status(bytes(changed), trust.anchor)
    assert not status.intact
    assert not status.bottom_line
    report = pdfsig(bytes(changed), tmp_path, nss)
    assert "Signature is Valid." not in report
    assert "Digest Mismatch" in report


def test_a_page_appended_after_signing_is_seen(signed: bytes, trust: Trust,
                                               tmp_path: Path, nss: Path) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed), strict=False)
    writer.insert_page(PageObject(contents=writer.add_object(pikepdf_stream(writer)),
                                  media_box=[0, 0, 595, 842]))
    out = io.BytesIO()
    writer.write(out)
    appended = out.getvalue()
    assert appended.startswith(signed)
    assert len(appended) > len(signed)
    status = pyhanko_status(appended, trust.anchor)
    assert status.intact  # the signed bytes are untouched…
    assert status.coverage != SignatureCoverageLevel.ENTIRE_FILE  # …but do not cover it all
    assert not status.bottom_line
    report = pdfsig(appended, tmp_path, nss)
    assert "Total document signed" not in report
    assert "not total document signed" in report.lower()


def pikepdf_stream(writer: IncrementalPdfFileWriter) -> Any:
    from pyhanko.pdf_utils import generic

    return generic.StreamObject(stream_data=b"BT ET")


def _signer_from(folder: Path, key: Key, cert: Any, chain: list[Any]) -> SimpleSigner:
    p12 = write_p12(folder / f"signer-{len(list(folder.glob('*.p12')))}.p12", key, cert, chain)
    return load_signer(Signing(pkcs12=str(p12), password_env=PASSWORD_ENV,
                               trust_anchor=str(p12)), {PASSWORD_ENV: P12_PASSWORD})


def _sign_with(data: bytes, folder: Path, issuer: Authority, **dates: datetime) -> bytes:
    key, cert = issuer.issue("Impostor Seal", **dates)
    signer = _signer_from(folder, key, cert, [issuer.cert])
    return sign_pdf(data, signer, signing_time=datetime(2026, 11, 20, tzinfo=UTC))


def test_a_certificate_from_another_ca_is_not_trusted(unsigned: bytes, trust: Trust,
                                                      tmp_path: Path, nss: Path) -> None:
    forged = _sign_with(unsigned, tmp_path, Authority.make("Some Other CA"))
    status = pyhanko_status(forged, trust.anchor)
    assert status.intact
    assert status.valid
    assert not status.trusted  # …by a key the brand's CA never certified
    assert not status.bottom_line
    report = pdfsig(forged, tmp_path, nss)
    assert "Signature is Valid." in report  # the bytes are intact…
    assert UNTRUSTED_ISSUER in report  # …but pdfsig does not trust the signer either
    assert TRUSTED not in report


def test_an_expired_certificate_is_not_trusted(unsigned: bytes, trust: Trust,
                                               tmp_path: Path, nss: Path) -> None:
    expired = _sign_with(unsigned, tmp_path, trust.ca,
                         not_before=datetime(2025, 1, 1, tzinfo=UTC),
                         not_after=datetime.now(UTC) - timedelta(days=1))
    status = pyhanko_status(expired, trust.anchor)
    assert status.intact
    assert status.valid
    assert not status.trusted
    assert not status.bottom_line
    report = pdfsig(expired, tmp_path, nss)
    assert "Signature is Valid." in report
    assert EXPIRED in report
    assert TRUSTED not in report


def test_a_long_certificate_chain_fits_the_room_reserved_for_it(
    unsigned: bytes, tmp_path: Path,
) -> None:
    """Four intermediate CAs between the root and the brand's certificate: six certificates
    in the signature, all within the room :func:`reserved_bytes` sets aside."""
    root = Authority.make("Long Chain Root CA")
    issuer, chain = root, [root.cert]
    for number in range(1, 5):
        issuer = issuer.subordinate(f"Long Chain Intermediate CA {number}")
        chain.insert(0, issuer.cert)
    key, cert = issuer.issue("Long Chain Seal")
    signer = _signer_from(tmp_path, key, cert, chain)
    data = sign_pdf(unsigned, signer, signing_time=datetime(2026, 11, 20, tzinfo=UTC))
    anchor = root.write_pem(tmp_path / "long-root.pem")
    status = pyhanko_status(data, anchor)
    assert status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert len(status.validation_path) == 6
    report = pdfsig(data, tmp_path, nss_store(tmp_path / "nss", anchor))
    assert "Signature is Valid." in report
    assert TRUSTED in report


def test_an_ecdsa_key_signs_through_the_general_path(
    unsigned: bytes, trust: Trust, tmp_path: Path, nss: Path,
) -> None:
    key, cert = trust.ca.issue("Mingtai ECDSA Seal", ecdsa=True)
    signer = _signer_from(tmp_path, key, cert, [trust.ca.cert])
    data = sign_pdf(unsigned, signer, signing_time=datetime(2026, 11, 20, tzinfo=UTC))
    assert not signer._templates  # type: ignore[attr-defined]
    status = pyhanko_status(data, trust.anchor)
    assert status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.signing_cert.subject.native["common_name"] == "Mingtai ECDSA Seal"
    report = pdfsig(data, tmp_path, nss)
    assert "Signature is Valid." in report
    assert TRUSTED in report


def test_the_rsa_fast_path_signs_the_bytes_pyhanko_signs(unsigned: bytes, trust: Trust,
                                                        tmp_path: Path) -> None:
    """The signature container made once per signer and filled in per letter gives the very
    bytes pyHanko's own signer gives (PKCS#1 v1.5 is deterministic), letter after letter."""
    signing = Signing(pkcs12=str(trust.p12), password_env=PASSWORD_ENV,
                      trust_anchor=str(trust.anchor))
    fast = load_signer(signing, {PASSWORD_ENV: P12_PASSWORD})
    stock = SimpleSigner.load_pkcs12(str(trust.p12),  # type: ignore[no-untyped-call]
                                     passphrase=P12_PASSWORD.encode())
    assert type(stock) is SimpleSigner
    for day in (20, 21, 20):
        when = datetime(2026, 11, day, tzinfo=UTC)
        assert sign_pdf(unsigned, fast, signing_time=when) == \
            sign_pdf(unsigned, stock, signing_time=when)
    templates = fast._templates  # type: ignore[attr-defined]  (one per signing time)
    for day in (20, 21):
        assert templates[("sha256", True, datetime(2026, 11, day, tzinfo=UTC))] is not None
    other = sign_pdf(unsigned[:-1] + b"\n", fast, signing_time=datetime(2026, 11, 20, tzinfo=UTC))
    assert pyhanko_status(other, trust.anchor).bottom_line


def test_an_encrypted_letter_is_signed_inside_its_encryption(
    sealed: Dunning, trust: Trust, tmp_path: Path, nss: Path,
) -> None:
    record = _record(sealed, "JQ-000001") if _has(sealed, "JQ-000001") else _first(sealed)
    data = _letter(sealed, record.account_id)
    password = password_for(record, sealed.brands[record.brand].encryption)
    assert password
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(data))
    status = pyhanko_status(data, trust.anchor, password)
    assert status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    report = pdfsig(data, tmp_path, nss, password)
    assert "Signature is Valid." in report
    assert "Total document signed" in report
    assert TRUSTED in report


def _has(dunning: Dunning, account_id: str) -> bool:
    return any(isinstance(r, Record) and r.account_id == account_id
               for r in read_records([SAMPLE_FILES[0]], dunning.record_rules()))


def _first(dunning: Dunning) -> Record:
    """The first jinqiao record of the samples that gets a letter."""
    for record in read_records([SAMPLE_FILES[0]], dunning.record_rules()):
        if isinstance(record, Record) and record.brand == "jinqiao" and \
                dunning.plan(record, SAMPLES_AS_OF).stage is not None:
            return record
    raise AssertionError("no jinqiao letter in the samples")


def test_without_the_password_variable_the_run_stops_naming_it(trust: Trust) -> None:
    signing = Signing(pkcs12=str(trust.p12), password_env=PASSWORD_ENV,
                      trust_anchor=str(trust.anchor))
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        load_signer(signing, {})
    with pytest.raises(ConfigError, match="cannot read the signing key") as info:
        load_signer(signing, {PASSWORD_ENV: "wrong-password"})
    assert "wrong-password" not in str(info.value)
    assert P12_PASSWORD not in str(info.value)


@pytest.mark.parametrize(("signing", "message"), [
    ({"pkcs12": "nowhere.p12", "password_env": "X", "trust_anchor": "brands.yaml"},
     "signing.pkcs12"),
    ({"pkcs12": "brands.yaml", "password_env": "X", "trust_anchor": "brands.yaml",
      "password": "hunter2"}, "unknown key 'password'"),
    ({"pkcs12": "brands.yaml", "password_env": "lower", "trust_anchor": "brands.yaml"},
     "signing.password_env"),
])
def test_bad_signing_config_is_refused(tmp_path: Path, trust: Trust,
                                       signing: dict[str, str], message: str) -> None:
    import yaml

    from dunning.config import load_brands

    data = yaml.safe_load((trust.config_dir / "brands.yaml").read_text("utf-8"))
    data["brands"]["mingtai"]["signing"] = signing
    path = tmp_path / "brands.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError, match=message):
        load_brands(path, ROOT / "templates" / "assets")


def test_a_brand_without_signing_gets_its_letter_unchanged(
    dunning: Dunning, unsigned: bytes,
) -> None:
    plan = dunning.plan(_record(dunning, "MT-000004"), SAMPLES_AS_OF)
    assert unsigned == dunning.render(plan).pdf.data
    assert b"/ByteRange" not in unsigned
    assert SEAL_ANCHOR not in _destinations(unsigned)
    brand = dunning.brands["mingtai"]
    assert brand.signing is None
    assert brand.verification is None


def test_the_signer_is_the_pkcs12_key(trust: Trust) -> None:
    signer = load_signer(Signing(pkcs12=str(trust.p12), password_env=PASSWORD_ENV,
                                 trust_anchor=str(trust.anchor)), {PASSWORD_ENV: P12_PASSWORD})
    assert isinstance(signer, SimpleSigner)
    assert signer.signing_cert.issuer == trust_root_name(trust)


def trust_root_name(trust: Trust) -> Any:
    return load_cert_from_pemder(str(trust.anchor)).subject
