"""WG2xx: mutable references, public hubs at deploy time, mirrors outside the approved roots."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import refs, rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.mirror import MirrorKind, is_public, plain_http_url, under_root
from weightgate.textsafety import redact_url


def mutable_sources(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        src = artifact.source
        for problem in refs.source_problems(src.registry, src.uri, src.revision,
                                            ctx.policy.require_object_versions):
            field = problem.field if problem.field == "uri" or src.revision is not None else "uri"
            yield Finding(problem.rule, f"{artifact.id}: {problem.message}",
                          ctx.at(artifact, "source", field), artifact.id,
                          evidence=(("uri", src.uri), ("revision", src.revision or "")))


def mirror_locations(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        location = ctx.locations.get(artifact.id)
        where = ctx.at(artifact, "mirror") if artifact.mirror is not None else ctx.at(artifact, "id")
        if location is None:
            yield Finding(rules.MIRROR_MISSING, f"{artifact.id}: no mirror location; deploy would pull from "
                          f"{artifact.source.uri}", where, artifact.id)
        elif is_public(location, ctx.policy):
            yield Finding(rules.PUBLIC_HUB_AT_DEPLOY,
                          f"{artifact.id}: mirror {redact_url(location.uri)} is a public hub", where, artifact.id)
        elif ctx.policy.approved_roots and not under_root(location, ctx.policy.approved_roots):
            yield Finding(rules.MIRROR_NOT_APPROVED,
                          f"{artifact.id}: mirror {redact_url(location.uri)} is not under an approved root "
                          f"({', '.join(ctx.policy.approved_roots)})", where, artifact.id)


def mirror_transport(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        location = ctx.locations.get(artifact.id)
        url = plain_http_url(location, ctx.policy) if location is not None else None
        if url is not None:
            where = ctx.at(artifact, "mirror") if artifact.mirror is not None else ctx.at(artifact, "id")
            yield Finding(rules.PLAIN_HTTP_MIRROR, f"{artifact.id}: mirror is read over plain http "
                          f"({redact_url(url)}) and the policy does not allow it", where, artifact.id,
                          evidence=(("uri", redact_url(url)),))


def object_versions(ctx: CheckContext) -> Iterator[Finding]:
    """Files on an s3:// mirror must each be pinned to an object version when the policy requires it."""
    if not ctx.policy.require_object_versions:
        return
    for artifact in ctx.manifest.artifacts:
        location = ctx.locations.get(artifact.id)
        if location is None or location.kind is not MirrorKind.S3:
            continue
        versioned = {path for path, _ in location.versions}
        for pinned in artifact.files:
            if pinned.path not in versioned:
                yield Finding(rules.UNVERSIONED_OBJECT_KEY, f"{pinned.path}: s3 mirror object has no "
                              "`version_id` and can be overwritten in place", ctx.manifest.location(pinned.key),
                              artifact.id, pinned.path, evidence=(("uri", location.uri),))


CHECKS = (mutable_sources, mirror_locations, mirror_transport, object_versions)
