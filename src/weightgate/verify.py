"""The one streaming pass per file: hash, size, format detection and inspection from the same bytes.

Each file is read once, in fixed-size chunks into one reused buffer, so memory stays bounded whatever the
file size; files are verified in parallel (hashlib releases the GIL on large updates).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from weightgate.facts import ArtifactFacts, FileFacts, FileStatus
from weightgate.mirror.base import Mirror, MirrorFileError
from weightgate.mirror.settings import FILE_DEADLINE_S, REQUEST_TIMEOUT_S
from weightgate.pinned import PinnedFile
from weightgate.progress import FileProgress, NoProgress, Progress
from weightgate.textsafety import redact_url, redact_urls

if TYPE_CHECKING:
    from weightgate.formats.base import Inspector
    from weightgate.manifest import Artifact, Manifest
    from weightgate.mirror import MirrorLocation

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
# A pinned file must arrive at least this fast once its size is known: its deadline is
# max(request timeout, pinned size / MIN_THROUGHPUT_BPS), never more than the policy's file deadline.
MIN_THROUGHPUT_BPS = 1024 * 1024


@dataclass(frozen=True)
class ReadBudget:
    """How long one file may take: the policy's request timeout and per-file deadline (mirrors.*)."""

    request_timeout: float = REQUEST_TIMEOUT_S
    file_deadline: float = FILE_DEADLINE_S

    def seconds_for(self, pinned_size: int | None) -> float:
        if pinned_size is None:
            return self.file_deadline
        return min(self.file_deadline, max(self.request_timeout, pinned_size / MIN_THROUGHPUT_BPS))


class _PinBound:
    """Reads from a handle, never more than the pinned size + 1 byte (one byte more proves the body is longer
    than the pin) and never past the file's deadline: an endless or trickling body cannot hold the gate."""

    def __init__(self, read_into: Callable[[memoryview], int], pinned_size: int | None, seconds: float) -> None:
        self._read_into = read_into
        self.remaining = None if pinned_size is None else pinned_size + 1
        self.seconds = seconds
        self._deadline = time.monotonic() + seconds

    def __call__(self, view: memoryview) -> int:
        if self.remaining is not None:
            if self.remaining <= 0:
                return 0
            view = view[:min(len(view), self.remaining)]
        if time.monotonic() > self._deadline:
            raise TimeoutError(f"per-file deadline of {self.seconds:g} s exceeded")
        n = self._read_into(view)
        if self.remaining is not None:
            self.remaining -= n
        return n
DEFAULT_WORKERS = min(8, (os.cpu_count() or 1) + 1)


def artifacts_to_read(manifest: Manifest, locations: Mapping[str, MirrorLocation | None]) -> list[Artifact]:
    """The artifacts whose pinned files the verify pass reads, in manifest order: the first entry of each id that
    has a location (the others are reported by the mirror and duplicate-id checks; nothing to read from)."""
    first: dict[str, Artifact] = {}
    for artifact in manifest.artifacts:
        if locations.get(artifact.id) is not None:
            first.setdefault(artifact.id, artifact)
    return list(first.values())


@dataclass(frozen=True)
class VerifyJob:
    """One artifact to verify: its mirror (None when the mirror could not be opened, with the reason)."""

    artifact_id: str
    mirror_uri: str
    mirror: Mirror | None
    files: tuple[PinnedFile, ...]
    unavailable_reason: str = ""
    listed_sizes: tuple[int | None, ...] = ()  # per file, as a listing saw them (scheduling only; may be empty)


def inspect_stream(read_into: Callable[[memoryview], int], size_hint: int | None,
                   on_chunk: Callable[[int], None] | None = None) -> tuple[str, int, FileFacts]:
    """Hash and inspect everything `read_into` yields. Returns (sha256 hex, bytes read, partial facts)."""
    # Imported here: the inspectors are the heaviest imports, and offline runs (pre-commit) never read bytes.
    from weightgate.formats.sniff import new_inspector

    hasher = hashlib.sha256()
    inspector = new_inspector(size_hint if size_hint is not None else -1)
    buffer = _take_buffer()
    try:
        total = _stream(read_into, memoryview(buffer), hasher, inspector, on_chunk)
    finally:
        _return_buffer(buffer)
    inspection = inspector.finish()
    facts = FileFacts("", FileStatus.VERIFIED, "", format=inspection.format, details=inspection.details,
                      issues=tuple(inspection.issues))
    return hasher.hexdigest(), total, facts


def _stream(read_into: Callable[[memoryview], int], view: memoryview, hasher: hashlib._Hash,
            inspector: Inspector, on_chunk: Callable[[int], None] | None) -> int:
    total = 0
    while True:
        n = read_into(view)
        if not n:
            break
        chunk = view[:n]
        hasher.update(chunk)
        inspector.feed(chunk)
        total += n
        if on_chunk is not None:
            on_chunk(n)
    return total


class _ThreadBuffer(threading.local):
    buffer: bytearray | None = None


_buffers = _ThreadBuffer()


def _take_buffer() -> bytearray:
    """This thread's read buffer, allocated once per thread rather than once per file.

    glibc serves an allocation above its mmap threshold (128 KiB at start) with a fresh mmap, and reading and
    hashing into such a buffer measured ~30 % slower (issue 18) than into the same buffer on the heap. Freeing
    one mmapped block raises glibc's threshold above that block's size, so the throwaway block first makes the
    buffer that follows a heap allocation; elsewhere (other allocators) it only costs one allocation per thread.
    A nested call while the buffer is in use gets a buffer of its own."""
    buffer = _buffers.buffer
    if buffer is not None:
        _buffers.buffer = None
        return buffer
    throwaway = bytearray(CHUNK_BYTES + 64 * 1024)
    del throwaway
    return bytearray(CHUNK_BYTES)


def _return_buffer(buffer: bytearray) -> None:
    _buffers.buffer = buffer


def verify_file(mirror: Mirror, pinned: PinnedFile, progress: Progress | None = None, label: str = "",
                budget: ReadBudget | None = None) -> FileFacts:
    file_progress = (progress or NoProgress()).file_started(label or pinned.path, pinned.size)
    facts = _verify_file(mirror, pinned, file_progress, budget or ReadBudget())
    facts = replace(facts, pinned_sha256=pinned.sha256, pinned_size=pinned.size)
    file_progress.done(facts)
    return facts


def _verify_file(mirror: Mirror, pinned: PinnedFile, progress: FileProgress, budget: ReadBudget) -> FileFacts:
    uri = redact_url(mirror.uri_of(pinned.path))  # facts reach every report and record: no credentials
    try:
        handle = mirror.open(pinned.path)
    except MirrorFileError as e:
        return FileFacts(pinned.path, e.status, uri, reason=e.reason)
    except OSError as e:  # a mirror that did not translate its own error: still a finding, never a crash
        return FileFacts(pinned.path, FileStatus.UNREADABLE, uri, reason=f"open failed: {e.strerror or e}")
    try:
        if handle.size is not None and pinned.size is not None and handle.size != pinned.size:
            # Known before reading: don't spend minutes hashing bytes that already fail.
            return FileFacts(pinned.path, FileStatus.SIZE_MISMATCH, uri, size=handle.size,
                             reason=f"mirror reports {handle.size} bytes before reading")
        bounded = _PinBound(handle.readinto, pinned.size, budget.seconds_for(pinned.size))
        sha256, total, partial = inspect_stream(bounded, handle.size, progress.advance)
    except OSError as e:
        return FileFacts(pinned.path, FileStatus.UNREADABLE, uri, reason=f"read failed: {e.strerror or e}")
    finally:
        handle.close()
    if handle.size is not None and total != handle.size:
        return FileFacts(pinned.path, FileStatus.UNREADABLE, uri, size=total,
                         reason=f"file changed while being read ({handle.size} bytes expected, {total} read)")
    if pinned.size is not None and total > pinned.size:
        # Reading stopped one byte past the pin: the rest of the body is never fetched.
        return FileFacts(pinned.path, FileStatus.SIZE_MISMATCH, uri, size=total,
                         reason=f"body longer than the pinned {pinned.size} bytes; reading stopped at {total}")
    log.info("verified %s (%d bytes, %s)", uri, total, partial.format.value if partial.format else "?")
    return FileFacts(pinned.path, FileStatus.VERIFIED, uri, sha256=sha256, size=total, format=partial.format,
                     details=partial.details, issues=partial.issues)


def verify_artifacts(jobs: Sequence[VerifyJob], workers: int = DEFAULT_WORKERS,
                     progress: Progress | None = None, budget: ReadBudget | None = None) -> tuple[ArtifactFacts, ...]:
    """Verify every file of every job in parallel; results come back in manifest order."""
    if progress is not None:
        sizes = [f.size for job in jobs if job.mirror is not None for f in job.files]
        progress.begin(sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None)
    tasks = _tasks(jobs)
    facts: dict[tuple[int, int], FileFacts] = {}
    with _interruptible(ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify")) as pool:
        futures = [pool.submit(_verify_in_turn, jobs, task, progress, budget) for task in tasks]
        for future in futures:
            facts.update(future.result())
    results = []
    for j, job in enumerate(jobs):
        files = tuple(
            facts[j, k] if job.mirror is not None
            else FileFacts(f.path, FileStatus.NOT_CHECKED, redact_url(job.mirror_uri),
                           reason=redact_urls(job.unavailable_reason))
            for k, f in enumerate(job.files)
        )
        results.append(ArtifactFacts(job.artifact_id, redact_url(job.mirror_uri), files))
    if progress is not None:
        progress.close()
    return tuple(results)


# Small files of a local mirror are read one after another, in batches: reading one is mostly Python work under
# the GIL, and spreading them over threads cost a quarter more CPU (and wall time) in handing the GIL over at
# every open, stat and read (issue 18). Larger files, and files of remote mirrors (waiting on the network), get
# a task each. A batch holds at most IN_TURN_BATCH_BYTES, so many files just under the limit still spread out.
IN_TURN_MAX_BYTES = 1024 * 1024
IN_TURN_BATCH_BYTES = 64 * 1024 * 1024


def _tasks(jobs: Sequence[VerifyJob]) -> list[list[tuple[int, int]]]:
    """The (job, file) indexes each pool task verifies: one task per file that is not small (started first, so a
    large file never waits behind batches), then the batches of small local files."""
    batches: list[list[tuple[int, int]]] = []
    batch: list[tuple[int, int]] = []
    batch_bytes = 0
    singles: list[list[tuple[int, int]]] = []
    for j, job in enumerate(jobs):
        if job.mirror is None:
            continue
        # A folder on this machine (its file:// URI survives the wrappers that keep model cards and dependency
        # files from the pass).
        local = job.mirror.uri.startswith("file://")
        for k, f in enumerate(job.files):
            size = f.size if f.size is not None or k >= len(job.listed_sizes) else job.listed_sizes[k]
            if not (local and size is not None and size <= IN_TURN_MAX_BYTES):
                singles.append([(j, k)])
                continue
            if batch and batch_bytes + size > IN_TURN_BATCH_BYTES:
                batches.append(batch)
                batch, batch_bytes = [], 0
            batch.append((j, k))
            batch_bytes += size
    if batch:
        batches.append(batch)
    return singles + batches


def _verify_in_turn(jobs: Sequence[VerifyJob], task: list[tuple[int, int]], progress: Progress | None,
                    budget: ReadBudget | None) -> dict[tuple[int, int], FileFacts]:
    found = {}
    for j, k in task:
        job = jobs[j]
        assert job.mirror is not None
        f = job.files[k]
        found[j, k] = verify_file(job.mirror, f, progress, f"{job.artifact_id}/{f.path}", budget)
    return found


@contextmanager
def _interruptible(pool: ThreadPoolExecutor) -> Iterator[ThreadPoolExecutor]:
    """The pool, shut down as `with` would; but when the run is interrupted (SIGINT/SIGTERM raise in the main
    thread), queued files are dropped and nothing waits for the reads in flight, so the CLI stops at once."""
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
