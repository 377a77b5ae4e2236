"""Writing report files: atomically, so an interrupted run leaves the old file or the new one, never half."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from weightgate.errors import OutputError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomic(path: Path, text: str) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; reports are ordinary files
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise OutputError(f"cannot write {path}: {_cause(e, directory)}", hint="check the path, permissions and "
                          "free disk space") from e


def _cause(error: OSError, directory: Path) -> str:
    """The reason a report could not be written, as the user can act on it. The report is written to a
    temporary file beside it first, so what fails is usually creating a file in its directory: say so, rather
    than echoing an errno that names the wrong thing (ENOENT from /proc, whose directory does exist)."""
    reason = error.strerror or str(error)
    if error.errno in (errno.EACCES, errno.EPERM) and not directory.is_dir():
        directory = _nearest_existing(directory)  # the folder in which the report's folder could not be made
    if not directory.is_dir():
        return reason
    if error.errno == errno.ENOENT:
        return f"{directory} accepts no new files (a special file system such as /proc or /sys)"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"{reason}: {_who_cannot_write(directory)}"
    if error.errno == errno.EROFS:
        return f"{directory} is on a read-only file system"
    return reason


def _nearest_existing(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists():
            return parent
    return path


def _who_cannot_write(directory: Path) -> str:
    """Who is denied and who owns the folder: the usual case is the image's unprivileged user writing into a
    bind-mounted workspace, which the one flag named here fixes."""
    try:
        info = directory.stat()
    except OSError:
        return f"cannot create files in {directory}"
    if info.st_uid == os.getuid():
        return f"cannot create files in {directory}"
    return (f"uid {os.getuid()} cannot create files in {directory} (owned by uid {info.st_uid}); in a container, "
            f"run it as the folder's owner: --user {info.st_uid}:{info.st_gid}")
