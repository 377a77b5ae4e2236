"""`weightgate attest-eval`: an eval harness's results, signed. The results file (the eval report JSON the gate
reads as `eval_evidence`) becomes one in-toto Statement v1 per suite, with the test-result v0.1 predicate:
`result` PASSED or FAILED from the report's `passed`, `configuration` naming the results file by its sha256,
`passedTests`/`failedTests` naming the suite, and the suite and its metrics in the `weightgate` extension object
(`governance.eval_results.results_from_test_result` reads them back). Each statement is DSSE-signed with the
same signing functions as the gate's decision records and written as one JSON line.

Nothing malformed is signed: results that do not parse, a digest that is not sha256:<hex>, results naming
another artifact digest, or a result without a verdict are refused (InputFileError, exit 2).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from weightgate import refs
from weightgate.errors import InputFileError
from weightgate.evidence.dsse import STATEMENT_TYPE, sign_statement
from weightgate.governance.eval_results import (
    DIGEST_FIELD,
    EXTENSION,
    TEST_RESULT_PREDICATE_TYPE,
    EvalResult,
    load_json,
    results_from_json,
)

MAX_RESULTS_BYTES = 4 * 1024 * 1024  # as much of an eval report as the gate reads from a mirror
DEFAULT_SUBJECT_NAME = "artifact"


def eval_statements(data: bytes, digest: str, results_name: str, suite: str | None = None,
                    subject_name: str = DEFAULT_SUBJECT_NAME) -> list[dict[str, Any]]:
    """One test-result statement per suite in the results file `data` (only `suite` when given) about the
    artifact `digest` (sha256:<hex>). `results_name` names the file in the statement's configuration."""
    hex_digest = _digest_hex(digest)
    results = _results(data, digest, results_name)
    if suite is not None:
        results = [r for r in results if r.suite == suite]
        if not results:
            raise InputFileError(f"{results_name} has no result for suite {suite!r}",
                                 hint="--suite takes a suite name the results file reports")
    configuration = [{"name": results_name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}]
    return [_statement(r, hex_digest, subject_name, configuration) for r in results]


def signed_lines(statements: list[dict[str, Any]], signer: Any) -> str:
    """JSON Lines: each statement in a DSSE envelope signed by `signer`."""
    return "".join(json.dumps(sign_statement(s, signer), sort_keys=True) + "\n" for s in statements)


def _digest_hex(digest: str) -> str:
    hex_digest = digest.removeprefix("sha256:")
    if not digest.startswith("sha256:") or not refs.is_sha256_hex(hex_digest):
        raise InputFileError(f"{digest!r} is not an artifact digest",
                             hint="--digest takes sha256:<64 lowercase hex digits>, as `weightgate check` reports it")
    return hex_digest


def _results(data: bytes, digest: str, name: str) -> list[EvalResult]:
    try:
        document = load_json(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise InputFileError(f"{name} is not a readable eval report: {e}",
                             hint="the results must be one UTF-8 JSON object, each key once") from None
    if not isinstance(document, Mapping):
        raise InputFileError(f"{name} is not a JSON object")
    named = document.get(DIGEST_FIELD)
    if named != digest:
        shown = repr(named)[:80] if named is not None else "no digest"
        raise InputFileError(f"{name} evaluated {shown}, not {digest}",
                             hint=f"sign the results of this artifact: their `{DIGEST_FIELD}` must equal --digest")
    results = list(results_from_json(document, name))
    if not results:
        raise InputFileError(f"{name} reports no suite results",
                             hint='write {"suite", "metrics", "passed"} or "results": [{...}, ...]')
    for result in results:
        problems = [*result.problems, *(f"metric {m} is {v}, not a finite number" for m, v in
                                        result.bad_metrics.items())]
        if problems:
            raise InputFileError(f"{name}: the result for suite {result.suite or '(unnamed)'} is malformed: "
                                 f"{'; '.join(problems)}", hint="fix the eval harness's output; nothing was signed")
        if result.passed is None:
            raise InputFileError(f"{name}: the result for suite {result.suite} says neither passed nor failed",
                                 hint="a signed test result needs a verdict: add `\"passed\": true` or false")
    return results


def _statement(result: EvalResult, hex_digest: str, subject_name: str,
               configuration: list[dict[str, Any]]) -> dict[str, Any]:
    passed = bool(result.passed)
    predicate: dict[str, Any] = {
        "result": "PASSED" if passed else "FAILED",
        "configuration": configuration,
        "passedTests": [result.suite] if passed else [],
        "warnedTests": [],
        "failedTests": [] if passed else [result.suite],
        EXTENSION: {"suite": result.suite, "metrics": dict(result.metrics)},
    }
    return {"_type": STATEMENT_TYPE, "subject": [{"name": subject_name, "digest": {"sha256": hex_digest}}],
            "predicateType": TEST_RESULT_PREDICATE_TYPE, "predicate": predicate}
