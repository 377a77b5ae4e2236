"""ZIP containers: PyTorch checkpoints, Keras v3 files, .npz archives and plain zips, member by member.

Two views of a zip are built from one pass. `zipstream.ZipStream` walks the local headers front to back,
handing every member's content to its own inspector (so a pickle is walked whatever its name or folder) and
parsing the central directory entries as they pass. A bounded ring of the last bytes holds the end record,
which says where the central directory is. Then the views are held against each other: a central entry with
no local header at its offset, a local entry the directory does not list, bytes between members, or headers
that disagree on a name, size, CRC or method mean different readers see different content (WG507). Anything a
lenient reader would silently accept but two readers could read differently (bytes after the end record,
data prepended before the directory, duplicate names) is reported as malformed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Issue
from weightgate.formats.members import Nesting
from weightgate.formats.zipend import TailKeeper
from weightgate.formats.zipstream import (
    CENTRAL_SIG,
    CENTRAL_SIZE,
    ENCRYPTED_FLAG,
    STRONG_ENCRYPTION_FLAG,
    ZipEntry,
    ZipStream,
    central_record_size,
    parse_central,
)
from weightgate.rules import CONTAINER_LIMIT_EXCEEDED, MALFORMED_FILE, ZIP_HEADER_TRICKS

# The kept tail (zipend.TAIL_BYTES, 1 MiB) holds the end records with the longest comment, and the directory
# of ~10,000 members when the walk cannot reach it (a large PyTorch checkpoint has one member per storage).
MAX_LISTED_NAMES = 50
MAX_COMMENT_BYTES = 0xFFFF
MAX_LISTED_DISAGREEMENTS = 20

EOCD_SIG, EOCD_SIZE = b"PK\x05\x06", 22
ZIP64_LOCATOR_SIG, ZIP64_LOCATOR_SIZE = b"PK\x06\x07", 20
ZIP64_EOCD_SIG, ZIP64_EOCD_SIZE = b"PK\x06\x06", 56

TORCH_MARKER_NAMES = frozenset({"version", "byteorder", ".data/version"})
KERAS_ROOT_NAMES = frozenset({"config.json", "metadata.json"})


class _Malformed(Exception):
    pass


@dataclass(frozen=True)
class _Directory:
    entries: int
    offset: int
    size: int


@dataclass
class _Members:
    entries: list[ZipEntry]
    complete: bool  # the listing is the whole central directory
    count: int


class ZipInspector:
    """Walks the members as they pass and keeps a ring of the last TAIL_BYTES for the end records."""

    def __init__(self, nesting: Nesting, size: int = -1) -> None:
        self._stream = ZipStream(nesting)
        self._tail = TailKeeper(size)

    def feed(self, chunk: memoryview) -> None:
        self._stream.feed(chunk)
        self._tail.feed(chunk)

    def finish(self) -> Inspection:
        self._stream.finish()
        tail = self._tail.tail()
        inspection = judge_zip(self._stream, tail, self._tail.total - len(tail))
        if self._tail.short:
            # Only a zip that ends before the size its container announced (a finding there already) gets
            # here: its end records were read from fewer bytes than usual, so say so rather than pass quietly.
            inspection.issues.append(Issue(MALFORMED_FILE, (
                f"zip ends after {self._tail.total} bytes, before the size announced for it; its end records and "
                f"directory were read from its last {len(tail)} bytes only")))
        return inspection


def judge_zip(stream: ZipStream, tail: bytes, tail_start: int) -> Inspection:
    """The verdict on a walked zip whose last bytes are `tail` (starting at offset `tail_start`)."""
    issues: list[Issue] = []
    directory: _Directory | None = None
    try:
        directory = _find_directory(tail, tail_start)
    except _Malformed as exc:
        issues.append(Issue(MALFORMED_FILE, f"zip {exc}"))
    members = _members(stream, directory, tail, tail_start, issues)
    issues += _walk_issues(stream, directory, members)
    duplicate = _first_duplicate([entry.name for entry in members.entries])
    if duplicate is not None:
        issues.append(Issue(MALFORMED_FILE, f"zip member {duplicate!r} appears twice; readers disagree on "
                                             "which copy they load"))
    if members.complete and stream.stopped is None and stream.limit is None:
        issues += _disagreements(stream.locals, members.entries)
    issues += stream.issues + stream.nested.all_issues()
    names = [entry.name for entry in members.entries]
    return Inspection(zip_format(names), {**_details(members), **stream.nested.details()}, issues)


def _members(stream: ZipStream, directory: _Directory | None, tail: bytes, tail_start: int,
             issues: list[Issue]) -> _Members:
    """The central directory's entries (from the walk, else from the tail), or the walked local entries."""
    if directory is None:
        return _Members(stream.locals, False, len(stream.locals))
    if stream.central_start == directory.offset and len(stream.centrals) == directory.entries:
        return _Members(stream.centrals, True, directory.entries)
    start = directory.offset - tail_start
    if start >= 0:
        try:
            return _Members(_central_entries(tail[start : start + directory.size], directory.entries), True,
                            directory.entries)
        except _Malformed as exc:
            issues.append(Issue(MALFORMED_FILE, f"zip {exc}"))
    return _Members(stream.locals, False, directory.entries)


def _walk_issues(stream: ZipStream, directory: _Directory | None, members: _Members) -> list[Issue]:
    issues: list[Issue] = []
    if stream.limit is not None:
        issues.append(Issue(CONTAINER_LIMIT_EXCEEDED, stream.limit))
    if directory is None:
        return issues  # truncated or not a zip: the end-record problem says it; the walk adds nothing
    if stream.stopped is not None and stream.stopped_at != directory.offset:
        issues.append(Issue(ZIP_HEADER_TRICKS, f"zip walk stopped at offset {stream.stopped_at}: {stream.stopped}; "
                                               "what follows is not inspected and readers may see content there"))
    elif stream.stopped is None and stream.truncated is not None:
        issues.append(Issue(MALFORMED_FILE, f"zip {stream.truncated}"))
    if stream.stopped is None and stream.central_start is not None and stream.central_start != directory.offset:
        issues.append(Issue(ZIP_HEADER_TRICKS, f"the end record points to a central directory at offset "
                                               f"{directory.offset}, but the one after the last member starts at "
                                               f"{stream.central_start}"))
    return issues


def _disagreements(local_entries: list[ZipEntry], central_entries: list[ZipEntry]) -> list[Issue]:
    """Where the local headers and the central directory describe the archive differently."""
    by_offset = {entry.offset: entry for entry in local_entries}
    messages = []
    for central in central_entries:
        local = by_offset.pop(central.offset, None)
        if local is None:
            messages.append(f"central directory entry {central.name!r} points to offset {central.offset}, where "
                            "no member's local header starts (overlapping or hidden data)")
            continue
        differences = _differences(local, central)
        if differences:
            messages.append(f"zip member {central.name!r}: the central directory and the local header disagree "
                            f"on {', '.join(differences)}")
    messages += [f"local entry {local.name!r} at offset {local.offset} is not in the central directory: "
                 "streaming readers see it, readers of the directory do not" for local in by_offset.values()]
    issues = [Issue(ZIP_HEADER_TRICKS, message) for message in messages[:MAX_LISTED_DISAGREEMENTS]]
    if len(messages) > MAX_LISTED_DISAGREEMENTS:
        issues.append(Issue(ZIP_HEADER_TRICKS, f"{len(messages) - MAX_LISTED_DISAGREEMENTS} more header "
                                               "disagreements are not listed"))
    return issues


def _differences(local: ZipEntry, central: ZipEntry) -> list[str]:
    encrypted = ENCRYPTED_FLAG | STRONG_ENCRYPTION_FLAG
    found = []
    if local.name != central.name:
        found.append(f"the name ({local.name!r} in the local header)")
    if local.method != central.method:
        found.append(f"the compression method ({local.method} locally, {central.method} centrally)")
    if bool(local.flags & encrypted) != bool(central.flags & encrypted):
        found.append("encryption")
    if local.crc != central.crc:
        found.append("the CRC")
    csize = local.seen_csize if local.seen_csize is not None else local.csize
    if csize != central.csize:
        found.append(f"the compressed size ({csize} bytes walked, {central.csize} in the directory)")
    usize = local.seen_usize if local.seen_usize is not None else local.usize
    if usize != central.usize and local.seen_usize is not None:
        found.append(f"the size ({usize} bytes walked, {central.usize} in the directory)")
    return found


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


def _central_entries(directory: bytes, entries: int) -> list[ZipEntry]:
    """Entries of a central directory held in memory (when the walk did not reach it)."""
    found: list[ZipEntry] = []
    at = 0
    for index in range(entries):
        if at + CENTRAL_SIZE > len(directory) or not directory.startswith(CENTRAL_SIG, at):
            raise _Malformed(f"central directory entry {index + 1} of {entries} is corrupt")
        end = at + central_record_size(directory[at : at + CENTRAL_SIZE])
        if end > len(directory):
            raise _Malformed(f"central directory entry {index + 1} of {entries} runs past the directory")
        found.append(parse_central(directory[at:end]))
        at = end
    if at != len(directory):
        raise _Malformed(f"central directory holds {len(directory) - at} bytes beyond its {entries} entries")
    return found


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
        "member_names": ",".join(entry.name for entry in members.entries[:MAX_LISTED_NAMES]),
        "members_complete": str(members.complete).lower(),
    }
    encrypted = sum(1 for entry in members.entries if entry.flags & ENCRYPTED_FLAG)
    if encrypted:
        details["encrypted_members"] = str(encrypted)
    return details
