"""Encryption of letters delivered electronically: a real rendered letter, encrypted with
AES-256 (R6), opens only with its password, per pikepdf (qpdf) and poppler."""

from __future__ import annotations

import dataclasses
import io
import subprocess
from pathlib import Path

import pikepdf
import pytest
import yaml
from pikepdf.models import EncryptionMethod

from dunning.config import Encryption, load_brands
from dunning.errors import ConfigError, RenderError
from dunning.letter import Dunning
from dunning.protect import encrypt_pdf, owner_password, password_for, protect_letter
from dunning.records import Record, read_records

from .helpers import ROOT, SAMPLE_FILES, SAMPLES_AS_OF, pdf_text, squash

OWNER = "owner-secret-for-tests"


@pytest.fixture(scope="module")
def letter(dunning: Dunning) -> tuple[Record, bytes]:
    record = next(r for r in read_records([SAMPLE_FILES[0]], dunning.record_rules())
                  if isinstance(r, Record) and r.account_id == "MT-000004")
    return record, dunning.render(dunning.plan(record, SAMPLES_AS_OF)).pdf.data


@pytest.fixture(scope="module")
def encrypted(letter: tuple[Record, bytes]) -> tuple[str, bytes]:
    record, data = letter
    password = password_for(record, "id_last6")
    assert password is not None
    return password, encrypt_pdf(data, password, OWNER)


def test_the_password_is_the_last_six_characters_of_the_id(
    letter: tuple[Record, bytes],
) -> None:
    record, _ = letter
    assert password_for(record, "id_last6") == record.id_number[-6:].upper()
    assert password_for(record, Encryption(password="id_last6")) == record.id_number[-6:]
    assert password_for(record, "none") is None
    assert password_for(record, Encryption()) is None


def test_the_letter_opens_only_with_its_password(encrypted: tuple[str, bytes]) -> None:
    password, data = encrypted
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(_file(data))
    for wrong in ("", "000000", password.lower() + "x", password[:-1]):
        with pytest.raises(pikepdf.PasswordError):
            pikepdf.open(_file(data), password=wrong)
    with pikepdf.open(_file(data), password=password) as pdf:
        assert pdf.is_encrypted
        assert not pdf.owner_password_matched
        assert len(pdf.pages) >= 1
    with pikepdf.open(_file(data), password=OWNER) as pdf:
        assert pdf.owner_password_matched


def _file(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def test_the_encryption_is_aes_256_revision_6(encrypted: tuple[str, bytes]) -> None:
    password, data = encrypted
    with pikepdf.open(_file(data), password=password) as pdf:
        info = pdf.encryption
        assert info.R == 6
        assert info.V == 5
        assert info.bits == 256
        assert info.stream_method == EncryptionMethod.aesv3
        assert info.string_method == EncryptionMethod.aesv3
        assert pdf.allow.print_highres
        assert pdf.allow.extract
        assert not pdf.allow.modify_other
        assert not pdf.allow.modify_annotation
        assert not pdf.allow.modify_form


def test_poppler_needs_the_password_and_then_shows_the_letter(
    encrypted: tuple[str, bytes], letter: tuple[Record, bytes], tmp_path: Path,
) -> None:
    record, plain = letter
    password, data = encrypted
    path = tmp_path / "letter.pdf"
    path.write_bytes(data)
    refused = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=False)
    assert refused.returncode != 0
    assert record.name.encode() not in refused.stdout
    opened = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", "-upw", password,
                             str(path), "-"], capture_output=True, check=True)
    text = opened.stdout.decode("utf-8")
    assert record.name in squash(text)
    assert squash(text) == squash(pdf_text(plain))


def test_the_metadata_is_encrypted_too(encrypted: tuple[str, bytes]) -> None:
    password, data = encrypted
    with pikepdf.open(_file(data), password=password) as pdf:
        assert bool(pdf.trailer.Encrypt.get("/EncryptMetadata", True))
        assert pdf.docinfo["/Title"]


def test_protect_letter_follows_the_brand(
    dunning: Dunning, letter: tuple[Record, bytes],
) -> None:
    record, data = letter
    brand = dunning.brands[record.brand]
    assert brand.encryption.password == "none"
    assert protect_letter(data, record, brand) is data
    locked = brand.model_copy(update={"encryption": Encryption(password="id_last6")})
    env = {"DUNNING_PDF_OWNER_PASSWORD": OWNER}
    out = protect_letter(data, record, locked, environ=env)
    with pikepdf.open(_file(out), password=OWNER) as pdf:
        assert pdf.owner_password_matched
    with pikepdf.open(_file(out), password=record.id_number[-6:]) as pdf:
        assert not pdf.owner_password_matched


def test_without_the_variable_the_owner_password_is_random(
    dunning: Dunning, letter: tuple[Record, bytes],
) -> None:
    policy = Encryption(password="id_last6")
    first, second = owner_password(policy, {}), owner_password(policy, {})
    assert first != second
    assert len(first) >= 32
    assert owner_password(policy, {"DUNNING_PDF_OWNER_PASSWORD": ""}) not in ("", first)
    custom = Encryption(password="id_last6", owner_password_env="LENDER_PDF_OWNER")
    assert owner_password(custom, {"LENDER_PDF_OWNER": "x" * 20}) == "x" * 20


def test_an_id_too_short_fails_the_letter_without_showing_it(
    dunning: Dunning, letter: tuple[Record, bytes],
) -> None:
    record, data = letter
    short = dataclasses.replace(record, id_number="E1234", id_type="passport")
    locked = dunning.brands[record.brand].model_copy(
        update={"encryption": Encryption(password="id_last6")})
    with pytest.raises(RenderError, match="at least 6 characters; this one has 5") as info:
        protect_letter(data, short, locked, environ={})
    assert "E1234" not in str(info.value)
    assert info.value.account_id == record.account_id


def test_an_owner_password_equal_to_the_user_password_is_refused(
    dunning: Dunning, letter: tuple[Record, bytes],
) -> None:
    record, data = letter
    locked = dunning.brands[record.brand].model_copy(
        update={"encryption": Encryption(password="id_last6")})
    env = {"DUNNING_PDF_OWNER_PASSWORD": record.id_number[-6:]}
    with pytest.raises(RenderError, match="DUNNING_PDF_OWNER_PASSWORD") as info:
        protect_letter(data, record, locked, environ=env)
    assert record.id_number[-6:] not in str(info.value)
    with pytest.raises(ValueError, match="empty"):
        encrypt_pdf(data, "", OWNER)


def _brands_with(tmp_path: Path, encryption: object) -> Path:
    data = yaml.safe_load((ROOT / "config" / "brands.yaml").read_text("utf-8"))
    data["brands"]["mingtai"]["encryption"] = encryption
    path = tmp_path / "brands.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


def test_the_policy_is_chosen_per_brand_in_the_config(tmp_path: Path) -> None:
    path = _brands_with(tmp_path, {"password": "id_last6"})
    brands = load_brands(path, ROOT / "templates" / "assets")
    assert brands["mingtai"].encryption == Encryption(password="id_last6")
    assert brands["jinqiao"].encryption == Encryption()


@pytest.mark.parametrize(("encryption", "message"), [
    ({"password": "birthday"}, "encryption.password"),
    ({"password": "id_last6", "owner_password": "hunter2"}, "unknown key 'owner_password'"),
    ({"owner_password_env": "lower case"}, "encryption.owner_password_env"),
])
def test_bad_encryption_config_is_refused(
    tmp_path: Path, encryption: dict[str, str], message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_brands(_brands_with(tmp_path, encryption), ROOT / "templates" / "assets")


def test_every_configured_brand_states_its_policy() -> None:
    data = yaml.safe_load((ROOT / "config" / "brands.yaml").read_text("utf-8"))
    for key, body in data["brands"].items():
        assert "encryption" in body, key
        Encryption.model_validate(body["encryption"])


def test_every_encryption_failure_is_of_kind_encryption(
    dunning: Dunning, letter: tuple[Record, bytes],
) -> None:
    record, data = letter
    locked = dunning.brands[record.brand].model_copy(
        update={"encryption": Encryption(password="id_last6")})
    short = dataclasses.replace(record, id_number="E1234", id_type="passport")
    cases = [
        (data, short, {}),
        (data, record, {"DUNNING_PDF_OWNER_PASSWORD": record.id_number[-6:]}),
        (b"%PDF-1.7 not a letter", record, {}),
    ]
    for pdf, who, env in cases:
        with pytest.raises(RenderError) as info:
            protect_letter(pdf, who, locked, environ=env)
        assert info.value.kind == "encryption", info.value
        assert info.value.account_id == record.account_id
    assert str(info.value) == "cannot encrypt the letter: PdfError"
