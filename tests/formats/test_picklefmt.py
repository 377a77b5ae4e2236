"""Pickle inspection: every protocol's benign pickles pass; every dangerous family is named, with its offset.

Hostile pickles are assembled from opcodes (tests/formats/pickles.py); where a case pins a known scanner
bypass, the test cites the advisory.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import lzma
import pickle
import pickletools
import zlib

import numpy as np
import pytest

from weightgate.formats import Format

from .feeding import inspect_all_chunkings, inspect_bytes
from .pickles import Build, Call, G, NewObj, OrderedDictOf, call, dumps, torch_checkpoint, torch_state_dict

PROTOCOLS = range(6)


def rule_ids(data: bytes) -> list[str]:
    return [issue.rule.id for issue in inspect_all_chunkings(data).issues]


def global_offsets(data: bytes) -> list[int]:
    """Offsets of the opcodes that import globals, as pickletools reads them (the independent oracle)."""
    return [pos for op, _, pos in pickletools.genops(data) if op.name in ("GLOBAL", "STACK_GLOBAL", "INST")]


# --- benign: zero findings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_torch_like_checkpoint_has_no_findings(protocol: int) -> None:
    result = inspect_all_chunkings(dumps(torch_checkpoint(protocol=protocol), protocol))
    assert result.issues == []
    assert result.format is Format.PICKLE
    assert "torch._utils._rebuild_tensor_v2" in result.details["pickle_globals"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pickle_module_output_of_plain_data_has_no_findings(protocol: int) -> None:
    data = {"weights": [0.5, -1.0, 3], "config": collections.OrderedDict(depth=2, act="gelu"), "ids": {1, 2},
            "frozen": frozenset({"a"}), "raw": b"\x00\xff" * 10, "buf": bytearray(b"x"), "c": 1 + 2j,
            "nested": ((1, (2, (3,))), None, True), "text": "ünï" * 400, "big": 2**100, "r": range(3),
            "s": slice(1, 9, 2)}
    assert rule_ids(pickle.dumps(data, protocol=protocol)) == []


@pytest.mark.parametrize("protocol", range(2, 6))
def test_numpy_pickles_of_arrays_and_scalars_have_no_findings(protocol: int) -> None:
    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "o": np.array([{"k": 1}, None], dtype=object),
            "s": np.float64(1.5), "d": np.dtype("<i8")}
    assert rule_ids(pickle.dumps(data, protocol=protocol)) == []


def test_torch_save_state_dict_when_torch_is_installed() -> None:
    torch = pytest.importorskip("torch")  # the opcode-built checkpoints above are the always-run benign set
    import io

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2, 2), "b": torch.nn.Parameter(torch.ones(3))}, buf,
               _use_new_zipfile_serialization=False)
    assert [issue.rule.id for issue in inspect_bytes(buf.getvalue()).issues] == []


# --- dangerous families --------------------------------------------------------------------------------------

DENIED = [
    ("os", "system", "processes and the operating system"),
    ("posix", "system", "processes and the operating system"),
    ("nt", "system", "processes and the operating system"),
    ("subprocess", "Popen", "processes and the operating system"),
    ("pty", "spawn", "processes and the operating system"),
    ("sys", "exit", "processes and the operating system"),
    ("ctypes", "CDLL", "processes and the operating system"),
    ("builtins", "eval", "code execution"),
    ("builtins", "exec", "code execution"),
    ("builtins", "compile", "code execution"),
    ("code", "InteractiveInterpreter", "code execution"),
    ("types", "CodeType", "code execution"),
    ("types", "FunctionType", "code execution"),
    ("builtins", "__import__", "imports and code loading"),
    ("importlib", "import_module", "imports and code loading"),
    ("runpy", "run_path", "imports and code loading"),
    ("pip", "main", "imports and code loading"),  # CVE-2025-1716: picklescan did not deny pip
    ("pkgutil", "resolve_name", "imports and code loading"),  # a universal gadget against denylists
    ("marshal", "loads", "imports and code loading"),
    ("torch.jit", "load", "imports and code loading"),
    ("torch.hub", "load", "imports and code loading"),
    ("pickle", "loads", "nested deserialization"),
    ("_pickle", "loads", "nested deserialization"),
    ("torch", "load", "nested deserialization"),
    ("torch.serialization", "load", "nested deserialization"),
    ("numpy", "load", "nested deserialization"),
    ("joblib", "load", "nested deserialization"),
    ("dill", "loads", "nested deserialization"),
    ("builtins", "open", "files and the network"),
    ("shutil", "rmtree", "files and the network"),
    ("socket", "create_connection", "files and the network"),
    ("requests", "get", "files and the network"),
    ("urllib.request", "urlopen", "files and the network"),
    ("webbrowser", "open", "files and the network"),
    ("builtins", "getattr", "attribute access gadgets"),
    ("operator", "attrgetter", "attribute access gadgets"),
    ("operator", "methodcaller", "attribute access gadgets"),
    ("functools", "partial", "attribute access gadgets"),
    # CVE-2025-10157: a dangerous module reached through a submodule or class slipped past picklescan.
    ("asyncio.unix_events", "_UnixSubprocessTransport", "processes and the operating system"),
    ("mylib.utils", "load", "nested deserialization"),  # any module's `load` is a nested loader
    ("collections", "OrderedDict.__class__", "object internals (dunder attributes)"),
]


@pytest.mark.parametrize("protocol", [0, 2, 4])
@pytest.mark.parametrize(("module", "name", "family"), DENIED, ids=[f"{m}.{n}" for m, n, _ in DENIED])
def test_denied_globals_are_named_with_family_opcode_and_offset(module: str, name: str, family: str,
                                                                protocol: int) -> None:
    data = dumps(call(module, name, "id"), protocol)
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    issue = result.issues[0]
    assert f"{module}.{name} ({family})" in issue.message
    evidence = dict(issue.evidence)
    assert evidence["global"] == f"{module}.{name}"
    assert evidence["opcode"] == ("STACK_GLOBAL" if protocol >= 4 else "GLOBAL")
    assert int(evidence["offset"]) == global_offsets(data)[0]


def test_python2_names_are_mapped_as_the_unpickler_maps_them() -> None:
    result = inspect_all_chunkings(dumps(call("__builtin__", "eval", "1"), 2))
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert "builtins.eval (code execution)" in result.issues[0].message
    assert "written as __builtin__.eval" in result.issues[0].message


NOT_ALLOWLISTED = [
    ("__main__", "Payload"),
    ("mypackage.layers", "CustomLayer"),
    ("numpy.testing._private.utils", "runstring"),  # exec in disguise; off the allowlist either way
    ("collections", "OrderedDict.fromkeys"),  # dotted attribute of an allowlisted class is not allowlisted
    ("torch.nn.modules.linear", "Linear"),  # a whole module object, not a state dict
]


@pytest.mark.parametrize(("module", "name"), NOT_ALLOWLISTED, ids=[f"{m}.{n}" for m, n in NOT_ALLOWLISTED])
def test_globals_off_the_allowlist(module: str, name: str) -> None:
    result = inspect_all_chunkings(dumps(NewObj(G(module, name), ()), 4))
    assert [issue.rule.id for issue in result.issues] == ["WG501"]
    assert f"pickle global {module}.{name} is not allowlisted" in result.issues[0].message


def test_each_distinct_global_is_reported_once_with_counts() -> None:
    value = [call("os", "system", "a"), call("os", "system", "b"), call("mylib", "Thing")]
    result = inspect_all_chunkings(dumps(value, 2))
    assert [issue.rule.id for issue in result.issues] == ["WG502", "WG501"]
    assert "referenced 2 times, called 2 times" in result.issues[0].message


# --- how names reach STACK_GLOBAL -----------------------------------------------------------------------------


MEMO_OPCODES = {  # (put index, get index) for each memo opcode family
    "BINPUT/BINGET": (lambda i: b"q" + bytes([i]), lambda i: b"h" + bytes([i])),
    "LONG_BINPUT/LONG_BINGET": (lambda i: b"r" + i.to_bytes(4, "little"), lambda i: b"j" + i.to_bytes(4, "little")),
    "PUT/GET": (lambda i: b"p%d\n" % i, lambda i: b"g%d\n" % i),
}


@pytest.mark.parametrize("family", MEMO_OPCODES)
def test_stack_global_names_that_come_through_the_memo(family: str) -> None:
    # A known picklescan bypass class: scanners that only read the strings right before STACK_GLOBAL.
    # "os" and "system" are memoized and dropped, then fetched back from the memo for STACK_GLOBAL.
    put, get = MEMO_OPCODES[family]
    data = (b"\x80\x04\x8c\x02os" + put(0) + b"0\x8c\x06system" + put(1) + b"0" + get(0) + get(1)
            + b"\x93\x8c\x02id\x85R.")
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert "os.system" in result.issues[0].message


def test_memoize_indexes_follow_the_memo_size() -> None:
    data = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93)R."
    assert rule_ids(data) == ["WG502"]


def test_names_computed_at_load_time_cannot_be_named() -> None:
    module = call("builtins", "str", "os")  # an allowlisted call whose result feeds STACK_GLOBAL
    data = b"\x80\x04" + dumps(module, 4, frame=False)[2:-1] + b"\x8c\x06system\x93)R."
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG501"]
    assert "STACK_GLOBAL at byte" in result.issues[0].message
    assert "cannot be known statically" in result.issues[0].message
    assert "global" not in dict(result.issues[0].evidence)  # nothing a policy entry could match


def test_getattr_gadget_reports_the_gadget_and_the_unnamed_call() -> None:
    # __reduce__ returning (getattr(__import__('os'), 'system'), ('id',)): the bypass shape of many advisories.
    gadget = Call(call("builtins", "getattr", call("builtins", "__import__", "os"), "system"), ("id",))
    result = inspect_all_chunkings(dumps(gadget, 2))
    assert [issue.rule.id for issue in result.issues] == ["WG502", "WG502", "WG501"]
    assert "calls a value that is not a named global" in result.issues[2].message


def test_a_call_whose_result_is_popped_is_still_reported() -> None:
    # fickling once lost calls whose result was POPped; the walker records the global at import time.
    data = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R0N."
    assert rule_ids(data) == ["WG502"]


def test_build_on_a_global_itself_is_reported() -> None:
    data = dumps(Build(G("collections", "OrderedDict"), (None, {"__reduce__": 1})), 2)
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG501"]
    assert "sets attributes on the global collections.OrderedDict itself" in result.issues[0].message


def test_build_on_an_allowlisted_instance_is_fine() -> None:
    assert rule_ids(dumps(torch_state_dict(), 2)) == []


@pytest.mark.parametrize(
    ("data", "opcode"),
    [(b"(S'id'\nios\nsystem\n.", "INST"), (b"(cos\nsystem\nS'id'\no.", "GLOBAL")],
    ids=["INST", "OBJ"],
)
def test_protocol_0_inst_and_obj(data: bytes, opcode: str) -> None:
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert dict(result.issues[0].evidence)["opcode"] == opcode


def test_newobj_ex_target_is_judged() -> None:
    data = b"\x80\x04\x8c\x05mylib\x8c\x03Obj\x93)}\x92."
    assert rule_ids(data) == ["WG501"]


@pytest.mark.parametrize(("opcode", "arg", "code"), [(b"\x82", b"\x07", 7), (b"\x83", b"\x01\x01", 257),
                                                     (b"\x84", b"\xff\xff\xff\x7f", 2**31 - 1)])
def test_extension_opcodes(opcode: bytes, arg: bytes, code: int) -> None:
    result = inspect_all_chunkings(b"\x80\x02" + opcode + arg + b")R.")
    assert [issue.rule.id for issue in result.issues] == ["WG504"]
    assert f"extension code {code}" in result.issues[0].message


# --- several pickles, broken pickles -----------------------------------------------------------------------------


def test_concatenated_pickles_are_all_walked() -> None:
    benign = pickle.dumps({"a": 1}, protocol=2)
    result = inspect_all_chunkings(benign + benign + dumps(call("os", "system", "id"), 4))
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert result.details["pickles"] == "3"


def test_a_second_pickle_without_stop_is_truncated() -> None:
    benign = pickle.dumps({"a": 1}, protocol=2)
    result = inspect_all_chunkings(benign + dumps(call("os", "system", "id"), 2)[:-1])
    assert [issue.rule.id for issue in result.issues] == ["WG502", "WG503"]
    assert "before the pickle's STOP" in result.issues[1].message


def test_garbage_after_a_pickle_is_malformed() -> None:
    result = inspect_all_chunkings(pickle.dumps([1, 2], protocol=2) + b"\xff\xfe trailing")
    assert [issue.rule.id for issue in result.issues] == ["WG503"]
    assert "byte 0xff at offset" in result.issues[0].message


def test_bytes_after_stop_inside_its_frame_are_malformed() -> None:
    # A file without peek() starts the next load after the frame, a buffered file right after STOP: what the
    # second load reads depends on the file object, so the walker refuses to pick one.
    first = pickle.dumps([1], protocol=4)
    assert first[2] == 0x95 and first.endswith(b".")  # one FRAME, ending with STOP
    frame_len = int.from_bytes(first[3:11], "little")
    hidden = b"cos\nsystem\n."  # 13 bytes inside the frame, after STOP
    data = first[:3] + (frame_len + len(hidden)).to_bytes(8, "little") + first[11:] + hidden
    result = inspect_all_chunkings(data)
    assert "WG503" in [issue.rule.id for issue in result.issues]
    assert any("before the end of its frame" in issue.message for issue in result.issues)


def test_protocol_4_sequences_end_each_frame_with_stop() -> None:
    data = b"".join(pickle.dumps(value, protocol=4) for value in ([1, 2], {"a": "b"}, "x" * 100))
    assert inspect_all_chunkings(data).issues == []


@pytest.mark.parametrize("tail", [b"\n", b"\r\n", b" \n\t"])
def test_whitespace_a_writer_appends_after_the_last_stop_is_passed(tail: bytes) -> None:
    # numpy's numpy_2_0_array.pkl: pickle.load stops at STOP; a sequential loader fails on the newline
    assert inspect_all_chunkings(pickle.dumps([1, 2], protocol=2) + tail).issues == []


@pytest.mark.parametrize("tail", [b"\n\nx", b"\n" + b" " * 64, b"\ncos\nsystem\n."])
def test_anything_past_the_trailing_whitespace_is_still_malformed(tail: bytes) -> None:
    result = inspect_all_chunkings(pickle.dumps([1, 2], protocol=2) + tail)
    assert "WG503" in [issue.rule.id for issue in result.issues]


BROKEN_AFTER_DANGER = [
    ("truncated before STOP", dumps(call("os", "system", "id"), 2)[:-1], "truncated"),
    ("cut inside an argument", dumps([call("os", "system", "id"), "x" * 100], 2)[:-30], "truncated"),
    ("invalid opcode", dumps(call("os", "system", "id"), 2)[:-1] + b"\xff.", "not a pickle opcode"),
    ("stack underflow", dumps(call("os", "system", "id"), 2)[:-1] + b"00000.", "has no MARK to pop to"),
    ("empty stack at STOP", dumps(call("os", "system", "id"), 2)[:-1] + b"0.", "pops an empty stack"),
    ("memo miss", dumps(call("os", "system", "id"), 2)[:-1] + b"h\xf0.", "never set"),
    ("unsupported protocol", dumps(call("os", "system", "id"), 2)[:-1] + b"\x80\x09.", "protocol 9"),
]


@pytest.mark.parametrize(("name", "data", "fragment"), BROKEN_AFTER_DANGER, ids=[c[0] for c in BROKEN_AFTER_DANGER])
def test_a_stream_broken_after_a_dangerous_opcode_reports_both(name: str, data: bytes, fragment: str) -> None:
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG502", "WG503"]
    assert fragment in result.issues[1].message


def test_frames_are_checked() -> None:
    frame = b"\x95" + (100).to_bytes(8, "little")
    data = b"\x80\x04" + frame + b"N" + frame + b"."  # a second frame before the first one ends
    assert "starts before the previous frame ends" in inspect_bytes(data).issues[0].message


def test_huge_memo_index_is_a_miss_not_an_allocation() -> None:
    data = b"\x80\x04N\x94j\x00\x00\x00\x80."  # LONG_BINGET 2**31
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG503"]
    assert "memo index 2147483648" in result.issues[0].message


def test_sparse_memo_indexes_are_fine() -> None:
    data = b"\x80\x02Nr\xff\xff\xff\x7f0j\xff\xff\xff\x7f."  # LONG_BINPUT/LONG_BINGET 2**31-1
    assert rule_ids(data) == []


# --- legacy torch.save streams, joblib ---------------------------------------------------------------------------


def legacy_torch_stream(obj: object) -> bytes:
    """torch.save(_use_new_zipfile_serialization=False): magic, protocol, sys_info, object, keys, storages."""
    magic = dumps(0x1950A86A20F9469CFC6C, 2)
    sys_info = pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    keys = pickle.dumps(["0", "1", "p", "s"], protocol=2)
    storages = (4).to_bytes(8, "little") + bytes(16)
    return magic + dumps(1001, 2) + sys_info + dumps(obj, 2) + keys + storages * 4


def test_legacy_torch_stream_stops_at_its_raw_storages() -> None:
    result = inspect_all_chunkings(legacy_torch_stream(torch_state_dict()))
    assert result.issues == []
    assert result.details["pickle_layout"] == "pytorch-legacy"
    assert result.details["pickles"] == "5"
    assert result.details["raw_bytes_after_pickles"] == str(4 * 24)


def test_legacy_torch_stream_with_a_payload_in_its_object() -> None:
    data = legacy_torch_stream({"w": torch_state_dict(1), "x": call("builtins", "exec", "import os")})
    assert rule_ids(data) == ["WG502"]


def test_legacy_torch_stream_cut_before_its_last_pickle() -> None:
    data = legacy_torch_stream(torch_state_dict(1))
    cut = data[: data.index(pickle.dumps(["0", "1", "p", "s"], protocol=2))]
    result = inspect_all_chunkings(cut)
    assert [issue.rule.id for issue in result.issues] == ["WG503"]
    assert "ends after 4 of its 5 pickles" in result.issues[0].message


@pytest.mark.parametrize("compress", [lambda d: zlib.compress(d, 3), gzip.compress, bz2.compress, lzma.compress],
                         ids=["zlib", "gzip", "bzip2", "xz"])
def test_compressed_pickles_are_walked(compress) -> None:
    # joblib.dump(compress=...) output; the same bytes named model.bin are a pickle all the same.
    payload = dumps(call("os", "system", "id"), 4)
    result = inspect_all_chunkings(compress(payload))
    assert result.format is Format.JOBLIB
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert result.issues[0].message.endswith(f"content: pickle global os.system (processes and the operating "
                                             f"system) (STACK_GLOBAL at byte {global_offsets(payload)[0]}, called)")


def test_joblib_array_wrapper_is_allowlisted_and_old_joblib_wrappers_are_not() -> None:
    # NumpyArrayWrapper's array data is stepped over exactly; NDArrayWrapper (joblib < 0.10) reads a file whose
    # name the pickle gives.
    data = dumps(NewObj(G("joblib.numpy_pickle", "NumpyArrayWrapper"), ()), 4)
    result = inspect_all_chunkings(data)
    assert result.format is Format.JOBLIB
    assert [issue.rule.id for issue in result.issues] == []
    old = inspect_all_chunkings(dumps(NewObj(G("joblib.numpy_pickle", "NDArrayWrapper"), ()), 4))
    assert [issue.rule.id for issue in old.issues] == ["WG501"]


def test_joblib_array_data_that_cannot_be_sized_stops_the_walk_as_incomplete_not_malformed() -> None:
    # joblib.dump of an array: the wrapper's BUILD, then raw array bytes inside the pickle stream. Without a
    # dtype in the state their size is unknown (tests/formats/test_joblib.py steps over the ones that are known).
    wrapper = Build(NewObj(G("joblib.numpy_pickle", "NumpyArrayWrapper"), ()), {"shape": (2,), "order": "C"})
    data = dumps(wrapper, 4, frame=False)[:-1] + b"\x01\xff" + np.arange(2, dtype="<f8").tobytes() + b"."
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG505"]
    assert "dtype is not a numpy.dtype built in the pickle" in result.issues[0].message
    assert "where joblib.load's array data ends is not known" in result.issues[0].message


def test_globals_are_recorded_as_facts() -> None:
    data = dumps({"m": torch_state_dict(1), "o": OrderedDictOf((("a", 1),))}, 2)
    details = inspect_all_chunkings(data).details
    assert details["pickle_globals"].split(",")[:3] == ["collections.OrderedDict",
                                                         "torch._utils._rebuild_tensor_v2", "torch.FloatStorage"]
    assert details["persistent_ids"] == "4"


def test_python_2_names_of_plain_instances_are_mapped_and_allowed() -> None:
    # What Python 2's pickle.dumps(obj, 0) writes for an instance of a new-style class (here the class is
    # collections.OrderedDict, allowlisted): copy_reg._reconstructor with base __builtin__.object.
    data = (b"ccopy_reg\n_reconstructor\n(ccollections\nOrderedDict\nc__builtin__\nobject\nNtR.")
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == []
    assert "copyreg._reconstructor" in result.details["pickle_globals"]
    evil = data.replace(b"ccollections\nOrderedDict", b"cos\nsystem")  # near miss: the class is judged
    assert [issue.rule.id for issue in inspect_all_chunkings(evil).issues] == ["WG502"]
