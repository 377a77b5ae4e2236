"""Progress of the byte-heavy verify pass: bars on a terminal, one line per file in CI logs, or nothing.

The verify pass reports through this small protocol and never prints; the CLI picks the kind.
"""

from __future__ import annotations

import sys
import threading
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
    """One line per file on a non-terminal stream (CI logs): what was read, never a bar's control codes."""

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
