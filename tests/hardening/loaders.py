"""The real loaders, asked from one long-lived child process (`oracle_child.py`) for the differential tests.

Nothing is ever loaded in the test process: the child runs the C unpickler with `find_class` and
`persistent_load` replaced by recorders that import nothing, and the archive, numpy and safetensors readers
only as far as listing and validating. It limits its own address space and each request's time; a child that
stops answering is killed and restarted, and the case fails.
"""

from __future__ import annotations

import json
import select
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

CHILD_SCRIPT = Path(__file__).with_name("oracle_child.py")
REPLY_TIMEOUT_S = 30.0  # the child's own alarm ends a request after 10 s; this catches a child that hangs hard
KINDS = {"pickle": b"p", "zip": b"z", "tar": b"t", "npy": b"n", "safetensors": b"s"}


class LoaderHung(AssertionError):
    """The child gave no answer in time (it is restarted for the next case)."""


class Loaders:
    """One child process answering `ask(kind, data)` until `close()`."""

    def __init__(self) -> None:
        self._process = self._start()

    @staticmethod
    def _start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-I", str(CHILD_SCRIPT)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)

    def ask(self, kind: str, data: bytes) -> dict[str, Any]:
        """What the real loader of `kind` makes of `data`: {"ok": bool, "error": str, ...facts}."""
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(KINDS[kind] + struct.pack("<I", len(data)) + data)
        process.stdin.flush()
        if not select.select([process.stdout], [], [], REPLY_TIMEOUT_S)[0]:
            self._restart()
            raise LoaderHung(f"the {kind} loader gave no answer in {REPLY_TIMEOUT_S} s for {data[:200]!r}")
        length = struct.unpack("<I", _read_exactly(process.stdout, 4))[0]
        answer: dict[str, Any] = json.loads(_read_exactly(process.stdout, length))
        return answer

    def _restart(self) -> None:
        self._process.kill()
        self._process.wait()
        self._process = self._start()

    def close(self) -> None:
        process = self._process
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise LoaderHung(f"the loader child exited (read {len(data)} of {n} bytes)")
    return data
