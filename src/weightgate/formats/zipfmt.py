"""ZIP containers: the member list, and from it PyTorch checkpoints, Keras v3 files and .npz archives.

The central directory sits at the end of a zip, so the inspector keeps a bounded ring of the last bytes and
parses the end record and directory from it when the stream ends. A directory larger than the ring falls
back to the local file headers at the start of the file, and the listing is marked incomplete. Anything
a lenient reader would silently accept but two readers could read differently (bytes after the end record,
data prepended before the directory, duplicate names) is reported as malformed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Issue
from weightgate.rules import MALFORMED_FILE

# 1 MiB holds the directory of ~10,000 members (a large PyTorch checkpoint has one member per storage).
TAIL_BYTES = 1024 * 1024
HEAD_KEEP_BYTES = 64 * 1024
MAX_LISTED_NAMES = 50
MAX_COMMENT_BYTES = 0xFFFF

EOCD_SIG, EOCD_SIZE = b"PK\x05\x06", 22
ZIP64_LOCATOR_SIG, ZIP64_LOCATOR_SIZE = b"PK\x06\x07", 20
ZIP64_EOCD_SIG, ZIP64_EOCD_SIZE = b"PK\x06\x06", 56
CENTRAL_SIG, CENTRAL_SIZE = b"PK\x01\x02", 46
LOCAL_SIG, LOCAL_SIZE = b"PK\x03\x04", 30
ENCRYPTED_FLAG, DATA_DESCRIPTOR_FLAG, UTF8_FLAG = 0x1, 0x8, 0x800
ZIP64_MARKER = 0xFFFFFFFF

TORCH_MARKER_NAMES = frozenset({"version", "byteorder", ".data/version"})
KERAS_ROOT_NAMES = frozenset({"config.json", "metadata.json"})
PICKLE_SUFFIXES = (".pkl", ".pickle")


class _Malformed(Exception):
    pass


@dataclass(frozen=True)
class _Directory:
    entries: int
    offset: int
    size: int


@dataclass
class _Members:
    names: list[str]
    complete: bool
    count: int
    encrypted: int = 0


class ZipInspector:
    """Keeps the first HEAD_KEEP_BYTES and a ring of the last TAIL_BYTES."""

    def __init__(self, size: int) -> None:
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0

    def feed(self, chunk: memoryview) -> None:
        self._total += len(chunk)
        room = HEAD_KEEP_BYTES - len(self._head)
        if room > 0:
            self._head += chunk[:room]
        if len(chunk) >= TAIL_BYTES:
            self._tail = bytearray(chunk[-TAIL_BYTES:])
            return
        self._tail += chunk
        if len(self._tail) > 2 * TAIL_BYTES:  # trim in batches: deleting from the front copies the rest
            del self._tail[:-TAIL_BYTES]

    def finish(self) -> Inspection:
        tail = bytes(self._tail[-TAIL_BYTES:])
        return inspect_zip(bytes(self._head), tail, self._total - len(tail))


def inspect_zip(head: bytes, tail: bytes, tail_start: int) -> Inspection:
    """Judge a zip from its first bytes and its last bytes (which start at offset `tail_start`)."""
    issues: list[Issue] = []
    try:
        members = _directory_members(head, tail, tail_start)
    except _Malformed as exc:
        issues.append(Issue(MALFORMED_FILE, f"zip {exc}"))
        names = _local_names(head)
        members = _Members(names, False, len(names))
    duplicate = _first_duplicate(members.names)
    if duplicate is not None:
        issues.append(Issue(MALFORMED_FILE, f"zip member {duplicate!r} appears twice; readers disagree on "
                                             "which copy they load"))
    return Inspection(zip_format(members.names), _details(members), issues)


def _directory_members(head: bytes, tail: bytes, tail_start: int) -> _Members:
    directory = _find_directory(tail, tail_start)
    start = directory.offset - tail_start
    if start < 0:  # the directory is larger than the ring: names from the local headers we saw
        return _Members(_local_names(head), False, directory.entries)
    names, encrypted = _central_names(tail[start : start + directory.size], directory.entries)
    return _Members(names, True, directory.entries, encrypted)


def _find_directory(tail: bytes, tail_start: int) -> _Directory:
    at = _find_end_record(tail)
    disk, directory_disk, _, entries, size, offset, _ = struct.unpack_from("<4xHHHHIIH", tail, at)
    end = tail_start + at
    locator = at - ZIP64_LOCATOR_SIZE
    if locator >= 0 and tail.startswith(ZIP64_LOCATOR_SIG, locator):
        end, entries, size, offset = _zip64_record(tail, tail_start, locator)
    elif disk or directory_disk:
        raise _Malformed("archive spans several disks")
    if offset + size != end:
        raise _Malformed(
            f"central directory ({size} bytes at offset {offset}) does not end where the end record starts "
            f"({end}): bytes were prepended or the file is corrupt"
        )
    return _Directory(entries, offset, size)


def _find_end_record(tail: bytes) -> int:
    """Offset in `tail` of the end-of-central-directory record, which must end exactly at end of file."""
    if len(tail) < EOCD_SIZE:
        raise _Malformed(f"file is too short ({len(tail)} bytes) to hold an end-of-central-directory record")
    floor = max(0, len(tail) - EOCD_SIZE - MAX_COMMENT_BYTES)
    at = tail.rfind(EOCD_SIG, floor, len(tail) - EOCD_SIZE + len(EOCD_SIG))
    trailing = None
    while at >= 0:
        comment_length = struct.unpack_from("<H", tail, at + 20)[0]
        if at + EOCD_SIZE + comment_length == len(tail):
            return at
        trailing = len(tail) - (at + EOCD_SIZE + comment_length) if trailing is None else trailing
        at = tail.rfind(EOCD_SIG, floor, at + len(EOCD_SIG) - 1)
    if trailing is not None and trailing > 0:
        raise _Malformed(f"{trailing} bytes follow the end-of-central-directory record")
    raise _Malformed("no end-of-central-directory record (truncated, or not a zip)")


def _zip64_record(tail: bytes, tail_start: int, locator: int) -> tuple[int, int, int, int]:
    """(record offset, entries, directory size, directory offset) from the zip64 end record."""
    record_offset = struct.unpack_from("<4xIQ", tail, locator)[1]
    at = record_offset - tail_start
    if at < 0 or at + ZIP64_EOCD_SIZE > locator or not tail.startswith(ZIP64_EOCD_SIG, at):
        raise _Malformed(f"zip64 end record expected at offset {record_offset} is missing")
    entries, size, offset = struct.unpack_from("<QQQ", tail, at + 32)
    return record_offset, entries, size, offset


def _central_names(directory: bytes, entries: int) -> tuple[list[str], int]:
    """Member names from the central directory, and how many members are encrypted."""
    names: list[str] = []
    encrypted = 0
    at = 0
    for index in range(entries):
        if at + CENTRAL_SIZE > len(directory) or not directory.startswith(CENTRAL_SIG, at):
            raise _Malformed(f"central directory entry {index + 1} of {entries} is corrupt")
        flags = struct.unpack_from("<H", directory, at + 8)[0]
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", directory, at + 28)
        end = at + CENTRAL_SIZE + name_length + extra_length + comment_length
        if end > len(directory):
            raise _Malformed(f"central directory entry {index + 1} of {entries} runs past the directory")
        names.append(_decode_name(directory[at + CENTRAL_SIZE : at + CENTRAL_SIZE + name_length], flags))
        encrypted += flags & ENCRYPTED_FLAG
        at = end
    if at != len(directory):
        raise _Malformed(f"central directory holds {len(directory) - at} bytes beyond its {entries} entries")
    return names, encrypted


def _local_names(head: bytes) -> list[str]:
    """Names from consecutive local file headers at the start of the file, as far as they can be followed."""
    names: list[str] = []
    at = 0
    while at + LOCAL_SIZE <= len(head) and head.startswith(LOCAL_SIG, at):
        flags, compressed = struct.unpack_from("<H", head, at + 6)[0], struct.unpack_from("<I", head, at + 18)[0]
        name_length, extra_length = struct.unpack_from("<HH", head, at + 26)
        name_end = at + LOCAL_SIZE + name_length
        if name_end > len(head):
            break
        names.append(_decode_name(head[at + LOCAL_SIZE : name_end], flags))
        if compressed == ZIP64_MARKER or (flags & DATA_DESCRIPTOR_FLAG and compressed == 0):
            break  # the data's length is elsewhere, so the next header cannot be found
        at = name_end + extra_length + compressed
    return names


def _decode_name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8", "replace") if flags & UTF8_FLAG else raw.decode("cp437")


def _first_duplicate(names: list[str]) -> str | None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def zip_format(names: list[str]) -> Format:
    """What a zip with these members is: a PyTorch checkpoint, a Keras v3 file, an .npz, or a plain zip."""
    files = [name for name in names if not name.endswith("/")]
    if _is_torch(files):
        return Format.PYTORCH_ZIP
    if set(files) >= KERAS_ROOT_NAMES:
        return Format.KERAS_V3
    if files and all(name.endswith(".npy") for name in files):
        return Format.NUMPY_NPZ
    return Format.ZIP


def _is_torch(files: list[str]) -> bool:
    # torch.save writes <folder>/data.pkl, <folder>/version (or .data/version), <folder>/data/<n>; the folder
    # name is the file's stem and is often renamed, so only the part after the first folder is compared.
    inner = [name.split("/", 1)[-1] for name in files]
    if "data.pkl" in inner or any(name.endswith("/data.pkl") for name in files):
        return True
    has_pickle = any(name.endswith(".pkl") for name in files)
    return has_pickle and any(name in TORCH_MARKER_NAMES or name.startswith("data/") for name in inner)


def _details(members: _Members) -> dict[str, str]:
    details = {
        "members": str(members.count),
        "member_names": ",".join(members.names[:MAX_LISTED_NAMES]),
        "members_complete": str(members.complete).lower(),
    }
    if members.encrypted:
        details["encrypted_members"] = str(members.encrypted)
    pickles = sum(name.endswith(PICKLE_SUFFIXES) for name in members.names)
    if pickles:  # a pickle inside any zip runs code when whatever reads the zip unpickles it
        details["pickle_members"] = str(pickles)
    return details
