"""JSON validation (bounded, fail closed) and incremental UTF-8 checking of text."""

from __future__ import annotations

import pytest

from weightgate.formats import Format, jsontext
from weightgate.rules import MALFORMED_FILE

from .feeding import inspect_all_chunkings, inspect_bytes

MALFORMED = [
    ("trailing comma", b'{"a": 1,}', "invalid JSON: Expecting property name enclosed in double quotes at line 1"),
    ("truncated", b'{"vocab": {"a": 1, "b"', "invalid JSON"),
    ("two documents on one line", b'{"a": 1} {"b": 2}', "invalid JSON: Extra data at line 1 column 10"),
    ("not UTF-8 after the head", b'{"a": "' + b"x" * 70_000 + b'\xff"}', "not valid UTF-8 (byte 70007)"),
    ("nested too deeply", b"[" * 200_000 + b"]" * 200_000, "nests too deeply"),
]


@pytest.mark.parametrize(("name", "data", "fragment"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_invalid_json_is_malformed(name: str, data: bytes, fragment: str) -> None:
    result = inspect_all_chunkings(data, chunkings=[7, 4096])
    assert result.format is Format.JSON
    assert [issue.rule for issue in result.issues] == [MALFORMED_FILE]
    assert fragment in result.issues[0].message


def test_duplicate_keys_are_allowed_like_the_loaders_allow_them() -> None:
    assert inspect_bytes(b'{"a": 1, "a": 2}').issues == []


def test_json_over_the_limit_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsontext, "MAX_JSON_BYTES", 16)
    result = inspect_bytes(b'{"a": "' + b"x" * 100 + b'"}', chunking=7)
    assert "too large to validate (over 16 bytes)" in result.issues[0].message


def test_utf8_split_across_chunks_is_text() -> None:
    data = ("\u00e9\u4e2d\U0001f600 " * 5000).encode()
    assert inspect_all_chunkings(data, chunkings=[1, 7]).format is Format.TEXT


def test_text_ending_in_a_cut_character_is_not_text() -> None:
    result = inspect_bytes(b"a" * 70_000 + "\u4e2d".encode()[:2])
    assert result.format is Format.UNKNOWN


def test_nul_after_the_head_is_not_text() -> None:
    result = inspect_bytes(b"a\n" * 40_000 + b"\x00")
    assert result.format is Format.UNKNOWN
    assert result.details["not_text"] == "NUL byte at offset 80000"


JSONL = b'{"q": "where is my order?", "a": "order-status"}\n{"q": "refund", "a": "refund"}\n'


def test_json_lines_are_recognised() -> None:
    result = inspect_all_chunkings(JSONL)
    assert result.format is Format.JSONL
    assert result.details == {"records": "2"}
    assert not result.issues


def test_a_bad_json_line_is_malformed() -> None:
    result = inspect_all_chunkings(JSONL + b'{"q": oops}\n')
    assert result.format is Format.JSONL
    assert [i.message for i in result.issues] == ["invalid JSON Lines: line 3 is not a JSON value (JSONDecodeError)"]


def test_json_lines_beyond_the_buffer_limit_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsontext, "MAX_JSON_BYTES", 1024)
    big = JSONL * 200
    result = inspect_all_chunkings(big)
    assert result.format is Format.JSONL and result.details == {"records": "400"} and not result.issues
    broken = inspect_all_chunkings(big + b"{not json\n" + JSONL)
    assert broken.issues and "line 401" in broken.issues[0].message
