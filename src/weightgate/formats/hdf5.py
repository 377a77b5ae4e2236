"""HDF5 (Keras .h5 and other HDF5 files): the signature and superblock version, nothing more.

The signature may follow a user block, so it is searched at offset 0 and at every power of two from 512
(the HDF5 spec's rule) that lies inside the head.
"""

from __future__ import annotations

from weightgate.formats import Format
from weightgate.formats.base import Inspection

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
FIRST_USERBLOCK_OFFSET = 512


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
