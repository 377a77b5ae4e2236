"""The streaming walk over a zip: local headers, member data and the central directory, as the bytes pass.

Readers disagree on where a zip's members are. PyTorch and Python's zipfile trust the central directory at
the end; streaming unzippers trust the local headers in front of each member. The gate reads the file once,
front to back, so it walks the local headers: every member's data is handed to a fresh sniffing inspector
(a pickle is found by content, whatever its name or folder), stored data as it is, deflated and bzip2 data
through a bounded `Expander`. Sizes come from the local header, a zip64 extra field, or a data descriptor
after the data; a stored member whose size only the descriptor gives is ended where a descriptor with the
right CRC and size appears. The central directory entries that follow are parsed as they pass, so the
inspector can hold every local header against its central entry without keeping the directory's bytes.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

from weightgate.formats.base import Inspector, Issue
from weightgate.formats.compressed import INPUT_PIECE_BYTES, Expander, expansion_issues
from weightgate.formats.members import TORCH_STORAGE_RECORD, NestedResults, Nesting
from weightgate.rules import ARCHIVE_MEMBER_UNINSPECTABLE, MALFORMED_FILE, ZIP_HEADER_TRICKS

MAX_MEMBERS = 100_000
# CRCs are checked for members up to this size: pickles and configs are small, while CRC-ing gigabytes of
# tensor data would slow the pass well beyond hashing (a bad CRC only makes careful readers refuse a member).
CRC_CHECK_MAX_BYTES = 64 * 1024 * 1024
LOCAL_SIG, LOCAL_SIZE = b"PK\x03\x04", 30
CENTRAL_SIG, CENTRAL_SIZE = b"PK\x01\x02", 46
DESCRIPTOR_SIG = b"PK\x07\x08"
# Records that may follow the last central entry: end records and the (obsolete) digital signature.
END_SIGS = frozenset({b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x05\x05"})
ENCRYPTED_FLAG, DATA_DESCRIPTOR_FLAG, STRONG_ENCRYPTION_FLAG, UTF8_FLAG = 0x1, 0x8, 0x40, 0x800
# Bits every reader agrees on: encryption, deflate options, data descriptor, UTF-8 names.
KNOWN_FLAGS = ENCRYPTED_FLAG | 0x2 | 0x4 | DATA_DESCRIPTOR_FLAG | UTF8_FLAG
FLAG_MEANINGS = {0x10: "enhanced deflation", 0x20: "patched data", 0x40: "strong encryption",
                 0x2000: "masked local headers"}
STORED = 0
EXPANDER_KINDS = {8: "deflate", 12: "bzip2"}
ZIP64_MARKER, ZIP64_EXTRA_ID = 0xFFFFFFFF, 0x0001
DESCRIPTOR_HOLD = 4 + 20 + 4  # the longest descriptor, plus the signature of the record after it
_RECORD_AFTER_DATA = re.compile(re.escape(DESCRIPTOR_SIG) + b"|" + re.escape(LOCAL_SIG) + b"|"
                                + re.escape(CENTRAL_SIG))


@dataclass
class ZipEntry:
    """One member as a header (local or central) describes it, and what the walk measured."""

    name: str
    offset: int  # of the local header
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    zip64: bool = False
    header_length: int = 0  # of the local header with its name and extra field
    seen_csize: int | None = None
    seen_usize: int | None = None
    seen_crc: int | None = None


def parse_local(record: bytes, offset: int) -> ZipEntry:
    flags, method = struct.unpack_from("<HH", record, 6)
    crc, csize, usize, name_length, extra_length = struct.unpack_from("<IIIHH", record, 14)
    name = decode_name(record[LOCAL_SIZE : LOCAL_SIZE + name_length], flags)
    extra = record[LOCAL_SIZE + name_length : LOCAL_SIZE + name_length + extra_length]
    zip64 = _zip64_extra(extra)
    entry = ZipEntry(name, offset, flags, method, crc, csize, usize, zip64=zip64 is not None,
                     header_length=len(record))
    if zip64 is not None and ZIP64_MARKER in (csize, usize):
        values = list(zip64)
        entry.usize = values.pop(0) if usize == ZIP64_MARKER and values else usize
        entry.csize = values.pop(0) if csize == ZIP64_MARKER and values else csize
    return entry


def parse_central(record: bytes) -> ZipEntry:
    flags, method = struct.unpack_from("<HH", record, 8)
    crc, csize, usize, name_length, extra_length = struct.unpack_from("<IIIHH", record, 16)
    offset = struct.unpack_from("<I", record, 42)[0]
    name = decode_name(record[CENTRAL_SIZE : CENTRAL_SIZE + name_length], flags)
    extra = record[CENTRAL_SIZE + name_length : CENTRAL_SIZE + name_length + extra_length]
    values = list(_zip64_extra(extra) or ())
    if usize == ZIP64_MARKER and values:
        usize = values.pop(0)
    if csize == ZIP64_MARKER and values:
        csize = values.pop(0)
    if offset == ZIP64_MARKER and values:
        offset = values.pop(0)
    return ZipEntry(name, offset, flags, method, crc, csize, usize)


def central_record_size(record: bytes) -> int:
    name_length, extra_length, comment_length = struct.unpack_from("<HHH", record, 28)
    return CENTRAL_SIZE + int(name_length) + int(extra_length) + int(comment_length)


def decode_name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8", "replace") if flags & UTF8_FLAG else raw.decode("cp437")


def _zip64_extra(extra: bytes) -> tuple[int, ...] | None:
    """The 8-byte values of a zip64 extended-information field, or None when there is none."""
    at = 0
    while at + 4 <= len(extra):
        field_id, size = struct.unpack_from("<HH", extra, at)
        if field_id == ZIP64_EXTRA_ID:
            body = extra[at + 4 : at + 4 + size]
            return tuple(struct.unpack_from("<Q", body, i)[0] for i in range(0, len(body) - 7, 8))
        at += 4 + size
    return None


# --- member data -------------------------------------------------------------------------------------------


class _Member:
    """A member's data as it passes: its bytes go to `sink` (the member's own inspector) when there is one."""

    def __init__(self, entry: ZipEntry, sink: Inspector | None) -> None:
        self.entry = entry
        self.sink = sink
        self.done = False
        self.crc = 0
        self.out = 0  # bytes handed to the sink
        self.consumed = 0  # bytes of the archive this member's data took
        self.issues: list[Issue] = []
        self.lost: str | None = None  # why the member's end cannot be found (the walk cannot go on)
        self.descriptor_read = False  # the member read its own data descriptor
        self.trailer = 0  # bytes of that descriptor
        self.complete_output = sink is not None  # `out` and `crc` cover the whole content
        # A data descriptor is found by its CRC, so a member ending in one is always CRC-ed.
        self.check_crc = bool(entry.flags & DATA_DESCRIPTOR_FLAG) or (
            entry.usize <= CRC_CHECK_MAX_BYTES and TORCH_STORAGE_RECORD.fullmatch(entry.name) is None)

    def _emit(self, data: bytes | memoryview) -> None:
        if self.check_crc:
            self.crc = zlib.crc32(data, self.crc)
        self.out += len(data)
        if self.sink is not None:
            self.sink.feed(memoryview(data))

    def feed(self, view: memoryview) -> memoryview:
        raise NotImplementedError

    def at_eof(self) -> bytes:
        """The archive ended with this member open: finish what can be finished; bytes to walk on, if any."""
        return b""


class _Sized(_Member):
    """Stored data of known size, or data of known size that is skipped (encrypted, unknown method)."""

    def __init__(self, entry: ZipEntry, sink: Inspector | None, size: int, inspect: bool) -> None:
        super().__init__(entry, sink)
        self._remaining = size
        self._inspect = inspect
        self.complete_output = inspect
        self.done = size == 0

    def feed(self, view: memoryview) -> memoryview:
        part = view[: self._remaining]
        if self._inspect:
            self._emit(part)
        self.consumed += len(part)
        self._remaining -= len(part)
        self.done = self._remaining == 0
        return view[len(part) :]


class _Inflating(_Member):
    """Deflated or bzip2 data, expanded within limits; its end is its size, or the end of the stream."""

    def __init__(self, entry: ZipEntry, sink: Inspector, kind: str, nesting: Nesting, size: int | None) -> None:
        super().__init__(entry, sink)
        self._expander = Expander(kind, nesting.budget, self._emit)
        self._remaining = size

    def feed(self, view: memoryview) -> memoryview:
        if self._remaining is not None:
            part = view[: self._remaining]
            self._expander.feed(part)
            self.consumed += len(part)
            self._remaining -= len(part)
            if self._remaining == 0:
                self._close(sized=True)
            return view[len(part) :]
        part = view[:INPUT_PIECE_BYTES]
        self._expander.feed(part)
        self.consumed += len(part)
        if not self._expander.done:
            return view[len(part) :]
        if not self._expander.ended:
            self._close(sized=False)
            self.lost = f"the end of member {self.entry.name!r} cannot be found once its expansion stopped"
            return view[len(part) :]
        rest = self._expander.unused + bytes(view[len(part) :])
        self.consumed -= len(self._expander.unused)
        self._expander.unused = b""
        self._close(sized=False)
        return memoryview(rest)

    def at_eof(self) -> bytes:
        self._expander.flush()
        rest = self._expander.unused if self._expander.ended and self._remaining is None else b""
        self.consumed -= len(rest)
        self._expander.unused = b""
        self._close(sized=self._remaining is not None)
        return rest

    def _close(self, sized: bool) -> None:
        self._expander.flush()
        self.done = True
        self.complete_output = self._expander.ended
        what = f"zip member {self.entry.name!r}"
        self.issues += expansion_issues(self._expander, what)
        if sized and self._expander.ended and self._expander.unused:
            self.issues.append(Issue(ZIP_HEADER_TRICKS, f"{what}: its compressed data ends "
                                     f"{len(self._expander.unused)} bytes before the size its header gives; "
                                     "readers that trust the size and readers that follow the stream disagree"))


class _DescriptorSearch(_Member):
    """Stored data whose size only the data descriptor after it gives: the data ends where a descriptor with
    the CRC and size of the bytes so far appears (with or without its optional signature)."""

    def __init__(self, entry: ZipEntry, sink: Inspector | None) -> None:
        super().__init__(entry, sink)
        self._held = b""
        self._wide = entry.zip64

    def feed(self, view: memoryview) -> memoryview:
        window = self._held + bytes(view)
        found = self._search(window, final=False)
        if found is not None:
            return memoryview(self._end(window, *found))
        keep = max(0, len(window) - DESCRIPTOR_HOLD)
        self._emit(window[:keep])
        self.consumed += keep
        self._held = window[keep:]
        return view[len(view) :]

    def at_eof(self) -> bytes:
        found = self._search(self._held, final=True)
        if found is not None:
            return self._end(self._held, *found)
        self._emit(self._held)
        self.consumed += len(self._held)
        self.done = True
        self.lost = f"stored member {self.entry.name!r} never reaches its data descriptor"
        return b""

    def _end(self, window: bytes, data_length: int, descriptor_length: int) -> bytes:
        self._emit(window[:data_length])
        self.consumed += data_length
        self.done = self.descriptor_read = True
        self.trailer = descriptor_length
        return window[data_length + descriptor_length :]

    def _search(self, window: bytes, final: bool) -> tuple[int, int] | None:
        """(data length, descriptor length) of the first matching descriptor in `window`, or None."""
        limit = len(window) if final else len(window) - DESCRIPTOR_HOLD
        sizes = 8 if self._wide else 4
        candidates = []
        for match in _RECORD_AFTER_DATA.finditer(window):
            if match.group() == DESCRIPTOR_SIG:
                candidates.append((match.start(), 4))
            else:  # a descriptor without signature ends where the next record starts
                candidates.append((match.start() - 4 - 2 * sizes, 0))
        crc, at = self.crc, 0
        for start, sig_length in sorted(c for c in candidates if 0 <= c[0] < max(limit, 0) or (final and c[0] >= 0)):
            crc = zlib.crc32(window[at:start], crc)
            at = start
            fields = window[start + sig_length : start + sig_length + 4 + 2 * sizes]
            if len(fields) < 4 + 2 * sizes:
                continue
            stored_crc = int.from_bytes(fields[:4], "little")
            csize = int.from_bytes(fields[4 : 4 + sizes], "little")
            usize = int.from_bytes(fields[4 + sizes :], "little")
            if stored_crc == crc and csize == usize == self.consumed + start:
                self.entry.crc, self.entry.csize, self.entry.usize = stored_crc, csize, usize
                return start, sig_length + 4 + 2 * sizes
        return None


# --- the walk ---------------------------------------------------------------------------------------------


class ZipStream:
    """Walks a zip's records front to back; results are read after `finish()`."""

    def __init__(self, nesting: Nesting) -> None:
        self._nesting = nesting
        self.locals: list[ZipEntry] = []
        self.centrals: list[ZipEntry] = []
        self.central_start: int | None = None
        self.end_records_at: int | None = None
        self.stopped: str | None = None  # why the walk could not follow the archive to its end records
        self.stopped_at = 0
        self.truncated: str | None = None
        self.limit: str | None = None
        self.issues: list[Issue] = []  # per member: flags, encryption, methods, CRCs, expansion
        self.nested = NestedResults("zip member")
        self._offset = 0  # stream offset of the start of `_buf`
        self._buf = bytearray()
        self._state = "local"  # local, central, descriptor
        self._member: _Member | None = None
        self._descriptor_for: ZipEntry | None = None
        self._finished = False

    def feed(self, chunk: memoryview | bytes) -> None:
        view = memoryview(chunk)
        while view and not self._finished:
            member = self._member
            if member is None:
                view = self._fill(view)
                continue
            view = member.feed(view)
            if member.done:
                self._end_member(member)

    def finish(self) -> None:
        while self._member is not None and not self._finished:
            member = self._member
            rest = member.at_eof()
            if not member.done:
                self.truncated = f"file ends inside the data of zip member {member.entry.name!r}"
                member.done = True
            self._end_member(member)
            if rest:
                self.feed(rest)
        if self._finished or self.truncated:
            return
        if self._buf:
            self.truncated = f"file ends inside a zip record at offset {self._offset}"
        elif self._state == "descriptor" and self._descriptor_for is not None:
            self.truncated = f"file ends before the data descriptor of zip member {self._descriptor_for.name!r}"
        else:
            self.truncated = "file ends before the zip's end records"

    # --- records ---

    def _needed(self) -> int:
        buf = self._buf
        if len(buf) < 4:
            return 4
        if self._state == "descriptor":
            assert self._descriptor_for is not None
            body = 4 + (16 if self._descriptor_for.zip64 else 8)
            return body + (4 if bytes(buf[:4]) == DESCRIPTOR_SIG else 0)
        signature = bytes(buf[:4])
        if signature == LOCAL_SIG:
            if len(buf) < LOCAL_SIZE:
                return LOCAL_SIZE
            name_length, extra_length = struct.unpack_from("<HH", buf, 26)
            return LOCAL_SIZE + int(name_length) + int(extra_length)
        if signature == CENTRAL_SIG:
            return CENTRAL_SIZE if len(buf) < CENTRAL_SIZE else central_record_size(bytes(buf[:CENTRAL_SIZE]))
        return 4

    def _fill(self, view: memoryview) -> memoryview:
        while view:
            missing = self._needed() - len(self._buf)
            if missing <= 0:
                break
            self._buf += view[:missing]
            view = view[missing:]
        if len(self._buf) >= self._needed():
            record = bytes(self._buf)
            self._buf.clear()
            start = self._offset
            self._offset += len(record)
            self._on_record(record, start)
        return view

    def _on_record(self, record: bytes, start: int) -> None:
        if self._state == "descriptor":
            self._on_descriptor(record)
            return
        signature = record[:4]
        if signature == LOCAL_SIG and self._state == "local":
            self._on_local(record, start)
        elif signature == CENTRAL_SIG:
            self._on_central(record, start)
        elif signature in END_SIGS:
            self.end_records_at = start
            self._finished = True
        elif signature == LOCAL_SIG:
            self._stop(start, "a local header after the central directory began")
        else:
            where = "inside the central directory" if self._state == "central" else "between members"
            self._stop(start, f"bytes that start no zip record ({record[:4].hex()}) {where}")

    def _stop(self, offset: int, reason: str) -> None:
        self.stopped, self.stopped_at = reason, offset
        self._finished = True

    def _on_central(self, record: bytes, start: int) -> None:
        if self.central_start is None:
            self.central_start = start
            self._state = "central"
        if len(self.centrals) >= MAX_MEMBERS:
            self.limit = f"zip has more than {MAX_MEMBERS} central directory entries; the rest are not compared"
            self._finished = True
            return
        self.centrals.append(parse_central(record))

    def _on_local(self, record: bytes, start: int) -> None:
        if len(self.locals) >= MAX_MEMBERS or not self._nesting.count_member():
            self.limit = (f"zip has more than {MAX_MEMBERS} members (or the file more than its budget of nested "
                          "members); the rest are not inspected")
            self._finished = True
            return
        entry = parse_local(record, start)
        self.locals.append(entry)
        self._check_flags(entry)
        self._member = self._open_member(entry)
        if self._member.done:
            self._end_member(self._member)

    def _check_flags(self, entry: ZipEntry) -> None:
        odd = entry.flags & ~KNOWN_FLAGS
        if odd:
            meaning = ", ".join(text for bit, text in FLAG_MEANINGS.items() if odd & bit) or "reserved bits"
            self.issues.append(Issue(ZIP_HEADER_TRICKS, f"zip member {entry.name!r} sets general-purpose flag "
                                     f"bits 0x{odd:04x} ({meaning}) that readers handle differently"))

    def _open_member(self, entry: ZipEntry) -> _Member:
        sized = not entry.flags & DATA_DESCRIPTOR_FLAG or entry.csize != 0
        problem = self._uninspectable(entry)
        if problem is not None:
            self.issues.append(Issue(ARCHIVE_MEMBER_UNINSPECTABLE, f"zip member {entry.name!r} {problem}; its "
                                     "content is not inspected"))
            member: _Member = _Sized(entry, None, entry.csize if sized else 0, inspect=False)
            if not sized:
                member.lost = f"member {entry.name!r} is {problem} and its size is not in its local header"
            return member
        hint = entry.usize if sized else -1
        raw = TORCH_STORAGE_RECORD.fullmatch(entry.name) is not None
        sink = self._nesting.open(entry.name, hint, "zip", raw)
        if entry.method == STORED:
            return _Sized(entry, sink, entry.csize, inspect=True) if sized else _DescriptorSearch(entry, sink)
        return _Inflating(entry, sink, EXPANDER_KINDS[entry.method], self._nesting, entry.csize if sized else None)

    def _uninspectable(self, entry: ZipEntry) -> str | None:
        if entry.flags & (ENCRYPTED_FLAG | STRONG_ENCRYPTION_FLAG):
            return "is encrypted"
        if entry.method != STORED and entry.method not in EXPANDER_KINDS:
            return f"uses compression method {entry.method}, which weightgate does not decode"
        return None

    def _end_member(self, member: _Member) -> None:
        self._member = None
        entry = member.entry
        self._offset = entry.offset + entry.header_length + member.consumed + member.trailer
        if member.sink is not None:
            self.nested.add(entry.name, member.sink.finish())
        self.issues += member.issues
        entry.seen_csize = member.consumed
        if member.complete_output:
            entry.seen_usize = member.out
            entry.seen_crc = member.crc if member.check_crc else None
        if member.lost is not None:
            self._stop(self._offset, member.lost)
            return
        if entry.flags & DATA_DESCRIPTOR_FLAG and not member.descriptor_read:
            self._state, self._descriptor_for = "descriptor", entry
            return
        self._verify(entry)

    def _on_descriptor(self, record: bytes) -> None:
        entry = self._descriptor_for
        assert entry is not None
        body = record[4:] if record.startswith(DESCRIPTOR_SIG) else record
        width = 8 if entry.zip64 else 4
        entry.crc = int.from_bytes(body[:4], "little")
        entry.csize = int.from_bytes(body[4 : 4 + width], "little")
        entry.usize = int.from_bytes(body[4 + width : 4 + 2 * width], "little")
        self._state, self._descriptor_for = "local", None
        self._verify(entry)

    def _verify(self, entry: ZipEntry) -> None:
        what = f"zip member {entry.name!r}"
        if entry.seen_crc is not None and entry.seen_crc != entry.crc:
            self.issues.append(Issue(MALFORMED_FILE, f"{what} fails its CRC check (stored {entry.crc:08x}, "
                                     f"content {entry.seen_crc:08x})"))
        if entry.seen_csize is not None and entry.seen_csize != entry.csize:
            self.issues.append(Issue(ZIP_HEADER_TRICKS, f"{what}: its header gives {entry.csize} bytes of data "
                                     f"but the data found is {entry.seen_csize} bytes"))
        elif entry.seen_usize is not None and entry.seen_usize != entry.usize:
            self.issues.append(Issue(ZIP_HEADER_TRICKS, f"{what}: its header gives a size of {entry.usize} bytes "
                                     f"but the content is {entry.seen_usize} bytes"))
