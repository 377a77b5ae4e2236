"""Protobuf-based formats (ONNX, TF SavedModel, SentencePiece), recognised from top-level fields.

Protobuf has no magic number, so a file is taken for one of these only when every top-level field in the
head has a number and wire type from that message's schema. The walker decodes tags, varints and lengths;
it never builds messages and never follows anything outside the bytes it is given.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Protocol, TypeVar

from weightgate.formats import Format
from weightgate.formats.base import Inspection

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
MAX_VARINT_BYTES = 10
MAX_FIELD_NUMBER = (1 << 29) - 1
MAX_ONNX_IR_VERSION = 100
MAX_DETAIL_CHARS = 200

# onnx.proto ModelProto: ir_version, producer_name, producer_version, domain, model_version, doc_string,
# graph, opset_import, metadata_props, training_info, functions, configuration.
ONNX_MODEL_FIELDS = {
    1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN, 20: LEN, 25: LEN, 26: LEN,
}
ONNX_BODY_FIELDS = frozenset({7, 8})  # graph, opset_import
# saved_model.proto SavedModel: saved_model_schema_version, meta_graphs.
SAVED_MODEL_FIELDS = {1: VARINT, 2: LEN}
SAVED_MODEL_SCHEMA_VERSION = 1  # the only version TensorFlow has written
# MetaGraphDef: meta_info_def, graph_def, saver_def, collection_def, signature_def, asset_file_def,
# object_graph_def.
META_GRAPH_FIELDS = dict.fromkeys(range(1, 8), LEN)
# sentencepiece_model.proto ModelProto: pieces, trainer_spec, normalizer_spec, self_test_data,
# denormalizer_spec; and its SentencePiece message: piece, score, type.
SENTENCEPIECE_FIELDS = {1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN}
PIECE_FIELDS = {1: LEN, 2: FIXED32, 3: VARINT}


@dataclass(frozen=True)
class Field:
    """One top-level protobuf field as seen in a byte prefix."""

    number: int
    wire_type: int
    value: int  # the varint or fixed value; for LEN fields the declared length
    payload: bytes  # LEN payload bytes present in the input (all of them unless `cut`)
    cut: bool  # the field runs past the end of the input


def walk_fields(data: bytes, size: int) -> list[Field] | None:
    """Top-level fields of `data`, or None when the bytes are not a protobuf message.

    `size` is the length of the whole message (negative when unknown). When `data` is shorter than the
    message, the last field may be cut by the end of `data`; a field claiming bytes beyond `size` is invalid.
    """
    whole = 0 <= size <= len(data)
    fields: list[Field] = []
    pos = 0
    while pos < len(data):
        field = _read_field(data, pos, size)
        if field is None or (field[0].cut and whole):
            return None
        fields.append(field[0])
        if field[0].cut:
            break
        pos = field[1]
    return fields


def _read_field(data: bytes, pos: int, size: int) -> tuple[Field, int] | None:
    tag = _read_varint(data, pos)
    if tag is None:
        return None
    key, pos = tag
    number, wire_type = key >> 3, key & 7
    if not 1 <= number <= MAX_FIELD_NUMBER or wire_type not in (VARINT, FIXED64, LEN, FIXED32):
        return None
    if pos >= len(data):
        return Field(number, wire_type, 0, b"", True), pos
    if wire_type in (FIXED64, FIXED32):
        width = 8 if wire_type == FIXED64 else 4
        value = int.from_bytes(data[pos : pos + width], "little")
        return Field(number, wire_type, value, b"", pos + width > len(data)), pos + width
    read = _read_varint(data, pos)
    if read is None:
        return None
    value, pos = read
    if wire_type == VARINT or pos > len(data):
        return Field(number, wire_type, value, b"", pos > len(data)), pos
    if 0 <= size < pos + value:
        return None
    return Field(number, wire_type, value, data[pos : pos + value], pos + value > len(data)), pos + value


def _read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int] | None:
    """(value, position after it); a varint cut by the end of data reads as position len(data) + 1."""
    value = 0
    for index in range(MAX_VARINT_BYTES):
        if pos + index >= len(data):
            return value, len(data) + 1
        byte = data[pos + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, pos + index + 1
    return None


def detect_protobuf(head: bytes, size: int) -> Format | None:
    """ONNX, TF SavedModel or SentencePiece when the head's top-level fields fit one of their schemas."""
    fields = walk_fields(head, size)
    if not fields:
        return None
    if _is_onnx(fields):
        return Format.ONNX
    if _is_saved_model(fields):
        return Format.TF_SAVEDMODEL
    if _is_sentencepiece(fields):
        return Format.SENTENCEPIECE
    return None


def _fits(fields: list[Field], schema: dict[int, int]) -> bool:
    return all(schema.get(f.number) == f.wire_type for f in fields)


def _is_onnx(fields: list[Field]) -> bool:
    numbers = {f.number for f in fields}
    ir_version = next((f.value for f in fields if f.number == 1), 0)
    return (
        _fits(fields, ONNX_MODEL_FIELDS)
        and 1 <= ir_version <= MAX_ONNX_IR_VERSION
        and bool(numbers & ONNX_BODY_FIELDS)
    )


def _is_saved_model(fields: list[Field]) -> bool:
    # Fields 1 and 2 alone are common (an ONNX header without its graph looks the same), so the schema
    # version and the first meta graph's own fields must fit as well.
    if not _fits(fields, SAVED_MODEL_FIELDS) or {f.number for f in fields} != {1, 2}:
        return False
    version = next(f.value for f in fields if f.number == 1)
    meta_graph = next(f for f in fields if f.number == 2)
    inner = walk_fields(meta_graph.payload, meta_graph.value)
    return version == SAVED_MODEL_SCHEMA_VERSION and inner is not None and _fits(inner, META_GRAPH_FIELDS)


def _is_sentencepiece(fields: list[Field]) -> bool:
    pieces = [f for f in fields if f.number == 1 and not f.cut]
    return (
        fields[0].number == 1
        and _fits(fields, SENTENCEPIECE_FIELDS)
        and bool(pieces)
        and all(_is_piece(f.payload) for f in pieces)
    )


def _is_piece(payload: bytes) -> bool:
    fields = walk_fields(payload, len(payload))
    if not fields or fields[0].number != 1 or not _fits(fields, PIECE_FIELDS):
        return False
    try:
        fields[0].payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def protobuf_facts(fmt: Format, head: bytes, total: int) -> Inspection:
    """Cheap facts from the top-level fields in the head (ONNX producer and IR version, SavedModel schema)."""
    fields = walk_fields(head, total) or []
    details: dict[str, str] = {}
    if fmt is Format.ONNX:
        names = {1: "ir_version", 2: "producer_name", 3: "producer_version", 4: "domain"}
    elif fmt is Format.TF_SAVEDMODEL:
        names = {1: "schema_version"}
    else:
        names = {}
    for field in fields:
        name = names.get(field.number)
        if name is None or field.cut or name in details:
            continue
        text = str(field.value) if field.wire_type == VARINT else field.payload.decode("utf-8", "replace")
        details[name] = text[:MAX_DETAIL_CHARS]
    return Inspection(fmt, details)


# --- streaming walker --------------------------------------------------------------------------------------
#
# The head functions above only look at a prefix. The walker below reads a whole message as it streams past:
# it descends only into the message types a schema names, captures the few scalar fields asked for (bounded),
# and skips everything else (tensor data above all) by counting bytes, so memory stays small whatever the
# file size. Every length is checked against its enclosing message, so a hostile length cannot make a field
# overlap its neighbours; anything a protobuf parser would reject ends the walk as a problem.

MAX_MESSAGE_DEPTH = 100  # protobuf's own default recursion limit: deeper messages do not load anyway
MAX_CAPTURE_BYTES = 4096  # names, domains, op types, paths
MAX_VALUES_PER_FIELD = 64  # a repeated captured field keeps its last values (a singular one: the last wins)
MAX_HEADER_BYTES = 20  # a tag and a length (or value): two varints of at most 10 bytes
START_GROUP, END_GROUP = 3, 4
_T = TypeVar("_T")


class Capture(str, enum.Enum):
    """A field the walker keeps instead of skipping."""

    INT = "int"
    BYTES = "bytes"


# For each message type, the fields to descend into (value: the field's message type) or to capture.
Schema = Mapping[str, Mapping[int, "str | Capture"]]


@dataclass
class Frame:
    """One message being walked: its type, where it ends, the captured fields and a visitor's notes."""

    type: str
    end: int | None  # absolute offset just past the message (None: the root of a stream of unknown size)
    values: dict[int, list[int | bytes]] = dataclass_field(default_factory=dict)
    cut: set[int] = dataclass_field(default_factory=set)  # captured fields longer than MAX_CAPTURE_BYTES
    notes: dict[str, list[object]] = dataclass_field(default_factory=dict)

    def text(self, number: int, default: str = "") -> str:
        """The last value of a captured bytes field, as text."""
        values = [v for v in self.values.get(number, ()) if isinstance(v, bytes)]
        return values[-1].decode("utf-8", "replace") if values else default

    def texts(self, number: int) -> list[str]:
        return [v.decode("utf-8", "replace") for v in self.values.get(number, ()) if isinstance(v, bytes)]

    def integer(self, number: int, default: int = 0) -> int:
        values = [v for v in self.values.get(number, ()) if isinstance(v, int)]
        return values[-1] if values else default

    def note(self, key: str, value: object) -> None:
        _append_bounded(self.notes.setdefault(key, []), value)

    def keep(self, number: int, value: int | bytes) -> None:
        _append_bounded(self.values.setdefault(number, []), value)


def _append_bounded(values: list[_T], value: _T) -> None:
    if len(values) >= MAX_VALUES_PER_FIELD:
        del values[0]
    values.append(value)


class ProtoVisitor(Protocol):
    def message_end(self, frame: Frame, parents: Sequence[Frame]) -> None:
        """Called when a walked message is complete; `parents[-1]` is the message holding it."""


class ProtoStreamWalker:
    """Walks one protobuf message of `size` bytes (negative: unknown) fed in chunks of any size."""

    def __init__(self, schema: Schema, root: str, size: int, visitor: ProtoVisitor) -> None:
        self._schema = schema
        self._visitor = visitor
        self.root = Frame(root, size if size >= 0 else None)  # its captured fields, even if the walk fails
        self._stack = [self.root]
        self._pos = 0  # absolute offset of the next byte not consumed (pending header bytes excluded)
        self._pending = b""  # the start of a header cut by the end of a chunk
        self._skip = 0  # bytes still to pass over
        self._capture: tuple[int, bytearray, int, int] | None = None  # field, bytes kept, bytes due, length
        self.problem: str | None = None

    def feed(self, chunk: memoryview) -> None:
        at = 0
        while at < len(chunk) and self.problem is None:
            if self._skip:
                step = min(self._skip, len(chunk) - at)
                self._skip -= step
                self._pos += step
                at += step
            elif self._capture is not None:
                at = self._continue_capture(chunk, at)
            else:
                at = self._header(chunk, at)

    def finish(self) -> None:
        if self.problem is not None:
            return
        self._close_frames()
        if self._pending or self._skip or self._capture is not None:
            self.problem = f"file ends inside a field (offset {self._pos})"
        elif len(self._stack) > 1 or (self._stack and self._stack[0].end not in (None, self._pos)):
            self.problem = f"file ends inside a {self._stack[-1].type} message (offset {self._pos})"
        elif self._stack:
            self._visitor.message_end(self._stack.pop(), ())

    def _header(self, chunk: memoryview, at: int) -> int:
        """Read one field header at chunk[at:]; returns where the field's payload starts."""
        self._close_frames()
        if self._pending:
            return self._pending_header(chunk, at)
        parsed = _parse_header(chunk, at)  # in place: no copy for the common, uncut header
        if parsed is None:  # cut by the end of the chunk (a whole header always fits in MAX_HEADER_BYTES)
            self._pending = bytes(chunk[at:])
            return len(chunk)
        return self._take(parsed, at)

    def _pending_header(self, chunk: memoryview, at: int) -> int:
        taken = bytes(chunk[at : at + MAX_HEADER_BYTES - len(self._pending)])
        header = self._pending + taken
        parsed = _parse_header(header, 0)
        if parsed is None:  # still cut: the header goes on in the next chunk
            if len(header) >= MAX_HEADER_BYTES:
                self.problem = f"invalid field header at offset {self._pos}"
            self._pending = header
            return at + len(taken)
        before, self._pending = len(self._pending), b""
        return at + self._take(parsed, 0) - before

    def _take(self, parsed: tuple[int, int, int, int] | str, start: int) -> int:
        """Act on a parsed header that began at `start` of its buffer; returns the index just past it."""
        if isinstance(parsed, str):
            self.problem = f"{parsed} at offset {self._pos}"
            return start
        number, wire_type, value, end = parsed
        self._pos += end - start
        self._field(number, wire_type, value)
        return end

    def _field(self, number: int, wire_type: int, value: int) -> None:
        frame = self._stack[-1]
        action = self._schema.get(frame.type, {}).get(number)
        size = value if wire_type == LEN else {VARINT: 0, FIXED64: 8, FIXED32: 4}[wire_type]
        if frame.end is not None and self._pos + size > frame.end:
            self.problem = f"{frame.type} field {number} at offset {self._pos} runs past the end of its message"
        elif action is not None and wire_type != (VARINT if action is Capture.INT else LEN):
            self.problem = f"{frame.type} field {number} has wire type {wire_type}, which its schema does not allow"
        elif action is Capture.INT:
            frame.keep(number, value)
        elif action is None:
            self._skip = size
        elif action is Capture.BYTES:
            self._capture = (number, bytearray(), size, size)
            if not size:
                self._end_capture()
        elif len(self._stack) >= MAX_MESSAGE_DEPTH:
            self.problem = f"messages nest deeper than {MAX_MESSAGE_DEPTH} levels at offset {self._pos}"
        else:
            self._stack.append(Frame(action, self._pos + size))

    def _continue_capture(self, chunk: memoryview, at: int) -> int:
        assert self._capture is not None
        number, kept, due, length = self._capture
        step = min(due, len(chunk) - at)
        kept += chunk[at : at + max(0, min(step, MAX_CAPTURE_BYTES - len(kept)))]
        self._pos += step
        self._capture = (number, kept, due - step, length)
        if step == due:
            self._end_capture()
        return at + step

    def _end_capture(self) -> None:
        assert self._capture is not None
        number, kept, _, length = self._capture
        frame = self._stack[-1]
        frame.keep(number, bytes(kept))
        if length > MAX_CAPTURE_BYTES:
            frame.cut.add(number)
        self._capture = None

    def _close_frames(self) -> None:
        while len(self._stack) > 1 and self._stack[-1].end == self._pos:
            frame = self._stack.pop()
            self._visitor.message_end(frame, self._stack)


def _parse_header(data: bytes | memoryview, start: int) -> tuple[int, int, int, int] | str | None:
    """(field number, wire type, value or length, index just past the header) for the header at data[start:];
    None when the header is cut by the end of the bytes; a message when it is invalid."""
    tag = _read_varint(data, start)
    if tag is None:
        return "varint longer than 10 bytes"
    key, pos = tag
    if pos > len(data):
        return None
    number, wire_type = key >> 3, key & 7
    if not 1 <= number <= MAX_FIELD_NUMBER:
        return f"invalid field number {number}"
    if wire_type in (START_GROUP, END_GROUP) or wire_type not in (VARINT, FIXED64, LEN, FIXED32):
        return f"unsupported wire type {wire_type}"
    if wire_type in (FIXED64, FIXED32):
        return number, wire_type, 0, pos
    read = _read_varint(data, pos)
    if read is None:
        return "varint longer than 10 bytes"
    value, end = read
    if end > len(data):
        return None
    return number, wire_type, value, end
