"""WG401-WG405 through the gate: the real format from the bytes, judged by the policy."""

import json
import pickle

from conftest import rule_ids, safetensors_bytes

PICKLE = pickle.dumps({"weight": [0.1, 0.2]}, protocol=4)


def test_pickle_is_prohibited_and_critical(ws):
    report = ws.check(ws.write_manifest([ws.artifact("a", files={"model.pkl": PICKLE})]))
    assert rule_ids(report) == ["WG401"]
    assert report.active_findings[0].severity.value == "critical"


def test_pickle_named_safetensors_is_a_mismatch_and_prohibited(ws):
    report = ws.check(ws.write_manifest([ws.artifact("a", files={"model.safetensors": PICKLE})]))
    assert rule_ids(report) == ["WG401", "WG404"]


def test_declared_format_disagreeing_with_content(ws):
    art = ws.artifact("a", files={"weights": safetensors_bytes()})
    art["files"][0]["format"] = "gguf"
    assert rule_ids(ws.check(ws.write_manifest([art]))) == ["WG404"]
    art["files"][0]["format"] = "safetensors"
    assert rule_ids(ws.check(ws.write_manifest([art]))) == []


def test_sandbox_format_is_a_warning(ws):
    policy = ws.write_policy(formats={"safetensors": "sandbox"})
    report = ws.check(ws.write_manifest([ws.artifact("a")]), policy=policy)
    assert rule_ids(report) == ["WG402"]
    assert report.active_findings[0].level.value == "warning"
    assert not report.failed  # fail_on error by default
    failing = ws.write_policy(formats={"safetensors": "sandbox"}, fail_on="warning")
    assert ws.check(ws.write_manifest([ws.artifact("a")]), policy=failing).failed


def test_unknown_format_is_not_silently_permitted(ws):
    blob = bytes(range(256)) * 4
    report = ws.check(ws.write_manifest([ws.artifact("a", files={"blob.dat": blob})]))
    assert rule_ids(report) == ["WG403"]


def test_permitting_a_format_in_policy(ws):
    policy = ws.write_policy(formats={"pickle": "permitted"})
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("a", files={"m.pkl": PICKLE})]), policy=policy)) == []


def test_malformed_safetensors_is_reported(ws):
    bad = safetensors_bytes()[:-2]  # data region shorter than the header claims
    report = ws.check(ws.write_manifest([ws.artifact("a", files={"model.safetensors": bad})]))
    assert "WG405" in rule_ids(report)


def test_json_and_text_files_pass(ws):
    files = {"config.json": json.dumps({"a": 1}).encode(), "README.md": b"# model\n", "model.safetensors":
             safetensors_bytes()}
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("a", files=files)]))) == []
