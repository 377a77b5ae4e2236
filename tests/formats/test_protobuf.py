"""Protobuf formats: a head is ONNX, SavedModel or SentencePiece only when every top-level field fits."""

from __future__ import annotations

import pytest

from weightgate.formats import Format
from weightgate.formats.detect import HEAD_BYTES, detect_head
from weightgate.formats.protobuf import detect_protobuf, walk_fields

from .samples import onnx_model, pb, saved_model, sentencepiece_model


def test_onnx_with_a_graph_larger_than_the_head() -> None:
    graph = pb(1, pb(4, "Relu")) + pb(5, b"\x00" * (HEAD_BYTES * 2))  # node + a big initializer
    data = pb(1, 9) + pb(2, "onnx-example") + pb(7, graph) + pb(8, pb(2, 21))
    assert detect_head(data[:HEAD_BYTES], len(data)) is Format.ONNX


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("ONNX without graph or opset", pb(1, 8) + pb(2, "pytorch")),
        ("ONNX with a field outside ModelProto", pb(1, 8) + pb(7, b"") + pb(9, "x")),
        ("ONNX with an absurd ir_version", pb(1, 10**6) + pb(7, b"")),
        ("SavedModel with a third field", pb(1, 1) + pb(2, b"") + pb(3, b"")),
        ("SentencePiece piece without a string first", pb(1, pb(3, 1)) + pb(2, b"")),
        ("length past the end of the file", pb(1, 8) + b"\x3a\x7f" + b"short"),
        ("text starting with newlines", b"\n\n\nsome notes\n"),
    ],
)
def test_near_misses_are_not_protobuf_formats(name: str, data: bytes) -> None:
    assert detect_protobuf(data, len(data)) is None


def test_walk_stops_at_a_field_cut_by_the_head() -> None:
    data = pb(1, 8) + pb(7, b"x" * 100)
    fields = walk_fields(data[:20], len(data))
    assert fields is not None and fields[-1].cut
    assert walk_fields(data[:20], 20) is None  # the same bytes as a whole file are broken


@pytest.mark.parametrize(
    ("make", "expected"),
    [(onnx_model, Format.ONNX), (saved_model, Format.TF_SAVEDMODEL), (sentencepiece_model, Format.SENTENCEPIECE)],
)
def test_builders_are_told_apart(make, expected: Format) -> None:
    data = make()
    assert detect_protobuf(data, len(data)) is expected
