"""Compressed streams: recognising them by magic, peeking at what they hold, and inspecting all of it.

Joblib writes pickles through zlib, gzip, bz2 or xz; a compressed pickle runs code on load just like a plain
one, so the gate decompresses the stream as it passes and inspects the content as a file of its own.
Decompression is bounded by output size (`max_length`) and by the limits below, so a bomb costs a bounded
amount of memory and time and fails closed. 7z and zstd are recognised but never opened (the standard
library cannot): the format policy prohibits them by default, and inside an archive they are reported as
uninspectable.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from weightgate.formats import Format, members
from weightgate.formats.base import Inspection, Inspector, Issue
from weightgate.formats.members import Budget, NestedResults, Nesting
from weightgate.rules import CONTAINER_LIMIT_EXCEEDED, MALFORMED_FILE

MAX_PREFIX_BYTES = 64 * 1024
MIN_HEAD_BYTES = 10  # enough to tell the stream kinds apart (bzip2 needs its block magic)

GZIP_MAGIC = b"\x1f\x8b\x08"
BZIP2_MAGIC = b"BZh"
# The first bzip2 block starts with the BCD digits of pi; an empty stream goes straight to sqrt(pi).
BZIP2_BLOCK_MAGICS = (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")
XZ_MAGIC = b"\xfd7zXZ\x00"
SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# zlib: CM=8 with a 32 KiB window (0x78), then the FLG byte for each of the four compression levels.
ZLIB_FIRST_BYTE = 0x78
ZLIB_SECOND_BYTES = frozenset({0x01, 0x5E, 0x9C, 0xDA})


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, /, max_length: int = ...) -> bytes: ...


@dataclass(frozen=True)
class DecompressedPrefix:
    """The first bytes a compressed stream expands to."""

    compression: str
    data: bytes
    complete: bool  # the stream ended inside the input, so `data` is the whole content


def compression_format(head: bytes) -> Format | None:
    """The compression container `head` starts with (zlib excluded: it has no format of its own)."""
    if head.startswith(GZIP_MAGIC):
        return Format.GZIP
    if _is_bzip2(head):
        return Format.BZIP2
    if head.startswith(XZ_MAGIC):
        return Format.XZ
    if head.startswith(SEVEN_ZIP_MAGIC):
        return Format.SEVEN_ZIP
    if head.startswith(ZSTD_MAGIC):
        return Format.ZSTD
    return None


def is_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == ZLIB_FIRST_BYTE and head[1] in ZLIB_SECOND_BYTES


def decompressed_prefix(head: bytes, limit: int = MAX_PREFIX_BYTES) -> DecompressedPrefix | None:
    """Up to `limit` bytes of what `head` decompresses to, or None when it is not a stream we can open."""
    opened = _decompressor(head)
    if opened is None:
        return None
    name, decompressor = opened
    try:
        data = decompressor.decompress(head, max_length=limit)
    except (zlib.error, OSError, EOFError, lzma.LZMAError):
        return None
    return DecompressedPrefix(name, data, decompressor.eof)


def _decompressor(head: bytes) -> tuple[str, _Decompressor] | None:
    if is_zlib(head):
        return "zlib", zlib.decompressobj()
    fmt = compression_format(head)
    if fmt is Format.GZIP:
        return "gzip", zlib.decompressobj(wbits=31)
    if fmt is Format.BZIP2:
        import bz2  # rare; its import is start-up time for every run

        return "bzip2", bz2.BZ2Decompressor()
    if fmt is Format.XZ:
        return "xz", lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    return None


def _is_bzip2(head: bytes) -> bool:
    # 'BZh' + level digit alone is ordinary text; the block magic after it is not.
    return (
        head.startswith(BZIP2_MAGIC)
        and len(head) >= 10
        and head[3:4] in {b"%d" % level for level in range(1, 10)}
        and head[4:10] in BZIP2_BLOCK_MAGICS
    )


# --- bounded incremental decompression -------------------------------------------------------------------

INPUT_PIECE_BYTES = 64 * 1024  # compressed input is expanded in pieces aligned to the stream's start
OUTPUT_STEP_BYTES = 256 * 1024  # and each piece's output is produced in steps of this size
MAX_EXPANDED_BYTES = 16 * 1024**3  # one decompressed stream or archive member
MAX_COMPRESSION_RATIO = 250  # decompressed / compressed, checked once RATIO_FLOOR_BYTES have come out
RATIO_FLOOR_BYTES = 64 * 1024 * 1024
XZ_PADDING = b"\x00"


class Expander:
    """Decompresses one stream as its bytes arrive, handing the output to `sink`, within limits.

    Output stops at the first limit crossed: the stream's own size (MAX_EXPANDED_BYTES), the ratio to its
    compressed size (MAX_COMPRESSION_RATIO, past RATIO_FLOOR_BYTES), or the file-wide `budget`. Input is
    expanded in fixed pieces from the stream's start, so where a limit stops the output does not depend on
    how the bytes were chunked. With `multi_stream`, concatenated streams (gzip members, bzip2 and xz
    streams) are expanded one after the other, as the command-line tools do.
    """

    def __init__(self, kind: str, budget: Budget, sink: Callable[[bytes], None], multi_stream: bool = False) -> None:
        self.kind = kind
        self._budget = budget
        self._sink = sink
        self._multi = multi_stream
        self._decompressor = _new_decompressor(kind)
        self._pending = bytearray()
        self.consumed = 0  # compressed bytes given to the decompressor
        self.expanded = 0
        self.limit: str | None = None
        self.error: str | None = None
        self.done = False  # the (last) stream ended, or expansion stopped
        self.unused = b""  # bytes after the end of the compressed data (kept only when it ended)

    @property
    def ended(self) -> bool:
        """The compressed data came to its end (as opposed to being cut off or stopped)."""
        return self.done and self.limit is None and self.error is None

    def feed(self, data: bytes | memoryview) -> None:
        if self.done:
            if self.ended:
                self.unused += bytes(data)
            return
        self._pending += data
        self._drain(final=False)

    def flush(self) -> None:
        """Expand whatever input is still held (call at the end of the compressed data)."""
        self._drain(final=True)

    def _drain(self, final: bool) -> None:
        while self._pending and not self.done and (final or len(self._pending) >= INPUT_PIECE_BYTES):
            piece = bytes(self._pending[:INPUT_PIECE_BYTES])
            del self._pending[:INPUT_PIECE_BYTES]
            self._expand(piece)
        if self.done:
            if self.ended:
                self.unused += bytes(self._pending)
            self._pending.clear()

    def _expand(self, piece: bytes) -> None:
        self.consumed += len(piece)
        data = piece
        while not self.done:
            try:
                out = self._decompressor.decompress(data, max_length=OUTPUT_STEP_BYTES)
            except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
                self.error = f"{self.kind} data is corrupt ({exc})"
                self.done = True
                return
            data = _unconsumed(self._decompressor)
            if out and not self._emit(out):
                return
            if self._decompressor.eof:
                self._end_of_stream(data)
                return
            if len(out) < OUTPUT_STEP_BYTES and not data and _needs_input(self._decompressor):
                return

    def _emit(self, out: bytes) -> bool:
        file_room = members.MAX_TOTAL_EXPANDED_BYTES - self._budget.expanded
        room = min(MAX_EXPANDED_BYTES - self.expanded, file_room)
        if len(out) > room:
            out = out[: max(room, 0)]
            self._stop(f"{self.kind} data expands beyond " + (
                f"the {members.MAX_TOTAL_EXPANDED_BYTES} bytes all nested content of one file may expand to"
                if file_room < MAX_EXPANDED_BYTES - self.expanded else f"{MAX_EXPANDED_BYTES} bytes"))
        self.expanded += len(out)
        self._budget.expanded += len(out)
        if out:
            self._sink(out)
        if self.limit is None and self.expanded > RATIO_FLOOR_BYTES and \
                self.expanded > MAX_COMPRESSION_RATIO * self.consumed:
            self._stop(f"{self.kind} data expands more than {MAX_COMPRESSION_RATIO} times its compressed size "
                       "(a decompression bomb)")
        return self.limit is None

    def _stop(self, message: str) -> None:
        self.limit = message
        self.done = True

    def _end_of_stream(self, rest: bytes) -> None:
        rest = self._decompressor.unused_data + rest
        if self._multi and rest.startswith(_STREAM_MAGIC[self.kind]):
            self._decompressor = _new_decompressor(self.kind)
            self._pending[:0] = rest  # the next stream is expanded in pieces from its own start
            self.consumed -= len(rest)
            return
        if self._multi and self.kind == "xz" and not rest.strip(XZ_PADDING):
            rest = b""  # xz streams may be followed by zero padding
        self.done = True
        self.unused = rest


_STREAM_MAGIC = {"gzip": GZIP_MAGIC, "bzip2": BZIP2_MAGIC, "xz": XZ_MAGIC, "zlib": b"", "deflate": b""}


def _new_decompressor(kind: str) -> _Decompressor:
    if kind == "deflate":  # raw deflate, as zip members hold it
        return zlib.decompressobj(wbits=-15)
    if kind == "zlib":
        return zlib.decompressobj()
    if kind == "gzip":
        return zlib.decompressobj(wbits=31)
    if kind == "bzip2":
        import bz2

        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    raise ValueError(f"no decompressor for {kind}")


def _unconsumed(decompressor: _Decompressor) -> bytes:
    # zlib hands back input it did not consume because of max_length; bz2 and lzma keep it internally.
    tail = getattr(decompressor, "unconsumed_tail", b"")
    return bytes(tail)


def _needs_input(decompressor: _Decompressor) -> bool:
    return bool(getattr(decompressor, "needs_input", True))


def stream_kind(head: bytes) -> str | None:
    """The Expander kind for a stream starting with `head`: zlib, gzip, bzip2 or xz."""
    opened = _decompressor(head)
    return opened[0] if opened else None


# --- compressed files: the content inspected as a file of its own ------------------------------------------


class CompressedInspector:
    """A gzip, bzip2, xz or zlib stream: decompressed as it passes, its content sniffed and inspected.

    A compressed pickle named `.bin` is still a pickle: the content goes through the same inspectors as a
    file would. The verdict keeps the outer format and adds the content's facts and issues.
    """

    def __init__(self, fmt: Format, nesting: Nesting) -> None:
        self._format = fmt
        self._nesting = nesting
        self._expander: Expander | None = None
        self._content: Inspector | None = None
        self._head = b""
        self._started = False
        self._trailing = 0  # bytes after the end of the last stream

    def feed(self, chunk: memoryview) -> None:
        if self._expander is not None:
            self._feed_expander(chunk)
        elif not self._started:
            self._head += bytes(chunk)
            if len(self._head) >= MIN_HEAD_BYTES:
                self._begin()

    def _feed_expander(self, data: bytes | memoryview) -> None:
        expander = self._expander
        assert expander is not None
        if expander.done:
            self._trailing += len(data) if expander.ended else 0
            return
        expander.feed(data)
        if expander.unused:
            self._trailing += len(expander.unused)
            expander.unused = b""

    def _begin(self) -> None:
        self._started = True
        head, self._head = self._head, b""
        kind = stream_kind(head)
        if kind is None:
            return
        content = self._content = self._nesting.open("content", -1, kind)
        self._expander = Expander(kind, self._nesting.budget, lambda out: content.feed(memoryview(out)),
                                  multi_stream=kind != "zlib")
        self._feed_expander(head)

    def finish(self) -> Inspection:
        if not self._started:
            self._begin()
        expander, content = self._expander, self._content
        if expander is None or content is None:
            return Inspection(self._format, issues=[Issue(MALFORMED_FILE, "compressed stream header is not "
                                                                          "readable")])
        expander.flush()
        self._trailing += len(expander.unused)
        return self._verdict(expander, content.finish())

    def _verdict(self, expander: Expander, inner: Inspection) -> Inspection:
        nested = NestedResults(f"{expander.kind} content")
        nested.add(None, inner)
        what = f"{expander.kind} stream"
        issues = expansion_issues(expander, what)
        if self._trailing and expander.ended:
            issues.append(Issue(MALFORMED_FILE, f"{what}: {self._trailing} bytes follow the end of the compressed "
                                                "data; readers disagree on what to do with them"))
        details = {"compression": expander.kind, "inner_format": inner.format.value,
                   "expanded_bytes": str(expander.expanded)}
        for key, value in inner.details.items():
            details.setdefault(key, value)
        return Inspection(self._format, details, [*issues, *nested.all_issues()])


def expansion_issues(expander: Expander, what: str) -> list[Issue]:
    """Issues about the decompression itself: limits crossed, corrupt or truncated data, trailing bytes."""
    if expander.limit is not None:
        return [Issue(CONTAINER_LIMIT_EXCEEDED, f"{what}: {expander.limit}; the rest is not inspected")]
    if expander.error is not None:
        return [Issue(MALFORMED_FILE, f"{what}: {expander.error}")]
    if not expander.done:
        return [Issue(MALFORMED_FILE, f"{what} is truncated: it ends before its end-of-stream marker")]
    return []
