"""The verify pass turns every failure to open or read a file into facts, never an exception."""

import http.server
import threading
import time
from typing import ClassVar

import pytest

from weightgate.facts import FileStatus
from weightgate.manifest import PinnedFile
from weightgate.verify import ReadBudget, verify_file


class _RaisingMirror:
    uri = "custom://mirror"

    def uri_of(self, path: str) -> str:
        return f"{self.uri}/{path}"

    def open(self, path: str):
        raise PermissionError(13, "Permission denied")


def test_a_plain_os_error_from_a_mirror_is_an_unreadable_file():
    facts = verify_file(_RaisingMirror(), PinnedFile("m.safetensors", "0" * 64, 10, None, ()))
    assert facts.status is FileStatus.UNREADABLE
    assert "Permission denied" in facts.reason


class _EndlessBody(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a chunked body that never ends, counting what it managed to send."""

    protocol_version = "HTTP/1.1"
    sent: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"\x80" * 4096
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        try:
            while True:
                self.wfile.write(frame)
                self.sent.append(len(chunk))
        except OSError:
            return

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endless_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EndlessBody)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_endless_body_stops_one_byte_past_the_pin(ws, endless_server):
    """issue 14, class 5: a 115-byte pin answered with an endless body is WG304 at once, not a stalled gate."""
    art = ws.artifact("endless", {"model.safetensors": b"x" * 115}, mirror=f"{endless_server}/m")
    policy = ws.write_policy(mirrors={"allow_http": True, "request_timeout_seconds": 2, "file_deadline_seconds": 60,
                                      "require_object_versions": False})
    started = time.monotonic()
    report = ws.check(ws.write_manifest([art]), policy=policy)
    assert time.monotonic() - started < 10
    (facts,) = report.facts[0].files
    assert facts.status is FileStatus.SIZE_MISMATCH and facts.size == 116
    assert "WG304" in [f.rule.id for f in report.active_findings]
    assert sum(_EndlessBody.sent) < 64 * 1024 * 1024  # the connection was dropped, not drained


class _Trickle:
    """A handle that yields one byte per call, slowly: the per-file deadline ends it."""

    uri = "custom://trickle"
    size = None

    def readinto(self, view: memoryview) -> int:
        time.sleep(0.05)
        view[:1] = b"a"
        return 1

    def close(self) -> None:
        pass


class _TrickleMirror:
    uri = "custom://trickle"

    def uri_of(self, path: str) -> str:
        return f"{self.uri}/{path}"

    def open(self, path: str) -> _Trickle:
        return _Trickle()


def test_per_file_deadline_follows_the_pinned_size():
    """issue 14, class 5: a small pin gets max(request timeout, size / 1 MiB/s) seconds, then it is unreadable."""
    budget = ReadBudget(request_timeout=0.3, file_deadline=3600)
    assert budget.seconds_for(100) == 0.3
    assert budget.seconds_for(10 * 1024 * 1024) == 10
    assert ReadBudget(request_timeout=1, file_deadline=5).seconds_for(10 ** 12) == 5
    started = time.monotonic()
    facts = verify_file(_TrickleMirror(), PinnedFile("m.bin", "0" * 64, 1000, None, ()), budget=budget)
    assert time.monotonic() - started < 3
    assert facts.status is FileStatus.UNREADABLE and "deadline" in facts.reason
