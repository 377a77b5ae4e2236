"""Pickle detection and the protocol-0 argument readers agree with CPython's C unpickler, not with pickletools.

Issue 14, class 1: a protocol-0 pickle starting `I0x10` loads (the C unpickler reads INT with strtol base 0),
but pickletools.genops refused it, so detection called the file text and every policy let `os.system` through.
Each case here states what `Modules/_pickle.c` does with the bytes; tests/hardening/test_differential.py checks
the same readers against the real unpickler in a child process.
"""

from __future__ import annotations

import pytest

from weightgate.formats import Format, pickleargs
from weightgate.formats.detect import detect_head
from weightgate.formats.picklehead import read_pickle_head

from .feeding import inspect_all_chunkings

CALL_OS_SYSTEM = b"cos\nsystem\n(S'id'\ntR."

# (first opcode, why _pickle.c loads it); each is followed by POP and a call of os.system.
LOADABLE_HEADS = [
    (b"I0x10\n", "load_int: strtol(s, &end, 0) reads hexadecimal"),
    (b"I010\n", "load_int: strtol base 0 reads a leading 0 as octal (8)"),
    (b"I0o7\n", "load_int: strtol stops at 'o', PyLong_FromString(s, NULL, 0) reads 0o7"),
    (b"I0b1\n", "load_int: PyLong_FromString base 0 reads binary"),
    (b"I1_0\n", "load_int: PyLong_FromString reads underscores between digits"),
    (b"I 5\n", "load_int: strtol skips leading whitespace"),
    (b"I5 \n", "load_int: PyLong_FromString takes trailing whitespace"),
    (b"I5\x00junk\n", "load_int: strtol stops at the NUL, which ends the C string"),
    (b"I\x00\n", "load_int: an empty C string is 0"),
    (b"L0x10L\n", "load_long: the 'L' is cut, PyLong_FromString base 0 reads hexadecimal"),
    (b"L 5 L\n", "load_long: whitespace around the digits"),
    (b"F1.5\x00junk\n", "load_float: PyOS_string_to_double stops at the NUL"),
    (b"\x80\x01", "load_proto: protocols 0 and 1 are valid PROTO arguments"),
    (b"\x80\x00", "load_proto: protocols 0 and 1 are valid PROTO arguments"),
]


@pytest.mark.parametrize(("first", "why"), LOADABLE_HEADS, ids=[why for _, why in LOADABLE_HEADS])
def test_pickle_the_c_unpickler_loads_is_detected_and_walked(first: bytes, why: str) -> None:
    separator = b"" if first.startswith(b"\x80") else b"0"  # POP the number
    data = first + separator + CALL_OS_SYSTEM
    assert detect_head(data, len(data)) is Format.PICKLE
    result = inspect_all_chunkings(data)
    assert result.format is Format.PICKLE
    assert [issue.rule.id for issue in result.issues] == ["WG502"], result.issues
    assert result.details["pickle_globals"] == "os.system"


def test_issue_14_i0x10_is_not_text() -> None:
    # The red team's file: `pickle.load` turns it into os.system; detection used to call it text.
    data = b"I0x10\n0" + CALL_OS_SYSTEM
    assert detect_head(data, len(data)) is not Format.TEXT
    assert "WG502" in {issue.rule.id for issue in inspect_all_chunkings(data).issues}


@pytest.mark.parametrize(
    ("opcode", "line", "value"),
    [
        ("INT", b"0x10", 16), ("INT", b"010", 8), ("INT", b"-0x10", -16), ("INT", b"00", False), ("INT", b"01", True),
        ("INT", b"+1", True), ("INT", b" 1", True), ("INT", b"1\x00", True), ("INT", b"9223372036854775808", 2**63),
        ("LONG", b"0x10L", 16), ("LONG", b"5", 5), ("LONG", b"5\x00L", 5), ("GET", b"00", 0), ("GET", b" 0_1 ", 1),
        ("FLOAT", b"inf", float("inf")), ("FLOAT", b"1.5\x00x", 1.5), ("STRING", b"'\\x6fs'", b"os"),
    ],
)
def test_argument_readers_return_what_the_c_unpickler_does(opcode: str, line: bytes, value: object) -> None:
    read = {"INT": pickleargs.read_int, "LONG": pickleargs.read_long, "GET": pickleargs.read_memo_index,
            "FLOAT": pickleargs.read_float, "STRING": pickleargs.read_string}[opcode]
    result = read(line)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("opcode", "line"),
    [
        ("INT", b"5L"), ("INT", b""), ("INT", b" "), ("INT", b"08"), ("INT", b"0x"), ("LONG", b"010L"), ("LONG", b"L"),
        ("FLOAT", b" 1.5"), ("FLOAT", b"1.5 "), ("FLOAT", b"1_0"), ("FLOAT", b"1e999"), ("FLOAT", b"0x1p3"),
        ("GET", b"0x0"), ("GET", b""), ("STRING", b"'"), ("STRING", b"\"a'"), ("STRING", b" 'a'"),
    ],
)
def test_argument_readers_refuse_what_the_c_unpickler_refuses(opcode: str, line: bytes) -> None:
    # Near misses: pickletools accepts several of these (float(" 1.5"), int("5L"[:-1])...), the loader does not.
    read = {"INT": pickleargs.read_int, "LONG": pickleargs.read_long, "GET": pickleargs.read_memo_index,
            "FLOAT": pickleargs.read_float, "STRING": pickleargs.read_string}[opcode]
    with pytest.raises(ValueError):
        read(line)


@pytest.mark.parametrize(
    ("name", "data", "imports"),
    [
        ("GLOBAL of an importable module, then garbage", b"cvenv.__main__\nx\n\xff", True),
        ("INST under a MARK, then the end", b"(icollections\nOrderedDict\n", True),
        ("GLOBAL of a module no installation holds", b"cat and dog\nsat on the mat\n", False),
        ("INST without a MARK never imports", b"ios\nsystem\n", False),
    ],
)
def test_a_head_that_reaches_an_import_is_a_pickle(name: str, data: bytes, imports: bool) -> None:
    # The unpickler imports the module (running its top-level code: venv.__main__ runs venv) before it fails on
    # what follows, so such a stream is a pickle even though it breaks. Text whose "module" is not a dotted
    # Python name stays text.
    head = read_pickle_head(data, len(data))
    assert (head is not None and head.imports) is imports
    assert (detect_head(data, len(data)) is Format.PICKLE) is imports


def test_pickle_that_imports_outranks_the_safetensors_length_check() -> None:
    # A protocol-0 polyglot: BINSTRING of 4 bytes makes the first 8 bytes a plausible header length with '{' at
    # byte 8, then POP and a call of os.system. Without a PROTO opcode it used to be called safetensors.
    data = b"T\x04\x00\x00\x00\x00\x00\x00{0" + CALL_OS_SYSTEM
    assert detect_head(data, len(data)) is Format.PICKLE
