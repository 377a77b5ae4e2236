"""WG625-WG626: a rollback target is approved as exactly its own bytes, and its bytes verify. (That it
exists and is pinned is WG106/WG107 in structure.py.) Both land on the artifact that names the rollback,
because that is the deployment left without a way back."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.governance.digests import BoundDigest
from weightgate.manifest import Artifact


def _rollback_target(ctx: CheckContext, artifact: Artifact) -> Artifact | None:
    if artifact.rollback is None or artifact.rollback == artifact.id:
        return None  # none, or WG106
    return ctx.manifest.artifact(artifact.rollback)


def rollback_approved(ctx: CheckContext) -> Iterator[Finding]:
    digests = ctx.digests
    for artifact in ctx.manifest.artifacts:
        target = _rollback_target(ctx, artifact)
        bound = digests.get(target.id) if target is not None else None
        if target is None or bound is None:
            continue  # unknown target (WG106), or its bytes unpinned/unverified (WG107, WG626)
        if not _approved(ctx, target, bound):
            yield Finding(rules.ROLLBACK_UNAPPROVED, f"{artifact.id}: rollback target {target.id!r} has no approval "
                          f"naming its digest {bound.value}", ctx.at(artifact, "rollback"), artifact.id,
                          evidence=(("rollback", target.id), ("rollback_digest", bound.value)))


def _approved(ctx: CheckContext, target: Artifact, bound: BoundDigest) -> bool:
    """A signed review of the target's own digest counts; text approvals only where the policy lets them."""
    from weightgate.checks.approvals import judged_reviews

    stored = ctx.governance.records.get(target.id)
    if stored is not None and not stored.fetched:
        return True  # offline, the network store was not read: the full run judges it
    if judged_reviews(ctx, target).any_approval:
        return True
    return not ctx.policy.evidence.require_signed and any(bound.binds(a.digest) for a in target.approvals)


def rollback_verified(ctx: CheckContext) -> Iterator[Finding]:
    if ctx.offline:
        return  # nothing was read; the full run re-hashes the target with every other artifact
    for artifact in ctx.manifest.artifacts:
        target = _rollback_target(ctx, artifact)
        if target is None:
            continue
        facts = ctx.facts.get(target.id)
        if facts is not None and facts.intact:
            continue
        if facts is None:
            problem = "was not verified (it has no mirror to read from)"
        else:
            bad = [f"{f.path} ({f.status.value if not f.verified else 'differs from its pin'})"
                   for f in facts.files if not f.matches_pin]
            problem = "failed verification: " + (", ".join(bad) or "no files")
        yield Finding(rules.ROLLBACK_UNVERIFIED, f"{artifact.id}: rollback target {target.id!r} {problem}",
                      ctx.at(artifact, "rollback"), artifact.id, evidence=(("rollback", target.id),))


CHECKS = (rollback_approved, rollback_verified)
