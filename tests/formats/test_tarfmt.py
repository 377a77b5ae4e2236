"""Tar inspection: names from plain, GNU long-name and pax headers; broken archives are malformed."""

from __future__ import annotations

import io
import pickle
import tarfile

import pytest

from weightgate.formats import Format, tarfmt
from weightgate.rules import MALFORMED_FILE

from .feeding import inspect_all_chunkings, inspect_bytes
from .samples import tar_of, torch_tar

LONG_NAME = "deep/" * 30 + "model.bin"


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names_are_read_as_tar_readers_see_them(fmt: int) -> None:
    result = inspect_all_chunkings(tar_of({LONG_NAME: b"x" * 600, "pickle": b"p"}, fmt))
    assert result.issues == []
    assert result.details["member_names"] == f"{LONG_NAME},pickle"


def test_an_empty_gnu_long_name_is_the_name_tarfile_lists() -> None:
    # Found by the long profile of the tarfile oracle: the header's own name is not a fallback.
    raw = bytearray(tar_of({"n" * 120: b"data"}, tarfile.GNU_FORMAT))
    raw[512 : 512 + 121] = bytes(121)  # the long-name block, now all NUL
    assert [m.name for m in tarfile.open(fileobj=io.BytesIO(bytes(raw))).getmembers()] == [""]
    assert inspect_bytes(bytes(raw)).details["member_names"] == ""


def test_pax_size_and_non_ascii_names() -> None:
    result = inspect_bytes(tar_of({"modèle/weights.bin": bytes(1500), "b": b"b"}, tarfile.PAX_FORMAT))
    assert result.details["member_names"] == "modèle/weights.bin,b"


def test_directories_and_links_have_no_data() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        directory = tarfile.TarInfo("dir")
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
        link = tarfile.TarInfo("dir/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        archive.addfile(link)
    result = inspect_bytes(buf.getvalue())
    assert result.issues == []
    assert result.details["member_names"] == "dir/,dir/link"


def test_names_with_dot_slash_still_refine_to_pytorch_tar() -> None:
    data = tar_of({"./sys_info": b"s", "./pickle": b"p", "./storages": b"s", "./tensors": b"t"})
    assert inspect_bytes(data).format is Format.PYTORCH_TAR


def test_pickle_without_storages_is_a_plain_tar() -> None:
    assert inspect_bytes(tar_of({"pickle": b"p"})).format is Format.TAR


def _bad_checksum(data: bytes) -> bytes:
    return b"X" + data[1:]  # change the first name byte, keep the stored checksum


MALFORMED = [
    ("bad header checksum", lambda: _bad_checksum(torch_tar()), "header at offset 0 (member 1): header checksum"),
    ("cut inside member data", lambda: torch_tar()[:600], "file ends inside the data of 'sys_info'"),
    ("cut inside a header", lambda: torch_tar()[:1024 + 100], "file ends inside a header block"),
    ("no end marker", lambda: tar_of({"a": b"x" * 512})[:1024], "no end-of-archive marker"),
]


@pytest.mark.parametrize(("name", "make", "fragment"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_tar(name: str, make, fragment: str) -> None:
    result = inspect_all_chunkings(make())
    assert result.format in (Format.TAR, Format.PYTORCH_TAR)
    assert [issue.rule for issue in result.issues] == [MALFORMED_FILE]
    assert fragment in result.issues[0].message


def test_member_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tarfmt, "MAX_MEMBERS", 3)
    result = inspect_bytes(tar_of({str(i): b"" for i in range(5)}))
    assert result.details["members"] == "3"
    assert "more than 3 members" in result.issues[0].message


def _without_magic(tar: bytes) -> bytes:
    """The archive with its first header's ustar magic and version zeroed and its checksum fixed: a pre-POSIX
    (v7) header, which tarfile and torch's legacy loader read."""
    data = bytearray(tar)
    data[257:265] = bytes(8)
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\x00 " % sum(data[:512])
    return bytes(data)


def test_v7_tar_without_the_ustar_magic_is_a_tar() -> None:
    # Issue 14, class 1 (found by the tarfile oracle): tarfile lists this archive's member, detection wanted the
    # "ustar" magic and called the file unknown, so its members were never inspected.
    data = _without_magic(tar_of({"pickle": pickle.dumps(1, protocol=2)}, tarfile.USTAR_FORMAT))
    assert tarfile.open(fileobj=io.BytesIO(data)).getnames() == ["pickle"]
    result = inspect_all_chunkings(data)
    assert result.format is Format.TAR
    assert result.details["member_names"] == "pickle"


def test_block_with_a_wrong_checksum_is_not_a_v7_tar() -> None:
    # Near miss: the same header with one byte of its name changed no longer checks out.
    data = bytearray(_without_magic(tar_of({"pickle": b"x"}, tarfile.USTAR_FORMAT)))
    data[0] ^= 1
    assert inspect_all_chunkings(bytes(data)).format is not Format.TAR
