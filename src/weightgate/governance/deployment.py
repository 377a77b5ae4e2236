"""Where an artifact is used: the services that deploy it (directly, or as the rollback of what they deploy),
their environments, and the source tier it comes from. Pure functions over the manifest and policy."""

from __future__ import annotations

from weightgate.governance.policy import GovernancePolicy
from weightgate.manifest import Artifact, Manifest, Service, Source


def services_deploying(manifest: Manifest, artifact_id: str) -> list[Service]:
    """Services that list the artifact, or list an artifact that rolls back to it: a rollback target is
    deployed where the artifact it replaces runs, so it answers to the same requirements."""
    services = dict.fromkeys(manifest.services_by_artifact.get(artifact_id, ()))
    for source_id in manifest.rolled_back_from.get(artifact_id, ()):
        services.update(dict.fromkeys(manifest.services_by_artifact.get(source_id, ())))
    return [s for s in manifest.services if s in services]


def environments_of(manifest: Manifest, artifact_id: str) -> frozenset[str]:
    return frozenset(s.environment for s in services_deploying(manifest, artifact_id) if s.environment)


def publisher_of(source: Source) -> str | None:
    """The declared publisher, or for Hugging Face the org in the URI (hf://org/name, https://hf.co/org/name)."""
    if source.publisher:
        return source.publisher
    if source.registry != "huggingface":
        return None
    rest = source.uri.split("://", 1)[-1]
    segments = [s for s in rest.split("/") if s]
    if segments and segments[0].lower() in ("huggingface.co", "hf.co", "www.huggingface.co"):
        segments = segments[1:]
    return segments[0] if len(segments) > 1 else None


def tier_of(policy: GovernancePolicy, artifact: Artifact) -> int:
    return policy.tier_of(artifact.source.registry, publisher_of(artifact.source))
