"""Containers opened recursively: every pickle inside is walked, header tricks and bombs fail closed.

Archives are built in code: with zipfile/tarfile/numpy where those write the case, byte-patched or assembled
by `raw_zip` where no well-behaved writer would. Cases that pin a known scanner bypass cite it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
import pytest

from weightgate.formats import Format, compressed, members, zipstream

from . import samples
from .feeding import inspect_all_chunkings, inspect_bytes
from .pickles import call, dumps, torch_state_dict, torch_zip

MIB = 1024 * 1024
PAYLOAD = dumps(call("os", "system", "id"), 2)
BENIGN = dumps(torch_state_dict(), 2)


def rule_ids(data: bytes) -> list[str]:
    return [issue.rule.id for issue in inspect_all_chunkings(data).issues]


# --- a zip assembler for what well-behaved writers never write -------------------------------------------------


@dataclass
class RawMember:
    name: str
    data: bytes
    deflate: bool = False
    flags: int = 0
    descriptor: str = ""  # "", "signed" (PK\x07\x08 first) or "bare"
    local_name: str | None = None
    listed: bool = True  # has a central directory entry
    central_offset_shift: int = 0
    before: bytes = b""  # bytes inserted before the local header
    deflated: tuple[bytes, int, int] | None = None  # (deflate stream, crc, size) made elsewhere (bombs)


def raw_zip(entries: list[RawMember]) -> bytes:
    out, central = bytearray(), bytearray()
    for m in entries:
        out += m.before
        payload, crc, size = m.deflated or (_deflate(m.data) if m.deflate else m.data, zlib.crc32(m.data),
                                             len(m.data))
        method = 8 if m.deflate or m.deflated else 0
        flags = m.flags | (0x8 if m.descriptor else 0)
        sizes = (0, 0, 0) if m.descriptor else (crc, len(payload), size)
        local_name = (m.local_name or m.name).encode()
        offset = len(out)
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, flags, method, 0, 0, *sizes, len(local_name), 0)
        out += local_name + payload
        if m.descriptor:
            out += (b"PK\x07\x08" if m.descriptor == "signed" else b"") + struct.pack("<III", crc, len(payload),
                                                                                      size)
        if m.listed:
            name = m.name.encode()
            central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, flags, method, 0, 0, crc,
                                   len(payload), size, len(name), 0, 0, 0, 0, 0,
                                   offset + m.central_offset_shift) + name
    count = sum(m.listed for m in entries)
    return bytes(out + central + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(central),
                                             len(out), 0))


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def _patch_all(data: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and old in data
    return data.replace(old, new)


# --- zip: every pickle member, by content --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "pickle_name"),
    [("archive", "data.pkl"), ("resnet18-f37072fd", "data.pkl"), ("a/b/c", "data.pkl"), ("archive", "weights.bin"),
     ("archive", "data/7")],
    ids=["torch-layout", "renamed-folder", "moved-deeper", "renamed-member", "hidden-among-storages"],
)
def test_a_payload_in_any_zip_member_is_found(folder: str, pickle_name: str) -> None:
    # CVE-2025-1889 / CVE-2025-10155: scanners that pick pickles by name or extension miss renamed ones.
    result = inspect_all_chunkings(torch_zip(PAYLOAD, folder, pickle_name))
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert result.issues[0].message.startswith(f"zip member '{folder}/{pickle_name}': pickle global os.system")
    assert ("member", f"{folder}/{pickle_name}") in result.issues[0].evidence


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2],
                         ids=["stored", "deflated", "bzip2"])
def test_benign_torch_zip_checkpoints(compression: int) -> None:
    result = inspect_all_chunkings(torch_zip(BENIGN, compression=compression))
    assert result.issues == []
    assert result.format is Format.PYTORCH_ZIP
    assert result.details["pickle_member_names"] == "archive/data.pkl"
    assert "torch._utils._rebuild_tensor_v2" in result.details["pickle_globals"]


def test_payload_in_a_deflated_member() -> None:
    assert rule_ids(torch_zip(PAYLOAD, compression=zipfile.ZIP_DEFLATED)) == ["WG502"]


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors after each member."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.buffer += data
        return len(data)


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_members_with_data_descriptors(compression: int) -> None:
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w", compression) as archive:
        archive.writestr("archive/data.pkl", BENIGN)
        archive.writestr("archive/data/0", bytes(100))
        archive.writestr("archive/evil.pkl", PAYLOAD)
    data = bytes(sink.buffer)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist()[2] == "archive/evil.pkl"
    assert struct.unpack_from("<H", data, 6)[0] & 0x8  # descriptors really are used
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert result.details["members_complete"] == "true"


@pytest.mark.parametrize("descriptor", ["signed", "bare"])
@pytest.mark.parametrize("deflate", [False, True], ids=["stored", "deflated"])
def test_descriptor_forms(descriptor: str, deflate: bool) -> None:
    # The stored member's own bytes hold a decoy descriptor signature with the wrong CRC.
    data = raw_zip([RawMember("a.pkl", BENIGN + b"PK\x07\x08" + bytes(12), deflate, descriptor=descriptor),
                    RawMember("b.pkl", PAYLOAD, deflate, descriptor=descriptor)])
    assert zipfile.ZipFile(io.BytesIO(data)).read("b.pkl") == PAYLOAD
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG503", "WG502"]  # a.pkl has bytes after its STOP


def test_zip64_members() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        with archive.open("archive/data.pkl", "w", force_zip64=True) as member:
            member.write(PAYLOAD)
    assert rule_ids(buf.getvalue()) == ["WG502"]


def test_npz_with_object_arrays() -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, a=np.arange(4), o=np.array([{"k": 1}, None], dtype=object))
    result = inspect_all_chunkings(buf.getvalue())
    assert result.format is Format.NUMPY_NPZ
    assert result.issues == []
    assert "numpy.dtype" in result.details["pickle_globals"]


def test_object_npy_carrying_a_payload() -> None:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    evil = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + PAYLOAD
    result = inspect_all_chunkings(evil)
    assert result.format is Format.NUMPY
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert result.issues[0].message.startswith("object array data: pickle global os.system")
    inside_npz = inspect_all_chunkings(samples.zip_of({"x.npy": evil, "y.npy": samples.npy(np.ones(2))}))
    assert [issue.rule.id for issue in inside_npz.issues] == ["WG502"]
    assert inside_npz.issues[0].message.startswith("zip member 'x.npy': object array data: pickle global")


def test_plain_npy_data_is_not_walked() -> None:
    assert rule_ids(samples.npy(np.frombuffer(PAYLOAD + b"\x00" * (-len(PAYLOAD) % 8), dtype="<f8"))) == []


# --- zip header tricks ---------------------------------------------------------------------------------------


def test_local_and_central_names_disagree() -> None:
    # CVE-2025-1944: picklescan read the central name while the payload sat under another local name.
    data = torch_zip(PAYLOAD)
    local = data.index(b"archive/data.pkl")  # the first occurrence is the local header's copy
    data = data[:local] + b"archive/data.pkx" + data[local + 16 :]
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG507", "WG502"]
    assert "disagree on the name ('archive/data.pkx' in the local header)" in result.issues[0].message


def test_odd_flag_bits() -> None:
    # CVE-2025-1945: flipped general-purpose flag bits made picklescan skip members that torch still loads.
    data = bytearray(torch_zip(PAYLOAD))
    for at in (0, data.index(b"PK\x01\x02")):
        data[at + (7 if at == 0 else 9)] |= 0x01  # bit 8 (reserved), in the local and central header
    result = inspect_all_chunkings(bytes(data))
    assert [issue.rule.id for issue in result.issues] == ["WG507", "WG502"]
    assert "flag bits 0x0100" in result.issues[0].message


def test_crc_mismatch_is_malformed_and_the_content_is_still_walked() -> None:
    # CVE-2025-10156: picklescan gave up on members with a bad CRC; torch loads them anyway.
    data = torch_zip(PAYLOAD)
    crc = struct.pack("<I", zlib.crc32(PAYLOAD))
    data = _patch_all(data, crc, struct.pack("<I", zlib.crc32(PAYLOAD) ^ 1))
    assert rule_ids(data) == ["WG405", "WG502"]


def test_crc_of_tensor_storage_records_is_left_to_the_loader() -> None:
    # torch.load reads <archive>/data/<key> through miniz built without CRC checks: a bad CRC there is acted on
    # by no loader, so it is not CRC-ed (issue 18); the same bad CRC on any other member is still reported.
    storage = struct.pack("<4f", 1, 2, 3, 4)
    good, bad = struct.pack("<I", zlib.crc32(storage)), struct.pack("<I", zlib.crc32(storage) ^ 1)
    assert rule_ids(_patch_all(torch_zip(PAYLOAD), good, bad)) == ["WG502"]
    plain = samples.zip_of({"archive/weights/0": storage})
    assert "WG405" in rule_ids(_patch_all(plain, good, bad))


def test_encrypted_members_fail_closed() -> None:
    data = bytearray(samples.zip_of({"secret.bin": PAYLOAD}))
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.find(sig) + flag_at] |= 1
    result = inspect_all_chunkings(bytes(data))
    assert [issue.rule.id for issue in result.issues] == ["WG508"]
    assert result.details["encrypted_members"] == "1"


def test_unsupported_compression_fails_closed() -> None:
    assert rule_ids(samples.zip_of({"m.pkl": PAYLOAD}, zipfile.ZIP_LZMA)) == ["WG508"]


def test_seven_zip_and_zstd_members_fail_closed() -> None:
    # A 7z-wrapped pickle cannot be opened; inside an archive it is reported, at top level the format policy
    # prohibits it (tests/checks/test_content.py).
    result = inspect_all_chunkings(samples.zip_of({"w.7z": b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(100)}))
    assert [issue.rule.id for issue in result.issues] == ["WG508"]


def test_a_local_entry_missing_from_the_central_directory() -> None:
    data = raw_zip([RawMember("config.json", b"{}"), RawMember("hidden.pkl", PAYLOAD, listed=False)])
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG507", "WG502"]
    assert "'hidden.pkl' at offset" in result.issues[0].message


def test_a_central_entry_pointing_into_another_member() -> None:
    data = raw_zip([RawMember("a.bin", bytes(200)), RawMember("b.bin", b"x", central_offset_shift=-50)])
    result = inspect_all_chunkings(data)
    assert "WG507" in [issue.rule.id for issue in result.issues]
    assert any("where no member's local header starts" in issue.message for issue in result.issues)


def test_bytes_hidden_between_members_stop_the_walk() -> None:
    data = raw_zip([RawMember("a.bin", b"a"), RawMember("b.bin", b"b", before=PAYLOAD)])
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues][:1] == ["WG507"]
    assert "bytes that start no zip record" in result.issues[0].message


def test_raw_zip_near_miss_is_clean() -> None:
    data = raw_zip([RawMember("a.pkl", BENIGN, deflate=True), RawMember("b.bin", bytes(300))])
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    assert rule_ids(data) == []


# --- tar, compressed streams ---------------------------------------------------------------------------------


def test_legacy_torch_tar_is_clean() -> None:
    result = inspect_all_chunkings(samples.legacy_torch_tar())
    assert result.issues == []
    assert result.format is Format.PYTORCH_TAR


def test_payload_in_the_pickle_member_of_a_legacy_tar() -> None:
    data = samples.tar_of({"sys_info": pickle_dumps({}), "pickle": PAYLOAD,
                           "storages": pickle_dumps(0) + pickle_dumps([]), "tensors": pickle_dumps(0)})
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert result.issues[0].message.startswith("tar member 'pickle': pickle global os.system")


def test_payload_in_a_legacy_storage_record() -> None:
    record = dumps(("0", "cpu", call("os", "system", "id")), 2)
    data = samples.tar_of({"storages": pickle_dumps(1) + record + struct.pack("<q", 0)})
    assert rule_ids(data) == ["WG502", "WG503"]  # and the record is not a storage record


def test_payload_in_any_tar_member() -> None:
    assert rule_ids(samples.tar_of({"README.md": b"# hi\n", "weights/model.bin": PAYLOAD})) == ["WG502"]


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bzip2", "xz"])
def test_compressed_tar_with_a_payload(compress) -> None:
    result = inspect_all_chunkings(compress(samples.tar_of({"model.bin": PAYLOAD})))
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert ": tar member 'model.bin': pickle global os.system" in result.issues[0].message


def test_concatenated_gzip_members_are_all_expanded() -> None:
    data = gzip.compress(PAYLOAD[:10]) + gzip.compress(PAYLOAD[10:])  # `gzip -d` joins the members
    assert rule_ids(data) == ["WG502"]


def test_truncated_and_trailing_compressed_streams_are_malformed() -> None:
    stream = gzip.compress(samples.tar_of({"a": b"a"}))
    assert "WG405" in rule_ids(stream[:-12])
    assert rule_ids(stream + b"garbage!") == ["WG405"]


def pickle_dumps(value: object) -> bytes:
    return dumps(value, 2)


# --- bombs and limits ------------------------------------------------------------------------------------------


def _zeros_deflated(total: int, wbits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    chunk = bytes(MIB)
    return b"".join(compressor.compress(chunk) for _ in range(total // MIB)) + compressor.flush()


def test_gzip_bomb_stops_at_the_ratio_limit() -> None:
    bomb = _zeros_deflated(200 * MIB, 31)  # ~200 KiB of gzip expanding 1000-fold
    result = inspect_bytes(bomb)
    assert [issue.rule.id for issue in result.issues][:1] == ["WG506"]
    assert "expands more than 250 times" in result.issues[0].message
    assert int(result.details["expanded_bytes"]) < 2 * compressed.RATIO_FLOOR_BYTES


def test_zip_bomb_member_stops_and_the_walk_goes_on() -> None:
    size = 200 * MIB
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(bytes(MIB), crc)
    bomb = RawMember("b.bin", b"", deflated=(_zeros_deflated(size, -15), crc, size))
    result = inspect_bytes(raw_zip([bomb, RawMember("c.pkl", PAYLOAD)]))
    assert [issue.rule.id for issue in result.issues] == ["WG506", "WG502"]  # cut short; c.pkl still walked
    assert result.issues[0].message.startswith("zip member 'b.bin': deflate data expands more than 250 times")


def test_expansion_budget_of_the_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(members, "MAX_TOTAL_EXPANDED_BYTES", 1000)
    data = samples.zip_of({"a.txt": b"a" * 600, "b.txt": b"b" * 600}, zipfile.ZIP_DEFLATED)
    result = inspect_bytes(data)
    assert [issue.rule.id for issue in result.issues][:1] == ["WG506"]
    assert "all nested content of one file" in result.issues[0].message


def test_member_count_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipstream, "MAX_MEMBERS", 3)
    result = inspect_bytes(samples.zip_of({f"{i}.bin": b"" for i in range(5)}))
    assert [issue.rule.id for issue in result.issues] == ["WG506"]
    assert "more than 3 members" in result.issues[0].message


def test_member_budget_of_the_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(members, "MAX_TOTAL_MEMBERS", 4)
    inner = samples.tar_of({f"{i}": b"" for i in range(3)})
    result = inspect_bytes(samples.zip_of({"a.tar": inner, "b.tar": inner}))
    assert "WG506" in [issue.rule.id for issue in result.issues]


def test_nesting_depth_limit() -> None:
    data = PAYLOAD
    for level in range(members.MAX_DEPTH + 2):
        data = samples.zip_of({f"level{level}.zip": data})
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG506"]
    assert f"nested {members.MAX_DEPTH} levels deep" in result.issues[0].message


def test_nesting_just_inside_the_limit_is_walked() -> None:
    data = PAYLOAD
    for level in range(members.MAX_DEPTH):
        data = samples.zip_of({f"level{level}.zip": data})
    assert rule_ids(data) == ["WG502"]


def test_gzip_quines_are_bounded_by_depth() -> None:
    data = PAYLOAD
    for _ in range(members.MAX_DEPTH + 3):
        data = gzip.compress(data)
    assert rule_ids(data) == ["WG506"]


# --- hostile variations of everything above ------------------------------------------------------------------


def _container_seeds() -> list[bytes]:
    sink = _Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x/data.pkl", BENIGN)
        archive.writestr("x/data/0", bytes(100))
    return [
        raw_zip([RawMember("a.pkl", BENIGN, True, descriptor="bare"), RawMember("b", PAYLOAD, descriptor="signed")]),
        torch_zip(BENIGN, compression=zipfile.ZIP_BZIP2), bytes(sink.buffer), samples.legacy_torch_tar(),
        gzip.compress(samples.legacy_torch_tar()), bz2.compress(PAYLOAD),
    ]


@pytest.mark.parametrize("seed", range(6))
def test_mutated_containers_never_raise_and_agree_across_chunkings(seed: int) -> None:
    rng = random.Random(seed)
    original = _container_seeds()[seed]
    for _ in range(40):
        mutant = bytearray(original)
        for _ in range(rng.randrange(1, 4)):  # flip bytes, often into zip signature bytes
            mutant[rng.randrange(len(mutant))] = rng.choice(b"PK\x01\x02\x03\x04\x07\x08\x00\xff")
        if rng.random() < 0.3:
            del mutant[rng.randrange(len(mutant)) :]
        results = [inspect_bytes(bytes(mutant), chunking) for chunking in ((1, 3, 4096), 7, MIB)]
        assert results[0] == results[1] == results[2]
