"""One signing and verifying module for every record weightgate writes or believes: decision records
(`check --attest`), review records (`approve`) and eval results (`attest-eval`). Each is an in-toto Statement
v1 in a DSSE envelope; the statement's predicate type says what the record is.

A record is signed by one of three kinds of signer, and verified only against signers the trusted policy names:
  - a key: a bare DSSE envelope (one JSON object), signed with a PEM private key (ECDSA P-256, Ed25519, RSA);
  - an X.509 certificate: a Sigstore-style bundle whose `verificationMaterial.x509CertificateChain` carries the
    signing certificate (and intermediates); it must chain to a CA the policy names for that identity, and the
    identity is the certificate's subject alternative name;
  - Sigstore keyless: a Sigstore bundle with transparency-log entries, verified offline against a trusted root.

The signature is checked before anything in the payload is believed; everything that goes wrong is a
`RecordRejected` with a reason a reviewer can act on, never an exception from a library.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightgate.errors import InputFileError, PolicyError
from weightgate.strictjson import JsonRefused
from weightgate.strictjson import strict_json as read_strict_json

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
KEY_PASSWORD_ENV = "WEIGHTGATE_ATTEST_KEY_PASSWORD"  # noqa: S105 - the name of a variable, not a password
MAX_RECORD_BYTES = 1024 * 1024  # one record: a statement and a certificate chain, never megabytes
MAX_KEY_BYTES = 1024 * 1024
MAX_CHAIN_CERTIFICATES = 8
MAX_REASON_CHARS = 300


class RecordRejected(Exception):
    """A record that does not count. `untrusted`: the signature is sound but no signer the policy names made it."""

    def __init__(self, reason: str, untrusted: bool = False) -> None:
        shown = "".join(c if c.isprintable() else "?" for c in reason)[:MAX_REASON_CHARS]
        super().__init__(shown)
        self.reason = shown
        self.untrusted = untrusted


@dataclass(frozen=True)
class TrustedSigner:
    """One identity the trusted policy names for a purpose (a reviewer role, eval results).

    Exactly one of `key`, `ca` or `issuer` says how it signs: with a key, with a certificate chaining to `ca`
    whose subject alternative name is `identity`, or with Sigstore (identity and OIDC issuer)."""

    identity: str
    key: Any = None  # cryptography public key
    key_file: Path | None = None
    ca: tuple[Any, ...] = ()  # cryptography certificates: the CA roots for certificate signers
    ca_file: Path | None = None
    issuer: str | None = None

    @functools.cached_property
    def key_fingerprint(self) -> str | None:
        return fingerprint(self.key) if self.key is not None else None

    @functools.cached_property
    def dsse_keyid(self) -> str | None:
        """The key id securesystemslib writes into envelopes this key signs."""
        from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

        return str(SSlibKey.from_crypto(self.key).keyid) if self.key is not None else None

    @property
    def kind(self) -> str:
        return "key" if self.key is not None else "certificate" if self.ca else "sigstore"

    def __str__(self) -> str:
        if self.key is not None:
            return f"{self.identity} (key {self.key_file.name if self.key_file else fingerprint(self.key)[:16]})"
        if self.ca:
            return f"{self.identity} (certificate from CA {self.ca_file.name if self.ca_file else '?'})"
        return f"{self.identity} (Sigstore, issuer {self.issuer})"


@dataclass(frozen=True)
class VerifiedStatement:
    statement: dict[str, Any]
    signer: TrustedSigner
    predicate_type: str
    subject_digests: frozenset[str] = field(default_factory=frozenset)  # sha256 hex of every subject


# --- keys and signers ----------------------------------------------------------------------------------------

def fingerprint(public_key: Any) -> str:
    """sha256 of the key's DER SubjectPublicKeyInfo: how a key is named in messages and compared."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_signer(pem: bytes, source: str) -> Any:
    """A securesystemslib CryptoSigner for a PEM private key (ECDSA, Ed25519 or RSA). An encrypted key takes
    its password from WEIGHTGATE_ATTEST_KEY_PASSWORD."""
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]

    password = os.environ.get(KEY_PASSWORD_ENV)
    try:
        key = serialization.load_pem_private_key(pem, password.encode() if password else None)
        return CryptoSigner(key)
    except (ValueError, TypeError) as e:
        raise InputFileError(f"signing key {source} cannot be used: {e}",
                             hint="pass a PEM private key (ECDSA, Ed25519 or RSA); set "
                             f"{KEY_PASSWORD_ENV} for an encrypted one") from e


def load_public_key(pem: bytes, source: str) -> TrustedSigner:
    """A PEM public key given on the command line (the gate's key, for decision records) as a signer to trust."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise InputFileError(f"public key {source} cannot be used: {e}",
                             hint="--key takes the PEM public key of the gate's --attest-key") from e
    return TrustedSigner(f"key {Path(source).name}", key=key, key_file=Path(source))


def policy_public_key(path: Path, where: str) -> Any:
    """A reviewer's or eval signer's public key named by the policy. A key the gate cannot load is a policy error:
    a signer must never be skipped silently."""
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_public_key(_read_policy_file(path, where))
    except (ValueError, TypeError) as e:
        raise PolicyError(f"{where}: {path} is not a PEM public key: {e}",
                          hint="reviewer `key:` files are PEM public keys (ECDSA P-256/384, Ed25519, RSA)") from e


def policy_certificates(path: Path, where: str) -> tuple[Any, ...]:
    from cryptography import x509

    try:
        certificates = tuple(x509.load_pem_x509_certificates(_read_policy_file(path, where)))
    except ValueError as e:
        raise PolicyError(f"{where}: {path} is not a PEM certificate file: {e}",
                          hint="reviewer `ca:` files hold the PEM certificates of the CA that issues reviewers' "
                          "certificates") from e
    return certificates


def _read_policy_file(path: Path, where: str) -> bytes:
    from weightgate.inputfiles import read_input

    try:
        return read_input(path, MAX_KEY_BYTES, "policy trust file")
    except InputFileError as e:
        raise PolicyError(f"{where}: {e}", hint="key, certificate and trust root paths are relative to the policy "
                          "file") from e


# --- signing -----------------------------------------------------------------------------------------------

def sign_statement(document: dict[str, Any], signer: Any) -> dict[str, Any]:
    """The statement in a DSSE envelope signed by `signer` (securesystemslib does the PAE and the signing)."""
    from securesystemslib.dsse import Envelope

    payload = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    envelope.sign(signer)
    result: dict[str, Any] = envelope.to_dict()
    return result


def certificate_bundle(envelope: dict[str, Any], chain_pem: bytes, source: str) -> dict[str, Any]:
    """A signed envelope with the signer's certificate chain (leaf first), in the shape of a Sigstore bundle
    without transparency-log entries (as model-signing writes certificate-signed bundles)."""
    from cryptography import x509

    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as e:
        raise InputFileError(f"certificate {source} cannot be read: {e}",
                             hint="--cert takes the PEM certificate of the signing key (leaf first, then "
                             "intermediates)") from e
    from cryptography.hazmat.primitives import serialization

    raw = [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]
    return {"mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {"x509CertificateChain": {"certificates": [{"rawBytes": r} for r in raw]}},
            "dsseEnvelope": envelope}


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- verifying ---------------------------------------------------------------------------------------------

def verify_record(data: bytes, signers: Sequence[TrustedSigner], predicate_types: Collection[str],
                  trust_root: Path | None = None, now: datetime.datetime | None = None) -> VerifiedStatement:
    """The statement of one record, only after its signature verified with one of `signers`. Raises
    RecordRejected: malformed or oversize, a bad signature, no trusted signer, another payload or predicate type."""
    if len(data) > MAX_RECORD_BYTES:
        raise RecordRejected(f"the record is {len(data)} bytes, larger than {MAX_RECORD_BYTES}")
    document = strict_json(data, "the record")
    if not isinstance(document, dict):
        raise RecordRejected("the record is not a JSON object (a DSSE envelope or a Sigstore bundle)")
    if "dsseEnvelope" in document or "mediaType" in document:
        payload_type, payload, signer = _verify_bundle(data, document, signers, trust_root, now)
    else:
        payload_type, payload, signer = _verify_with_keys(document, [s for s in signers if s.key is not None])
    if payload_type != PAYLOAD_TYPE:
        raise RecordRejected(f"the payload type {payload_type!r} is not an in-toto statement ({PAYLOAD_TYPE})")
    return _statement(payload, signer, predicate_types)


def strict_json(data: bytes, what: str) -> Any:
    """JSON that means one thing (the shared reader: no repeated keys, no NaN), as a RecordRejected."""
    try:
        return read_strict_json(data, what)
    except JsonRefused as e:
        raise RecordRejected(str(e)) from None


@dataclass(frozen=True)
class _Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]  # (key id hint, signature)

    def pae(self) -> bytes:
        """DSSE's pre-authentication encoding: what the signature covers."""
        kind = self.payload_type.encode()
        return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(self.payload), self.payload)


def _envelope(document: Any) -> _Envelope:
    """A DSSE envelope, read here rather than by securesystemslib: verifying must stay light (its signer
    package imports every cloud SDK that is installed), and it is a few fields of JSON."""
    if not isinstance(document, dict) or not isinstance(document.get("signatures"), list):
        raise RecordRejected("the record is not a DSSE envelope (payload, payloadType, signatures)")
    payload_type, payload = document.get("payloadType"), document.get("payload")
    if not isinstance(payload_type, str) or not isinstance(payload, str):
        raise RecordRejected("the record is not a DSSE envelope (payload, payloadType, signatures)")
    signatures = []
    for entry in document["signatures"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("sig"), str):
            raise RecordRejected("the envelope has a signature entry without `sig`")
        keyid = entry.get("keyid", "")
        signatures.append((keyid if isinstance(keyid, str) else "", _base64(entry["sig"], "a signature")))
    if not signatures:
        raise RecordRejected("the envelope carries no signature")
    return _Envelope(payload_type, _base64(payload, "the payload"), tuple(signatures))


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        try:  # DSSE allows the URL-safe alphabet too
            return base64.b64decode(text, altchars=b"-_", validate=True)
        except (ValueError, binascii.Error):
            raise RecordRejected(f"{what} is not base64") from None


def _signature_verifies(public_key: Any, signature: bytes, data: bytes) -> bool:
    """Verify with the scheme securesystemslib signs with for the key's type: Ed25519, ECDSA with the curve's
    hash, RSA-PSS (or PKCS#1 v1.5) with SHA-256."""
    crypto = _crypto()
    try:
        if isinstance(public_key, crypto.ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        elif isinstance(public_key, crypto.ec.EllipticCurvePublicKey):
            scheme = crypto.ecdsa.get(public_key.curve.key_size)
            if scheme is None:
                return False
            public_key.verify(signature, data, scheme)
        elif isinstance(public_key, crypto.rsa.RSAPublicKey):
            try:
                public_key.verify(signature, data, crypto.pss, crypto.hashes.SHA256())
            except crypto.InvalidSignature:
                public_key.verify(signature, data, crypto.padding.PKCS1v15(), crypto.hashes.SHA256())
        else:
            return False
    except (crypto.InvalidSignature, ValueError, TypeError):
        return False
    return True


@functools.cache
def _crypto() -> Any:
    """cryptography's key types and the signature schemes, imported and built once: a trail checks thousands of
    records, and importing and building them for each was a tenth of its work besides the signature checks."""
    from types import SimpleNamespace

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    return SimpleNamespace(
        InvalidSignature=InvalidSignature, hashes=hashes, ec=ec, ed25519=ed25519, padding=padding, rsa=rsa,
        ecdsa={256: ec.ECDSA(hashes.SHA256()), 384: ec.ECDSA(hashes.SHA384()), 521: ec.ECDSA(hashes.SHA512())},
        pss=padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO))


def _verify_with_keys(document: Any, signers: Sequence[TrustedSigner]) -> tuple[str, bytes, TrustedSigner]:
    """A bare envelope: some signature must verify with a key the policy names for this purpose. Key ids are
    only hints (DSSE does not sign them): every named key is tried."""
    envelope = _envelope(document)
    pae = envelope.pae()
    for _, signature in envelope.signatures:
        for signer in signers:
            if _signature_verifies(signer.key, signature, pae):
                return envelope.payload_type, envelope.payload, signer
    if not signers:
        raise RecordRejected("the record is signed with a key, and the policy names no key signer for this",
                             untrusted=True)
    # Only now, to tell an altered record from someone else's: does a signature name one of our keys?
    named = {keyid for keyid, _ in envelope.signatures}
    if any(s.dsse_keyid in named for s in signers):
        raise RecordRejected("the signature does not verify with the key it names: the record was altered")
    raise RecordRejected("no key the policy names for this made the signature", untrusted=True)


def _verify_bundle(data: bytes, document: dict[str, Any], signers: Sequence[TrustedSigner],
                   trust_root: Path | None, now: datetime.datetime | None) -> tuple[str, bytes, TrustedSigner]:
    material = document.get("verificationMaterial")
    if not isinstance(material, dict) or not isinstance(document.get("dsseEnvelope"), dict):
        raise RecordRejected("the bundle has no `verificationMaterial` and `dsseEnvelope`")
    if material.get("tlogEntries"):
        return _verify_sigstore(data, [s for s in signers if s.issuer], trust_root)
    if "publicKey" in material:
        return _verify_with_keys(document["dsseEnvelope"], [s for s in signers if s.key is not None])
    chain = (material.get("x509CertificateChain") or {}).get("certificates") if isinstance(
        material.get("x509CertificateChain"), dict) else None
    if not isinstance(chain, list) or not chain:
        raise RecordRejected("the bundle's verification material is neither a key, a certificate chain nor a "
                             "Sigstore certificate with transparency-log entries")
    return _verify_certificate(document["dsseEnvelope"], chain, [s for s in signers if s.ca], now)


def _verify_certificate(envelope_data: Any, chain: list[Any], signers: Sequence[TrustedSigner],
                        now: datetime.datetime | None) -> tuple[str, bytes, TrustedSigner]:
    """The signing certificate must chain to a CA the policy names for a signer whose identity is one of the
    certificate's subject alternative names, and the envelope's signature must verify with its key."""
    leaf, intermediates = _certificates(chain)
    envelope = _envelope(envelope_data)
    pae = envelope.pae()
    if not any(_signature_verifies(leaf.public_key(), signature, pae) for _, signature in envelope.signatures):
        raise RecordRejected("the signature does not verify with the bundle's certificate: the record was altered")
    names = san_names(leaf)
    candidates = [s for s in signers if same_identity_exact(s.identity, names)]
    if not candidates:
        shown = ", ".join(names) or "no subject alternative name"
        raise RecordRejected(f"signed by a certificate for {shown}, which is not an identity the policy names "
                             "for this with a CA", untrusted=True)
    problems = []
    for signer in candidates:
        problem = _chain_problem(leaf, intermediates, signer.ca, now)
        if problem is None:
            return envelope.payload_type, envelope.payload, signer
        problems.append(problem)
    raise RecordRejected(f"the certificate for {candidates[0].identity} does not chain to the CA the policy names "
                         f"({problems[0]})", untrusted=True)


def _certificates(chain: list[Any]) -> tuple[Any, list[Any]]:
    from cryptography import x509

    if len(chain) > MAX_CHAIN_CERTIFICATES:
        raise RecordRejected(f"the certificate chain has {len(chain)} certificates (at most "
                             f"{MAX_CHAIN_CERTIFICATES})")
    try:
        parsed = [x509.load_der_x509_certificate(base64.b64decode(str(c["rawBytes"]), validate=True))
                  for c in chain]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise RecordRejected("the bundle's certificate chain cannot be parsed") from None
    return parsed[0], parsed[1:]


def san_names(certificate: Any) -> list[str]:
    from cryptography import x509

    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [str(v) for v in (*san.get_values_for_type(x509.RFC822Name),
                             *san.get_values_for_type(x509.UniformResourceIdentifier))]


def _chain_problem(leaf: Any, intermediates: list[Any], roots: tuple[Any, ...],
                   now: datetime.datetime | None) -> str | None:
    """None when `leaf` chains to one of `roots` now (RFC 5280 path validation by cryptography)."""
    from cryptography.x509.verification import (
        Criticality,
        ExtensionPolicy,
        PolicyBuilder,
        Store,
        VerificationError,
    )

    # Reviewers' certificates are code-signing or e-mail certificates, not TLS clients: the chain, validity
    # and CA constraints are checked, the leaf's extended key usage is not required to say clientAuth.
    del Criticality  # imported to fail early on a cryptography without extension policies
    builder = (PolicyBuilder().store(Store(list(roots))).time(now or datetime.datetime.now(datetime.timezone.utc))
               .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                   ee_policy=ExtensionPolicy.permit_all()))
    try:
        builder.build_client_verifier().verify(leaf, intermediates)
    except VerificationError as e:
        return str(e)[:200]
    except ValueError as e:
        return f"unusable certificate: {e}"[:200]
    return None


def _verify_sigstore(data: bytes, signers: Sequence[TrustedSigner], trust_root: Path | None
                     ) -> tuple[str, bytes, TrustedSigner]:
    from weightgate.evidence.sigstore_records import SigstoreIdentity, SigstoreRejected, verify_sigstore_dsse

    if not signers:
        raise RecordRejected("the record is signed with Sigstore, and the policy names no Sigstore identity for "
                             "this", untrusted=True)
    if trust_root is None:
        raise RecordRejected("the record is signed with Sigstore, and the policy names no trust root "
                             "(`approvals.trust_root`) to verify it offline", untrusted=True)
    identities = [SigstoreIdentity(s.identity, s.issuer or "") for s in signers]
    try:
        payload_type, payload, matched = verify_sigstore_dsse(data, identities, trust_root)
    except SigstoreRejected as e:
        raise RecordRejected(e.reason, untrusted=e.untrusted) from None
    signer = next(s for s in signers if s.identity == matched.identity and s.issuer == matched.issuer)
    return payload_type, payload, signer


def same_identity_exact(identity: str, names: Sequence[str]) -> bool:
    """A certificate names the identity the policy trusts: e-mail addresses compare without case, URIs exactly."""
    if "@" in identity and "://" not in identity:
        return any(identity.casefold() == n.casefold() for n in names)
    return identity in names


def _statement(payload: bytes, signer: TrustedSigner, predicate_types: Collection[str]) -> VerifiedStatement:
    document = strict_json(payload, "the signed payload")
    if not isinstance(document, dict) or document.get("_type") != STATEMENT_TYPE:
        raise RecordRejected(f"the signed payload is not an in-toto Statement v1 ({STATEMENT_TYPE})")
    predicate_type = document.get("predicateType")
    if predicate_type not in predicate_types or not isinstance(document.get("predicate"), dict):
        raise RecordRejected(f"the statement's predicate type {str(predicate_type)[:100]!r} is not one of "
                             f"{', '.join(sorted(predicate_types))}")
    subjects = document.get("subject")
    if not isinstance(subjects, list) or not subjects or not all(isinstance(s, dict) for s in subjects):
        raise RecordRejected("the statement has no subject list")
    digests = frozenset(str((s.get("digest") or {}).get("sha256", "")).lower() for s in subjects
                        if isinstance(s.get("digest"), dict))
    return VerifiedStatement(document, signer, str(predicate_type), digests)
