"""safetensors header validation: one line per check, each asserting MALFORMED_FILE and what it names."""

from __future__ import annotations

import struct

import pytest

from weightgate.formats import Format
from weightgate.formats.safetensors_header import SafetensorsInspector
from weightgate.rules import MALFORMED_FILE

from .feeding import inspect_all_chunkings, inspect_bytes
from .samples import safetensors_file, safetensors_raw


def f32(name_offsets: dict[str, tuple[list[int], int, int]]) -> dict[str, object]:
    return {name: {"dtype": "F32", "shape": shape, "data_offsets": [b, e]}
            for name, (shape, b, e) in name_offsets.items()}


GOOD = f32({"a": ([2], 0, 8), "b": ([1], 8, 12)})

MALFORMED = [
    ("header length beyond file", safetensors_raw(b'{"a": 1}', b"", length=1000), "runs past the end"),
    ("bad JSON", safetensors_raw(b'{"a": {"dtype": "F32",', b""), "not valid JSON"),
    ("not UTF-8", safetensors_raw(b'{"\xff": 1}', b""), "not valid UTF-8"),
    ("duplicate key", safetensors_raw(
        b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},'
        b' "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', bytes(8)), "duplicate key 'w'"),
    ("unknown dtype", safetensors_raw({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}},
                                      bytes(16)), "tensor 'w': unknown dtype 'F128'"),
    ("missing field", safetensors_raw({"w": {"dtype": "F32", "shape": [1]}}, bytes(4)),
     "tensor 'w': missing data_offsets"),
    ("negative shape", safetensors_raw({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
                                       bytes(4)), "tensor 'w': shape [-1] is not a list"),
    ("boolean in shape", safetensors_raw({"w": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}},
                                         bytes(4)), "tensor 'w': shape [True]"),
    ("offsets not a pair", safetensors_raw({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}},
                                           bytes(4)), "tensor 'w': data_offsets [0] is not [begin, end]"),
    ("shape/size mismatch", safetensors_raw(f32({"w": ([2, 2], 0, 12)}), bytes(12)),
     "tensor 'w': data_offsets span 12 bytes but shape [2, 2] of F32 needs 16"),
    ("F4 half byte", safetensors_raw({"w": {"dtype": "F4", "shape": [3], "data_offsets": [0, 1]}}, bytes(1)),
     "tensor 'w': 3 F4 elements do not fill a whole number of bytes"),
    ("overlapping", safetensors_raw(f32({"a": ([2], 0, 8), "b": ([2], 4, 12)}), bytes(12)),
     "tensor 'b' at bytes 4-12 overlaps data ending at 8"),
    ("gap", safetensors_raw(f32({"a": ([2], 0, 8), "b": ([2], 12, 20)}), bytes(20)),
     "gap: bytes 8-12 of the data section"),
    ("trailing bytes", safetensors_raw(GOOD, bytes(16)), "gap: bytes 12-16 at the end"),
    ("out of bounds", safetensors_raw(f32({"a": ([2], 0, 8), "b": ([2], 8, 16)}), bytes(12)),
     "tensor 'b': data_offsets end 16 is beyond the 12-byte data section"),
    ("non-string metadata", safetensors_raw({"__metadata__": {"epochs": 3}, **GOOD}, bytes(12)),
     "__metadata__ value for 'epochs' is int, not a string"),
    ("metadata not an object", safetensors_raw({"__metadata__": ["x"], **GOOD}, bytes(12)),
     "__metadata__ is list"),
    ("file ends inside header", safetensors_file()[:20], "runs past the end"),
]


@pytest.mark.parametrize(("name", "data", "fragment"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_header(name: str, data: bytes, fragment: str) -> None:
    result = inspect_all_chunkings(data)

    assert result.format is Format.SAFETENSORS
    assert [issue.rule for issue in result.issues] == [MALFORMED_FILE]
    assert fragment in result.issues[0].message


def test_valid_hand_written_file_has_no_issues() -> None:
    result = inspect_bytes(safetensors_raw(GOOD, bytes(12)))
    assert result.issues == []
    assert result.details["tensors"] == "2"


def test_zero_sized_tensors_may_share_an_offset() -> None:
    header = {"e": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, **f32({"a": ([1], 0, 4)})}
    assert inspect_bytes(safetensors_raw(header, bytes(4))).issues == []


def test_many_problems_are_capped() -> None:
    header = {f"t{i}": {"dtype": "X", "shape": [1], "data_offsets": [0, 1]} for i in range(50)}
    result = inspect_bytes(safetensors_raw(header, bytes(1)))
    assert len(result.issues) == 21
    assert "30 more header problems" in result.issues[-1].message


def test_header_length_over_the_limit() -> None:
    # Detection itself refuses such a length (the file is UNKNOWN); the inspector must still hold the line.
    inspector = SafetensorsInspector(2**41)
    inspector.feed(memoryview(struct.pack("<Q", 2**40) + b"{}"))
    assert "over the 104857600-byte limit" in inspector.finish().issues[0].message


def test_size_unknown_up_front_is_judged_at_the_end() -> None:
    inspector = SafetensorsInspector(-1)
    inspector.feed(memoryview(safetensors_raw(b'{"a": 1}', b"", length=100)))
    result = inspector.finish()
    assert "file ends inside the header (8 of 100 bytes)" in result.issues[0].message
