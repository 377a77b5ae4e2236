"""Eval results parsed from an eval report's JSON and from in-toto test-result statements: malformed results
count as failed with a reason, never as a pass, and repeated keys are refused."""

import pytest

from weightgate.governance.eval_results import (
    TEST_RESULT_PREDICATE_TYPE,
    DuplicateKeyError,
    load_json,
    results_from_json,
    results_from_test_result,
)


def test_one_suite_report():
    (result,) = results_from_json({"artifact_digest": "sha256:ab", "suite": "qa", "metrics": {"em": 0.8, "n": 3},
                                   "passed": True}, "r.json")
    assert (result.suite, dict(result.metrics), result.passed, result.signer, result.source) == (
        "qa", {"em": 0.8, "n": 3.0}, True, None, "r.json")
    assert not result.failed and not result.malformed


def test_several_suites_report():
    results = results_from_json({"results": [{"suite": "a", "metrics": {"x": 1}, "passed": False},
                                             {"suite": "b", "metrics": {}}]})
    assert [(r.suite, r.passed, r.failed) for r in results] == [("a", False, True), ("b", None, False)]


@pytest.mark.parametrize("document", [{"artifact_digest": "sha256:ab"}, [1, 2], "text", None])
def test_documents_without_results(document):
    assert results_from_json(document) == ()


@pytest.mark.parametrize(("document", "problem"), [
    ({"suite": "", "metrics": {}}, "`suite` is \"\""),
    ({"suite": "x" * 201}, "not a suite name"),
    ({"suite": "a", "passed": 1}, "`passed` is 1"),
    ({"suite": "a", "metrics": "0.9"}, "`metrics` is \"0.9\""),
    ({"suite": "a", "results": []}, "both `suite` and `results`"),
    ({"results": "a"}, "not a non-empty list"),
    ({"results": [[1]]}, "a result is not a JSON object"),
])
def test_malformed_results_fail(document, problem):
    (result,) = results_from_json(document)
    assert result.failed and result.malformed
    assert problem in "; ".join(result.problems)


@pytest.mark.parametrize("value", [True, False, float("nan"), float("inf"), "0.9", None, [0.9], {"v": 1}])
def test_metrics_must_be_finite_numbers(value):
    (result,) = results_from_json({"suite": "a", "metrics": {"em": value, "ok": 0.5}, "passed": True})
    assert result.failed and dict(result.metrics) == {"ok": 0.5} and list(result.bad_metrics) == ["em"]


def test_a_long_malformed_value_is_cut_short():
    (result,) = results_from_json({"suite": "a", "metrics": {"em": "x" * 1000}})
    assert len(result.bad_metrics["em"]) <= 40


@pytest.mark.parametrize("text", [
    b'{"artifact_digest": "sha256:a", "artifact_digest": "sha256:b"}',
    b'{"results": [{"suite": "a", "passed": false, "passed": true}]}',
])
def test_repeated_keys_are_refused(text):
    with pytest.raises(DuplicateKeyError, match="appears twice"):
        load_json(text)


def test_json_with_a_byte_order_mark():
    assert load_json(b'\xef\xbb\xbf{"suite": "a"}') == {"suite": "a"}


def _statement(**predicate):
    base = {"result": "PASSED", "configuration": [{"name": "r.json", "digest": {"sha256": "00" * 32}}],
            "weightgate": {"suite": "qa", "metrics": {"em": 0.8}}}
    return {"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {"sha256": "ab" * 32}}],
            "predicateType": TEST_RESULT_PREDICATE_TYPE, "predicate": {**base, **predicate}}


@pytest.mark.parametrize(("predicate", "passed"), [
    ({}, True),
    ({"result": "WARNED", "warnedTests": ["qa"]}, True),
    ({"result": "FAILED", "failedTests": ["qa"]}, False),
    ({"result": "PASSED", "failedTests": ["qa"]}, False),  # a failed test is a failure whatever `result` says
])
def test_test_result_statements(predicate, passed):
    result = results_from_test_result(_statement(**predicate), "records.jsonl", signer="eval-bot")
    assert (result.suite, dict(result.metrics), result.passed, result.signer) == ("qa", {"em": 0.8}, passed,
                                                                                   "eval-bot")
    assert result.failed is not passed and not result.malformed


@pytest.mark.parametrize(("statement", "problem"), [
    ({**_statement(), "predicateType": "https://slsa.dev/verification_summary/v1"}, "the predicate type is"),
    ({**_statement(), "predicate": []}, "no predicate object"),
    (_statement(result="OK"), "`result` is \"OK\""),
    (_statement(weightgate=None), "no `weightgate` object"),
    (_statement(weightgate={"suite": "qa", "metrics": {"em": "high"}}), ""),
    (_statement(failedTests="qa"), "`failedTests` is not a list"),
])
def test_malformed_test_result_statements_fail(statement, problem):
    result = results_from_test_result(statement)
    assert result.failed and result.malformed
    assert problem in "; ".join(result.problems)
