"""WG650: manifest entries that share an artifact digest but differ in class or in the services that run them.
Decision records, approvals and waivers bind to the digest, so such entries share one verdict; the finding makes
that visible where the manifest says two different things about the same bytes."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding


def shared_digests(ctx: CheckContext) -> Iterator[Finding]:
    by_digest: dict[str, list[str]] = {}
    for artifact_id, bound in ctx.digests.items():
        by_digest.setdefault(bound.value, []).append(artifact_id)
    services = ctx.manifest.services_by_artifact
    for digest, ids in by_digest.items():
        entries = [a for a in (ctx.manifest.artifact(i) for i in ids) if a is not None]
        if len(entries) < 2:
            continue
        uses = {(a.artifact_class, tuple(sorted(s.name for s in services.get(a.id, ())))) for a in entries}
        if len(uses) < 2:
            continue  # the same class run by the same services: one use, one verdict
        described = "; ".join(f"{a.id} (class {a.artifact_class}, services: "
                              f"{', '.join(s.name for s in services.get(a.id, ())) or 'none'})"
                              for a in entries)
        for artifact in entries[1:]:
            yield Finding(rules.DIGEST_SHARED_ACROSS_ENTRIES,
                          f"{artifact.id}: shares the artifact digest {digest} with {entries[0].id}, used "
                          f"differently: {described}; one decision record covers them all",
                          ctx.at(artifact, "files"), artifact.id,
                          evidence=(("digest", digest), ("entries", ", ".join(a.id for a in entries))))


CHECKS = (shared_digests,)
