"""detect_head on its own, and the near misses: bytes that resemble a format but must not be taken for it."""

from __future__ import annotations

import gzip
import pickle
import struct

import pytest

from weightgate.formats import Format
from weightgate.formats.detect import HEAD_BYTES, detect_head

from . import samples
from .feeding import inspect_all_chunkings, inspect_bytes

LONG_MARKDOWN = ("(This is a model card in Markdown.) " * 3000).encode()
assert len(LONG_MARKDOWN) > HEAD_BYTES


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("text starting with MARK", b"(hello world)\n", Format.TEXT),
        ("text starting with GLOBAL", b"cat and dog\nsat on the mat\n", Format.TEXT),
        ("text one pickle opcode long", b"N", Format.TEXT),  # NONE without STOP is no pickle
        ("protocol-0 pickle of None", b"N.", Format.PICKLE),
        ("long text starting with MARK + BINSTRING", LONG_MARKDOWN, Format.TEXT),
        ("INI section is not JSON", b"[model]\npath = weights.bin\n", Format.TEXT),
        ("Jinja template is not JSON", b"{{ bos_token }}{% for m in messages %}", Format.TEXT),
        ("JSON is JSON, not text", b'  {"a": 1}', Format.JSON),
        ("bzip2 magic in text", b"BZh9 is the best level\n", Format.TEXT),
        ("zlib header in text", b"x^2 + y^2 = r^2\n", Format.TEXT),
        ("PK without a zip signature", b"PK\x01\x09" + bytes(range(200, 256)), Format.UNKNOWN),
        ("PROTO with an unknown protocol", b"\x80\x09N.", Format.UNKNOWN),
        ("GGUF magic in text", b"GGUF is llama.cpp's format\n", Format.TEXT),
        ("safetensors-like length without '{'", struct.pack("<Q", 4) + b"[1,2]", Format.UNKNOWN),
        ("UTF-16 text", "hello".encode("utf-16"), Format.UNKNOWN),
        ("NUL in otherwise ASCII", b"abc\x00def", Format.UNKNOWN),
    ],
)
def test_near_misses(name: str, data: bytes, expected: Format) -> None:
    assert inspect_all_chunkings(data).format is expected


def test_zip_magic_followed_by_garbage_is_a_malformed_zip() -> None:
    # Decision: the local-header signature is specific enough to call it a zip; the missing central
    # directory then makes it MALFORMED (fail closed with a precise reason) rather than UNKNOWN.
    result = inspect_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    assert result.format is Format.ZIP
    assert [issue.rule.id for issue in result.issues] == ["WG405"]
    assert "no end-of-central-directory record" in result.issues[0].message


def test_large_protocol0_pickle_cut_by_the_head_is_still_a_pickle() -> None:
    data = pickle.dumps(list(range(20_000)), protocol=0)
    assert len(data) > HEAD_BYTES
    assert inspect_bytes(data).format is Format.PICKLE


def test_pickle_whose_first_line_outruns_the_head_fails_closed_as_pickle() -> None:
    # 'V' + 70 KB of text + newline: text detection would let this loadable pickle pass as text.
    data = pickle.dumps("x" * 70_000, protocol=0)
    assert inspect_bytes(data).format is Format.PICKLE


def test_text_with_a_multibyte_character_cut_by_the_head_is_text() -> None:
    data = b"a" * (HEAD_BYTES - 1) + "\u00e9t\u00e9\n".encode() * 10
    assert inspect_bytes(data).format is Format.TEXT


def test_text_that_stops_being_utf8_after_the_head_is_unknown() -> None:
    result = inspect_bytes(b"a" * (HEAD_BYTES + 10) + b"\xff\xfe")
    assert result.format is Format.UNKNOWN
    assert "invalid UTF-8" in result.details["not_text"]


def test_size_only_known_up_front_matters_for_whole_files() -> None:
    head = pickle.dumps({"a": 1}, protocol=0)[:-1]  # no STOP
    assert detect_head(head, len(head)) is Format.TEXT  # the whole file: a pickle must end in STOP
    assert detect_head(head, len(head) + 100) is Format.PICKLE  # the file goes on: cut pickle


@pytest.mark.parametrize("size", [-1, 0])
def test_empty_head(size: int) -> None:
    assert detect_head(b"", size) is Format.EMPTY


def test_unknown_size_still_detects_safetensors() -> None:
    assert detect_head(samples.safetensors_file()[:HEAD_BYTES], -1) is Format.SAFETENSORS


def test_detection_never_uses_the_name_and_is_coarse_for_containers() -> None:
    assert detect_head(samples.torch_zip(), -1) is Format.ZIP  # the zip inspector refines it


def test_nested_compression_is_opened_one_level_only() -> None:
    twice = gzip.compress(gzip.compress(pickle.dumps(1, protocol=4)))
    result = inspect_bytes(twice)
    assert result.format is Format.GZIP
    assert result.details["inner_format"] == "joblib"  # the content, itself inspected: a gzipped pickle


def test_pickle_that_also_passes_the_safetensors_length_check_is_a_pickle() -> None:
    # PROTO 2, BINSTRING of 5 bytes ("\0{...") puts a plausible u64 header length and '{' at byte 8;
    # DUP, STOP end a pickle that unpickles to that string.
    data = b"\x80\x02T\x05\x00\x00\x00\x00{\"\":2." + b" " * 64
    assert struct.unpack_from("<Q", data)[0] <= 100 * 1024 * 1024 and data[8:9] == b"{"
    assert detect_head(data, len(data)) is Format.PICKLE
