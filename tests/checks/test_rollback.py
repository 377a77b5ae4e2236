"""WG625-WG626: a rollback target is approved as its own bytes and its bytes verify; both findings land on
the artifact that names the rollback."""

from conftest import rule_ids, safetensors_bytes
from weightgate.facts import artifact_digest


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


def _pair(ws):
    v1 = ws.artifact("v1", files={"model.safetensors": safetensors_bytes(4)})
    v2 = ws.artifact("v2", files={"model.safetensors": safetensors_bytes(8)}, rollback="v1")
    return v1, v2


def test_approved_verified_rollback_passes(ws):
    assert rule_ids(ws.check(ws.write_manifest(list(_pair(ws))))) == []


def test_rollback_approved_as_other_bytes(ws):
    v1, v2 = _pair(ws)
    v1["approvals"][0]["digest"] = _digest(v2)  # approved, but as the new version's digest
    report = ws.check(ws.write_manifest([v1, v2]))
    assert [(f.rule.id, f.artifact_id) for f in report.active_findings] == [("WG602", "v1"), ("WG625", "v2")]
    rollback = report.active_findings[1]
    assert "rollback target 'v1'" in rollback.message and _digest(v1) in rollback.message


def test_rollback_without_approvals(ws):
    v1, v2 = _pair(ws)
    v1["approvals"] = []
    assert rule_ids(ws.check(ws.write_manifest([v1, v2]))) == ["WG601", "WG625"]


def test_rollback_whose_bytes_changed_names_it_on_the_artifact_that_relies_on_it(ws):
    v1, v2 = _pair(ws)
    (ws.mirror / "v1" / "model.safetensors").write_bytes(safetensors_bytes(5)[:len(safetensors_bytes(4))])
    report = ws.check(ws.write_manifest([v1, v2]))
    by = {(f.rule.id, f.artifact_id) for f in report.active_findings}
    assert ("WG626", "v2") in by and ("WG305", "v1") in by
    rollback = next(f for f in report.active_findings if f.rule.id == "WG626")
    assert "model.safetensors (differs from its pin)" in rollback.message
    assert dict(rollback.evidence) == {"rollback": "v1"}


def test_rollback_file_missing(ws):
    v1, v2 = _pair(ws)
    (ws.mirror / "v1" / "model.safetensors").unlink()
    report = ws.check(ws.write_manifest([v1, v2]))
    assert "WG626" in rule_ids(report)
    assert "(missing)" in next(f for f in report.active_findings if f.rule.id == "WG626").message


def test_offline_does_not_claim_the_rollback_was_verified_or_not(ws):
    v1, v2 = _pair(ws)
    (ws.mirror / "v1" / "model.safetensors").unlink()
    assert rule_ids(ws.check(ws.write_manifest([v1, v2]), offline=True)) == []
