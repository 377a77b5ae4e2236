"""WG641, WG642, WG644: eval results are judged against the policy's suites (bounds, a regression tolerance
against the rollback's own result, required suites), and count only when the evidence is verified and bound."""

import hashlib
import json

import pytest

from conftest import rule_ids, safetensors_bytes
from weightgate.errors import PolicyError
from weightgate.facts import artifact_digest
from weightgate.policy import load_policy

SUITE = "support-qa-v2"
SUITES = {"required_for": ["fine-tune"], "suites": [{
    "name": SUITE, "classes": ["fine-tune"], "environments": ["prod*"],
    "metrics": {"exact_match": {"min": 0.70}, "refusal_rate": {"max": 0.05}},
    "regression_tolerance": 0.02,
}]}
PRODUCTION = [{"name": "support-chat", "environment": "production", "artifacts": ["v2"]}]
GOOD = {"exact_match": 0.81, "refusal_rate": 0.02}
BASELINE = {"exact_match": 0.74, "refusal_rate": 0.03}
FINE_TUNE = {"class": "fine-tune", "base_models": [{"artifact": "base"}]}


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


def _report(art, metrics=None, passed=True, suite=SUITE, **extra):
    doc = {"artifact_digest": _digest(art), "suite": suite, "metrics": GOOD if metrics is None else metrics}
    if passed is not None:
        doc["passed"] = passed
    return json.dumps({**doc, **extra}).encode()


def _with_evidence(ws, art, data):
    path = ws.mirror / art["id"] / "evals" / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    art["eval_evidence"] = {"path": "evals/report.json", "sha256": hashlib.sha256(data).hexdigest()}
    return art


def _pair(ws, v2_report=None, v1_report=None):
    """v2 in production, rolling back to v1; each with its eval report (bytes, or a function of the artifact)."""
    v1 = ws.artifact("v1", files={"model.safetensors": safetensors_bytes(4)}, **FINE_TUNE)
    v2 = ws.artifact("v2", files={"model.safetensors": safetensors_bytes(8)}, rollback="v1", **FINE_TUNE)
    _with_evidence(ws, v1, (v1_report or (lambda a: _report(a, BASELINE)))(v1))
    _with_evidence(ws, v2, (v2_report or _report)(v2))
    return v1, v2


def _manifest(ws, artifacts, services=None):
    return ws.write_manifest([*artifacts, ws.artifact("base")], services)


def _check(ws, v2_report=None, v1_report=None, suites=SUITES, services=PRODUCTION):
    v1, v2 = _pair(ws, v2_report, v1_report)
    report = ws.check(_manifest(ws, [v2, v1], services), policy=ws.write_policy(eval_evidence=suites))
    return report


def _found(report):
    return sorted((f.rule.id, f.artifact_id) for f in report.active_findings)


def test_results_that_meet_the_suite_pass(ws):
    report = _check(ws)
    assert rule_ids(report) == []
    assert [r.suite for r in report.governance.evidence["v2"].results] == [SUITE]


def test_results_at_the_bounds_pass(ws):
    """Near miss: bounds are inclusive, and a drop of exactly the tolerance is not a regression (0.74 - 0.72
    is 0.020000000000000018 in binary floats)."""
    report = _check(ws, lambda a: _report(a, {"exact_match": 0.72, "refusal_rate": 0.05}),
                    lambda a: _report(a, {"exact_match": 0.74, "refusal_rate": 0.03}))
    assert rule_ids(report) == []
    report = _check(ws, lambda a: _report(a, {"exact_match": 0.70, "refusal_rate": 0.05}),
                    lambda a: _report(a, {"exact_match": 0.70, "refusal_rate": 0.05}))
    assert rule_ids(report) == []


def test_a_result_that_says_it_failed(ws):
    report = _check(ws, lambda a: _report(a, {"exact_match": 0.01, "refusal_rate": 0.02}, passed=False))
    assert _found(report) == [("WG641", "v2"), ("WG641", "v2"), ("WG642", "v2")]
    messages = " | ".join(f.message for f in report.active_findings if f.rule.id == "WG641")
    assert f"eval suite {SUITE} failed: the result says so" in messages
    assert "exact_match is 0.01, below the policy's minimum 0.7" in messages


def test_a_failed_result_fails_without_a_policy_suite(ws):
    """The default policy lists no suites; a report saying it failed still fails."""
    v1, v2 = _pair(ws, lambda a: _report(a, passed=False))
    assert _found(ws.check(_manifest(ws, [v2, v1], PRODUCTION))) == [("WG641", "v2")]


@pytest.mark.parametrize(("metrics", "expected"), [
    ({"exact_match": 0.69, "refusal_rate": 0.02}, "exact_match is 0.69, below the policy's minimum 0.7"),
    ({"exact_match": 0.81, "refusal_rate": 0.051}, "refusal_rate is 0.051, above the policy's maximum 0.05"),
    ({"refusal_rate": 0.02}, "metric exact_match (min 0.7) is missing from the result"),
])
def test_a_bound_missed(ws, metrics, expected):
    report = _check(ws, lambda a: _report(a, metrics), lambda a: _report(a, metrics))
    assert {(f.rule.id, f.artifact_id) for f in report.active_findings} == {("WG641", "v2"), ("WG641", "v1")}
    finding = next(f for f in report.active_findings if f.artifact_id == "v2")
    assert expected in finding.message
    assert dict(finding.evidence)["suite"] == SUITE
    assert finding.location.line > 1 and finding.file_path == "evals/report.json"


@pytest.mark.parametrize(("raw", "shown"), [
    ('"0.81"', '"0.81"'),
    ("true", "true"),
    ("null", "null"),
])
def test_a_malformed_metric_counts_as_failed(ws, raw, shown):
    def malformed(art):
        return (b'{"artifact_digest": "%s", "suite": "%s", "passed": true, '
                b'"metrics": {"exact_match": %s, "refusal_rate": 0.02}}'
                % (_digest(art).encode(), SUITE.encode(), raw.encode()))
    report = _check(ws, malformed)
    assert _found(report) == [("WG641", "v2")]  # malformed, and not reported as missing too
    assert f"metric exact_match is {shown}, not a finite number" in report.active_findings[0].message


@pytest.mark.parametrize(("document", "reason"), [
    ({"suite": SUITE, "metrics": GOOD, "passed": "yes"}, '`passed` is "yes", not true or false'),
    ({"suite": SUITE, "metrics": [0.8], "passed": True}, "`metrics` is [0.8], not an object of numbers"),
    ({"results": [{"suite": SUITE, "metrics": GOOD, "passed": True}] * 2}, "more than one result for suite"),
    ({"results": [{"suite": 7, "metrics": GOOD, "passed": True}]}, "`suite` is 7, not a suite name"),
    ({"results": {}}, "`results` is not a non-empty list"),
])
def test_a_malformed_result_counts_as_failed(ws, document, reason):
    report = _check(ws, lambda a: json.dumps({"artifact_digest": _digest(a), **document}).encode(),
                    suites={"required_for": ["fine-tune"]})
    assert _found(report) == [("WG641", "v2")]
    assert reason in report.active_findings[0].message


def test_several_suites_in_one_report(ws):
    two = {"results": [{"suite": SUITE, "metrics": GOOD, "passed": True},
                       {"suite": "safety-v1", "metrics": {"toxicity": 0.001}, "passed": True}]}
    baseline = {"results": [{"suite": SUITE, "metrics": BASELINE, "passed": True}]}
    report = _check(ws, lambda a: json.dumps({"artifact_digest": _digest(a), **two}).encode(),
                    lambda a: json.dumps({"artifact_digest": _digest(a), **baseline}).encode())
    assert rule_ids(report) == []
    assert [r.suite for r in report.governance.evidence["v2"].results] == [SUITE, "safety-v1"]


@pytest.mark.parametrize(("current", "baseline", "expected"), [
    ({"exact_match": 0.75, "refusal_rate": 0.02}, BASELINE | {"exact_match": 0.78},
     "exact_match is 0.75, below the rollback v1's 0.78 by 0.03, more than the tolerance 0.02"),
    ({"exact_match": 0.81, "refusal_rate": 0.045}, BASELINE | {"refusal_rate": 0.01},
     "refusal_rate is 0.045, above the rollback v1's 0.01 by 0.035"),
])
def test_regression_against_the_rollback(ws, current, baseline, expected):
    report = _check(ws, lambda a: _report(a, current), lambda a: _report(a, baseline))
    assert _found(report) == [("WG642", "v2")]
    assert expected in report.active_findings[0].message


def test_regression_within_tolerance_or_without_one(ws):
    within = _check(ws, lambda a: _report(a, {"exact_match": 0.77, "refusal_rate": 0.03}),
                    lambda a: _report(a, {"exact_match": 0.78, "refusal_rate": 0.01}))
    assert rule_ids(within) == []
    untracked = {**SUITES, "suites": [{k: v for k, v in SUITES["suites"][0].items() if k != "regression_tolerance"}]}
    report = _check(ws, lambda a: _report(a, {"exact_match": 0.71, "refusal_rate": 0.05}),
                    lambda a: _report(a, {"exact_match": 0.99, "refusal_rate": 0.0}), suites=untracked)
    assert rule_ids(report) == []


def test_a_band_is_not_compared_with_the_rollback(ws):
    band = {**SUITES, "suites": [{**SUITES["suites"][0], "metrics": {"exact_match": {"min": 0.5, "max": 0.9}}}]}
    report = _check(ws, lambda a: _report(a, {"exact_match": 0.6}), lambda a: _report(a, {"exact_match": 0.89}),
                    suites=band)
    assert rule_ids(report) == []


def test_a_rollback_without_a_result_for_the_suite_has_no_baseline(ws):
    report = _check(ws, None, lambda a: _report(a, BASELINE, suite="other-suite"))
    # v1 answers to production as v2's rollback, so the suite is required of it too.
    assert _found(report) == [("WG642", "v2"), ("WG644", "v1")]
    finding = next(f for f in report.active_findings if f.rule.id == "WG642")
    assert "the rollback v1 has no result for the suite, so there is no baseline" in finding.message
    report = _check(ws, None, lambda a: _report(a, {"refusal_rate": 0.03}))
    assert _found(report) == [("WG641", "v1"), ("WG642", "v2")]
    finding = next(f for f in report.active_findings if f.rule.id == "WG642")
    assert "v1's result has no exact_match to compare with" in finding.message


def test_required_suite_missing(ws):
    report = _check(ws, lambda a: _report(a, suite="other-suite"))
    assert _found(report) == [("WG644", "v2")]
    message = report.active_findings[0].message
    assert f"requires eval suite {SUITE} of a fine-tune deployed to production" in message
    # Legacy reports name only the digest: they carry no results, so the suite is missing too.
    legacy = _check(ws, lambda a: json.dumps({"artifact_digest": _digest(a)}).encode())
    assert _found(legacy) == [("WG644", "v2")]


@pytest.mark.parametrize("services", [
    [{"name": "support-chat", "environment": "staging", "artifacts": ["v2"]}],
    [],
])
def test_suite_for_another_environment_is_not_required(ws, services):
    report = _check(ws, lambda a: _report(a, suite="other-suite"), lambda a: _report(a, suite="other-suite"),
                    services=services)
    assert rule_ids(report) == []


def test_suite_for_another_class_is_not_required(ws):
    adapters = {**SUITES, "suites": [{**SUITES["suites"][0], "classes": ["adapter"]}]}
    report = _check(ws, lambda a: _report(a, suite="other-suite"), suites=adapters)
    assert rule_ids(report) == []


def test_suite_required_without_evidence(ws):
    """A class the policy requires no eval evidence of still needs the suite's result; where WG618 already
    says the evidence is missing, WG644 does not repeat it."""
    models = {"required_for": [], "suites": [{"name": SUITE, "classes": ["model"]}]}
    report = ws.check(ws.write_manifest([ws.artifact("m")]), policy=ws.write_policy(eval_evidence=models))
    assert _found(report) == [("WG644", "m")]
    assert "it has no eval_evidence" in report.active_findings[0].message
    both = {"required_for": ["model"], "suites": models["suites"]}
    report = ws.check(ws.write_manifest([ws.artifact("m")]), policy=ws.write_policy(eval_evidence=both))
    assert _found(report) == [("WG618", "m")]


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_make_the_evidence_malformed(ws, raw):
    """NaN and Infinity are not JSON (RFC 8259): Python reads them, other readers refuse the file, and NaN compares
    false with every bound. The shared strict reader refuses them like repeated keys (issue 19)."""
    def malformed(art):
        return (b'{"artifact_digest": "%s", "suite": "%s", "passed": true, '
                b'"metrics": {"exact_match": %s, "refusal_rate": 0.02}}'
                % (_digest(art).encode(), SUITE.encode(), raw.encode()))
    report = _check(ws, malformed)
    assert _found(report) == [("WG619", "v2")]
    assert f"{raw} is not a JSON number" in report.active_findings[0].message


def test_repeated_keys_make_the_evidence_malformed(ws):
    """json.loads keeps the last of two `passed` keys; another reader keeps the first. Such a report is not
    counted: WG619 says why, and no result from it passes or fails anything."""
    def repeated(art):
        return (b'{"artifact_digest": "%s", "suite": "%s", "metrics": {"exact_match": 0.9, "refusal_rate": 0.0},'
                b' "passed": false, "passed": true}' % (_digest(art).encode(), SUITE.encode()))
    report = _check(ws, repeated)
    assert _found(report) == [("WG619", "v2")]
    assert 'the key "passed" appears twice' in report.active_findings[0].message
    assert report.governance.evidence["v2"].results == ()
    lenient = _check(ws, repeated, suites={**SUITES, "require_artifact_digest": False})
    assert _found(lenient) == [("WG619", "v2")]


@pytest.mark.parametrize("change", ["another-digest", "sha256"])
def test_results_of_evidence_that_does_not_count_are_not_judged(ws, change):
    """Evidence for another digest (WG620) or other bytes than pinned (WG619) says nothing about this version:
    its failed result is not reported again, and the required suite is not reported missing."""
    def failed(art):
        return _report(art, {"exact_match": 0.01}, passed=False)
    v1, v2 = _pair(ws, failed)
    if change == "another-digest":
        _with_evidence(ws, v2, _report(v1, {"exact_match": 0.01}, passed=False))
    else:
        v2["eval_evidence"]["sha256"] = "0" * 64
    report = ws.check(_manifest(ws, [v2, v1], PRODUCTION), policy=ws.write_policy(eval_evidence=SUITES))
    assert _found(report) == [("WG620" if change == "another-digest" else "WG619", "v2")]


def test_offline_results_are_not_judged(ws):
    report = _check_offline(ws)
    assert rule_ids(report) == []


def _check_offline(ws):
    v1, v2 = _pair(ws, lambda a: _report(a, passed=False))
    return ws.check(_manifest(ws, [v2, v1], PRODUCTION), policy=ws.write_policy(eval_evidence=SUITES),
                    offline=True)


@pytest.mark.parametrize(("suites", "problem"), [
    ([{"name": "a"}, {"name": "a", "classes": ["model"]}], "names suite 'a' twice"),
    ([{"name": "a", "metrics": {"m": {"min": 0.9, "max": 0.1}}}], "which no result can meet"),
])
def test_suites_that_cannot_be_met_are_a_policy_error(ws, suites, problem):
    path = ws.write_policy(eval_evidence={"suites": suites})
    with pytest.raises(PolicyError, match=problem):
        load_policy(path)


def test_policy_suites_are_built(ws):
    policy = load_policy(ws.write_policy(eval_evidence=SUITES)).governance
    (suite,) = policy.eval_suites
    assert (suite.name, suite.classes, suite.environments, suite.regression_tolerance) == (
        SUITE, ("fine-tune",), ("prod*",), 0.02)
    assert [(b.metric, b.min, b.max, b.higher_is_better) for b in suite.metrics] == [
        ("exact_match", 0.7, None, True), ("refusal_rate", None, 0.05, False)]
    assert suite.location is not None and suite.location.line > 1
    assert load_policy(None).governance.eval_suites == ()
