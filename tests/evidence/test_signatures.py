"""The bundle verifier on its own: key hints, old bundles without one, and the file list it returns."""

import json

from evidence.signing import sign_with_key, write_key
from weightgate.evidence.policy import SignerRule
from weightgate.evidence.signatures import SignatureFacts, SignatureStatus, key_hint, verify_bundle

BASE = SignatureFacts("a", "model.sig", "model.sig", SignatureStatus.NOT_CHECKED)


def _model(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\1" * 100)
    (model / "sub").mkdir()
    (model / "sub" / "config.json").write_text("{}")
    return model


def test_verified_bundle_lists_every_file_with_its_sha256(tmp_path):
    private, public = write_key(tmp_path / "keys", "k")
    bundle = sign_with_key(_model(tmp_path), private, tmp_path / "model.sig").read_bytes()
    facts = verify_bundle(bundle, SignerRule(keys=(public,)), None, BASE)
    assert facts.status is SignatureStatus.VERIFIED and facts.comparable
    assert [(f.path, f.algorithm) for f in facts.files] == [("sub/config.json", "sha256"), ("weights.bin", "sha256")]
    assert json.loads(bundle)["verificationMaterial"]["publicKey"]["hint"] == key_hint(public.read_bytes())


def test_old_bundle_without_key_hint_verifies_quietly(tmp_path, capsys):
    private, public = write_key(tmp_path / "keys", "k")
    document = json.loads(sign_with_key(_model(tmp_path), private, tmp_path / "model.sig").read_text())
    del document["verificationMaterial"]["publicKey"]["hint"]
    facts = verify_bundle(json.dumps(document).encode(), SignerRule(keys=(public,)), None, BASE)
    assert facts.status is SignatureStatus.VERIFIED
    assert capsys.readouterr().out == ""  # the library's warning never reaches weightgate's stdout


def test_without_a_hint_a_wrong_key_does_not_verify(tmp_path):
    private, _ = write_key(tmp_path / "keys", "signer")
    _, other = write_key(tmp_path / "keys", "other")
    document = json.loads(sign_with_key(_model(tmp_path), private, tmp_path / "model.sig").read_text())
    del document["verificationMaterial"]["publicKey"]["hint"]
    facts = verify_bundle(json.dumps(document).encode(), SignerRule(keys=(other,)), None, BASE)
    assert facts.status is SignatureStatus.INVALID and "does not verify" in facts.reason


def test_rule_without_keys_trusts_no_key_signature(tmp_path):
    private, _ = write_key(tmp_path / "keys", "k")
    bundle = sign_with_key(_model(tmp_path), private, tmp_path / "model.sig").read_bytes()
    facts = verify_bundle(bundle, SignerRule(), None, BASE)
    assert facts.status is SignatureStatus.UNTRUSTED and facts.signer.startswith("key sha256:")
    assert verify_bundle(bundle, None, None, BASE).status is SignatureStatus.UNTRUSTED
