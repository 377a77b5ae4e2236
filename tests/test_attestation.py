"""Signed decision records: `check --attest` writes an in-toto Statement v1 with a SLSA VSA predicate per
artifact in a DSSE envelope; `verify-attestation` accepts only a PASSED record whose signature verifies."""

import base64
import datetime
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from google.protobuf import json_format
from in_toto_attestation.predicates.vsa.v1 import vsa_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

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
            "private": private, "public": public, "envelopes": envelopes, "ws": ws}


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


# --- fail_on never does not make a decision -----------------------------------------------------------------

MALICIOUS_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."  # os.system("id")


def test_fail_on_never_still_records_failed_for_critical_findings(ws, capsys):
    private, public = _key_pair(ws.root)
    good, evil = ws.artifact("good"), ws.artifact("evil", files={"model.pkl": MALICIOUS_PICKLE})
    out = ws.root / "d.jsonl"
    assert main(["check", str(ws.write_manifest([good, evil])), "--fail-on", "never", "--attest", str(out),
                 "--attest-key", str(private), "-q", *AS_OF]) == EXIT_PASS  # report-only: the run exits 0
    predicates = {name: json.loads(base64.b64decode(e["payload"]))["predicate"]
                  for name, e in _statements([json.loads(line) for line in out.read_text().splitlines()]).items()}
    record = predicates["evil"]
    assert record["verificationResult"] == "FAILED" and record["weightgate"]["failOn"] == "never"
    assert record["weightgate"]["failedRules"] == ["WG401", "WG502"]  # prohibited format, os.system
    assert predicates["good"]["verificationResult"] == "PASSED"
    args = ["verify-attestation", str(out), "--key", str(public), "--digest"]
    assert main([*args, _digest(evil)]) == EXIT_FINDINGS
    assert capsys.readouterr().out.startswith("failed:")
    assert main([*args, _digest(good)]) == EXIT_PASS
    assert capsys.readouterr().out.startswith("passed:")


def test_fail_on_warning_does_not_fail_a_record_for_a_medium_finding(ws):
    """The near miss: records fail at critical/high whatever fail_on says, so a medium finding that fails a
    `fail_on: warning` run still leaves a PASSED record."""
    private, public = _key_pair(ws.root)
    stale = ws.artifact("stale", last_validated="2025-01-01")  # WG609, medium
    out = ws.root / "d.jsonl"
    assert main(["check", str(ws.write_manifest([stale])), "--fail-on", "warning", "--attest", str(out),
                 "--attest-key", str(private), "-q", *AS_OF]) == EXIT_FINDINGS
    predicate = json.loads(base64.b64decode(json.loads(out.read_text())["payload"]))["predicate"]
    assert predicate["verificationResult"] == "PASSED" and predicate["weightgate"]["failOn"] == "warning"
    assert main(["verify-attestation", str(out), "--key", str(public), "--digest", _digest(stale)]) == EXIT_PASS


# --- which policy a record was made under -------------------------------------------------------------------

def _policy_digest(run):
    payload = json.loads(base64.b64decode(_statements(run["envelopes"])["good"]["payload"]))
    return "sha256:" + payload["predicate"]["policy"]["digest"]["sha256"]


def test_policy_digest_accepts_the_policy_the_record_was_made_under(run, capsys):
    args = ["verify-attestation", str(run["out"]), "--key", str(run["public"]), "--digest", run["good"]]
    other = "sha256:" + "0" * 64
    assert main([*args, "--policy-digest", _policy_digest(run)]) == EXIT_PASS
    upper = "sha256:" + _policy_digest(run).removeprefix("sha256:").upper()
    assert main([*args, "--policy-digest", other, "--policy-digest", upper]) == EXIT_PASS
    capsys.readouterr()
    assert main([*args, "--policy-digest", other]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert out.startswith("other-policy:") and f"with digest {_policy_digest(run)}, which is not" in out
    assert f"(accepted: {other})" in out


def test_policy_digest_never_turns_a_failed_record_into_a_pass(run, capsys):
    args = ["verify-attestation", str(run["out"]), "--key", str(run["public"]), "--digest", run["bad"]]
    assert main([*args, "--policy-digest", _policy_digest(run)]) == EXIT_FINDINGS
    assert capsys.readouterr().out.startswith("failed:")


@pytest.mark.parametrize("value", ["sha256:abc", "md5:" + "0" * 32, "0" * 64 + "x", ""])
def test_invalid_policy_digest_is_a_usage_error(run, capsys, value):
    assert main(["verify-attestation", str(run["out"]), "--key", str(run["public"]), "--digest", run["good"],
                 "--policy-digest", value]) == EXIT_INPUT_ERROR
    assert "--policy-digest takes sha256:<64 hex digits>" in capsys.readouterr().err


# --- which record is the latest -----------------------------------------------------------------------------

def _resigned(run, changes, extension=None):
    """The good artifact's record with predicate (and weightgate extension) fields changed, signed again with the
    gate's key."""
    document = json.loads(base64.b64decode(_statements(run["envelopes"])["good"]["payload"]))
    document["predicate"].update(changes)
    document["predicate"]["weightgate"].update(extension or {})
    signer = CryptoSigner(serialization.load_pem_private_key(run["private"].read_bytes(), None))
    envelope = Envelope(payload=json.dumps(document).encode(), payload_type="application/vnd.in-toto+json",
                        signatures={})
    envelope.sign(signer)
    return json.dumps(envelope.to_dict())


def _verify(run, records):
    run["out"].write_text("".join(line + "\n" for line in records))
    return main(["verify-attestation", str(run["out"]), "--key", str(run["public"]), "--digest", run["good"]])


def _record(run, result, time, signed=None, run_id=None):
    """A record of a run of its own (a new run id) made at `time`, signed at `signed` (default: `time`)."""
    return _resigned(run, {"verificationResult": result, "timeVerified": time},
                     {"signedAt": time if signed is None else signed, "runId": run_id or str(uuid.uuid4())})


def test_latest_record_is_found_by_time_not_by_text(run):
    # 11:00+01:00 is 10:00Z, before the FAILED record at 10:30Z, though it sorts after it as text.
    assert _verify(run, [_record(run, "FAILED", "2026-11-26T10:30:00Z"),
                         _record(run, "PASSED", "2026-11-26T11:00:00+01:00")]) == EXIT_FINDINGS
    assert _verify(run, [_record(run, "FAILED", "2026-11-26T09:30:00Z"),
                         _record(run, "PASSED", "2026-11-26T11:00:00+01:00")]) == EXIT_PASS


@pytest.mark.parametrize("time", ["tomorrow", "2026-11-26", "2026-11-26T25:00:00Z", "2026-11-26T10:00:00", 7, None])
def test_a_record_with_a_malformed_time_is_rejected_not_compared(run, capsys, time):
    assert _verify(run, [_record(run, "FAILED", "2026-11-26T10:00:00Z"), _record(run, "PASSED", time)]) \
        == EXIT_FINDINGS
    assert "line 2: timeVerified" in capsys.readouterr().err
    assert _verify(run, [_record(run, "PASSED", time)]) == EXIT_FINDINGS  # no record left to judge by


@pytest.mark.parametrize("order", [("PASSED", "FAILED"), ("FAILED", "PASSED")])
def test_failed_wins_a_tie_at_the_latest_time(run, capsys, order):
    same = "2026-11-26T10:00:00Z"
    assert _verify(run, [_record(run, "PASSED", "2026-11-25T10:00:00Z"),
                         *(_record(run, result, same) for result in order)]) == EXIT_FINDINGS
    assert capsys.readouterr().out.startswith("failed:")


# --- one verdict per (digest, policy, run), chosen by a rule no record writer can steer (issue 19) -------------

def _shared_digest_run(ws, services=None):
    """Two entries with the same bytes: `data` passes, `prod` (serving production) fails on its license."""
    files = {"model.safetensors": safetensors_bytes(8)}
    data = ws.artifact("data", files=files)
    prod = ws.artifact("prod", files=files, license={"spdx": "AGPL-3.0-only"})
    private, public = _key_pair(ws.root)
    out = ws.root / "d.jsonl"
    manifest = ws.write_manifest([data, prod], services=services)
    assert main(["check", str(manifest), "--attest", str(out), "--attest-key", str(private), "-q", *AS_OF]) \
        == EXIT_FINDINGS
    assert _digest(data) == _digest(prod)
    return out, public, _digest(data)


def test_entries_sharing_a_digest_get_one_record_that_fails_if_any_fails(ws, capsys):
    out, public, digest = _shared_digest_run(ws)
    lines = out.read_text().splitlines()
    assert len(lines) == 1  # one verdict per digest in one run, not one PASSED and one FAILED
    predicate = json.loads(base64.b64decode(json.loads(lines[0])["payload"]))["predicate"]
    assert predicate["verificationResult"] == "FAILED" and predicate["weightgate"]["failedRules"] == ["WG611"]
    assert predicate["weightgate"]["artifacts"] == ["data", "prod"]
    assert predicate["weightgate"]["runId"] and predicate["weightgate"]["signedAt"].endswith("Z")
    args = ["verify-attestation", str(out), "--key", str(public), "--digest", digest]
    assert main(args) == EXIT_FINDINGS
    assert main([*args, "--artifact", "data"]) == EXIT_FINDINGS  # the passing entry cannot be picked alone
    assert capsys.readouterr().out.splitlines()[-1].startswith("failed:")
    assert main([*args, "--artifact", "other"]) == EXIT_FINDINGS
    assert capsys.readouterr().out.startswith("absent:")


def test_every_record_of_one_run_carries_the_same_run_id_and_signing_time(run):
    extensions = [json.loads(base64.b64decode(e["payload"]))["predicate"]["weightgate"] for e in run["envelopes"]]
    assert len({e["runId"] for e in extensions}) == 1 and len({e["signedAt"] for e in extensions}) == 1
    assert [e["artifacts"] for e in extensions] == [[e["artifact"]] for e in extensions]


def test_source_date_epoch_never_makes_an_old_run_win(ws, monkeypatch):
    """A run stamped with SOURCE_DATE_EPOCH in 2100 writes timeVerified 2100, but signedAt is the clock's: the
    later FAILED run still wins, and the PASSED run does not outrank it."""
    art = ws.artifact("m")
    private, public = _key_pair(ws.root)
    passed, failed = ws.root / "passed.jsonl", ws.root / "failed.jsonl"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(datetime.datetime(2100, 1, 1).timestamp())))
    assert main(["check", str(ws.write_manifest([art])), "--attest", str(passed), "--attest-key", str(private),
                 "-q", *AS_OF]) == EXIT_PASS
    predicate = json.loads(base64.b64decode(json.loads(passed.read_text())["payload"]))["predicate"]
    assert predicate["timeVerified"].startswith("2100-")  # reproducible reports keep their stamp
    assert not predicate["weightgate"]["signedAt"].startswith("2100-")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    time.sleep(1.1)  # the later run signs at a later second
    denied = {**art, "license": {"spdx": "AGPL-3.0-only"}}
    assert main(["check", str(ws.write_manifest([denied])), "--attest", str(failed), "--attest-key", str(private),
                 "-q", *AS_OF]) == EXIT_FINDINGS
    both = ws.root / "both.jsonl"
    both.write_text(passed.read_text() + failed.read_text())
    args = ["verify-attestation", str(both), "--key", str(public), "--digest", _digest(art)]
    assert main(args) == EXIT_FINDINGS  # the 2100 PASSED record was refused as future-dated; FAILED is newer
    both.write_text(failed.read_text() + passed.read_text())
    assert main(args) == EXIT_FINDINGS


def test_a_newer_run_decides_by_signing_time_not_by_time_verified(run):
    # The FAILED run signed later, though its timeVerified (SOURCE_DATE_EPOCH) is older.
    assert _verify(run, [_record(run, "PASSED", "2026-11-26T10:00:00Z", signed="2026-11-26T10:00:00Z"),
                         _record(run, "FAILED", "2020-01-01T00:00:00Z", signed="2026-11-26T11:00:00Z")]) \
        == EXIT_FINDINGS
    assert _verify(run, [_record(run, "FAILED", "2026-11-26T12:00:00Z", signed="2026-11-26T10:00:00Z"),
                         _record(run, "PASSED", "2020-01-01T00:00:00Z", signed="2026-11-26T11:00:00Z")]) \
        == EXIT_PASS


@pytest.mark.parametrize("field", ["timeVerified", "signedAt"])
def test_a_record_dated_in_the_future_is_refused(run, capsys, field):
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    past = "2026-11-26T10:00:00Z"
    times = {"timeVerified": past, "signedAt": past, field: future}
    record = _record(run, "PASSED", times["timeVerified"], signed=times["signedAt"])
    assert _verify(run, [_record(run, "FAILED", "2026-11-20T10:00:00Z"), record]) == EXIT_FINDINGS
    err = capsys.readouterr().err
    assert f"line 2: {field} " in err and "is in the future" in err
    assert _verify(run, [record]) == EXIT_FINDINGS
    assert "in the future" in capsys.readouterr().err


def test_a_failed_record_anywhere_in_the_newest_run_wins(run):
    same_run = str(uuid.uuid4())
    assert _verify(run, [_record(run, "PASSED", "2026-11-26T10:00:00Z", run_id=same_run),
                         _record(run, "FAILED", "2026-11-26T09:59:00Z", run_id=same_run),
                         _record(run, "PASSED", "2026-11-25T10:00:00Z")]) == EXIT_FINDINGS


def test_verify_attestations_keeps_its_positional_parameters_and_takes_a_clock(run):
    from weightgate.evidence.attestation import Outcome, verify_attestations
    from weightgate.evidence.dsse import load_public_key

    key = load_public_key(run["public"].read_bytes(), str(run["public"]))
    text = run["out"].read_text()
    assert verify_attestations(text, key, run["good"], ()).outcome is Outcome.PASSED
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    verdict = verify_attestations(text, key, run["good"], (), artifact="good", now=long_ago)
    assert verdict.outcome is Outcome.ABSENT and all("in the future" in r for r in verdict.rejected)
