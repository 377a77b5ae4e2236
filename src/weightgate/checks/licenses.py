"""WG608, WG611-WG614: licenses parsed as SPDX expressions and judged against the policy, the review record,
and inheritance along the lineage (a derived artifact carries its bases' restrictions; a commercial or
customer-facing service may not use anything non-commercial anywhere in its lineage)."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding, Location
from weightgate.governance.deployment import services_deploying
from weightgate.governance.inheritance import Inherited, RestrictionIndex, verdict_of
from weightgate.governance.licenses import LicenseVerdict
from weightgate.governance.policy import Restriction
from weightgate.lineage import build_lineage, chain_text
from weightgate.manifest import Artifact

APPROVING_OUTCOMES = ("approved", "approved-with-conditions")


def _license_texts(ctx: CheckContext) -> Iterator[tuple[Artifact, str, Location]]:
    """Every license expression in the manifest: artifacts' own, and external bases' (by their artifact)."""
    for artifact in ctx.manifest.artifacts:
        if artifact.license is not None:
            yield artifact, artifact.license.spdx, ctx.at(artifact, "license", "spdx")
        for ref in artifact.base_models:
            if ref.artifact is None and ref.license:
                yield artifact, ref.license, ctx.manifest.location((*ref.key, "license"))


def license_validity(ctx: CheckContext) -> Iterator[Finding]:
    policy = ctx.policy.governance.licenses
    for artifact, text, where in _license_texts(ctx):
        verdict = verdict_of(text, policy)
        if isinstance(verdict, str):
            yield Finding(rules.LICENSE_INVALID, f"{artifact.id}: {verdict}", where, artifact.id)
        elif verdict is not None and verdict.undeclared:
            yield Finding(rules.LICENSE_INVALID, f"{artifact.id}: {', '.join(verdict.undeclared)} "
                          "is not declared in the policy's `licenses.declared`, so its terms are unknown",
                          where, artifact.id, evidence=(("license", text),))


def license_policy(ctx: CheckContext) -> Iterator[Finding]:
    policy = ctx.policy.governance.licenses
    for artifact in ctx.manifest.artifacts:
        if artifact.license is None:
            continue
        verdict = verdict_of(artifact.license.spdx, policy)
        if not isinstance(verdict, LicenseVerdict):
            continue  # license_validity reports it
        where = ctx.at(artifact, "license", "spdx")
        evidence = (("license", artifact.license.spdx),)
        review = artifact.license.review
        if verdict.denied:
            yield Finding(rules.LICENSE_DENIED, f"{artifact.id}: {', '.join(verdict.denied)} is denied by the "
                          "policy and the expression offers no allowed alternative", where, artifact.id,
                          evidence=evidence)
        elif review is not None and review.outcome not in APPROVING_OUTCOMES:
            yield Finding(rules.LICENSE_DENIED, f"{artifact.id}: the license review by {review.reviewer} "
                          f"({review.record or 'no record id'}) {review.outcome} {artifact.license.spdx}",
                          ctx.at(artifact, "license", "review"), artifact.id, evidence=evidence)
        elif verdict.needs_review and ctx.policy.evidence.require_signed:
            stored = ctx.governance.records.get(artifact.id)
            if (stored is None or stored.fetched) and not _signed_license_review(ctx, artifact):
                roles = " or ".join(ctx.policy.evidence.license_roles)
                yield Finding(rules.LICENSE_REVIEW_MISSING, f"{artifact.id}: {', '.join(verdict.needs_review)} needs "
                              f"a signed license review of {artifact.license.spdx!r} by the {roles} role, and there "
                              "is none that counts (a `license.review` written in the manifest is a claim)", where,
                              artifact.id, evidence=evidence)
        elif verdict.needs_review and review is None:
            yield Finding(rules.LICENSE_REVIEW_MISSING, f"{artifact.id}: {', '.join(verdict.needs_review)} needs "
                          "an approved license review (`license.review`), and there is none", where, artifact.id,
                          evidence=evidence)


def _signed_license_review(ctx: CheckContext, artifact: Artifact) -> bool:
    """A counting approval by a license role that reviewed exactly this expression."""
    from weightgate.checks.approvals import judged_reviews

    assert artifact.license is not None
    wanted = " ".join(artifact.license.spdx.split())
    judged = judged_reviews(ctx, artifact)
    for role in ctx.policy.evidence.license_roles:
        outcome = judged.roles.get(role.lower())
        if outcome is None or outcome.rejection:
            continue
        if any(r.review and r.review.license and " ".join(r.review.license.expression.split()) == wanted
               for r in outcome.approvals):
            return True
    return False


# --- inheritance -------------------------------------------------------------------------------------------

def _describe(artifact_id: str, inherited: Inherited) -> str:
    return f"{chain_text(artifact_id, inherited.chain)} ({inherited.origin_license})"


def license_inheritance(ctx: CheckContext) -> Iterator[Finding]:
    lineage = build_lineage(ctx.manifest)
    restrictions = RestrictionIndex(lineage, ctx.policy.governance.licenses)
    for artifact in ctx.manifest.artifacts:
        if artifact.license is None or not artifact.base_models:
            continue
        verdict = verdict_of(artifact.license.spdx, ctx.policy.governance.licenses)
        if not isinstance(verdict, LicenseVerdict):
            continue
        dropped = [i for r, i in restrictions.inherited(artifact.id).items() if r not in verdict.restrictions]
        if dropped:
            chains = "; ".join(f"{i.restriction.value} via {_describe(artifact.id, i)}" for i in dropped)
            yield Finding(rules.LICENSE_BROADER_THAN_BASE, f"{artifact.id}: its license {artifact.license.spdx} "
                          f"drops restrictions it inherits: {chains}", ctx.at(artifact, "license", "spdx"),
                          artifact.id, evidence=tuple((i.restriction.value, chain_text(artifact.id, i.chain))
                                                      for i in dropped))


def license_use(ctx: CheckContext) -> Iterator[Finding]:
    lineage = build_lineage(ctx.manifest)
    restrictions = RestrictionIndex(lineage, ctx.policy.governance.licenses)
    for artifact in ctx.manifest.artifacts:
        effective = restrictions.effective(artifact)
        non_commercial = effective.get(Restriction.NON_COMMERCIAL)
        if non_commercial is not None:
            for service in services_deploying(ctx.manifest, artifact.id):
                if service.commercial or service.customer_facing:
                    use = "commercial" if service.commercial else "customer-facing"
                    yield Finding(rules.LICENSE_USE_CONFLICT, f"{artifact.id}: {use} service {service.name!r} "
                                  f"deploys it, but it is non-commercial via {_describe(artifact.id, non_commercial)}",
                                  ctx.at(artifact, "id"), artifact.id,
                                  evidence=(("service", service.name),
                                            ("chain", chain_text(artifact.id, non_commercial.chain))))
        no_derivatives = restrictions.inherited(artifact.id).get(Restriction.NO_DERIVATIVES)
        if no_derivatives is not None:
            yield Finding(rules.LICENSE_USE_CONFLICT, f"{artifact.id}: it derives from a no-derivatives license "
                          f"via {_describe(artifact.id, no_derivatives)}", ctx.at(artifact, "base_models"),
                          artifact.id, evidence=(("chain", chain_text(artifact.id, no_derivatives.chain)),))


CHECKS = (license_validity, license_policy, license_inheritance, license_use)
