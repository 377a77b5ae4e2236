from __future__ import annotations

import dataclasses
import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from weightgate.findings import Finding, Location
from weightgate.report.interface import Report
from weightgate.report.sarif import FINGERPRINT_KEY, SarifReporter
from weightgate.rules import DIGEST_MISMATCH, RULES, Severity


def render(report: Report) -> dict[str, Any]:
    return json.loads(SarifReporter().render(report))


def run_of(report: Report) -> dict[str, Any]:
    runs = render(report)["runs"]
    assert len(runs) == 1
    return runs[0]


def test_output_passes_schema_and_github_requirements(report, tmp_path, validate_outputs):
    path = tmp_path / "weightgate.sarif"
    path.write_text(SarifReporter().render(report), encoding="utf-8")
    assert validate_outputs("sarif", path) == []


def test_report_without_findings_or_manifest_is_valid(report, tmp_path, validate_outputs):
    empty = dataclasses.replace(report, findings=(), manifest=None, facts=())
    path = tmp_path / "empty.sarif"
    path.write_text(SarifReporter().render(empty), encoding="utf-8")
    assert validate_outputs("sarif", path) == []
    run = run_of(empty)
    assert run["results"] == []
    assert run["automationDetails"]["id"] == "weightgate/scan/"


def test_run_header(report):
    sarif = render(report)
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    run = sarif["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "weightgate"
    assert driver["version"] == driver["semanticVersion"] == report.tool_version
    assert driver["informationUri"].startswith("https://")
    assert run["automationDetails"]["id"] == "weightgate/check/deploy/models.yaml/"
    assert run["invocations"] == [{"executionSuccessful": True, "endTimeUtc": "2024-06-30T12:00:00Z"}]


@pytest.mark.parametrize(("timestamp", "expected"), [
    (datetime.datetime(2024, 6, 30, 14, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     "2024-06-30T12:00:00Z"),
    (datetime.datetime(2024, 6, 30, 12, 0, 0, 123456), "2024-06-30T12:00:00Z"),  # naive: taken as UTC
])
def test_end_time_is_utc(report, timestamp, expected):
    run = run_of(dataclasses.replace(report, timestamp=timestamp))
    assert run["invocations"][0]["endTimeUtc"] == expected


def test_every_catalog_rule_is_declared_in_id_order(report):
    rules = run_of(report)["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(RULES)


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_metadata_comes_from_the_catalog(report, rule_id):
    rule = RULES[rule_id]
    declared = next(r for r in run_of(report)["tool"]["driver"]["rules"] if r["id"] == rule_id)
    assert declared["name"] == rule.name
    assert declared["shortDescription"]["text"] == rule.title
    assert declared["fullDescription"]["text"] == rule.help
    assert rule.fix in declared["help"]["text"] and rule.fix in declared["help"]["markdown"]
    assert declared["helpUri"] == rule.docs_url
    assert declared["defaultConfiguration"]["level"] == rule.severity.level.value
    assert declared["properties"]["security-severity"] == f"{rule.severity.score:.1f}"
    assert declared["properties"]["tags"][:2] == ["security", "supply-chain"]
    assert len(declared["properties"]["tags"]) == 3


def test_one_result_per_finding_pointing_at_its_rule(report):
    run = run_of(report)
    rules = run["tool"]["driver"]["rules"]
    assert len(run["results"]) == len(report.findings)
    assert sorted(r["ruleId"] for r in run["results"]) == sorted(f.rule.id for f in report.findings)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert "How to fix: " + RULES[result["ruleId"]].fix in result["message"]["text"]


def test_result_properties_carry_artifact_file_and_evidence(report):
    results = {r["ruleId"]: r for r in run_of(report)["results"]}
    missing = results["WG303"]["properties"]
    assert missing["artifact"] == "support-ft" and missing["file"] == "tokenizer.json"
    assert missing["severity"] == "high" and missing["confidence"] == "certain"
    assert results["WG609"]["properties"]["evidence"] == {"last_validated": "2024-01-02", "max_age_days": "90"}


def test_waived_finding_is_an_accepted_external_suppression(report):
    results = run_of(report)["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert [r["ruleId"] for r in suppressed] == ["WG609"]
    (suppression,) = suppressed[0]["suppressions"]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    assert "re-validation booked for the July release" in suppression["justification"]
    assert "2024-07-31" in suppression["justification"]


def test_locations_are_relative_to_the_source_root(report, tmp_path):
    run = run_of(report)
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"
    for result in run["results"]:
        artifact_location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact_location == {"uri": "deploy/models.yaml", "uriBaseId": "%SRCROOT%"}


def test_region_has_a_column_only_past_the_first(report):
    regions = {r["ruleId"]: r["locations"][0]["physicalLocation"]["region"] for r in run_of(report)["results"]}
    assert regions["WG203"]["startColumn"] == 5
    assert "startColumn" not in regions["WG303"]
    assert all(region["startLine"] > 1 for region in regions.values())


def test_same_report_renders_identical_bytes_in_any_finding_order(report):
    first = SarifReporter().render(report)
    assert SarifReporter().render(report) == first
    assert SarifReporter().render(dataclasses.replace(report, findings=report.findings[::-1])) == first


def test_results_are_sorted_by_location_and_rule(report):
    keys = [(r["locations"][0]["physicalLocation"]["region"]["startLine"], r["ruleId"])
            for r in run_of(report)["results"]]
    assert keys == sorted(keys)


def _fingerprints(report: Report, finding: Finding) -> list[str]:
    results = run_of(dataclasses.replace(report, findings=(finding,)))["results"]
    return [r["partialFingerprints"][FINGERPRINT_KEY] for r in results]


def test_fingerprint_is_stable_and_independent_of_the_line(report):
    finding = Finding(DIGEST_MISMATCH, "model.safetensors changed", Location(str(report.manifest.path), 10),
                      "base-llm", "model.safetensors")
    moved = dataclasses.replace(finding, location=Location(str(report.manifest.path), 42, 7))
    assert _fingerprints(report, finding) == _fingerprints(report, finding) == _fingerprints(report, moved)
    other = dataclasses.replace(finding, artifact_id="support-ft")
    assert _fingerprints(report, other) != _fingerprints(report, finding)


def test_severity_override_sets_level_and_result_security_severity(report):
    low = dataclasses.replace(report.findings[0], severity_override=Severity.LOW)
    (result,) = run_of(dataclasses.replace(report, findings=(low,)))["results"]
    assert result["level"] == "note"
    assert result["properties"]["security-severity"] == "3.1"
    assert result["properties"]["severity"] == "low"


def test_locations_outside_the_root_stay_relative(report, tmp_path):
    outside = tmp_path.parent / "elsewhere" / "policy.yaml"
    finding = Finding(DIGEST_MISMATCH, "x", Location(str(outside), 3))
    (result,) = run_of(dataclasses.replace(report, findings=(finding,)))["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "../elsewhere/policy.yaml"


def test_importing_the_sarif_reporter_does_not_import_cyclonedx():
    code = "import sys, weightgate.report.sarif; print('cyclonedx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent)
    assert out.stdout.strip() == "False"
