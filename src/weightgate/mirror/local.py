"""A mirror in a local directory (a path or a file:// URI)."""

from __future__ import annotations

import errno
import io
import os
import stat
import threading
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


class _FinalSymlink(Exception):
    """The opened path's last component is a symlink (O_NOFOLLOW refused it)."""


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
        self._root_text = str(self.root)
        self._inside_prefix = self._root_text.rstrip(os.sep) + os.sep
        # Real paths of the folders files were opened from: resolving every file's whole path again was a fifth
        # of the CPU of a scan of many small files (issue 18), and files share a few folders.
        self._real_folders: dict[str, str] = {}
        self._lock = threading.Lock()

    def uri_of(self, path: str) -> str:
        return f"{self.uri.rstrip('/')}/{path}"

    def open(self, path: str) -> LocalFile:
        reason = unsafe_path_reason(path)
        if reason:
            raise MirrorFileError(FileStatus.ESCAPED, f"{reason}; it is never followed")
        folder, _, name = path.rpartition("/")
        real_folder = self._real_folder(folder)
        if real_folder is None or name in ("", "."):
            return self._open_resolved(path)
        try:
            return self._open_real(os.path.join(real_folder, name), path)
        except _FinalSymlink:
            # The file itself is a symlink: resolved as a whole, and followed only if it stays inside the root.
            return self._open_resolved(path)

    def _real_folder(self, folder: str) -> str | None:
        """The real path of a folder under the root, or None when it is not inside the root (the caller then
        resolves the whole path and reports the escape)."""
        with self._lock:
            real = self._real_folders.get(folder)
        if real is None:
            real = os.path.realpath(os.path.join(self._root_text, folder)) if folder else self._root_text
            with self._lock:
                self._real_folders[folder] = real
        return real if real == self._root_text or real.startswith(self._inside_prefix) else None

    def _open_resolved(self, path: str) -> LocalFile:
        real = os.path.realpath(os.path.join(self._root_text, path))
        if real != self._root_text and not real.startswith(self._inside_prefix):
            raise MirrorFileError(FileStatus.ESCAPED, f"a symlink leads out of the mirror root (to {real})")
        try:
            return self._open_real(real, path)
        except _FinalSymlink:
            raise MirrorFileError(FileStatus.ESCAPED, "path became a symlink while being checked") from None

    def _open_real(self, real: str, path: str) -> LocalFile:
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the checked path must not have
            # been swapped for a symlink (and a file that is a symlink is resolved as a whole first).
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise MirrorFileError(FileStatus.MISSING, "not found in the mirror") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise _FinalSymlink from None
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
