"""Facts about the runtime that loads the models: the dependency files read, the advisory snapshot used, and
which pinned versions it lists as affected. Computed once per run (runtime/collect.py); checks and the ML-BOM
only read them."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from weightgate.runtime.advisories import Advisory
from weightgate.runtime.requirements import DependencyFileKind, RuntimeRequirement


class OwnerKind(str, enum.Enum):
    ARTIFACT = "artifact"  # a dependency file among an artifact's pinned files
    SERVICE = "service"  # a service's runtime lock (`services[].runtime.lock`)


class DependencyFileStatus(str, enum.Enum):
    READ = "read"
    MISSING = "missing"
    UNREADABLE = "unreadable"  # failed, or larger than MAX_DEPENDENCY_FILE_BYTES
    DIGEST_MISMATCH = "digest-mismatch"  # a service lock that is not the pinned bytes
    NOT_CHECKED = "not-checked"  # offline, or the artifact file was not verified (integrity rules report it)


@dataclass(frozen=True)
class DependencyFile:
    owner_kind: OwnerKind
    owner: str  # artifact id or service name
    path: str  # in the artifact, or the lock path as the manifest writes it
    kind: DependencyFileKind
    status: DependencyFileStatus
    requirements: tuple[RuntimeRequirement, ...] = ()
    problems: tuple[tuple[int, str], ...] = ()  # (line, what was not read as a requirement)
    sha256: str = ""
    reason: str = ""

    @property
    def read(self) -> bool:
        return self.status is DependencyFileStatus.READ


class SnapshotStatus(str, enum.Enum):
    NOT_CONFIGURED = "not-configured"  # the policy names no snapshot
    LOADED = "loaded"
    UNAVAILABLE = "unavailable"  # missing, unreadable, oversize, another digest, not OSV, no PyPI record
    NOT_NEEDED = "not-needed"  # no runtime dependency to match; the snapshot was not opened


@dataclass(frozen=True)
class SnapshotFacts:
    status: SnapshotStatus
    location: str = ""  # as the policy names it (path or URI), credentials redacted
    sha256: str = ""  # hex, of the bytes read (when read)
    records: int = 0
    pypi_records: int = 0
    newest_modified: datetime.datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class VulnerableRequirement:
    file: DependencyFile
    requirement: RuntimeRequirement
    advisories: tuple[Advisory, ...]


@dataclass(frozen=True)
class RuntimeFacts:
    files: tuple[DependencyFile, ...] = ()
    snapshot: SnapshotFacts = field(default_factory=lambda: SnapshotFacts(SnapshotStatus.NOT_NEEDED))
    vulnerable: tuple[VulnerableRequirement, ...] = ()
    # The instant the advisory clock is judged at: now, or noon UTC of --as-of.
    judged_at: datetime.datetime | None = None

    def files_of(self, owner_kind: OwnerKind, owner: str) -> tuple[DependencyFile, ...]:
        return tuple(f for f in self.files if f.owner_kind is owner_kind and f.owner == owner)

    @property
    def requirement_count(self) -> int:
        return sum(len(f.requirements) for f in self.files)


def libraries_by_owner(facts: RuntimeFacts) -> Mapping[tuple[OwnerKind, str], tuple[RuntimeRequirement, ...]]:
    """Each artifact's and service's pinned libraries, each (name, version) once, in file order."""
    found: dict[tuple[OwnerKind, str], dict[tuple[str, str], RuntimeRequirement]] = {}
    for f in facts.files:
        for r in f.requirements:
            if r.version is not None:
                found.setdefault((f.owner_kind, f.owner), {}).setdefault((r.name, r.version), r)
    return {owner: tuple(libraries.values()) for owner, libraries in found.items()}
