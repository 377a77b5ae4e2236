"""WG627-WG630: OpenSSF model signatures, signed in the test with keys and certificates made in the test,
verified against the signers the policy trusts, and compared with the digests of the one verify pass."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import rule_ids, safetensors_bytes
from evidence.signing import sign_with_certificate, sign_with_key, write_ca_and_leaf, write_key
from weightgate import gate
from weightgate.errors import PolicyError
from weightgate.evidence.signatures import SignatureStatus

FILES = {"model.safetensors": safetensors_bytes(8), "config.json": b'{"hidden_size": 4}\n'}


@pytest.fixture
def keys(ws):
    trusted = write_key(ws.root / "keys", "trusted")
    other = write_key(ws.root / "keys", "other")
    return {"trusted": trusted, "other": other}


def _signed(ws, private_key, artifact_id="signed", files=None, shards=False):
    """An artifact whose mirror folder is signed as it is, the bundle placed beside its files as model.sig."""
    art = ws.artifact(artifact_id, files=dict(files or FILES), signature={"bundle": "model.sig"})
    bundle = sign_with_key(ws.mirror / artifact_id, private_key, ws.root / f"{artifact_id}.sig", shards=shards)
    shutil.copy(bundle, ws.mirror / artifact_id / "model.sig")
    return art


def _policy(ws, **signer):
    rule = {"publishers": ["org"], "keys": ["keys/trusted.pub"], **signer}
    return ws.write_policy(signatures={"signers": [rule]})


def _check(ws, artifacts, policy, **options):
    return ws.check(ws.write_manifest(artifacts), policy=policy, **options)


class CountingMirror:
    """Counts every byte any reader takes from the mirror, per path."""

    def __init__(self, inner, counts):
        self._inner, self._counts, self.uri = inner, counts, inner.uri

    def open(self, path):
        handle, counts = self._inner.open(path), self._counts

        class Counted:
            size, uri = handle.size, handle.uri

            def readinto(self, buffer):
                n = handle.readinto(buffer)
                counts[path] = counts.get(path, 0) + n
                return n

            def close(self):
                handle.close()

        return Counted()

    def uri_of(self, path):
        return self._inner.uri_of(path)

    def list_files(self):
        return self._inner.list_files()


def test_valid_signature_passes_without_a_second_read(ws, keys, monkeypatch):
    art = _signed(ws, keys["trusted"][0])
    counts = {}
    real_open = gate.open_approved_mirror
    monkeypatch.setattr(gate, "open_approved_mirror", lambda *a, **k: CountingMirror(real_open(*a, **k), counts))
    report = _check(ws, [art], _policy(ws))
    assert rule_ids(report) == []
    facts = report.governance.signatures["signed"]
    assert facts.status is SignatureStatus.VERIFIED and "trusted.pub" in facts.signer
    assert {f.path for f in facts.files} == set(FILES)
    # Each artifact file was read exactly once, by the verify pass; the only other read is the bundle itself.
    bundle_size = (ws.mirror / "signed" / "model.sig").stat().st_size
    assert counts == {**{p: len(d) for p, d in FILES.items()}, "model.sig": bundle_size}
    assert sum(counts.values()) == sum(map(len, FILES.values())) + bundle_size


def test_signed_with_the_model_signing_cli(ws, keys, tmp_path):
    """The bundle `model_signing sign key` writes into the model folder (it ignores its own file)."""
    art = ws.artifact("signed", files=dict(FILES), signature={"bundle": "model.sig"})
    cli = Path(sys.executable).with_name("model_signing")
    subprocess.run([str(cli), "sign", "key", str(ws.mirror / "signed"), "--private_key", str(keys["trusted"][0]),
                    "--signature", str(ws.mirror / "signed" / "model.sig")], check=True, capture_output=True)
    assert rule_ids(_check(ws, [art], _policy(ws))) == []


def test_tampered_file(ws, keys):
    art = _signed(ws, keys["trusted"][0])
    changed = safetensors_bytes(8)[:-4] + b"\x00\x00\x80\x7f"
    art = ws.artifact("signed", files={**FILES, "model.safetensors": changed}, signature={"bundle": "model.sig"})
    report = _check(ws, [art], _policy(ws))  # re-pinned to the new bytes: integrity passes, the signature not
    assert rule_ids(report) == ["WG630"]
    finding = report.active_findings[0]
    assert finding.file_path == "model.safetensors" and "changed after signing" in finding.message


def test_extra_file(ws, keys):
    art = _signed(ws, keys["trusted"][0])
    art = ws.artifact("signed", files={**FILES, "extra.json": b"{}\n"}, signature={"bundle": "model.sig"})
    report = _check(ws, [art], _policy(ws))
    assert [(f.rule.id, f.file_path) for f in report.active_findings] == [("WG630", "extra.json")]
    assert "not signed (extra file)" in report.active_findings[0].message


def test_signed_file_left_out_of_the_manifest(ws, keys):
    art = _signed(ws, keys["trusted"][0])
    art["files"] = [f for f in art["files"] if f["path"] != "config.json"]
    art["approvals"] = []  # the digest changed with the file list; approvals are not this test's subject
    report = _check(ws, [art], _policy(ws))
    assert [(f.rule.id, f.file_path) for f in report.active_findings if f.rule.id.startswith("WG63")] == \
        [("WG630", "config.json")]


def test_wrong_key(ws, keys):
    art = _signed(ws, keys["other"][0])
    report = _check(ws, [art], _policy(ws))
    assert rule_ids(report) == ["WG629"]
    assert "not one the policy trusts" in report.active_findings[0].message


def test_altered_payload_does_not_verify(ws, keys):
    """Someone rewrites the signed digest list in the bundle to match swapped bytes: the signature breaks."""
    art = _signed(ws, keys["trusted"][0])
    path = ws.mirror / "signed" / "model.sig"
    bundle = json.loads(path.read_text())
    import base64

    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["resources"][0]["digest"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    path.write_text(json.dumps(bundle))
    report = _check(ws, [art], _policy(ws))
    assert rule_ids(report) == ["WG628"]
    assert "does not verify" in report.active_findings[0].message


@pytest.mark.parametrize(("content", "reason"), [
    (None, "could not be read"),
    (b"not json", "not JSON"),
    (b'{"mediaType": "x"}', "not a sigstore bundle"),
])
def test_unreadable_or_malformed_bundle(ws, keys, content, reason):
    art = _signed(ws, keys["trusted"][0])
    path = ws.mirror / "signed" / "model.sig"
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    report = _check(ws, [art], _policy(ws))
    assert rule_ids(report) == ["WG628"]
    assert reason in report.active_findings[0].message


def test_missing_bundle_where_required(ws, keys):
    unsigned = ws.artifact("unsigned")
    assert rule_ids(_check(ws, [unsigned], _policy(ws, required=True))) == ["WG627"]
    # Near miss: the same artifact where the policy does not require a signature.
    assert rule_ids(_check(ws, [unsigned], _policy(ws))) == []
    # Required by source tier: the test sources are tier 2 by default.
    tiers = ws.write_policy(signatures={"required_tiers": [2]})
    assert rule_ids(_check(ws, [unsigned], tiers)) == ["WG627"]


def test_no_signer_named_for_the_source(ws, keys):
    art = _signed(ws, keys["trusted"][0])
    elsewhere = ws.write_policy(signatures={"signers": [{"publishers": ["another-org"], "keys": ["keys/trusted.pub"]}]})
    report = _check(ws, [art], elsewhere)
    assert rule_ids(report) == ["WG629"]
    assert "names no signer for this source" in report.active_findings[0].message


def test_sharded_signature_cannot_be_compared_without_a_second_read(ws, keys):
    art = _signed(ws, keys["trusted"][0], shards=True)
    report = _check(ws, [art], _policy(ws))
    assert rule_ids(report) == ["WG628"]
    assert "'shards' serialization" in report.active_findings[0].message


def test_certificate_chain(ws, keys):
    ca, key, leaf = write_ca_and_leaf(ws.root / "pki", "example", "release@example.org")
    art = ws.artifact("signed", files=dict(FILES), signature={"bundle": "model.sig"})
    shutil.copy(sign_with_certificate(ws.mirror / "signed", key, leaf, ca, ws.root / "b.sig"),
                ws.mirror / "signed" / "model.sig")
    trusted = ws.write_policy(signatures={"signers": [{"publishers": ["org"], "certificates": ["pki/example-ca.pem"]}]})
    report = _check(ws, [art], trusted)
    assert rule_ids(report) == []
    assert "release@example.org" in report.governance.signatures["signed"].signer
    # Another CA's certificate is someone else's signer.
    write_ca_and_leaf(ws.root / "pki", "other", "x@example.net")
    other = ws.write_policy(signatures={"signers": [{"publishers": ["org"], "certificates": ["pki/other-ca.pem"]}]})
    assert rule_ids(_check(ws, [art], other)) == ["WG629"]
    # A key-only rule does not trust certificate signatures.
    assert rule_ids(_check(ws, [art], _policy(ws))) == ["WG629"]


def test_keyless_identity_does_not_accept_a_key_signature(ws, keys):
    art = _signed(ws, keys["trusted"][0])
    (ws.root / "trust.json").write_text("{}")
    keyless = ws.write_policy(signatures={"trust_root": "trust.json", "signers": [
        {"publishers": ["org"], "identities": [{"identity": "release@example.org", "issuer": "https://idp"}]}]})
    assert rule_ids(_check(ws, [art], keyless)) == ["WG629"]


def test_offline_reads_no_bundle_but_still_requires_one(ws, keys):
    signed = _signed(ws, keys["trusted"][0])
    unsigned = ws.artifact("unsigned")
    report = _check(ws, [signed, unsigned], _policy(ws, required=True), offline=True)
    assert [(f.rule.id, f.artifact_id) for f in report.active_findings] == [("WG627", "unsigned")]
    assert report.governance.signatures["signed"].status is SignatureStatus.NOT_CHECKED


@pytest.mark.parametrize("signer", [
    {"keys": ["keys/nope.pub"]},
    {"identities": [{"identity": "a@b", "issuer": "https://idp"}]},
])
def test_policy_signers_that_cannot_be_loaded_are_policy_errors(ws, signer):
    with pytest.raises(PolicyError):
        _check(ws, [ws.artifact("a")], ws.write_policy(signatures={"signers": [signer]}))
