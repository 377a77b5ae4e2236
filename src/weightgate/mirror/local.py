"""A mirror in a local directory (a path or a file:// URI)."""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from weightgate.facts import FileStatus
from weightgate.mirror.base import EntryKind, ListedEntry, MirrorFileError, MirrorUnavailable


def unsafe_path_reason(path: str) -> str | None:
    """Why a manifest file path may not be used as-is under a mirror root, or None when it is a plain
    relative path."""
    if not path or "\0" in path:
        return "path is empty or contains NUL"
    if "\\" in path:
        return "path contains a backslash"
    pure = PurePosixPath(path)
    if pure.is_absolute() or (len(path) > 1 and path[1] == ":"):
        return "path is absolute"
    if ".." in pure.parts:
        return "path contains '..'"
    return None


class LocalFile:
    def __init__(self, fd: int, uri: str) -> None:
        self._file = io.FileIO(fd, "rb", closefd=True)
        self.size: int | None = os.fstat(fd).st_size
        self.uri = uri

    def readinto(self, buffer: memoryview) -> int:
        return self._file.readinto(buffer) or 0

    def close(self) -> None:
        self._file.close()


class LocalMirror:
    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise MirrorUnavailable(f"mirror directory {root} does not exist or is not a directory")
        self.root = root.resolve()
        self.uri = self.root.as_uri()

    def uri_of(self, path: str) -> str:
        return f"{self.uri.rstrip('/')}/{path}"

    def open(self, path: str) -> LocalFile:
        reason = unsafe_path_reason(path)
        if reason:
            raise MirrorFileError(FileStatus.ESCAPED, f"{reason}; it is never followed")
        real = Path(os.path.realpath(self.root / path))
        if real != self.root and self.root not in real.parents:
            raise MirrorFileError(FileStatus.ESCAPED, f"a symlink leads out of the mirror root (to {real})")
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the resolved path must not
            # have been swapped for a symlink since it was checked.
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise MirrorFileError(FileStatus.MISSING, "not found in the mirror") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise MirrorFileError(FileStatus.ESCAPED, "path became a symlink while being checked") from None
            raise MirrorFileError(FileStatus.UNREADABLE, e.strerror or str(e)) from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
            raise MirrorFileError(FileStatus.UNREADABLE, f"is {kind}, not a regular file")
        os.set_blocking(fd, True)
        return LocalFile(fd, self.uri_of(path))

    def list_files(self) -> Iterator[ListedEntry]:
        """Every entry under the root. Symlinks (to files or folders, inside the root
        or not) are yielded as themselves and never followed, so a walk cannot leave the root or loop."""
        pending = [""]
        while pending:
            folder = pending.pop()
            try:
                with os.scandir(self.root / folder if folder else self.root) as scan:
                    entries = sorted(scan, key=lambda e: e.name)
            except OSError as e:
                raise MirrorUnavailable(f"cannot list {folder or '.'} under {self.root}: {e.strerror or e}") from None
            for entry in entries:
                rel = f"{folder}/{entry.name}" if folder else entry.name
                yield from self._entry(entry, rel, pending)

    def _entry(self, entry: os.DirEntry[str], rel: str, pending: list[str]) -> Iterator[ListedEntry]:
        try:
            if entry.is_symlink():
                yield ListedEntry(rel, None, EntryKind.SYMLINK, os.readlink(entry.path))
            elif entry.is_dir(follow_symlinks=False):
                pending.append(rel)
            elif entry.is_file(follow_symlinks=False):
                yield ListedEntry(rel, entry.stat(follow_symlinks=False).st_size)
            else:
                yield ListedEntry(rel, None, EntryKind.SPECIAL)
        except FileNotFoundError:
            return  # removed while the folder was being listed: nothing is there to deploy
        except OSError as e:
            raise MirrorUnavailable(f"cannot list {rel} under {self.root}: {e.strerror or e}") from None
