"""One verdict for every reporter: PASS and FAIL only when a fail level is enforced; under `fail_on: never`
the run is REPORT-ONLY, and what its findings come to (fail at critical/high) is still said, never "pass"."""

from __future__ import annotations

import dataclasses
import json

import pytest

from weightgate.policy import FailOn
from weightgate.report.console import ConsoleReporter
from weightgate.report.cyclonedx import CycloneDxReporter
from weightgate.report.github import GithubSummaryReporter, step_outputs
from weightgate.report.interface import Report, Verdict
from weightgate.report.json import JsonReporter
from weightgate.rules import Level


def _only(report: Report, level: Level) -> Report:
    """The fixture's findings at one level (the waived medium one made active)."""
    findings = tuple(dataclasses.replace(f, waived_by=None) for f in report.findings if f.level is level)
    return dataclasses.replace(report, findings=findings)


def _waived_only(report: Report) -> Report:
    return dataclasses.replace(report, findings=tuple(f for f in report.findings if f.waived_by is not None))


@pytest.mark.parametrize(("fail_on", "case", "verdict", "judgement"), [
    (FailOn.ERROR, "as-is", Verdict.FAIL, Verdict.FAIL),
    (FailOn.ERROR, "waived-only", Verdict.PASS, Verdict.PASS),
    (FailOn.ERROR, "warnings-only", Verdict.PASS, Verdict.PASS),
    (FailOn.WARNING, "warnings-only", Verdict.FAIL, Verdict.FAIL),
    (FailOn.NEVER, "as-is", Verdict.REPORT_ONLY, Verdict.FAIL),
    (FailOn.NEVER, "warnings-only", Verdict.REPORT_ONLY, Verdict.PASS),  # never judged below error level
    (FailOn.NEVER, "waived-only", Verdict.REPORT_ONLY, Verdict.PASS),
])
def test_verdict_and_judgement(report, fail_on, case, verdict, judgement):
    cases = {"as-is": report, "waived-only": _waived_only(report), "warnings-only": _only(report, Level.WARNING)}
    subject = dataclasses.replace(cases[case], fail_on=fail_on)
    assert subject.verdict is verdict and subject.judgement is judgement
    assert subject.enforced is (fail_on is not FailOn.NEVER)
    assert subject.failed is (verdict is Verdict.FAIL)  # the exit code follows fail_on alone


def test_console_never_claims_a_pass_under_fail_on_never(report):
    last = ConsoleReporter().render(dataclasses.replace(report, fail_on=FailOn.NEVER)).splitlines()[-1]
    assert last.startswith("REPORT-ONLY: 0 critical, 2 high") and "PASS" not in last
    assert last.endswith("fail-on: never (not enforced)")
    clean = ConsoleReporter().render(dataclasses.replace(_waived_only(report), fail_on=FailOn.NEVER))
    assert clean.splitlines()[-1].endswith("fail-on: never (not enforced; nothing at error level)")
    assert "PASS" not in clean.splitlines()[-1]


def test_console_pass_and_fail_when_enforced(report):
    assert ConsoleReporter().render(report).splitlines()[-1].startswith("FAIL: 0 critical, 2 high")
    assert ConsoleReporter().render(_waived_only(report)).splitlines()[-1].startswith("PASS: ")


def test_json_verdict_says_fail_and_not_enforced_under_never(report):
    doc = json.loads(JsonReporter().render(dataclasses.replace(report, fail_on=FailOn.NEVER)))
    assert (doc["verdict"], doc["enforced"], doc["fail_on"]) == ("fail", False, "never")
    doc = json.loads(JsonReporter().render(dataclasses.replace(_waived_only(report), fail_on=FailOn.NEVER)))
    assert (doc["verdict"], doc["enforced"]) == ("pass", False)
    doc = json.loads(JsonReporter().render(report))
    assert (doc["verdict"], doc["enforced"]) == ("fail", True)


def test_github_summary_and_outputs_under_never(report):
    never = dataclasses.replace(report, fail_on=FailOn.NEVER)
    summary = GithubSummaryReporter().render(never)
    assert summary.startswith("## 📋 weightgate: REPORT-ONLY · ") and "PASS" not in summary
    assert "fail on never (not enforced)" in summary
    assert "❌ fail (1 high)" in summary  # each artifact is judged as the decision records judge it
    assert step_outputs([never], None, None)["result"] == "fail"
    assert step_outputs([never], None, None)["enforced"] == "false"
    assert step_outputs([report], None, None)["enforced"] == "true"


def test_bom_run_properties_under_never(report):
    bom = json.loads(CycloneDxReporter().render(dataclasses.replace(report, fail_on=FailOn.NEVER)))
    props = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert props["weightgate:verdict"] == "fail" and props["weightgate:enforced"] == "false"
