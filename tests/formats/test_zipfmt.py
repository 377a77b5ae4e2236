"""Zip inspection: end record and central directory, refinement by member names, and broken archives."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile

import pytest

from weightgate.formats import Format, zipend, zipfmt
from weightgate.rules import MALFORMED_FILE

from .feeding import inspect_all_chunkings, inspect_bytes
from .samples import torch_zip, zip_of


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["archive/data.pkl", "archive/version", "archive/data/0"], Format.PYTORCH_ZIP),
        (["data.pkl"], Format.PYTORCH_ZIP),
        (["m/constants.pkl", "m/.data/version"], Format.PYTORCH_ZIP),
        (["m/extra.pkl", "m/byteorder"], Format.PYTORCH_ZIP),
        (["model.pkl"], Format.ZIP),  # a lone pickle is not a torch checkpoint (recorded as pickle_members)
        (["mydata.pkl.txt"], Format.ZIP),
        (["config.json", "metadata.json", "model.weights.h5"], Format.KERAS_V3),
        (["sub/config.json", "sub/metadata.json"], Format.ZIP),
        (["a.npy", "b.npy", "dir/"], Format.NUMPY_NPZ),
        (["a.npy", "notes.txt"], Format.ZIP),
        ([], Format.ZIP),
    ],
)
def test_refinement_by_member_names(names: list[str], expected: Format) -> None:
    assert zipfmt.zip_format(names) is expected


def test_deflated_members_and_utf8_names() -> None:
    data = zip_of({"wëights/data.pkl": b"x" * 1000, "wëights/version": b"3"}, zipfile.ZIP_DEFLATED)
    result = inspect_all_chunkings(data)
    assert result.format is Format.PYTORCH_ZIP
    assert result.details["member_names"] == "wëights/data.pkl,wëights/version"


def test_zip64_end_record() -> None:
    # Large checkpoints end in zip64 records; build one by rewriting a small zip's end (zipfile reads it).
    data = _with_zip64_end(zip_of({"archive/data.pkl": b"x", "archive/data/0": b"y" * 10}))
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["archive/data.pkl", "archive/data/0"]
    result = inspect_bytes(data)
    assert result.issues == []
    assert result.format is Format.PYTORCH_ZIP
    assert result.details["members"] == "2"


def _with_zip64_end(data: bytes) -> bytes:
    """Replace the classic end record with zip64 end record + locator + an end record pointing to them."""
    at = data.rfind(b"PK\x05\x06")
    entries, size, offset = struct.unpack_from("<10xHII", data, at)
    zip64_end = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, at, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:at] + zip64_end + locator + end


def test_directory_larger_than_the_tail_is_read_as_it_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipend, "TAIL_BYTES", 64)  # the end record fits, the directory does not
    result = inspect_bytes(torch_zip(), chunking=7)
    assert result.format is Format.PYTORCH_ZIP
    assert result.issues == []
    assert result.details["members_complete"] == "true"
    assert result.details["members"] == "5"
    assert result.details["member_names"].startswith("archive/data.pkl,archive/byteorder")


MALFORMED = [
    ("truncated", lambda: torch_zip()[:-10], "no end-of-central-directory record"),
    ("cut in half", lambda: torch_zip()[:300], "no end-of-central-directory record"),
    ("bytes after the end record", lambda: torch_zip() + b"trailing", "8 bytes follow the end-of-central"),
    ("directory corrupt", lambda: _corrupt_directory(torch_zip()), "central directory entry 1 of 5 is corrupt"),
]


@pytest.mark.parametrize(("name", "make", "fragment"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_zip(name: str, make, fragment: str) -> None:
    result = inspect_all_chunkings(make())
    assert result.format in (Format.ZIP, Format.PYTORCH_ZIP)  # names from the local headers still refine
    assert [issue.rule for issue in result.issues] == [MALFORMED_FILE]
    assert fragment in result.issues[0].message
    assert result.details["members_complete"] == "false"


def _corrupt_directory(data: bytes) -> bytes:
    at = data.find(b"PK\x01\x02")
    return data[:at] + b"XX" + data[at + 2 :]


def test_duplicate_member_names_are_malformed() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate, and writes it
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("config.json", b"{}")
            archive.writestr("config.json", b'{"evil": 1}')
    result = inspect_bytes(buf.getvalue())
    assert [issue.rule for issue in result.issues] == [MALFORMED_FILE]
    assert "'config.json' appears twice" in result.issues[0].message


def test_encrypted_members_are_counted() -> None:
    data = bytearray(zip_of({"secret.bin": b"x"}))
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the encryption flag bit in both headers
        at = data.find(sig)
        flag_at = at + (6 if sig == b"PK\x03\x04" else 8)
        data[flag_at] |= 1
    assert inspect_bytes(bytes(data)).details["encrypted_members"] == "1"


def test_a_zip_shorter_than_announced_says_its_end_was_read_from_fewer_bytes() -> None:
    # The end records are kept in full only near the announced end (issue 18): a zip that stops megabytes
    # early was read from its last SEARCH_BYTES, and the result says so instead of passing quietly.
    data = zip_of({"a.bin": bytes(3 * 1024 * 1024)})
    result = inspect_bytes(data, size=len(data) + 4 * 1024 * 1024)
    assert any("before the size announced" in issue.message for issue in result.issues)
    assert not any("before the size announced" in issue.message for issue in inspect_bytes(data).issues)
