"""joblib files: the walker steps over the array data joblib writes between opcodes, and judges what follows.

Benign files are written by joblib.dump itself, from builtins and numpy only (all allowlisted, joblib's
NumpyArrayWrapper included: the walker steps over exactly what joblib.load reads after it); the pre-1.2 layout
without alignment padding is what joblib.dump still writes to a stream it cannot `tell()` in. Hostile and odd
files are assembled from opcodes (tests/formats/pickles.py) with the raw array bytes inserted after the wrapper's
BUILD the way joblib writes them (NumpyArrayWrapper.write_array in joblib/numpy_pickle.py).
"""

from __future__ import annotations

import io
import os
import struct

import joblib
import numpy as np
import pytest
from hypothesis import given

from hardening.fuzzing import CHUNKINGS, bounded, feed, mutated, seeds_from, shares_parser, sniff
from weightgate.formats import Format, pickle_walk
from weightgate.formats.joblib_arrays import NumpyDtype
from weightgate.formats.members import Nesting
from weightgate.formats.picklefmt import PickleInspector
from weightgate.formats.sniff import new_inspector

from .feeding import inspect_all_chunkings, inspect_bytes
from .pickles import Build, Call, G, NewObj, Raw, call, dumps
from .samples import zip_of

WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"


class Unseekable(io.RawIOBase):
    """A write-only stream without tell(): joblib.dump then writes arrays without alignment padding."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk) -> int:  # type: ignore[override]
        self.data += chunk
        return len(chunk)

    def tell(self) -> int:
        raise io.UnsupportedOperation("tell")


def joblib_dump(value: object, protocol: int | None = None, compress: object = 0, aligned: bool = True) -> bytes:
    if aligned:
        buf = io.BytesIO()
        joblib.dump(value, buf, compress=compress, protocol=protocol)
        return buf.getvalue()
    out = Unseekable()
    joblib.dump(value, out, protocol=protocol)
    return bytes(out.data)


def rule_ids(data: bytes) -> list[str]:
    return [issue.rule.id for issue in inspect_all_chunkings(data).issues]


def assert_walked_to_the_end(data: bytes, arrays: int, array_bytes: int) -> dict[str, str]:
    """Nothing is reported; every array was stepped over."""
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == []
    assert result.format is Format.JOBLIB
    assert result.details["joblib_arrays"] == str(arrays)
    assert result.details["joblib_array_bytes"] == str(array_bytes)
    return result.details


PLAIN_ARRAYS = {
    "weights": np.linspace(0, 1, 12, dtype=np.float64).reshape(3, 4),
    "ids": np.arange(7, dtype=np.int32),
    "mask": np.array([True, False, True]),
    "fortran": np.asfortranarray(np.ones((3, 5), dtype=">i2")),
    "half": np.ones(3, dtype=np.float16),
    "long_double": np.ones(2, dtype=np.longdouble),
    "complex": np.ones(2, dtype=np.complex128),
    "bytes": np.array([b"ab", b"xyz"]),
    "text": np.array(["ab", "c"]),
    "void": np.zeros(2, dtype="V7"),
    "dates": np.array(["2020-01-01", "2021-06-30"], dtype="M8[D]"),
    "durations": np.array([1, 2], dtype="m8[s]"),
    "scalar": np.array(5.0),
    "empty": np.zeros((0, 3)),
}


def nbytes(arrays: list[np.ndarray]) -> int:
    return sum(array.nbytes for array in arrays if not array.dtype.hasobject)


# --- benign: walked to the end ---------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_dict_of_arrays_of_every_fixed_and_flexible_dtype(protocol: int) -> None:
    data = joblib_dump(PLAIN_ARRAYS, protocol)
    details = assert_walked_to_the_end(data, len(PLAIN_ARRAYS), nbytes(list(PLAIN_ARRAYS.values())))
    assert {"numpy.dtype", "numpy.ndarray", WRAPPER} <= set(details["pickle_globals"].split(","))


@pytest.mark.parametrize("protocol", [2, 4])
def test_array_data_without_alignment_padding_is_not_stepped_over(protocol: int) -> None:
    """joblib < 1.2 wrote array bytes straight after the BUILD: pickle.load or torch.load would run them as
    opcodes, so skipping them as joblib does could hide a payload from every other loader (fail closed)."""
    data = joblib_dump(PLAIN_ARRAYS, protocol, aligned=False)
    assert len(data) < len(joblib_dump(PLAIN_ARRAYS, protocol)) - len(PLAIN_ARRAYS)  # no padding was written
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG505"]
    assert "without alignment padding" in result.issues[-1].message


def fitted_model_like() -> dict[str, object]:
    """The shape of a fitted scikit-learn estimator's state, in builtins and numpy only: parameters, fitted
    arrays, a list of trees whose nodes are a structured array (as sklearn's Tree keeps them), object arrays."""
    node = np.dtype([("left_child", "<i8"), ("right_child", "<i8"), ("feature", "<i8"), ("threshold", "<f8"),
                     ("impurity", "<f8"), ("n_node_samples", "<i8"), ("weighted_n_node_samples", "<f8"),
                     ("missing_go_to_left", "u1")], align=True)
    trees = [{"max_depth": 3, "node_count": 5, "nodes": np.zeros(5, dtype=node), "values": np.ones((5, 1, 2))}
             for _ in range(3)]
    return {"params": {"n_estimators": 3, "criterion": "gini", "max_features": "sqrt", "random_state": 0},
            "n_features_in_": 4, "classes_": np.array(["no", "yes"]), "n_outputs_": 1,
            "feature_names_in_": np.array(["a", "b", "c", "d"], dtype=object),
            "estimators_": trees, "oob_score_": 0.75, "coef_": np.ones((1, 4)), "_sklearn_version": "1.5.0"}


def test_a_fitted_model_like_object_graph() -> None:
    value = fitted_model_like()
    arrays = [value["classes_"], value["feature_names_in_"], value["coef_"]]
    arrays += [tree[key] for tree in value["estimators_"] for key in ("nodes", "values")]  # type: ignore[attr-defined]
    assert_walked_to_the_end(joblib_dump(value), len(arrays), nbytes(arrays))  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["zlib", "gzip", "bz2", "xz"])
def test_compressed_joblib_files(method: str) -> None:
    value = fitted_model_like()
    result = inspect_bytes(joblib_dump(value, compress=(method, 3)))
    assert [issue.rule.id for issue in result.issues] == []
    assert result.details["inner_format"] == "joblib"
    assert result.details["joblib_arrays"] == "9"


def test_an_object_array_is_walked_as_the_nested_pickle_joblib_writes() -> None:
    objects = np.array([{"k": 1}, None, "text", (1, 2)], dtype=object)
    data = joblib_dump({"objects": objects, "after": np.arange(3)}, protocol=4)
    assert data.count(b"\x80\x05") == 1  # the object array's own pickle, protocol 5, right after its BUILD
    assert_walked_to_the_end(data, 2, 3 * 8)


def test_the_same_wrapper_built_twice_is_read_twice() -> None:
    # The unpickler's memo keeps the wrapper; a second BUILD on it makes joblib.load read a second array.
    first = wrapper(shape=(2,))
    data = dumps([first, raw(bytes(16)), Build(Raw(b"h\x03"), {"shape": (1,)}), raw(bytes(8), padding=3)], 4,
                 frame=False)  # memo 3: the wrapper, after its module and class names and the class
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == []
    assert result.details["joblib_arrays"] == "2"


# --- what comes after the arrays is judged -----------------------------------------------------------------


class Payload:
    """Pickles as os.system('touch CANARY'), as a hostile object in a model's state would. Only ever dumped."""

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("touch CANARY",))


@pytest.mark.parametrize(("name", "data"), [
    ("after an aligned array", lambda: joblib_dump({"w": np.ones((64, 64)), "x": Payload()})),
    ("after an object array", lambda: joblib_dump({"o": np.array([None, 1], dtype=object), "x": Payload()})),
    ("after an empty array", lambda: joblib_dump([np.zeros((0, 5)), Payload()], protocol=2)),
    ("inside a compressed file", lambda: joblib_dump([np.ones(1000), Payload()], compress=("gzip", 3))),
    ("hand-built, named os.system", lambda: dumps([wrapper(), raw(bytes(16)), call("os", "system", "id")], 4,
                                                  frame=False)),
])
def test_a_payload_after_array_data_is_found(name: str, data) -> None:
    # Before the walker stepped over array data, the walk stopped at the first array (WG505) and never saw it.
    result = inspect_all_chunkings(data())
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert "(processes and the operating system)" in result.issues[-1].message
    assert "not inspected" not in " ".join(issue.message for issue in result.issues)


# --- hand-built wrappers: the state joblib writes, and every way of leaving it --------------------------------


def dtype(code: str = "f8", state: tuple[object, ...] = (3, "<", None, None, None, -1, -1, 0),
          args: tuple[object, ...] | None = None) -> object:
    """numpy.dtype as numpy pickles it: REDUCE of numpy.dtype(code, False, True), then BUILD with its state."""
    return Build(Call(G("numpy", "dtype"), (code, False, True) if args is None else args), state)


def wrapper(shape: object = (2,), dtype_node: object = None, alignment: object = 16,
            cls: G = G("joblib.numpy_pickle", "NumpyArrayWrapper"), **extra: object) -> Build:
    """NEWOBJ of the wrapper class and BUILD with the state dict joblib.dump writes."""
    state = {"subclass": G("numpy", "ndarray"), "shape": shape, "order": "C", "dtype": dtype_node or dtype(),
             "allow_mmap": True, **extra}
    if alignment is not None:
        state["numpy_array_alignment_bytes"] = alignment
    return Build(NewObj(cls, ()), state)


def raw(data: bytes, padding: int | None = 5, fill: bytes = b"\xff") -> Raw:
    """The bytes joblib writes after the BUILD: a padding length, the padding, the array data."""
    return Raw((b"" if padding is None else bytes([padding]) + fill * padding) + data)


def hand_built(*items: object, protocol: int = 4) -> bytes:
    """A list of items, as joblib.dump([...]) lays it out, with the frames left out."""
    return dumps([*items, "end"], protocol, frame=False)


def test_hand_built_arrays_with_padding_and_an_empty_one_without() -> None:
    data = hand_built(wrapper((2,)), raw(bytes(16)), wrapper((3, 0), alignment=None), raw(b"", None),
                      wrapper((), dtype("U3", (3, "<", None, None, None, 12, 4, 8))), raw(bytes(12), padding=16))
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == []
    assert result.details["joblib_array_bytes"] == str(16 + 12)


def test_a_hand_built_array_without_padding_stops_the_walk() -> None:
    data = hand_built(wrapper((2,)), raw(bytes(16)), wrapper((3, 1), alignment=None), raw(bytes(24), None),
                      call("os", "system", "id"))
    assert rule_ids(data) == ["WG505"]


NOT_FOLLOWED = [
    ("unknown dtype code", wrapper(dtype_node=dtype("x9")), "code 'x9' is not one weightgate knows"),
    ("structured dtype from a string", wrapper(dtype_node=dtype("f8,i4")), "code 'f8,i4'"),
    ("fixed-size code of a size numpy has not", wrapper(dtype_node=dtype("i3")), "code 'i3'"),
    ("dtype built without copy", wrapper(dtype_node=dtype(args=("f8", False, False))),
     "numpy.dtype(code, False, True)"),
    ("dtype without its state", wrapper(dtype_node=Call(G("numpy", "dtype"), ("f8", False, True))),
     "never gets its state"),
    ("dtype state of an old numpy version", wrapper(dtype_node=dtype(state=(2, "<", None, None, None, -1, -1, 0))),
     "version 2"),
    ("float dtype whose flags say objects", wrapper(dtype_node=dtype(state=(3, "<", None, None, None, -1, -1, 63))),
     "disagree with its kind"),
    ("object dtype whose flags say none", wrapper(dtype_node=dtype("O8", (3, "|", None, None, None, -1, -1, 0))),
     "disagree with its kind"),
    ("flags numpy rejects", wrapper(dtype_node=dtype(state=(3, "<", None, None, None, -1, -1, -200))),
     "flags -200"),
    ("subarray dtype", wrapper(dtype_node=dtype("V16", (3, "|", (dtype(), (2,)), None, None, 16, 8, 0))),
     "subarray"),
    ("flexible dtype whose state gives another size", wrapper(dtype_node=dtype("S4", (3, "|", None, None, None,
                                                                                      400, 1, 0))),
     "item size 400"),
    ("datetime without its unit", wrapper(dtype_node=dtype("M8")), "datetime dtype without its unit"),
    ("dtype that is a string", wrapper(dtype_node="f8"), "dtype is not a numpy.dtype"),
    ("shape as a list", wrapper(shape=[2]), "shape is not a tuple of ints"),
    ("negative dimension", wrapper(shape=(-2, -3)), "below 0"),
    ("float dimension", wrapper(shape=(2.0,)), "not a tuple of ints"),
    ("shape over int64", wrapper(shape=(2**40, 2**40)), "more than"),
    ("data over the byte limit", wrapper(shape=(2**46, 8)), "over the limit"),
    ("alignment of 0", wrapper(alignment=0), "alignment 0"),
    ("alignment beyond 64", wrapper(alignment=4096), "alignment 4096"),
    ("alignment that is a bool", wrapper(alignment=True), "alignment True"),
    ("state dict with a dunder key", wrapper(__setstate__=1), "not a plain dict"),
    ("state dict with a key that is not a string", Build(NewObj(G("joblib.numpy_pickle", "NumpyArrayWrapper")),
                                                         {1: 2}), "not a plain dict"),
    ("state that is not a dict", Build(NewObj(G("joblib.numpy_pickle", "NumpyArrayWrapper"), ()), [1]),
     "not a plain dict"),
    ("wrapper made by calling the class", Build(Call(G("joblib.numpy_pickle", "NumpyArrayWrapper"), ()), {}),
     "uses a NumpyArrayWrapper class in REDUCE"),
    ("wrapper made through copyreg", Build(Call(G("copyreg", "_reconstructor"),
                                                (G("joblib.numpy_pickle", "NumpyArrayWrapper"), G("builtins", "object"),
                                                 None)), {}),
     "NumpyArrayWrapper class in TUPLE"),
    ("wrapper passed to a call", Call(G("builtins", "list"), (NewObj(G("joblib.numpy_pickle", "NumpyArrayWrapper")),)),
     "uses a NumpyArrayWrapper in TUPLE"),
    ("BUILD on the class itself", Build(G("joblib.numpy_pickle", "NumpyArrayWrapper"), (None, {"read": 1})),
     "uses a NumpyArrayWrapper class in BUILD"),
    ("scikit-learn's vendored joblib", wrapper(cls=G("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper")),
     "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper; whether the raw array data"),
]


@pytest.mark.parametrize(("name", "node", "fragment"), NOT_FOLLOWED, ids=[case[0] for case in NOT_FOLLOWED])
def test_what_the_walker_cannot_account_for_fails_closed(name: str, node: object, fragment: str) -> None:
    data = hand_built(node, raw(bytes(16)), call("os", "system", "id"))
    result = inspect_all_chunkings(data)
    incomplete = [issue for issue in result.issues if issue.rule.id == "WG505"]
    assert len(incomplete) == 1, result.issues
    assert fragment in incomplete[0].message
    assert "where joblib.load's array data ends is not known" in incomplete[0].message


BAD_PADDING = [
    ("padding length 0", raw(bytes(16), padding=0), "padding length of 0"),
    ("padding longer than the alignment", raw(bytes(16), padding=17), "padding length of 17"),
    ("padding that is not 0xff", raw(bytes(16), padding=8, fill=b"N"), "not the 0xff bytes"),
]


@pytest.mark.parametrize(("name", "data", "fragment"), BAD_PADDING, ids=[case[0] for case in BAD_PADDING])
def test_padding_joblib_never_writes_fails_closed(name: str, data: Raw, fragment: str) -> None:
    # joblib.load skips any padding; pickle.load would run it as opcodes. Only joblib's own is stepped over.
    result = inspect_all_chunkings(hand_built(wrapper(), data))
    assert [issue.rule.id for issue in result.issues] == ["WG505"]
    assert fragment in result.issues[-1].message


def test_a_frame_around_the_array_data_fails_closed() -> None:
    # The unpickler holds a frame in memory while joblib reads the file after it: the two would disagree.
    data = dumps([wrapper(), raw(bytes(16)), "end"], 4)  # one FRAME over everything, raw bytes included
    result = inspect_all_chunkings(data)
    assert [issue.rule.id for issue in result.issues] == ["WG505"]
    assert "inside a pickle frame" in result.issues[-1].message


def test_an_object_array_without_its_pickle_is_malformed() -> None:
    # Object dtype: joblib.load unpickles what follows; raw float bytes there break that pickle, and the walk.
    objects = dtype("O8", (3, "|", None, None, None, -1, -1, 63))
    result = inspect_all_chunkings(hand_built(wrapper(dtype_node=objects), raw(np.full(2, -1.0).tobytes(), None)))
    assert [issue.rule.id for issue in result.issues] == ["WG503"]
    assert "byte 0x00 at offset" in result.issues[-1].message


def test_a_payload_inside_an_object_array_is_found() -> None:
    result = inspect_all_chunkings(joblib_dump({"o": np.array([Payload(), 1], dtype=object), "w": np.ones(2)}))
    assert [issue.rule.id for issue in result.issues] == ["WG502"]
    assert result.details["joblib_arrays"] == "2"


def test_a_nested_pickle_that_names_the_wrapper_fails_closed() -> None:
    objects = dtype("O8", (3, "|", None, None, None, -1, -1, 63))
    nested = dumps(NewObj(G("joblib.numpy_pickle", "NumpyArrayWrapper")), 5, frame=False)
    result = inspect_all_chunkings(hand_built(wrapper(dtype_node=objects), Raw(nested)))
    assert [issue.rule.id for issue in result.issues] == ["WG505"]
    assert "inside the nested pickle of an object array" in result.issues[-1].message


def test_too_many_tracked_objects_is_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickle_walk, "MAX_FOLLOWED_OBJECTS", 5)
    result = inspect_all_chunkings(joblib_dump([np.ones(2)] * 3))
    assert [issue.rule.id for issue in result.issues] == ["WG505"]
    assert "more than 5 numpy dtypes and joblib arrays (limit)" in result.issues[-1].message


# --- truncated and lying arrays --------------------------------------------------------------------------------


def test_truncated_array_data_is_malformed() -> None:
    data = joblib_dump({"w": np.ones(1000)})
    cut = data[:-100]  # inside the 8000 data bytes
    result = inspect_all_chunkings(cut)
    assert [issue.rule.id for issue in result.issues] == ["WG503"]
    assert "inside the raw data of a joblib array" in result.issues[-1].message


def test_truncated_inside_the_padding_is_malformed() -> None:
    data = hand_built(wrapper(), raw(bytes(16), padding=8))
    result = inspect_all_chunkings(data[: data.index(b"\x08" + b"\xff" * 8) + 4])
    assert [issue.rule.id for issue in result.issues] == ["WG503"]
    assert "truncated" in result.issues[-1].message


def test_a_shape_that_runs_past_the_end_of_the_file_is_malformed() -> None:
    data = joblib_dump({"w": np.ones(3), "x": Payload()}, protocol=2)  # no frames to keep consistent
    lying = data.replace(b"K\x03\x85", b"J" + struct.pack("<i", 10**6) + b"\x85", 1)  # shape (3,) -> (10**6,)
    assert lying != data
    result = inspect_all_chunkings(lying)
    assert [issue.rule.id for issue in result.issues] == ["WG503"]
    assert "runs to offset" in result.issues[-1].message


def test_a_shape_that_is_too_small_leaves_array_bytes_to_be_read_as_opcodes() -> None:
    data = joblib_dump({"w": np.full(4, -1.0)}, protocol=2)  # -1.0 starts with zero bytes: no pickle opcode
    short = data.replace(b"K\x04\x85", b"K\x01\x85", 1)
    assert [issue.rule.id for issue in inspect_all_chunkings(short).issues] == ["WG503"]


# --- where joblib.load is not the loader, nothing is stepped over ------------------------------------------------


def test_in_a_second_pickle_the_array_data_is_not_stepped_over() -> None:
    # joblib.load reads one pickle; what follows is read by loaders of pickle sequences (legacy torch.save),
    # which read no raw data after a BUILD.
    data = joblib_dump({"w": np.ones(3)}, protocol=2)
    result = inspect_all_chunkings(dumps(1, 2) + data)
    assert [issue.rule.id for issue in result.issues] == ["WG503"]
    assert "joblib_arrays" not in result.details


def test_inside_a_zip_the_array_data_is_not_stepped_over() -> None:
    # torch.load and pickle.load read no raw data after a BUILD; only a file joblib.load opens is followed.
    result = inspect_bytes(zip_of({"model/data.pkl": joblib_dump({"w": np.ones(3)})}))
    ids = [issue.rule.id for issue in result.issues]
    assert ids == ["WG505"]
    assert "steps over only in a pickle file of its own" in result.issues[-1].message



# --- fuzzing: mutated joblib files through both doors ------------------------------------------------------------

JOBLIB_SEEDS = seeds_from([
    lambda: joblib_dump(PLAIN_ARRAYS),
    lambda: joblib_dump(PLAIN_ARRAYS, 2, aligned=False),
    lambda: joblib_dump(fitted_model_like()),
    lambda: joblib_dump({"o": np.array([{"k": 1}, None], dtype=object), "w": np.ones(3), "x": Payload()}),
    lambda: joblib_dump(fitted_model_like(), compress=("zlib", 3)),
    lambda: hand_built(wrapper(), raw(bytes(16)), wrapper(alignment=None), raw(bytes(16), None)),
])


@pytest.mark.fuzz
@shares_parser(4)
@given(data=mutated(JOBLIB_SEEDS), chunking=CHUNKINGS)
def test_mutated_joblib_files(data: bytes, chunking: tuple[int, ...]) -> None:
    with bounded():
        sniff(data, chunking)
        feed(PickleInspector(Format.JOBLIB, Nesting(new_inspector)), data, chunking)


@pytest.mark.parametrize(("flags", "followed"), [
    ((False, True), True), ((0, 1), True),  # Python 3's numpy, and Python 2's (joblib 0.9-0.11 files)
    ((0, 2), False), ((None, True), False), ((1, 1), False),  # near misses: not how numpy pickles a dtype
])
def test_dtype_constructor_flags_python_2_wrote_as_ints_are_followed(flags: tuple[object, object],
                                                                      followed: bool) -> None:
    dtype = NumpyDtype(("i8", *flags))
    dtype.set_state((3, "<", None, None, None, -1, -1, 0))
    assert (dtype.problem is None) is followed
