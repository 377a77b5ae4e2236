"""Eval results: what an evaluation of one artifact reported for one suite, parsed from the JSON an eval harness
writes or from a verified in-toto test-result statement. Nothing here judges; the eval-result checks compare
these results with the policy's suites.

Two sources of the same shape:
- the unsigned report JSON an artifact's `eval_evidence` points at, one suite
  (`{"artifact_digest", "suite", "metrics", "passed"}`) or several
  (`{"artifact_digest", "results": [{"suite", "metrics", "passed"}, ...]}`);
- an in-toto Statement v1 with predicate type test-result v0.1 (what `weightgate attest-eval` writes). Its
  predicate keeps the spec's fields (`result` PASSED/WARNED/FAILED, `configuration`, `url`, `passedTests`,
  `warnedTests`, `failedTests`); the suite name and metrics, which the spec has no field for, travel in the
  extension object `predicate["weightgate"] = {"suite": ..., "metrics": {...}}`.

A result that is malformed (a metric that is not a finite number, a `passed` that is not a boolean, no suite
name) keeps its well-formed metrics and counts as failed, with the reasons: never as a pass. Kept light (json,
math, dataclasses): the governance facts that reporters import carry these results.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from weightgate import refs
from weightgate.strictjson import AmbiguousJson, strict_json

if TYPE_CHECKING:
    from weightgate.checks import CheckContext

TEST_RESULT_PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
EXTENSION = "weightgate"  # the predicate key that carries the suite name and metrics
DIGEST_FIELD = "artifact_digest"
MAX_SUITE_NAME_CHARS = 200
MAX_SHOWN_VALUE_CHARS = 40  # a malformed value is quoted in messages, cut to this


# JSON whose meaning depends on the reader (a repeated key, NaN): the shared reader refuses it.
DuplicateKeyError = AmbiguousJson


@dataclass(frozen=True)
class EvalResult:
    """One suite's result for one artifact. `passed` is what the result claims (None: it claims nothing);
    `failed` is how weightgate counts it."""

    suite: str  # "" when the result names no usable suite (then it is malformed)
    metrics: Mapping[str, float]  # the well-formed metrics only
    passed: bool | None
    signer: str | None  # who signed it; None for an unsigned report
    source: str  # where it was read (uri or path), for messages
    problems: tuple[str, ...] = ()  # why the result as a whole is malformed
    bad_metrics: Mapping[str, str] = field(default_factory=dict)  # metric -> the malformed value, quoted

    @property
    def malformed(self) -> bool:
        return bool(self.problems or self.bad_metrics)

    @property
    def failed(self) -> bool:
        return self.passed is False or self.malformed


def load_json(data: bytes) -> Any:
    """Parse an eval report with the shared strict reader (UTF-8, a BOM allowed). Raises AmbiguousJson for a
    repeated key or NaN/Infinity, another ValueError when it is not JSON."""
    return strict_json(data, "the eval report", allow_bom=True)


def results_from_json(document: Any, source: str = "", signer: str | None = None) -> tuple[EvalResult, ...]:
    """The results in a parsed eval report. A report with neither `suite` nor `results` carries no results
    (it only names the digest it evaluated); a malformed one gives a failed result saying why."""
    if not isinstance(document, Mapping):
        return ()  # not a report at all: it satisfies no suite, and WG620 says what it is
    if "results" in document and "suite" in document:
        return (EvalResult("", {}, None, signer, source,
                           ("the report has both `suite` and `results`; it must have one",)),)
    if "results" in document:
        entries = document["results"]
        if not isinstance(entries, list) or not entries:
            return (EvalResult("", {}, None, signer, source, ("`results` is not a non-empty list",)),)
        results = tuple(_result(entry, source, signer) for entry in entries)
        return _flag_repeated_suites(results)
    if "suite" in document:
        return (_result(document, source, signer),)
    return ()


def _result(entry: Any, source: str, signer: str | None) -> EvalResult:
    if not isinstance(entry, Mapping):
        return EvalResult("", {}, None, signer, source, ("a result is not a JSON object",))
    problems: list[str] = []
    suite = _suite_name(entry.get("suite"), problems)
    passed = entry.get("passed")
    if passed is not None and not isinstance(passed, bool):
        problems.append(f"`passed` is {_shown(passed)}, not true or false")
        passed = None
    metrics, bad = _metrics(entry.get("metrics", {}), problems)
    return EvalResult(suite, metrics, passed, signer, source, tuple(problems), bad)


def _suite_name(value: Any, problems: list[str]) -> str:
    if isinstance(value, str) and value.strip() and len(value) <= MAX_SUITE_NAME_CHARS:
        return value
    problems.append(f"`suite` is {_shown(value)}, not a suite name")
    return ""


def _metrics(value: Any, problems: list[str]) -> tuple[dict[str, float], dict[str, str]]:
    if not isinstance(value, Mapping):
        problems.append(f"`metrics` is {_shown(value)}, not an object of numbers")
        return {}, {}
    good: dict[str, float] = {}
    bad: dict[str, str] = {}
    for name, number in value.items():
        # bool is an int to Python, and NaN or infinity compares as neither above nor below a bound.
        if isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number):
            good[str(name)] = float(number)
        else:
            bad[str(name)] = _shown(number)
    return good, bad


def _flag_repeated_suites(results: tuple[EvalResult, ...]) -> tuple[EvalResult, ...]:
    """Two results for one suite in one report: neither can be told to be the one that counts."""
    names = [r.suite for r in results if r.suite]
    repeated = {name for name in names if names.count(name) > 1}
    return tuple(EvalResult(r.suite, r.metrics, r.passed, r.signer, r.source,
                            (*r.problems, f"the report has more than one result for suite {r.suite}"),
                            r.bad_metrics)
                 if r.suite in repeated else r for r in results)


def results_from_test_result(statement: Mapping[str, Any], source: str = "",
                             signer: str | None = None) -> EvalResult:
    """The result in a verified in-toto test-result v0.1 statement (check the signature first: this only
    reads). PASSED and WARNED count as passed, FAILED or any `failedTests` as failed; the suite and metrics
    come from the `weightgate` extension object."""
    problems: list[str] = []
    if statement.get("predicateType") != TEST_RESULT_PREDICATE_TYPE:
        problems.append(f"the predicate type is {_shown(statement.get('predicateType'))}, not "
                        f"{TEST_RESULT_PREDICATE_TYPE}")
    predicate = statement.get("predicate")
    if not isinstance(predicate, Mapping):
        return EvalResult("", {}, None, signer, source, (*problems, "the statement has no predicate object"))
    passed = _test_result_passed(predicate, problems)
    extension = predicate.get(EXTENSION)
    if not isinstance(extension, Mapping):
        problems.append(f"the predicate has no `{EXTENSION}` object naming the suite and its metrics")
        return EvalResult("", {}, passed, signer, source, tuple(problems))
    suite = _suite_name(extension.get("suite"), problems)
    metrics, bad = _metrics(extension.get("metrics", {}), problems)
    return EvalResult(suite, metrics, passed, signer, source, tuple(problems), bad)


def _test_result_passed(predicate: Mapping[str, Any], problems: list[str]) -> bool | None:
    result = predicate.get("result")
    if result not in ("PASSED", "WARNED", "FAILED"):
        problems.append(f"`result` is {_shown(result)}, not PASSED, WARNED or FAILED")
        return None
    failed_tests = predicate.get("failedTests") or []
    if not isinstance(failed_tests, Sequence) or isinstance(failed_tests, str):
        problems.append("`failedTests` is not a list")
        return None
    return result != "FAILED" and not failed_tests


def _shown(value: Any) -> str:
    """A value quoted for a message, cut short: it comes from an untrusted file."""
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= MAX_SHOWN_VALUE_CHARS else text[: MAX_SHOWN_VALUE_CHARS - 3] + "..."


def eval_results_for(ctx: CheckContext, artifact_id: str) -> tuple[EvalResult, ...]:
    """The results that count for an artifact; the one place checks get results from: signed test-result
    records from the approvals store (see `signed_eval_results`), and the results of its eval evidence (see
    `evidence_counts`) unless the policy counts only signed results."""
    signed = signed_eval_results(ctx, artifact_id).results
    if ctx.policy.evidence.eval_require_signed:
        return signed
    facts = ctx.governance.evidence.get(artifact_id)
    unsigned = facts.results if facts is not None and evidence_counts(ctx, artifact_id) else ()
    return (*unsigned, *signed)


@dataclass(frozen=True)
class SignedEvals:
    """The verified test-result records kept for an artifact's digest: those that count, and why others do not."""

    results: tuple[EvalResult, ...] = ()
    other_signer: tuple[str, ...] = ()  # messages: verified, but by a signer not in eval_evidence.signers
    other_digest: tuple[str, ...] = ()  # messages: verified, for another artifact digest


def signed_eval_results(ctx: CheckContext, artifact_id: str) -> SignedEvals:
    from weightgate.governance.signed_reviews import same_signer

    stored = ctx.governance.records.get(artifact_id)
    bound = ctx.digests.get(artifact_id)
    if stored is None or bound is None or not stored.readable:
        return SignedEvals()
    allowed = ctx.policy.evidence.eval_signers
    results: list[EvalResult] = []
    other_signer: list[str] = []
    other_digest: list[str] = []
    for record in stored.records:
        verified = record.verified
        if verified is None or verified.predicate_type != TEST_RESULT_PREDICATE_TYPE:
            continue
        where = f"{stored.uri} line {record.line}"
        if not any(same_signer(verified.signer, s) for s in allowed):
            other_signer.append(f"{where}: {verified.signer} is not allowed to sign eval results (its signers are "
                                f"{', '.join(str(s) for s in allowed) or 'nobody'}; `eval_evidence.signers`)")
        elif not any(bound.binds(f"sha256:{d}") for d in verified.subject_digests):
            named = ", ".join(f"sha256:{d}" for d in sorted(verified.subject_digests)) or "no digest"
            other_digest.append(f"{where}: the eval result by {verified.signer} is for {named}, not {bound.value}")
        else:
            results.append(results_from_test_result(verified.statement, f"{stored.uri}#L{record.line}",
                                                    str(verified.signer)))
    return SignedEvals(tuple(results), tuple(other_signer), tuple(other_digest))


def evidence_counts(ctx: CheckContext, artifact_id: str) -> bool:
    """Whether the artifact's eval evidence counts: fetched, verified, the pinned file, and bound to the artifact
    digest (or the policy does not ask for the digest and the report names none). Whatever stops it counting
    is reported by WG619/WG620 or the integrity rules, never by the eval-result checks."""
    facts = ctx.governance.evidence.get(artifact_id)
    if ctx.offline or facts is None or not refs.is_sha256_hex(facts.pinned_sha256) or not facts.usable:
        return False
    if facts.named_digest is None:
        return not ctx.policy.governance.eval_require_digest
    bound = ctx.digests.get(artifact_id)
    return bound is not None and bound.binds(facts.named_digest)
