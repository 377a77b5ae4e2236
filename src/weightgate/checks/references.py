"""WG2xx: mutable references, public hubs at deploy time, mirrors outside the approved roots."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from weightgate import refs, rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.mirror import MirrorKind, MirrorLocation
from weightgate.policy import Policy


def mutable_sources(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        src = artifact.source
        for problem in refs.source_problems(src.registry, src.uri, src.revision,
                                            ctx.policy.require_object_versions):
            field = problem.field if problem.field == "uri" or src.revision is not None else "uri"
            yield Finding(problem.rule, f"{artifact.id}: {problem.message}",
                          ctx.at(artifact, "source", field), artifact.id,
                          evidence=(("uri", src.uri), ("revision", src.revision or "")))


def _is_public_host(host: str, public_hubs: frozenset[str]) -> bool:
    return any(host == hub or host.endswith("." + hub) for hub in public_hubs)


def _is_public(location: MirrorLocation, policy: Policy) -> bool:
    if location.scheme == "hf":
        # hf:// is read from the policy's internal endpoint; without one it means huggingface.co.
        endpoint = policy.hf_endpoint
        return endpoint is None or _is_public_host((urlsplit(endpoint).hostname or "").lower(), policy.public_hubs)
    return _is_public_host(location.host, policy.public_hubs)


def _plain_http(location: MirrorLocation, policy: Policy) -> str | None:
    """The plain-http URL the artifact's bytes would travel over, if the policy does not allow that."""
    if policy.allow_http:
        return None
    endpoint = {MirrorKind.HF: policy.hf_endpoint, MirrorKind.S3: policy.s3_endpoint,
                MirrorKind.MLFLOW: policy.mlflow_tracking_uri}.get(location.kind) if location.kind else None
    url = location.uri if location.kind is MirrorKind.HTTP else endpoint
    return url if url is not None and url.lower().startswith("http://") else None


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
        elif _is_public(location, ctx.policy):
            yield Finding(rules.PUBLIC_HUB_AT_DEPLOY, f"{artifact.id}: mirror {location.uri} is a public hub",
                          where, artifact.id)
        elif ctx.policy.approved_roots and not _under_root(location, ctx.policy.approved_roots):
            yield Finding(rules.MIRROR_NOT_APPROVED, f"{artifact.id}: mirror {location.uri} is not under an "
                          f"approved root ({', '.join(ctx.policy.approved_roots)})", where, artifact.id)


def mirror_transport(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        location = ctx.locations.get(artifact.id)
        url = _plain_http(location, ctx.policy) if location is not None else None
        if url is not None:
            where = ctx.at(artifact, "mirror") if artifact.mirror is not None else ctx.at(artifact, "id")
            yield Finding(rules.PLAIN_HTTP_MIRROR, f"{artifact.id}: mirror is read over plain http ({url}) and the "
                          "policy does not allow it", where, artifact.id, evidence=(("uri", url),))


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
