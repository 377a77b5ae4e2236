"""Sigstore keyless signers for review records: a DSSE envelope over an in-toto statement, signed with a
short-lived Fulcio certificate and logged in Rekor, verified offline against a trusted-root file the policy pins.

Everything is checked from the bundle and the trusted root alone: no TUF refresh and no network. The time a
certificate is judged at comes from the bundle (Rekor v1's integrated time, or RFC 3161 timestamps for Rekor v2),
not from the clock, so a record keeps verifying after its ten-minute certificate has expired.

The signature is checked in full before the signer is judged: a record whose bytes were altered is rejected, and
only a record that verifies but was signed by someone the policy does not name is "untrusted".

sigstore is imported only when a record is verified: it is slow to import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightgate.strictjson import JsonRefused, strict_json

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.models import Bundle, TrustedRoot

MAX_BUNDLE_BYTES = 1024 * 1024  # a record is one statement and one certificate: kilobytes
MAX_TRUSTED_ROOT_BYTES = 4 * 1024 * 1024  # Sigstore's production root is 7 KB; room for many rotated keys
MAX_REASON_CHARS = 300
BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
# Fulcio's certificate extensions for the OIDC issuer: v2 (a DER UTF8String) replaced v1 (raw bytes).
OIDC_ISSUER_V2_OID = "1.3.6.1.4.1.57264.1.8"
OIDC_ISSUER_V1_OID = "1.3.6.1.4.1.57264.1.1"


@dataclass(frozen=True)
class SigstoreIdentity:
    """A keyless signer the policy trusts: the certificate's subject alternative name (an email, or a URI such as
    a CI workflow) and the OIDC issuer that vouched for it. Both must match exactly."""

    identity: str
    issuer: str

    def __str__(self) -> str:
        return f"{self.identity} (issuer {self.issuer})"


class SigstoreRejected(Exception):
    """The record does not count. `untrusted` is True only when its signature verifies but the signer is not an
    identity the policy trusts; every other failure (malformed, altered, another Sigstore instance) is False."""

    def __init__(self, reason: str, untrusted: bool = False) -> None:
        self.reason = _printable(reason)
        self.untrusted = untrusted
        super().__init__(self.reason)


def is_sigstore_bundle(document: Mapping[str, Any]) -> bool:
    """Whether a parsed record is a Sigstore bundle carrying a DSSE envelope (rather than a bare DSSE envelope
    signed by a key or an X.509 certificate)."""
    media_type = document.get("mediaType")
    return isinstance(media_type, str) and media_type.startswith(BUNDLE_MEDIA_TYPE_PREFIX) \
        and isinstance(document.get("dsseEnvelope"), Mapping)


def verify_sigstore_dsse(data: bytes, identities: Sequence[SigstoreIdentity],
                         trusted_root: Path) -> tuple[str, bytes, SigstoreIdentity]:
    """Verify a Sigstore bundle's DSSE envelope offline: certificate chain to the trusted root's Fulcio CA at the
    signing time, SCT, transparency-log inclusion, envelope signature and log-entry consistency; then the
    signer against `identities`. Returns (payload type, payload bytes, the identity that signed).

    Raises SigstoreRejected for anything wrong with the record, and PolicyError when `trusted_root` itself cannot
    be loaded (that is the policy's fault, not the record's)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise SigstoreRejected(f"the bundle is {len(data)} bytes, over the {MAX_BUNDLE_BYTES}-byte limit for a record")
    _check_document(data)
    root = load_trusted_root(trusted_root)
    bundle = _parse_bundle(data)
    signer = _TrustedIdentities(identities)
    payload_type, payload = _verify(root, bundle, signer, trusted_root.name)
    if signer.matched is None:
        raise SigstoreRejected("the record verifies, but its signer is not a Sigstore identity the policy trusts: "
                               f"{signer.seen or '(no certificate seen)'}", untrusted=True)
    return payload_type, payload, signer.matched


# --- the record --------------------------------------------------------------------------------------------

def _check_document(data: bytes) -> None:
    """What the bundle is, told before sigstore parses it, so that a wrong kind gets a reason a user can act on."""
    try:
        document = strict_json(data, "the record")
    except JsonRefused as e:
        raise SigstoreRejected(str(e)) from None
    if not isinstance(document, dict):
        raise SigstoreRejected("the record is not a JSON object")
    media_type = document.get("mediaType")
    if not isinstance(media_type, str) or not media_type.startswith(BUNDLE_MEDIA_TYPE_PREFIX):
        raise SigstoreRejected(f"the record is not a Sigstore bundle (mediaType {str(media_type)[:80]!r})")
    if "messageSignature" in document and "dsseEnvelope" not in document:
        raise SigstoreRejected("the bundle signs a bare message digest (messageSignature), not a DSSE envelope: "
                               "a record must be a DSSE-signed in-toto statement")
    if not is_sigstore_bundle(document):
        raise SigstoreRejected("the bundle carries no DSSE envelope (`dsseEnvelope`)")


def _parse_bundle(data: bytes) -> Bundle:
    from sigstore.models import Bundle

    try:
        return Bundle.from_json(data)
    except Exception as e:  # sigstore raises its own, protobuf and cryptography errors on malformed input
        raise SigstoreRejected(f"the Sigstore bundle is malformed: {_error(e)}") from None


def _verify(root: TrustedRoot, bundle: Bundle, signer: _TrustedIdentities, root_name: str) -> tuple[str, bytes]:
    from sigstore.verify import Verifier

    try:
        payload_type, payload = Verifier(trusted_root=root).verify_dsse(bundle, signer)
    except Exception as e:  # every failure of chain, log, timestamp or signature means "does not verify"
        raise SigstoreRejected(f"the record does not verify against the trusted root {root_name}"
                               f"{_likely_cause(e)}: {_error(e)}") from None
    return str(payload_type), bytes(payload)


def _likely_cause(e: Exception) -> str:
    """A hint for the failure users meet most: a record signed with one Sigstore instance (public-good,
    staging, a private deployment) checked against another's root, so no time or certificate chain verifies."""
    from sigstore.errors import CertValidationError

    text = str(e)
    if isinstance(e, CertValidationError) or "verified time" in text or "SCT" in text:
        return " (signed with another Sigstore instance?)"
    if "DSSE" in text or "log entry" in text:
        return " (altered after signing?)"
    return ""


# --- who signed --------------------------------------------------------------------------------------------

class _TrustedIdentities:
    """A sigstore verification policy that never fails: it notes which trusted identity the certificate matches.
    sigstore checks the policy before the envelope's signature, so a failing policy would report an altered record
    as merely "untrusted"; this way the signer is judged only once everything else has verified."""

    def __init__(self, identities: Sequence[SigstoreIdentity]) -> None:
        from sigstore.verify.policy import Identity

        # An empty issuer would make sigstore skip the issuer check: such an entry never matches (fail closed).
        self._candidates = [(i, Identity(identity=i.identity, issuer=i.issuer))
                            for i in identities if i.identity and i.issuer]
        self.matched: SigstoreIdentity | None = None
        self.seen = ""

    def verify(self, cert: Certificate) -> None:
        self.seen = _describe(cert)
        for identity, policy in self._candidates:
            try:
                policy.verify(cert)
            except Exception:  # noqa: S112 -- a mismatch (or a malformed extension) means "not this identity"
                continue
            self.matched = identity
            return


def _describe(cert: Certificate) -> str:
    """The certificate's identities and issuer, for the reason shown to a user."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in (*san.get_values_for_type(x509.RFC822Name),
                                  *san.get_values_for_type(x509.UniformResourceIdentifier))]
    except (x509.ExtensionNotFound, ValueError):
        names = []
    issuer = _oidc_issuer(cert)
    return f"{', '.join(names) or '(no identity)'} (issuer {issuer or 'unknown'})"


def _oidc_issuer(cert: Certificate) -> str:
    from cryptography import x509

    values = {e.oid.dotted_string: e.value for e in cert.extensions if isinstance(e.value, x509.UnrecognizedExtension)}
    if OIDC_ISSUER_V2_OID in values:
        return _der_utf8(values[OIDC_ISSUER_V2_OID].value)
    if OIDC_ISSUER_V1_OID in values:
        return values[OIDC_ISSUER_V1_OID].value.decode("utf-8", "replace")
    return ""


def _der_utf8(der: bytes) -> str:
    """A DER UTF8String (tag 12, short or long length) as text; anything else as it decodes."""
    if len(der) >= 2 and der[0] == 0x0C:
        size, start = der[1], 2
        if size & 0x80:
            count = size & 0x7F
            size, start = int.from_bytes(der[2:2 + count], "big"), 2 + count
        return der[start:start + size].decode("utf-8", "replace")
    return der.decode("utf-8", "replace")


# --- the trusted root --------------------------------------------------------------------------------------

def load_trusted_root(path: Path) -> TrustedRoot:
    """A Sigstore trusted root (`trustedroot+json`) or a client trust config holding one, read from a file the
    policy names; never refreshed over TUF."""
    from sigstore.models import ClientTrustConfig, TrustedRoot

    from weightgate.errors import PolicyError

    hint = ("a Sigstore trusted root JSON (e.g. `cosign trusted-root create`, or the `trusted_root.json` of the "
            "instance's TUF repository) or a ClientTrustConfig JSON holding one")
    try:
        if path.stat().st_size > MAX_TRUSTED_ROOT_BYTES:
            raise ValueError(f"over the {MAX_TRUSTED_ROOT_BYTES}-byte limit")
        text = path.read_text(encoding="utf-8")
        document = strict_json(text, "the trust root")
        media_type = document.get("mediaType") if isinstance(document, dict) else None
        if media_type == CLIENT_TRUST_CONFIG_MEDIA_TYPE:
            return ClientTrustConfig.from_json(text).trusted_root
        if media_type != TRUSTED_ROOT_MEDIA_TYPE:
            raise ValueError(f"mediaType {str(media_type)[:80]!r} is neither {TRUSTED_ROOT_MEDIA_TYPE!r} nor "
                             f"{CLIENT_TRUST_CONFIG_MEDIA_TYPE!r}")
        return TrustedRoot.from_file(str(path))
    except Exception as e:  # OSError, JSON, protobuf and sigstore errors: the file is not a usable root
        raise PolicyError(f"Sigstore trusted root {path} cannot be loaded: {_error(e)}", hint=hint) from None


def _error(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"


def _printable(text: str) -> str:
    """Reasons quote bundle and certificate text: nothing in it may pose as terminal or workflow control text."""
    shown = " ".join("".join(c if c.isprintable() or c.isspace() else "?" for c in text).split())
    return shown if len(shown) <= MAX_REASON_CHARS else shown[:MAX_REASON_CHARS - 1] + "…"
