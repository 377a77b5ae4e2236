"""examples/gitlab-ci.yml run for real by gitlab-ci-local: in a shell, and in the image with podman. The job
fails on the example's planted problems and still exports both reports GitLab ingests, and the Code Quality
report and the SARIF of the same run describe the same findings with the same fingerprints, run after run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integration.conftest import BASE_IMAGE, commit_all, copy_working_tree, git, git_env, require_tool
from weightgate.report.sarif import FINGERPRINT_KEY

JOB = "weightgate"
REPORTS = ("gl-code-quality-report.json", "gl-sbom-weightgate.cdx.json", "weightgate.sarif")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return copy_working_tree(tmp_path_factory.mktemp("gitlab") / "project")


def gitlab_ci_local(project: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    tool = require_tool("gitlab-ci-local", "npm, via scripts/install-ci-tools")
    artifacts = project / ".gitlab-ci-local" / "artifacts" / JOB
    subprocess.run(["rm", "-rf", str(project / ".gitlab-ci-local")], check=True)
    env = {**git_env(project), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("GITHUB_ACTIONS", None)
    result = subprocess.run([tool, "--file", "examples/gitlab-ci.yml", "--no-color", *args, JOB], cwd=project,
                            env=env, capture_output=True, text=True, check=False, timeout=900)
    return result, artifacts


def reports_of(artifacts: Path) -> dict[str, object]:
    assert sorted(p.name for p in artifacts.iterdir()) == sorted(REPORTS)
    return {name: json.loads((artifacts / name).read_text()) for name in REPORTS}


def assert_same_findings(reports: dict[str, object]) -> set[str]:
    quality = reports["gl-code-quality-report.json"]
    sarif = reports["weightgate.sarif"]["runs"][0]["results"]
    unsuppressed = {r["partialFingerprints"][FINGERPRINT_KEY]: r for r in sarif if "suppressions" not in r}
    issues = {i["fingerprint"]: i for i in quality}
    assert issues.keys() == unsuppressed.keys()
    for fingerprint, issue in issues.items():
        location = unsuppressed[fingerprint]["locations"][0]["physicalLocation"]
        assert issue["location"]["path"] == location["artifactLocation"]["uri"] == "examples/deployment.yaml"
        assert issue["location"]["lines"]["begin"] == location["region"]["startLine"]
        assert issue["check_name"].split()[0] == unsuppressed[fingerprint]["ruleId"]
    assert {"WG305", "WG401", "WG201"} <= {i["check_name"].split()[0] for i in quality}
    bom = reports["gl-sbom-weightgate.cdx.json"]
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    return set(issues)


@pytest.mark.integration
@pytest.mark.slow
def test_pipeline_in_a_shell_fails_and_publishes_both_reports(project):
    result, artifacts = gitlab_ci_local(project, "--force-shell-executor")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout and "exported artifacts" in result.stdout
    first = assert_same_findings(reports_of(artifacts))
    commit_all(project, "a later commit")  # a new run, a new pipeline: the same findings keep their identity
    result, artifacts = gitlab_ci_local(project, "--force-shell-executor")
    assert assert_same_findings(reports_of(artifacts)) == first


@pytest.mark.integration
@pytest.mark.slow
def test_merge_request_pipeline_applies_the_policy_of_the_base_commit(tmp_path_factory):
    """The merge request relaxes the policy; the job reads it at CI_MERGE_REQUEST_DIFF_BASE_SHA, still fails on
    the planted problems, and notes the edit (WG645) in the Code Quality report."""
    project = copy_working_tree(tmp_path_factory.mktemp("gitlab-mr") / "project")
    base = git(project, "rev-parse", "HEAD").strip()
    policy = project / "examples" / "policy.yaml"
    policy.write_text(policy.read_text().replace("fail_on: error", "fail_on: never"))
    commit_all(project, "relax the gate")
    relaxed, _ = gitlab_ci_local(project, "--force-shell-executor")
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
    result, artifacts = gitlab_ci_local(project, "--force-shell-executor", "--variable",
                                        f"CI_MERGE_REQUEST_DIFF_BASE_SHA={base}")
    assert result.returncode == 1, result.stdout + result.stderr
    quality = reports_of(artifacts)["gl-code-quality-report.json"]
    notes = [i for i in quality if i["check_name"].startswith("WG645")]
    assert len(notes) == 1 and notes[0]["location"]["path"] == "examples/policy.yaml"
    assert base[:12] in notes[0]["description"]


@pytest.mark.container
@pytest.mark.slow
def test_pipeline_in_the_image_with_podman(project, weightgate_image):
    result, artifacts = gitlab_ci_local(project, "--container-executable", "podman", "--helper-image", BASE_IMAGE,
                                        "--variable", f"WEIGHTGATE_IMAGE={weightgate_image}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"starting {weightgate_image}" in result.stdout
    in_image = assert_same_findings(reports_of(artifacts))
    _, shell_artifacts = gitlab_ci_local(project, "--force-shell-executor")
    assert in_image == assert_same_findings(reports_of(shell_artifacts))
