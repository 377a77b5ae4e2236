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


def _local_job(tmp_path, name: str, sizes: list[int], pinned: bool = True):
    from weightgate.mirror.local import LocalMirror
    from weightgate.verify import VerifyJob

    folder = tmp_path / name
    folder.mkdir()
    files = []
    for i, size in enumerate(sizes):
        (folder / f"f{i}").write_bytes(b"x" * size)
        files.append(PinnedFile(f"f{i}", None, size if pinned else None, None, ()))
    mirror = LocalMirror(folder)
    listed = () if pinned else tuple(sizes)
    return VerifyJob(name, mirror.uri, mirror, tuple(files), listed_sizes=listed)


def test_small_local_files_are_read_in_batches_and_the_rest_one_task_each(tmp_path):
    # Issue 18: small files of a local mirror are Python work under the GIL; one thread reads them in turn.
    from weightgate.verify import IN_TURN_BATCH_BYTES, IN_TURN_MAX_BYTES, _tasks

    small = _local_job(tmp_path, "small", [10, 20, IN_TURN_MAX_BYTES])
    large = _local_job(tmp_path, "large", [IN_TURN_MAX_BYTES + 1, 5])
    listed = _local_job(tmp_path, "listed", [7, IN_TURN_MAX_BYTES + 1], pinned=False)
    tasks = _tasks([small, large, listed])
    assert tasks == [[(1, 0)], [(2, 1)], [(0, 0), (0, 1), (0, 2), (1, 1), (2, 0)]]

    many = _local_job(tmp_path, "many", [IN_TURN_MAX_BYTES] * (IN_TURN_BATCH_BYTES // IN_TURN_MAX_BYTES + 1))
    assert [len(task) for task in _tasks([many])] == [IN_TURN_BATCH_BYTES // IN_TURN_MAX_BYTES, 1]
    assert len(_tasks([many, large])[0]) == 1  # the large file first


def test_a_local_mirror_wrapped_to_keep_a_model_card_is_still_read_in_batches(tmp_path):
    from weightgate.governance.model_card import _CapturingMirror
    from weightgate.verify import VerifyJob, _tasks

    job = _local_job(tmp_path, "carded", [10, 20])
    wrapped = _CapturingMirror(job.mirror, "f0", bytearray())
    assert _tasks([VerifyJob(job.artifact_id, job.mirror_uri, wrapped, job.files)]) == [[(0, 0), (0, 1)]]


def test_files_of_unknown_size_and_remote_files_get_a_task_each(tmp_path):
    from weightgate.verify import VerifyJob, _tasks

    unknown = _local_job(tmp_path, "unknown", [1, 2], pinned=False)
    unknown = VerifyJob(unknown.artifact_id, unknown.mirror_uri, unknown.mirror, unknown.files)
    remote = VerifyJob("remote", "custom://mirror", _RaisingMirror(), (PinnedFile("m", None, 3, None, ()),))
    assert _tasks([unknown, remote]) == [[(0, 0)], [(0, 1)], [(1, 0)]]


def test_batched_and_single_files_come_back_in_manifest_order(tmp_path):
    from weightgate.verify import IN_TURN_MAX_BYTES, verify_artifacts

    jobs = [_local_job(tmp_path, "a", [IN_TURN_MAX_BYTES + 1, 1, 2]), _local_job(tmp_path, "b", [3])]
    results = verify_artifacts(jobs, workers=3)
    assert [(a.artifact_id, [(f.path, f.size) for f in a.files]) for a in results] == [
        ("a", [("f0", IN_TURN_MAX_BYTES + 1), ("f1", 1), ("f2", 2)]), ("b", [("f0", 3)])]
