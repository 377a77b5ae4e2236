"""The streaming walker: bounded memory and limits, long arguments skipped, layouts between pickles."""

from __future__ import annotations

import struct
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from weightgate.formats import Format, pickle_walk
from weightgate.formats.members import Nesting
from weightgate.formats.pickle_allowlist import denied_family
from weightgate.formats.pickle_walk import PickleWalker
from weightgate.formats.picklefmt import PickleInspector, PlainLayout
from weightgate.formats.sniff import new_inspector

from .feeding import inspect_all_chunkings, inspect_bytes
from .pickles import G, NewObj, call, dumps, torch_state_dict

MIB = 1024 * 1024


def walk(data: bytes, chunk: int = MIB) -> pickle_walk.WalkResult:
    walker = PickleWalker(PlainLayout(), keep_always=lambda name: denied_family(name) is not None)
    for at in range(0, len(data), chunk):
        walker.feed(data[at : at + chunk])
    return walker.finish()


def _tensor_pickle_pieces(tensor_bytes: int, tensors: int) -> Iterator[bytes]:
    """A legacy-style pickle whose tensors are inline BINBYTES8 (what protocol-4+ pickles of big bytes
    hold), generated piece by piece so the test itself never holds it whole."""
    yield b"\x80\x04\x95" + struct.pack("<Q", 2) + b"}("  # FRAME around EMPTY_DICT, MARK
    zeros = bytes(MIB)
    for index in range(tensors):
        key = f"t{index}".encode()
        yield b"\x8c" + bytes([len(key)]) + key + b"\x8e" + struct.pack("<Q", tensor_bytes)
        for _ in range(tensor_bytes // MIB):
            yield zeros
    yield b"u" + dumps(call("os", "system", "id"), 4, frame=False)[2:-1] + b"0."  # SETITEMS, a payload, POP


def test_a_200_mib_pickle_of_tensor_bytes_is_walked_in_bounded_memory() -> None:
    inspector = new_inspector(-1)
    tracemalloc.start()
    started = time.monotonic()
    try:
        for piece in _tensor_pickle_pieces(50 * MIB, 4):
            inspector.feed(memoryview(piece))
        result = inspector.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.format is Format.PICKLE
    assert [issue.rule.id for issue in result.issues] == ["WG502"]  # the payload after 200 MiB is found
    assert peak < 8 * MIB  # each piece is at most 1 MiB; nothing of the tensor bytes is kept
    assert time.monotonic() - started < 30


def test_long_string_arguments_are_skipped_not_kept() -> None:
    big = "x" * (pickle_walk.MAX_KEPT_STRING + 1)
    result = inspect_all_chunkings(dumps(NewObj(G(big, "Name"), ()), 4))
    assert [issue.rule.id for issue in result.issues] == ["WG501"]
    assert "not strings written in the pickle" in result.issues[0].message


def test_protocol_0_lines_longer_than_the_line_limit() -> None:
    module = "m" * (pickle_walk.MAX_LINE_BYTES * 3)
    data = b"c" + module.encode() + b"\nsystem\n(tR."
    result = inspect_all_chunkings(data, chunkings=[1, 7, 4096, MIB])
    assert [issue.rule.id for issue in result.issues] == ["WG501"]
    assert "longer than" in result.issues[0].message


@pytest.mark.parametrize(
    ("limit", "value", "data"),
    [
        ("MAX_MEMO_ENTRIES", 10, b"\x80\x04" + b"N\x94" * 20 + b"."),
        ("MAX_STACK_ITEMS", 10, b"\x80\x04" + b"N" * 20 + b"."),
        ("MAX_MARK_DEPTH", 10, b"\x80\x04" + b"(" * 20 + b"N."),
        ("MAX_OPCODES", 10, b"\x80\x04" + b"N0" * 20 + b"N."),
    ],
    ids=["memo", "stack", "marks", "opcodes"],
)
def test_resource_limits_are_findings(monkeypatch: pytest.MonkeyPatch, limit: str, value: int, data: bytes) -> None:
    monkeypatch.setattr(pickle_walk, limit, value)
    result = inspect_bytes(data)
    assert [issue.rule.id for issue in result.issues] == ["WG505"]
    assert f"{value}" in result.issues[0].message


def test_globals_seen_before_a_limit_are_still_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickle_walk, "MAX_STACK_ITEMS", 50)
    data = dumps([call("os", "system", "id")] + [None] * 100, 2)
    assert [issue.rule.id for issue in inspect_bytes(data).issues] == ["WG502", "WG505"]


def test_memo_string_budget_makes_later_names_unresolved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickle_walk, "MAX_MEMO_STRING_CHARS", 4)
    # "os" and "system" are memoized, dropped, and fetched back: "os" fits the budget, "system" does not.
    data = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x940h\x00h\x01\x93)R."
    result = walk(data)
    assert [item.opcode for item in result.unresolved] == ["STACK_GLOBAL"]


def test_distinct_globals_beyond_the_listing_limit_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickle_walk, "MAX_DISTINCT_GLOBALS", 3)
    value = [NewObj(G("lib", f"C{i}"), ()) for i in range(5)] + [call("os", "system", "id")]
    result = walk(dumps(value, 2))
    assert [ref.name for ref in result.references] == ["lib.C0", "lib.C1", "lib.C2", "os.system"]  # denied kept
    assert result.more_globals == 2


def test_walk_is_the_same_for_every_chunking() -> None:
    data = dumps({"m": torch_state_dict(), "x": call("builtins", "exec", "1")}, 4)
    results = [walk(data, chunk) for chunk in (1, 2, 3, 7, 64, MIB)]
    assert all(result == results[0] for result in results)


def test_object_array_data_is_walked_directly_whatever_it_looks_like() -> None:
    inspector = PickleInspector(Format.PICKLE, Nesting(new_inspector))
    inspector.feed(memoryview(b"not a pickle"))
    assert [issue.rule.id for issue in inspector.finish().issues] == ["WG503"]
