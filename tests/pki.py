"""A test PKI made inside the tests with ``cryptography``: a root CA, intermediate CAs,
brand certificates issued by them (valid, expired, from another CA, with an RSA or an ECDSA
key), and their PKCS#12 files. Nothing here is a
real key; every key is made fresh for the test session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Password of every test PKCS#12 file (the tests put it in the environment).
P12_PASSWORD = "test-p12-password"
#: Letters are dated 2026-11-20; a certificate valid from the start of the year covers them.
VALID_FROM = datetime(2026, 1, 1, tzinfo=UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Dunning Test PKI"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


#: A key of the test PKI: RSA, or ECDSA for a brand key.
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


#: What a CA's key may do: sign certificates and revocation lists.
_CA_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False)


@dataclass(frozen=True)
class Authority:
    """A CA: a self-signed root (:meth:`make`) or an intermediate (:meth:`subordinate`)."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, name: str) -> Authority:
        key = _key()
        cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(VALID_FROM - timedelta(days=365))
                .not_valid_after(VALID_FROM + timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(_CA_USAGE, critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def subordinate(self, name: str) -> Authority:
        """An intermediate CA ``name`` certified by this CA."""
        key = _key()
        cert = (x509.CertificateBuilder().subject_name(_name(name))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(VALID_FROM - timedelta(days=30))
                .not_valid_after(VALID_FROM + timedelta(days=3000))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(_CA_USAGE, critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        return Authority(key, cert)

    def issue(self, name: str, *, not_before: datetime = VALID_FROM,
              not_after: datetime | None = None, ecdsa: bool = False
              ) -> tuple[Key, x509.Certificate]:
        """A document-signing certificate for ``name``, issued by this CA, with a new RSA
        key (an ECDSA P-256 key with ``ecdsa``)."""
        key: Key = ec.generate_private_key(ec.SECP256R1()) if ecdsa else _key()
        cert = (x509.CertificateBuilder().subject_name(_name(name))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(not_before)
                .not_valid_after(not_after or not_before + timedelta(days=3 * 365))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=True, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        return key, cert

    def write_pem(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path


def write_p12(path: Path, key: Key, cert: x509.Certificate,
              chain: list[x509.Certificate]) -> Path:
    """``key`` and ``cert`` (with ``chain``) as a PKCS#12 file protected by P12_PASSWORD."""
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"brand seal", key, cert, chain,
        serialization.BestAvailableEncryption(P12_PASSWORD.encode())))
    return path


#: Environment variables the sealed test config names (set by the ``trust`` fixture).
PASSWORD_ENV = "DUNNING_TEST_SEAL_PASSWORD"
SECRET_ENV = "DUNNING_TEST_VCODE_SECRET"
SECRET = "test-verification-secret-0123456789"


@dataclass(frozen=True)
class Trust:
    """A project config whose brands seal their letters with test certificates:
    ``mingtai`` signs (its seal printed) and prints verification codes; ``jinqiao`` encrypts
    its letters (id_last6) and signs them."""

    folder: Path
    ca: Authority
    #: A project folder: the shipped templates and catalogs (links) and the sealed config.
    home: Path
    config_dir: Path
    p12: Path
    anchor: Path


def make_trust(folder: Path, root: Path) -> Trust:
    """The test PKI and a copy of ``root``'s config using it, in ``folder``."""
    import shutil

    import yaml

    ca = Authority.make("Dunning Test Root CA")
    key, cert = ca.issue("Mingtai Consumer Finance Seal")
    p12 = write_p12(folder / "seal.p12", key, cert, [ca.cert])
    anchor = ca.write_pem(folder / "root-ca.pem")
    home = folder / "home"
    home.mkdir()
    for name in ("templates", "locales"):
        (home / name).symlink_to(root / name)
    config = home / "config"
    shutil.copytree(root / "config", config)
    data = yaml.safe_load((config / "brands.yaml").read_text("utf-8"))
    signing = {"pkcs12": str(p12), "password_env": PASSWORD_ENV, "trust_anchor": str(anchor)}
    data["brands"]["mingtai"]["signing"] = signing
    data["brands"]["mingtai"]["verification"] = {"secret_env": SECRET_ENV}
    data["brands"]["jinqiao"]["signing"] = dict(signing)  # no YAML alias
    data["brands"]["jinqiao"]["encryption"] = {"password": "id_last6"}
    (config / "brands.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return Trust(folder, ca, home, config, p12, anchor)
