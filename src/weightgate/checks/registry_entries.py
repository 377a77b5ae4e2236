"""WG621-WG624: the model-registry entry a manifest names exists, carries this artifact's digest, and is
in a production-eligible stage. The gate looked the entries up; these checks only compare."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.governance.digests import BoundDigest
from weightgate.manifest import Artifact, RegistryEntry
from weightgate.registry import RegistryRecord


def registry_available(ctx: CheckContext) -> Iterator[Finding]:
    lookups = ctx.governance.registry
    if ctx.offline or not any(a.registry_entry for a in ctx.manifest.artifacts):
        return
    where = ctx.policy.governance.registry_location
    if lookups.unavailable is not None and where is not None:
        yield Finding(rules.REGISTRY_UNAVAILABLE, f"the model registry could not be read: {lookups.unavailable}",
                      where)
        return
    for artifact in ctx.manifest.artifacts:
        if artifact.registry_entry is not None and lookups.uri is None and lookups.unavailable is None:
            yield Finding(rules.REGISTRY_UNAVAILABLE, f"{artifact.id}: no model registry is configured (policy "
                          "`registry.file` or --registry), so its registry entry cannot be checked",
                          ctx.at(artifact, "registry_entry"), artifact.id)


def registry_entries(ctx: CheckContext) -> Iterator[Finding]:
    lookups = ctx.governance.registry
    if ctx.offline or lookups.uri is None or lookups.unavailable is not None:
        return
    digests = ctx.digests
    for artifact in ctx.manifest.artifacts:
        entry = artifact.registry_entry
        if entry is None:
            continue
        record = lookups.record(artifact.id)
        if record is None:
            yield Finding(rules.REGISTRY_ENTRY_MISSING, f"{artifact.id}: registry entry {entry.id!r} does not "
                          f"exist in {lookups.uri}", ctx.at(artifact, "registry_entry", "id"), artifact.id)
            continue
        yield from _compare(ctx, artifact, entry, record, digests.get(artifact.id), lookups.name)


def _compare(ctx: CheckContext, artifact: Artifact, entry: RegistryEntry, record: RegistryRecord,
             bound: BoundDigest | None, registry_name: str | None) -> Iterator[Finding]:
    def mismatch(message: str, *field: str) -> Finding:
        return Finding(rules.REGISTRY_ENTRY_MISMATCH, f"{artifact.id}: registry entry {entry.id!r} {message}",
                       ctx.at(artifact, "registry_entry", *field), artifact.id,
                       evidence=(("registry_record", f"{record.location.path}:{record.location.line}"),))

    if entry.registry and registry_name and entry.registry != registry_name:
        yield mismatch(f"names registry {entry.registry!r}, but the configured registry is {registry_name!r}",
                       "registry")
    if bound is not None and not bound.binds(record.digest):
        yield mismatch(f"carries digest {record.digest or 'none'}, but the artifact digest ({bound.source}) is "
                       f"{bound.value}")
    if entry.stage is not None and (record.stage or "").lower() != entry.stage.lower():
        yield mismatch(f"is in stage {record.stage!r} in the registry, not {entry.stage!r}", "stage")
    for approval in record.approvals:
        if bound is not None and approval.digest is not None and not bound.binds(approval.digest):
            yield mismatch(f"records an approval by {approval.approver} of another digest ({approval.digest})")
    eligible = ctx.policy.governance.production_stages
    if (record.stage or "").lower() not in eligible:
        yield Finding(rules.REGISTRY_STAGE_INELIGIBLE, f"{artifact.id}: registry entry {entry.id!r} is in stage "
                      f"{record.stage!r}; deployable stages are {', '.join(sorted(eligible))}",
                      ctx.at(artifact, "registry_entry"), artifact.id)


CHECKS = (registry_available, registry_entries)
