"""Apache Parquet (datasets): data only, no code paths on load. The file must start and end with `PAR1`
and the footer length must fit inside the file."""

from __future__ import annotations

import struct

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Issue
from weightgate.rules import MALFORMED_FILE

MAGIC = b"PAR1"
TAIL_BYTES = 8  # footer length (u32 LE) + magic


class ParquetInspector:
    def __init__(self, size: int) -> None:
        self._tail = b""
        self._total = 0

    def feed(self, chunk: memoryview) -> None:
        self._tail = (self._tail + bytes(chunk[-TAIL_BYTES:]))[-TAIL_BYTES:]
        self._total += len(chunk)

    def finish(self) -> Inspection:
        inspection = Inspection(Format.PARQUET)
        if len(self._tail) < TAIL_BYTES or not self._tail.endswith(MAGIC):
            inspection.issues.append(Issue(MALFORMED_FILE, "Parquet file does not end with PAR1 (truncated?)"))
            return inspection
        footer = struct.unpack_from("<I", self._tail)[0]
        if footer + TAIL_BYTES + len(MAGIC) > self._total:
            inspection.issues.append(Issue(MALFORMED_FILE, f"Parquet footer length {footer} exceeds the file"))
            return inspection
        inspection.details["footer_bytes"] = str(footer)
        return inspection
