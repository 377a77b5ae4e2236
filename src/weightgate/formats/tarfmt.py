"""TAR archives (and legacy PyTorch checkpoints, which are tars): members walked as the bytes pass.

Headers are read one 512-byte block at a time; each member's data goes to the member's own sniffing
inspector as it passes and is never kept, so memory stays bounded whatever the archive size, and every member
that is a pickle (the legacy `pickle`, `storages`, `tensors` and `sys_info` members, or any other) is walked.
Names from GNU long-name and pax headers are honoured, since that is what tar readers (and PyTorch's legacy
loader) see.
"""

from __future__ import annotations

import re

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Inspector, Issue
from weightgate.formats.members import NestedResults, Nesting
from weightgate.rules import CONTAINER_LIMIT_EXCEEDED, MALFORMED_FILE

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
MAX_MEMBERS = 100_000
MAX_EXTENDED_HEADER_BYTES = 1024 * 1024
MAX_LISTED_NAMES = 50
CHECKSUM_FIELD = slice(148, 156)
SIZE_FIELD = slice(124, 136)
BASE256_POSITIVE = 0x80
POSIX_MAGIC = b"ustar\x00"
# Types whose size field does not describe data that follows (links, devices, directories, FIFOs).
NO_DATA_TYPES = frozenset({b"1", b"2", b"3", b"4", b"5", b"6"})
GNU_LONG_NAME, GNU_LONG_LINK, PAX_LOCAL, PAX_GLOBAL = b"L", b"K", b"x", b"g"
EXTENDED_TYPES = frozenset({GNU_LONG_NAME, GNU_LONG_LINK, PAX_LOCAL, PAX_GLOBAL})
TORCH_TAR_MEMBERS = frozenset({"pickle", "storages"})

_OCTAL = re.compile(rb"[0-7]+")


class _Malformed(Exception):
    pass


class _LimitReached(Exception):
    pass


class TarInspector:
    """Walks headers as the stream passes and hands each member's data to the member's own inspector."""

    def __init__(self, nesting: Nesting) -> None:
        self._nesting = nesting
        self._member: Inspector | None = None  # the inspector of the member whose data is passing
        self._member_left = 0  # its data bytes still to come (the rest of `_skip` is padding)
        self._nested = NestedResults("tar member")
        self._limit: str | None = None
        self._block = bytearray()
        self._skip = 0  # member data (with padding) still to pass
        self._capture: bytearray | None = None  # data of a long-name or pax header being collected
        self._capture_left = 0
        self._capture_type = b""
        self._next_name: str | None = None
        self._next_size: int | None = None
        self._names: list[str] = []
        self._offset = 0  # bytes the walker has consumed
        self._ended = False
        self._problem: str | None = None

    def feed(self, chunk: memoryview) -> None:
        view = chunk
        while view and not self._ended and self._problem is None and self._limit is None:
            if self._skip:
                view = self._pass_data(view)
                continue
            taken = view[: BLOCK - len(self._block)]
            self._block += taken
            self._offset += len(taken)
            view = view[len(taken) :]
            if len(self._block) == BLOCK:
                header = bytes(self._block)
                self._block.clear()
                self._on_header(header, self._offset - BLOCK)

    def _pass_data(self, view: memoryview) -> memoryview:
        n = min(self._skip, len(view))
        if self._member is not None:
            data = view[: min(n, self._member_left)]
            self._member.feed(data)
            self._member_left -= len(data)
            if not self._member_left:
                self._end_member()
        if self._capture is not None and self._capture_left:
            take = min(self._capture_left, n)
            self._capture += view[:take]
            self._capture_left -= take
        self._skip -= n
        self._offset += n
        if self._skip == 0 and self._capture is not None:
            self._end_capture()
        return view[n:]

    def _on_header(self, block: bytes, offset: int) -> None:
        if block == ZERO_BLOCK:
            self._ended = True  # end-of-archive marker; what follows is padding
            return
        try:
            self._read_header(block)
        except _Malformed as exc:
            self._problem = f"header at offset {offset} (member {len(self._names) + 1}): {exc}"
        except _LimitReached as exc:
            self._limit = f"tar {exc}"

    def _read_header(self, block: bytes) -> None:
        _check_checksum(block)
        type_flag = block[156:157]
        size = _header_size(block)
        padded = -(-size // BLOCK) * BLOCK
        if type_flag in EXTENDED_TYPES:
            if size > MAX_EXTENDED_HEADER_BYTES:
                raise _Malformed(f"extended header of {size} bytes (limit {MAX_EXTENDED_HEADER_BYTES})")
            self._capture, self._capture_left, self._capture_type = bytearray(), size, type_flag
            self._skip = padded
            if not padded:
                self._end_capture()
            return
        if len(self._names) >= MAX_MEMBERS or not self._nesting.count_member():
            raise _LimitReached(f"has more than {MAX_MEMBERS} members (or the file more than its budget of "
                                "nested members); the rest is not inspected")
        # An empty GNU long name is still the name: tarfile lists the member as '' (the fuzz oracle found it).
        name = self._next_name if self._next_name is not None else _header_name(block)
        self._names.append(name)
        size = size if self._next_size is None else self._next_size
        self._next_name = self._next_size = None
        if type_flag not in NO_DATA_TYPES:
            self._skip = -(-size // BLOCK) * BLOCK
            self._open_member(name, size)

    def _open_member(self, name: str, size: int) -> None:
        self._member = self._nesting.open(name, size, "tar")
        self._member_left = size
        if not size:
            self._end_member()

    def _end_member(self) -> None:
        member, self._member = self._member, None
        if member is not None:
            self._nested.add(self._names[-1], member.finish())

    def _end_capture(self) -> None:
        data, kind = bytes(self._capture or b""), self._capture_type
        self._capture = None
        if kind == GNU_LONG_NAME:
            self._next_name = data.split(b"\x00", 1)[0].decode("utf-8", "replace")
        elif kind == PAX_LOCAL:
            try:
                records = _pax_records(data)
            except _Malformed as exc:
                self._problem = f"pax header before member {len(self._names) + 1}: {exc}"
                return
            self._next_name = records.get("path", self._next_name)
            size = records.get("size")
            if size is not None and not (size.isascii() and size.isdigit()):
                self._problem = f"pax header before member {len(self._names) + 1}: unreadable size {size[:20]!r}"
            elif size is not None:
                self._next_size = int(size)  # pax carries sizes that do not fit the 12-byte field

    def finish(self) -> Inspection:
        truncation = None if self._limit else self._truncation()
        self._end_member()  # a member cut by the end of the file is still judged on what arrived
        details = {**_details(self._names), **self._nested.details()}
        inspection = Inspection(tar_format(self._names), details)
        problem = self._problem or truncation
        if problem:
            inspection.issues.append(Issue(MALFORMED_FILE, f"tar {problem}"))
        if self._limit:
            inspection.issues.append(Issue(CONTAINER_LIMIT_EXCEEDED, self._limit))
        inspection.issues += self._nested.all_issues()
        return inspection

    def _truncation(self) -> str | None:
        if self._ended:
            return None
        if self._skip:
            where = self._names[-1] if self._names and self._capture is None else "an extended header"
            return f"file ends inside the data of {where!r} ({self._skip} bytes missing)"
        if self._block:
            return "file ends inside a header block"
        return "file has no end-of-archive marker (truncated?)"


def _check_checksum(block: bytes) -> None:
    stored_field = block[CHECKSUM_FIELD].replace(b"\x00", b" ").strip()
    if not _OCTAL.fullmatch(stored_field):
        raise _Malformed("unreadable header checksum")
    stored = int(stored_field, 8)
    rest = block[: CHECKSUM_FIELD.start] + b" " * 8 + block[CHECKSUM_FIELD.stop :]
    unsigned = sum(rest)
    signed = unsigned - 256 * sum(1 for byte in rest if byte > 127)  # some old tars summed signed chars
    if stored not in (unsigned, signed):
        raise _Malformed(f"header checksum mismatch (stored {stored}, computed {unsigned})")


def _header_size(block: bytes) -> int:
    field = block[SIZE_FIELD]
    if field[0] & 0x80:  # GNU base-256 for sizes of 8 GiB and more
        if field[0] != BASE256_POSITIVE:
            raise _Malformed("negative member size")
        return int.from_bytes(field[1:], "big")
    text = field.replace(b"\x00", b" ").strip()
    if not text:
        return 0
    if not _OCTAL.fullmatch(text):
        raise _Malformed(f"unreadable member size {text[:12]!r}")
    return int(text, 8)


def _header_name(block: bytes) -> str:
    name = block[:100].split(b"\x00", 1)[0]
    prefix = block[345:500].split(b"\x00", 1)[0] if block[257:263] == POSIX_MAGIC else b""
    return (prefix + b"/" + name if prefix else name).decode("utf-8", "replace")


def _pax_records(data: bytes) -> dict[str, str]:
    """Records of a pax extended header: each is '<length> <key>=<value>\\n'."""
    records: dict[str, str] = {}
    at = 0
    while at < len(data):
        space = data.find(b" ", at)
        length_text = data[at:space] if space > at else b""
        if not length_text.isdigit() or int(length_text) <= space - at or at + int(length_text) > len(data):
            raise _Malformed(f"unreadable record at byte {at}")
        record = data[space + 1 : at + int(length_text)]
        key, sep, value = record.rstrip(b"\n").partition(b"=")
        if not sep:
            raise _Malformed(f"record without '=' at byte {at}")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        at += int(length_text)
    return records


def tar_format(names: list[str]) -> Format:
    """PYTORCH_TAR for torch's legacy layout (sys_info, pickle, storages, tensors), else TAR."""
    normalized = {name[2:] if name.startswith("./") else name for name in names}
    return Format.PYTORCH_TAR if normalized >= TORCH_TAR_MEMBERS else Format.TAR


def _details(names: list[str]) -> dict[str, str]:
    return {"members": str(len(names)), "member_names": ",".join(names[:MAX_LISTED_NAMES])}
