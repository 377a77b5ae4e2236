"""WG602-WG607, WG636-WG640: approvals bound to the artifact digest, separation of duties, approval age, the
roles the policy requires per environment and source tier (with thresholds), and source tiers themselves.

With `approvals.require_signed` only signed review records from the approvals store count (see
governance.signed_reviews); approvals written in the manifest are then reported as claims (WG636) and nothing
else is judged from them."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.governance.deployment import environments_of, publisher_of, tier_of
from weightgate.governance.digests import BoundDigest
from weightgate.governance.facts import ApprovalView
from weightgate.governance.identities import same_person
from weightgate.governance.policy import FULL_RECORD_FIELDS, PROHIBITED_TIER
from weightgate.governance.signed_reviews import JudgedReviews, Problem, judge_reviews
from weightgate.manifest import Approval, Artifact


def _text_counts(ctx: CheckContext) -> bool:
    return not ctx.policy.evidence.require_signed


def approval_digests(ctx: CheckContext) -> Iterator[Finding]:
    digests = ctx.digests
    for artifact in ctx.manifest.artifacts if _text_counts(ctx) else ():
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


def self_approvals(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts if _text_counts(ctx) else ():
        for approval in artifact.approvals:
            if same_person(approval.approver, artifact.owner):
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
    for artifact in ctx.manifest.artifacts if _text_counts(ctx) else ():
        for approval in artifact.approvals:
            problem = _age_problem(ctx, approval)
            if problem:
                yield Finding(rules.APPROVAL_STALE, f"{artifact.id}: approval by {approval.approver} {problem}",
                              ctx.manifest.location((*approval.key, "date")), artifact.id)


def valid_approvals(ctx: CheckContext, artifact: Artifact, bound: BoundDigest | None) -> list[Approval]:
    """Text approvals that count (never under require_signed): bound to this digest, not by the owner, and
    neither future nor stale."""
    if not _text_counts(ctx):
        return []
    return [a for a in artifact.approvals
            if bound is not None and bound.binds(a.digest) and not same_person(a.approver, artifact.owner)
            and _age_problem(ctx, a) is None]


def judged_reviews(ctx: CheckContext, artifact: Artifact) -> JudgedReviews:
    """The signed review records that count for `artifact`, and the problems of the others."""
    return ctx.judged_reviews.get(artifact.id) or JudgedReviews()


def judge_artifact_reviews(ctx: CheckContext, artifact: Artifact) -> JudgedReviews:
    stored = ctx.governance.records.get(artifact.id)
    bound = ctx.digests.get(artifact.id)
    if stored is None or bound is None:
        return JudgedReviews()
    return judge_reviews(stored, bound, artifact.owner, environments_of(ctx.manifest, artifact.id),
                         ctx.policy.evidence, ctx.today, max_age(ctx))


def approver_count(ctx: CheckContext, artifact: Artifact, role: str) -> int:
    """Distinct approvals of `role` that count: signed records, plus text approvals when the policy lets them."""
    text = sum(1 for a in valid_approvals(ctx, artifact, ctx.digests.get(artifact.id))
               if (a.role or "").lower() == role.lower())
    return judged_reviews(ctx, artifact).approvers(role) + text


def is_approved(ctx: CheckContext, artifact: Artifact) -> bool:
    """Some approval of this exact digest counts (rollback targets need one)."""
    return bool(valid_approvals(ctx, artifact, ctx.digests.get(artifact.id))) or \
        judged_reviews(ctx, artifact).any_approval


def required_roles(ctx: CheckContext) -> Iterator[Finding]:
    governance = ctx.policy.governance
    for artifact in ctx.manifest.artifacts:
        environments = environments_of(ctx.manifest, artifact.id)
        tier = tier_of(governance, artifact)
        applying = [r for r in governance.role_requirements if r.applies(environments, tier)]
        judged = judged_reviews(ctx, artifact)
        stored = ctx.governance.records.get(artifact.id)
        if stored is not None and not stored.fetched:
            continue  # offline, the network store was not read: the full run judges the roles
        for role in dict.fromkeys(role for r in applying for role in r.roles):
            if judged.roles.get(role.lower()) and judged.roles[role.lower()].rejection:
                continue  # WG639 says why
            count = approver_count(ctx, artifact, role)
            needed = _threshold(ctx, role)
            if count >= needed:
                continue
            scopes = ", ".join(r.scope for r in applying if role in r.roles)
            where = ctx.at(artifact, "approvals") if artifact.approvals else ctx.at(artifact, "id")
            evidence = (("role", role), ("tier", str(tier)), ("approvals", str(count)), ("required", str(needed)))
            if count == 0:
                yield Finding(rules.APPROVAL_ROLE_MISSING, f"{artifact.id}: no valid approval by the {role!r} role "
                              f"(required for {scopes}; tier {tier} source){_how_to_approve(ctx, role)}", where,
                              artifact.id, evidence=evidence)
            else:
                yield Finding(rules.APPROVAL_BELOW_THRESHOLD, f"{artifact.id}: {count} of the {needed} distinct "
                              f"approvals the {role!r} role needs (required for {scopes})", where, artifact.id,
                              evidence=evidence)


def _threshold(ctx: CheckContext, role: str) -> int:
    reviewers = ctx.policy.evidence.role(role)
    return reviewers.min if reviewers is not None else 1


def _how_to_approve(ctx: CheckContext, role: str) -> str:
    evidence = ctx.policy.evidence
    if not evidence.require_signed:
        return ""
    if evidence.role(role) is None:
        return f"; the policy names no reviewers for {role!r} (`approvals.reviewers`), so none can count"
    if ctx.governance.records_store is None:
        return "; the policy names no approvals store (`approvals.store` or --evidence)"
    return ""


def text_approvals(ctx: CheckContext) -> Iterator[Finding]:
    """Under require_signed, each approval written in the manifest is a claim: shown, never counted."""
    if _text_counts(ctx):
        return
    for artifact in ctx.manifest.artifacts:
        for approval in artifact.approvals:
            yield Finding(rules.APPROVAL_UNSIGNED, f"{artifact.id}: the approval by {approval.approver} "
                          f"({approval.role or 'no role'}) is written in the manifest; the policy counts only "
                          "signed review records", ctx.manifest.location(approval.key), artifact.id)


_PROBLEM_RULES = {
    Problem.INVALID: rules.APPROVAL_RECORD_INVALID,
    Problem.UNTRUSTED: rules.APPROVAL_SIGNER_NOT_ALLOWED,
    Problem.OTHER_DIGEST: rules.APPROVAL_DIGEST_MISMATCH,
    Problem.OWNER: rules.SELF_APPROVAL,
    Problem.STALE: rules.APPROVAL_STALE,
    Problem.OTHER_ENVIRONMENT: rules.APPROVAL_ROLE_MISSING,
}


def signed_records(ctx: CheckContext) -> Iterator[Finding]:
    """Every record in the store for an artifact's digest that does not count says why; a store that cannot be
    read fails closed; a role whose latest review is a rejection blocks."""
    for artifact in ctx.manifest.artifacts:
        stored = ctx.governance.records.get(artifact.id)
        if stored is None or not stored.fetched:
            continue
        where = ctx.at(artifact, "approvals") if artifact.approvals else ctx.at(artifact, "id")
        if not stored.readable:
            yield Finding(rules.APPROVAL_RECORD_INVALID, f"{artifact.id}: the approvals store {stored.uri} could "
                          f"not be read: {stored.reason}", where, artifact.id)
            continue
        judged = judged_reviews(ctx, artifact)
        for problem in judged.problems:
            if problem.problem is Problem.OTHER_ENVIRONMENT:
                continue  # not a bad record, only not this deployment's: the role check says what is missing
            yield Finding(_PROBLEM_RULES[problem.problem], f"{artifact.id}: {stored.uri} line "
                          f"{problem.record.line}: {problem.message}", where, artifact.id,
                          evidence=(("record", f"{stored.uri}#L{problem.record.line}"),))
        yield from _incomplete_signed(ctx, artifact, judged, stored.uri)
        for outcome in judged.roles.values():
            rejection = outcome.rejection
            if rejection is None or rejection.review is None or rejection.verified is None:
                continue
            why = f": {rejection.review.justification}" if rejection.review.justification else ""
            yield Finding(rules.APPROVAL_REJECTED, f"{artifact.id}: the {outcome.role!r} role rejected this digest "
                          f"({rejection.verified.signer}, {rejection.review.time:%Y-%m-%dT%H:%M:%SZ}"
                          f"{', ' + rejection.review.ticket if rejection.review.ticket else ''}){why}", where,
                          artifact.id, evidence=(("record", f"{stored.uri}#L{rejection.line}"),))


def _incomplete_signed(ctx: CheckContext, artifact: Artifact, judged: JudgedReviews, uri: str) -> Iterator[Finding]:
    """A counting signed approval of a full-record tier's artifact must name its ticket, as text ones must."""
    tier = tier_of(ctx.policy.governance, artifact)
    if tier not in ctx.policy.governance.full_record_tiers:
        return
    for outcome in judged.roles.values():
        for record in outcome.approvals:
            if record.review is not None and not record.review.ticket:
                yield Finding(rules.APPROVAL_RECORD_INCOMPLETE, f"{artifact.id}: {uri} line {record.line}: the "
                              f"{outcome.role!r} approval names no ticket (required for tier {tier} sources)",
                              ctx.at(artifact, "id"), artifact.id)


def full_records(ctx: CheckContext) -> Iterator[Finding]:
    governance = ctx.policy.governance
    for artifact in ctx.manifest.artifacts if _text_counts(ctx) else ():
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


CHECKS = (approval_digests, self_approvals, approval_ages, required_roles, text_approvals, signed_records,
          full_records, source_tiers)


def approval_chain(ctx: CheckContext, artifact: Artifact) -> tuple[ApprovalView, ...]:
    """Every approval of `artifact`, signed or written, with whether it counted: what reports show auditors."""
    counted_text = set(map(id, valid_approvals(ctx, artifact, ctx.digests.get(artifact.id))))
    views = [ApprovalView(a.approver, a.role, a.date.isoformat(), a.digest, a.ticket, "approved", False,
                          id(a) in counted_text) for a in artifact.approvals]
    stored = ctx.governance.records.get(artifact.id)
    judged = judged_reviews(ctx, artifact)
    counting = {id(r) for o in judged.roles.values() for r in (*o.approvals, *([o.rejection] if o.rejection else []))}
    if stored is None or not stored.readable:
        return tuple(views)
    for record in stored.reviews():
        review, verified = record.review, record.verified
        assert review is not None and verified is not None
        subjects = sorted(verified.subject_digests)
        views.append(ApprovalView(verified.signer.identity, review.role, f"{review.time:%Y-%m-%dT%H:%M:%SZ}",
                                  f"sha256:{subjects[0]}" if subjects else None, review.ticket,
                                  review.decision.value, True, id(record) in counting,
                                  f"{stored.uri}#L{record.line}"))
    return tuple(views)
