"""OpenSSF model signing: verify an artifact's sigstore bundle with the signers the policy trusts for its
publisher, and return the file list it signs.

The bundle is small and read from the mirror (bounded); the model's bytes are never read here. The
`model-signing` library checks the signature (its key, certificate and sigstore verifiers), and the signed
in-toto statement becomes a list of (path, algorithm, digest) that the signature check compares with the
sha256 digests weightgate streamed in its one verify pass. Everything that goes wrong becomes
`SignatureFacts` with a status and a reason, never an exception.

model-signing is imported only when a bundle is verified: it brings sigstore with it, which is slow to import.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import hashlib
import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from weightgate.evidence.fetch import MirrorOpener, mirror_for, read_small
from weightgate.evidence.policy import KeylessIdentity, SignaturePolicy, SignerRule
from weightgate.governance.deployment import publisher_of
from weightgate.manifest import Artifact, Manifest
from weightgate.mirror import MirrorLocation
from weightgate.mirror.base import MirrorUnavailable
from weightgate.strictjson import JsonRefused, strict_json

log = logging.getLogger(__name__)

MAX_BUNDLE_BYTES = 16 * 1024 * 1024  # a bundle lists one digest per file: megabytes only for huge models
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
COMPARABLE_SERIALIZATION = ("files", "sha256")
MAX_SIGNER_CHARS = 300  # whole files hashed with sha256: what the verify pass computes


class SignatureStatus(str, enum.Enum):
    VERIFIED = "verified"  # a trusted signer's signature verifies; `files` is what it signed
    INVALID = "invalid"  # unreadable or malformed bundle, bad signature, or a payload that cannot be compared
    UNTRUSTED = "untrusted"  # signed, but not by a signer the policy trusts for this source
    NOT_CHECKED = "not-checked"  # offline: the bundle was not read


@dataclass(frozen=True)
class SignedFile:
    path: str
    algorithm: str
    digest: str  # lower-case hex


@dataclass(frozen=True)
class SignatureFacts:
    artifact_id: str
    bundle: str  # as the manifest writes it
    uri: str
    status: SignatureStatus
    signer: str = ""  # who signed, as far as the bundle says (verified only when status is VERIFIED)
    files: tuple[SignedFile, ...] = ()
    serialization: tuple[str, str] = ("", "")  # (method, hash type) the signer hashed the model with
    bundle_sha256: str = ""
    reason: str = ""

    @property
    def verified(self) -> bool:
        return self.status is SignatureStatus.VERIFIED

    @property
    def comparable(self) -> bool:
        return self.verified and self.serialization == COMPARABLE_SERIALIZATION


class _Rejected(Exception):
    """Verification stopped; `status` says which rule it is for."""

    def __init__(self, status: SignatureStatus, reason: str, signer: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.signer = signer


# --- collecting --------------------------------------------------------------------------------------------

def signature_facts(manifest: Manifest, policy: SignaturePolicy, locations: Mapping[str, MirrorLocation | None],
                    opener: MirrorOpener, offline: bool) -> dict[str, SignatureFacts]:
    """Every artifact's bundle, read and verified (not offline)."""
    results: dict[str, SignatureFacts] = {}
    for artifact in manifest.artifacts:
        if artifact.signature is None or artifact.id in results:
            continue
        reference = artifact.signature.bundle
        base = SignatureFacts(artifact.id, reference, reference, SignatureStatus.NOT_CHECKED)
        if offline:
            results[artifact.id] = replace(base, reason="offline run: the bundle was not read")
            continue
        results[artifact.id] = _fetch_and_verify(base, artifact, policy, locations.get(artifact.id), opener)
    return results


def _fetch_and_verify(base: SignatureFacts, artifact: Artifact, policy: SignaturePolicy,
                      location: MirrorLocation | None, opener: MirrorOpener) -> SignatureFacts:
    try:
        mirror, path = mirror_for(base.bundle, location, opener)
    except MirrorUnavailable as e:
        return replace(base, status=SignatureStatus.INVALID, reason=f"the bundle could not be read: {e}")
    small = read_small(mirror, path, MAX_BUNDLE_BYTES)
    base = replace(base, uri=small.uri)
    if small.data is None:
        return replace(base, status=SignatureStatus.INVALID, reason=f"the bundle could not be read: {small.reason}")
    log.info("verifying model signature %s", small.uri)
    rule = policy.signer_for(artifact.source.registry, publisher_of(artifact.source))
    return replace(verify_bundle(small.data, rule, policy.trust_root, base), bundle_sha256=small.sha256)


def verify_bundle(data: bytes, rule: SignerRule | None, trust_root: Path | None,
                  base: SignatureFacts) -> SignatureFacts:
    """Verify one bundle's signature against `rule` and read the file list it signs."""
    try:
        document = _bundle_json(data)
        kind = _material_kind(document)
        if rule is None:
            raise _Rejected(SignatureStatus.UNTRUSTED, "the policy names no signer for this source "
                            "(`signatures.signers`), so no signature from it can be trusted")
        verifiers = {"key": _verify_with_keys, "certificate": _verify_with_certificates,
                     "keyless": _verify_keyless}
        payload_type, payload, signer = verifiers[kind](data, document, rule, trust_root)
        files, serialization = _signed_files(payload_type, payload)
    except _Rejected as e:
        return replace(base, status=e.status, reason=e.reason, signer=e.signer)
    return replace(base, status=SignatureStatus.VERIFIED, signer=signer, files=files, serialization=serialization)


# --- the bundle --------------------------------------------------------------------------------------------

def _bundle_json(data: bytes) -> dict[str, Any]:
    try:
        document = strict_json(data, "the bundle")
    except JsonRefused as e:
        raise _Rejected(SignatureStatus.INVALID, str(e)) from None
    if not isinstance(document, dict) or not isinstance(document.get("verificationMaterial"), dict) \
            or not isinstance(document.get("dsseEnvelope"), dict):
        raise _Rejected(SignatureStatus.INVALID, "the bundle is not a sigstore bundle with a DSSE envelope "
                        "(`verificationMaterial` and `dsseEnvelope`)")
    return document


def _material_kind(document: Mapping[str, Any]) -> str:
    """key (publicKey), certificate (an x509 chain, no transparency log), or keyless (sigstore: a Fulcio
    certificate with transparency-log entries)."""
    material = document["verificationMaterial"]
    if "publicKey" in material:
        return "key"
    if "certificate" in material or ("x509CertificateChain" in material and material.get("tlogEntries")):
        return "keyless"
    if "x509CertificateChain" in material:
        return "certificate"
    raise _Rejected(SignatureStatus.INVALID, "the bundle's verification material is neither a public key nor "
                    "a certificate")


class _BundleText:
    """model-signing reads bundles from a path (`read_text`); this hands it the bytes already read, so the
    bundle is neither written to disk nor read twice."""

    def __init__(self, data: bytes) -> None:
        self._text = data.decode("utf-8")

    def read_text(self, encoding: str = "utf-8") -> str:
        return self._text


def _signature(module: Any, data: bytes) -> Any:
    try:
        return module.Signature.read(_BundleText(data))
    except Exception as e:  # the library raises many kinds on malformed input
        raise _Rejected(SignatureStatus.INVALID, f"the bundle is malformed: {type(e).__name__}: {e}"[:300]) from None


def _run_verifier(verifier: Any, signature: Any, untrusted: Callable[[Exception], bool], signer: str
                  ) -> tuple[str, bytes]:
    """The library's check of the signature over the DSSE payload. Its key verifier prints a warning for old
    bundles on stdout, which belongs to weightgate's reports: it is captured."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            payload_type, payload = verifier._verify_signed_content(signature)
    except Exception as e:  # crypto, x509 and sigstore errors all mean "does not verify"
        status = SignatureStatus.UNTRUSTED if untrusted(e) else SignatureStatus.INVALID
        raise _Rejected(status, f"the signature does not verify: {type(e).__name__}: {e}"[:300], signer) from None
    return str(payload_type), bytes(payload)


# --- keys --------------------------------------------------------------------------------------------------

def key_hint(pem: bytes) -> str:
    """The key id model-signing writes into key-signed bundles: sha256 of the key's PEM SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pem)
    spki = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def _load_key_hints(keys: tuple[Path, ...]) -> dict[str, Path]:
    from weightgate.errors import PolicyError

    hints = {}
    for path in keys:
        try:
            hints[key_hint(path.read_bytes())] = path
        except (OSError, ValueError, TypeError) as e:
            raise PolicyError(f"signing key {path} cannot be loaded: {e}",
                              hint="`signatures.signers[].keys` are PEM public keys (EC P-256/384/521)") from e
    return hints


def _verify_with_keys(data: bytes, document: Mapping[str, Any], rule: SignerRule,
                      trust_root: Path | None) -> tuple[str, bytes, str]:
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    hint = str((document["verificationMaterial"].get("publicKey") or {}).get("hint") or "")
    trusted = _load_key_hints(rule.keys)
    if not trusted:
        raise _Rejected(SignatureStatus.UNTRUSTED, f"signed with a key (sha256:{hint[:16]}…), but the policy "
                        f"trusts only {rule.describe} for this source", f"key sha256:{hint}")
    if hint and hint not in trusted:
        raise _Rejected(SignatureStatus.UNTRUSTED, f"signed with key sha256:{hint[:16]}…, which is not one the "
                        f"policy trusts for this source ({rule.describe})", f"key sha256:{hint}")
    candidates = [(hint, trusted[hint])] if hint else list(trusted.items())
    signature = _signature(sign_sigstore_pb, data)
    failure: _Rejected | None = None
    for key_id, path in candidates:
        signer = f"key {path.name} (sha256:{key_id})"
        try:
            verifier = sign_ec_key.Verifier(path)
        except ValueError as e:
            raise _Rejected(SignatureStatus.UNTRUSTED, f"key {path.name} cannot verify model signatures: {e}",
                            signer) from None
        try:
            payload_type, payload = _run_verifier(verifier, signature, lambda _: False, signer)
        except _Rejected as e:
            failure = e
            continue
        return payload_type, payload, signer
    assert failure is not None
    raise failure


# --- certificates ------------------------------------------------------------------------------------------

def _leaf(document: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The signing certificate's description for reports, and its subject alternative names (emails, URIs)."""
    from cryptography import x509

    material = document["verificationMaterial"]
    raw = (material.get("certificate") or {}).get("rawBytes") \
        or ((material.get("x509CertificateChain") or {}).get("certificates") or [{}])[0].get("rawBytes")
    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode(str(raw), validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise _Rejected(SignatureStatus.INVALID, "the bundle's signing certificate cannot be parsed") from None
    names = _san_values(leaf)
    subject = leaf.subject.rfc4514_string() or "(no subject)"
    shown = f"certificate {subject}" + (f" [{', '.join(names)}]" if names else "")
    # The certificate is the bundle's, not ours: nothing in it may pose as terminal or workflow control text.
    return "".join(c if c.isprintable() else "?" for c in shown)[:MAX_SIGNER_CHARS], names


def _san_values(certificate: Any) -> list[str]:
    from cryptography import x509

    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in (*san.get_values_for_type(x509.RFC822Name),
                             *san.get_values_for_type(x509.UniformResourceIdentifier))]


def _verify_with_certificates(data: bytes, document: Mapping[str, Any], rule: SignerRule,
                              trust_root: Path | None) -> tuple[str, bytes, str]:
    from cryptography.exceptions import InvalidSignature
    from model_signing._signing import sign_certificate, sign_sigstore_pb

    signer, _ = _leaf(document)
    if not rule.certificates:
        raise _Rejected(SignatureStatus.UNTRUSTED, f"signed with {signer}, but the policy trusts only "
                        f"{rule.describe} for this source", signer)
    try:
        verifier = sign_certificate.Verifier(list(rule.certificates))
    except (OSError, ValueError) as e:
        from weightgate.errors import PolicyError

        raise PolicyError(f"certificate chain {', '.join(map(str, rule.certificates))} cannot be loaded: {e}",
                          hint="`signatures.signers[].certificates` are PEM files") from e
    signature = _signature(sign_sigstore_pb, data)
    # A signature that does not match its certificate was altered; a chain that does not lead to the
    # policy's certificates is someone else's.
    payload_type, payload = _run_verifier(verifier, signature, lambda e: not isinstance(e, InvalidSignature),
                                          signer)
    return payload_type, payload, signer


# --- keyless (sigstore) ------------------------------------------------------------------------------------

def _verify_keyless(data: bytes, document: Mapping[str, Any], rule: SignerRule,
                    trust_root: Path | None) -> tuple[str, bytes, str]:
    from model_signing._signing import sign_sigstore

    signer, names = _leaf(document)
    matching = [i for i in rule.identities if i.identity in names]
    if not matching or trust_root is None:
        raise _Rejected(SignatureStatus.UNTRUSTED, f"signed by {signer}, which is not an identity the policy "
                        f"trusts for this source ({rule.describe})", signer)
    signature = _signature(sign_sigstore, data)
    failure: _Rejected | None = None
    for identity in matching:
        try:
            verifier = _keyless_verifier(sign_sigstore, identity, trust_root)
            payload_type, payload = _run_verifier(verifier, signature, lambda _: False, str(identity))
        except _Rejected as e:
            failure = e
            continue
        return payload_type, payload, f"identity {identity}"
    assert failure is not None
    raise failure


def _keyless_verifier(module: Any, identity: KeylessIdentity, trust_root: Path) -> Any:
    try:
        return module.Verifier(identity=identity.identity, oidc_issuer=identity.issuer, trust_config=trust_root)
    except Exception as e:  # a trust root the library rejects is a policy problem
        from weightgate.errors import PolicyError

        raise PolicyError(f"sigstore trust root {trust_root} cannot be loaded: {type(e).__name__}: {e}",
                          hint="`signatures.trust_root` is a sigstore ClientTrustConfig JSON file") from e


# --- the signed statement ----------------------------------------------------------------------------------

def _signed_files(payload_type: str, payload: bytes) -> tuple[tuple[SignedFile, ...], tuple[str, str]]:
    """The verified payload as a file list; model-signing's own reader checks it is consistent with its
    subject digest."""
    from model_signing._signing import signing

    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise _Rejected(SignatureStatus.INVALID, f"the signed payload is {payload_type!r}, not an in-toto statement")
    try:
        statement = strict_json(payload, "the signed statement")
        if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_V1:
            raise ValueError(f"not an in-toto {STATEMENT_V1} statement")
        manifest = signing.dsse_payload_to_manifest(statement)
    except Exception as e:  # a signed but unusable payload fails closed
        raise _Rejected(SignatureStatus.INVALID, f"the signed statement cannot be read as a model-signing "
                        f"manifest: {type(e).__name__}: {e}"[:300]) from None
    args = manifest.serialization_type
    serialization = (str(args.get("method", "")), str(args.get("hash_type", "")))
    files = tuple(sorted((SignedFile(str(d.identifier), str(d.digest.algorithm), d.digest.digest_hex.lower())
                          for d in manifest.resource_descriptors()), key=lambda f: f.path))
    return files, serialization
