"""What every fuzz case must show, and the strategies that make the cases.

A case feeds bytes to an inspector the way the verify pass does (in chunks of any size, with a size hint that
may be right, unknown or wrong) and must end in an Inspection, within a hard time bound (a timer that
interrupts a hang) and a memory bound (the tracemalloc peak of the case), never in an exception.

Inputs are random, or *mutated valid* files: a valid file from a builder with bytes flipped, cut, inserted,
repeated, or overwritten with the integers header parsers trip on (0, 2**31, 2**63, 2**64 - 1...).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
import signal
import struct
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st

from hardening.profiles import parser_share
from weightgate.formats import Format
from weightgate.formats.base import Inspection, Inspector, Issue
from weightgate.formats.sniff import new_inspector
from weightgate.rules import Rule

CASE_TIMEOUT_S = 20.0  # a case still running after this is a hang, whatever the profile's deadline says
MAX_CASE_PEAK_BYTES = 96 * 1024 * 1024  # inputs are at most a few hundred KiB; the inspectors' own buffers fit
MAX_CHUNK = 70_000  # above HEAD_BYTES (64 KiB), so one chunk can cross the sniffing boundary
INTERESTING_INTS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**60, 2**63 - 1,
                    2**63, 2**64 - 1)


class CaseTimeout(Exception):
    """A case ran past CASE_TIMEOUT_S: the parser hangs on this input."""


@contextlib.contextmanager
def bounded(max_peak: int = MAX_CASE_PEAK_BYTES, timeout_s: float = CASE_TIMEOUT_S, *,
            always_precise: bool = False) -> Iterator[None]:
    """Run one case under a hard timer and check its memory.

    The `ci` profile and the hostile-input tests check every case's own tracemalloc peak. Tracing makes
    hypothesis itself five times slower, so under the `long` profile every case is held to a ceiling on the
    process's peak RSS and every SAMPLE_EVERY-th case to the tracemalloc peak as well (`always_precise`: every
    case, whatever the profile)."""
    precise = always_precise or not _long_profile() or _next_case() % SAMPLE_EVERY == 0
    started = precise and not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()

    def _expired(signum: int, frame: object) -> None:
        raise CaseTimeout(f"case still running after {timeout_s} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        peak = tracemalloc.get_traced_memory()[1] - before
        if started:
            tracemalloc.stop()
    if precise:
        assert peak <= max_peak, f"case allocated {peak} bytes at its peak (bound {max_peak})"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert rss <= MAX_PROCESS_RSS_BYTES, f"the process reached {rss} bytes of RSS (ceiling {MAX_PROCESS_RSS_BYTES})"
    _count_case()


SAMPLE_EVERY = 20
MAX_PROCESS_RSS_BYTES = 2 * 1024**3  # pytest + hypothesis's own growth over 100,000 cases stay far below


def _long_profile() -> bool:
    return settings.get_current_profile_name() == "long"


_CASE_NUMBER = itertools.count()


def _next_case() -> int:
    return next(_CASE_NUMBER)


def _count_case() -> None:
    """With WEIGHTGATE_FUZZ_COUNTS=DIR, keep DIR/<test>.count up to date (every 500 cases), so a time-boxed
    long run that is stopped still says how many cases each test ran."""
    folder = os.environ.get("WEIGHTGATE_FUZZ_COUNTS")
    test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split(" ")[0]
    if not folder:
        return
    _CASES[test] = _CASES.get(test, 0) + 1
    if _CASES[test] % 500 == 0:
        name = test.replace("/", "_").replace("::", "__")
        Path(folder, f"{name}.count").write_text(f"{_CASES[test]}\n")


_CASES: dict[str, int] = {}  # cases run per test in this process (only with WEIGHTGATE_FUZZ_COUNTS)

T = TypeVar("T")


def shares_parser(tests: int) -> Callable[[T], T]:
    """Mark a test as one of `tests` that fuzz the same parser: the `long` profile splits that parser's cases
    between them (profiles.parser_share)."""
    share = parser_share(tests)
    return share if share is not None else (lambda test: test)  # type: ignore[return-value]


# --- feeding ----------------------------------------------------------------------------------------------------
#
# Strategies are built once, at module level, and tests draw plain values from them: building a strategy per
# case (or drawing interactively) costs more than the parsing a case does.

# Chunk sizes cycled over the input: tiny, uneven, empty reads between, or one big read.
CHUNKINGS = st.lists(st.one_of(st.integers(1, 16), st.integers(0, 4096), st.integers(1, MAX_CHUNK)),
                     min_size=1, max_size=6).map(tuple).filter(any)
# The size the verify pass announces: the real one mostly, unknown (-1), or one that lies.
SIZE_HINTS = st.tuples(st.integers(0, 5), st.sampled_from(INTERESTING_INTS), st.integers(0, 1024))


def size_hint(choice: tuple[int, int, int], length: int) -> int:
    """The size hint `choice` (drawn from SIZE_HINTS) picks for an input of `length` bytes."""
    kind, extreme, near = choice
    return {0: length, 1: length, 2: -1, 3: extreme, 4: near}.get(kind, length + near)


def pieces(data: bytes, chunking: Sequence[int]) -> Iterator[memoryview]:
    """`data` cut by the cycled chunk sizes; on large inputs tiny sizes grow, so that a case feeds at most a
    few thousand pieces (the boundaries that matter are exercised by the small inputs)."""
    sizes = itertools.cycle(chunking)
    floor = len(data) // 2048
    view = memoryview(data)
    at = 0
    while at < len(data):
        size = next(sizes)
        size = max(size, floor) if size else 0
        yield view[at : at + size]
        at += size
    yield view[:0]


def feed(inspector: Inspector, data: bytes, chunking: Sequence[int]) -> Inspection:
    """Feed every piece, finish, and check the verdict is a well-formed Inspection."""
    for piece in pieces(data, chunking):
        inspector.feed(piece)
    return well_formed(inspector.finish())


def sniff(data: bytes, chunking: Sequence[int], size: int | None = None) -> Inspection:
    """`data` through the inspector the verify pass uses for every file."""
    return feed(new_inspector(len(data) if size is None else size), data, chunking)


def well_formed(result: object) -> Inspection:
    assert isinstance(result, Inspection), result
    assert isinstance(result.format, Format)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.details.items()), result.details
    assert all(isinstance(issue, Issue) and isinstance(issue.rule, Rule) and issue.message for issue in result.issues)
    return result


# --- inputs -----------------------------------------------------------------------------------------------------


def _packed(value: int) -> bytes:
    return struct.pack("<Q", value) if value >= 2**32 else struct.pack("<I", value)


# One edit: (kind, position, byte, inserted bytes, span length, integer). Positions are taken modulo the
# input length, and half of them fall in the first 512 bytes, where headers and lengths live.
EDITS = st.lists(st.tuples(st.integers(0, 6), st.one_of(st.integers(0, 512), st.integers(0, 2**20)),
                           st.integers(0, 255), st.binary(max_size=64), st.integers(1, 256),
                           st.sampled_from(INTERESTING_INTS)), min_size=1, max_size=6)


def apply_edits(original: bytes, edits: Sequence[tuple[int, int, int, bytes, int, int]]) -> bytes:
    """`original` with each edit applied: flip a byte, cut the rest, insert bytes, delete or repeat a span,
    or overwrite with an integer a length or count field could hold."""
    data = bytearray(original)
    for kind, position, byte, inserted, span, number in edits:
        at = position % (len(data) + 1)
        if kind == 0 and data:
            data[min(at, len(data) - 1)] = byte
        elif kind == 1:
            del data[at:]
        elif kind == 2:
            data[at:at] = inserted
        elif kind == 3:
            del data[at : at + span]
        elif kind == 4:
            data[at:at] = bytes(data[at : at + span]) * (1 + byte % 8)
        else:
            raw = _packed(number)
            data[at : at + len(raw)] = raw
    return bytes(data)


def mutated(seeds: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A valid input from `seeds` with a few edits."""
    return st.tuples(seeds, EDITS).map(lambda pair: apply_edits(*pair))


def seeds_from(builders: Sequence[Callable[[], bytes]]) -> st.SearchStrategy[bytes]:
    """Valid inputs built once (builders can be slow), drawn by index so the shrinker can simplify."""
    built = [builder() for builder in builders]
    return st.sampled_from(built)


def tree_paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node of a parsed document (dicts, lists, scalars) by its path of keys and indexes."""
    found = [at]
    if isinstance(node, dict):
        for key, value in node.items():
            found += tree_paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += tree_paths(value, (*at, index))
    return found


def mutate_tree(draw: st.DrawFn, tree: Any, values: st.SearchStrategy[Any], rounds: tuple[int, int]) -> Any:
    """`tree` with a few nodes replaced by a drawn value, dropped, or given an extra key (in place)."""
    for _ in range(draw(st.integers(*rounds))):
        path = draw(st.sampled_from(tree_paths(tree)))
        if not path:
            continue
        parent = tree
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.integers(0, 2))
        if action == 0:
            parent[path[-1]] = draw(values)
        elif action == 1:
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(max_size=8))] = draw(values)
    return tree
