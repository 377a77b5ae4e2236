"""examples/gitlab-shards-ci.yml run for real by gitlab-ci-local in a shell: `parallel: 3` shard jobs hand their
shard files as artifacts to the merge job, which publishes the reports of the single job in examples/gitlab-ci.yml
with the same findings and fingerprints; a shard job that fails leaves no shard file, and the merge (which runs
anyway, `when: always`) refuses the missing shard with exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from integration.conftest import commit_all, copy_working_tree, git, git_env, require_tool
from integration.test_gitlab import REPORTS, assert_same_findings, reports_of

PIPELINE = "examples/gitlab-shards-ci.yml"
SINGLE_JOB = "examples/gitlab-ci.yml"
MERGE_JOB = "weightgate"
SHARD_JOBS = [f"weightgate-shard: [{index}/3]" for index in (1, 2, 3)]
EXIT_FINDINGS, EXIT_ERROR = 1, 2
# Each job in its own build folder, artifacts copied in and out, as on separate runners. Without it every job of
# gitlab-ci-local's shell executor runs in the project folder itself and sees the others' files.
ISOLATED = "--shell-isolation"
@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return copy_working_tree(tmp_path_factory.mktemp("gitlab-shards") / "project")


def gitlab_ci_local(project: Path, pipeline: str, *args: str, path: tuple[Path, ...] = ()) -> tuple[
        subprocess.CompletedProcess[str], Path]:
    """The whole pipeline (every job) in a shell, from a clean state; returns the run and the artifacts folder."""
    tool = require_tool("gitlab-ci-local", "npm, via scripts/install-ci-tools")
    subprocess.run(["rm", "-rf", *(str(project / name) for name in (".gitlab-ci-local", "shards", *REPORTS))],
                   check=True)
    search = os.pathsep.join([*map(str, path), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**git_env(project), "PATH": search}
    env.pop("GITHUB_ACTIONS", None)
    result = subprocess.run([tool, "--file", pipeline, "--no-color", "--force-shell-executor", *args], cwd=project,
                            env=env, capture_output=True, text=True, check=False, timeout=300)
    return result, project / ".gitlab-ci-local" / "artifacts"


def job_results(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """gitlab-ci-local's closing table: job name -> PASS or FAIL."""
    return {m[2].strip(): m[1] for m in re.finditer(r"^ (PASS|FAIL) +(\S.*?)\s*$", result.stdout, re.M)}


def job_log(project: Path, job: str) -> str:
    return (project / ".gitlab-ci-local" / "output" / f"{job}.log").read_text()


def shard_files(artifacts: Path) -> list[str]:
    """The shard files the shard jobs exported, over all of them."""
    return sorted(p.name for p in artifacts.glob("weightgate-shard*/shards/*.json"))


@pytest.fixture(scope="module")
def single_job(project) -> dict[str, object]:
    result, artifacts = gitlab_ci_local(project, SINGLE_JOB, MERGE_JOB)
    assert result.returncode == EXIT_FINDINGS, result.stdout + result.stderr
    return reports_of(artifacts / MERGE_JOB)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("isolation", [pytest.param((), id="shared-folder"),
                                       pytest.param((ISOLATED,), id="isolated")])
def test_three_shards_and_the_merge_publish_the_single_jobs_findings(project, single_job, isolation):
    result, artifacts = gitlab_ci_local(project, PIPELINE, *isolation)
    assert job_results(result) == {**dict.fromkeys(SHARD_JOBS, "PASS"), MERGE_JOB: "FAIL"}, result.stdout
    assert result.returncode == EXIT_FINDINGS, result.stdout + result.stderr
    assert sorted(set(shard_files(artifacts))) == ["1.json", "2.json", "3.json"]
    for job in SHARD_JOBS:  # each node verified its own share: CI_NODE_INDEX/CI_NODE_TOTAL reached --shard
        index = job[-4]
        assert re.search(rf"^{re.escape(job)} > weightgate shard {index}/3: \d+ file", result.stdout, re.M)
    merged = reports_of(artifacts / MERGE_JOB)
    # The same findings with the same identities as one job: GitLab keeps one issue per finding across the switch.
    assert assert_same_findings(merged) == assert_same_findings(single_job)
    assert merged["gl-code-quality-report.json"] == single_job["gl-code-quality-report.json"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_failed_shard_makes_the_merge_refuse_the_missing_shard(project, tmp_path):
    """Shard 2's runner is lost (its weightgate exits 2 and writes nothing): the merge still runs, by `when:
    always`, and refuses to judge the manifest without shard 2's files."""
    lost = tmp_path / "bin"
    lost.mkdir()
    (lost / "weightgate").write_text(
        '#!/bin/sh\nif [ "${CI_NODE_INDEX:-}" = 2 ]; then echo "runner lost" >&2; exit 2; fi\n'
        f'exec "{Path(sys.executable).parent / "weightgate"}" "$@"\n')
    (lost / "weightgate").chmod(0o755)
    result, artifacts = gitlab_ci_local(project, PIPELINE, ISOLATED, path=(lost,))
    jobs = job_results(result)
    assert jobs == {SHARD_JOBS[0]: "PASS", SHARD_JOBS[1]: "FAIL", SHARD_JOBS[2]: "PASS", MERGE_JOB: "FAIL"}, \
        result.stdout
    assert shard_files(artifacts) == ["1.json", "3.json"]
    output = result.stdout + result.stderr  # gitlab-ci-local reports a failed job's exit code on standard error
    assert re.search(rf"^{MERGE_JOB} +finished in .* FAIL {EXIT_ERROR}\b", output, re.M), output
    assert "weightgate: error: shard(s) 2 of 3 missing" in job_log(project, MERGE_JOB)
    assert not (artifacts / MERGE_JOB / "gl-code-quality-report.json").exists()  # no verdict on part of the files

    # Near miss: without `when: always` GitLab skips the merge, and the gate job never says why.
    pipeline = project / PIPELINE
    original = pipeline.read_text()
    pipeline.write_text(original.replace("\n  when: always\n", "\n", 1))
    try:
        skipped, _ = gitlab_ci_local(project, PIPELINE, ISOLATED, path=(lost,))
    finally:
        pipeline.write_text(original)
    assert MERGE_JOB not in job_results(skipped), skipped.stdout


@pytest.mark.integration
@pytest.mark.slow
def test_merge_request_shards_and_merge_read_the_policy_of_the_base_commit(tmp_path_factory):
    """The merge request relaxes the policy. Both jobs read it at CI_MERGE_REQUEST_DIFF_BASE_SHA: the shard files
    and the merge agree on the policy (a shard on the relaxed one would be refused), and the gate still fails."""
    project = copy_working_tree(tmp_path_factory.mktemp("gitlab-shards-mr") / "project")
    base = git(project, "rev-parse", "HEAD").strip()
    policy = project / "examples" / "policy.yaml"
    policy.write_text(policy.read_text().replace("fail_on: error", "fail_on: never"))
    commit_all(project, "relax the gate")
    result, artifacts = gitlab_ci_local(project, PIPELINE, "--variable", f"CI_MERGE_REQUEST_DIFF_BASE_SHA={base}")
    assert result.returncode == EXIT_FINDINGS, result.stdout + result.stderr
    quality = json.loads((artifacts / MERGE_JOB / "gl-code-quality-report.json").read_text())
    notes = [i for i in quality if i["check_name"].startswith("WG645")]
    assert len(notes) == 1 and notes[0]["location"]["path"] == "examples/policy.yaml"
