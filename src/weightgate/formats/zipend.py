"""A zip central directory at the end of a file that detection did not call a zip (issue 14, class 1).

Detection reads a file's first bytes; `zipfile` (and Keras, and anything using `zipfile.is_zipfile`) finds an
archive from its last bytes, and accepts any data before it. A file whose head is text, a pickle or nothing
known can therefore still open as an archive whose members weightgate never inspected. The differential
oracle found it: a zip with its first byte changed is "unknown" to detection and a two-member archive to
zipfile. This module keeps the last bytes of every file and finds the directory the way `zipfile` does.
"""

from __future__ import annotations

import struct

EOCD_SIG, EOCD_SIZE = b"PK\x05\x06", 22
CENTRAL_SIG = b"PK\x01\x02"
SEARCH_BYTES = EOCD_SIZE + 0xFFFF  # zipfile looks for the end record in the last 64 KiB (its longest comment)
TAIL_BYTES = 1024 * 1024  # enough to check the directory's signature for archives of up to ~10,000 members


class TailKeeper:
    """The last TAIL_BYTES of a stream, kept as it is fed.

    Copying every chunk's last bytes would cost about as much as reading the file again (issue 18), so when
    the stream's length is announced (`expected`, negative when unknown) a chunk keeps all of its last
    TAIL_BYTES only once the stream is within TAIL_BYTES of that length; earlier chunks keep their last
    SEARCH_BYTES. The kept bytes are always the stream's last ones, and always at least its last SEARCH_BYTES
    (all zipfile searches for an end record), whatever the stream's real length: `short` says a stream ended
    early enough that fewer than TAIL_BYTES were kept.
    """

    def __init__(self, expected: int = -1) -> None:
        self._tail = bytearray()
        self._expected = expected
        self.total = 0

    def feed(self, chunk: memoryview) -> None:
        self.total += len(chunk)
        near_end = self._expected < 0 or self.total > self._expected - TAIL_BYTES
        keep = TAIL_BYTES if near_end else SEARCH_BYTES
        if len(chunk) >= keep:
            self._tail[:] = chunk[-keep:]
            return
        self._tail += chunk
        if len(self._tail) > 2 * TAIL_BYTES:  # trimmed now and then, not on every chunk
            del self._tail[:-TAIL_BYTES]

    def tail(self) -> bytes:
        return bytes(self._last())

    def _last(self) -> bytearray:
        """The kept bytes, trimmed in place to the last TAIL_BYTES (no copy)."""
        if len(self._tail) > TAIL_BYTES:
            del self._tail[:-TAIL_BYTES]
        return self._tail

    @property
    def short(self) -> bool:
        """The stream ended before its announced length, with fewer of its last bytes kept than TAIL_BYTES."""
        return len(self._tail) < min(self.total, TAIL_BYTES)

    def hidden_directory(self) -> tuple[int, int] | None:
        """(offset, size) of a non-empty central directory zipfile would open from the end, or None."""
        tail = self._last()
        # A short tail still holds the last SEARCH_BYTES: the end record is found wherever zipfile finds it, and
        # a directory that starts before the kept bytes is reported rather than passed (see below).
        return central_directory_from_end(tail, self.total - len(tail))


def central_directory_from_end(tail: bytes | bytearray, tail_start: int) -> tuple[int, int] | None:
    """zipfile's `_EndRecData` and `_RealGetContents`, as far as finding the directory: the end record is the
    last 22 bytes when it has no comment, else the last signature in the searched bytes; the directory is
    read from `size` bytes before the end record, whatever the record says its offset is."""
    at = len(tail) - EOCD_SIZE
    if not (at >= 0 and tail.startswith(EOCD_SIG, at) and tail.endswith(b"\x00\x00")):
        at = tail.rfind(EOCD_SIG, max(0, len(tail) - SEARCH_BYTES))
        if at < 0 or at + EOCD_SIZE > len(tail):
            return None
    size = struct.unpack_from("<I", tail, at + 12)[0]
    start = tail_start + at - size
    if size == 0 or start < 0:
        return None  # an empty directory lists nothing; one before the file's start does not open
    inside = start - tail_start
    if inside >= 0 and not tail.startswith(CENTRAL_SIG, inside):
        return None  # zipfile refuses a directory without its signature
    return start, size
