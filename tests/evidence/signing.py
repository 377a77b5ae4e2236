"""Signing material made in the test: EC keys, a CA with a code-signing leaf, and model-signing bundles
produced by the `model_signing` library (the same code as `model_signing sign key|certificate`)."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def write_key(folder: Path, name: str) -> tuple[Path, Path]:
    """(private key, public key) PEM files for a fresh P-256 key."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_ca_and_leaf(folder: Path, name: str, email: str) -> tuple[Path, Path, Path]:
    """(CA certificate, leaf private key, leaf certificate) for certificate signing."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(f"{name} CA")).issuer_name(_name(f"{name} CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name(f"{name} release signing")).issuer_name(ca.subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, key_path, leaf_path = folder / f"{name}-ca.pem", folder / f"{name}-leaf.key", folder / f"{name}-leaf.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    leaf_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    return ca_path, key_path, leaf_path


def sign_with_key(model: Path, private_key: Path, bundle: Path, shards: bool = False) -> Path:
    """Sign every file under `model` (the bundle is written outside it, then placed where the test wants)."""
    import model_signing

    hashing = model_signing.hashing.Config()
    if shards:
        hashing = hashing.use_shard_serialization(shard_size=16)
    (model_signing.signing.Config().use_elliptic_key_signer(private_key=private_key)
     .set_hashing_config(hashing).sign(model, bundle))
    return bundle


def sign_with_certificate(model: Path, key: Path, leaf: Path, ca: Path, bundle: Path) -> Path:
    import model_signing

    (model_signing.signing.Config()
     .use_certificate_signer(private_key=key, signing_certificate=leaf, certificate_chain=[ca])
     .sign(model, bundle))
    return bundle
