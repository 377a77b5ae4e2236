"""Where bytes come from: one small protocol every mirror kind implements."""

from __future__ import annotations

from typing import Protocol

from weightgate.facts import FileStatus


class MirrorFileError(Exception):
    """One file could not be opened; `status` says how, `reason` says why in words a user can act on."""

    def __init__(self, status: FileStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class MirrorUnavailable(Exception):
    """The mirror as a whole cannot be used (missing root, unsupported scheme, unreachable)."""


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
