"""The GitHub reporter: job summary, annotations and step outputs, read back the way the runner reads them."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from weightgate.cli import main
from weightgate.errors import OutputError
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_PASS
from weightgate.findings import Finding, Location
from weightgate.report import github
from weightgate.report.github import (
    MAX_ANNOTATIONS,
    MAX_SUMMARY_BYTES,
    GithubAnnotationsReporter,
    GithubSummaryReporter,
    annotation,
    escape_data,
    escape_property,
    format_outputs,
    markdown_text,
    publish,
    step_outputs,
)
from weightgate.rules import FILE_MISSING, MIRROR_NOT_APPROVED, RULES, Severity

HOSTILE = "a%0Ab\r\n::error::pwned, x: y %25 `code` [link](javascript:alert(1)) <img src=x> | cell @team"


# --- how the runner reads what we write (actions/runner ActionCommand and its file commands) ---------------

def _unescape(text: str, prop: bool) -> str:
    # The runner unescapes %25 last, so an escaped "%0A" in the input stays the four characters "%0A".
    for escaped, raw in (("%0D", "\r"), ("%0A", "\n")) + ((("%3A", ":"), ("%2C", ",")) if prop else ()):
        text = text.replace(escaped, raw)
    return text.replace("%25", "%")


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    match = re.fullmatch(r"::(\w[\w-]*)(?: ([^:]*))?::(.*)", line)
    assert match, f"not a workflow command: {line!r}"
    command, props, data = match.groups()
    properties = {}
    for pair in (props or "").split(","):
        if pair:
            key, _, value = pair.partition("=")
            properties[key] = _unescape(value, prop=True)
    return command, properties, _unescape(data, prop=False)


def parse_output_file(text: str) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        if "<<" in line:
            name, delimiter = line.split("<<", 1)
            value = []
            for body in lines:
                if body == delimiter:
                    break
                value.append(body)
            else:
                raise AssertionError(f"unterminated value for {name}")
            outputs[name] = "\n".join(value)
        else:
            name, _, value = line.partition("=")
            outputs[name] = value
    return outputs


def hostile(report, **changes) -> Finding:
    base = dict(rule=MIRROR_NOT_APPROVED, message=HOSTILE, location=Location(str(report.manifest.path), 7),
                artifact_id="evil|id")
    return Finding(**{**base, **changes})


# --- escaping ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "data", "prop"), [
    ("plain", "plain", "plain"),
    ("100%", "100%25", "100%25"),
    ("a\nb", "a%0Ab", "a%0Ab"),
    ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
    ("a%0Ab", "a%250Ab", "a%250Ab"),  # already-escaped text stays text
    ("k: v, w", "k: v, w", "k%3A v%2C w"),
])
def test_workflow_command_escaping(raw, data, prop):
    assert escape_data(raw) == data
    assert escape_property(raw) == prop
    assert _unescape(escape_data(raw), prop=False) == raw
    assert _unescape(escape_property(raw), prop=True) == raw


def test_markdown_text_is_literal_and_one_line():
    text = markdown_text("a\nb [x](javascript:y) <img src=x> | `c` *d* @team")
    assert "\n" not in text
    assert not re.search(r"(?<!\\)[\[\]()<>|`*@]", text), "every markup character is escaped"
    assert re.sub(r"\\(.)", r"\1", text) == "a b [x](javascript:y) <img src=x> | `c` *d* @team"


# --- annotations -------------------------------------------------------------------------------------------

def test_annotations_point_at_manifest_lines(report):
    lines = GithubAnnotationsReporter().render(report).splitlines()
    assert len(lines) == len(report.active_findings) == 2  # the waived finding is not annotated
    parsed = [parse_command(line) for line in lines]
    by_rule = {props["title"].split()[0]: (command, props, message) for command, props, message in parsed}
    command, props, message = by_rule[FILE_MISSING.id]
    finding = next(f for f in report.findings if f.rule is FILE_MISSING)
    assert command == "error"
    assert props["file"] == "deploy/models.yaml"
    assert props["line"] == str(finding.location.line)
    assert props["title"] == f"{FILE_MISSING.id} {FILE_MISSING.name} (high)"
    assert message == f"{finding.message}\nFix: {FILE_MISSING.fix}"
    assert by_rule[MIRROR_NOT_APPROVED.id][1]["col"] == "5"


def test_hostile_text_stays_inside_one_annotation(report):
    finding = hostile(report)
    line = annotation(report, finding)
    assert "\n" not in line and "\r" not in line
    command, props, message = parse_command(line)
    assert command == "error"
    assert set(props) == {"file", "line", "title"}
    assert message.startswith(HOSTILE + "\nFix: ")


@pytest.mark.parametrize(("severity", "command"), [
    (Severity.CRITICAL, "error"), (Severity.HIGH, "error"), (Severity.MEDIUM, "warning"), (Severity.LOW, "notice"),
])
def test_annotation_command_follows_level(report, severity, command):
    line = annotation(report, hostile(report, severity_override=severity))
    assert parse_command(line)[0] == command


def test_location_outside_the_workspace_is_not_attached_to_a_file(report, tmp_path):
    outside = hostile(report, location=Location(str(tmp_path.parent / "elsewhere.yaml"), 3))
    props = parse_command(annotation(report, outside))[1]
    assert "file" not in props and "line" not in props


def test_annotations_are_capped_most_severe_first(report):
    many = [hostile(report, message=f"m{i}", severity_override=Severity.MEDIUM) for i in range(MAX_ANNOTATIONS)]
    critical = hostile(report, message="worst", severity_override=Severity.CRITICAL)
    lines = GithubAnnotationsReporter().render(dataclasses.replace(report, findings=(*many, critical))).splitlines()
    assert len(lines) == MAX_ANNOTATIONS + 1
    assert parse_command(lines[0])[2].startswith("worst")
    command, _, message = parse_command(lines[-1])
    assert command == "notice" and message.startswith("1 more findings")


# --- job summary -------------------------------------------------------------------------------------------

def test_summary_has_verdict_artifacts_findings_and_lineage(report):
    summary = GithubSummaryReporter().render(report)
    assert summary.startswith("## ❌ weightgate: FAIL · deploy\\/models\\.yaml")
    assert "| 0 | 2 | 0 | 0 | 1 |" in summary  # critical, high, medium, low, waived
    table = summary.split("### Artifacts", 1)[1].split("### Findings", 1)[0]
    for facts in report.facts:
        artifact = report.manifest.artifact(facts.artifact_id)
        row = next(r for r in table.splitlines() if r.startswith(f"| {markdown_text(artifact.id)} |"))
        assert f"| {markdown_text(artifact.artifact_class)} |" in row
        if facts.digest:
            assert f"`{facts.digest[:19]}`" in row
    assert "| support\\-ft | fine\\-tune | not verified |" in table  # a file is missing: no digest to show
    assert "❌ fail (1 high)" in table and "✅ pass |" in table
    findings = summary.split("### Findings", 1)[1]
    assert "#### Medium" not in findings  # the only medium finding is waived
    assert findings.index("#### High (2)") < findings.index("#### Waived (1)")
    assert f"**Fix:** {markdown_text(FILE_MISSING.fix)}" in findings
    assert "**Waived** until 2024\\-07\\-31" in findings
    assert "```mermaid\nflowchart" in summary and summary.rstrip().endswith("```")


def test_summary_links_locations_to_the_commit(report):
    summary = GithubSummaryReporter("https://github.com/o/r/blob/abc").render(report)
    line = next(f.location.line for f in report.findings if f.rule is FILE_MISSING)
    assert f"(https://github.com/o/r/blob/abc/deploy/models.yaml#L{line})" in summary


def test_summary_escapes_manifest_text(report):
    summary = GithubSummaryReporter().render(dataclasses.replace(report, findings=(hostile(report),)))
    findings = summary.split("### Findings", 1)[1].split("### Lineage", 1)[0]
    assert not re.search(r"(?<!\\)(<img|`code`|\]\(javascript)", findings)
    assert "evil\\|id" in summary


def test_summary_without_lineage_or_findings(report):
    manifest = report.manifest
    flat = dataclasses.replace(manifest, artifacts=tuple(dataclasses.replace(a, base_models=())
                                                          for a in manifest.artifacts))
    summary = GithubSummaryReporter().render(dataclasses.replace(report, manifest=flat, findings=()))
    assert "## ✅ weightgate: PASS" in summary and "No findings." in summary and "mermaid" not in summary


def test_summary_stays_under_githubs_limit(report):
    many = tuple(hostile(report, message=f"{i} " + "x" * 2000) for i in range(600))
    summary = GithubSummaryReporter().render(dataclasses.replace(report, findings=many))
    assert len(summary.encode()) < MAX_SUMMARY_BYTES + 64 * 1024
    assert re.search(r"_\d+ more findings do not fit in a job summary", summary)


def test_offline_summary_says_no_bytes_were_read(report):
    summary = GithubSummaryReporter().render(dataclasses.replace(report, facts=(), offline=True))
    assert "offline: no artifact bytes read" in summary and "not read \\(offline\\)" not in summary
    assert "not read (offline)" in summary


# --- outputs -----------------------------------------------------------------------------------------------

def test_outputs_round_trip_through_the_runner_parser(report, tmp_path):
    outputs = step_outputs([report], tmp_path / "w.sarif", None)
    assert outputs["result"] == "fail"
    assert json.loads(outputs["findings"]) == {"critical": 0, "high": 2, "medium": 0, "low": 0}  # one waived
    assert outputs["sarif-file"] == str(tmp_path / "w.sarif") and outputs["bom-file"] == ""
    assert parse_output_file(format_outputs(outputs)) == outputs


def test_a_value_cannot_end_its_own_fence(monkeypatch):
    tokens = iter(["a" * 32, "b" * 32])
    monkeypatch.setattr(github.secrets, "token_hex", lambda n: next(tokens))
    value = f"x\nghadelimiter_{'a' * 32}\nresult=pass"
    text = format_outputs({"sarif-file": value})
    assert parse_output_file(text) == {"sarif-file": value}


def test_delimiters_are_fresh_and_names_checked():
    assert format_outputs({"a": "1"}) != format_outputs({"a": "1"})
    with pytest.raises(ValueError, match="invalid output name"):
        format_outputs({"a\nb": "1"})


def test_outputs_of_several_reports_add_up(report):
    passing = dataclasses.replace(report, findings=())
    assert step_outputs([passing], None, None)["result"] == "pass"
    both = step_outputs([report, report], None, None)
    assert both["result"] == "fail" and json.loads(both["findings"])["high"] == 4


def test_publish_appends_to_the_runner_files(report, tmp_path):
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    summary.write_text("earlier step\n")
    output.write_text("other=1\n")
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    annotations = publish([report], env, tmp_path / "w.sarif")
    assert summary.read_text().startswith("earlier step\n## ❌ weightgate: FAIL")
    outputs = parse_output_file(output.read_text())
    assert outputs["other"] == "1" and outputs["result"] == "fail"
    assert annotations == GithubAnnotationsReporter().render(report)


def test_publish_outside_a_runner_writes_nothing(report):
    assert publish([report], {}) == GithubAnnotationsReporter().render(report)


def test_unwritable_runner_file_is_an_output_error(report, tmp_path):
    with pytest.raises(OutputError, match="cannot append"):
        publish([report], {"GITHUB_OUTPUT": str(tmp_path)})


# --- through the CLI ---------------------------------------------------------------------------------------

@pytest.fixture
def runner_env(tmp_path, monkeypatch):
    files = {"GITHUB_OUTPUT": tmp_path / "output", "GITHUB_STEP_SUMMARY": tmp_path / "summary.md"}
    for name, path in files.items():
        path.touch()
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    return files


@pytest.fixture
def bad_manifest(ws):
    return ws.write_manifest([ws.artifact("a", files={"m.pkl": b"\x80\x04K\x01."})])


def test_cli_in_actions_shields_the_report_and_annotates(ws, bad_manifest, runner_env, capsys):
    assert main(["check", str(bad_manifest), "--as-of", "2026-11-26", "--source-root", str(ws.root)]) == EXIT_FINDINGS
    out = capsys.readouterr().out.splitlines()
    token = out[0].removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    end = out.index(f"::{token}::")
    assert any("WG401" in line for line in out[1:end])
    annotations = [parse_command(line) for line in out[end + 1:]]
    assert annotations and all(props["file"] == bad_manifest.name for _, props, _ in annotations)
    assert parse_output_file(runner_env["GITHUB_OUTPUT"].read_text())["result"] == "fail"
    assert "weightgate: FAIL" in runner_env["GITHUB_STEP_SUMMARY"].read_text()


def test_cli_no_github_flag_and_no_runner(bad_manifest, runner_env, capsys, monkeypatch):
    main(["check", str(bad_manifest), "--as-of", "2026-11-26", "--no-github"])
    monkeypatch.delenv("GITHUB_ACTIONS")
    main(["check", str(bad_manifest), "--as-of", "2026-11-26"])
    assert "::" not in capsys.readouterr().out
    assert runner_env["GITHUB_OUTPUT"].read_text() == ""


def test_cli_checks_several_manifests(ws, bad_manifest, capsys, tmp_path):
    clean = ws.write_manifest([ws.artifact("b")], name="clean.yaml")
    assert main(["check", str(clean), "--as-of", "2026-11-26"]) == EXIT_PASS
    assert main(["check", str(clean), str(bad_manifest), "--as-of", "2026-11-26"]) == EXIT_FINDINGS
    assert main(["check", str(clean), str(bad_manifest), "--sarif", str(tmp_path / "x.sarif")]) == EXIT_INPUT_ERROR
    assert "take one manifest" in capsys.readouterr().err


def test_every_rule_renders(report):
    findings = tuple(hostile(report, rule=rule) for rule in RULES.values())
    rendered = dataclasses.replace(report, findings=findings)
    assert len(GithubAnnotationsReporter().render(rendered).splitlines()) == min(len(RULES), MAX_ANNOTATIONS + 1)
    assert all(f"[{rule.id}]" in GithubSummaryReporter().render(rendered) for rule in RULES.values())


def test_paths_in_outputs_are_as_given(report):
    outputs = step_outputs([report], Path("reports/w.sarif"), Path("reports/w.cdx.json"))
    assert (outputs["sarif-file"], outputs["bom-file"]) == ("reports/w.sarif", "reports/w.cdx.json")
