"""`weightgate trail` and `inventory --deployments/--since`, on records written by the real commands: `check
--attest --bom`, `approve`, `attest-eval` and `admit --record-to`."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import safetensors_bytes
from evidence.signing import write_key
from weightgate.cli import main
from weightgate.exitcodes import EXIT_INPUT_ERROR, EXIT_PASS
from weightgate.facts import artifact_digest

HOSTILE = "\x1b[31mred\u202e ::error::owned | [x](http://evil) ```"


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    from conftest import Workspace

    ws = Workspace(tmp_path_factory.mktemp("trail"))
    good = ws.artifact("fraud", files={"model.safetensors": safetensors_bytes(8)})
    manifest = ws.write_manifest([good])
    digest = _digest(good)
    keys = ws.root / "keys"
    gate_private, gate_public = write_key(keys, "gate")
    reviewer_private, reviewer_public = write_key(keys, "reviewer")
    eval_private, eval_public = write_key(keys, "eval")
    deploy_private, deploy_public = write_key(keys, "deploy")
    records = ws.root / "records"
    assert main(["check", str(manifest), "--attest", str(records / "decisions.intoto.jsonl"), "--attest-key",
                 str(gate_private), "--bom", str(ws.root / "fraud.cdx.json"), "-q"]) == 0
    assert main(["approve", str(manifest), "--artifact", "fraud", "--role", "security", "--key", str(reviewer_private),
                 "--reviewer", "sec@example.com", "--ticket", "CHG-42", "--justification", HOSTILE,
                 "--store", str(records)]) == 0
    results = ws.root / "eval.json"
    results.write_text(json.dumps({"artifact_digest": digest, "suite": "safety", "metrics": {"refusal": 0.98},
                                   "passed": True}))
    assert main(["attest-eval", str(results), "--digest", digest, "--key", str(eval_private), "--artifact", "fraud",
                 "-o", str(records / "eval.intoto.jsonl")]) == 0
    for environment, host in (("staging", "fraud-api-s1"), ("production", "fraud-api-p1")):
        assert main(["admit", str(ws.mirror / "fraud"), "--records", str(records / "decisions.intoto.jsonl"),
                     "--key", str(gate_public), "--digest", digest, "--record-to", str(records / "deployments"),
                     "--record-key", str(deploy_private), "--service", "fraud-api", "--environment", environment,
                     "--target", "eu-1", "--host", host]) == 0
    policy = ws.root / "policy.yaml"
    policy.write_text(yaml.safe_dump({"apiVersion": "weightgate.dev/v1", "kind": "Policy", "approvals": {
        "reviewers": {"security": {"signers": [{"identity": "sec@example.com", "key": str(reviewer_public)}]}}},
        "eval_evidence": {"signers": [{"identity": "evals@example.com", "key": str(eval_public)}]}}))
    return {"ws": ws, "digest": digest, "records": records, "bom": ws.root / "fraud.cdx.json", "policy": policy,
            "keys": [str(gate_public), str(deploy_public)], "deploy_public": deploy_public}


def _trail(history, *extra, keys=True, policy=True):
    args = ["trail", "--records", str(history["records"]), "--bom", str(history["bom"])]
    if keys:
        args += [a for k in history["keys"] for a in ("--key", k)]
    if policy:
        args += ["--policy", str(history["policy"])]
    return main([*args, *extra])


def test_trail_json_has_every_kind_of_event_verified(history, capsys):
    assert _trail(history, "--artifact", "fraud", "--format", "json") == EXIT_PASS
    document = json.loads(capsys.readouterr().out)
    (artifact,) = document["artifacts"]
    assert artifact["digest"] == history["digest"] and artifact["artifacts"] == ["fraud"]
    kinds = sorted(e["kind"] for e in artifact["events"])
    assert kinds == ["decision", "deployment", "deployment", "eval", "gate-run", "review"]
    verified = {e["kind"]: e["signer"] for e in artifact["events"] if e["verified"]}
    assert verified["review"].startswith("sec@example.com") and verified["eval"].startswith("evals@example.com")
    assert "gate" in verified["decision"] and "deploy" in verified["deployment"]
    assert artifact["environments"] == ["production", "staging"]
    assert artifact["lastValidation"].endswith("Z")
    assert artifact["requests"][0]["ticket"] == "CHG-42"


def test_trail_escapes_record_text_in_every_format(history, capsys):
    for fmt in ("table", "json", "markdown"):
        assert _trail(history, "--format", fmt) == EXIT_PASS
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\u202e" not in out and "\n::error" not in out, fmt
    assert _trail(history, "--format", "markdown") == EXIT_PASS
    markdown = capsys.readouterr().out
    assert "](http" not in markdown and "\\[x\\]" in markdown


def test_trail_markdown_has_a_mermaid_timeline(history, capsys):
    assert _trail(history, "--digest", history["digest"], "--format", "markdown") == EXIT_PASS
    out = capsys.readouterr().out
    timeline = out.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert timeline.startswith("timeline\n")
    assert "deployment deployed to fraud-api in production (eu-1) on fraud-api-p1" in timeline
    for line in timeline.splitlines()[2:]:
        assert line.count(":") == 1, line  # one label separator; record text cannot add sections


def test_records_no_key_verifies_are_claims(history, capsys):
    assert _trail(history, "--format", "json", keys=False, policy=False) == EXIT_PASS
    events = json.loads(capsys.readouterr().out)["artifacts"][0]["events"]
    assert not any(e["verified"] for e in events)
    assert all(e["notVerifiedBecause"] for e in events)


def test_trail_by_environment(history, capsys):
    assert _trail(history, "--environment", "production") == EXIT_PASS
    assert history["digest"] in capsys.readouterr().out
    assert _trail(history, "--environment", "canary") == EXIT_PASS
    assert "0 digest(s)" in capsys.readouterr().out


def test_trail_table(history, capsys):
    assert _trail(history) == EXIT_PASS
    out = capsys.readouterr().out
    assert "last validation: 20" in out and "deployed to: production, staging" in out
    assert "approved as security by sec@example.com (CHG-42)" in out and "request: CHG-42:" in out


def test_an_unreadable_source_is_an_error_not_silence(history, tmp_path, capsys):
    assert main(["trail", "--records", str(tmp_path / "missing")]) == EXIT_INPUT_ERROR
    assert "cannot be" in capsys.readouterr().err
    assert main(["trail"]) == EXIT_INPUT_ERROR


def _inventory(history, *extra):
    return main(["inventory", "--deployments", str(history["records"] / "deployments"), "--deployment-key",
                 str(history["deploy_public"]), *extra])


def test_inventory_lists_deployments_in_a_window(history, capsys):
    assert _inventory(history, "--format", "json", "--since", "2026-01-01", "--as-of", "2099-12-31") == EXIT_PASS
    rows = json.loads(capsys.readouterr().out)["deployments"]
    assert sorted((r["environment"], r["host"]) for r in rows) == [("production", "fraud-api-p1"),
                                                                    ("staging", "fraud-api-s1")]
    assert all(r["digest"] == history["digest"] and r["registry_entry"] == "" for r in rows)


def test_inventory_window_excludes_other_days(history, capsys):
    assert _inventory(history, "--format", "json", "--since", "2020-01-01", "--as-of", "2020-12-31") == EXIT_PASS
    assert json.loads(capsys.readouterr().out)["deployments"] == []


def test_inventory_counts_only_records_the_key_verifies(history, capsys):
    other = write_key(history["ws"].root / "other", "other")[1]
    assert main(["inventory", "--deployments", str(history["records"] / "deployments"), "--deployment-key",
                 str(other)]) == EXIT_PASS
    out = capsys.readouterr().out
    assert "0 deployments" in out and "2 deployment records ignored" in out


def test_inventory_deployment_usage(history, capsys):
    assert main(["inventory", "--since", "2026-01-01"]) == EXIT_INPUT_ERROR
    assert main(["inventory", "--deployments", "x"]) == EXIT_INPUT_ERROR  # no key
    assert main(["inventory"]) == EXIT_INPUT_ERROR


def test_records_parsed_on_threads_come_back_as_parsed_in_turn():
    # Issue 18: large sources are parsed on threads in slices; every verdict and its order must be unchanged.
    from cryptography.hazmat.primitives.asymmetric import ec
    from securesystemslib.signer import CryptoSigner

    from weightgate.evidence.deployment import DEPLOYMENT_PREDICATE_TYPE
    from weightgate.evidence.dsse import STATEMENT_TYPE, TrustedSigner, sign_statement
    from weightgate.evidence.records import RecordLine
    from weightgate.trail import PARALLEL_MIN_RECORDS, parse_records

    key = ec.generate_private_key(ec.SECP256R1())
    signer, other = CryptoSigner(key), CryptoSigner(ec.generate_private_key(ec.SECP256R1()))
    lines = []
    for i in range(PARALLEL_MIN_RECORDS + 7):
        statement = {"_type": STATEMENT_TYPE, "subject": [{"name": f"m{i}", "digest": {"sha256": f"{i:064x}"}}],
                     "predicateType": DEPLOYMENT_PREDICATE_TYPE, "predicate": {"service": f"s{i}"}}
        data = json.dumps(sign_statement(statement, other if i % 97 == 0 else signer)).encode()
        lines.append(RecordLine("records.jsonl", i + 1, b"not json" if i % 501 == 0 else data))
    trusted = [TrustedSigner("key deploy.pub", key=key.public_key())]
    in_turn = parse_records(lines, trusted, None, workers=1)
    on_threads = parse_records(lines, trusted, None, workers=3)
    assert on_threads == in_turn
    assert sum(p is None for p in in_turn) == len(range(0, len(lines), 501))
    assert sum(p is not None and not p.verified for p in in_turn) > 0
