"""Fuzzing the pickle walker: opcode soup, the pickle module's own output, and mutated torch/joblib pickles,
through the sniffing inspector and straight into PickleInspector (and the legacy torch-tar record layout)."""

from __future__ import annotations

import pickle
import pickletools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats import samples
from formats.pickles import G, call, dumps, torch_checkpoint, torch_state_dict, torch_zip
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
from weightgate.formats.members import Nesting
from weightgate.formats.picklefmt import PickleInspector
from weightgate.formats.sniff import new_inspector

pytestmark = pytest.mark.fuzz

OPCODES = list(pickletools.opcodes)
NAMES = st.sampled_from(["os", "system", "builtins", "eval", "torch._utils", "_rebuild_tensor_v2", "collections",
                         "OrderedDict", "numpy.core.multiarray", "_reconstruct", "__builtin__", "getattr", "x"])


@st.composite
def _argument(draw: st.DrawFn, arg: pickletools.ArgumentDescriptor) -> bytes:
    """Bytes for one opcode argument, mostly well-formed for its type, sometimes an extreme length."""
    name = arg.name
    fixed = {"uint1": "<B", "uint2": "<H", "int4": "<i", "uint4": "<I", "uint8": "<Q", "float8": ">d"}
    if name in fixed:
        fmt = fixed[name]
        size = struct.calcsize(fmt)
        return draw(st.one_of(st.binary(min_size=size, max_size=size),
                              st.sampled_from([b"\x00" * size, b"\xff" * size, b"\x7f" + b"\xff" * (size - 1)])))
    if name in ("stringnl", "stringnl_noescape", "unicodestringnl", "decimalnl_short", "decimalnl_long", "floatnl"):
        text = draw(st.one_of(NAMES, st.text(max_size=12), st.integers().map(str)))
        quoted = f"'{text}'" if name == "stringnl" and draw(st.booleans()) else text
        return quoted.encode("utf-8", "surrogatepass") + b"\n"
    if name == "stringnl_noescape_pair":
        return draw(NAMES).encode() + b"\n" + draw(NAMES).encode() + b"\n"
    widths = {"long1": 1, "string1": 1, "bytes1": 1, "unicodestring1": 1, "long4": 4, "string4": 4, "bytes4": 4,
              "unicodestring4": 4, "bytes8": 8, "unicodestring8": 8, "bytearray8": 8}
    width = widths.get(name, 1)
    payload = draw(st.one_of(NAMES.map(str.encode), st.binary(max_size=24)))
    length = draw(st.one_of(st.just(len(payload)), st.integers(0, 2 ** (8 * width) - 1)))
    signed = "<i" if width == 4 and name in ("long4", "string4") else {1: "<B", 4: "<I", 8: "<Q"}[width]
    if signed == "<i":
        length = min(length, 2**31 - 1)
    return struct.pack(signed, length) + payload


@st.composite
def opcode_soup(draw: st.DrawFn) -> bytes:
    """A PROTO header and a run of opcodes with plausible arguments: the walker's stack and memo logic."""
    out = bytearray(b"\x80" + bytes([draw(st.integers(0, 6))]) if draw(st.booleans()) else b"")
    for _ in range(draw(st.integers(0, 40))):
        op = draw(st.sampled_from(OPCODES))
        out += op.code.encode("latin-1")
        if op.arg is not None:
            out += draw(_argument(op.arg))
    if draw(st.booleans()):
        out += b"."
    return bytes(out)


PLAIN = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
              st.binary(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=20,
)


def _valid_pickles() -> list[bytes]:
    evil = [call("os", "system", "touch CANARY"), call("builtins", "exec", "print(1)"),
            call("subprocess", "Popen", ("id",)), G("builtins", "getattr")]
    built = [dumps(torch_checkpoint(protocol=p), p) for p in range(6)]
    built += [dumps(value, p) for value in evil for p in (0, 2, 4)]
    built += [samples.joblib_pickle(), torch_zip(dumps(torch_state_dict(), 2)), samples.legacy_torch_tar(),
              samples.torch_tar()]
    return built


VALID = seeds_from([lambda data=data: data for data in _valid_pickles()])


@shares_parser(4)
@given(data=opcode_soup(), chunking=CHUNKINGS)
def test_opcode_soup(data: bytes, chunking: tuple[int, ...]) -> None:
    with bounded():
        feed(PickleInspector(Format.PICKLE, Nesting(new_inspector)), data, chunking)
        sniff(data, chunking)


@shares_parser(4)
@given(value=PLAIN, protocol=st.integers(0, 5), edits=st.one_of(st.just([]), EDITS), chunking=CHUNKINGS,
       hint=SIZE_HINTS)
def test_pickle_module_output_mutated(value: object, protocol: int, edits: list, chunking: tuple[int, ...],
                                      hint: tuple[int, int, int]) -> None:
    original = pickle.dumps(value, protocol=protocol)
    mutant = apply_edits(original, edits)
    with bounded():
        result = feed(PickleInspector(Format.PICKLE, Nesting(new_inspector)), mutant, chunking)
        sniff(mutant, chunking, size_hint(hint, len(mutant)))
    if mutant == original:  # unmutated plain data is clean
        assert result.issues == []


@shares_parser(4)
@given(data=mutated(VALID), chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_mutated_torch_joblib_and_malicious_pickles(data: bytes, chunking: tuple[int, ...],
                                                    hint: tuple[int, int, int]) -> None:
    with bounded():
        sniff(data, chunking, size_hint(hint, len(data)))
        feed(PickleInspector(Format.JOBLIB, Nesting(new_inspector)), data, chunking)
        for member in ("storages", "tensors"):  # the legacy torch-tar record layout
            feed(PickleInspector(Format.PICKLE, Nesting(new_inspector).child(member, "tar")), data, chunking)


@shares_parser(4)
@given(data=st.binary(max_size=4096), chunking=CHUNKINGS)
def test_random_bytes_as_a_pickle(data: bytes, chunking: tuple[int, ...]) -> None:
    with bounded():
        feed(PickleInspector(Format.PICKLE, Nesting(new_inspector)), b"\x80\x04" + data, chunking)
