"""GGUF inspection: header counts and metadata, and every bound on a hostile count or length."""

from __future__ import annotations

import struct

import pytest

from weightgate.formats import Format, gguf
from weightgate.rules import MALFORMED_FILE

from .feeding import inspect_all_chunkings, inspect_bytes
from .samples import GGUF_ARRAY, GGUF_STRING, GGUF_UINT32, gguf_file, gguf_kv, gguf_string


def test_named_chat_templates_are_recorded_too() -> None:
    kv = [gguf_kv("tokenizer.chat_template.tool_use", GGUF_STRING, gguf_string("{{ tools }}"))]
    result = inspect_bytes(gguf_file(kv=kv))
    assert result.details["chat_template.tool_use"] == "{{ tools }}"
    assert result.details["has_chat_template"] == "true"


def test_no_template() -> None:
    kv = [gguf_kv("general.architecture", GGUF_STRING, gguf_string("qwen2"))]
    result = inspect_bytes(gguf_file(kv=kv))
    assert result.details["has_chat_template"] == "false"
    assert "chat_template" not in result.details


def test_long_template_is_truncated() -> None:
    kv = [gguf_kv("tokenizer.chat_template", GGUF_STRING, gguf_string("x" * (gguf.MAX_TEMPLATE_CHARS + 5)))]
    result = inspect_bytes(gguf_file(kv=kv))
    assert len(result.details["chat_template"]) == gguf.MAX_TEMPLATE_CHARS
    assert result.details["chat_template.truncated"] == "true"


def test_big_endian_file() -> None:
    data = b"GGUF" + struct.pack(">IQQ", 3, 0, 1) + struct.pack(">Q", 4) + b"name" + struct.pack(">II", 4, 7)
    result = inspect_bytes(data)
    assert result.format is Format.GGUF
    assert result.issues == []


def test_metadata_buffer_is_released_after_parsing() -> None:
    inspector = gguf.GgufInspector(-1)
    inspector.feed(memoryview(gguf_file()))
    assert inspector._buf == bytearray()  # memory stays bounded for the rest of a large file


def _string_kv_with_length(length: int) -> bytes:
    return gguf_string("k") + struct.pack("<IQ", GGUF_STRING, length)


MALFORMED = [
    ("truncated", lambda: gguf_file()[:60], "past the end of the file (key 'general.architecture')"),
    ("truncated header", lambda: gguf_file()[:12], "a value at offset 8 needs 8 bytes, past the end"),
    ("absurd tensor count", lambda: gguf_file(tensor_count=2**60), "claims 1152921504606846976 tensors"),
    ("tensor count beyond file", lambda: gguf_file(tensor_count=500_000), "more than a"),
    ("kv count over limit", lambda: gguf_file(kv_count=gguf.MAX_KV + 1), "65537 metadata entries"),
    ("kv count beyond data", lambda: b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + gguf_kv("k", GGUF_UINT32, bytes(4)),
     "a value at offset 41 needs 8 bytes, past the end of the file"),
    ("string over limit", lambda: b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _string_kv_with_length(2**40),
     "claims 1099511627776 bytes (limit 16777216)"),
    ("string beyond file", lambda: b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _string_kv_with_length(100),
     "past the end of the file"),
    ("array count beyond file", lambda: gguf_file(kv=[gguf_kv("a", GGUF_ARRAY, struct.pack("<IQ", 4, 2**40))]),
     "claims 1099511627776 items"),
    ("unknown value type", lambda: gguf_file(kv=[gguf_kv("a", 99, b"")]), "unknown value type 99"),
    ("duplicate key", lambda: gguf_file(kv=[gguf_kv("k", GGUF_UINT32, bytes(4))] * 2), "'k' appears twice"),
    ("unsupported version", lambda: b"GGUF" + struct.pack("<IQQ", 9, 0, 0), "unsupported GGUF version 9"),
]


@pytest.mark.parametrize(("name", "make", "fragment"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_gguf(name: str, make, fragment: str) -> None:
    result = inspect_all_chunkings(make())
    assert result.format is Format.GGUF
    assert [issue.rule for issue in result.issues] == [MALFORMED_FILE]
    assert fragment in result.issues[0].message


def test_truncation_with_size_unknown_up_front() -> None:
    # Only reachable for files larger than the head (smaller ones are detected with their real size).
    inspector = gguf.GgufInspector(-1)
    inspector.feed(memoryview(gguf_file()[:60]))
    assert "file ends inside the metadata (entry 1 of 5)" in inspector.finish().issues[0].message


def test_metadata_over_the_buffer_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf, "MAX_METADATA_BYTES", 40)
    result = inspect_bytes(gguf_file())
    assert "metadata is larger than the 40-byte limit" in result.issues[0].message
