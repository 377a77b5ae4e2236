"""Recognising a pickle stream from its first bytes, for format detection.

Nothing here unpickles. `pickletools.genops` only decodes opcodes and their arguments; it never imports or
calls anything. Detection must not let a real pickle pass as text, so when the head of a large file ends
inside an opcode we accept the cut only when that opcode could really continue past it. Kept apart from
`picklefmt` (the deep inspection) so that detecting any file does not import the pickle walker.
"""

from __future__ import annotations

import io
import pickletools
from dataclasses import dataclass

PROTO_OPCODE = 0x80
HEADER_PROTOCOLS = range(2, 6)  # protocols whose pickles start with a PROTO opcode
JOBLIB_MODULE_PREFIX = "joblib."
IMPORT_OPCODES = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "EXT1", "EXT2", "EXT4"})
CALL_OPCODES = frozenset({"REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD"})

_OPCODES = {op.code.encode("latin-1")[0]: op for op in pickletools.opcodes}
_LENGTH_PREFIX_WIDTH = {
    pickletools.TAKEN_FROM_ARGUMENT1: 1,
    pickletools.TAKEN_FROM_ARGUMENT4: 4,
    pickletools.TAKEN_FROM_ARGUMENT4U: 4,
    pickletools.TAKEN_FROM_ARGUMENT8U: 8,
}


@dataclass(frozen=True)
class PickleHead:
    """What the opcodes at the start of a pickle say."""

    protocol: int | None  # from the PROTO opcode; None for protocols 0 and 1, which have none
    complete: bool  # a STOP opcode was reached
    mentions_joblib: bool  # a global from joblib (NumpyArrayWrapper) appears in the walked opcodes


def read_pickle_head(data: bytes, size: int) -> PickleHead | None:
    """Walk the opcodes at the start of a stream; None when `data` is not the start of a pickle.

    `size` is the whole stream's length (negative when unknown): when `data` is all of it the pickle must
    reach STOP, otherwise it may be cut by the end of `data`. A stream that breaks (truncated, invalid
    opcode, stack underflow) after importing a global and calling something is still a pickle: the
    unpickler runs that call before it fails, so it must be inspected, not called text.
    """
    stream = io.BytesIO(data)
    stack = _StackShape()
    protocol: int | None = None
    joblib = imports = calls = False
    op_end = 0
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            if not stack.apply(opcode):
                return PickleHead(protocol, False, joblib) if imports and calls else None
            op_end = stream.tell()
            if opcode.name == "PROTO" and protocol is None and isinstance(arg, int):
                protocol = arg
            joblib = joblib or (isinstance(arg, str) and arg.startswith(JOBLIB_MODULE_PREFIX))
            imports = imports or opcode.name in IMPORT_OPCODES
            calls = calls or opcode.name in CALL_OPCODES
            if opcode.name == "STOP":
                return PickleHead(protocol, True, joblib)
    except Exception:  # genops raises ValueError, UnicodeDecodeError, ... on bytes that are not opcodes
        if _cut_by_end_of_data(data, op_end, size, stream.tell()) or (imports and calls):
            return PickleHead(protocol, False, joblib)
    return None


class _StackShape:
    """Stack depth and MARK positions as the unpickler would see them, without building any object.

    genops accepts any opcode sequence; real unpickling fails on a stack underflow. Checking depth rejects
    text that happens to be made of opcode letters ("aaaa" is a run of APPENDs on an empty stack).
    """

    def __init__(self) -> None:
        self.depth = 0
        self.marks: list[int] = []

    def apply(self, opcode: pickletools.OpcodeInfo) -> bool:
        """Apply one opcode's stack effect; False on an underflow."""
        before, after = opcode.stack_before, opcode.stack_after
        if pickletools.markobject in before:
            if not self.marks:
                return False
            self.depth = self.marks.pop() - before.index(pickletools.markobject)
        elif opcode.name == "POP" and self.marks and self.marks[-1] == self.depth:
            self.marks.pop()  # POP with nothing above the mark removes the mark
            return True
        else:
            self.depth -= len(before)
        if self.depth < 0:
            return False
        if pickletools.markobject in after:
            self.marks.append(self.depth)
        else:
            self.depth += len(after)
        return True


def looks_like_pickle(data: bytes, size: int) -> bool:
    """True when `data` is the start of a pickle of any protocol."""
    if data[:1] == bytes([PROTO_OPCODE]) and (len(data) < 2 or data[1] not in HEADER_PROTOCOLS):
        return False
    return read_pickle_head(data, size) is not None


def _cut_by_end_of_data(data: bytes, start: int, size: int, failed_at: int) -> bool:
    """Did the opcode at `start` fail only because `data` ends before it does (and the file goes on)?"""
    if 0 <= size <= len(data) or failed_at < len(data):
        return False
    if start >= len(data):
        return True
    opcode = _OPCODES.get(data[start])
    if opcode is None or opcode.arg is None:
        return False
    n = opcode.arg.n
    if n >= 0:
        return start + 1 + n > len(data)
    if n == pickletools.UP_TO_NEWLINE:
        lines = 2 if opcode.arg.name == "stringnl_noescape_pair" else 1
        return data.count(b"\n", start + 1) < lines
    return _length_fits(data, start, size, _LENGTH_PREFIX_WIDTH[n], n == pickletools.TAKEN_FROM_ARGUMENT4)


def _length_fits(data: bytes, start: int, size: int, width: int, signed: bool) -> bool:
    # A length prefix larger than the rest of the file means these bytes were never a pickle (text such
    # as "(This ..." reads as MARK + BINSTRING with a length of half a gigabyte).
    if start + 1 + width > len(data):
        return True
    length = int.from_bytes(data[start + 1 : start + 1 + width], "little", signed=signed)
    return length >= 0 and (size < 0 or start + 1 + width + length <= size)
