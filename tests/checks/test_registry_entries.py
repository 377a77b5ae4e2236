"""WG621-WG624: the registry entry a manifest names exists in the file-based registry, carries the same
digest (and stage), and is in a production-eligible stage."""

import pytest
import yaml

from conftest import rule_ids
from weightgate.facts import artifact_digest
from weightgate.registry import RegistryLookups


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


def _registry(ws, *entries, name="mlflow"):
    path = ws.root / "registry.yaml"
    doc = {"apiVersion": "weightgate.dev/v1", "kind": "ModelRegistry", "name": name, "entries": list(entries)}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _setup(ws, stage="production", digest=None, entry_stage="production", **entry_fields):
    art = ws.artifact("m", registry_entry={"registry": "mlflow", "id": "m/4", "stage": entry_stage})
    _registry(ws, {"id": "m/4", "digest": digest or _digest(art), "stage": stage, **entry_fields})
    return art, ws.write_policy(registry={"file": "registry.yaml"})


def test_entry_with_this_digest_in_production_passes(ws):
    art, policy = _setup(ws)
    report = ws.check(ws.write_manifest([art]), policy=policy)
    assert rule_ids(report) == []
    record = report.governance.registry.record("m")
    assert record is not None and record.stage == "production"


def test_entry_missing(ws):
    art, policy = _setup(ws)
    art["registry_entry"]["id"] = "m/5"
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=policy)) == ["WG621"]


@pytest.mark.parametrize(("setup", "message"), [
    ({"digest": "sha256:" + "0" * 64}, "carries digest sha256:000"),
    ({"entry_stage": "staging", "stage": "production"}, "is in stage 'production' in the registry, not 'staging'"),
    ({"approvals": [{"approver": "bot", "digest": "sha256:" + "1" * 64}]}, "approval by bot of another digest"),
])
def test_entry_that_disagrees_with_the_manifest(ws, setup, message):
    art, policy = _setup(ws, **setup)
    report = ws.check(ws.write_manifest([art]), policy=policy)
    assert rule_ids(report) == ["WG622"]
    assert message in report.active_findings[0].message


def test_entry_naming_another_registry(ws):
    art, policy = _setup(ws)
    art["registry_entry"]["registry"] = "sagemaker"
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=policy)) == ["WG622"]


def test_entry_not_in_a_production_stage(ws):
    art, policy = _setup(ws, stage="staging", entry_stage="staging")
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=policy)) == ["WG623"]
    eligible = ws.write_policy(registry={"file": "registry.yaml", "production_stages": ["production", "staging"]})
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=eligible)) == []


def test_no_registry_configured_fails_closed(ws):
    art, _ = _setup(ws)
    assert rule_ids(ws.check(ws.write_manifest([art]))) == ["WG624"]


def test_unreadable_registry_is_one_finding_at_the_policy(ws):
    art, policy = _setup(ws)
    (ws.root / "registry.yaml").write_text("kind: ModelRegistry\nentries: {not: a list}\n")
    report = ws.check(ws.write_manifest([art]), policy=policy)
    assert rule_ids(report) == ["WG624"]
    assert report.active_findings[0].location.path.endswith("policy.yaml")
    assert "`entries` must be a list" in report.active_findings[0].message


def test_registry_option_overrides_the_policy(ws):
    art, policy = _setup(ws)
    other = ws.root / "elsewhere.yaml"
    other.write_text(yaml.safe_dump({"kind": "ModelRegistry", "entries": []}))
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=policy, registry=other)) == ["WG621"]


def test_offline_runs_do_not_consult_the_registry(ws):
    art, policy = _setup(ws, stage="staging")
    report = ws.check(ws.write_manifest([art]), policy=policy, offline=True)
    assert rule_ids(report) == []
    assert report.governance.registry == RegistryLookups(offline=True)
