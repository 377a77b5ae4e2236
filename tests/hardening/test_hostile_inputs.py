"""One named test per hostile input: each ends in a clear input error (exit 2) or a finding (fail closed),
quickly and within a memory bound, never in a hang, an exception or a pass.

Unreadable files, as root: root reads any file whatever its mode, so the real case runs the CLI in a child
that has lost CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (`setpriv`), where a mode-000 file is really denied;
a mirror whose reads fail with PermissionError covers the same path in-process."""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from conftest import REPO_ROOT, Workspace, file_entry, safetensors_bytes
from formats import samples
from formats.pickles import call, dumps
from formats.test_containers import RawMember, raw_zip
from hardening.fuzzing import bounded
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR
from weightgate.facts import FileStatus
from weightgate.formats import members, zipstream
from weightgate.formats.safetensors_header import SafetensorsInspector
from weightgate.manifest import PinnedFile
from weightgate.mirror.local import LocalMirror
from weightgate.scan import ScanOptions, run_scan
from weightgate.verify import VerifyJob, verify_artifacts, verify_file

MIB = 1024 * 1024
MAX_PEAK = 80 * MIB  # what one hostile input may make the process allocate (tracemalloc peak)
FAST_S = 20.0  # every hostile input is refused well within this (seconds)
MAX_CHILD_RSS = 200 * MIB  # peak RSS of a whole `weightgate scan` process fed a bomb


def _check(manifest: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    started = time.monotonic()
    with bounded(MAX_PEAK, FAST_S, always_precise=True):
        code = main(["check", str(manifest), "--offline", "-q", *extra])
    err = capsys.readouterr().err
    assert time.monotonic() - started < FAST_S
    assert "Traceback" not in err and "internal error" not in err, err
    return code, err


def _scan_rules(path: Path) -> list[str]:
    with bounded(MAX_PEAK, FAST_S, always_precise=True):
        report = run_scan(ScanOptions(paths=(path,), source_root=path.parent))
    return sorted(f.rule.id for f in report.active_findings)


# The CLI in a child that reports its own peak RSS: VmHWM belongs to the process's memory since its exec
# (getrusage's ru_maxrss of a child would include the pytest process it was forked from).
CHILD = ("import sys\nfrom weightgate.cli import main\ncode = main(sys.argv[1:])\n"
         "sys.stderr.write(''.join(l for l in open('/proc/self/status') if l.startswith('VmHWM:')))\n"
         "sys.exit(code)\n")


def _scan_in_child(path: Path) -> list[str]:
    """`weightgate scan` in a child process whose peak RSS and time are bounded: the bombs are judged on real
    process memory, zlib's buffers included."""
    result = subprocess.run([sys.executable, "-c", CHILD, "scan", str(path), "--format", "json"],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=FAST_S * 3)
    assert result.returncode == EXIT_FINDINGS, result.stderr
    [peak_kib] = [int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("VmHWM:")]
    assert peak_kib * 1024 <= MAX_CHILD_RSS, f"peak RSS {peak_kib} KiB"
    return sorted(f["rule"] for f in json.loads(result.stdout)["findings"])


# --- manifests and policies ---------------------------------------------------------------------------------------


def test_yaml_billion_laughs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    manifest = tmp_path / "m.yaml"
    manifest.write_text("\n".join(lines) + "\n")
    code, err = _check(manifest, capsys)
    assert code == EXIT_INPUT_ERROR and "alias bomb" in err


def test_yaml_deep_nesting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("artifacts: " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, err = _check(manifest, capsys)
    assert code == EXIT_INPUT_ERROR and ("deeper than" in err or "nesting depth" in err)


@pytest.mark.parametrize("tagged", ["!!python/object/apply:os.system [\"touch {canary}\"]",
                                    "!!python/name:os.system", "!custom x", "!!binary aGVsbG8="])
@pytest.mark.parametrize("where", ["manifest", "policy"])
def test_yaml_custom_tags(tmp_path: Path, capsys: pytest.CaptureFixture[str], tagged: str, where: str) -> None:
    canary = tmp_path / "CANARY"
    value = tagged.format(canary=canary)
    manifest = tmp_path / "m.yaml"
    manifest.write_text("apiVersion: weightgate.dev/v1\nkind: DeploymentManifest\nartifacts: []\nmetadata:\n  name: "
                        + (value if where == "manifest" else "m") + "\n")
    policy = tmp_path / "p.yaml"
    policy.write_text(f"apiVersion: weightgate.dev/v1\nkind: Policy\nfail_on: {value}\n")
    code, err = _check(manifest, capsys, *(("--policy", str(policy)) if where == "policy" else ()))
    assert code == EXIT_INPUT_ERROR and "is not allowed" in err
    assert not canary.exists()


def test_a_100_mb_manifest_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.yaml"
    with manifest.open("w") as f:
        f.write("apiVersion: weightgate.dev/v1\nkind: DeploymentManifest\nmetadata: {name: ")
        for _ in range(100):
            f.write("x" * MIB)
        f.write("}\nartifacts: []\n")
    code, err = _check(manifest, capsys)
    assert code == EXIT_INPUT_ERROR and "the limit is" in err


@pytest.mark.parametrize("source", ["fifo", "device"])
def test_a_100_mb_manifest_with_no_size_to_check(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 source: str) -> None:
    """A pipe (`weightgate check <(generate)`) or a device has no size up front: the read itself is bounded."""
    if source == "device":
        manifest = Path("/dev/zero")
    else:
        manifest = tmp_path / "m.yaml"
        os.mkfifo(manifest)

        def write() -> None:
            try:
                with manifest.open("wb") as f:
                    for _ in range(100):
                        f.write(b"x" * MIB)
            except BrokenPipeError:
                pass  # the reader stopped at its limit: as it should

        threading.Thread(target=write, daemon=True).start()
    code, err = _check(manifest, capsys)
    assert code == EXIT_INPUT_ERROR and "over the limit" in err


def test_duplicate_yaml_keys(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    """Last-wins would let a second `sha256:` hide behind the reviewed one."""
    manifest = ws.write_manifest([ws.artifact("m")])
    text = manifest.read_text()
    pinned = text.index("    sha256: ")
    manifest.write_text(text[:pinned] + "    sha256: " + "0" * 64 + "\n" + text[pinned:])
    code, err = _check(manifest, capsys)
    assert code == EXIT_INPUT_ERROR and "duplicate key 'sha256'" in err


# --- archives and compressed streams ----------------------------------------------------------------------------


def _zeros_deflated(total: int, wbits: int) -> tuple[bytes, int]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    chunk, crc, out = bytes(MIB), 0, []
    for _ in range(total // MIB):
        out.append(compressor.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    return b"".join(out) + compressor.flush(), crc


def test_zip_bomb_by_ratio(tmp_path: Path) -> None:
    size = 512 * MIB
    deflated, crc = _zeros_deflated(size, -15)
    (tmp_path / "bomb.zip").write_bytes(raw_zip([RawMember("zeros.bin", b"", deflated=(deflated, crc, size)),
                                                 RawMember("p.pkl", dumps(call("os", "system", "id")))]))
    assert {"WG502", "WG506"} <= set(_scan_in_child(tmp_path / "bomb.zip"))  # stopped; the walk went on


def test_zip_bomb_by_member_count(tmp_path: Path) -> None:
    count = zipstream.MAX_MEMBERS + 1
    local, central = bytearray(), bytearray()
    for i in range(count):
        name = f"{i}".encode()
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0,
                               0, 0, 0, len(local)) + name
        local += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(central), len(local), 0)
    (tmp_path / "many.zip").write_bytes(bytes(local + central + end))
    assert "WG506" in _scan_in_child(tmp_path / "many.zip")


def test_nested_archives_beyond_the_depth_limit(tmp_path: Path) -> None:
    data = dumps(call("os", "system", "id"))
    for level in range(members.MAX_DEPTH + 2):
        data = samples.zip_of({f"level{level}.zip": data}) if level % 2 else samples.tar_of({f"l{level}.tar": data})
    (tmp_path / "deep.zip").write_bytes(data)
    assert "WG506" in _scan_rules(tmp_path / "deep.zip")  # not opened, so not passed either


def test_gzip_bomb(tmp_path: Path) -> None:
    deflated, _ = _zeros_deflated(512 * MIB, 31)
    (tmp_path / "weights.bin.gz").write_bytes(deflated)
    assert "WG506" in _scan_in_child(tmp_path / "weights.bin.gz")


# --- headers that claim absurd sizes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "rule"), [
    ("memo-get-1e9.pkl", b"\x80\x02j" + struct.pack("<I", 10**9) + b".", "WG503"),  # read of a billion-th slot
    ("memo-put-1e9.pkl", b"\x80\x02Nr" + struct.pack("<I", 10**9) + b"0j" + struct.pack("<I", 10**9) + b".", None),
], ids=["get", "put-and-get"])
def test_pickle_with_a_billion_element_memo_index(tmp_path: Path, name: str, data: bytes, rule: str | None) -> None:
    """The C unpickler grows its memo array to the index (gigabytes); the walker keeps a dict."""
    (tmp_path / name).write_bytes(data)
    found = _scan_rules(tmp_path / name)
    assert (rule in found) if rule else "WG503" not in found
    assert "WG401" in found  # a pickle is a prohibited format by default, whatever its memo


def test_safetensors_header_length_of_2_63(tmp_path: Path) -> None:
    data = struct.pack("<Q", 2**63) + b'{"w": {}}' + bytes(64)
    (tmp_path / "model.safetensors").write_bytes(data)
    # Not safetensors by its bytes (no plausible header), so unknown and not what its name claims.
    assert _scan_rules(tmp_path / "model.safetensors") == ["WG403", "WG404"]
    # and the safetensors inspector itself refuses the length, allocating nothing
    with bounded(MAX_PEAK, FAST_S, always_precise=True):
        inspector = SafetensorsInspector(len(data))
        inspector.feed(memoryview(data))
        assert [issue.rule.id for issue in inspector.finish().issues] == ["WG405"]


def test_gguf_claiming_2_60_tensors(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_bytes(samples.gguf_file(tensor_count=2**60))
    assert _scan_rules(tmp_path / "model.gguf") == ["WG405"]


# --- the mirror ---------------------------------------------------------------------------------------------------


def test_a_fifo_or_device_file_in_the_mirror(ws: Workspace) -> None:
    """Neither is opened for reading (a FIFO would block until a writer comes; /dev/zero never ends): each is
    a finding, and the run ends at once. Run in a child so that a hang fails the test instead of stalling it."""
    artifact = ws.artifact("m")
    folder = ws.mirror / "m"
    os.mkfifo(folder / "pipe.bin")
    entries = [file_entry("pipe.bin", b"")]
    if os.geteuid() == 0:  # only root can make device nodes
        os.mknod(folder / "zero.bin", stat.S_IFCHR | 0o644, os.makedev(1, 5))
        entries.append(file_entry("zero.bin", b""))
    artifact["files"] += entries
    manifest = ws.write_manifest([artifact])
    result = subprocess.run([sys.executable, "-m", "weightgate", "check", str(manifest), "--format", "json"],
                            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == EXIT_FINDINGS, result.stderr
    found = {(f["file"], f["rule"]) for f in json.loads(result.stdout)["findings"] if f.get("file")}
    assert {(entry["path"], "WG307") for entry in entries} <= found


class _ChangingFile:
    """A real local file that grows or shrinks right after its first chunk has been read."""

    def __init__(self, inner: object, path: Path, change: str) -> None:
        self._inner, self._path, self._change = inner, path, change
        self.size, self.uri, self._reads = inner.size, inner.uri, 0

    def readinto(self, buffer: memoryview) -> int:
        n = self._inner.readinto(buffer)
        self._reads += 1
        if self._reads == 1:
            if self._change == "grows":
                with self._path.open("ab") as f:
                    f.write(bytes(4 * MIB))
            else:
                os.truncate(self._path, 2 * MIB)
        return n

    def close(self) -> None:
        self._inner.close()


class _ChangingMirror:
    def __init__(self, root: Path, change: str) -> None:
        self._local, self._root, self._change = LocalMirror(root), root, change
        self.uri = self._local.uri

    def uri_of(self, path: str) -> str:
        return self._local.uri_of(path)

    def open(self, path: str) -> _ChangingFile:
        return _ChangingFile(self._local.open(path), self._root / path, self._change)


@pytest.mark.parametrize("change", ["grows", "shrinks"])
def test_a_file_that_changes_size_while_being_read(tmp_path: Path, change: str) -> None:
    data = bytes(8 * MIB)
    (tmp_path / "w.bin").write_bytes(data)
    facts = verify_file(_ChangingMirror(tmp_path, change), PinnedFile("w.bin", "0" * 64, len(data), None, ()))
    assert facts.status is FileStatus.UNREADABLE
    assert "changed while being read" in facts.reason


class _DeniedFile:
    size, uri = 1 * MIB, "test://denied"

    def readinto(self, buffer: memoryview) -> int:
        raise PermissionError(13, "Permission denied")

    def close(self) -> None:
        pass


class _DenyingMirror:
    uri = "test://"

    def uri_of(self, path: str) -> str:
        return self.uri + path

    def open(self, path: str) -> _DeniedFile:
        return _DeniedFile()


def test_unreadable_files_through_a_mirror() -> None:
    [artifact] = verify_artifacts([VerifyJob("a", "test://", _DenyingMirror(), (PinnedFile("w", None, None, None,
                                                                                           ()),))])
    assert artifact.files[0].status is FileStatus.UNREADABLE
    assert "Permission denied" in artifact.files[0].reason


def test_unreadable_files_permission_denied(tmp_path: Path) -> None:
    """A real mode-000 file, scanned by a process that permissions apply to."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "ok.safetensors").write_bytes(safetensors_bytes())
    secret = folder / "secret.safetensors"
    secret.write_bytes(safetensors_bytes())
    secret.chmod(0)
    command = [sys.executable, "-m", "weightgate", "scan", str(folder), "--format", "json"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root ignores file modes and setpriv (util-linux) is missing to drop that power; "
                        "test_unreadable_files_through_a_mirror covers the path")
        caps = "-dac_override,-dac_read_search"
        command = [setpriv, "--bounding-set", caps, "--inh-caps", caps, *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == EXIT_FINDINGS, result.stderr
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["rule"] == "WG307" and "Permission denied" in finding["message"]
