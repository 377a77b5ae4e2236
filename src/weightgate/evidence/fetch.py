"""Small files beside an artifact (signature bundles, model cards): located like eval evidence (a path in the
artifact's mirror, or a URI) and read once, bounded, through the same mirrors as artifact files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weightgate.facts import FileStatus
from weightgate.mirror import MirrorLocation
from weightgate.mirror.base import Mirror, MirrorFileError, MirrorUnavailable

CHUNK_BYTES = 64 * 1024

MirrorOpener = Callable[[MirrorLocation], Mirror]


@dataclass(frozen=True)
class SmallFile:
    """What was read: `data` is None when the file could not be read whole within the limit."""

    uri: str
    status: FileStatus
    data: bytes | None = None
    reason: str = ""

    @property
    def missing(self) -> bool:
        return self.status is FileStatus.MISSING

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else ""


def mirror_for(reference: str, location: MirrorLocation | None, opener: MirrorOpener) -> tuple[Mirror, str]:
    """The mirror holding `reference` and its path there. A URI is opened through its own folder, so the same
    mirror kinds (and refusals of unsupported schemes) apply as for artifact files. Raises MirrorUnavailable."""
    if "://" in reference:
        parent, _, name = reference.rstrip("/").rpartition("/")
        if parent.startswith("file://"):
            folder = Path(unquote(urlsplit(parent).path)).resolve()
            return opener(MirrorLocation(folder.as_uri(), folder)), name
        return opener(MirrorLocation(parent, None)), name
    if location is None:
        raise MirrorUnavailable("the artifact has no mirror location to read it from")
    return opener(location), reference


def read_small(mirror: Mirror, path: str, limit: int) -> SmallFile:
    """Read a whole file of at most `limit` bytes; larger, missing or unreadable files come back without data."""
    uri = mirror.uri_of(path)
    try:
        handle = mirror.open(path)
    except MirrorFileError as e:
        return SmallFile(uri, e.status, reason=e.reason)
    except OSError as e:  # a network mirror failing mid-request
        return SmallFile(uri, FileStatus.UNREADABLE, reason=f"open failed: {e.strerror or e}")
    try:
        if handle.size is not None and handle.size > limit:
            return SmallFile(uri, FileStatus.UNREADABLE, reason=f"{handle.size} bytes, larger than {limit}")
        return _read_bounded(handle.readinto, uri, limit)
    except OSError as e:
        return SmallFile(uri, FileStatus.UNREADABLE, reason=f"read failed: {e.strerror or e}")
    finally:
        handle.close()


def _read_bounded(read_into: Callable[[memoryview], int], uri: str, limit: int) -> SmallFile:
    data = bytearray()
    buffer = memoryview(bytearray(CHUNK_BYTES))
    while True:
        n = read_into(buffer)
        if not n:
            return SmallFile(uri, FileStatus.VERIFIED, bytes(data))
        data.extend(buffer[:n])
        if len(data) > limit:
            return SmallFile(uri, FileStatus.UNREADABLE, reason=f"larger than {limit} bytes")
