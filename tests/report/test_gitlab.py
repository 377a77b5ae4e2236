"""GitLab Code Quality: the fields GitLab reads, the severity mapping, and the same findings as SARIF."""

from __future__ import annotations

import dataclasses
import datetime
import json

import jsonschema
import pytest

from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS
from weightgate.findings import Finding, Location
from weightgate.report.gitlab import SEVERITIES, GitlabCodeQualityReporter
from weightgate.report.sarif import FINGERPRINT_KEY, SarifReporter
from weightgate.rules import FILE_MISSING, Severity

# The CodeClimate subset GitLab documents for artifacts:reports:codequality ("Implement a custom tool").
CODE_QUALITY_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "pattern": "^[^/]"},
                    "lines": {"type": "object", "required": ["begin"],
                              "properties": {"begin": {"type": "integer", "minimum": 1}}},
                },
            },
        },
    },
}


def issues(report) -> list[dict]:
    doc = json.loads(GitlabCodeQualityReporter().render(report))
    jsonschema.validate(doc, CODE_QUALITY_SCHEMA)
    return doc


def test_one_issue_per_unwaived_finding(report):
    found = issues(report)
    assert len(found) == len(report.active_findings) == 2
    missing = next(i for i in found if i["check_name"].startswith(FILE_MISSING.id))
    finding = next(f for f in report.findings if f.rule is FILE_MISSING)
    assert missing["check_name"] == f"{FILE_MISSING.id} {FILE_MISSING.name}"
    assert missing["description"] == f"{FILE_MISSING.id} {FILE_MISSING.name}: {finding.message}"
    assert FILE_MISSING.fix in missing["content"]["body"]
    assert missing["severity"] == "critical"  # high
    assert missing["location"] == {"path": "deploy/models.yaml", "lines": {"begin": finding.location.line}}
    assert missing["fingerprint"] == finding.fingerprint


def test_describes_the_same_findings_as_sarif(report):
    sarif = json.loads(SarifReporter().render(report))["runs"][0]["results"]
    unsuppressed = {r["partialFingerprints"][FINGERPRINT_KEY]: r for r in sarif if "suppressions" not in r}
    found = {i["fingerprint"]: i for i in issues(report)}
    assert found.keys() == unsuppressed.keys()
    for fingerprint, issue in found.items():
        result = unsuppressed[fingerprint]
        location = result["locations"][0]["physicalLocation"]
        assert issue["check_name"].split()[0] == result["ruleId"]
        assert issue["location"]["path"] == location["artifactLocation"]["uri"]
        assert issue["location"]["lines"]["begin"] == location["region"]["startLine"]


def test_fingerprints_are_stable_across_runs_and_line_moves(report):
    later = dataclasses.replace(report, timestamp=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc))
    assert GitlabCodeQualityReporter().render(later) == GitlabCodeQualityReporter().render(report)
    moved = dataclasses.replace(report, findings=tuple(
        dataclasses.replace(f, location=dataclasses.replace(f.location, line=f.location.line + 10))
        for f in report.findings))
    assert [i["fingerprint"] for i in issues(moved)] == [i["fingerprint"] for i in issues(report)]


@pytest.mark.parametrize(("severity", "expected"), [
    (Severity.CRITICAL, "blocker"), (Severity.HIGH, "critical"), (Severity.MEDIUM, "major"), (Severity.LOW, "minor"),
])
def test_severity_mapping(report, severity, expected):
    finding = Finding(FILE_MISSING, "m", Location(str(report.manifest.path), 3), "a", severity_override=severity)
    assert issues(dataclasses.replace(report, findings=(finding,)))[0]["severity"] == expected
    assert SEVERITIES[severity] == expected


def test_empty_report_is_an_empty_list(report):
    assert GitlabCodeQualityReporter().render(dataclasses.replace(report, findings=())) == "[]\n"


def test_repeated_finding_is_one_issue(report):
    finding = report.active_findings[0]
    assert len(issues(dataclasses.replace(report, findings=(finding, finding)))) == 1


def test_cli_writes_the_report(ws, tmp_path):
    path = ws.write_manifest([ws.artifact("a", files={"m.pkl": b"\x80\x04K\x01."})])
    out = tmp_path / "reports" / "gl-code-quality-report.json"
    code = main(["check", str(path), "--as-of", "2026-11-26", "-q", "--source-root", str(ws.root),
                 "--gitlab-codequality", str(out)])
    assert code == EXIT_FINDINGS
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, CODE_QUALITY_SCHEMA)
    assert {i["location"]["path"] for i in doc} == {"manifest.yaml"}
    assert any(i["check_name"].startswith("WG401") for i in doc)
