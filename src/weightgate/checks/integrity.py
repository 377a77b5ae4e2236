"""WG3xx: pinned digests are well-formed, and the mirror's bytes are exactly the pinned bytes."""

from __future__ import annotations

from collections.abc import Iterator

from weightgate import refs, rules
from weightgate.checks import CheckContext
from weightgate.facts import FileFacts, FileStatus
from weightgate.findings import Finding, Location
from weightgate.manifest import Artifact, PinnedFile


def declared_digests(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        for pinned in artifact.files:
            missing = [name for name, value in (("sha256", pinned.sha256), ("size", pinned.size)) if value is None]
            if missing:
                yield Finding(rules.DIGEST_MISSING, f"{pinned.path}: no {' and no '.join(missing)} pinned",
                              ctx.manifest.location(pinned.key), artifact.id, pinned.path)
            if pinned.sha256 is not None and not refs.is_sha256_hex(pinned.sha256):
                yield Finding(rules.DIGEST_MALFORMED, f"{pinned.path}: sha256 {pinned.sha256!r} is not 64 "
                              "lowercase hex digits", ctx.manifest.location((*pinned.key, "sha256")),
                              artifact.id, pinned.path)


_STATUS_RULES = {
    FileStatus.MISSING: rules.FILE_MISSING,
    FileStatus.UNREADABLE: rules.FILE_UNREADABLE,
    FileStatus.ESCAPED: rules.PATH_ESCAPE,
}


def _compare(artifact: Artifact, pinned: PinnedFile, facts: FileFacts, where: Location) -> Iterator[Finding]:
    def finding(rule: rules.Rule, message: str, *evidence: tuple[str, str]) -> Finding:
        return Finding(rule, f"{pinned.path}: {message}", where, artifact.id, pinned.path,
                       evidence=(("uri", facts.uri), *evidence))

    if facts.status in _STATUS_RULES:
        yield finding(_STATUS_RULES[facts.status], facts.reason)
    elif facts.status is FileStatus.SIZE_MISMATCH or (facts.verified and pinned.size not in (None, facts.size)):
        yield finding(rules.SIZE_MISMATCH, f"mirror has {facts.size} bytes, manifest pins {pinned.size}",
                      ("expected_size", str(pinned.size)), ("actual_size", str(facts.size)))
    elif facts.verified and refs.is_sha256_hex(pinned.sha256) and facts.sha256 != pinned.sha256:
        yield finding(rules.DIGEST_MISMATCH, f"mirror bytes hash to {facts.sha256}, manifest pins "
                      f"{pinned.sha256}", ("expected_sha256", pinned.sha256 or ""), ("actual_sha256", facts.sha256))


def mirror_bytes(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        facts = ctx.facts.get(artifact.id)
        if facts is None:
            continue
        unavailable = [f for f in facts.files if f.status is FileStatus.NOT_CHECKED]
        if unavailable:
            yield Finding(rules.MIRROR_UNAVAILABLE, f"{artifact.id}: {unavailable[0].reason}; "
                          f"{len(unavailable)} file(s) not verified", ctx.at(artifact, "mirror")
                          if artifact.mirror is not None else ctx.at(artifact, "id"), artifact.id)
        for pinned, file_facts in zip(artifact.files, facts.files, strict=True):
            if file_facts.status is not FileStatus.NOT_CHECKED:
                yield from _compare(artifact, pinned, file_facts, ctx.manifest.location(pinned.key))


CHECKS = (declared_digests, mirror_bytes)
