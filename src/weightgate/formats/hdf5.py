"""HDF5 (Keras .h5 and other HDF5 files): the superblock, and the Keras model config found in the bytes.

The signature may follow a user block, so it is searched at offset 0 and at every power of two from 512
(the HDF5 spec's rule) that lies inside the head. A legacy Keras `.h5` keeps its model config as a JSON
string attribute; `keras.KerasConfigScanner` finds it while the bytes stream past (no HDF5 library, no
seeking), so Lambda layers with marshalled code are reported without loading the file.
"""

from __future__ import annotations

from weightgate.formats import Format
from weightgate.formats.base import Inspection

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
FIRST_USERBLOCK_OFFSET = 512
HEAD_KEEP_BYTES = 64 * 1024  # more than the largest user block the signature search looks behind


def hdf5_signature_offset(head: bytes) -> int | None:
    """Where the HDF5 superblock starts in `head`, or None."""
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= len(head):
        if head.startswith(HDF5_SIGNATURE, offset):
            return offset
        offset = FIRST_USERBLOCK_OFFSET if offset == 0 else offset * 2
    return None


def hdf5_facts(fmt: Format, head: bytes, total: int) -> Inspection:
    """Superblock offset and version (they tell a reviewer which HDF5 library wrote the file)."""
    details: dict[str, str] = {}
    offset = hdf5_signature_offset(head)
    if offset is not None:
        details["superblock_offset"] = str(offset)
        version_at = offset + len(HDF5_SIGNATURE)
        if version_at < len(head):
            details["superblock_version"] = str(head[version_at])
    return Inspection(fmt, details)


class Hdf5Inspector:
    """Keeps the head for the superblock facts and scans every byte for a Keras config."""

    def __init__(self, size: int) -> None:
        self._head = bytearray()
        from weightgate.formats.keras import KerasConfigScanner  # detection imports this module

        self._scanner = KerasConfigScanner()

    def feed(self, chunk: memoryview) -> None:
        room = HEAD_KEEP_BYTES - len(self._head)
        if room > 0:
            self._head += chunk[:room]
        self._scanner.feed(chunk)

    def finish(self) -> Inspection:
        inspection = hdf5_facts(Format.HDF5, bytes(self._head), 0)
        details, issues = self._scanner.finish()
        inspection.details.update(details)
        inspection.issues.extend(issues)
        return inspection
