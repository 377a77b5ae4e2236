"""What joblib.load reads between pickle opcodes, computed from the pickle's own values (numpy is never imported).

`joblib.dump` pickles each numpy array as a `joblib.numpy_pickle.NumpyArrayWrapper` (NEWOBJ of the class, then
BUILD with a state dict: subclass, shape, order, dtype, allow_mmap and, since joblib 1.2,
numpy_array_alignment_bytes) and writes the array straight after that BUILD, outside the opcodes. joblib's
NumpyUnpickler intercepts the BUILD and reads, as `NumpyArrayWrapper.read_array` in joblib/numpy_pickle.py does:

- for a dtype with Python objects (`dtype.hasobject`): one complete pickle of the array, with its own stack
  and memo, read by a plain unpickler;
- otherwise, when the state names an alignment: one byte N, N padding bytes (joblib writes 16 - (pos + 1) % 16
  bytes of 0xff), then prod(shape) * dtype.itemsize bytes of data; without an alignment, the data alone.

numpy decides itemsize and hasobject when it unpickles the dtype: `numpy.dtype(code, False, True)` builds it and
the BUILD's state (numpy's `arraydescr_setstate`, versions 3 and 4) sets the flags that make `hasobject`, and,
for the flexible kinds S, U and V, the item size. The classes here track exactly those values; whatever is not
certain (another way of building the dtype or the wrapper, an unknown code, a shape that is not a tuple of
ints, padding joblib never writes) is a reason not to follow the read, which fails the stream closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WRAPPER_CLASS = "joblib.numpy_pickle.NumpyArrayWrapper"
# Any other path to a class of that name (scikit-learn < 0.23 vendored joblib as sklearn.externals.joblib) is
# read raw only by the joblib copy that defines it, so the layout depends on the loader: not followed.
WRAPPER_NAME_SUFFIX = ".NumpyArrayWrapper"
NUMPY_DTYPE_CLASS = "numpy.dtype"

MAX_ARRAY_BYTES = 2**48  # one array's raw data (256 TiB), far beyond any stream the gate reads
MAX_ARRAY_ELEMENTS = 2**63 - 1  # joblib counts elements in numpy int64; more would wrap around in the loader
# joblib aligns to 16. A padding length up to 64, read by a plain pickle.load as an opcode, is at most a stack
# shuffle (MARK, EMPTY_TUPLE, STOP, POP, POP_MARK, DUP) and the 0xff padding after it is no opcode: a file
# followed here cannot smuggle opcodes to a loader that does not know joblib's format.
MAX_ALIGNMENT_BYTES = 64
PADDING_BYTE = 0xFF
MAX_STATE_ITEMS = 16  # keys kept in a wrapper's state dict (joblib writes 6)
NPY_ITEM_HASOBJECT = 0x01
DTYPE_STATE_VERSIONS = (3, 4)  # the state versions whose flags numpy takes as they are
DTYPE_STATE_SIZES = (8, 9)  # (version, endian, subarray, names, fields, elsize, alignment, flags[, metadata])
MAX_DTYPE_FLAGS = 2**64
DTYPE_CODE = re.compile(r"([biufcmMOSUV])([1-9][0-9]{0,9})")  # what numpy's __reduce__ writes: kind + size
# Item sizes numpy.dtype accepts for each fixed-size kind (f12 and c24: the 32-bit x86 long double).
FIXED_ITEMSIZES: dict[str, frozenset[int]] = {
    "b": frozenset({1}), "i": frozenset({1, 2, 4, 8}), "u": frozenset({1, 2, 4, 8}),
    "f": frozenset({2, 4, 8, 12, 16}), "c": frozenset({8, 16, 24, 32}), "m": frozenset({8}), "M": frozenset({8}),
    "O": frozenset({4, 8}),
}
# Flexible kinds: the code counts bytes (S, V) or UCS-4 characters (U); the state's elsize must agree.
FLEXIBLE_UNIT_BYTES = {"S": 1, "V": 1, "U": 4}
DATETIME_KINDS = ("M", "m")
ENDIANS = ("<", ">", "|", "=")


class NumpyDtype:
    """A numpy.dtype the stream creates. Mutable like the real one: every BUILD on it sets its state again."""

    __slots__ = ("_args_problem", "_state_problem", "hasobject", "itemsize", "kind")

    def __init__(self, args: object) -> None:
        self.kind, self.itemsize, self.hasobject = "", 0, False
        self._args_problem: str | None = None
        self._state_problem: str | None = "never gets its state (BUILD)"
        # numpy.dtype(code, align, copy): copy=False would hand out numpy's shared instance for BUILD to change.
        # Python 2 numpy (the joblib 0.9-0.11 files of Python 2 and 3 alike) wrote the flags as the ints 0 and 1,
        # which numpy's bool converter reads the same way.
        if not (isinstance(args, tuple) and len(args) == 3 and _flag(args[1]) is False and _flag(args[2]) is True):
            self._args_problem = "is not built as numpy pickles one, numpy.dtype(code, False, True)"
        else:
            self._args_problem = self._size_from_code(args[0])

    def _size_from_code(self, code: object) -> str | None:
        match = DTYPE_CODE.fullmatch(code) if isinstance(code, str) else None
        if match is None or (match[1] in FIXED_ITEMSIZES and int(match[2]) not in FIXED_ITEMSIZES[match[1]]):
            return f"code {code!r} is not one weightgate knows the item size of"
        self.kind, count = match[1], int(match[2])
        self.itemsize = count * FLEXIBLE_UNIT_BYTES.get(self.kind, 1)
        return None

    @property
    def problem(self) -> str | None:
        """Why itemsize and hasobject are not certain, or None."""
        return self._args_problem or self._state_problem

    def set_state(self, state: object) -> None:
        """BUILD: numpy's __setstate__ with `state`."""
        self._state_problem = self._read_state(state)

    def _read_state(self, state: object) -> str | None:
        if not isinstance(state, tuple) or len(state) not in DTYPE_STATE_SIZES:
            return "state is not the 8- or 9-item tuple numpy writes"
        version, endian, subarray, names, fields, elsize, _alignment, flags = state[:8]
        if type(version) is not int or version not in DTYPE_STATE_VERSIONS:
            return f"state has version {version!r}, not one whose flags numpy keeps ({DTYPE_STATE_VERSIONS})"
        if not isinstance(endian, str) or endian not in ENDIANS:
            return "state has no byte order"
        if subarray is not None:
            return "is a subarray dtype, which no array has at its top level"
        if (names is None) != (fields is None) or (names is not None and self.kind != "V"):
            return "state has field names or fields that do not go together or do not fit its kind"
        if self.kind in FLEXIBLE_UNIT_BYTES and (type(elsize) is not int or elsize != self.itemsize):
            return f"state gives item size {elsize!r} where its code gives {self.itemsize}"  # the state wins
        if self.kind in DATETIME_KINDS and len(state) != max(DTYPE_STATE_SIZES):
            return "is a datetime dtype without its unit"
        hasobject = _hasobject(flags)
        if hasobject is None:
            return f"state has flags {flags!r}, outside what numpy writes"
        if self.kind != "V" and hasobject != (self.kind == "O"):
            return "state's flags disagree with its kind about holding Python objects"
        self.hasobject = hasobject
        return None


def _flag(value: object) -> bool | None:
    """A dtype constructor flag as numpy writes it: a bool, or the int 0 or 1 of Python 2's numpy."""
    if type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    return None


def _hasobject(flags: object) -> bool | None:
    if type(flags) is not int:
        return None
    if -128 <= flags < 0:  # numpy once stored the flags in a signed char, and still accepts that
        flags += 128  # (other values numpy wraps around silently; they are not followed)
    if not 0 <= flags < MAX_DTYPE_FLAGS:
        return None
    return bool(flags & NPY_ITEM_HASOBJECT)


class StateDict:
    """A dict created right after a NumpyArrayWrapper, tracked while SETITEM(S) fill it: the wrapper's state."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: dict[str, object] | None = {}  # None: something went in that is not followed

    def set(self, key: object, value: object) -> None:
        items = self.items
        if items is None:
            return
        if type(key) is not str or (key not in items and len(items) >= MAX_STATE_ITEMS):
            self.items = None  # another key type could compare equal to a name joblib reads
        else:
            items[key] = value

    def spoil(self) -> None:
        self.items = None


class ArrayWrapper:
    """An instance of a NumpyArrayWrapper class. NEWOBJ does not run __init__, so it has no attributes until a
    BUILD fills its __dict__; each later BUILD adds to them, as the unpickler does."""

    __slots__ = ("attrs", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.attrs: dict[str, object] | None = {}  # None: an attribute was set that is not followed

    def build(self, state: object) -> None:
        """pickle's load_build on an object without __setstate__: state, or (state, slotstate)."""
        if self.attrs is None:
            return
        slotstate: object = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slotstate = state
        if not _known_falsy(slotstate):
            self.attrs = None
        elif isinstance(state, StateDict) and state.items is not None:
            if any(key.startswith("__") for key in state.items):
                self.attrs = None  # an instance __setstate__ or the like changes what the next BUILD does
            else:
                self.attrs.update(state.items)
        elif not _known_falsy(state):
            self.attrs = None


def _known_falsy(value: object) -> bool:
    """`if state:` skips these; anything else the walker does not track may be truthy."""
    return value is None or (type(value) in (bool, int, str, tuple) and not value)


@dataclass(frozen=True)
class ArrayRead:
    """What joblib.load reads after a wrapper's BUILD: a nested pickle, or (padding and) raw bytes."""

    nested_pickle: bool
    alignment: int | None  # a padding length byte and that much 0xff padding come first
    data_bytes: int


def array_read(wrapper: ArrayWrapper) -> ArrayRead | str:
    """What joblib.load reads after `wrapper`'s BUILD, or why that is not certain."""
    if wrapper.name != WRAPPER_CLASS:
        return (f"builds a {wrapper.name}; whether the raw array data after it is read depends on which joblib "
                "loads the file")
    attrs = wrapper.attrs
    if attrs is None:
        return "builds a NumpyArrayWrapper whose state is not a plain dict of values the walker tracks"
    dtype = attrs.get("dtype")
    if not isinstance(dtype, NumpyDtype):
        return "builds a NumpyArrayWrapper whose dtype is not a numpy.dtype built in the pickle"
    if dtype.problem:
        return f"builds a NumpyArrayWrapper whose dtype {dtype.problem}"
    count = _element_count(attrs.get("shape"))
    if isinstance(count, str):
        return f"builds a NumpyArrayWrapper whose shape {count}"
    if dtype.hasobject:
        return ArrayRead(nested_pickle=True, alignment=None, data_bytes=0)
    alignment = attrs.get("numpy_array_alignment_bytes")
    if alignment is not None and (type(alignment) is not int or not 1 <= alignment <= MAX_ALIGNMENT_BYTES):
        return f"builds a NumpyArrayWrapper with alignment {alignment!r} (joblib writes 16)"
    data_bytes = count * dtype.itemsize
    if data_bytes > MAX_ARRAY_BYTES:
        return f"builds a NumpyArrayWrapper of {data_bytes} bytes, over the limit of {MAX_ARRAY_BYTES}"
    if alignment is None and data_bytes:
        # Without the padding joblib >= 1.2 writes (0xff bytes, not an opcode), pickle.load or torch.load would
        # run the "array data" as opcodes: a polyglot the walker cannot rule out by stepping over it.
        return (f"is followed by {data_bytes} bytes of raw array data without alignment padding (joblib < 1.2): "
                "another loader would read them as pickle opcodes; re-save the file with joblib >= 1.2")
    return ArrayRead(nested_pickle=False, alignment=alignment, data_bytes=data_bytes)


def _element_count(shape: object) -> int | str:
    """prod(shape) as joblib computes it (1 for a 0-d array), or why it is not certain."""
    if not isinstance(shape, tuple) or any(type(dim) is not int for dim in shape):
        return "is not a tuple of ints"
    if any(not 0 <= dim <= MAX_ARRAY_ELEMENTS for dim in shape):
        return "has a dimension below 0 or beyond int64"
    if 0 in shape:
        return 0
    count = 1
    for dim in shape:
        count *= dim
        if count > MAX_ARRAY_ELEMENTS:  # stop early: a hostile shape must not cost a huge multiplication
            return f"has more than {MAX_ARRAY_ELEMENTS} elements"
    return count
