"""Starting and stopping one server process, and free ports on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def require_program(name: str, install_hint: str, search: Sequence[Path] = ()) -> str:
    """The path of a server program, or fail the test (never skip) with how to install it."""
    for folder in search:
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"server program {name!r} is not installed; {install_hint} (.ci/run installs it)", pytrace=False)
    return found


class ServerProcess:
    """A server started in its own process group, so stopping it also stops its children."""

    def __init__(self, name: str, args: Sequence[str], log: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                         env=env, start_new_session=True)

    def wait_ready(self, probe: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"exited with code {self.proc.returncode} before it was ready")
            try:
                if probe():
                    return
            except Exception:  # not listening yet
                pass
            time.sleep(0.05)
        self.stop()
        self.fail(f"not ready after {timeout:g} s")

    def fail(self, what: str) -> None:
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        pytest.fail(f"{self.name} {what}; log tail:\n{tail}", pytrace=False)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds (SeaweedFS ignores SIGTERM)."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        except ProcessLookupError:
            pass


def port_open(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=0.2):
        return True
