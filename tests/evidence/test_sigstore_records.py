"""Sigstore keyless records verified offline, with real bundles and trusted roots from Sigstore's own
repositories (tests/assets/sigstore/README.md says where each comes from): one staging bundle logged in Rekor v2
(its time from an RFC 3161 timestamp) and one production bundle logged in Rekor v1 (its time from the log)."""

import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from weightgate.errors import PolicyError
from weightgate.evidence.sigstore_records import (
    MAX_BUNDLE_BYTES,
    MAX_REASON_CHARS,
    SigstoreIdentity,
    SigstoreRejected,
    is_sigstore_bundle,
    verify_sigstore_dsse,
)

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "sigstore"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"


@dataclass(frozen=True)
class RealBundle:
    name: str
    root: str  # the trusted root of the instance that signed it
    other_root: str  # another Sigstore instance's
    signer: SigstoreIdentity
    subject: str
    predicate_type: str

    @property
    def data(self) -> bytes:
        return (ASSETS / self.name).read_bytes()


STAGING = RealBundle(
    "staging-dsse-rekor-v2.sigstore.json", "staging-trusted-root.json", "production-trusted-root.json",
    SigstoreIdentity("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/"
                     "workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
                     "https://token.actions.githubusercontent.com"),
    "a.txt", "https://slsa.dev/provenance/v1")
PRODUCTION = RealBundle(
    "production-dsse-rekor-v1.sigstore.json", "production-trusted-root.json", "staging-trusted-root.json",
    SigstoreIdentity("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2"),
    "v1.1.0-sigstore", "https://model_signing/signature/v1.0")
BUNDLES = pytest.mark.parametrize("bundle", [STAGING, PRODUCTION], ids=["staging-rekor-v2", "production-rekor-v1"])
SOMEONE_ELSE = SigstoreIdentity("reviewer@example.com", "https://accounts.google.com")


def _verify(data: bytes, identities, root: str):
    return verify_sigstore_dsse(data, identities, ASSETS / root)


def _rejected(data: bytes, identities, root: str) -> SigstoreRejected:
    with pytest.raises(SigstoreRejected) as info:
        _verify(data, identities, root)
    reason = info.value.reason
    assert reason and reason.isprintable() and len(reason) <= MAX_REASON_CHARS
    return info.value


def _with_payload_byte_changed(data: bytes) -> bytes:
    document = json.loads(data)
    payload = bytearray(base64.b64decode(document["dsseEnvelope"]["payload"]))
    index = payload.index(b"sha256")  # inside the subject digest's key: still JSON, now a different statement
    payload[index] ^= 0x01
    document["dsseEnvelope"]["payload"] = base64.b64encode(bytes(payload)).decode()
    return json.dumps(document).encode()


# --- what verifies -----------------------------------------------------------------------------------------

@BUNDLES
def test_real_bundle_verifies_offline_and_returns_its_statement(bundle):
    payload_type, payload, signer = _verify(bundle.data, [SOMEONE_ELSE, bundle.signer], bundle.root)
    assert payload_type == "application/vnd.in-toto+json"
    statement = json.loads(payload)
    assert statement["_type"] == STATEMENT_V1 and statement["predicateType"] == bundle.predicate_type
    assert [s["name"] for s in statement["subject"]] == [bundle.subject]
    assert signer == bundle.signer  # the entry that matched, not merely the first one trusted


def test_a_client_trust_config_holding_the_root_verifies_too():
    payload_type, _, signer = verify_sigstore_dsse(PRODUCTION.data, [PRODUCTION.signer],
                                                   ASSETS / "production-client-trust-config.json")
    assert payload_type == "application/vnd.in-toto+json" and signer == PRODUCTION.signer


@BUNDLES
def test_records_keep_verifying_in_later_years(bundle, monkeypatch):
    # The certificate lived ten minutes; verification judges it at the time the log or the timestamp authority
    # vouched for, never at the clock. sigstore reads the clock in one place (is a trusted-root key valid yet?),
    # and moving that clock to 2045 changes nothing.
    import sigstore._utils

    class Year2045(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2045, 1, 1, tzinfo=timezone.utc)

    monkeypatch.setattr(sigstore._utils, "datetime", Year2045)
    assert _verify(bundle.data, [bundle.signer], bundle.root)[2] == bundle.signer


def test_importing_the_module_does_not_import_sigstore():
    code = "import sys, weightgate.evidence.sigstore_records; sys.exit('sigstore' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- signed, but not by a trusted identity -----------------------------------------------------------------

@BUNDLES
@pytest.mark.parametrize("trusted", [
    pytest.param(lambda s: [SOMEONE_ELSE], id="another-identity"),
    pytest.param(lambda s: [SigstoreIdentity(s.identity + "x", s.issuer)], id="identity-with-a-suffix"),
    pytest.param(lambda s: [SigstoreIdentity(s.identity, "https://accounts.google.com")], id="wrong-issuer"),
    pytest.param(lambda s: [SigstoreIdentity(s.identity, "")], id="no-issuer-never-matches"),
    pytest.param(lambda s: [], id="none-trusted"),
])
def test_a_signer_the_policy_does_not_name_is_untrusted(bundle, trusted):
    rejected = _rejected(bundle.data, trusted(bundle.signer), bundle.root)
    assert rejected.untrusted
    assert "not a Sigstore identity the policy trusts" in rejected.reason
    assert bundle.signer.issuer in rejected.reason  # says who did sign, so the policy can be fixed


# --- rejected ----------------------------------------------------------------------------------------------

@BUNDLES
@pytest.mark.parametrize("trusted", [[], [SOMEONE_ELSE]], ids=["signer-trusted", "signer-not-trusted"])
def test_a_changed_payload_byte_is_rejected_whoever_signed(bundle, trusted):
    # Untrusted would be wrong even when the signer is not trusted: the signature is judged before the signer.
    rejected = _rejected(_with_payload_byte_changed(bundle.data), trusted or [bundle.signer], bundle.root)
    assert not rejected.untrusted
    assert "does not verify" in rejected.reason and "altered after signing" in rejected.reason


@BUNDLES
def test_a_trusted_root_of_another_sigstore_instance_is_rejected(bundle):
    rejected = _rejected(bundle.data, [bundle.signer], bundle.other_root)
    assert not rejected.untrusted
    assert "another Sigstore instance" in rejected.reason


@pytest.mark.parametrize(("data", "reason"), [
    pytest.param(STAGING.data[: len(STAGING.data) // 2], "not JSON", id="truncated"),
    pytest.param(b"\x89PNG\r\n\x1a\n\0\0", "not JSON", id="binary"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "not JSON", id="deeply-nested"),
    pytest.param(b'["dsseEnvelope"]', "not a JSON object", id="array"),
    pytest.param(json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}).encode(),
                 "not a Sigstore bundle", id="bare-dsse-envelope"),
    pytest.param(json.dumps({"mediaType": "text/\x1b[31mred\x07", "dsseEnvelope": {}}).encode(),
                 "not a Sigstore bundle", id="control-characters-shown-escaped"),
    pytest.param((ASSETS / "staging-message-signature.sigstore.json").read_bytes(), "messageSignature",
                 id="message-signature-bundle"),
    pytest.param(json.dumps({**json.loads(STAGING.data), "dsseEnvelope": None}).encode(), "no DSSE envelope",
                 id="null-envelope"),
    pytest.param(json.dumps({**json.loads(STAGING.data), "verificationMaterial": {}}).encode(), "malformed",
                 id="no-verification-material"),
    pytest.param(STAGING.data + b" " * (MAX_BUNDLE_BYTES - len(STAGING.data) + 1), "limit", id="oversize"),
])
def test_what_is_not_a_sigstore_dsse_record_is_rejected_with_a_reason(data, reason):
    rejected = _rejected(data, [STAGING.signer], STAGING.root)
    assert not rejected.untrusted
    assert reason in rejected.reason


def test_the_largest_allowed_bundle_is_still_read():
    # Near miss for the size limit: JSON whitespace up to the limit exactly is still a valid record.
    data = STAGING.data + b" " * (MAX_BUNDLE_BYTES - len(STAGING.data))
    assert _verify(data, [STAGING.signer], STAGING.root)[2] == STAGING.signer


# --- the trusted root is the policy's ----------------------------------------------------------------------

@pytest.mark.parametrize(("content", "reason"), [
    (None, "cannot be loaded"),
    (b"{not json", "cannot be loaded"),
    (json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}).encode(), "neither"),
    (json.dumps({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": 7}).encode(),
     "cannot be loaded"),
])
def test_an_unusable_trusted_root_is_a_policy_error_not_a_rejected_record(tmp_path, content, reason):
    root = tmp_path / "trusted_root.json"
    if content is not None:
        root.write_bytes(content)
    with pytest.raises(PolicyError, match=reason):
        verify_sigstore_dsse(STAGING.data, [STAGING.signer], root)


# --- recognising a bundle ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("document", "expected"), [
    (json.loads(STAGING.data), True),
    (json.loads(PRODUCTION.data), True),
    ({"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1", "dsseEnvelope": {}}, True),
    (json.loads((ASSETS / "staging-message-signature.sigstore.json").read_bytes()), False),
    ({"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}, False),
    ({"mediaType": "application/vnd.in-toto+json", "dsseEnvelope": {}}, False),
    ({"mediaType": 3, "dsseEnvelope": {}}, False),
])
def test_is_sigstore_bundle(document, expected):
    assert is_sigstore_bundle(document) is expected
