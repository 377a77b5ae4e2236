"""WG2xx: mutable references, public hubs at deploy time, mirrors outside the approved roots."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import refs, rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.mirror import MirrorLocation


def mutable_sources(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        src = artifact.source
        for problem in refs.source_problems(src.registry, src.uri, src.revision,
                                            ctx.policy.require_object_versions):
            field = problem.field if problem.field == "uri" or src.revision is not None else "uri"
            yield Finding(problem.rule, f"{artifact.id}: {problem.message}",
                          ctx.at(artifact, "source", field), artifact.id,
                          evidence=(("uri", src.uri), ("revision", src.revision or "")))


def _is_public(location: MirrorLocation, public_hubs: frozenset[str]) -> bool:
    if location.scheme == "hf":
        return True  # hf:// with no internal endpoint is huggingface.co
    host = location.host
    return any(host == hub or host.endswith("." + hub) for hub in public_hubs)


def _under_root(location: MirrorLocation, roots: tuple[str, ...]) -> bool:
    target = str(location.local_path) + "/" if location.local_path is not None else location.uri
    return any(target == root or target.startswith(root) for root in roots)


def mirror_locations(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        location = ctx.locations.get(artifact.id)
        where = ctx.at(artifact, "mirror") if artifact.mirror is not None else ctx.at(artifact, "id")
        if location is None:
            yield Finding(rules.MIRROR_MISSING, f"{artifact.id}: no mirror location; deploy would pull from "
                          f"{artifact.source.uri}", where, artifact.id)
        elif _is_public(location, ctx.policy.public_hubs):
            yield Finding(rules.PUBLIC_HUB_AT_DEPLOY, f"{artifact.id}: mirror {location.uri} is a public hub",
                          where, artifact.id)
        elif ctx.policy.approved_roots and not _under_root(location, ctx.policy.approved_roots):
            yield Finding(rules.MIRROR_NOT_APPROVED, f"{artifact.id}: mirror {location.uri} is not under an "
                          f"approved root ({', '.join(ctx.policy.approved_roots)})", where, artifact.id)


CHECKS = (mutable_sources, mirror_locations)
