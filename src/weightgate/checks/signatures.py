"""WG627-WG630: OpenSSF model signatures. A signature the policy requires must be there; it must verify
with a signer the policy trusts for the artifact's publisher; and the files it signs must be exactly the files
the manifest pins, with the sha256 digests weightgate streamed in its verify pass (never a second read)."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.evidence.signatures import COMPARABLE_SERIALIZATION, SignatureFacts, SignatureStatus
from weightgate.facts import ArtifactFacts
from weightgate.findings import Finding
from weightgate.governance.deployment import publisher_of, tier_of
from weightgate.manifest import Artifact


def required_signatures(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        if artifact.signature is not None:
            continue
        publisher = publisher_of(artifact.source)
        tier = tier_of(ctx.policy.governance, artifact)
        if ctx.policy.signatures.required(tier, artifact.source.registry, publisher):
            source = f"publisher {publisher!r} on {artifact.source.registry}" if publisher \
                else artifact.source.registry
            yield Finding(rules.SIGNATURE_MISSING, f"{artifact.id}: the policy requires a model signature for "
                          f"artifacts from {source} (tier {tier}), and `signature.bundle` is not set",
                          ctx.at(artifact, "id"), artifact.id, evidence=(("tier", str(tier)),))


def signature_validity(ctx: CheckContext) -> Iterator[Finding]:
    if ctx.offline:
        return  # bundles are not read offline; the full run checks them
    for artifact in ctx.manifest.artifacts:
        facts = ctx.governance.signatures.get(artifact.id)
        if facts is None or facts.status is SignatureStatus.NOT_CHECKED:
            continue
        where = ctx.at(artifact, "signature", "bundle")
        evidence = (("bundle", facts.uri), ("signer", facts.signer))
        if facts.status is SignatureStatus.INVALID:
            yield Finding(rules.SIGNATURE_INVALID, f"{artifact.id}: {facts.reason}", where, artifact.id,
                          evidence=evidence)
        elif facts.status is SignatureStatus.UNTRUSTED:
            yield Finding(rules.SIGNATURE_SIGNER_UNTRUSTED, f"{artifact.id}: {facts.reason}", where, artifact.id,
                          evidence=evidence)
        elif not facts.comparable:
            method, hash_type = facts.serialization
            yield Finding(rules.SIGNATURE_INVALID, f"{artifact.id}: the model was signed with {method!r} "
                          f"serialization and {hash_type!r} hashes, which cannot be compared with the sha256 of "
                          "whole files weightgate streamed without reading every byte again; re-sign with "
                          f"{'/'.join(COMPARABLE_SERIALIZATION)} (model_signing's default)", where, artifact.id,
                          evidence=evidence)


def _bundle_path(artifact: Artifact) -> str | None:
    """The bundle's own path when it sits in the artifact's mirror: it is never part of what it signs."""
    bundle = artifact.signature.bundle if artifact.signature else None
    return bundle if bundle and "://" not in bundle else None


def _differences(artifact: Artifact, signature: SignatureFacts, facts: ArtifactFacts) -> Iterator[tuple[str, str]]:
    """(file path, what differs) between the signed list and the pinned, streamed files."""
    signed = {f.path: f.digest for f in signature.files}
    streamed = {f.path: f for f in facts.files}
    pinned = [f.path for f in artifact.files if f.path != _bundle_path(artifact)]
    for path in dict.fromkeys(pinned):
        if path not in signed:
            yield path, "is pinned and deployed but not signed (extra file)"
        elif (file := streamed.get(path)) is not None and file.verified and file.sha256 != signed[path]:
            yield path, f"hashes to {file.sha256} but the signature covers {signed[path]} (changed after signing)"
    for path in sorted(set(signed) - set(pinned)):
        yield path, "is signed but not pinned in the manifest (missing file)"


def signed_files(ctx: CheckContext) -> Iterator[Finding]:
    if ctx.offline:
        return
    for artifact in ctx.manifest.artifacts:
        signature = ctx.governance.signatures.get(artifact.id)
        facts = ctx.facts.get(artifact.id)
        if signature is None or not signature.comparable or facts is None:
            continue  # an unverified signature is WG628/WG629's; unread files are the integrity rules'
        entries = {f.path: f.key for f in artifact.files}
        for path, difference in _differences(artifact, signature, facts):
            where = ctx.manifest.location(entries[path]) if path in entries else ctx.at(artifact, "files")
            yield Finding(rules.SIGNATURE_FILES_MISMATCH, f"{artifact.id}: {path} {difference}; signed by "
                          f"{signature.signer}", where, artifact.id, file_path=path,
                          evidence=(("bundle", signature.uri), ("signer", signature.signer)))


CHECKS = (required_signatures, signature_validity, signed_files)
