"""NumPy .npy headers: parsed as literals only, object dtypes flagged, data size checked."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from weightgate.formats import Format
from weightgate.rules import MALFORMED_FILE

from .feeding import inspect_all_chunkings, inspect_bytes
from .samples import npy


def npy_with_header(header: bytes, data: bytes = b"", version: bytes = b"\x01\x00") -> bytes:
    width = "<H" if version == b"\x01\x00" else "<I"
    return b"\x93NUMPY" + version + struct.pack(width, len(header)) + header + data


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((3, 4), dtype=">i8"),
        np.asfortranarray(np.ones((2, 3))),
        np.array(["ab", "cde"]),
        np.array([b"ab"]),
        np.array([True, False]),
        np.array(["2024-01-01"], dtype="datetime64[ns]"),
        np.zeros(2, dtype=[("a", "<i2"), ("b", [("c", "<f4")], (3,))]),
        np.zeros((0, 5), dtype=np.complex128),
    ],
    ids=["big-endian", "fortran", "unicode", "bytes", "bool", "datetime", "nested-structured", "empty"],
)
def test_numpy_written_files_have_no_issues(array: np.ndarray) -> None:
    result = inspect_all_chunkings(npy(array))
    assert result.format is Format.NUMPY
    assert result.issues == []
    assert "object_dtype" not in result.details


def test_object_field_in_a_structured_dtype_is_flagged() -> None:
    array = np.zeros(1, dtype=[("name", "O"), ("Offset", "<i4")])
    result = inspect_bytes(npy(array, allow_pickle=True))
    assert result.details["object_dtype"] == "true"


def test_version_3_header() -> None:
    header = "{'descr': [('\u00e9t\u00e9', '<u1')], 'fortran_order': False, 'shape': (2,), }\n".encode()
    assert inspect_bytes(npy_with_header(header, b"ab", version=b"\x03\x00")).issues == []


MALFORMED = [
    ("code in header", npy_with_header(b"{'descr': __import__('os').system('id')}\n"), "not a Python literal"),
    ("missing keys", npy_with_header(b"{'descr': '<f4'}\n"), "exactly the keys"),
    ("bad shape", npy_with_header(b"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}\n"),
     "shape (-1,) is not a tuple"),
    ("short data", npy(np.zeros(4, dtype="<f4"))[:-3], "data is 13 bytes but shape (4,) of <f4 needs 16"),
    ("trailing data", npy(np.zeros(1, dtype="<f4")) + b"tail", "data is 8 bytes"),
    ("unsupported version", npy_with_header(b"{}", version=b"\x07\x00"), "unsupported .npy format version 7.0"),
    ("cut header", npy(np.zeros(1))[:30], "file ends inside the .npy header"),
    ("header too long", b"\x93NUMPY\x02\x00" + struct.pack("<I", 10**6), "more than the 65536 inspected"),
]


@pytest.mark.parametrize(("name", "data", "fragment"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_npy(name: str, data: bytes, fragment: str) -> None:
    result = inspect_all_chunkings(data)
    assert result.format is Format.NUMPY
    assert [issue.rule for issue in result.issues] == [MALFORMED_FILE]
    assert fragment in result.issues[0].message


@pytest.mark.parametrize("descr", ["'object'", "'object_'", "'2O'", "'i4,O'", "[('a', 'object')]", "('object', (2,))"])
def test_object_dtype_spelled_as_numpy_reads_it_is_walked_and_reported(descr: str) -> None:
    # Issue 14, class 1 (found by the differential oracle): np.load hands the descr string to np.dtype, which reads
    # 'object' as an object dtype and would unpickle the data (allow_pickle=True); weightgate took only the 'O'
    # spellings numpy.save writes as objects and passed the file clean. A spelling numpy.save never writes is now
    # reported, and the data is walked as the pickle it may be.
    payload = b"cos\nsystem\n(S'true'\ntR."
    header = f"{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}".encode().ljust(118) + b"\n"
    result = inspect_all_chunkings(npy_with_header(header, payload))
    assert result.details["object_dtype"] == "true"
    rules = {issue.rule.id for issue in result.issues}
    assert MALFORMED_FILE.id in rules and "WG502" in rules


def test_numpy_written_object_spelling_is_not_reported_as_unknown() -> None:
    # Near miss: '|O' is what numpy.save writes for object arrays: an object dtype, not an unknown spelling.
    result = inspect_all_chunkings(npy(np.array([1, "x"], dtype=object), allow_pickle=True))
    assert result.details["object_dtype"] == "true"
    assert MALFORMED_FILE.id not in {issue.rule.id for issue in result.issues}


@pytest.mark.parametrize("version", [b"\x01\x00", b"\x02\x00"])
def test_python_2_headers_are_read_as_numpy_reads_them(version: bytes) -> None:
    # Python 2's numpy wrote `2L` in shapes; numpy's _read_array_header drops the L for versions 1.0 and 2.0.
    header = b"{'descr': u'<f8', 'fortran_order': False, 'shape': (2L, 3L), }"
    result = inspect_bytes(npy_with_header(header, bytes(48), version))
    assert result.issues == []
    assert result.details["shape"] == "(2, 3)"


def test_python_2_long_suffixes_are_not_accepted_in_version_3() -> None:
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }"  # near miss: numpy refuses it too
    result = inspect_bytes(npy_with_header(header, bytes(16), b"\x03\x00"))
    assert [issue.rule for issue in result.issues] == [MALFORMED_FILE]


def test_bytes_after_an_object_arrays_pickle_are_not_read() -> None:
    # numpy.load reads one pickle and never looks further; numpy's own test files end in a newline there.
    data = npy(np.array([1, "a"], dtype=object), allow_pickle=True) + b"\n"
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == []
    assert result.details["raw_bytes_after_pickles"] == "1"
