"""The one artifact digest that evidence (approvals, waivers, eval evidence, registry entries) binds to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from weightgate import refs
from weightgate.facts import ArtifactFacts, artifact_digest
from weightgate.manifest import Artifact, Manifest


@dataclass(frozen=True)
class BoundDigest:
    """What evidence for one artifact must name.

    `value` is the digest of the bytes read in this run when `verified`, else (offline, or no mirror to read)
    the digest the manifest's pins declare. `declared` is always the pins' digest, kept so a check can tell
    "evidence for another version" from "the mirror holds other bytes" (an integrity finding of its own).
    """

    value: str
    verified: bool
    declared: str | None

    @property
    def bytes_differ_from_pins(self) -> bool:
        return self.verified and self.declared is not None and self.value != self.declared

    @property
    def source(self) -> str:
        return "verified" if self.verified else "declared by the pins, bytes not read"

    @property
    def evidence_key(self) -> str:
        """The digest evidence is filed under: the pins' while the mirror holds other bytes (the integrity
        rules report those, once), else the verified one."""
        return self.declared if self.bytes_differ_from_pins and self.declared else self.value

    def binds(self, named: str | None) -> bool:
        """Does evidence naming `named` bind to this artifact? It does when it names the digest weightgate
        verified, or names the pinned digest while the mirror holds other bytes: then the integrity rules
        (WG304/WG305) report the real problem, once."""
        return named == self.value or (self.bytes_differ_from_pins and named == self.declared)


def declared_digest(artifact: Artifact) -> str | None:
    """The digest the manifest's pins describe, or None when any file is not fully pinned."""
    if not artifact.files or not all(refs.is_sha256_hex(f.sha256) and f.size is not None for f in artifact.files):
        return None
    return artifact_digest((f.path, f.sha256 or "", f.size or 0) for f in artifact.files)


def _ambiguous(artifact: Artifact) -> bool:
    """A path listed twice (WG104) makes the digest describe no definite file list."""
    return len({f.path for f in artifact.files}) != len(artifact.files)


def evidence_digests(manifest: Manifest, facts: Iterable[ArtifactFacts]) -> dict[str, BoundDigest]:
    """Per artifact id: the verified digest, or the declared one where nothing was read. None for an artifact
    whose bytes were read but not all verified (no evidence binds to bytes nobody saw whole), or whose file
    list is ambiguous."""
    digests: dict[str, BoundDigest] = {}
    for artifact in manifest.artifacts:
        declared = declared_digest(artifact)
        if declared is not None and artifact.id not in digests and not _ambiguous(artifact):
            digests[artifact.id] = BoundDigest(declared, False, declared)
    for f in facts:
        verified = f.digest
        read = manifest.artifact(f.artifact_id)
        if verified is not None and read is not None and not _ambiguous(read):
            digests[f.artifact_id] = BoundDigest(verified, True, declared_digest(read))
        else:
            digests.pop(f.artifact_id, None)
    return digests
