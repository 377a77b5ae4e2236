"""Protobuf-based formats (ONNX, TF SavedModel, SentencePiece), recognised from top-level fields.

Protobuf has no magic number, so a file is taken for one of these only when every top-level field in the
head has a number and wire type from that message's schema. The walker decodes tags, varints and lengths;
it never builds messages and never follows anything outside the bytes it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
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
