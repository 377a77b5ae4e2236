"""Writing report files: atomically, so an interrupted run leaves the old file or the new one, never half."""

from __future__ import annotations

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
        raise OutputError(f"cannot write {path}: {e.strerror or e}", hint="check the path, permissions and free "
                          "disk space") from e
