"""WG6xx (core part): fields the policy requires per artifact class, and re-validation age."""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.governance.deployment import services_deploying


def required_fields(ctx: CheckContext) -> Iterator[Finding]:
    # Signed approvals live in the approvals store, not the manifest: the roles check judges them there.
    store_held = {"approvals"} if ctx.policy.evidence.require_signed else set()
    for artifact in ctx.manifest.artifacts:
        missing = [f for f in ctx.policy.required_fields.get(artifact.artifact_class, ())
                   if f not in store_held and not artifact.has_field(f)]
        for field in missing:
            yield Finding(rules.REQUIRED_FIELD_MISSING, f"{artifact.id}: the policy requires `{field}` for a "
                          f"{artifact.artifact_class}", ctx.at(artifact, "id"), artifact.id,
                          evidence=(("field", field),))


def revalidation_age(ctx: CheckContext) -> Iterator[Finding]:
    limit = datetime.timedelta(days=ctx.policy.revalidation_days)
    for artifact in ctx.manifest.artifacts:
        validated = artifact.last_validated
        if validated is None:
            continue  # a missing date is the required-fields check's to report
        if validated > ctx.today:
            yield Finding(rules.REVALIDATION_OVERDUE, f"{artifact.id}: last_validated {validated} is in the "
                          "future", ctx.at(artifact, "last_validated"), artifact.id)
        elif ctx.today - validated > limit:
            age = (ctx.today - validated).days
            # Say which clock ran out: this one (revalidation_days), not the advisory clock (WG703) or an
            # incident (WG635), so whoever re-validates knows what is asked of them.
            yield Finding(rules.REVALIDATION_OVERDUE, f"{artifact.id}: the re-validation clock ran out "
                          f"(`revalidation_days`: {ctx.policy.revalidation_days}): last validated {validated}, "
                          f"{age} days ago{_production_note(ctx, artifact.id)}", ctx.at(artifact, "last_validated"),
                          artifact.id, evidence=(("clock", "revalidation_days"),
                                                 ("last_validated", validated.isoformat()),
                                                 ("max_age_days", str(ctx.policy.revalidation_days))))


def _production_note(ctx: CheckContext, artifact_id: str) -> str:
    """Which production services run the artifact, so an overdue re-validation reads as the outage risk it is."""
    globs = ctx.policy.advisories.production_environments
    names = sorted(s.name for s in services_deploying(ctx.manifest, artifact_id)
                   if s.environment and any(fnmatch.fnmatchcase(s.environment, g) for g in globs))
    return f"; production service(s) {', '.join(names)} run it" if names else ""


CHECKS = (required_fields, revalidation_age)
