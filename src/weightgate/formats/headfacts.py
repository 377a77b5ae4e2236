"""An inspector for formats whose facts all sit in the head: it keeps the head and counts the rest.

Pickles, protobuf formats, HDF5 and compressed streams are inspected in depth elsewhere (or not at all);
the verify pass only needs cheap facts from their first bytes here.
"""

from __future__ import annotations

from collections.abc import Callable

from weightgate.formats import Format
from weightgate.formats.base import Inspection
from weightgate.formats.detect import HEAD_BYTES

MAGIC_HEX_BYTES = 16

HeadFacts = Callable[[Format, bytes, int], Inspection]


class HeadFactsInspector:
    """Keeps at most HEAD_BYTES, then asks `facts(format, head, total_bytes)` for the verdict."""

    def __init__(self, fmt: Format, facts: HeadFacts) -> None:
        self._format = fmt
        self._facts = facts
        self._head = bytearray()
        self._total = 0

    def feed(self, chunk: memoryview) -> None:
        self._total += len(chunk)
        room = HEAD_BYTES - len(self._head)
        if room > 0:
            self._head += chunk[:room]

    def finish(self) -> Inspection:
        return self._facts(self._format, bytes(self._head), self._total)


def no_facts(fmt: Format, head: bytes, total: int) -> Inspection:
    return Inspection(fmt)


def unknown_facts(fmt: Format, head: bytes, total: int) -> Inspection:
    """The first bytes in hex, so a reviewer can look up what the file is."""
    return Inspection(fmt, {"magic_hex": head[:MAGIC_HEX_BYTES].hex()})
