"""The text arguments of protocol-0 opcodes, read the way CPython's C unpickler (`Modules/_pickle.c`) reads them.

`pickletools` is not the loader: it reads INT, LONG and GET/PUT lines with `int(s)` (base 10), FLOAT with
`float(s)`, and refuses NUL bytes. `_pickle.c` reads INT with `strtol(s, &end, 0)` and falls back to
`PyLong_FromString(s, NULL, 0)` (so `I0x10`, `I0o7`, `I010` (octal 8), `I 5`, `I1_0` and `I5<NUL>junk` all load),
LONG with `PyLong_FromString(s, NULL, 0)` after dropping one trailing `L`, GET/PUT with base 10, and FLOAT with
`PyOS_string_to_double`, which takes no whitespace or underscores and fails on overflow. Every C reader stops
at the first NUL byte of the line. A detector or walker that is stricter than the loader calls a loadable pickle
"not a pickle" (issue 14, class 1), so both `picklehead` and `pickle_walk` read these lines here, and the
differential tests check this module against the real unpickler in a child process.

Each function takes the line without its newline and returns the value, or raises ValueError where the C
unpickler fails. Nothing here unpickles.
"""

from __future__ import annotations

import codecs
import math

C_SPACE = b" \t\n\v\f\r"  # isspace() in the C locale, and Py_ISSPACE
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1  # C long on the LP64 platforms CPython runs on
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_INF_NAN = frozenset({b"inf", b"infinity", b"nan"})


def _c_string(line: bytes) -> bytes:
    """The line as C code sees it: a NUL-terminated string ends at its first NUL byte."""
    return line.split(b"\0", 1)[0]


def _strtol(text: bytes) -> tuple[int, int] | None:
    """glibc `strtol(text, &end, 0)`: (value, end offset), or None when it sets errno (overflow)."""
    at = len(text) - len(text.lstrip(C_SPACE))
    sign = 1
    if text[at : at + 1] in (b"+", b"-"):
        sign = -1 if text[at] == ord("-") else 1
        at += 1
    base, digits = 10, b"0123456789"
    if text[at : at + 1] == b"0":
        if text[at + 1 : at + 2] in (b"x", b"X") and text[at + 2 : at + 3] and text[at + 2] in _HEX_DIGITS:
            base, digits, at = 16, b"0123456789abcdefABCDEF", at + 2
        else:
            base, digits = 8, b"01234567"
    end = at
    while end < len(text) and text[end] in digits:
        end += 1
    if end == at:
        return 0, 0  # no digits: strtol returns 0 with end at the start of the string
    value = sign * int(text[at:end], base)
    return (value, end) if LONG_MIN <= value <= LONG_MAX else None


def read_int(line: bytes) -> int:
    """INT (`load_int`): strtol base 0, else PyLong_FromString base 0; a two-byte line of 0 or 1 is a bool."""
    if not line:
        raise ValueError("INT line is empty")
    text = _c_string(line)
    parsed = _strtol(text)
    if parsed is not None and parsed[1] == len(text) and (parsed[1] > 0 or not text):
        value = parsed[0]
        return bool(value) if len(line) == 2 and value in (0, 1) else value
    return int(text, 0)  # PyLong_FromString(s, NULL, 0): the bytes form of int() calls exactly that


def read_long(line: bytes) -> int:
    """LONG (`load_long`): one trailing `L` dropped, then PyLong_FromString base 0."""
    if not line:
        raise ValueError("LONG line is empty")
    return int(_c_string(line[:-1] if line.endswith(b"L") else line), 0)


def read_memo_index(line: bytes) -> int:
    """GET and PUT (`load_get`, `load_put`): PyLong_FromString base 10, so leading zeros, signs, whitespace and
    underscores are all accepted; a negative index fails (PUT) or misses the memo (GET)."""
    if not line:
        raise ValueError("memo index line is empty")
    return int(_c_string(line), 10)


def read_float(line: bytes) -> float:
    """FLOAT (`load_float`): PyOS_string_to_double with OverflowError, which float() differs from in taking
    whitespace and underscores and in turning overflow into inf."""
    text = _c_string(line)
    if not text or text[:1] in C_SPACE or text[-1:] in C_SPACE or b"_" in text:
        raise ValueError("FLOAT is not a number the unpickler reads")
    value = float(text)
    if math.isinf(value) and text.lstrip(b"+-").lower() not in _INF_NAN:
        raise ValueError("FLOAT overflows")
    return value


def read_string(line: bytes) -> bytes:
    """STRING (`load_string`): quoted at both ends with the same quote, then Python-2 escapes decoded. The result
    is bytes: the unpickler then decodes them with the loader's `encoding` (ASCII by default, latin-1 for numpy,
    bytes for some), which the caller chooses."""
    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
        raise ValueError("STRING argument is not quoted")
    return codecs.escape_decode(line[1:-1])[0]  # PyBytes_DecodeEscape, as the unpickler calls it
