"""WG602-WG607: approvals bound to the artifact digest, separation of duties, approval age, the roles the
policy requires per environment and source tier, and source tiers themselves."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.governance.deployment import environments_of, publisher_of, tier_of
from weightgate.governance.digests import BoundDigest
from weightgate.governance.policy import FULL_RECORD_FIELDS, PROHIBITED_TIER
from weightgate.manifest import Approval, Artifact


def approval_digests(ctx: CheckContext) -> Iterator[Finding]:
    digests = ctx.digests
    for artifact in ctx.manifest.artifacts:
        bound = digests.get(artifact.id)
        if bound is None:
            continue  # bytes not all verified or not pinned: the integrity rules fail the gate
        for approval in artifact.approvals:
            if bound.binds(approval.digest):
                continue
            yield Finding(
                rules.APPROVAL_DIGEST_MISMATCH,
                f"{artifact.id}: approval by {approval.approver} names {approval.digest}, but the artifact digest "
                f"({bound.source}) is {bound.value}",
                ctx.manifest.location((*approval.key, "digest")), artifact.id,
                evidence=(("approved_digest", approval.digest), ("artifact_digest", bound.value)),
            )


def _same_person(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().lower() == b.strip().lower()


def self_approvals(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        for approval in artifact.approvals:
            if _same_person(approval.approver, artifact.owner):
                yield Finding(rules.SELF_APPROVAL, f"{artifact.id}: approved by its owner {artifact.owner}",
                              ctx.manifest.location((*approval.key, "approver")), artifact.id)


def max_age(ctx: CheckContext) -> int:
    return ctx.policy.governance.approval_max_age_days or ctx.policy.revalidation_days


def _age_problem(ctx: CheckContext, approval: Approval) -> str | None:
    if approval.date > ctx.today:
        return f"is dated {approval.date}, in the future"
    age = (ctx.today - approval.date).days
    if age > max_age(ctx):
        return f"was given {age} days ago, on {approval.date} (policy: at most {max_age(ctx)})"
    return None


def approval_ages(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        for approval in artifact.approvals:
            problem = _age_problem(ctx, approval)
            if problem:
                yield Finding(rules.APPROVAL_STALE, f"{artifact.id}: approval by {approval.approver} {problem}",
                              ctx.manifest.location((*approval.key, "date")), artifact.id)


def valid_approvals(ctx: CheckContext, artifact: Artifact, bound: BoundDigest | None) -> list[Approval]:
    """Approvals that count: bound to this digest, not by the owner, and neither future nor stale."""
    return [a for a in artifact.approvals
            if bound is not None and bound.binds(a.digest) and not _same_person(a.approver, artifact.owner)
            and _age_problem(ctx, a) is None]


def required_roles(ctx: CheckContext) -> Iterator[Finding]:
    digests = ctx.digests
    governance = ctx.policy.governance
    for artifact in ctx.manifest.artifacts:
        environments = environments_of(ctx.manifest, artifact.id)
        tier = tier_of(governance, artifact)
        applying = [r for r in governance.role_requirements if r.applies(environments, tier)]
        if not applying:
            continue
        approved = {(a.role or "").lower() for a in valid_approvals(ctx, artifact, digests.get(artifact.id))}
        for role in dict.fromkeys(role for r in applying for role in r.roles):
            if role.lower() in approved:
                continue
            scopes = ", ".join(r.scope for r in applying if role in r.roles)
            yield Finding(rules.APPROVAL_ROLE_MISSING, f"{artifact.id}: no valid approval by the {role!r} role "
                          f"(required for {scopes}; tier {tier} source)",
                          ctx.at(artifact, "approvals") if artifact.approvals else ctx.at(artifact, "id"),
                          artifact.id, evidence=(("role", role), ("tier", str(tier))))


def full_records(ctx: CheckContext) -> Iterator[Finding]:
    governance = ctx.policy.governance
    for artifact in ctx.manifest.artifacts:
        tier = tier_of(governance, artifact)
        if tier not in governance.full_record_tiers:
            continue
        for approval in artifact.approvals:
            missing = [f for f in FULL_RECORD_FIELDS if not getattr(approval, f)]
            if missing:
                yield Finding(rules.APPROVAL_RECORD_INCOMPLETE, f"{artifact.id}: approval by {approval.approver} "
                              f"has no {' or '.join(missing)} (required for tier {tier} sources)",
                              ctx.manifest.location(approval.key), artifact.id)


def source_tiers(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        if tier_of(ctx.policy.governance, artifact) >= PROHIBITED_TIER:
            publisher = publisher_of(artifact.source)
            shown = f"publisher {publisher!r} on " if publisher else ""
            yield Finding(rules.SOURCE_TIER_PROHIBITED, f"{artifact.id}: {shown}{artifact.source.registry} is a "
                          "prohibited (tier 3) source", ctx.at(artifact, "source"), artifact.id,
                          evidence=(("registry", artifact.source.registry), ("publisher", publisher or "")))


CHECKS = (approval_digests, self_approvals, approval_ages, required_roles, full_records, source_tiers)
