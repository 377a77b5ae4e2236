"""Facts: what weightgate actually verified about each file and artifact.

The ML-BOM is built from facts only; findings are computed from facts, never the other way round.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from weightgate.formats import Format
from weightgate.formats.base import Issue


class FileStatus(str, enum.Enum):
    VERIFIED = "verified"  # every byte was read, hashed and inspected
    MISSING = "missing"
    UNREADABLE = "unreadable"
    ESCAPED = "escaped"  # the path leads out of the mirror root; never opened
    SIZE_MISMATCH = "size-mismatch"  # the mirror's size differs from the pin; bytes not read
    NOT_CHECKED = "not-checked"  # the mirror itself was unavailable


DIFFERS_FROM_PIN = "differs-from-pin"


@dataclass(frozen=True)
class FileFacts:
    """What the verify pass found for one pinned file: status, where it was read, sha256, size, format and the
    inspectors' issues."""

    path: str
    status: FileStatus
    uri: str
    sha256: str = ""
    size: int = 0
    format: Format | None = None
    details: dict[str, str] = field(default_factory=dict, compare=False)
    issues: tuple[Issue, ...] = ()
    reason: str = ""  # why the file was not verified
    pinned_sha256: str | None = None  # what the manifest pinned, kept beside what was found
    pinned_size: int | None = None

    @property
    def verified(self) -> bool:
        """Every byte was read and hashed (whether or not it matched the pin)."""
        return self.status is FileStatus.VERIFIED

    @property
    def differs_from_pin(self) -> bool:
        """Every byte was read, and what was pinned (sha256, size) is not what was found."""
        return self.verified and ((self.pinned_sha256 is not None and self.sha256 != self.pinned_sha256)
                                  or (self.pinned_size is not None and self.size != self.pinned_size))

    @property
    def shown_status(self) -> str:
        """The status word reports print: `verified` only for bytes that are what was pinned (or, with nothing
        pinned as in `scan`, bytes read whole); bytes read whole that are not the pinned ones are
        `differs-from-pin`, so no report calls changed bytes verified."""
        return DIFFERS_FROM_PIN if self.differs_from_pin else self.status.value

    @property
    def matches_pin(self) -> bool:
        return self.verified and self.sha256 == self.pinned_sha256 and self.size == self.pinned_size


@dataclass(frozen=True)
class ArtifactFacts:
    """The facts of every pinned file of one artifact, read from its mirror."""

    artifact_id: str
    mirror_uri: str
    files: tuple[FileFacts, ...]

    @property
    def complete(self) -> bool:
        return bool(self.files) and all(f.verified for f in self.files)

    @property
    def intact(self) -> bool:
        """Every file was read and is exactly the pinned bytes."""
        return self.complete and all(f.matches_pin for f in self.files)

    @property
    def digest(self) -> str | None:
        """The artifact digest of the bytes actually read, or None when any file was not read completely.
        Approvals and waivers bind to this value, so changed bytes never inherit old evidence."""
        if not self.complete:
            return None
        return artifact_digest((f.path, f.sha256, f.size) for f in self.files)


def artifact_digest(files: Iterable[tuple[str, str, int]]) -> str:
    """One digest for a multi-file artifact: sha256 over sorted `path NUL sha256 NUL size LF` lines.

    Approvals, eval evidence and registry entries bind to this value.
    """
    lines = sorted(f"{path}\0{sha256}\0{size}\n" for path, sha256, size in files)
    return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()


class ListingStatus(str, enum.Enum):
    LISTED = "listed"  # every entry under the location was seen
    TRUNCATED = "truncated"  # more entries than the gate lists (MAX_LISTED_FILES); the rest were not seen
    NOT_LISTABLE = "not-listable"  # the mirror kind has no listing (a plain web server)
    UNAVAILABLE = "unavailable"  # listing failed (denied, unreachable, a folder that cannot be read)
    NOT_CHECKED = "not-checked"  # offline run and a network mirror: not listed


@dataclass(frozen=True)
class UnpinnedFile:
    """A file under an artifact's location that the manifest neither pins nor references in another way."""

    path: str  # relative to the location, as the mirror lists it
    uri: str
    size: int | None
    code: str = ""  # why it can run code when loaded or imported ("" when nothing says so)
    format: Format | None = None  # detected from its first bytes (local mirrors only; None when not read)
    link_target: str | None = None  # a symlink's target as written, never followed
    special: bool = False  # a FIFO, socket or device node


@dataclass(frozen=True)
class SupersededPin:
    """A file pinned at an object version that is no longer the current one: a sync of the prefix, or a read
    without the version id, gets other bytes (or, when `current` is None, nothing: a delete marker is on top)."""

    path: str
    uri: str
    pinned: str  # the manifest's version_id
    current: str | None


@dataclass(frozen=True)
class MirrorListing:
    """What lies beside an artifact's pinned files in its mirror."""

    artifact_id: str
    uri: str
    status: ListingStatus
    unpinned: tuple[UnpinnedFile, ...] = ()
    listed: int = 0  # entries seen, pinned or not
    reason: str = ""  # why the listing is not complete
    superseded: tuple[SupersededPin, ...] = ()
