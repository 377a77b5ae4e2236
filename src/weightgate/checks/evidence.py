"""WG618-WG620: eval evidence the policy requires is present, its bytes are the pinned ones, and it names
the digest of the artifact being deployed (so a report copied from a previous version does not count)."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import refs, rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding
from weightgate.governance.eval_results import signed_eval_results
from weightgate.governance.facts import EvidenceFacts


def required_evidence(ctx: CheckContext) -> Iterator[Finding]:
    required = ctx.policy.governance.eval_required_for
    for artifact in ctx.manifest.artifacts:
        if artifact.artifact_class in required and artifact.eval_evidence is None \
                and not signed_eval_results(ctx, artifact.id).results:  # signed results in the store are evidence
            yield Finding(rules.EVAL_EVIDENCE_MISSING, f"{artifact.id}: the policy requires eval evidence for a "
                          f"{artifact.artifact_class}, and `eval_evidence` is missing", ctx.at(artifact, "id"),
                          artifact.id)


def _unverified_reason(facts: EvidenceFacts | None) -> str | None:
    if facts is None:
        return "the evidence was not fetched"
    if not refs.is_sha256_hex(facts.pinned_sha256):
        return f"the pinned sha256 {facts.pinned_sha256!r} is not 64 lowercase hex digits"
    if not facts.verified:
        return f"{facts.uri}: {facts.reason or facts.status.value}"
    if not facts.matches_pin:
        return f"{facts.uri} hashes to {facts.sha256}, the manifest pins {facts.pinned_sha256}"
    if facts.malformed:
        return f"{facts.uri} is malformed: {facts.malformed}"
    return None


def evidence_files(ctx: CheckContext) -> Iterator[Finding]:
    if ctx.offline:
        return  # not fetched offline; the facts say so, and the full run checks it
    for artifact in ctx.manifest.artifacts:
        if artifact.eval_evidence is None:
            continue
        reason = _unverified_reason(ctx.governance.evidence.get(artifact.id))
        if reason:
            yield Finding(rules.EVAL_EVIDENCE_UNVERIFIED, f"{artifact.id}: eval evidence {reason}",
                          ctx.at(artifact, "eval_evidence"), artifact.id, file_path=artifact.eval_evidence.path)


def evidence_binding(ctx: CheckContext) -> Iterator[Finding]:
    if ctx.offline:
        return
    digests = ctx.digests
    for artifact in ctx.manifest.artifacts:
        facts = ctx.governance.evidence.get(artifact.id)
        bound = digests.get(artifact.id)
        if facts is None or _unverified_reason(facts) or bound is None:
            continue  # unverified evidence is WG619; unverified bytes are the integrity rules'
        where = ctx.at(artifact, "eval_evidence", "path")
        if facts.named_digest is None:
            if ctx.policy.governance.eval_require_digest:
                yield Finding(rules.EVAL_EVIDENCE_DIGEST_MISMATCH, f"{artifact.id}: eval evidence is not bound to "
                              f"the artifact: {facts.unbound_reason}", where, artifact.id,
                              file_path=facts.path)
        elif not bound.binds(facts.named_digest):
            yield Finding(rules.EVAL_EVIDENCE_DIGEST_MISMATCH, f"{artifact.id}: eval evidence is for "
                          f"{facts.named_digest}, but the artifact digest ({bound.source}) is {bound.value}",
                          where, artifact.id, file_path=facts.path,
                          evidence=(("evidence_digest", facts.named_digest), ("artifact_digest", bound.value)))


CHECKS = (required_evidence, evidence_files, evidence_binding)
