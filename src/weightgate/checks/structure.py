"""WG1xx beyond the schema: ids, references between entries, duplicate files, rollback targets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from weightgate import refs, rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding


def duplicate_artifact_ids(ctx: CheckContext) -> Iterator[Finding]:
    counts = Counter(a.id for a in ctx.manifest.artifacts)
    seen: set[str] = set()
    for artifact in ctx.manifest.artifacts:
        if counts[artifact.id] > 1 and artifact.id in seen:
            yield Finding(rules.DUPLICATE_ARTIFACT_ID, f"artifact id {artifact.id!r} is declared "
                          f"{counts[artifact.id]} times", ctx.at(artifact, "id"), artifact.id)
        seen.add(artifact.id)


def unknown_service_artifacts(ctx: CheckContext) -> Iterator[Finding]:
    known = {a.id for a in ctx.manifest.artifacts}
    for service in ctx.manifest.services:
        for i, artifact_id in enumerate(service.artifacts):
            if artifact_id not in known:
                yield Finding(rules.UNKNOWN_ARTIFACT_REFERENCE,
                              f"service {service.name!r} deploys {artifact_id!r}, which no artifact declares",
                              ctx.manifest.location((*service.key, "artifacts", i)), artifact_id)


def file_lists(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        if not artifact.files:
            yield Finding(rules.NO_FILES, f"artifact {artifact.id!r} pins no files", ctx.at(artifact, "files"),
                          artifact.id)
        seen: set[str] = set()
        for pinned in artifact.files:
            if pinned.path in seen:
                yield Finding(rules.DUPLICATE_FILE_PATH, f"{pinned.path!r} is listed more than once",
                              ctx.manifest.location(pinned.key), artifact.id, pinned.path)
            seen.add(pinned.path)


def rollback_targets(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        if artifact.rollback is None:
            continue
        target = ctx.manifest.artifact(artifact.rollback)
        where = ctx.at(artifact, "rollback")
        if target is None:
            yield Finding(rules.ROLLBACK_UNKNOWN, f"rollback {artifact.rollback!r} is not an artifact in this "
                          "manifest", where, artifact.id)
            continue
        if target.id == artifact.id:
            yield Finding(rules.ROLLBACK_UNKNOWN, "an artifact cannot roll back to itself", where, artifact.id)
            continue
        reasons = [p.message for p in refs.source_problems(target.source.registry, target.source.uri,
                                                           target.source.revision,
                                                           ctx.policy.require_object_versions)]
        if not target.files or any(not refs.is_sha256_hex(f.sha256) or f.size is None for f in target.files):
            reasons.append("its files are not all pinned by sha256 and size")
        if reasons:
            yield Finding(rules.ROLLBACK_UNPINNED, f"rollback target {target.id!r} is not pinned: "
                          + "; ".join(reasons), where, artifact.id)


CHECKS = (duplicate_artifact_ids, unknown_service_artifacts, file_lists, rollback_targets)
