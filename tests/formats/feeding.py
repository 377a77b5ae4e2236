"""Feeding bytes through `new_inspector` the way the verify pass does, in several chunkings."""

from __future__ import annotations

import itertools

from weightgate.formats.base import Inspection
from weightgate.formats.sniff import new_inspector

MIB = 1024 * 1024
# Fixed sizes, plus one cycling through uneven sizes with empty chunks in between.
CHUNKINGS: list[int | tuple[int, ...]] = [1, 7, 4096, MIB, (3, 0, 4096, 1, 65_541, 0, MIB)]


def chunks(data: bytes, chunking: int | tuple[int, ...]):
    sizes = itertools.cycle(chunking if isinstance(chunking, tuple) else (chunking,))
    view = memoryview(data)
    at = 0
    while at < len(data):
        size = next(sizes)
        yield view[at : at + size]
        at += size
    yield view[:0]  # the verify pass may end with an empty read


def inspect_bytes(data: bytes, chunking: int | tuple[int, ...] = MIB, size: int | None = None) -> Inspection:
    inspector = new_inspector(len(data) if size is None else size)
    for chunk in chunks(data, chunking):
        inspector.feed(chunk)
    return inspector.finish()


def inspect_all_chunkings(data: bytes, chunkings=None) -> Inspection:
    """Inspect with every chunking and check they agree; 1-byte chunks only for small inputs (speed)."""
    chosen = chunkings or [c for c in CHUNKINGS if c != 1 or len(data) <= 64 * 1024]
    results = [inspect_bytes(data, chunking) for chunking in chosen]
    for chunking, result in zip(chosen, results):
        assert result == results[0], f"chunking {chunking} disagrees"
    return results[0]
