"""Fuzzing the header parsers: safetensors (length + JSON header + data layout), GGUF (metadata key/values,
arrays, tensor infos), numpy .npy (magic, version, Python-literal header), parquet's footer and HDF5's
signature search. Each header is generated field by field (so most cases reach deep into the parser), then
mutated."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats import samples
from hardening.fuzzing import (
    CHUNKINGS,
    INTERESTING_INTS,
    SIZE_HINTS,
    bounded,
    feed,
    mutated,
    seeds_from,
    size_hint,
    sniff,
)
from weightgate.formats.gguf import GgufInspector
from weightgate.formats.hdf5 import Hdf5Inspector
from weightgate.formats.members import Nesting
from weightgate.formats.numpyfmt import NpyInspector
from weightgate.formats.parquet import ParquetInspector
from weightgate.formats.safetensors_header import SafetensorsInspector
from weightgate.formats.sniff import new_inspector

pytestmark = pytest.mark.fuzz

DTYPES = ["F32", "F16", "BF16", "I64", "U8", "BOOL", "F8_E4M3", "X9", ""]
COUNTS = st.one_of(st.integers(0, 8), st.sampled_from(INTERESTING_INTS), st.integers(-3, -1))
JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                 st.text(max_size=8)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                       max_leaves=8)


@st.composite
def safetensors_files(draw: st.DrawFn) -> bytes:
    entries: dict[str, object] = {}
    for name in draw(st.lists(st.text(max_size=6), max_size=4, unique=True)):
        entry = {"dtype": draw(st.sampled_from(DTYPES)), "shape": draw(st.lists(COUNTS, max_size=3)),
                 "data_offsets": draw(st.lists(COUNTS, min_size=2, max_size=2))}
        entries[name] = draw(st.one_of(st.just(entry), JSONISH))
    if draw(st.booleans()):
        entries["__metadata__"] = draw(st.one_of(st.dictionaries(st.text(max_size=5), st.text(max_size=5)), JSONISH))
    header = json.dumps(entries).encode()
    header += b" " * draw(st.integers(0, 8))
    length = draw(st.one_of(st.just(len(header)), st.sampled_from(INTERESTING_INTS)))
    return struct.pack("<Q", length) + header + draw(st.binary(max_size=128))


GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


@st.composite
def gguf_value(draw: st.DrawFn, value_type: int, depth: int = 0) -> bytes:
    if value_type in GGUF_SCALARS:
        size = struct.calcsize(GGUF_SCALARS[value_type])
        return draw(st.binary(min_size=size, max_size=size))
    if value_type == samples.GGUF_STRING:
        text = draw(st.one_of(st.text(max_size=16), st.just(samples.CHAT_TEMPLATE),
                              st.just("{{ ''.__class__.__mro__[1].__subclasses__() }}")))
        raw = text.encode("utf-8", "surrogatepass")
        length = draw(st.one_of(st.just(len(raw)), st.sampled_from(INTERESTING_INTS)))
        return struct.pack("<Q", length) + raw
    if value_type == samples.GGUF_ARRAY and depth < 3:
        item_type = draw(st.sampled_from([*GGUF_SCALARS, samples.GGUF_STRING, samples.GGUF_ARRAY, 13, 2**31]))
        items = draw(st.lists(gguf_value(item_type, depth + 1), max_size=4))
        count = draw(st.one_of(st.just(len(items)), st.sampled_from(INTERESTING_INTS)))
        return struct.pack("<IQ", item_type % 2**32, count) + b"".join(items)
    return draw(st.binary(max_size=8))


@st.composite
def gguf_files(draw: st.DrawFn) -> bytes:
    keys = st.one_of(st.sampled_from(["general.architecture", "general.alignment", "tokenizer.chat_template",
                                      "tokenizer.chat_template.tool_use", "tokenizer.ggml.tokens"]),
                     st.text(max_size=10))
    kv = []
    for _ in range(draw(st.integers(0, 5))):
        value_type = draw(st.sampled_from([*GGUF_SCALARS, samples.GGUF_STRING, samples.GGUF_ARRAY, 13, 99]))
        kv.append(samples.gguf_kv(draw(keys), value_type, draw(gguf_value(value_type))))
    data = samples.gguf_file(tensor_count=draw(COUNTS.filter(lambda n: n >= 0)), kv=kv,
                             kv_count=draw(st.one_of(st.none(), COUNTS.filter(lambda n: n >= 0))))
    version = draw(st.sampled_from([1, 2, 3, 0, 4, 2**31, 0x03000000]))
    return data[:4] + struct.pack("<I", version) + data[8:]


NPY_SEEDS = seeds_from([
    lambda: samples.npy(np.arange(6, dtype="<f4").reshape(2, 3)),
    lambda: samples.npy(np.zeros(3, dtype=[("x", "<i4"), ("y", "<f8", (2,))])),
    lambda: samples.npy(np.array([{"a": 1}, None], dtype=object), allow_pickle=True),
    lambda: samples.npy(np.array(["abc"], dtype="U3")),
])


@st.composite
def npy_files(draw: st.DrawFn) -> bytes:
    descr = draw(st.one_of(st.sampled_from(["<f4", "|O", "<U3", "|b1", "<M8[s]", "V7", ">i8", "|S0", "x"]),
                           st.lists(st.tuples(st.text(max_size=3), st.sampled_from(["<i4", "|O", "<f8"])), max_size=3)))
    shape = tuple(draw(st.lists(COUNTS, max_size=3)))
    header = draw(st.one_of(
        st.just(repr({"descr": descr, "fortran_order": draw(st.booleans()), "shape": shape})),
        st.text(max_size=60).map(lambda t: "{" + t + "}"),
        st.just("{'descr': " + "[" * 200 + "]" * 200 + "}"),
    ))
    raw = header.encode("latin-1", "replace") + b"\n"
    major = draw(st.sampled_from([1, 2, 3, 0, 255]))
    width = 2 if major == 1 else 4
    length = draw(st.one_of(st.just(len(raw)), st.sampled_from([0, 1, 0xFFFF, 2**31 - 1])))
    length = min(length, 2 ** (8 * width) - 1)
    buf = io.BytesIO()
    buf.write(b"\x93NUMPY" + bytes([major, 0]) + length.to_bytes(width, "little") + raw)
    buf.write(draw(st.binary(max_size=64)))
    return buf.getvalue()


@given(data=st.one_of(safetensors_files(), mutated(safetensors_files())), chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_safetensors(data: bytes, chunking: tuple[int, ...], hint: tuple[int, int, int]) -> None:
    hint = size_hint(hint, len(data))
    with bounded():
        feed(SafetensorsInspector(hint), data, chunking)
        sniff(data, chunking, hint)


@given(data=st.one_of(gguf_files(), mutated(gguf_files()), mutated(st.just(samples.gguf_file()))),
       chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_gguf(data: bytes, chunking: tuple[int, ...], hint: tuple[int, int, int]) -> None:
    hint = size_hint(hint, len(data))
    with bounded():
        feed(GgufInspector(hint), data, chunking)
        sniff(data, chunking, hint)


@given(data=st.one_of(npy_files(), mutated(npy_files()), mutated(NPY_SEEDS)), chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_numpy_header(data: bytes, chunking: tuple[int, ...], hint: tuple[int, int, int]) -> None:
    with bounded():
        feed(NpyInspector(Nesting(new_inspector)), data, chunking)
        sniff(data, chunking, size_hint(hint, len(data)))


@given(data=st.one_of(st.binary(max_size=2048).map(lambda b: b"PAR1" + b + b"PAR1"),
                      mutated(st.just(samples.hdf5_file())), st.binary(max_size=2048).map(lambda b: b + b"\x89HDF")),
       chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_parquet_and_hdf5(data: bytes, chunking: tuple[int, ...], hint: tuple[int, int, int]) -> None:
    hint = size_hint(hint, len(data))
    with bounded():
        feed(ParquetInspector(hint), data, chunking)
        feed(Hdf5Inspector(hint), data, chunking)
        sniff(data, chunking, hint)
