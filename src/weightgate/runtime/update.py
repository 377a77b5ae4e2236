"""`weightgate advisories update`: bring a new OSV snapshot from an internal mirror, verify it, and index it.

The new snapshot replaces the old one only once it is whole, reads as OSV, holds PyPI records and (when asked)
has the expected sha256; otherwise the old one stays and the command exits 2. Its sha256 is printed for the
policy to pin: the gate reads only the snapshot the trusted policy names.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from weightgate.errors import WeightgateError
from weightgate.runtime.advisories import SnapshotError, SnapshotInfo, open_index
from weightgate.runtime.collect import MirrorOpener, fetch_snapshot, local_snapshot_path
from weightgate.textsafety import redact_url


class SnapshotUpdateError(WeightgateError):
    """The new snapshot could not be fetched or is not a usable OSV snapshot (exit 2; the old one is kept)."""


def update_snapshot(source: str, target: Path, opener: MirrorOpener,
                    expected_sha256: str | None = None) -> SnapshotInfo:
    """Fetch `source` to `target` once it is verified; returns what the new snapshot holds. Raises
    SnapshotUpdateError."""
    local = local_snapshot_path(source)
    uri = local.resolve().as_uri() if local is not None else source
    incoming = target.with_name(f".{target.name}.incoming")
    try:
        sha256 = fetch_snapshot(uri, incoming, opener)
        expected = (expected_sha256 or "").removeprefix("sha256:")
        if expected and sha256 != expected:
            raise SnapshotError(f"its sha256 is {sha256}, not the expected {expected}")
        # Index it under its temporary name first: a snapshot that is not OSV never replaces the old one.
        index, _ = open_index(incoming, sha256)
        index.close()
        os.replace(incoming, target)
        index, info = open_index(target, sha256)
        index.close()
        return info
    except SnapshotError as e:
        reason = str(e).replace(incoming.name, "it")  # the temporary name means nothing to the user
        raise SnapshotUpdateError(f"advisory snapshot {redact_url(source)} not taken: {reason}",
                                  hint="the previous snapshot, if any, is unchanged") from e
    except OSError as e:
        raise SnapshotUpdateError(f"advisory snapshot cannot be written to {target}: {e.strerror or e}") from e
    finally:
        with contextlib.suppress(FileNotFoundError):
            incoming.unlink()
        for stale in target.parent.glob(f".{incoming.name}.*.wgindex.sqlite"):
            with contextlib.suppress(OSError):
                stale.unlink()


