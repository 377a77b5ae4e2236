"""Small input files (manifests, policies, keys, attestations, BOMs): read whole, but never past a limit."""

from __future__ import annotations

from pathlib import Path

from weightgate.errors import InputFileError


def read_input(path: Path, limit: int, what: str) -> bytes:
    """Read at most `limit` bytes. Reading one byte past the limit, rather than trusting a stat, also bounds
    pipes and devices (`<(...)`, /dev/zero) and files that grow while read."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise InputFileError(f"cannot read {what} {path}: {e.strerror or e}") from e
    if len(data) > limit:
        raise InputFileError(f"{path}: {what} is over the limit (the limit is {limit} bytes)")
    return data
