"""Recognising a pickle stream from its first bytes, for format detection.

Nothing here unpickles. The opcodes are read with the argument rules of CPython's C unpickler
(`pickleargs`), not with `pickletools.genops`, which is stricter on some text arguments (it rejects
`I0x10`, which `pickle.load` reads as 16: issue 14, class 1) and would let a loadable pickle pass as text.
Detection must not let a real pickle pass as anything else, so when the head of a large file ends inside an
opcode we accept the cut only when that opcode could really continue past it, and a stream that breaks after
the unpickler would already have imported a module is a pickle. Kept apart from `picklefmt` (the deep
inspection) so that detecting any file does not import the pickle walker.
"""

from __future__ import annotations

from dataclasses import dataclass

from weightgate.formats import pickleargs
from weightgate.formats.pickle_opcodes import (
    BY_CODE,
    TAKEN_FROM_ARGUMENT1,
    TAKEN_FROM_ARGUMENT4,
    TAKEN_FROM_ARGUMENT4U,
    TAKEN_FROM_ARGUMENT8U,
    UP_TO_NEWLINE,
    Opcode,
)

PROTO_OPCODE = 0x80
HIGHEST_PROTOCOL = 5  # PROTO 0 and 1 are as valid to the unpickler as 2-5
HEADER_PROTOCOLS = range(HIGHEST_PROTOCOL + 1)
JOBLIB_MODULE_PREFIX = "joblib."
IMPORT_OPCODES = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "EXT1", "EXT2", "EXT4"})
CALL_OPCODES = frozenset({"REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD"})
# Text lines decoded as the unpickler decodes them before it calls find_class or persistent_load.
_ASCII_LINES = frozenset({"INST", "PERSID"})

_LENGTH_PREFIX = {  # width, signed
    TAKEN_FROM_ARGUMENT1: (1, False),
    TAKEN_FROM_ARGUMENT4: (4, True),
    TAKEN_FROM_ARGUMENT4U: (4, False),
    TAKEN_FROM_ARGUMENT8U: (8, False),
}


@dataclass(frozen=True)
class PickleHead:
    """What the opcodes at the start of a pickle say."""

    protocol: int | None  # from the PROTO opcode; None for pickles without one
    complete: bool  # a STOP opcode was reached
    mentions_joblib: bool  # a global from joblib (NumpyArrayWrapper) appears in the walked opcodes
    imports: bool = False  # the unpickler would import a module (find_class) before the head ends or breaks

    @property
    def decisive(self) -> bool:
        """Loadable to its STOP, or loaded far enough to import: whatever else the bytes look like, a loader
        that unpickles them does this."""
        return self.complete or self.imports


class _Cut(Exception):
    """The opcode runs past the end of the data."""


def read_pickle_head(data: bytes, size: int) -> PickleHead | None:
    """Walk the opcodes at the start of a stream; None when `data` is not the start of a pickle.

    `size` is the whole stream's length (negative when unknown): when `data` is all of it the pickle must
    reach STOP, otherwise it may be cut by the end of `data`. A stream that breaks (truncated, invalid
    opcode, stack underflow) after importing a module, or after importing a global and calling something,
    is still a pickle: the unpickler runs the import (and the call) before it fails, so it must be inspected,
    not called text.
    """
    stack = _StackShape()
    protocol: int | None = None
    joblib = imports = calls = imported = False
    pos = 0
    while True:
        try:
            opcode, arg, end = _read_opcode(data, pos)
        except _Cut:
            if not 0 <= size <= len(data) and _length_fits(data, pos, size):
                return PickleHead(protocol, False, joblib, imported)
            break
        except (ValueError, UnicodeDecodeError, OverflowError):
            break
        if not stack.apply(opcode):
            break
        pos = end
        if opcode.name == "PROTO" and protocol is None and isinstance(arg, int):
            protocol = arg
        joblib = joblib or _names_joblib(arg)
        imports = imports or opcode.name in IMPORT_OPCODES
        imported = imported or _imports_module(opcode.name, arg)
        calls = calls or opcode.name in CALL_OPCODES
        if opcode.name == "STOP":
            return PickleHead(protocol, True, joblib, imported)
    return PickleHead(protocol, False, joblib, imported) if imported or (imports and calls) else None


def _names_joblib(arg: object) -> bool:
    """A joblib global: written by GLOBAL (module, name), or as a string STACK_GLOBAL will take."""
    module = arg[0] if isinstance(arg, tuple) else arg
    return isinstance(module, str) and module.startswith(JOBLIB_MODULE_PREFIX)


def _imports_module(opcode: str, arg: object) -> bool:
    """Would find_class import a module here? For GLOBAL and INST only when the module is a dotted name
    Python could have installed: text such as "cat and dog\\n..." reads as GLOBAL of the module "at and dog",
    which no installation holds. STACK_GLOBAL takes its names from the stack, which text cannot fill."""
    if opcode == "STACK_GLOBAL":
        return True
    if opcode not in ("GLOBAL", "INST") or not isinstance(arg, tuple):
        return False
    return all(part.isidentifier() for part in arg[0].split("."))


def _read_opcode(data: bytes, pos: int) -> tuple[Opcode, object, int]:
    """(opcode, decoded argument, end) of the opcode at `pos`; ValueError where the C unpickler fails on it,
    _Cut when it runs past the end of `data`."""
    if pos >= len(data):
        raise _Cut
    opcode = BY_CODE.get(data[pos])
    if opcode is None:
        raise ValueError(f"byte 0x{data[pos]:02x} is not an opcode")
    start = pos + 1
    n = opcode.arg_n
    if n >= 0:
        if start + n > len(data):
            raise _Cut
        raw = data[start : start + n]
        if opcode.name == "PROTO" and raw[0] > HIGHEST_PROTOCOL:
            raise ValueError("unsupported protocol")
        return opcode, (raw[0] if opcode.name == "PROTO" else raw), start + n
    if n == UP_TO_NEWLINE:
        return _read_lines(opcode, data, start)
    width, signed = _LENGTH_PREFIX[n]
    if start + width > len(data):
        raise _Cut
    length = int.from_bytes(data[start : start + width], "little", signed=signed)
    if length < 0:
        raise ValueError("negative length")
    end = start + width + length
    if end > len(data):
        raise _Cut
    body = data[start + width : end]
    if opcode.name.endswith("UNICODE") or opcode.name == "BINUNICODE8":
        return opcode, body.decode("utf-8", "surrogatepass"), end
    return opcode, body, end


def _read_lines(opcode: Opcode, data: bytes, start: int) -> tuple[Opcode, object, int]:
    first = data.find(b"\n", start)
    if first < 0:
        raise _Cut
    line = data[start:first]
    name = opcode.name
    if name in ("GLOBAL", "INST"):
        second = data.find(b"\n", first + 1)
        if second < 0:
            raise _Cut
        encoding = "ascii" if name in _ASCII_LINES else "utf-8"
        module, attr = line.decode(encoding), data[first + 1 : second].decode(encoding)
        if not module or not attr:
            raise ValueError("empty module or name")
        return opcode, (module, attr), second + 1
    return opcode, _line_value(name, line), first + 1


def _line_value(name: str, line: bytes) -> object:
    if name == "INT":
        return pickleargs.read_int(line)
    if name == "LONG":
        return pickleargs.read_long(line)
    if name == "FLOAT":
        return pickleargs.read_float(line)
    if name in ("GET", "PUT"):
        index = pickleargs.read_memo_index(line)
        if index < 0:
            raise ValueError("negative memo index")
        return index
    if name == "STRING":
        return pickleargs.read_string(line).decode("latin-1")  # the loader's encoding is unknown: the widest
    if name == "UNICODE":
        return line.decode("raw-unicode-escape")
    if name in _ASCII_LINES:  # PERSID
        return line.decode("ascii")
    return line


class _StackShape:
    """Stack depth and MARK positions as the unpickler would see them, without building any object.

    The opcode reader accepts any opcode sequence; real unpickling fails on a stack underflow. Checking depth
    rejects text that happens to be made of opcode letters ("aaaa" is a run of APPENDs on an empty stack).
    """

    def __init__(self) -> None:
        self.depth = 0
        self.marks: list[int] = []

    def apply(self, opcode: Opcode) -> bool:
        """Apply one opcode's stack effect; False on an underflow."""
        if opcode.mark_at is not None:
            if not self.marks:
                return False
            self.depth = self.marks.pop() - opcode.mark_at
        elif opcode.name == "POP" and self.marks and self.marks[-1] == self.depth:
            self.marks.pop()  # POP with nothing above the mark removes the mark
            return True
        else:
            self.depth -= opcode.pops
        if self.depth < 0:
            return False
        if opcode.pushes_mark:
            self.marks.append(self.depth)
        else:
            self.depth += opcode.pushes
        return True


def looks_like_pickle(data: bytes, size: int) -> bool:
    """True when `data` is the start of a pickle of any protocol."""
    return read_pickle_head(data, size) is not None


def _length_fits(data: bytes, start: int, size: int) -> bool:
    """May the opcode at `start`, cut by the end of `data`, continue in the rest of the file? A length prefix
    larger than the rest of the file means these bytes were never a pickle (text such as "(This ..." reads as
    MARK + BINSTRING with a length of half a gigabyte)."""
    opcode = BY_CODE.get(data[start]) if start < len(data) else None
    if opcode is None or opcode.arg_n not in _LENGTH_PREFIX:
        return True
    width, signed = _LENGTH_PREFIX[opcode.arg_n]
    if start + 1 + width > len(data):
        return True
    length = int.from_bytes(data[start + 1 : start + 1 + width], "little", signed=signed)
    return length >= 0 and (size < 0 or start + 1 + width + length <= size)
