"""models:/ mirrors and the MLflow registry backend against a real MLflow tracking server (REST only)."""

from __future__ import annotations

import pytest

from conftest import safetensors_bytes
from mirror.netcase import line_of, mirror_ids, mirror_policy, only
from weightgate.mirror.settings import MirrorSettings
from weightgate.pin import pin_manifest
from weightgate.registry.mlflow import MlflowRegistry

pytestmark = [pytest.mark.server, pytest.mark.mlflow]

WEIGHTS = safetensors_bytes(12)
FILES = {"model.safetensors": WEIGHTS, "config.json": b'{"layers": 2}'}


def _policy(ws, mlflow_server):
    return mirror_policy(ws, None, allow_http=True, mlflow_tracking_uri=mlflow_server.url)


def _mlflow_artifact(ws, mlflow_server, name, mirror=None, alias=None):
    version = mlflow_server.register(name, FILES, alias=alias)
    uri = f"models:/{name}/{version}"
    art = ws.artifact(name, FILES, mirror=mirror or uri, source={"registry": "mlflow", "uri": mirror or uri})
    return art, version


def test_model_version_resolves_to_its_run_and_verifies(ws, mlflow_server):
    art, _ = _mlflow_artifact(ws, mlflow_server, "mlf-ok")
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws, mlflow_server))
    assert mirror_ids(report) == []
    uris = [f.uri for f in report.facts[0].files]
    assert all(u.startswith("mlflow-artifacts:/") and "/artifacts/model/" in u for u in uris), uris


def test_tampered_run_artifact_is_caught(ws, mlflow_server):
    art, version = _mlflow_artifact(ws, mlflow_server, "mlf-tampered")
    mv = mlflow_server.api("GET", f"model-versions/get?name=mlf-tampered&version={version}")["model_version"]
    run_root = mv["source"].rsplit("/model", 1)[0]
    mlflow_server.upload(run_root, "model/model.safetensors", WEIGHTS[:-1] + b"\1")
    path = ws.write_manifest([art])
    report = ws.check(path, policy=_policy(ws, mlflow_server))
    assert mirror_ids(report) == ["WG305"]
    assert line_of(path, report, "WG305") == "- path: model.safetensors"


def test_alias_is_mutable_and_pin_resolves_it(ws, mlflow_server):
    art, version = _mlflow_artifact(ws, mlflow_server, "mlf-alias", mirror="models:/mlf-alias@champion",
                                    alias="champion")
    path = ws.write_manifest([art])
    report = ws.check(path, policy=_policy(ws, mlflow_server))
    assert mirror_ids(report) == ["WG201", "WG308"]
    assert "weightgate pin" in only(report, "WG308").message
    result = pin_manifest(path, _policy(ws, mlflow_server))
    assert not result.problems
    assert result.updated.count(f"models:/mlf-alias/{version}") == 2  # source.uri and mirror
    path.write_text(result.updated)
    assert mirror_ids(ws.check(path, policy=_policy(ws, mlflow_server))) == []


def test_plain_http_tracking_server_needs_the_policy(ws, mlflow_server):
    art, _ = _mlflow_artifact(ws, mlflow_server, "mlf-http")
    policy = mirror_policy(ws, None, mlflow_tracking_uri=mlflow_server.url)
    assert mirror_ids(ws.check(ws.write_manifest([art]), policy=policy)) == ["WG206", "WG308"]


def test_registry_entries(mlflow_server):
    version = mlflow_server.register("mlf-registry", FILES)
    digest = "sha256:" + "ab" * 32
    mlflow_server.api("POST", "model-versions/set-tag", {"name": "mlf-registry", "version": version,
                                                          "key": "weightgate.digest", "value": digest})
    mlflow_server.api("POST", "model-versions/set-tag", {"name": "mlf-registry", "version": version,
                                                          "key": "weightgate.stage", "value": "Production"})
    registry = MlflowRegistry(MirrorSettings(allow_http=True, mlflow_tracking_uri=mlflow_server.url))
    record = registry.entry(f"mlf-registry/{version}")
    assert record is not None and (record.digest, record.stage) == (digest, "production")
    assert registry.entry("mlf-registry/999") is None
    assert registry.entry("no-such-model/1") is None


def test_gate_checks_registry_entries_against_mlflow(ws, mlflow_server):
    """With `registry.backend: mlflow`, the manifest's registry entry must exist in MLflow, be in a production
    stage and carry the verified digest (set as the `weightgate.digest` tag at promotion)."""
    from weightgate.facts import artifact_digest

    art, version = _mlflow_artifact(ws, mlflow_server, "mlf-gate")
    art["registry_entry"] = {"registry": "mlflow", "id": f"mlf-gate/{version}", "stage": "production"}
    digest = artifact_digest((e["path"], e["sha256"], e["size"]) for e in art["files"])
    policy = ws.write_policy(mirrors={"allow_http": True, "mlflow_tracking_uri": mlflow_server.url},
                             registry={"backend": "mlflow"})

    def registry_ids():
        report = ws.check(ws.write_manifest([art]), policy=policy)
        return sorted(f.rule.id for f in report.active_findings if f.rule.id in ("WG621", "WG622", "WG623", "WG624"))

    assert set(registry_ids()) == {"WG622", "WG623"}  # no digest tag yet, and not in a production stage
    for key, value in (("weightgate.digest", digest), ("weightgate.stage", "production")):
        mlflow_server.api("POST", "model-versions/set-tag", {"name": "mlf-gate", "version": version,
                                                              "key": key, "value": value})
    assert registry_ids() == []
    art["registry_entry"]["id"] = "mlf-gate/999"
    assert registry_ids() == ["WG621"]


def test_run_artifacts_beside_the_pinned_ones(ws, mlflow_server):
    art, version = _mlflow_artifact(ws, mlflow_server, "mlf-extra")
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws, mlflow_server))
    assert report.governance.listings["mlf-extra"].listed == 2  # near miss: only the pinned files
    mv = mlflow_server.api("GET", f"model-versions/get?name=mlf-extra&version={version}")["model_version"]
    run_root = mv["source"].rsplit("/model", 1)[0]
    mlflow_server.upload(run_root, "model/code/modeling_x.py", b"import os\n")
    mlflow_server.upload(run_root, "model/notes.txt", b"notes")
    mlflow_server.upload(run_root, "elsewhere.txt", b"outside the model folder")
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws, mlflow_server))
    assert [(f.rule.id, f.file_path) for f in report.active_findings if f.rule.id in ("WG309", "WG310")] == [
        ("WG309", "code/modeling_x.py"), ("WG310", "notes.txt")]
