"""Signed decision records: `check --attest` writes an in-toto Statement v1 with a SLSA VSA predicate per
artifact in a DSSE envelope; `verify-attestation` accepts only a PASSED record whose signature verifies."""

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from google.protobuf import json_format
from in_toto_attestation.predicates.vsa.v1 import vsa_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from conftest import safetensors_bytes
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_PASS
from weightgate.facts import artifact_digest

AS_OF = ["--as-of", "2026-11-26"]


def _key_pair(folder, kind="ec"):
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else ed25519.Ed25519PrivateKey.generate()
    private, public = folder / f"gate-{kind}.pem", folder / f"gate-{kind}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


@pytest.fixture
def run(ws):
    """A passing artifact, one under a denied license, and one whose file was swapped in the mirror."""
    good = ws.artifact("good", files={"model.safetensors": safetensors_bytes(8)})
    bad = ws.artifact("bad", files={"model.safetensors": safetensors_bytes(12)}, license={"spdx": "AGPL-3.0-only"})
    swapped = ws.artifact("swapped")
    (ws.mirror / "swapped" / "model.safetensors").write_bytes(safetensors_bytes(4)[:-1] + b"\x01")  # same size
    manifest = ws.write_manifest([good, bad, swapped])
    private, public = _key_pair(ws.root)
    out = ws.root / "decisions.intoto.jsonl"
    code = main(["check", str(manifest), "--attest", str(out), "--attest-key", str(private), "-q", *AS_OF])
    assert code == EXIT_FINDINGS
    envelopes = [json.loads(line) for line in out.read_text().splitlines()]
    return {"good": _digest(good), "bad": _digest(bad), "swapped": _digest(swapped), "out": out,
            "public": public, "envelopes": envelopes, "ws": ws}


def _statements(envelopes):
    return {json.loads(base64.b64decode(e["payload"]))["subject"][0]["name"]: e for e in envelopes}


def test_statement_is_in_toto_v1_with_a_slsa_vsa_predicate(run):
    envelope = _statements(run["envelopes"])["good"]
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(envelope["payload"])
    Statement.copy_from_pb(json_format.Parse(payload, statement_pb2.Statement())).validate()
    document = json.loads(payload)
    assert document["predicateType"] == "https://slsa.dev/verification_summary/v1"
    assert document["subject"] == [{"name": "good", "digest": {"sha256": run["good"].removeprefix("sha256:")}}]
    predicate = document["predicate"]
    # in-toto-attestation 0.9.3's VSA v1 binding declares verifiedLevels a single string; the SLSA spec (and
    # this predicate) make it an array, so it is checked apart from the binding.
    assert predicate["verifiedLevels"] == ["WEIGHTGATE_INTAKE_PASSED"]
    known = {k: v for k, v in predicate.items() if k != "verifiedLevels"}
    summary = json_format.ParseDict(known, vsa_pb2.VerificationSummary(), ignore_unknown_fields=True)
    assert summary.verifier.id.startswith("https://") and summary.resource_uri.endswith("/good")
    assert summary.verification_result == "PASSED"
    assert predicate["timeVerified"].endswith("Z") and len(predicate["policy"]["digest"]["sha256"]) == 64
    assert predicate["weightgate"]["failedRules"] == [] and predicate["weightgate"]["bytesVerified"] is True


def test_failed_artifact_records_the_rules_that_failed(run):
    predicate = json.loads(base64.b64decode(_statements(run["envelopes"])["bad"]["payload"]))["predicate"]
    assert predicate["verificationResult"] == "FAILED" and predicate["verifiedLevels"] == ["FAILED"]
    assert predicate["weightgate"]["failedRules"] == ["WG611"]


def test_swapped_bytes_are_recorded_under_the_digest_that_was_read(run):
    document = json.loads(base64.b64decode(_statements(run["envelopes"])["swapped"]["payload"]))
    assert document["subject"][0]["digest"]["sha256"] != run["swapped"].removeprefix("sha256:")
    assert document["predicate"]["verificationResult"] == "FAILED"
    assert "WG305" in document["predicate"]["weightgate"]["failedRules"]


def test_dsse_signature_verifies_and_a_flipped_byte_does_not(run):
    key = SSlibKey.from_crypto(serialization.load_pem_public_key(run["public"].read_bytes()))
    envelope = _statements(run["envelopes"])["good"]
    Envelope.from_dict(json.loads(json.dumps(envelope))).verify([key], 1)
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[len(payload) // 2] ^= 0x01
    flipped = {**envelope, "payload": base64.b64encode(bytes(payload)).decode()}
    with pytest.raises(VerificationError):
        Envelope.from_dict(json.loads(json.dumps(flipped))).verify([key], 1)
    # The same through the CLI: the tampered record is ignored, so the digest has no verified record.
    run["out"].write_text(json.dumps(flipped) + "\n")
    assert main(["verify-attestation", str(run["out"]), "--key", str(run["public"]), "--digest", run["good"]]) \
        == EXIT_FINDINGS


def test_verify_attestation(run, capsys):
    args = ["verify-attestation", str(run["out"]), "--key", str(run["public"]), "--digest"]
    assert main([*args, run["good"]]) == EXIT_PASS
    assert capsys.readouterr().out.startswith("passed:")
    assert main([*args, run["bad"]]) == EXIT_FINDINGS  # the gate's FAILED record
    assert "failed rules: WG611" in capsys.readouterr().out
    assert main([*args, run["swapped"]]) == EXIT_FINDINGS  # the pinned digest never passed: no record for it
    assert main([*args, "sha256:" + "0" * 64]) == EXIT_FINDINGS  # never judged
    assert main([*args, "not-a-digest"]) == EXIT_INPUT_ERROR
    (run["ws"].root / "other").mkdir()
    _, other = _key_pair(run["ws"].root / "other", "ed25519")
    assert main(["verify-attestation", str(run["out"]), "--key", str(other), "--digest", run["good"]]) \
        == EXIT_FINDINGS


def test_ed25519_keys_sign_too(ws):
    (ws.root / "k").mkdir()
    private, public = _key_pair(ws.root / "k", "ed25519")
    art = ws.artifact("m")
    out = ws.root / "d.jsonl"
    assert main(["check", str(ws.write_manifest([art])), "--attest", str(out), "--attest-key", str(private), "-q",
                 *AS_OF]) == EXIT_PASS
    assert main(["verify-attestation", str(out), "--key", str(public), "--digest", _digest(art)]) == EXIT_PASS


@pytest.mark.parametrize("extra", [["--offline"], []])
def test_attest_usage_errors(ws, extra):
    private, _ = _key_pair(ws.root)
    manifest = ws.write_manifest([ws.artifact("m")])
    options = ["--attest", str(ws.root / "d.jsonl")] + (["--attest-key", str(private)] if extra else [])
    assert main(["check", str(manifest), *options, *extra, "-q"]) == EXIT_INPUT_ERROR
    assert main(["check", str(manifest), "--attest", str(ws.root / "d.jsonl"), "--attest-key",
                 str(ws.root / "manifest.yaml"), "-q"]) == EXIT_INPUT_ERROR  # not a key
