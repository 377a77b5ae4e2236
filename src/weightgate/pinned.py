"""A file a manifest pins, as the verify pass reads it. Apart from `manifest` (which re-exports it) so that
`scan`, which pins nothing and reads files as it finds them, does not build the manifest model (start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from weightgate.yamlsource import PathKey


@dataclass(frozen=True)
class PinnedFile:
    """One file as the manifest pins it: path, sha256, size and declared format."""

    path: str
    sha256: str | None
    size: int | None
    declared_format: str | None
    key: PathKey  # where it sits in the manifest, for locating findings
