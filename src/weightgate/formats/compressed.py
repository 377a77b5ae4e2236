"""Compressed streams: recognising them by magic, and peeking at the start of what they hold.

Joblib writes pickles through zlib, gzip, bz2 or xz; a compressed pickle runs code on load just like a plain
one, so the gate needs the first decompressed bytes. Decompression is bounded by output size
(`max_length`), so a bomb costs no more than MAX_PREFIX_BYTES of memory.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from dataclasses import dataclass
from typing import Protocol

from weightgate.formats import Format

MAX_PREFIX_BYTES = 64 * 1024

GZIP_MAGIC = b"\x1f\x8b\x08"
BZIP2_MAGIC = b"BZh"
# The first bzip2 block starts with the BCD digits of pi; an empty stream goes straight to sqrt(pi).
BZIP2_BLOCK_MAGICS = (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")
XZ_MAGIC = b"\xfd7zXZ\x00"
SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# zlib: CM=8 with a 32 KiB window (0x78), then the FLG byte for each of the four compression levels.
ZLIB_FIRST_BYTE = 0x78
ZLIB_SECOND_BYTES = frozenset({0x01, 0x5E, 0x9C, 0xDA})


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, /, max_length: int = ...) -> bytes: ...


@dataclass(frozen=True)
class DecompressedPrefix:
    """The first bytes a compressed stream expands to."""

    compression: str
    data: bytes
    complete: bool  # the stream ended inside the input, so `data` is the whole content


def compression_format(head: bytes) -> Format | None:
    """The compression container `head` starts with (zlib excluded: it has no format of its own)."""
    if head.startswith(GZIP_MAGIC):
        return Format.GZIP
    if _is_bzip2(head):
        return Format.BZIP2
    if head.startswith(XZ_MAGIC):
        return Format.XZ
    if head.startswith(SEVEN_ZIP_MAGIC):
        return Format.SEVEN_ZIP
    if head.startswith(ZSTD_MAGIC):
        return Format.ZSTD
    return None


def is_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == ZLIB_FIRST_BYTE and head[1] in ZLIB_SECOND_BYTES


def decompressed_prefix(head: bytes, limit: int = MAX_PREFIX_BYTES) -> DecompressedPrefix | None:
    """Up to `limit` bytes of what `head` decompresses to, or None when it is not a stream we can open."""
    opened = _decompressor(head)
    if opened is None:
        return None
    name, decompressor = opened
    try:
        data = decompressor.decompress(head, max_length=limit)
    except (zlib.error, OSError, EOFError, lzma.LZMAError):
        return None
    return DecompressedPrefix(name, data, decompressor.eof)


def _decompressor(head: bytes) -> tuple[str, _Decompressor] | None:
    if is_zlib(head):
        return "zlib", zlib.decompressobj()
    fmt = compression_format(head)
    if fmt is Format.GZIP:
        return "gzip", zlib.decompressobj(wbits=31)
    if fmt is Format.BZIP2:
        return "bzip2", bz2.BZ2Decompressor()
    if fmt is Format.XZ:
        return "xz", lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    return None


def _is_bzip2(head: bytes) -> bool:
    # 'BZh' + level digit alone is ordinary text; the block magic after it is not.
    return (
        head.startswith(BZIP2_MAGIC)
        and len(head) >= 10
        and head[3:4] in {b"%d" % level for level in range(1, 10)}
        and head[4:10] in BZIP2_BLOCK_MAGICS
    )
