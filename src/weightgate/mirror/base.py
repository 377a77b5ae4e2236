"""Where bytes come from: one small protocol every mirror kind implements."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from weightgate.facts import FileStatus

# Entries a listing may yield before the gate stops reading it; more is a finding (the mirror is not what was
# reviewed), never a silent truncation.
MAX_LISTED_FILES = 100_000


class MirrorFileError(Exception):
    """One file could not be opened; `status` says how, `reason` says why in words a user can act on."""

    def __init__(self, status: FileStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class MirrorUnavailable(Exception):
    """The mirror as a whole cannot be used (missing root, unsupported scheme, unreachable)."""


class MirrorNotListable(Exception):
    """The mirror kind has no listing (a plain web server): what else lies beside the pinned files is unknown."""


class EntryKind(str, enum.Enum):
    FILE = "file"
    SYMLINK = "symlink"  # reported as itself, never followed
    SPECIAL = "special"  # a FIFO, socket or device node


@dataclass(frozen=True)
class ListedEntry:
    """One entry under a mirror's root: its path relative to the root (POSIX separators) and its size as the
    listing reports it (None when unknown). A symlink carries its target as written, unresolved."""

    path: str
    size: int | None
    kind: EntryKind = EntryKind.FILE
    link_target: str | None = None
    version: str | None = None  # the object version the listing calls current (versioned S3), else None


class MirrorFile(Protocol):
    size: int | None  # known before reading (stat, Content-Length), or None
    uri: str

    def readinto(self, buffer: memoryview) -> int:
        """Fill `buffer` with the next bytes; 0 at end of file."""

    def close(self) -> None: ...


class Mirror(Protocol):
    uri: str

    def open(self, path: str) -> MirrorFile:
        """Open one pinned file for streaming. Raises MirrorFileError; never follows a path out of the root."""

    def uri_of(self, path: str) -> str:
        """The URI a file is read from, for facts and the BOM."""

    def list_files(self) -> Iterator[ListedEntry]:
        """Every file under the root, lazily (the caller stops after MAX_LISTED_FILES). Never follows a symlink;
        raises MirrorNotListable when the kind has no listing, MirrorUnavailable when listing fails."""
