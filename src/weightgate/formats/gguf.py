"""GGUF (llama.cpp): header counts and the metadata key/values, including chat templates.

The metadata is parsed as bytes arrive and the buffer is dropped once it is done, so a 40 GB model costs
at most MAX_METADATA_BYTES of memory. Every count and length is checked against its limit and against the
file size before anything is read, so a hostile count cannot make the parser loop or allocate.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Issue
from weightgate.rules import MALFORMED_FILE

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = frozenset({1, 2, 3})
MAX_PLAUSIBLE_VERSION = 255  # detection accepts any small version; the inspector reports unsupported ones
MAX_KV = 65_536
MAX_TENSORS = 1_000_000
MAX_STRING = 16 * 1024 * 1024
MAX_METADATA_BYTES = 64 * 1024 * 1024
MAX_ARRAY_DEPTH = 8
MAX_TEMPLATE_CHARS = 64 * 1024
MAX_DETAIL_CHARS = 200
MIN_TENSOR_INFO_BYTES = 4 + 4 + 4 + 8  # empty name (32-bit length in v1), n_dims, type, offset

STRING, ARRAY = 8, 9
SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
ARCHITECTURE_KEY = "general.architecture"
TEMPLATE_KEY = "tokenizer.chat_template"


def gguf_byte_order(head: bytes) -> str | None:
    """'<' or '>' when `head` starts a GGUF file with a plausible version, else None."""
    if not head.startswith(GGUF_MAGIC) or len(head) < 8:
        return None
    for order in "<>":
        if 1 <= struct.unpack_from(order + "I", head, 4)[0] <= MAX_PLAUSIBLE_VERSION:
            return order
    return None


class _NeedMore(Exception):
    """The bytes so far end before the value being read, which ends at offset `end`."""

    def __init__(self, end: int) -> None:
        super().__init__(end)
        self.end = end


class _Malformed(Exception):
    pass


@dataclass
class _Metadata:
    header_read: bool = False
    version: int = 0
    tensors: int = 0
    kv_count: int = 0
    kv_done: int = 0
    keys: set[str] = field(default_factory=set)
    strings: dict[str, str] = field(default_factory=dict)  # only the keys the gate records


class _Reader:
    """Reads little- or big-endian GGUF values from a buffer, checking every claim against the file size."""

    def __init__(self, buf: bytearray, pos: int, order: str, version: int, size: int) -> None:
        self.buf, self.pos, self.order, self.size = buf, pos, order, size
        self.count_format = "I" if version == 1 else "Q"  # GGUF v1 used 32-bit counts and lengths

    def skip(self, n: int) -> None:
        if 0 <= self.size < self.pos + n:
            raise _Malformed(f"a value at offset {self.pos} needs {n} bytes, past the end of the file")
        if self.pos + n > len(self.buf):
            raise _NeedMore(self.pos + n)
        self.pos += n

    def take(self, n: int) -> bytes:
        self.skip(n)
        return bytes(self.buf[self.pos - n : self.pos])

    def number(self, fmt: str) -> int:
        value: int = struct.unpack(self.order + fmt, self.take(struct.calcsize(fmt)))[0]
        return value

    def count(self) -> int:
        return self.number(self.count_format)

    def skip_strings(self, count: int) -> None:
        """Pass `count` strings without decoding them (token lists hold hundreds of thousands)."""
        fmt = self.order + self.count_format
        width = struct.calcsize(fmt)
        buf, pos = self.buf, self.pos
        for _ in range(count):
            if pos + width > len(buf):
                self.skip(pos + width - self.pos)  # raises: past the file end, or need more bytes
            length = struct.unpack_from(fmt, buf, pos)[0]
            if length > MAX_STRING:
                raise _Malformed(f"a string at offset {pos} claims {length} bytes (limit {MAX_STRING})")
            pos += width + length
        self.skip(pos - self.pos)

    def string(self) -> str:
        length = self.count()
        if length > MAX_STRING:
            raise _Malformed(f"a string at offset {self.pos} claims {length} bytes (limit {MAX_STRING})")
        return self.take(length).decode("utf-8", "replace")


class GgufInspector:
    """Parses header and metadata incrementally, then only counts bytes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._buf = bytearray()
        self._meta = _Metadata()
        self._resume_at = 0  # offset of the first key/value not parsed yet (0: header not parsed)
        self._problem: str | None = None
        self._done = False
        self._need = 0  # don't retry parsing until the buffer reaches this length

    def feed(self, chunk: memoryview) -> None:
        if self._done or self._problem is not None:
            return
        self._buf += chunk
        if len(self._buf) > MAX_METADATA_BYTES:
            self._problem = f"metadata is larger than the {MAX_METADATA_BYTES}-byte limit"
            self._buf = bytearray()
            return
        if len(self._buf) >= self._need:
            self._parse()

    def _parse(self) -> None:
        try:
            self._parse_header_and_kvs()
        except _NeedMore as more:
            self._need = more.end
            return
        except _Malformed as exc:
            self._problem = str(exc)
        self._buf = bytearray()  # parsed (or given up): keep nothing more

    def _parse_header_and_kvs(self) -> None:
        order = gguf_byte_order(bytes(self._buf[:8]))
        if len(self._buf) >= 8 and order is None:
            raise _Malformed("not a GGUF header (bad magic or version)")
        if order is None:
            raise _NeedMore(8)
        if self._resume_at == 0:
            self._resume_at = self._read_header(order)
        meta = self._meta
        while meta.kv_done < meta.kv_count:
            reader = _Reader(self._buf, self._resume_at, order, meta.version, self._size)
            self._read_kv(reader)
            self._resume_at = reader.pos
            meta.kv_done += 1
        self._done = True

    def _read_header(self, order: str) -> int:
        meta = self._meta
        meta.version = struct.unpack_from(order + "I", self._buf, 4)[0]
        if meta.version not in SUPPORTED_VERSIONS:
            raise _Malformed(f"unsupported GGUF version {meta.version}")
        reader = _Reader(self._buf, 8, order, meta.version, self._size)
        meta.tensors, meta.kv_count = reader.count(), reader.count()
        if meta.tensors > MAX_TENSORS:
            raise _Malformed(f"header claims {meta.tensors} tensors (limit {MAX_TENSORS})")
        if meta.kv_count > MAX_KV:
            raise _Malformed(f"header claims {meta.kv_count} metadata entries (limit {MAX_KV})")
        if 0 <= self._size < reader.pos + meta.tensors * MIN_TENSOR_INFO_BYTES:
            raise _Malformed(f"header claims {meta.tensors} tensors, more than a {self._size}-byte file can hold")
        meta.header_read = True
        return reader.pos

    def _read_kv(self, reader: _Reader) -> None:
        key = reader.string()
        value_type = reader.number("I")
        try:
            value = _read_value(reader, value_type, 0)
        except _Malformed as exc:
            raise _Malformed(f"{exc} (key {key[:MAX_DETAIL_CHARS]!r})") from None
        if key in self._meta.keys:
            raise _Malformed(f"metadata key {key[:MAX_DETAIL_CHARS]!r} appears twice")
        self._meta.keys.add(key)
        if isinstance(value, str) and (key == ARCHITECTURE_KEY or key.startswith(TEMPLATE_KEY)):
            self._meta.strings[key] = value

    def finish(self) -> Inspection:
        inspection = Inspection(Format.GGUF, _details(self._meta))
        if self._problem is None and not self._done:
            self._problem = (
                f"file ends inside the metadata (entry {self._meta.kv_done + 1} of {self._meta.kv_count})"
                if self._resume_at else "file ends inside the GGUF header"
            )
        if self._problem is not None:
            inspection.issues.append(Issue(MALFORMED_FILE, f"GGUF {self._problem}"))
        for key, text in self._meta.strings.items():
            if key.startswith(TEMPLATE_KEY):  # every template is code, whole (not the truncated detail)
                from weightgate.formats.chat_template import template_issues  # detection imports gguf

                inspection.issues.extend(template_issues(key, text))
        return inspection


def _read_value(reader: _Reader, value_type: int, depth: int) -> str | None:
    """Read one value; returns it when it is a string (the only kind the gate records)."""
    if value_type == STRING:
        return reader.string()
    if value_type == ARRAY:
        _read_array(reader, depth + 1)
        return None
    fmt = SCALAR_FORMATS.get(value_type)
    if fmt is None:
        raise _Malformed(f"unknown value type {value_type} before offset {reader.pos}")
    reader.skip(struct.calcsize(fmt))
    return None


def _read_array(reader: _Reader, depth: int) -> None:
    if depth > MAX_ARRAY_DEPTH:
        raise _Malformed(f"arrays nested deeper than {MAX_ARRAY_DEPTH} at offset {reader.pos}")
    start = reader.pos
    item_type, count = reader.number("I"), reader.count()
    fmt = SCALAR_FORMATS.get(item_type)
    if fmt is None and item_type not in (STRING, ARRAY):
        raise _Malformed(f"unknown array item type {item_type} in the array at offset {start}")
    # Strings and arrays take at least one length field each, so any count is bounded by the file size.
    item_bytes = struct.calcsize(fmt) if fmt else struct.calcsize(reader.count_format)
    if 0 <= reader.size < reader.pos + count * item_bytes:
        raise _Malformed(f"the array at offset {start} claims {count} items, past the end of the file")
    if fmt is not None:
        reader.skip(count * item_bytes)
        return
    if item_type == STRING:
        reader.skip_strings(count)
        return
    for _ in range(count):
        _read_value(reader, item_type, depth)


def _details(meta: _Metadata) -> dict[str, str]:
    if not meta.header_read:
        return {"version": str(meta.version)} if meta.version else {}
    details = {"version": str(meta.version), "tensors": str(meta.tensors), "kv_count": str(meta.kv_count)}
    if ARCHITECTURE_KEY in meta.strings:
        details["architecture"] = meta.strings[ARCHITECTURE_KEY][:MAX_DETAIL_CHARS]
    details["has_chat_template"] = str(any(k.startswith(TEMPLATE_KEY) for k in meta.strings)).lower()
    for key, text in meta.strings.items():
        if key.startswith(TEMPLATE_KEY):
            name = "chat_template" + key[len(TEMPLATE_KEY) :]  # named templates: chat_template.tool_use
            details[name] = text[:MAX_TEMPLATE_CHARS]
            if len(text) > MAX_TEMPLATE_CHARS:
                details[name + ".truncated"] = "true"
    return details
