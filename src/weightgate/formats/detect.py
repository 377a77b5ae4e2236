"""Coarse format detection from a file's first bytes; a file's name is never consulted.

Order matters. Pickles with a PROTO opcode, and pickles of any protocol that the C unpickler would load to
their STOP or far enough to import a module, come first: a crafted pickle can also pass the safetensors
length check, and whatever can be unpickled must be called a pickle. Binary magics follow (a zip or tar
magic outranks a pickle head: a stored torch zip's bytes read as opcodes can reach an import), then formats
with no magic at all (JSON, protobuf, other protocol-0/1 pickle heads), and text last, so that nothing a
loader would execute is ever classified as text. Containers come out coarse (ZIP, TAR, PICKLE): the
family inspectors refine them from their full content (`sniff.new_inspector` does both).
"""

from __future__ import annotations

import codecs
import struct

from weightgate.formats import Format
from weightgate.formats.compressed import compression_format, decompressed_prefix, is_zlib
from weightgate.formats.gguf import gguf_byte_order
from weightgate.formats.hdf5 import hdf5_signature_offset
from weightgate.formats.numpyfmt import NPY_MAGIC
from weightgate.formats.picklehead import PROTO_OPCODE, PickleHead, read_pickle_head
from weightgate.formats.protobuf import detect_protobuf
from weightgate.formats.safetensors_header import LENGTH_BYTES, MAX_HEADER_BYTES

HEAD_BYTES = 64 * 1024
MIN_SAFETENSORS_HEADER = 2  # "{}"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or the end record of an empty zip
TAR_MAGIC, TAR_MAGIC_OFFSET = b"ustar", 257
TAR_BLOCK, TAR_CHECKSUM_AT = 512, 148
UTF8_BOM = b"\xef\xbb\xbf"
JSON_WHITESPACE = b" \t\r\n"
# What may follow an opening bracket in JSON; "[section]" (INI) or "{{" (a template) may not.
JSON_AFTER_BRACE = frozenset(b'"}')
JSON_AFTER_BRACKET = frozenset(b'"{[]-0123456789tfn')


def detect_head(head: bytes, size: int) -> Format:
    """The coarse format of a file from its first bytes (up to HEAD_BYTES).

    `size` is the file's total size, or negative when unknown; when `head` is the whole file it lets
    detection insist on complete structures.
    """
    return _detect(head, size, look_inside=True)


def _detect(head: bytes, size: int, look_inside: bool) -> Format:
    if not head:
        return Format.EMPTY if size <= 0 else Format.UNKNOWN
    pickle_head = read_pickle_head(head, size)
    return (
        _pickle_first(head, pickle_head)
        or _binary_magic(head, look_inside)
        or (_compressed_pickle(head) if look_inside else None)
        or _json(head)
        or detect_protobuf(head, size)
        or (Format.PICKLE if pickle_head is not None else None)
        or (Format.TEXT if _is_text(head, size) else Format.UNKNOWN)
    )


def inner_format(head: bytes) -> tuple[str, Format] | None:
    """(compression, format of the decompressed start) for a gzip, bzip2, xz or zlib head."""
    prefix = decompressed_prefix(head)
    if prefix is None or not prefix.data:
        return None
    # One level only: a compressed stream can decompress to itself (gzip quines exist).
    size = len(prefix.data) if prefix.complete else -1
    return prefix.compression, _detect(prefix.data, size, look_inside=False)


def _binary_magic(head: bytes, look_inside: bool) -> Format | None:
    if _is_safetensors(head):
        return Format.SAFETENSORS
    if gguf_byte_order(head):
        return Format.GGUF
    if hdf5_signature_offset(head) is not None:
        return Format.HDF5
    if head.startswith(NPY_MAGIC):
        return Format.NUMPY
    if head.startswith(b"PAR1"):
        return Format.PARQUET
    if head.startswith(ZIP_MAGICS):
        return Format.ZIP
    if head.startswith(TAR_MAGIC, TAR_MAGIC_OFFSET) or _is_tar_header(head[:TAR_BLOCK]):
        return Format.TAR
    compression = compression_format(head)
    if compression is not None and look_inside:
        inner = inner_format(head)
        # joblib.dump(compress=...) writes a pickle through gzip, bz2 or xz; it runs code when loaded.
        return Format.JOBLIB if inner and inner[1] in (Format.PICKLE, Format.JOBLIB) else compression
    return compression


def _is_tar_header(block: bytes) -> bool:
    """A pre-POSIX (v7) tar header has no magic: tarfile (and torch's legacy loader) takes any block whose
    checksum matches, read as tarfile's `nti` reads it (up to the first NUL, stripped, base 8). Found by the
    tarfile oracle (issue 14, class 1): detection wanted the "ustar" magic and called such archives unknown."""
    if len(block) < TAR_BLOCK or not block.strip(b"\x00"):
        return False
    field = block[TAR_CHECKSUM_AT : TAR_CHECKSUM_AT + 8].split(b"\x00", 1)[0].strip()
    try:
        stored = int(field or b"0", 8)
    except ValueError:
        return False
    rest = block[:TAR_CHECKSUM_AT] + b" " * 8 + block[TAR_CHECKSUM_AT + 8 :]
    unsigned = sum(rest)
    return stored in (unsigned, unsigned - 256 * sum(1 for byte in rest if byte > 127))


def _is_safetensors(head: bytes) -> bool:
    # A header length running past the end of the file still says safetensors (a truncated one): the
    # inspector then reports it as malformed, which tells a reviewer more than "unknown format".
    if len(head) <= LENGTH_BYTES:
        return False
    length = struct.unpack_from("<Q", head)[0]
    return MIN_SAFETENSORS_HEADER <= length <= MAX_HEADER_BYTES and head[LENGTH_BYTES] == ord("{")


def _pickle_first(head: bytes, pickle_head: PickleHead | None) -> Format | None:
    """A PROTO-headed pickle, or one the unpickler reads to its STOP or to an import even though it passes the
    safetensors length check (issue 14, class 1). Other magics keep their rank: a stored torch zip's bytes, read
    as opcodes, can reach an import."""
    if pickle_head is None:
        return None
    if head[0] == PROTO_OPCODE:
        return Format.PICKLE
    if pickle_head.decisive and _binary_magic(head, look_inside=False) in (None, Format.SAFETENSORS):
        return Format.PICKLE
    return None


def _compressed_pickle(head: bytes) -> Format | None:
    if not is_zlib(head):
        return None
    inner = inner_format(head)
    return Format.JOBLIB if inner and inner[1] in (Format.PICKLE, Format.JOBLIB) else None


def _json(head: bytes) -> Format | None:
    text = head.removeprefix(UTF8_BOM).lstrip(JSON_WHITESPACE)
    if not text or text[0] not in b"{[":
        return None
    after = text[1:].lstrip(JSON_WHITESPACE)[:1]
    allowed = JSON_AFTER_BRACE if text[0] == ord("{") else JSON_AFTER_BRACKET
    if after and after[0] not in allowed:
        return None
    return Format.JSON if _is_utf8_prefix(head) else None


def _is_text(head: bytes, size: int) -> bool:
    return b"\x00" not in head and _is_utf8_prefix(head, whole=0 <= size <= len(head))


def _is_utf8_prefix(head: bytes, whole: bool = False) -> bool:
    """Valid UTF-8, allowing a multibyte character cut by the end of the head (unless it is the file)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=whole)
    except UnicodeDecodeError:
        return False
    return True
