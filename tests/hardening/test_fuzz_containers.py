"""Fuzzing the container walkers: zip (streamed local records + central directory), tar, and compressed
streams (gzip, bzip2, xz, zlib), whose members are sniffed and inspected recursively."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats import samples
from formats.pickles import call, dumps, torch_state_dict, torch_zip
from hardening.fuzzing import (
    CHUNKINGS,
    EDITS,
    SIZE_HINTS,
    apply_edits,
    bounded,
    feed,
    mutated,
    seeds_from,
    shares_parser,
    size_hint,
    sniff,
)
from weightgate.formats import Format
from weightgate.formats.compressed import CompressedInspector
from weightgate.formats.members import Nesting
from weightgate.formats.sniff import new_inspector
from weightgate.formats.tarfmt import TarInspector
from weightgate.formats.zipfmt import ZipInspector

pytestmark = pytest.mark.fuzz

PAYLOAD = dumps(call("os", "system", "touch CANARY"), 2)
NAMES = st.one_of(st.sampled_from(["archive/data.pkl", "archive/version", "config.json", "a/../../b", "/abs",
                                   "model.safetensors", "x.npy", "nested.zip", "storages", "pickle"]),
                  st.text(min_size=1, max_size=12).filter(lambda n: "\0" not in n))  # writers cut names at NUL
CONTENT = st.one_of(st.binary(max_size=256), st.sampled_from([PAYLOAD, samples.safetensors_file(),
                                                              samples.gguf_file(), b"{}", bytes(600)]))
MEMBERS = st.dictionaries(NAMES, CONTENT, max_size=5)
COMPRESSORS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress, "zlib": zlib.compress}


def _zip_seeds() -> list[bytes]:
    return [samples.torch_zip(), samples.keras_v3_zip(), samples.npz(), samples.zip_of({}),
            torch_zip(dumps(torch_state_dict(), 2), compression=zipfile.ZIP_DEFLATED),
            samples.zip_of({"inner.zip": samples.zip_of({"p.pkl": PAYLOAD})}, zipfile.ZIP_DEFLATED)]


def _tar_seeds() -> list[bytes]:
    return [samples.torch_tar(), samples.legacy_torch_tar(), samples.tar_of({"a.pkl": PAYLOAD, "d/b": bytes(700)}),
            samples.tar_of({"x": b"y"}, fmt=0), samples.tar_of({"long/" * 30 + "name": b"z"})]


def _compressed_seeds() -> list[bytes]:
    inner = [PAYLOAD, samples.tar_of({"a.pkl": PAYLOAD}), samples.safetensors_file()]
    return [compress(data) for compress in COMPRESSORS.values() for data in inner]


ZIPS = seeds_from([lambda d=d: d for d in _zip_seeds()])
TARS = seeds_from([lambda d=d: d for d in _tar_seeds()])
COMPRESSED = seeds_from([lambda d=d: d for d in _compressed_seeds()])


MAYBE_EDITS = st.one_of(st.just([]), EDITS)
Hint = tuple[int, int, int]


@shares_parser(2)
@given(members=MEMBERS, deflate=st.booleans(), edits=MAYBE_EDITS, chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_zip_written_then_mutated(members: dict[str, bytes], deflate: bool, edits: list, chunking: tuple[int, ...],
                                  hint: Hint) -> None:
    archive = apply_edits(samples.zip_of(members, zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED), edits)
    with bounded():
        feed(ZipInspector(Nesting(new_inspector)), archive, chunking)
        sniff(archive, chunking, size_hint(hint, len(archive)))


@shares_parser(2)
@given(data=st.one_of(mutated(ZIPS), st.binary(max_size=2048).map(lambda b: b"PK\x03\x04" + b)),
       chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_zip_seeds_mutated_and_random(data: bytes, chunking: tuple[int, ...], hint: Hint) -> None:
    with bounded():
        feed(ZipInspector(Nesting(new_inspector)), data, chunking)
        sniff(data, chunking, size_hint(hint, len(data)))


@given(members=MEMBERS, edits=MAYBE_EDITS, seed=mutated(TARS), random=st.binary(max_size=2048),
       which=st.integers(0, 2), chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_tar_written_then_mutated(members: dict[str, bytes], edits: list, seed: bytes, random: bytes, which: int,
                                  chunking: tuple[int, ...], hint: Hint) -> None:
    archive = samples.tar_of(members)
    data = (apply_edits(archive, edits), seed, random)[which]
    with bounded():
        feed(TarInspector(Nesting(new_inspector)), data, chunking)
        sniff(data, chunking, size_hint(hint, len(data)))


@given(kind=st.sampled_from(sorted(COMPRESSORS)), plain=st.one_of(st.binary(max_size=512), st.just(PAYLOAD)),
       edits=EDITS, seed=mutated(COMPRESSED), random=st.binary(max_size=1024), which=st.integers(0, 2),
       chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_compressed_streams_mutated(kind: str, plain: bytes, edits: list, seed: bytes, random: bytes, which: int,
                                    chunking: tuple[int, ...], hint: Hint) -> None:
    stream = COMPRESSORS[kind](plain)
    data = (apply_edits(stream, edits), seed, stream[:6] + random)[which]
    fmt = {"gzip": Format.GZIP, "bzip2": Format.BZIP2, "xz": Format.XZ, "zlib": Format.JOBLIB}[kind]
    with bounded():
        feed(CompressedInspector(fmt, Nesting(new_inspector)), data, chunking)
        sniff(data, chunking, size_hint(hint, len(data)))
