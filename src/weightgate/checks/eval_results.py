"""WG641, WG642, WG644: eval results are judged, not just present. A result that says it failed, is malformed, or
misses a bound of a suite the policy requires is WG641; a required suite with no result is WG644; a metric worse
than the rollback's own result for the suite by more than the suite's tolerance is WG642.

Results come from one accessor (`eval_results_for`), which counts them only when the evidence is verified and
bound to the artifact digest; evidence that does not count is WG619/WG620's (or the integrity rules') to report,
so these checks stay silent about it rather than report it twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding, Location
from weightgate.governance.deployment import environments_of
from weightgate.governance.eval_results import EvalResult, eval_results_for, evidence_counts, signed_eval_results
from weightgate.governance.policy import EvalSuite, MetricBound
from weightgate.manifest import Artifact

# Metrics are decimal fractions stored as binary floats: 0.74 - 0.72 is 0.020000000000000018, which must not
# count as more than a tolerance of 0.02.
FLOAT_SLACK = 1e-9


def _artifacts(ctx: CheckContext) -> Iterator[Artifact]:
    """Each artifact once (a repeated id is WG102's), none offline: evidence is not fetched then."""
    if ctx.offline:
        return
    seen: set[str] = set()
    for artifact in ctx.manifest.artifacts:
        if artifact.id not in seen:
            seen.add(artifact.id)
            yield artifact


def _where(ctx: CheckContext, artifact: Artifact) -> tuple[Location, str]:
    if artifact.eval_evidence is None:
        return ctx.at(artifact, "id"), ""
    return ctx.at(artifact, "eval_evidence"), artifact.eval_evidence.path


def _suites_for(ctx: CheckContext, artifact: Artifact) -> list[EvalSuite]:
    environments = environments_of(ctx.manifest, artifact.id)
    return [s for s in ctx.policy.governance.eval_suites if s.applies(artifact.artifact_class, environments)]


def _evidence_reported(ctx: CheckContext, artifact: Artifact) -> bool:
    """The artifact has no results because another rule already says why: no evidence where the class requires
    it (WG618), or evidence that does not count (WG619, WG620, or the integrity rules for the artifact)."""
    if signed_eval_results(ctx, artifact.id).results:
        return False
    if artifact.eval_evidence is None:
        return artifact.artifact_class in ctx.policy.governance.eval_required_for
    return not evidence_counts(ctx, artifact.id)


def _suite(result: EvalResult) -> str:
    return result.suite or "(unnamed)"


def _number(value: float) -> str:
    return repr(value)  # the shortest text that reads back as the same float: 0.7, not 0.6999999999999999


def _bound_text(bound: MetricBound) -> str:
    parts = [f"min {_number(bound.min)}" if bound.min is not None else "",
             f"max {_number(bound.max)}" if bound.max is not None else ""]
    return ", ".join(p for p in parts if p)


# --- WG641: the result itself ------------------------------------------------------------------------------

def result_verdicts(ctx: CheckContext) -> Iterator[Finding]:
    """Every counted result that says it failed or is malformed, whether or not the policy lists its suite:
    the evaluation's own verdict against the artifact is never overlooked."""
    for artifact in _artifacts(ctx):
        where, path = _where(ctx, artifact)
        said: set[str] = set()  # two results repeating one suite are both malformed: say it once
        for result in eval_results_for(ctx, artifact.id):
            for finding in _result_problems(artifact, result, where, path):
                if finding.message not in said:
                    said.add(finding.message)
                    yield finding


def _result_problems(artifact: Artifact, result: EvalResult, where: Location, path: str) -> Iterator[Finding]:
    suite = _suite(result)
    if result.problems:
        yield Finding(rules.EVAL_RESULT_FAILED, f"{artifact.id}: eval result for suite {suite} is malformed: "
                      f"{'; '.join(result.problems)} ({result.source})", where, artifact.id, file_path=path,
                      evidence=(("suite", suite),))
    for metric, value in result.bad_metrics.items():
        yield Finding(rules.EVAL_RESULT_FAILED, f"{artifact.id}: eval suite {suite}: metric {metric} is {value}, "
                      f"not a finite number ({result.source})", where, artifact.id, file_path=path,
                      evidence=(("suite", suite), ("metric", metric), ("value", value)))
    if result.passed is False:
        shown = ", ".join(f"{m} {_number(v)}" for m, v in sorted(result.metrics.items())) or "no metrics"
        yield Finding(rules.EVAL_RESULT_FAILED, f"{artifact.id}: eval suite {suite} failed: the result says so "
                      f"({shown}; {result.source})", where, artifact.id, file_path=path,
                      evidence=(("suite", suite), ("passed", "false")))


# --- WG641, WG644: what the policy requires of the result --------------------------------------------------

def suite_requirements(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in _artifacts(ctx):
        suites = _suites_for(ctx, artifact)
        if not suites:
            continue
        where, path = _where(ctx, artifact)
        results = eval_results_for(ctx, artifact.id)
        for suite in suites:
            matching = [r for r in results if r.suite == suite.name]
            if not matching:
                if not _evidence_reported(ctx, artifact):
                    yield _suite_missing(ctx, artifact, suite, where, path)
                continue
            for result in matching:
                yield from _bound_misses(artifact, suite, result, where, path)


def _suite_missing(ctx: CheckContext, artifact: Artifact, suite: EvalSuite, where: Location,
                   path: str) -> Finding:
    environments = sorted(environments_of(ctx.manifest, artifact.id))
    scope = f"a {artifact.artifact_class}" + (f" deployed to {', '.join(environments)}" if environments else "")
    has = "the evidence reports no result for it" if artifact.eval_evidence else "it has no eval_evidence"
    return Finding(rules.EVAL_SUITE_MISSING, f"{artifact.id}: the policy requires eval suite {suite.name} of "
                   f"{scope}, and {has}", where, artifact.id, file_path=path, evidence=(("suite", suite.name),))


def _bound_misses(artifact: Artifact, suite: EvalSuite, result: EvalResult, where: Location,
                  path: str) -> Iterator[Finding]:
    for bound in suite.metrics:
        if bound.metric in result.bad_metrics:
            continue  # reported as malformed by result_verdicts
        value = result.metrics.get(bound.metric)
        if value is None:
            problem = f"metric {bound.metric} ({_bound_text(bound)}) is missing from the result"
        elif bound.min is not None and value < bound.min:
            problem = f"{bound.metric} is {_number(value)}, below the policy's minimum {_number(bound.min)}"
        elif bound.max is not None and value > bound.max:
            problem = f"{bound.metric} is {_number(value)}, above the policy's maximum {_number(bound.max)}"
        else:
            continue
        yield Finding(rules.EVAL_RESULT_FAILED, f"{artifact.id}: eval suite {suite.name}: {problem} "
                      f"({result.source})", where, artifact.id, file_path=path,
                      evidence=(("suite", suite.name), ("metric", bound.metric),
                                ("value", "missing" if value is None else _number(value)),
                                ("bound", _bound_text(bound))))


# --- WG642: compared with the rollback ---------------------------------------------------------------------

def regressions(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in _artifacts(ctx):
        rollback = ctx.manifest.artifact(artifact.rollback) if artifact.rollback else None
        if rollback is None or rollback.id == artifact.id:
            continue  # no rollback, or a dangling one (WG1xx reports that)
        where, path = _where(ctx, artifact)
        results = eval_results_for(ctx, artifact.id)
        baseline = eval_results_for(ctx, rollback.id)
        for suite in _suites_for(ctx, artifact):
            current = [r for r in results if r.suite == suite.name]
            if suite.regression_tolerance is None or not current:
                continue  # not compared, or no result of its own (WG644)
            before = [r for r in baseline if r.suite == suite.name]
            if not before:
                if not _evidence_reported(ctx, rollback) or rollback.eval_evidence is None:
                    yield Finding(rules.EVAL_REGRESSION, f"{artifact.id}: eval suite {suite.name}: the rollback "
                                  f"{rollback.id} has no result for the suite, so there is no baseline to show "
                                  "this version is not worse", where, artifact.id, file_path=path,
                                  evidence=(("suite", suite.name), ("rollback", rollback.id)))
                continue
            yield from _metric_regressions(artifact, rollback, suite, suite.regression_tolerance, current, before,
                                           where, path)


def _metric_regressions(artifact: Artifact, rollback: Artifact, suite: EvalSuite, tolerance: float,
                        current: Iterable[EvalResult], before: Iterable[EvalResult], where: Location,
                        path: str) -> Iterator[Finding]:
    """Per bounded metric with a direction: this version's worst value against the rollback's best, so that
    several results for one suite can only make the comparison stricter."""
    current, before = list(current), list(before)
    for bound in suite.metrics:
        higher = bound.higher_is_better
        values = [r.metrics[bound.metric] for r in current if bound.metric in r.metrics]
        if higher is None or not values:
            continue  # a band has no direction; a missing metric is WG641's
        baselines = [r.metrics[bound.metric] for r in before if bound.metric in r.metrics]
        evidence = (("suite", suite.name), ("metric", bound.metric), ("rollback", rollback.id))
        if not baselines:
            yield Finding(rules.EVAL_REGRESSION, f"{artifact.id}: eval suite {suite.name}: the rollback "
                          f"{rollback.id}'s result has no {bound.metric} to compare with", where, artifact.id,
                          file_path=path, evidence=evidence)
            continue
        value = min(values) if higher else max(values)
        base = max(baselines) if higher else min(baselines)
        worse = base - value if higher else value - base
        if worse - tolerance > FLOAT_SLACK:
            yield Finding(rules.EVAL_REGRESSION, f"{artifact.id}: eval suite {suite.name}: {bound.metric} is "
                          f"{_number(value)}, {'below' if higher else 'above'} the rollback {rollback.id}'s "
                          f"{_number(base)} by {_number(round(worse, 12))}, more than the tolerance "
                          f"{_number(tolerance)}", where, artifact.id, file_path=path,
                          evidence=(*evidence, ("value", _number(value)), ("baseline", _number(base)),
                                    ("tolerance", _number(tolerance))))


# --- WG643: signed results ---------------------------------------------------------------------------------

def signed_results(ctx: CheckContext) -> Iterator[Finding]:
    """Under `eval_evidence.require_signed`, an artifact that needs eval results needs a signed one that counts;
    signed records by someone else, or for another digest, say why they do not count."""
    for artifact in _artifacts(ctx):
        stored = ctx.governance.records.get(artifact.id)
        if stored is not None and not stored.fetched:
            continue
        where, path = _where(ctx, artifact)
        signed = signed_eval_results(ctx, artifact.id)
        for message in signed.other_signer:
            yield Finding(rules.APPROVAL_SIGNER_NOT_ALLOWED, f"{artifact.id}: {message}", where, artifact.id)
        for message in signed.other_digest:
            yield Finding(rules.EVAL_EVIDENCE_DIGEST_MISMATCH, f"{artifact.id}: {message}", where, artifact.id)
        needed = artifact.artifact_class in ctx.policy.governance.eval_required_for or _suites_for(ctx, artifact)
        if ctx.policy.evidence.eval_require_signed and needed and not signed.results:
            claim = f"; the unsigned report {path} is a claim" if path else ""
            yield Finding(rules.EVAL_UNSIGNED, f"{artifact.id}: no signed eval result for this digest counts "
                          f"(`eval_evidence.require_signed`){claim}", where, artifact.id, file_path=path)


CHECKS = (result_verdicts, suite_requirements, regressions, signed_results)
