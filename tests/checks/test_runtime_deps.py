"""WG701-WG707: runtime dependencies of the models, matched against a pinned OSV snapshot of real advisories."""

from __future__ import annotations

import datetime
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import Workspace, rule_ids, safetensors_bytes
from runtime.osv import FRESH_DAY, TORCH_WEIGHTS_ONLY, real_records, write_zip
from weightgate.rules import Severity

RUNTIME_RULES = {"WG701", "WG702", "WG703", "WG704", "WG705", "WG706", "WG707"}


def runtime_ids(report) -> list[str]:
    return [i for i in rule_ids(report) if i in RUNTIME_RULES]


def _artifact(ws: Workspace, requirements: bytes, name: str = "requirements.txt") -> dict[str, Any]:
    return ws.artifact("m", files={"model.safetensors": safetensors_bytes(), name: requirements})


def _service(environment: str = "production", **fields: Any) -> dict[str, Any]:
    return {"name": "svc", "environment": environment, "artifacts": ["m"], **fields}


def _policy(ws: Workspace, members: dict[str, bytes] | None = None, **advisories: Any) -> Path:
    sha = write_zip(ws.root / "advisories" / "osv.zip", members)
    return ws.write_policy(advisories={"snapshot": "advisories/osv.zip", "sha256": sha, **advisories})


def _check(ws: Workspace, artifact: dict[str, Any], service: dict[str, Any] | None = None, *,
           policy: Path | None = None, day: datetime.date = FRESH_DAY):
    manifest = ws.write_manifest([artifact], services=[service or _service()])
    return ws.check(manifest, policy=policy or _policy(ws), today=day)


def _lock(ws: Workspace, text: str, name: str = "uv.lock") -> dict[str, str]:
    (ws.root / name).write_text(text)
    return {"lock": name, "sha256": hashlib.sha256(text.encode()).hexdigest()}


UV_LOCK = 'version = 1\n[[package]]\nname = "torch"\nversion = "{torch}"\n[[package]]\nname = "app"\n' \
          'source = {{ virtual = "." }}\n'


def test_vulnerable_torch_in_an_artifacts_requirements(ws):
    report = _check(ws, _artifact(ws, b"torch==2.5.1\nsafetensors==0.4.5\n"))
    assert runtime_ids(report) == ["WG702"]
    (finding,) = [f for f in report.active_findings if f.rule.id == "WG702"]
    assert finding.severity is Severity.CRITICAL  # CVSS 9.8, from the advisory's vector
    assert "PYSEC-2025-41 (CVE-2025-32434, GHSA-53q9-r3pm-6pq6)" in finding.message
    assert "fixed in 2.6.0" in finding.message
    assert "2.6.0" in finding.fix_text
    assert finding.artifact_id == "m"
    assert finding.file_path == "requirements.txt"
    assert dict(finding.evidence)["advisory"] == TORCH_WEIGHTS_ONLY


def test_vulnerable_torch_in_a_services_lock(ws):
    service = _service(runtime=_lock(ws, UV_LOCK.format(torch="2.5.1")))
    report = _check(ws, ws.artifact("m"), service)
    assert runtime_ids(report) == ["WG702"]
    (finding,) = [f for f in report.active_findings if f.rule.id == "WG702"]
    assert finding.message.startswith("svc: uv.lock:3 pins torch==2.5.1")
    assert finding.location.path.endswith("manifest.yaml")


@pytest.mark.parametrize("torch", ["2.6.0", "2.7.1"])
def test_a_fixed_version_passes(ws, torch):
    service = _service(runtime=_lock(ws, UV_LOCK.format(torch=torch)))
    report = _check(ws, _artifact(ws, f"torch=={torch}\n".encode()), service)
    assert runtime_ids(report) == []
    assert report.runtime is not None
    assert report.runtime.snapshot.status.value == "loaded"


def test_other_real_advisories_and_their_severities(ws):
    requirements = b"transformers==4.30.0\nkeras==3.7.0\nllama-cpp-python==0.2.60\nonnx==1.15.0\n"
    report = _check(ws, _artifact(ws, requirements))
    found = {dict(f.evidence)["advisory"]: f.severity for f in report.active_findings if f.rule.id == "WG702"}
    assert set(found) == {"PYSEC-2024-227", "PYSEC-2025-40", "PYSEC-2025-121", "PYSEC-2025-122", "PYSEC-2026-2546",
                          "PYSEC-2026-392", "PYSEC-2024-222"}
    assert found["PYSEC-2025-40"] is Severity.HIGH  # CVSS 7.5 (availability only)
    assert found["PYSEC-2024-222"] is Severity.HIGH  # CVSS 7.5


def test_an_unpinned_requirement_in_production(ws):
    report = _check(ws, _artifact(ws, b"torch>=2.6\ntransformers\nsafetensors==0.4.5\n"))
    assert runtime_ids(report) == ["WG701", "WG701"]
    messages = " ".join(f.message for f in report.active_findings if f.rule.id == "WG701")
    assert "`torch>=2.6`" in messages
    assert "`transformers` (any version)" in messages


def test_an_unpinned_requirement_outside_production_is_a_near_miss(ws):
    report = _check(ws, _artifact(ws, b"torch>=2.6\n"), _service("staging"))
    assert runtime_ids(report) == []


def test_production_environments_come_from_the_policy(ws):
    policy = _policy(ws, production_environments=["prod-*"])
    report = _check(ws, _artifact(ws, b"torch>=2.6\n"), _service("prod-eu"), policy=policy)
    assert runtime_ids(report) == ["WG701"]


def test_advisories_older_than_48_hours(ws):
    report = _check(ws, _artifact(ws, b"torch==2.6.0\n"), day=FRESH_DAY + datetime.timedelta(days=2))
    assert runtime_ids(report) == ["WG703"]
    (finding,) = [f for f in report.active_findings if f.rule.id == "WG703"]
    assert "the advisory clock ran out: 48 h" in finding.message
    assert dict(finding.evidence)["clock"] == "advisories.max_age_hours"
    assert finding.location.path.endswith("policy.yaml")


def test_max_age_comes_from_the_policy(ws):
    policy = _policy(ws, max_age_hours=24 * 30)
    report = _check(ws, _artifact(ws, b"torch==2.6.0\n"), policy=policy, day=FRESH_DAY + datetime.timedelta(days=20))
    assert runtime_ids(report) == []


@pytest.mark.parametrize(("members", "reason"), [
    ({}, "none for a PyPI package"),
    ({"x.json": b"{broken"}, "not JSON"),
], ids=["empty", "broken"])
def test_a_broken_snapshot_is_a_finding_never_no_vulnerabilities(ws, members, reason):
    report = _check(ws, _artifact(ws, b"torch==2.5.1\n"), policy=_policy(ws, members))
    assert runtime_ids(report) == ["WG704"]
    (finding,) = [f for f in report.active_findings if f.rule.id == "WG704"]
    assert reason in finding.message
    assert "1 runtime requirement(s) were not checked" in finding.message


def test_an_oversize_snapshot_record(ws):
    from weightgate.runtime.advisories import MAX_RECORD_BYTES

    members = {**real_records(), "big.json": b" " * (MAX_RECORD_BYTES + 1)}
    report = _check(ws, _artifact(ws, b"torch==2.5.1\n"), policy=_policy(ws, members))
    assert runtime_ids(report) == ["WG704"]


def test_a_snapshot_that_is_not_the_pinned_bytes(ws):
    policy = _policy(ws)
    write_zip(ws.root / "advisories" / "osv.zip", {k: v for k, v in real_records().items() if "2025-41" not in k})
    report = _check(ws, _artifact(ws, b"torch==2.5.1\n"), policy=policy)
    assert runtime_ids(report) == ["WG704"]
    assert "the policy pins" in report.active_findings[0].message or any(
        "the policy pins" in f.message for f in report.active_findings)


def test_a_missing_snapshot(ws):
    policy = ws.write_policy(advisories={"snapshot": "nowhere.zip", "sha256": "0" * 64})
    report = _check(ws, _artifact(ws, b"torch==2.5.1\n"), policy=policy)
    assert runtime_ids(report) == ["WG704"]


def test_no_snapshot_configured(ws):
    report = _check(ws, _artifact(ws, b"torch==2.5.1\n"), policy=ws.write_policy())
    assert runtime_ids(report) == ["WG707"]


def test_no_dependencies_no_snapshot_needed(ws):
    report = _check(ws, ws.artifact("m"), policy=ws.write_policy(advisories={"snapshot": "nowhere.zip",
                                                                            "sha256": "0" * 64}))
    assert runtime_ids(report) == []


@pytest.mark.parametrize("tamper", ["changed", "missing"])
def test_a_service_lock_that_is_not_the_pinned_bytes(ws, tamper):
    runtime = _lock(ws, UV_LOCK.format(torch="2.6.0"))
    if tamper == "changed":
        (ws.root / "uv.lock").write_text(UV_LOCK.format(torch="2.5.1"))
    else:
        (ws.root / "uv.lock").unlink()
    report = _check(ws, ws.artifact("m"), _service(runtime=runtime))
    assert runtime_ids(report) == ["WG705"]


def test_lines_that_are_not_requirements(ws):
    report = _check(ws, _artifact(ws, b"torch==2.6.0\n-r base.txt\ngit+https://example.com/x.git\n"))
    assert runtime_ids(report) == ["WG706"]
    (finding,) = [f for f in report.active_findings if f.rule.id == "WG706"]
    assert "line 2: -r base.txt is not followed" in finding.message


@pytest.mark.parametrize(("name", "text"), [
    ("pyproject.toml", b'[project]\nname = "m"\ndependencies = ["torch==2.5.1"]\n'),
    ("setup.cfg", b"[options]\ninstall_requires =\n    torch==2.5.1\n"),
    ("environment.yml", b"dependencies:\n  - pip:\n    - torch==2.5.1\n"),
    ("requirements-serve.txt", b"torch==2.5.1\n"),
])
def test_each_artifact_dependency_file(ws, name, text):
    report = _check(ws, _artifact(ws, text, name))
    assert runtime_ids(report) == ["WG702"]


def test_offline_reads_no_artifact_bytes(ws):
    manifest = ws.write_manifest([_artifact(ws, b"torch==2.5.1\n")], services=[_service()])
    report = ws.check(manifest, policy=_policy(ws), today=FRESH_DAY, offline=True)
    assert runtime_ids(report) == []


def test_a_lock_outside_the_repository_is_never_read(ws, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "uv.lock"
    text = UV_LOCK.format(torch="2.5.1")
    outside.write_text(text)
    relative = os.path.relpath(outside, ws.root)
    service = _service(runtime={"lock": relative, "sha256": hashlib.sha256(text.encode()).hexdigest()})
    report = _check(ws, ws.artifact("m"), service)
    assert runtime_ids(report) == ["WG705"]


def test_a_lock_elsewhere_in_the_repository(ws):
    (ws.root / "deploy").mkdir()
    (ws.root / "serving").mkdir()
    text = UV_LOCK.format(torch="2.5.1")
    (ws.root / "serving" / "uv.lock").write_text(text)
    service = _service(runtime={"lock": "../serving/uv.lock", "sha256": hashlib.sha256(text.encode()).hexdigest()})
    manifest = ws.write_manifest([ws.artifact("m")], services=[service], name="deploy/manifest.yaml",
                                 mirror_base="../mirror")
    report = ws.check(manifest, policy=_policy(ws), today=FRESH_DAY)
    assert runtime_ids(report) == ["WG702"]


def test_a_vulnerable_requirement_is_waived_for_one_artifact_digest(ws):
    from weightgate.facts import artifact_digest

    art = _artifact(ws, b"torch==2.5.1\n")
    digest = artifact_digest((e["path"], e["sha256"], e["size"]) for e in art["files"])
    waiver = {"rule": "WG702", "digest": digest, "reason": "torch.load is never called (SEC-9)",
              "expires": "2026-12-31", "approved_by": "sec@example.com"}
    sha = write_zip(ws.root / "advisories" / "osv.zip")
    policy = ws.write_policy(advisories={"snapshot": "advisories/osv.zip", "sha256": sha}, waivers=[waiver])
    report = _check(ws, art, policy=policy)
    assert runtime_ids(report) == []
    assert [f.rule.id for f in report.findings if f.waived_by] == ["WG702"]
