"""A streaming pickle opcode walker: what a pickle would import and call, without unpickling anything.

The walker is fed the stream in chunks of any size and keeps only what resolving globals needs: a symbolic
stack and memo holding short strings, small integers, flat tuples and the globals themselves; everything
else is one opaque placeholder. Long arguments (tensor bytes, big strings) are skipped as they pass, never
stored. It follows the CPython unpickler's stack rules (MARK/POP semantics, memo misses, protocol checks),
so where the unpickler would fail the walker reports the stream as malformed, after recording everything it
saw before that point. Several pickles in one stream are walked one after the other (legacy `torch.save`
writes five, then raw storage bytes); a `Layout` says what may follow each STOP.

Where joblib.load is the loader (`follow_joblib`), the walker also reads the stream the way joblib's
NumpyUnpickler does: after the BUILD of each NumpyArrayWrapper it steps over the array's padding and raw bytes,
or walks the nested pickle of an object array, exactly as `joblib_arrays` computes them, and then goes on
with the next opcode. The wrapper class, its instances and their state dicts are tracked values; used in any
way joblib.dump never writes, the walk stops as not followed rather than guess where the raw data ends.

Names are resolved as the unpickler resolves them: GLOBAL and INST carry them as text, STACK_GLOBAL takes
them from the stack (so they may come from the memo), and under protocols 0-2 Python 2 names are mapped to
Python 3 ones (`__builtin__.eval` is `builtins.eval`). A name the walker cannot know statically (a computed
string, a callable returned by another call) is reported as unresolved, never guessed.
"""

from __future__ import annotations

import functools
import pickletools
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from weightgate.formats import pickleargs
from weightgate.formats.joblib_arrays import (
    NUMPY_DTYPE_CLASS,
    PADDING_BYTE,
    WRAPPER_NAME_SUFFIX,
    ArrayWrapper,
    NumpyDtype,
    StateDict,
    array_read,
)

MAX_KEPT_STRING = 1024  # longer string arguments are skipped, never kept (module and global names are short)
MAX_LINE_BYTES = 4096  # protocol-0 text arguments longer than this are skipped without being buffered
MAX_STACK_ITEMS = 1_000_000
MAX_MARK_DEPTH = 100_000
MAX_MEMO_ENTRIES = 2_000_000
MAX_MEMO_STRING_CHARS = 8 * 1024 * 1024  # strings kept in the memo; beyond this they are opaque
MAX_OPCODES = 100_000_000
MAX_DISTINCT_GLOBALS = 4096
MAX_UNRESOLVED = 20
MAX_EXTENSIONS = 20
MAX_TRAILING_SPACE = 64  # whitespace a writer may leave after the last STOP; more is not a stray newline
_TRAILING_SPACE = b" \t\r\n"
MAX_TUPLE_KEPT = 9  # tuples up to this size keep their items (numpy dtype states have 8 or 9)
MAX_FOLLOWED_OBJECTS = 200_000  # numpy dtypes, joblib array wrappers and their state dicts tracked per stream
MAX_INT_BYTES_KEPT = 16  # the legacy torch magic number is a 10-byte LONG1
HIGHEST_PROTOCOL = 5
NAME_MAPPING_BELOW_PROTOCOL = 3  # the unpickler maps Python 2 names only for protocols 0-2

_LINE, _COUNTED = -100, -200


@dataclass(frozen=True)
class GlobalValue:
    """A callable or class the stream imported, by its resolved dotted name."""

    name: str


@dataclass(frozen=True)
class WrapperClass(GlobalValue):
    """A NumpyArrayWrapper class: joblib.load reads raw array data after the BUILD of its instances."""


class _Opaque:
    """Any value the walker does not track."""

    def __repr__(self) -> str:
        return "<opaque>"


OPAQUE = _Opaque()
UNNAMED = _Opaque()  # the result of an import the walker could not name (already reported)
_MISSING = object()


@dataclass
class Reference:
    """One distinct global the stream names: where it first appears and how often it is used."""

    name: str
    written: str  # as written in the stream, when the Python 2 mapping changed it
    opcode: str
    offset: int
    count: int = 1
    calls: int = 0


@dataclass(frozen=True)
class Unresolved:
    """An import or call whose target the walker cannot name."""

    opcode: str
    offset: int
    reason: str


@dataclass(frozen=True)
class Extension:
    code: int
    opcode: str
    offset: int


@dataclass
class WalkResult:
    references: list[Reference] = field(default_factory=list)
    more_globals: int = 0  # distinct globals beyond MAX_DISTINCT_GLOBALS, not listed
    unresolved: list[Unresolved] = field(default_factory=list)
    more_unresolved: int = 0
    extensions: list[Extension] = field(default_factory=list)
    malformed: str | None = None
    after_opcode: str = ""  # the last opcode walked before the stream broke
    limit: str | None = None
    not_followed: str | None = None  # joblib array data the walker cannot step over with certainty
    follows_joblib: bool = False
    joblib_arrays: int = 0  # arrays joblib.load reads between opcodes, stepped over
    joblib_array_bytes: int = 0  # their raw data bytes (without padding and object arrays' pickles)
    pickles: int = 0
    protocol: int | None = None
    persistent_ids: int = 0
    layout: str = "pickle"
    unparsed_bytes: int = 0  # bytes after the walk stopped (raw data a layout expects, or after a problem)


# --- layouts: what may follow each STOP ----------------------------------------------------------------------


@dataclass(frozen=True)
class RawGap:
    """Raw bytes between two pickles: a header of `header` bytes, then `size(header)` more bytes."""

    header: int
    size: Callable[[bytes], int | None]
    then_end: bool = False  # no pickle follows the gap


@dataclass(frozen=True)
class Step:
    kind: str  # NEXT: another pickle or the end; RAW_REST: everything after is raw; END: nothing may follow
    gap: RawGap | None = None
    problem: str | None = None


NEXT, RAW_REST, END = Step("next"), Step("raw-rest"), Step("end")


class Layout(Protocol):
    name: str

    def after_stop(self, index: int, value: object) -> Step:
        """What follows pickle number `index` (0-based), whose result is `value`."""

    def at_end(self, pickles: int) -> str | None:
        """A problem when the stream ends after `pickles` complete pickles, or None."""


# --- the walker --------------------------------------------------------------------------------------------


class _Stop(Exception):
    """The walk cannot go on (malformed stream or limit); the reason is already recorded."""


@dataclass(frozen=True)
class _Spec:
    name: str
    width: int  # fixed argument bytes; _LINE or _COUNTED otherwise
    lines: int = 0
    length_width: int = 0
    signed: bool = False


def _specs() -> dict[int, _Spec]:
    counted = {pickletools.TAKEN_FROM_ARGUMENT1: (1, False), pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
               pickletools.TAKEN_FROM_ARGUMENT4U: (4, False), pickletools.TAKEN_FROM_ARGUMENT8U: (8, False)}
    specs = {}
    for op in pickletools.opcodes:
        code = op.code.encode("latin-1")[0]
        n = op.arg.n if op.arg is not None else 0
        if n == pickletools.UP_TO_NEWLINE:
            lines = 2 if op.arg is not None and op.arg.name == "stringnl_noescape_pair" else 1
            specs[code] = _Spec(op.name, _LINE, lines=lines)
        elif n in counted:
            specs[code] = _Spec(op.name, _COUNTED, length_width=counted[n][0], signed=counted[n][1])
        else:
            specs[code] = _Spec(op.name, n)
    return specs


_SPECS = _specs()
_SKIPPED = b"\x00<skipped>"  # stands for an argument too long to keep
_Arg = bytes | tuple[bytes, bytes]


class _Memo:
    """The unpickler's memo, compact for the sequential indexes real pickles use."""

    def __init__(self) -> None:
        self._dense: list[object] = []
        self._sparse: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self._dense) + len(self._sparse)

    def put(self, index: int, value: object) -> None:
        dense = self._dense
        if index < len(dense):
            dense[index] = value
            return
        if index > len(dense):
            self._sparse[index] = value
            return
        self._sparse.pop(index, None)
        dense.append(value)
        while len(dense) in self._sparse:  # indexes put out of order join the dense part once reached
            dense.append(self._sparse.pop(len(dense)))

    def get(self, index: int) -> object:
        if 0 <= index < len(self._dense):
            return self._dense[index]
        return self._sparse.get(index, _MISSING)


@dataclass
class _ArrayPrefix:
    """The padding joblib writes before an array's raw bytes: a length byte, then that many 0xff bytes."""

    alignment: int
    data_bytes: int
    padding: int | None = None  # the length, once its byte is read
    left: int = 0  # padding bytes still to check


@dataclass(frozen=True)
class _OuterPickle:
    """The unpickler state of the pickle an object array's nested pickle interrupts."""

    stack: list[object]
    metastack: list[list[object]]
    items: int
    memo: _Memo
    memo_chars: int
    proto: int


@dataclass
class _JoblibReads:
    """Where the walker is in following joblib.load. One attribute of the walker: beyond 30 attributes CPython
    stops sharing instance dict keys, and every attribute access of the opcode handlers gets slower."""

    follow: bool
    objects: int = 0  # dtypes, wrappers and state dicts tracked
    prefix: _ArrayPrefix | None = None  # padding before an array's raw bytes, being read
    array_end: int = 0  # where the raw bytes of the last array stepped over end
    outer: _OuterPickle | None = None  # set while an object array's nested pickle is walked


_FOLLOWED_TYPES = frozenset({WrapperClass, ArrayWrapper, StateDict})  # values joblib.dump uses in one way only


class PickleWalker:
    """Feed it every byte of a pickle stream, in order; `finish()` returns what it saw."""

    def __init__(self, layout: Layout, keep_always: Callable[[str], bool] = lambda name: False,
                 follow_joblib: bool = False) -> None:
        self._layout = layout
        self._keep_always = keep_always  # names recorded even beyond MAX_DISTINCT_GLOBALS (denied ones)
        self.result = WalkResult(layout=layout.name, follows_joblib=follow_joblib)
        self._tracking = False  # a NumpyArrayWrapper class was named: pops check for tracked values
        self._joblib = _JoblibReads(follow_joblib)
        self._refs: dict[str, Reference] = {}
        self._table = _opcode_table()
        self._interrupted = False
        self._offset = 0  # stream offset of the first byte not yet parsed (the start of the carry)
        self._total = 0
        self._raw_from: int | None = None  # where raw data the layout expects begins
        self._carry = b""
        self._skip = 0  # bytes of a long argument still to pass
        self._line_skip = 0  # newlines still to pass in a long text argument
        self._gap: RawGap | None = None  # a raw gap whose header is being read
        self._gap_header = b""
        self._stopped = False  # a problem or limit ended the walk; or the rest is raw
        self._end_expected = False  # the layout allows no more bytes
        self._opcodes = 0
        self._last_opcode = ""
        self._frame_end = 0
        self._in_pickle = False
        self._trailing = False  # past the last STOP, in whitespace a writer appended (numpy's test pickles)
        self._trailing_bytes = 0
        self._new_pickle()

    def _new_pickle(self) -> None:
        self._stack: list[object] = []
        self._metastack: list[list[object]] = []
        self._items = 0
        self._memo = _Memo()
        self._memo_chars = 0
        self._proto = 0

    # --- feeding ---

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        view = memoryview(chunk)
        self._total += len(view)
        try:
            while view and not self._stopped:
                if self._skip:
                    n = min(self._skip, len(view))
                    self._skip -= n
                    self._offset += n
                    view = view[n:]
                elif self._line_skip:
                    view = self._pass_lines(view)
                elif self._joblib.prefix is not None:
                    view = self._read_array_prefix(view)
                elif self._gap is not None:
                    view = self._read_gap_header(view)
                elif self._end_expected:
                    self._malformed(f"bytes follow the last pickle at offset {self._offset}; nothing reads them")
                elif self._trailing:
                    view = self._pass_trailing_space(view)
                else:
                    view = self._parse(view)
        except _Stop:
            return

    def _may_trail(self, byte: int) -> bool:
        """Whether a byte that is no opcode may start whitespace after a complete pickle.

        pickle.load stops at STOP and a loader reading pickles in sequence fails on this byte, so a few
        whitespace bytes at the very end run nothing; anything else after them stays malformed."""
        return not self._in_pickle and self.result.pickles > 0 and byte in _TRAILING_SPACE

    def _pass_trailing_space(self, view: memoryview) -> memoryview:
        raw = bytes(view)
        self._trailing_bytes += len(raw)
        if raw.strip(_TRAILING_SPACE) or self._trailing_bytes > MAX_TRAILING_SPACE:
            self._malformed(f"bytes follow the last pickle at offset {self._offset}; nothing reads them")
        self._offset += len(raw)
        return view[len(view) :]

    def _pass_lines(self, view: memoryview) -> memoryview:
        raw = bytes(view)
        at = 0
        while self._line_skip:
            newline = raw.find(b"\n", at)
            if newline < 0:
                self._offset += len(raw)
                return view[len(view) :]
            at = newline + 1
            self._line_skip -= 1
        self._offset += at
        return view[at:]

    def _read_gap_header(self, view: memoryview) -> memoryview:
        gap = self._gap
        assert gap is not None
        take = view[: gap.header - len(self._gap_header)]
        self._gap_header += bytes(take)
        self._offset += len(take)
        if len(self._gap_header) == gap.header:
            size = gap.size(self._gap_header)
            self._gap, self._gap_header = None, b""
            if size is None or size < 0:
                self._malformed(f"raw data header before offset {self._offset} holds an impossible size")
            else:
                self._skip = size
                self._end_expected = gap.then_end
        return view[len(take) :]

    def _read_array_prefix(self, view: memoryview) -> memoryview:
        prefix = self._joblib.prefix
        assert prefix is not None
        if prefix.padding is None:
            length, at = view[0], self._offset
            self._offset += 1
            view = view[1:]
            if not 1 <= length <= prefix.alignment:
                self._not_followed(f"has a joblib array padding length of {length} at offset {at}; joblib writes "
                                   f"1 to {prefix.alignment}")
            prefix.padding = prefix.left = length
        take = bytes(view[: prefix.left])
        if take.count(PADDING_BYTE) != len(take):
            self._not_followed(f"has joblib array padding at offset {self._offset} that is not the 0xff bytes "
                               "joblib writes")
        prefix.left -= len(take)
        self._offset += len(take)
        if not prefix.left:
            self._joblib.prefix = None
            self._skip_array_data(prefix.data_bytes)
        return view[len(take) :]

    def _skip_array_data(self, size: int) -> None:
        self._skip = size
        self._joblib.array_end = self._offset + size

    def _parse(self, view: memoryview) -> memoryview:
        data = self._carry + bytes(view) if self._carry else bytes(view)
        self._carry = b""
        pos, need_more = self._run(data)
        self._offset += pos
        if need_more:
            self._carry = data[pos:]
            return memoryview(b"")
        return memoryview(data)[pos:]

    def _run(self, data: bytes) -> tuple[int, bool]:
        """Parse opcodes from `data`; (position reached, whether the rest needs more bytes)."""
        pos, n, base, table = 0, len(data), self._offset, self._table
        while pos < n:
            entry = table[data[pos]]
            at = base + pos
            if entry is None and self._may_trail(data[pos]):
                self._trailing = True
                return pos, False
            if entry is None:
                self._malformed(f"byte 0x{data[pos]:02x} at offset {at} is not a pickle opcode")
            spec, handler = entry
            if spec.width >= 0:  # the common case, inline: fixed-width or no argument
                end = pos + 1 + spec.width
                if end > n:
                    return pos, True
                arg: _Arg = data[pos + 1 : end]
            else:
                decoded = self._argument(spec, data, pos, at)
                if decoded is None:
                    return pos, True
                arg, end = decoded
            self._opcodes += 1
            if self._opcodes > MAX_OPCODES:
                self._limit(f"more than {MAX_OPCODES} opcodes")
            if self._frame_end and at < self._frame_end < base + end and not self._line_skip:
                self._malformed(f"{spec.name} at offset {at} runs past the end of its frame ({self._frame_end})")
            self._in_pickle = True  # until this opcode turns out to be STOP
            handler(self, arg, at)
            self._last_opcode = spec.name
            if end > n:  # a long argument continues past this chunk: skip the rest as it arrives
                self._skip = end - n
                return n, False
            pos = end
            if self._interrupted:  # the handler switched modes (text skip, raw gap, end, raw rest)
                self._interrupted = False
                return pos, False
        return pos, False

    def _argument(self, spec: _Spec, data: bytes, pos: int, at: int) -> tuple[_Arg, int] | None:
        """(argument, end position) of the opcode at `pos`, or None when more bytes are needed."""
        start = pos + 1
        if spec.width >= 0:
            end = start + spec.width
            return (data[start:end], end) if end <= len(data) else None
        if spec.width == _COUNTED:
            return self._counted(spec, data, start, at)
        return self._lines(spec, data, start)

    def _counted(self, spec: _Spec, data: bytes, start: int, at: int) -> tuple[_Arg, int] | None:
        body = start + spec.length_width
        if body > len(data):
            return None
        length = int.from_bytes(data[start:body], "little", signed=spec.signed)
        if length < 0:
            self._malformed(f"{spec.name} at offset {at} has a negative length")
        end = body + length
        if length > MAX_KEPT_STRING:
            return _SKIPPED, end  # may run past `data`; the caller skips the rest
        return (data[body:end], end) if end <= len(data) else None

    def _lines(self, spec: _Spec, data: bytes, start: int) -> tuple[_Arg, int] | None:
        first = data.find(b"\n", start)
        second = data.find(b"\n", first + 1) if first >= 0 and spec.lines == 2 else first
        if second >= 0:
            parts = (data[start:first], data[first + 1 : second]) if spec.lines == 2 else data[start:first]
            return _skip_long(parts), second + 1
        if len(data) - start <= MAX_LINE_BYTES:
            return None
        # Too long to buffer: pass the remaining newlines as they arrive, keeping nothing.
        self._line_skip = spec.lines - (1 if first >= 0 else 0)
        self._interrupted = True
        return _SKIPPED, len(data)

    def finish(self) -> WalkResult:
        if not self._stopped:
            self._finish_problem()
        result = self.result
        result.references = list(self._refs.values())
        if self._raw_from is not None:
            result.unparsed_bytes = self._total - self._raw_from
        return result

    def _finish_problem(self) -> None:
        end = self._offset + len(self._carry)
        try:
            if self._skip and self._joblib.array_end > end:
                self._malformed(f"stream is truncated: it ends at offset {end}, inside the raw data of a joblib "
                                f"array that runs to offset {self._joblib.array_end}")
            if self._skip or self._line_skip or self._carry or self._gap is not None or self._joblib.prefix is not None:
                self._malformed(f"stream is truncated: it ends at offset {end} inside an opcode or raw data")
            if end == 0:
                self._malformed("stream is empty")
            if self._in_pickle:
                self._malformed(f"stream is truncated: it ends at offset {end} before the pickle's STOP")
            problem = self._layout.at_end(self.result.pickles)
            if problem:
                self._malformed(problem)
        except _Stop:
            return

    # --- problems ---

    def _malformed(self, message: str) -> NoReturn:
        self.result.malformed = message
        self.result.after_opcode = self._last_opcode
        self._stopped = True
        raise _Stop

    def _limit(self, message: str) -> NoReturn:
        self.result.limit = message
        self._stopped = True
        raise _Stop

    def _not_followed(self, message: str) -> NoReturn:
        self.result.not_followed = message
        self._stopped = True
        raise _Stop

    # --- the stack ---

    def _push(self, value: object) -> None:
        if self._items >= MAX_STACK_ITEMS:
            self._limit(f"more than {MAX_STACK_ITEMS} items on the unpickler stack")
        self._stack.append(value)
        self._items += 1

    def _pop(self, name: str, at: int) -> object:
        if not self._stack:  # _pop_any, inlined: the most frequent call of big pickles
            self._malformed(f"{name} at offset {at} pops an empty stack")
        self._items -= 1
        value = self._stack.pop()
        if self._tracking and value.__class__ in _FOLLOWED_TYPES:
            self._untracked_use(value, name, at)
        return value

    def _pop_any(self, name: str, at: int) -> object:
        """Pop without the check on tracked joblib values: for the uses joblib.dump writes, and discards."""
        if not self._stack:
            self._malformed(f"{name} at offset {at} pops an empty stack")
        self._items -= 1
        return self._stack.pop()

    def _untracked_use(self, value: object, name: str, at: int) -> NoReturn:
        what = {WrapperClass: "a NumpyArrayWrapper class", ArrayWrapper: "a NumpyArrayWrapper",
                StateDict: "the state dict of a NumpyArrayWrapper"}[type(value)]
        self._not_followed(f"uses {what} in {name} at offset {at}, which joblib.dump never writes")

    def _top(self, name: str, at: int) -> object:
        if not self._stack:
            self._malformed(f"{name} at offset {at} needs a value on an empty stack")
        return self._stack[-1]

    def _pop_mark(self, name: str, at: int, discard: bool = False) -> list[object]:
        if not self._metastack:
            self._malformed(f"{name} at offset {at} has no MARK to pop to")
        items = self._stack
        self._stack = self._metastack.pop()
        self._items -= len(items)
        if self._tracking and not discard:
            for item in items:
                if item.__class__ in _FOLLOWED_TYPES:
                    self._untracked_use(item, name, at)
        return items

    # --- globals and calls ---

    def _reference(self, module: str, name: str, opcode: str, at: int) -> GlobalValue:
        written = f"{module}.{name}"
        if self._proto < NAME_MAPPING_BELOW_PROTOCOL:
            if (module, name) in NAME_MAPPING:
                module, name = NAME_MAPPING[(module, name)]
            elif module in IMPORT_MAPPING:
                module = IMPORT_MAPPING[module]
        resolved = f"{module}.{name}"
        ref = self._refs.get(resolved)
        if ref is not None:
            ref.count += 1
        elif len(self._refs) < MAX_DISTINCT_GLOBALS or self._keep_always(resolved) or self._keep_always(written):
            self._refs[resolved] = Reference(resolved, written if written != resolved else "", opcode, at)
        else:
            self.result.more_globals += 1
        if self._joblib.follow and resolved.endswith(WRAPPER_NAME_SUFFIX):
            return self._wrapper_class(resolved, opcode, at)
        return GlobalValue(resolved)

    def _wrapper_class(self, name: str, opcode: str, at: int) -> WrapperClass:
        if self._joblib.outer is not None:  # the plain unpickler of an object array reads no raw data after a BUILD
            self._not_followed(f"names {name} inside the nested pickle of an object array ({opcode} at offset "
                               f"{at}); joblib.dump never writes that")
        self._tracking = True
        return WrapperClass(name)

    def _count_followed(self) -> None:
        self._joblib.objects += 1
        if self._joblib.objects > MAX_FOLLOWED_OBJECTS:
            self._limit(f"more than {MAX_FOLLOWED_OBJECTS} numpy dtypes and joblib arrays")

    def _unresolved(self, opcode: str, at: int, reason: str) -> None:
        if len(self.result.unresolved) < MAX_UNRESOLVED:
            self.result.unresolved.append(Unresolved(opcode, at, reason))
        else:
            self.result.more_unresolved += 1

    def _call(self, target: object, opcode: str, at: int) -> None:
        if target is UNNAMED:
            return  # its import is already reported as unresolved
        if isinstance(target, GlobalValue):
            ref = self._refs.get(target.name)
            if ref is not None:
                ref.calls += 1
        else:
            self._unresolved(opcode, at, "calls a value that is not a named global (a callable returned by "
                                         "another call or taken from an object)")

    # --- opcode handlers: each takes the decoded argument and the opcode's offset ---

    def op_push_opaque(self, arg: object, at: int) -> None:
        self._push(OPAQUE)

    def op_int_fixed(self, arg: bytes, at: int) -> None:
        if self._items >= MAX_STACK_ITEMS:  # _push, inlined: the most frequent opcodes of big pickles
            self._push(OPAQUE)
        self._stack.append(int.from_bytes(arg, "little", signed=len(arg) == 4))
        self._items += 1

    def op_long_counted(self, arg: bytes, at: int) -> None:
        if arg is _SKIPPED or len(arg) > MAX_INT_BYTES_KEPT:
            self._push(OPAQUE)
        else:
            self._push(int.from_bytes(arg, "little", signed=True))

    def op_int_line(self, arg: bytes, at: int) -> None:  # INT
        self._push_line_number(arg, pickleargs.read_int, "INT", at)

    def op_long_line(self, arg: bytes, at: int) -> None:  # LONG
        self._push_line_number(arg, pickleargs.read_long, "LONG", at)

    def _push_line_number(self, arg: bytes, read: Callable[[bytes], int], name: str, at: int) -> None:
        if arg is _SKIPPED:
            self._push(OPAQUE)
            return
        try:
            value = read(arg)  # as _pickle.c reads it (I0x10 is 16), not as pickletools does (issue 14, class 1)
        except ValueError:
            self._malformed(f"{name} at offset {at} is not a number the unpickler reads")
        self._push(value)

    def op_float_line(self, arg: bytes, at: int) -> None:
        if arg is not _SKIPPED:
            try:
                pickleargs.read_float(arg)
            except ValueError:
                self._malformed(f"FLOAT at offset {at} is not a number the unpickler reads")
        self._push(OPAQUE)

    def op_string_line(self, arg: bytes, at: int) -> None:
        if arg is _SKIPPED:
            self._push(OPAQUE)
            return
        try:
            value = pickleargs.read_string(arg).decode("latin-1")  # the widest of the loaders' encodings
        except ValueError as error:
            self._malformed(f"STRING at offset {at} is not what the unpickler reads: {error}")
        self._push(value)

    def op_unicode_line(self, arg: bytes, at: int) -> None:
        self._push_text(arg, "raw-unicode-escape", at)

    def op_binstring(self, arg: bytes, at: int) -> None:
        self._push(OPAQUE if arg is _SKIPPED else arg.decode("latin-1"))

    def op_binunicode(self, arg: bytes, at: int) -> None:
        self._push_text(arg, "utf-8", at)

    def _push_text(self, arg: bytes, encoding: str, at: int) -> None:
        if arg is _SKIPPED:
            self._push(OPAQUE)
            return
        try:
            self._push(arg.decode(encoding, "surrogatepass") if encoding == "utf-8" else arg.decode(encoding))
        except UnicodeDecodeError:
            self._malformed(f"text at offset {at} is not valid {encoding}")

    def op_none(self, arg: object, at: int) -> None:
        self._push(None)

    def op_true(self, arg: object, at: int) -> None:
        self._push(True)

    def op_false(self, arg: object, at: int) -> None:
        self._push(False)

    def op_empty_tuple(self, arg: object, at: int) -> None:
        self._push(())

    def op_mark(self, arg: object, at: int) -> None:
        if len(self._metastack) >= MAX_MARK_DEPTH:
            self._limit(f"more than {MAX_MARK_DEPTH} nested MARKs")
        self._metastack.append(self._stack)
        self._stack = []

    def op_pop_mark_to_opaque(self, arg: object, at: int) -> None:  # LIST, DICT, FROZENSET
        self._pop_mark("MARK-ending opcode", at)
        self._push(OPAQUE)

    def op_tuple(self, arg: object, at: int) -> None:
        self._push(_tuple(self._pop_mark("TUPLE", at)))

    def op_tuple_n(self, arg: object, at: int, n: int = 0) -> None:
        items = [self._pop("TUPLE1/2/3", at) for _ in range(n)]
        self._push(_tuple(items[::-1]))

    def op_empty_dict(self, arg: object, at: int) -> None:
        if self._tracking and self._stack and self._stack[-1].__class__ is ArrayWrapper:
            self._count_followed()  # joblib.dump writes the wrapper's state dict right after the wrapper
            self._push(StateDict())
        else:
            self._push(OPAQUE)

    def op_append(self, arg: object, at: int) -> None:
        self._pop("APPEND", at)
        self._spoil_state(self._top("APPEND", at))

    def op_appends(self, arg: object, at: int) -> None:  # APPENDS, ADDITEMS
        self._pop_mark("APPENDS/ADDITEMS", at)
        self._spoil_state(self._top("APPENDS/ADDITEMS", at))

    def op_setitem(self, arg: object, at: int) -> None:
        value = self._pop("SETITEM", at)
        key = self._pop("SETITEM", at)
        target = self._top("SETITEM", at)
        if isinstance(target, StateDict):
            target.set(key, value)

    def op_setitems(self, arg: object, at: int) -> None:
        items = self._pop_mark("SETITEMS", at)
        target = self._top("SETITEMS", at)
        if isinstance(target, StateDict):
            if len(items) % 2:
                target.spoil()
            for key, value in zip(items[::2], items[1::2], strict=False):
                target.set(key, value)

    @staticmethod
    def _spoil_state(target: object) -> None:
        if isinstance(target, StateDict):
            target.spoil()  # not how a dict is filled; the unpickler fails, the walker stops tracking it

    def op_pop(self, arg: object, at: int) -> None:
        if self._stack:
            self._pop_any("POP", at)
        else:
            self._pop_mark("POP", at, discard=True)

    def op_pop_mark(self, arg: object, at: int) -> None:
        self._pop_mark("POP_MARK", at, discard=True)

    def op_dup(self, arg: object, at: int) -> None:
        self._push(self._top("DUP", at))

    def op_readonly_buffer(self, arg: object, at: int) -> None:
        self._top("READONLY_BUFFER", at)

    def op_persid(self, arg: object, at: int) -> None:
        self.result.persistent_ids += 1
        self._push(OPAQUE)

    def op_binpersid(self, arg: object, at: int) -> None:
        self._pop("BINPERSID", at)
        self.op_persid(arg, at)

    # memo

    def op_put(self, arg: bytes, at: int) -> None:
        self._put(self._line_index(arg, "PUT", at), at)

    def op_binput(self, arg: bytes, at: int) -> None:
        self._put(int.from_bytes(arg, "little"), at)

    def op_memoize(self, arg: object, at: int) -> None:
        self._put(len(self._memo), at)

    def _put(self, index: int, at: int) -> None:
        if index < 0:
            self._malformed(f"PUT at offset {at} has a negative memo index")
        value = self._top("PUT/MEMOIZE", at)
        if isinstance(value, str):
            self._memo_chars += len(value)
            if self._memo_chars > MAX_MEMO_STRING_CHARS:
                value = OPAQUE  # not kept; a global named through it is then reported as unresolved
        self._memo.put(index, value)
        if len(self._memo) > MAX_MEMO_ENTRIES:
            self._limit(f"more than {MAX_MEMO_ENTRIES} memo entries")

    def op_get(self, arg: bytes, at: int) -> None:
        self._get(self._line_index(arg, "GET", at), at)

    def op_binget(self, arg: bytes, at: int) -> None:
        self._get(int.from_bytes(arg, "little"), at)

    def _get(self, index: int, at: int) -> None:
        value = self._memo.get(index)
        if value is _MISSING:
            self._malformed(f"GET at offset {at} reads memo index {index}, which was never set")
        self._push(value)

    def _line_index(self, arg: bytes, name: str, at: int) -> int:
        try:  # base 10, as _pickle.c reads it: leading zeros, signs, spaces and underscores are all accepted
            return pickleargs.read_memo_index(arg) if arg is not _SKIPPED else -1
        except ValueError:
            self._malformed(f"{name} at offset {at} has no valid memo index")

    # globals, calls, objects

    def op_global(self, arg: tuple[bytes, bytes] | bytes, at: int) -> None:
        target = self._global_from_lines(arg, "GLOBAL", at)
        self._push(target if target is not None else UNNAMED)

    def op_inst(self, arg: tuple[bytes, bytes] | bytes, at: int) -> None:
        target = self._global_from_lines(arg, "INST", at)
        self._pop_mark("INST", at)
        if target is not None:
            self._call(target, "INST", at)
        if isinstance(target, WrapperClass):
            self._untracked_use(target, "INST", at)  # runs __init__: attributes the walker does not see
        self._push(OPAQUE)

    def _global_from_lines(self, arg: tuple[bytes, bytes] | bytes, opcode: str, at: int) -> GlobalValue | None:
        if not isinstance(arg, tuple) or _SKIPPED in arg:
            self._unresolved(opcode, at, f"module or name is longer than {MAX_KEPT_STRING} bytes")
            return None
        try:
            module, name = arg[0].decode("utf-8"), arg[1].decode("utf-8")
        except UnicodeDecodeError:
            self._malformed(f"{opcode} at offset {at} names a module that is not UTF-8")
        return self._reference(module, name, opcode, at)

    def op_stack_global(self, arg: object, at: int) -> None:
        name = self._pop("STACK_GLOBAL", at)
        module = self._pop("STACK_GLOBAL", at)
        if isinstance(module, str) and isinstance(name, str):
            self._push(self._reference(module, name, "STACK_GLOBAL", at))
            return
        self._unresolved("STACK_GLOBAL", at, "module and name are not strings written in the pickle (computed "
                                             "values, or strings too long to keep)")
        self._push(UNNAMED)

    def op_reduce(self, arg: object, at: int) -> None:
        args = self._pop("REDUCE", at)
        func = self._pop("REDUCE", at)
        self._call(func, "REDUCE", at)
        if self._joblib.follow and isinstance(func, GlobalValue) and func.name == NUMPY_DTYPE_CLASS:
            self._count_followed()
            self._push(NumpyDtype(args))
        else:
            self._push(OPAQUE)

    def op_newobj(self, arg: object, at: int) -> None:
        self._pop("NEWOBJ", at)
        self._push(self._new_instance(self._pop_class("NEWOBJ", at), "NEWOBJ", at))

    def op_newobj_ex(self, arg: object, at: int) -> None:
        self._pop("NEWOBJ_EX", at)
        self._pop("NEWOBJ_EX", at)
        self._push(self._new_instance(self._pop_class("NEWOBJ_EX", at), "NEWOBJ_EX", at))

    def _pop_class(self, name: str, at: int) -> object:
        """The class NEWOBJ instantiates: the one place a NumpyArrayWrapper class is used as joblib writes it."""
        cls = self._pop_any(name, at)
        if self._tracking and cls.__class__ in (ArrayWrapper, StateDict):
            self._untracked_use(cls, name, at)
        return cls

    def _new_instance(self, cls: object, opcode: str, at: int) -> object:
        self._call(cls, opcode, at)
        if isinstance(cls, WrapperClass):
            self._count_followed()
            return ArrayWrapper(cls.name)  # cls.__new__(cls): no attributes until BUILD
        return OPAQUE

    def op_obj(self, arg: object, at: int) -> None:
        items = self._pop_mark("OBJ", at)
        if not items:
            self._malformed(f"OBJ at offset {at} has no class to instantiate")
        self._call(items[0], "OBJ", at)
        self._push(OPAQUE)

    def op_build(self, arg: object, at: int) -> None:
        state = self._pop_any("BUILD", at)
        if self._tracking and state.__class__ in (WrapperClass, ArrayWrapper):
            self._untracked_use(state, "BUILD", at)
        target = self._top("BUILD", at)
        if isinstance(target, GlobalValue):
            # Setting state on a class or function itself monkey-patches it for the whole process.
            self._unresolved("BUILD", at, f"sets attributes on the global {target.name} itself")
            if isinstance(target, WrapperClass):
                self._untracked_use(target, "BUILD", at)
        elif isinstance(target, NumpyDtype):
            target.set_state(state)
        elif isinstance(target, ArrayWrapper) and not self.result.pickles:
            self._read_array(target, state, at)  # joblib.load reads the first pickle of a stream, and only that
        else:
            self._spoil_state(target)

    def _read_array(self, wrapper: ArrayWrapper, state: object, at: int) -> None:
        """joblib's NumpyUnpickler: after this BUILD, read the array from the stream in place of the wrapper."""
        wrapper.build(state)
        read = array_read(wrapper)
        if isinstance(read, str):
            self._not_followed(f"{read} (BUILD at offset {at})")
        if self._frame_end > at + 1:  # the unpickler holds the frame; joblib reads the file after it
            self._not_followed(f"builds a NumpyArrayWrapper at offset {at} inside a pickle frame that runs on to "
                               f"offset {self._frame_end}; joblib.dump ends the frame at the BUILD")
        self._stack[-1] = OPAQUE  # the array joblib reads takes the wrapper's place
        self.result.joblib_arrays += 1
        if read.nested_pickle:
            self._enter_nested()
            return
        self.result.joblib_array_bytes += read.data_bytes
        self._interrupted = True  # the feed loop reads the padding and skips the data
        if read.alignment is None:
            self._skip = read.data_bytes
            self._joblib.array_end = at + 1 + read.data_bytes
        else:
            self._joblib.prefix = _ArrayPrefix(read.alignment, read.data_bytes)

    def _enter_nested(self) -> None:
        """An object array: joblib reads one complete pickle of it with a fresh unpickler, then goes on."""
        self._joblib.outer = _OuterPickle(self._stack, self._metastack, self._items, self._memo,
                                          self._memo_chars, self._proto)
        self._new_pickle()

    def _leave_nested(self, at: int) -> None:
        outer = self._joblib.outer
        assert outer is not None
        if self._frame_end > at + 1:  # the nested unpickler drops the rest of its frame (or leaves it unread)
            self._not_followed(f"ends an object array's nested pickle at offset {at} inside a frame that runs "
                               f"on to offset {self._frame_end}")
        self._stack, self._metastack, self._items = outer.stack, outer.metastack, outer.items
        self._memo, self._memo_chars, self._proto = outer.memo, outer.memo_chars, outer.proto
        self._joblib.outer = None
        self._frame_end = 0

    def op_ext(self, arg: bytes, at: int) -> None:
        code = int.from_bytes(arg, "little", signed=len(arg) == 4)
        if len(self.result.extensions) < MAX_EXTENSIONS:
            self.result.extensions.append(Extension(code, f"EXT{len(arg)}", at))
        self._push(UNNAMED)

    # framing

    def op_proto(self, arg: bytes, at: int) -> None:
        proto = arg[0]
        if proto > HIGHEST_PROTOCOL:
            self._malformed(f"PROTO at offset {at} asks for unsupported protocol {proto}")
        self._proto = proto
        if self.result.protocol is None:
            self.result.protocol = proto

    def op_frame(self, arg: bytes, at: int) -> None:
        if self._frame_end > at:
            self._malformed(f"FRAME at offset {at} starts before the previous frame ends")
        self._frame_end = at + 9 + int.from_bytes(arg, "little")

    def op_stop(self, arg: object, at: int) -> None:
        if self._joblib.outer is not None:
            self._pop_any("STOP", at)  # the object array, which takes the wrapper's place
            self._leave_nested(at)
            return
        value = self._pop_any("STOP", at)  # what the load returns; nothing reads raw data after it
        if self._frame_end > at + 1:
            # pickle.dump ends its last frame with STOP. Bytes after it inside the frame are where loaders part:
            # a file without peek() starts the next load after the frame, a buffered file right after STOP.
            self._malformed(f"STOP at offset {at} ends the pickle before the end of its frame "
                            f"({self._frame_end}); loaders disagree on where the next pickle starts")
        index = self.result.pickles
        self.result.pickles += 1
        self._in_pickle = False
        self._frame_end = 0
        self._new_pickle()
        step = self._layout.after_stop(index, value)
        self.result.layout = self._layout.name
        self._interrupted = step.kind != NEXT.kind
        if step.problem:
            self._malformed(step.problem)
        if step.kind == RAW_REST.kind:
            self._stopped = True
            self._raw_from = at + 1
        elif step.kind == END.kind:
            self._end_expected = True
        elif step.gap is not None:
            self._gap = step.gap


def _skip_long(parts: bytes | tuple[bytes, bytes]) -> bytes | tuple[bytes, bytes]:
    if isinstance(parts, tuple):
        return tuple(p if len(p) <= MAX_KEPT_STRING else _SKIPPED for p in parts)  # type: ignore[return-value]
    return parts if len(parts) <= MAX_KEPT_STRING else _SKIPPED


def _tuple(items: list[object]) -> object:
    """A tuple of tracked values, kept one level deep (a tuple inside it stands as OPAQUE), or OPAQUE when it
    is larger."""
    if len(items) > MAX_TUPLE_KEPT:
        return OPAQUE
    return tuple(OPAQUE if isinstance(item, tuple) else item for item in items)


_HANDLER_NAMES: dict[str, str] = {
    "INT": "op_int_line", "LONG": "op_long_line", "BININT": "op_int_fixed", "BININT1": "op_int_fixed",
    "BININT2": "op_int_fixed", "LONG1": "op_long_counted", "LONG4": "op_long_counted",
    "STRING": "op_string_line", "BINSTRING": "op_binstring", "SHORT_BINSTRING": "op_binstring",
    "UNICODE": "op_unicode_line", "SHORT_BINUNICODE": "op_binunicode", "BINUNICODE": "op_binunicode",
    "BINUNICODE8": "op_binunicode", "FLOAT": "op_float_line",
    **dict.fromkeys(("BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "NEXT_BUFFER", "BINFLOAT",
                     "EMPTY_LIST", "EMPTY_SET"), "op_push_opaque"),
    "EMPTY_DICT": "op_empty_dict", "SETITEMS": "op_setitems",
    "NONE": "op_none", "NEWTRUE": "op_true", "NEWFALSE": "op_false", "EMPTY_TUPLE": "op_empty_tuple",
    "MARK": "op_mark", "LIST": "op_pop_mark_to_opaque", "DICT": "op_pop_mark_to_opaque",
    "FROZENSET": "op_pop_mark_to_opaque", "TUPLE": "op_tuple", "APPEND": "op_append", "APPENDS": "op_appends",
    "ADDITEMS": "op_appends", "SETITEM": "op_setitem", "POP": "op_pop",
    "POP_MARK": "op_pop_mark", "DUP": "op_dup", "READONLY_BUFFER": "op_readonly_buffer",
    "PERSID": "op_persid", "BINPERSID": "op_binpersid", "PUT": "op_put", "BINPUT": "op_binput",
    "LONG_BINPUT": "op_binput", "MEMOIZE": "op_memoize", "GET": "op_get", "BINGET": "op_binget",
    "LONG_BINGET": "op_binget", "GLOBAL": "op_global", "INST": "op_inst", "STACK_GLOBAL": "op_stack_global",
    "REDUCE": "op_reduce", "NEWOBJ": "op_newobj", "NEWOBJ_EX": "op_newobj_ex", "OBJ": "op_obj",
    "BUILD": "op_build", "EXT1": "op_ext", "EXT2": "op_ext", "EXT4": "op_ext", "PROTO": "op_proto",
    "FRAME": "op_frame", "STOP": "op_stop",
}
_TUPLE_SIZES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


_Handler = Callable[["PickleWalker", object, int], None]


@functools.cache
def _opcode_table() -> list[tuple[_Spec, _Handler] | None]:
    """Indexed by opcode byte: its argument spec and the walker's handler, called with the walker (None: not an
    opcode). Built once per process: building it per pickle was a tenth of a small pickle's inspection."""
    handlers: dict[str, _Handler] = {name: getattr(PickleWalker, method) for name, method in _HANDLER_NAMES.items()}
    for name, size in _TUPLE_SIZES.items():
        handlers[name] = lambda walker, arg, at, size=size: walker.op_tuple_n(arg, at, size)  # type: ignore[misc]
    missing = {spec.name for spec in _SPECS.values()} - set(handlers)
    assert not missing, f"opcodes without a handler: {missing}"
    table: list[tuple[_Spec, _Handler] | None] = [None] * 256
    for code, spec in _SPECS.items():
        table[code] = (spec, handlers[spec.name])
    return table
