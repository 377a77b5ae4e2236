"""`weightgate admit`: the bytes about to be loaded are exactly the file list of the gate's latest PASSED
decision record for the digest; every other case refuses with its own message, and unreadable storage fails
closed. Records come from a real `check --attest` run; bytes and folders are real files."""

from __future__ import annotations

import base64
import datetime
import json
import shutil

import pytest
import yaml

from conftest import safetensors_bytes
from evidence.signing import write_key
from weightgate.admit import AdmitRequest, Refusal, admit, parse_max_age
from weightgate.cli import main
from weightgate.evidence.deployment import DEPLOYMENT_PREDICATE_TYPE
from weightgate.evidence.dsse import load_public_key, load_signer, sign_statement, verify_record
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_PASS
from weightgate.facts import artifact_digest
from weightgate.jsonschemas import schema_errors

AS_OF = ["--as-of", "2026-11-26", "--reproducible"]  # decisions stamped 2026-11-26T00:00:00Z
DECIDED = datetime.datetime(2026, 11, 26, tzinfo=datetime.timezone.utc)


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


@pytest.fixture
def gate(ws):
    """A PASSED artifact of two files, a FAILED one (denied license), and their signed decision records."""
    good = ws.artifact("good", files={"model.safetensors": safetensors_bytes(8), "config.json": b'{"a": 1}'},
                       registry_entry={"registry": "mlflow", "id": "good/3", "stage": "production"})
    bad = ws.artifact("bad", files={"model.safetensors": safetensors_bytes(12)}, license={"spdx": "AGPL-3.0-only"})
    manifest = ws.write_manifest([good, bad])
    (ws.root / "registry.yaml").write_text(yaml.safe_dump({
        "apiVersion": "weightgate.dev/v1", "kind": "ModelRegistry", "name": "mlflow",
        "entries": [{"id": "good/3", "digest": _digest(good), "stage": "production"}]}))
    private, public = write_key(ws.root / "keys", "gate")
    records = ws.root / "records"
    records.mkdir()
    code = main(["check", str(manifest), "--registry", str(ws.root / "registry.yaml"), "--attest",
                 str(records / "decisions.intoto.jsonl"), "--attest-key", str(private), "-q", *AS_OF])
    assert code == EXIT_FINDINGS  # the bad artifact
    return {"ws": ws, "good": _digest(good), "bad": _digest(bad), "records": records, "private": private,
            "public": public, "model": ws.mirror / "good"}


def _admit(gate, target=None, digest=None, records=None, *extra):
    return main(["admit", str(target or gate["model"]), "--records", str(records or gate["records"]),
                 "--key", str(gate["public"]), "--digest", digest or gate["good"], *extra])


def _copy(gate, tmp_path):
    copy = tmp_path / "volume"
    shutil.copytree(gate["model"], copy)
    return copy


def test_good_bytes_are_admitted(gate, capsys):
    assert _admit(gate) == EXIT_PASS
    out = capsys.readouterr().out
    assert f"admitted {gate['good']}" in out and "2 file(s)" in out


def test_the_decision_record_carries_the_file_list_and_registry_entry(gate):
    line = (gate["records"] / "decisions.intoto.jsonl").read_text().splitlines()[0]
    statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
    extension = statement["predicate"]["weightgate"]
    files = extension["files"]
    assert [f["path"] for f in files] == ["config.json", "model.safetensors"]
    assert artifact_digest((f["path"], f["sha256"], f["size"]) for f in files) == gate["good"]
    assert extension["registryEntry"] == {"registry": "mlflow", "id": "good/3", "stage": "production"}


@pytest.mark.parametrize(("change", "refusal", "words"), [
    ("flip", Refusal.CHANGED, "not the bytes the gate passed: model.safetensors"),
    ("missing", Refusal.MISSING, "missing from"),
    ("extra-pickle", Refusal.EXTRA, "not in the decision record, and a loader could pick them up: extra.pkl"),
    ("symlink", Refusal.EXTRA, "weights.bin (symlink to model.safetensors)"),
    ("longer", Refusal.CHANGED, "model.safetensors"),
])
def test_changed_folders_are_refused(gate, tmp_path, capsys, change, refusal, words):
    volume = _copy(gate, tmp_path)
    model = volume / "model.safetensors"
    if change == "flip":
        data = bytearray(model.read_bytes())
        data[-1] ^= 1
        model.write_bytes(bytes(data))
    elif change == "missing":
        (volume / "config.json").unlink()
    elif change == "extra-pickle":
        (volume / "extra.pkl").write_bytes(b"\x80\x04N.")
    elif change == "symlink":
        (volume / "weights.bin").symlink_to("model.safetensors")
    elif change == "longer":
        model.write_bytes(model.read_bytes() + b"\0")
    assert _admit(gate, volume) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert f"refused ({refusal.value})" in out and words in out, out
    assert out.count("refused (") == 1, out


def test_a_near_miss_subfolder_file_that_is_recorded_is_admitted(ws, tmp_path):
    """A file in a subfolder is part of the list like any other: listing recurses, and admits it."""
    art = ws.artifact("nested", files={"onnx/model.safetensors": safetensors_bytes(4), "config.json": b"{}"})
    private, public = write_key(ws.root / "keys", "gate")
    out = ws.root / "d.jsonl"
    main(["check", str(ws.write_manifest([art])), "--attest", str(out), "--attest-key", str(private), "-q", *AS_OF])
    assert main(["admit", str(ws.mirror / "nested"), "--records", str(out), "--key", str(public), "--digest",
                 _digest(art)]) == EXIT_PASS


def test_a_failed_record_is_refused(gate, capsys):
    assert _admit(gate, gate["ws"].mirror / "bad", gate["bad"]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "refused (failed-record)" in out and "FAILED" in out and "WG6" in out  # the license rule


def test_records_for_another_digest_are_refused(gate, tmp_path, capsys):
    only_bad = tmp_path / "only-bad.jsonl"
    lines = (gate["records"] / "decisions.intoto.jsonl").read_text().splitlines()
    names = [json.loads(base64.b64decode(json.loads(line)["payload"]))["subject"][0]["name"] for line in lines]
    only_bad.write_text("".join(line + "\n" for line, name in zip(lines, names, strict=True) if name == "bad"))
    assert _admit(gate, records=only_bad) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "refused (no-record-for-digest)" in out and gate["bad"] in out


def test_a_record_signed_by_another_key_is_refused(gate, tmp_path, capsys):
    other_private, _ = write_key(tmp_path / "other", "other")
    forged = tmp_path / "forged"
    main(["check", str(gate["ws"].root / "manifest.yaml"), "--registry", str(gate["ws"].root / "registry.yaml"),
          "--attest", str(forged / "d.jsonl"), "--attest-key",
          str(other_private), "-q", *AS_OF])
    assert _admit(gate, records=forged) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "refused (untrusted-signer)" in out and "signed by another key" in out


def test_a_policy_digest_not_accepted_is_refused_and_the_right_one_admits(gate, capsys):
    line = (gate["records"] / "decisions.intoto.jsonl").read_text().splitlines()[0]
    policy = json.loads(base64.b64decode(json.loads(line)["payload"]))["predicate"]["policy"]["digest"]["sha256"]
    assert _admit(gate, None, None, None, "--policy-digest", "sha256:" + "0" * 64) == EXIT_FINDINGS
    assert "refused (policy-not-accepted)" in capsys.readouterr().out
    assert _admit(gate, None, None, None, "--policy-digest", f"sha256:{policy}") == EXIT_PASS


def _signed_at(gate) -> datetime.datetime:
    """When the gate's run signed its records: the machine's clock, which ages count from (not --as-of)."""
    line = (gate["records"] / "decisions.intoto.jsonl").read_text().splitlines()[0]
    statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
    return datetime.datetime.fromisoformat(statement["predicate"]["weightgate"]["signedAt"].replace("Z", "+00:00"))


def test_an_expired_record_is_refused_and_a_fresh_one_admits(gate):
    signed = _signed_at(gate)
    request = AdmitRequest(str(gate["model"]), str(gate["records"]),
                           load_public_key(gate["public"].read_bytes(), str(gate["public"])), gate["good"],
                           max_age=parse_max_age("7d"), now=signed + datetime.timedelta(days=8))
    refused = admit(request)
    assert [p.refusal for p in refused.problems] == [Refusal.EXPIRED]
    assert "longer ago than the maximum age (7 days" in refused.problems[0].message
    fresh = admit(AdmitRequest(**{**request.__dict__, "now": signed + datetime.timedelta(days=6)}))
    assert fresh.admitted and fresh.files == 2


def test_an_expired_record_is_refused_from_the_command_line(gate, tmp_path, capsys):
    line = (gate["records"] / "decisions.intoto.jsonl").read_text().splitlines()[0]
    statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
    statement["predicate"]["weightgate"]["signedAt"] = (_signed_at(gate) - datetime.timedelta(days=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    old = tmp_path / "old.jsonl"
    old.write_text(json.dumps(sign_statement(statement, load_signer(gate["private"].read_bytes(), "k"))) + "\n")
    assert _admit(gate, None, None, old, "--max-age", "1d") == EXIT_FINDINGS
    assert "refused (expired-record)" in capsys.readouterr().out


def test_a_record_without_a_file_list_is_refused(gate, tmp_path, capsys):
    """Records written before admit existed name the digest but not the files: nothing to compare with."""
    line = (gate["records"] / "decisions.intoto.jsonl").read_text().splitlines()[0]
    statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
    del statement["predicate"]["weightgate"]["files"]
    old = tmp_path / "old.jsonl"
    old.write_text(json.dumps(sign_statement(statement, load_signer(gate["private"].read_bytes(), "k"))) + "\n")
    assert _admit(gate, records=old) == EXIT_FINDINGS
    assert "refused (no-file-list)" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["records", "target"])
def test_unreachable_storage_fails_closed(gate, tmp_path, capsys, where):
    nowhere = tmp_path / "does-not-exist"
    code = _admit(gate, records=nowhere) if where == "records" else _admit(gate, nowhere)
    assert code == EXIT_FINDINGS
    assert "refused (unreachable)" in capsys.readouterr().out


def test_a_network_location_that_cannot_be_reached_fails_closed(gate, capsys):
    # Port 9 (discard) on 127.0.0.1: nothing listens, and https:// mirrors have no listing anyway.
    assert _admit(gate, "https://127.0.0.1:9/models/good") == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "refused (unreachable)" in out


def test_usage_errors_exit_2(gate):
    assert _admit(gate, None, "not-a-digest") == EXIT_INPUT_ERROR
    assert _admit(gate, None, None, None, "--max-age", "soon") == EXIT_INPUT_ERROR
    assert _admit(gate, None, None, None, "--record-to", "x") == EXIT_INPUT_ERROR  # no key
    assert _admit(gate, None, None, None, "--record-to", "x", "--record-key", str(gate["private"])) \
        == EXIT_INPUT_ERROR  # no service / environment


def test_an_admitted_deployment_leaves_a_signed_record(gate, tmp_path, capsys):
    deploy_private, deploy_public = write_key(tmp_path / "deploy", "deploy")
    out = tmp_path / "deployments"
    assert _admit(gate, None, None, None, "--record-to", str(out), "--record-key", str(deploy_private),
                  "--service", "fraud-api", "--environment", "production", "--target", "eu-1",
                  "--host", "fraud-api-7d9f") == EXIT_PASS
    (written,) = out.iterdir()
    assert written.name.startswith(gate["good"].removeprefix("sha256:")) and "fraud-api-7d9f" in written.name
    signer = load_public_key(deploy_public.read_bytes(), str(deploy_public))
    verified = verify_record(written.read_bytes().strip(), [signer], {DEPLOYMENT_PREDICATE_TYPE})
    statement = verified.statement
    assert statement["subject"] == [{"name": "good", "digest": {"sha256": gate["good"].removeprefix("sha256:")}}]
    predicate = statement["predicate"]
    assert (predicate["service"], predicate["environment"], predicate["target"], predicate["host"]) == \
        ("fraud-api", "production", "eu-1", "fraud-api-7d9f")
    assert predicate["registryEntry"]["id"] == "good/3" and predicate["files"] == 2
    assert predicate["decision"]["verificationResult"] == "PASSED"
    assert schema_errors("deployment", predicate) == []  # the published contract (`weightgate schema deployment`)
    assert predicate["decision"]["uri"].endswith("decisions.intoto.jsonl")
    assert len(predicate["decision"]["digest"]["sha256"]) == 64
    assert f"deployment record: {written.as_uri()}" in capsys.readouterr().out


def test_a_refused_deployment_writes_no_record(gate, tmp_path):
    deploy_private, _ = write_key(tmp_path / "deploy", "deploy")
    out = tmp_path / "deployments"
    volume = _copy(gate, tmp_path)
    (volume / "extra.pkl").write_bytes(b"N.")
    assert _admit(gate, volume, None, None, "--record-to", str(out), "--record-key", str(deploy_private),
                  "--service", "s", "--environment", "e") == EXIT_FINDINGS
    assert not out.exists()


@pytest.mark.parametrize(("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("7", 7 * 86400)])
def test_max_age_forms(text, seconds):
    assert parse_max_age(text).total_seconds() == seconds


def test_allow_extra_lets_through_only_matching_plain_files(gate, tmp_path, capsys):
    volume = _copy(gate, tmp_path)
    (volume / "evals").mkdir()
    (volume / "evals" / "report.json").write_text("{}")
    assert _admit(gate, volume, None, None, "--allow-extra", "evals/*.json") == EXIT_PASS
    (volume / "evals" / "model.pkl").write_bytes(b"N.")  # near miss: not matched by the glob
    (volume / "evals" / "link.json").symlink_to("../model.safetensors")  # matched, but a symlink never passes
    capsys.readouterr()
    assert _admit(gate, volume, None, None, "--allow-extra", "evals/*.json") == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "evals/model.pkl" in out and "evals/link.json (symlink" in out and "report.json" not in out


def test_other_kinds_of_record_signed_by_other_keys_are_not_called_untrusted(gate, tmp_path, capsys):
    """Deployment records (signed by the deploy key) beside decisions for another digest: the refusal names the
    digests, and does not blame a foreign signer for records that are not decisions about this artifact."""
    deploy_private, _ = write_key(tmp_path / "deploy", "deploy")
    mixed = tmp_path / "mixed"
    assert _admit(gate, None, None, None, "--record-to", str(mixed), "--record-key", str(deploy_private),
                  "--service", "s", "--environment", "e") == EXIT_PASS
    lines = (gate["records"] / "decisions.intoto.jsonl").read_text().splitlines()
    names = [json.loads(base64.b64decode(json.loads(line)["payload"]))["subject"][0]["name"] for line in lines]
    (mixed / "bad.jsonl").write_text("".join(line + "\n" for line, n in zip(lines, names, strict=True) if n == "bad"))
    capsys.readouterr()
    assert _admit(gate, records=mixed) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "refused (no-record-for-digest)" in out and "untrusted" not in out


def test_file_names_are_escaped_in_refusals(gate, tmp_path, capsys):
    volume = _copy(gate, tmp_path)
    (volume / "evil\x1b[2J\u202e.pkl").write_bytes(b"N.")
    assert _admit(gate, volume) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "evil\\x1b[2J\\u202e.pkl" in out
