"""The pickle opcodes as detection reads them: byte, name, argument width and stack effect.

The facts of `pickletools.opcodes` that `picklehead` needs, written out: detecting any file then never imports
pickletools and pickle, a twentieth of every run's start-up (issue 18). tests/formats/test_pickle_opcodes.py
checks this table against pickletools, so it cannot drift from the Python that runs the tests.
"""

from __future__ import annotations

from typing import NamedTuple

# pickletools' markers for arguments that are not of fixed width (its values, compared in the test).
UP_TO_NEWLINE = -1
TAKEN_FROM_ARGUMENT1 = -2
TAKEN_FROM_ARGUMENT4 = -3
TAKEN_FROM_ARGUMENT4U = -4
TAKEN_FROM_ARGUMENT8U = -5


class Opcode(NamedTuple):
    code: int  # the opcode byte
    name: str
    arg_n: int  # argument width in bytes, or one of the markers above; 0 for none
    pops: int  # stack entries it takes (a MARK and everything above it count as two)
    mark_at: int | None  # where in what it takes the MARK sits, if it takes one
    pushes: int  # stack entries it leaves
    pushes_mark: bool  # it leaves a MARK (MARK itself)


OPCODES = (
    Opcode(0x49, "INT", -1, 0, None, 1, False),
    Opcode(0x4a, "BININT", 4, 0, None, 1, False),
    Opcode(0x4b, "BININT1", 1, 0, None, 1, False),
    Opcode(0x4d, "BININT2", 2, 0, None, 1, False),
    Opcode(0x4c, "LONG", -1, 0, None, 1, False),
    Opcode(0x8a, "LONG1", -2, 0, None, 1, False),
    Opcode(0x8b, "LONG4", -3, 0, None, 1, False),
    Opcode(0x53, "STRING", -1, 0, None, 1, False),
    Opcode(0x54, "BINSTRING", -3, 0, None, 1, False),
    Opcode(0x55, "SHORT_BINSTRING", -2, 0, None, 1, False),
    Opcode(0x42, "BINBYTES", -4, 0, None, 1, False),
    Opcode(0x43, "SHORT_BINBYTES", -2, 0, None, 1, False),
    Opcode(0x8e, "BINBYTES8", -5, 0, None, 1, False),
    Opcode(0x96, "BYTEARRAY8", -5, 0, None, 1, False),
    Opcode(0x97, "NEXT_BUFFER", 0, 0, None, 1, False),
    Opcode(0x98, "READONLY_BUFFER", 0, 1, None, 1, False),
    Opcode(0x4e, "NONE", 0, 0, None, 1, False),
    Opcode(0x88, "NEWTRUE", 0, 0, None, 1, False),
    Opcode(0x89, "NEWFALSE", 0, 0, None, 1, False),
    Opcode(0x56, "UNICODE", -1, 0, None, 1, False),
    Opcode(0x8c, "SHORT_BINUNICODE", -2, 0, None, 1, False),
    Opcode(0x58, "BINUNICODE", -4, 0, None, 1, False),
    Opcode(0x8d, "BINUNICODE8", -5, 0, None, 1, False),
    Opcode(0x46, "FLOAT", -1, 0, None, 1, False),
    Opcode(0x47, "BINFLOAT", 8, 0, None, 1, False),
    Opcode(0x5d, "EMPTY_LIST", 0, 0, None, 1, False),
    Opcode(0x61, "APPEND", 0, 2, None, 1, False),
    Opcode(0x65, "APPENDS", 0, 3, 1, 1, False),
    Opcode(0x6c, "LIST", 0, 2, 0, 1, False),
    Opcode(0x29, "EMPTY_TUPLE", 0, 0, None, 1, False),
    Opcode(0x74, "TUPLE", 0, 2, 0, 1, False),
    Opcode(0x85, "TUPLE1", 0, 1, None, 1, False),
    Opcode(0x86, "TUPLE2", 0, 2, None, 1, False),
    Opcode(0x87, "TUPLE3", 0, 3, None, 1, False),
    Opcode(0x7d, "EMPTY_DICT", 0, 0, None, 1, False),
    Opcode(0x64, "DICT", 0, 2, 0, 1, False),
    Opcode(0x73, "SETITEM", 0, 3, None, 1, False),
    Opcode(0x75, "SETITEMS", 0, 3, 1, 1, False),
    Opcode(0x8f, "EMPTY_SET", 0, 0, None, 1, False),
    Opcode(0x90, "ADDITEMS", 0, 3, 1, 1, False),
    Opcode(0x91, "FROZENSET", 0, 2, 0, 1, False),
    Opcode(0x30, "POP", 0, 1, None, 0, False),
    Opcode(0x32, "DUP", 0, 1, None, 2, False),
    Opcode(0x28, "MARK", 0, 0, None, 1, True),
    Opcode(0x31, "POP_MARK", 0, 2, 0, 0, False),
    Opcode(0x67, "GET", -1, 0, None, 1, False),
    Opcode(0x68, "BINGET", 1, 0, None, 1, False),
    Opcode(0x6a, "LONG_BINGET", 4, 0, None, 1, False),
    Opcode(0x70, "PUT", -1, 0, None, 0, False),
    Opcode(0x71, "BINPUT", 1, 0, None, 0, False),
    Opcode(0x72, "LONG_BINPUT", 4, 0, None, 0, False),
    Opcode(0x94, "MEMOIZE", 0, 1, None, 1, False),
    Opcode(0x82, "EXT1", 1, 0, None, 1, False),
    Opcode(0x83, "EXT2", 2, 0, None, 1, False),
    Opcode(0x84, "EXT4", 4, 0, None, 1, False),
    Opcode(0x63, "GLOBAL", -1, 0, None, 1, False),
    Opcode(0x93, "STACK_GLOBAL", 0, 2, None, 1, False),
    Opcode(0x52, "REDUCE", 0, 2, None, 1, False),
    Opcode(0x62, "BUILD", 0, 2, None, 1, False),
    Opcode(0x69, "INST", -1, 2, 0, 1, False),
    Opcode(0x6f, "OBJ", 0, 3, 0, 1, False),
    Opcode(0x81, "NEWOBJ", 0, 2, None, 1, False),
    Opcode(0x92, "NEWOBJ_EX", 0, 3, None, 1, False),
    Opcode(0x80, "PROTO", 1, 0, None, 0, False),
    Opcode(0x2e, "STOP", 0, 1, None, 0, False),
    Opcode(0x95, "FRAME", 8, 0, None, 0, False),
    Opcode(0x50, "PERSID", -1, 0, None, 1, False),
    Opcode(0x51, "BINPERSID", 0, 1, None, 1, False),
)
BY_CODE = {op.code: op for op in OPCODES}
