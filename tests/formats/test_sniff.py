"""One line per format: real bytes generated in code, fed through new_inspector in several chunkings."""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickle
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from weightgate.formats import Format

from . import samples
from .feeding import inspect_all_chunkings, inspect_bytes


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes]
    expected: Format
    details: dict[str, str] = field(default_factory=dict)  # a subset the result must contain
    issues: tuple[str, ...] = ()  # rule ids the content itself must raise


RANDOM = random.Random(20240601).randbytes(4096)
TEXT = "Model card\n==========\n\nWeights for a small classifier. Ünïcödé is fine.\n" * 40

CASES = [
    *[
        Case(f"pickle-protocol-{p}", lambda p=p: pickle.dumps(samples.PLAIN_DATA, protocol=p), Format.PICKLE,
             {"protocol": str(p) if p >= 2 else "0-1"})
        for p in range(6)
    ],
    Case("pytorch-zip", samples.torch_zip, Format.PYTORCH_ZIP, {"members": "5", "members_complete": "true"}),
    Case("pytorch-zip-renamed-folder", lambda: samples.torch_zip("resnet18-f37072fd"), Format.PYTORCH_ZIP),
    Case("pytorch-tar-legacy", samples.legacy_torch_tar, Format.PYTORCH_TAR,
         {"members": "4", "member_names": "sys_info,pickle,storages,tensors"}),
    Case("joblib-zlib", lambda: zlib.compress(pickle.dumps(samples.PLAIN_DATA, protocol=4), 3), Format.JOBLIB,
         {"compression": "zlib", "protocol": "4"}),
    Case("joblib-gzip", lambda: gzip.compress(pickle.dumps(samples.PLAIN_DATA, protocol=5)), Format.JOBLIB,
         {"compression": "gzip", "protocol": "5"}),
    Case("joblib-plain", samples.joblib_pickle, Format.JOBLIB, {"protocol": "4"}),
    Case("zip", lambda: samples.zip_of({"README.txt": b"hi", "weights.bin": bytes(64)}), Format.ZIP,
         {"members": "2", "member_names": "README.txt,weights.bin"}),
    Case("zip-empty", lambda: samples.zip_of({}), Format.ZIP, {"members": "0"}),
    Case("tar", lambda: samples.tar_of({"a.txt": b"a", "dir/b.bin": bytes(700)}), Format.TAR,
         {"member_names": "a.txt,dir/b.bin"}),
    Case("numpy", lambda: samples.npy(np.arange(6, dtype="<f4").reshape(2, 3)), Format.NUMPY,
         {"dtype": "<f4", "shape": "(2, 3)", "fortran_order": "false"}),
    Case("numpy-structured", lambda: samples.npy(np.zeros(3, dtype=[("x", "<i4"), ("y", "<f8", (2,))])),
         Format.NUMPY),
    Case("numpy-object", lambda: samples.npy(np.array([{"a": 1}, None], dtype=object), allow_pickle=True),
         Format.NUMPY, {"object_dtype": "true"}),
    Case("numpy-npz", samples.npz, Format.NUMPY_NPZ, {"member_names": "a.npy,b.npy"}),
    Case("safetensors", samples.safetensors_file, Format.SAFETENSORS,
         {"tensors": "2", "dtypes": "F32,I64", "metadata_format": "np"}),
    Case("gguf", samples.gguf_file, Format.GGUF,
         {"version": "3", "tensors": "1", "kv_count": "5", "architecture": "llama",
          "has_chat_template": "true", "chat_template": samples.CHAT_TEMPLATE}),
    Case("onnx", samples.onnx_model, Format.ONNX, {"ir_version": "8", "producer_name": "pytorch"}),
    Case(f"hdf5-{samples.HDF5_WRITER}", samples.hdf5_file, Format.HDF5, {"superblock_offset": "0"}),
    Case(f"hdf5-userblock-{samples.HDF5_WRITER}", lambda: samples.hdf5_file(userblock=512), Format.HDF5,
         {"superblock_offset": "512"}),
    Case("keras-v3", samples.keras_v3_zip, Format.KERAS_V3),
    Case("tf-savedmodel", samples.saved_model, Format.TF_SAVEDMODEL, {"schema_version": "1"}),
    Case("sentencepiece", samples.sentencepiece_model, Format.SENTENCEPIECE),
    Case("gzip", lambda: gzip.compress(TEXT.encode()), Format.GZIP, {"inner_format": "text"}),
    Case("gzip-of-tar", lambda: gzip.compress(samples.legacy_torch_tar()), Format.GZIP,
         {"inner_format": "pytorch-tar"}),
    Case("bzip2", lambda: bz2.compress(TEXT.encode()), Format.BZIP2, {"inner_format": "text"}),
    Case("xz", lambda: lzma.compress(TEXT.encode()), Format.XZ, {"inner_format": "text"}),
    Case("7z", lambda: b"7z\xbc\xaf\x27\x1c\x00\x04" + RANDOM[:200], Format.SEVEN_ZIP),
    Case("zstd", lambda: b"\x28\xb5\x2f\xfd\x24\x04" + RANDOM[:200], Format.ZSTD),
    Case("json-object", lambda: b'{"architectures": ["Llama"], "auto_map": {}}', Format.JSON,
         {"top_level": "object", "top_level_keys": "architectures,auto_map"}),
    Case("json-array-bom", lambda: b'\xef\xbb\xbf [1, 2, {"a": null}]\n', Format.JSON, {"top_level": "array"}),
    Case("jsonl", lambda: b'{"q": "a"}\n{"q": "b"}\n', Format.JSONL, {"records": "2"}),
    Case("parquet", lambda: b"PAR1" + RANDOM[:100] + (100).to_bytes(4, "little") + b"PAR1", Format.PARQUET,
         {"footer_bytes": "100"}),
    Case("text", lambda: TEXT.encode(), Format.TEXT, {"encoding": "utf-8"}),
    Case("empty", lambda: b"", Format.EMPTY),
    Case("unknown-random", lambda: RANDOM, Format.UNKNOWN, {"magic_hex": RANDOM[:16].hex()}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_format_is_detected_the_same_for_every_chunking(case: Case) -> None:
    result = inspect_all_chunkings(case.make())

    assert result.format is case.expected
    assert [issue.rule.id for issue in result.issues] == list(case.issues)
    assert case.details.items() <= result.details.items()


def test_every_format_has_a_case() -> None:
    assert {case.expected for case in CASES} == set(Format)


# Issue 14, class 1 (found by the zipfile oracle): detection reads the head, zipfile finds an archive from the end.
HIDDEN_ZIP = samples.zip_of({"archive/data.pkl": pickle.dumps({"w": 1}, protocol=2), "archive/version": b"3\n"})


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("zip with its first byte changed", b"\x00" + HIDDEN_ZIP[1:], Format.UNKNOWN),
        ("text with a zip appended", b"A model card.\n" + HIDDEN_ZIP, Format.UNKNOWN),
        ("pickle with a zip appended", pickle.dumps(1, protocol=0) + HIDDEN_ZIP, Format.PICKLE),
    ],
)
def test_zip_directory_at_the_end_of_a_file_detected_otherwise_is_reported(name: str, data: bytes,
                                                                          expected: Format) -> None:
    result = inspect_all_chunkings(data)
    assert result.format is expected
    assert any(issue.rule.id == "WG405" and "zip central directory" in issue.message for issue in result.issues)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("text mentioning the end-record signature", b"the bytes PK\x05\x06 end a zip" + bytes(22)),
        ("empty zip directory appended", b"notes\n" + samples.zip_of({})),
        ("tar whose last member is a zip", samples.tar_of({"model.keras": HIDDEN_ZIP})),
    ],
)
def test_no_hidden_zip_near_misses(name: str, data: bytes) -> None:
    result = inspect_all_chunkings(data)
    assert not any("zip central directory" in issue.message for issue in result.issues)


@pytest.mark.parametrize("announced_extra", [0, 3 * 1024 * 1024], ids=["as announced", "shorter than announced"])
def test_hidden_zip_is_found_at_the_end_of_a_large_file(announced_extra: int) -> None:
    # Only the bytes near the announced end are kept in full (issue 18); the end record is found either way.
    data = b"\x00" + bytes(5 * 1024 * 1024) + HIDDEN_ZIP
    for chunking in (4096, 1024 * 1024, (3, 0, 4096, 1, 65_541, 0, 1024 * 1024)):
        result = inspect_bytes(data, chunking, size=len(data) + announced_extra)
        assert any("zip central directory" in issue.message for issue in result.issues), chunking


def test_hidden_zip_in_an_archive_member_is_reported() -> None:
    # Whoever extracts the member and opens it with zipfile opens the hidden archive.
    outer = samples.zip_of({"notes.txt": b"A model card.\n" + HIDDEN_ZIP})
    result = inspect_all_chunkings(outer)
    assert any("zip central directory" in issue.message for issue in result.issues)


def test_tensor_storage_records_are_not_searched_for_a_zip_directory() -> None:
    # torch.load reads <archive>/data/<key> as raw tensor bytes; nothing opens it as a file (issue 18: keeping
    # every storage's last bytes cost 10 % of a checkpoint's pass). Its head is still sniffed.
    storage = b"A model card.\n" + HIDDEN_ZIP
    checkpoint = samples.zip_of({"archive/data.pkl": pickle.dumps({"w": 1}, protocol=2),
                                 "archive/version": b"3\n", "archive/data/0": storage})
    result = inspect_all_chunkings(checkpoint)
    assert result.format is Format.PYTORCH_ZIP
    assert not any("zip central directory" in issue.message for issue in result.issues)
    renamed = samples.zip_of({"archive/data.pkl": pickle.dumps({"w": 1}, protocol=2),
                              "archive/version": b"3\n", "archive/extra/0": storage})
    assert any("zip central directory" in issue.message for issue in inspect_all_chunkings(renamed).issues)
