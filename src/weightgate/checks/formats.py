"""WG4xx: the real format of each verified file, judged by the format policy; inspector issues located."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.facts import FileFacts
from weightgate.findings import Finding, Location
from weightgate.formats import Format, claimed_formats
from weightgate.formats.base import Issue
from weightgate.formats.pickle_allowlist import allowed_by_policy
from weightgate.policy import FormatAction, Policy
from weightgate.rules import Severity

if TYPE_CHECKING:
    from weightgate.manifest import Artifact, PinnedFile


def _verified_files(ctx: CheckContext) -> Iterator[tuple[Artifact, PinnedFile, FileFacts]]:
    for artifact in ctx.manifest.artifacts:
        facts = ctx.facts.get(artifact.id)
        if facts is None:
            continue
        for pinned, file_facts in zip(artifact.files, facts.files, strict=True):
            if file_facts.verified and file_facts.format is not None:
                yield artifact, pinned, file_facts


def format_policy(ctx: CheckContext) -> Iterator[Finding]:
    for artifact, pinned, facts in _verified_files(ctx):
        assert facts.format is not None
        yield from judge_format(facts.format, ctx.policy.format_action(facts.format),
                                ctx.manifest.location(pinned.key), artifact.id, pinned.path)


def judge_format(fmt: Format, action: FormatAction, where: Location, artifact_id: str,
                 path: str) -> Iterator[Finding]:
    """The format policy's verdict on one file; shared with `scan`."""
    if fmt is Format.UNKNOWN and action is not FormatAction.PERMITTED:
        yield Finding(rules.FORMAT_UNKNOWN, f"{path}: content matches no known format", where, artifact_id,
                      path)
    elif action is FormatAction.PROHIBITED:
        danger = " (loading it can execute code)" if fmt.runs_code_on_load else ""
        yield Finding(rules.FORMAT_PROHIBITED, f"{path}: format {fmt.value} is prohibited by policy{danger}",
                      where, artifact_id, path,
                      severity_override=Severity.CRITICAL if fmt.runs_code_on_load else None,
                      evidence=(("format", fmt.value),))
    elif action is FormatAction.SANDBOX:
        yield Finding(rules.FORMAT_SANDBOX, f"{path}: format {fmt.value} is permitted only in a sandbox",
                      where, artifact_id, path, evidence=(("format", fmt.value),))


def format_claims(ctx: CheckContext) -> Iterator[Finding]:
    for artifact, pinned, facts in _verified_files(ctx):
        assert facts.format is not None
        where = ctx.manifest.location(pinned.key)
        if pinned.declared_format is not None and pinned.declared_format != facts.format.value:
            yield Finding(rules.FORMAT_MISMATCH, f"{pinned.path}: declared {pinned.declared_format}, content "
                          f"is {facts.format.value}", where, artifact.id, pinned.path,
                          evidence=(("declared", pinned.declared_format), ("detected", facts.format.value)))
        else:
            yield from judge_extension(pinned.path, facts.format, where, artifact.id)


def judge_extension(path: str, fmt: Format, where: Location, artifact_id: str) -> Iterator[Finding]:
    claimed = claimed_formats(path)
    if claimed is not None and fmt not in claimed:
        names = "/".join(sorted(f.value for f in claimed))
        yield Finding(rules.FORMAT_MISMATCH, f"{path}: the name says {names}, content is {fmt.value}", where,
                      artifact_id, path, evidence=(("claimed", names), ("detected", fmt.value)))


def content_issues(ctx: CheckContext) -> Iterator[Finding]:
    for artifact, pinned, facts in _verified_files(ctx):
        yield from issue_findings(facts.issues, ctx.policy, ctx.manifest.location(pinned.key), artifact.id,
                                  pinned.path)


def issue_findings(issues: Iterable[Issue], policy: Policy, where: Location, artifact_id: str,
                   path: str) -> Iterator[Finding]:
    """Inspector issues as located findings, less pickle globals the policy adds to the allowlist; shared
    with `scan`."""
    for issue in issues:
        if allowed_by_policy(issue, policy.pickle_extra_globals):
            continue
        yield Finding(issue.rule, f"{path}: {issue.message}", where, artifact_id, path,
                      severity_override=issue.severity_override, evidence=issue.evidence,
                      confidence=issue.confidence)


CHECKS = (format_policy, format_claims, content_issues)
