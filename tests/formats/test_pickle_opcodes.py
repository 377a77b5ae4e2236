"""The written-out opcode table is pickletools' own, for the Python that runs the tests (issue 18)."""

import pickletools

from weightgate.formats import pickle_opcodes
from weightgate.formats.pickle_opcodes import OPCODES, Opcode


def _from_pickletools(op: pickletools.OpcodeInfo) -> Opcode:
    before, after = op.stack_before, op.stack_after
    return Opcode(op.code.encode("latin-1")[0], op.name, op.arg.n if op.arg is not None else 0, len(before),
                  before.index(pickletools.markobject) if pickletools.markobject in before else None,
                  len(after), pickletools.markobject in after)


def test_every_opcode_matches_pickletools():
    assert list(OPCODES) == [_from_pickletools(op) for op in pickletools.opcodes]
    assert len(pickle_opcodes.BY_CODE) == len(OPCODES)


def test_argument_markers_are_pickletools_values():
    for name in ("UP_TO_NEWLINE", "TAKEN_FROM_ARGUMENT1", "TAKEN_FROM_ARGUMENT4", "TAKEN_FROM_ARGUMENT4U",
                 "TAKEN_FROM_ARGUMENT8U"):
        assert getattr(pickle_opcodes, name) == getattr(pickletools, name), name
