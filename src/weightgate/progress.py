"""Progress of the byte-heavy verify pass: bars on a terminal; in CI logs a line every few seconds or every few
percent of the bytes (one line per file only with -v); or nothing.

The verify pass reports through this small protocol and never prints; the CLI picks the kind.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from weightgate.facts import FileFacts
from weightgate.textsafety import shown


class FileProgress(Protocol):
    def advance(self, n: int) -> None: ...

    def done(self, facts: FileFacts) -> None: ...


class Progress(Protocol):
    def begin(self, total_bytes: int | None) -> None: ...

    def file_started(self, label: str, size: int | None) -> FileProgress: ...

    def close(self) -> None: ...


class _NoFile:
    def advance(self, n: int) -> None:
        pass

    def done(self, facts: FileFacts) -> None:
        pass


class NoProgress:
    def begin(self, total_bytes: int | None) -> None:
        pass

    def file_started(self, label: str, size: int | None) -> FileProgress:
        return _NoFile()

    def close(self) -> None:
        pass


# A CI log gets a line at most this often, or when this share of the bytes has been read since the last one:
# a 10,000-file manifest logs tens of lines, not 10,000.
PERIODIC_INTERVAL_S = 10.0
PERIODIC_STEP_PERCENT = 10


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class _PeriodicFile:
    def __init__(self, owner: PeriodicProgress) -> None:
        self.owner = owner

    def advance(self, n: int) -> None:
        self.owner.advance(n, files_done=0)

    def done(self, facts: FileFacts) -> None:
        self.owner.advance(0, files_done=1)


class PeriodicProgress:
    """For CI logs: a summary line every `interval` seconds or every `step_percent` of the bytes, and one at the
    end; never a line per file, never a bar's control codes."""

    def __init__(self, stream: TextIO | None = None, interval: float = PERIODIC_INTERVAL_S,
                 step_percent: int = PERIODIC_STEP_PERCENT, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.step, self.clock = interval, step_percent, clock
        self.lock = threading.Lock()
        self.total: int | None = None
        self.bytes = self.files = 0
        self.last_time = clock()
        self.last_percent = 0

    def begin(self, total_bytes: int | None) -> None:
        self.total = total_bytes
        self.last_time = self.clock()

    def file_started(self, label: str, size: int | None) -> FileProgress:
        return _PeriodicFile(self)

    def advance(self, n: int, files_done: int) -> None:
        with self.lock:
            self.bytes += n
            self.files += files_done
            now = self.clock()
            percent = self._percent()
            due = now - self.last_time >= self.interval
            if due or (percent is not None and percent >= self.last_percent + self.step and percent < 100):
                self.last_time = now
                if percent is not None:
                    self.last_percent = percent - percent % self.step
                self._write()

    def _percent(self) -> int | None:
        return min(100, self.bytes * 100 // self.total) if self.total else None

    def _write(self) -> None:
        of = f" of {human_bytes(self.total)} ({self._percent()}%)" if self.total else ""
        print(f"weightgate: verified {self.files} file(s), {human_bytes(self.bytes)}{of}", file=self.stream,
              flush=True)

    def close(self) -> None:
        with self.lock:
            if self.files or self.bytes:
                self._write()


class _LineFile:
    def __init__(self, owner: LineProgress, label: str) -> None:
        self.owner, self.label = owner, label

    def advance(self, n: int) -> None:
        pass

    def done(self, facts: FileFacts) -> None:
        if facts.verified:
            what = "DIFFERS FROM PIN, " if facts.differs_from_pin else ""
            what += f"{facts.size} bytes, {facts.format.value if facts.format else '?'}, sha256 {facts.sha256[:12]}…"
        else:
            what = f"{facts.status.value}: {facts.reason}"
        self.owner.write(f"weightgate: {self.label}: {what}")


class LineProgress:
    """One line per file on a non-terminal stream (-v in CI logs): what was read, never a bar's control codes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr  # looked up now: tests redirect it
        self.lock = threading.Lock()

    def begin(self, total_bytes: int | None) -> None:
        pass

    def write(self, line: str) -> None:
        with self.lock:
            print(shown(line), file=self.stream, flush=True)  # paths and reasons come from the manifest and mirror

    def file_started(self, label: str, size: int | None) -> FileProgress:
        return _LineFile(self, label)

    def close(self) -> None:
        pass


class _BarFile:
    def __init__(self, owner: BarProgress, bar: Any) -> None:
        self.owner, self.bar = owner, bar

    def advance(self, n: int) -> None:
        self.bar.update(n)
        if self.owner.overall is not None:
            self.owner.overall.update(n)

    def done(self, facts: FileFacts) -> None:
        self.bar.close()


class BarProgress:
    """tqdm bars on a terminal: one overall (bytes/s, ETA) and one per file being read."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.stream = stream
        self.overall: Any = None

    def begin(self, total_bytes: int | None) -> None:
        self.overall = self._tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="verify",
                                  file=self.stream, position=0, dynamic_ncols=True)

    def file_started(self, label: str, size: int | None) -> FileProgress:
        bar = self._tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=shown(label)[-40:],
                         file=self.stream, leave=False, dynamic_ncols=True)
        return _BarFile(self, bar)

    def close(self) -> None:
        if self.overall is not None:
            self.overall.close()
