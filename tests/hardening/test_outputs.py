"""Report files are written atomically (temp file + rename): a run that fails or is interrupted while writing
leaves the old file or the new one, never half of one and never a stray temp file; a full disk is a clear
input/output error (exit 2).

How the disk is filled, honestly: a real 64 KiB tmpfs mounted for the test (root can mount one; without root
that test is skipped, saying so) gives a real ENOSPC. Every machine also runs the same path with a real
write failure from RLIMIT_FSIZE (EFBIG, "File too large") in a child process. /dev/full is not used: a report
is renamed into place, and a rename cannot target a device.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, Workspace, safetensors_bytes
from weightgate import outputs
from weightgate.cli import main
from weightgate.errors import OutputError
from weightgate.exitcodes import EXIT_INPUT_ERROR
from weightgate.outputs import write_atomic

OLD = "the previous run's report\n"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- atomic replace ------------------------------------------------------------------------------------------


def test_a_write_leaves_the_new_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "r.sarif"
    target.write_text(OLD)
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), OSError(28, "No space left on device")],
                         ids=["interrupted", "disk-full"])
def test_a_write_that_fails_half_way_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          failure: BaseException) -> None:
    """fsync is the last step before the rename: failing there means the temp file holds the whole text."""
    target = tmp_path / "r.sarif"
    target.write_text(OLD)

    def fail(fd: int) -> None:
        raise failure

    monkeypatch.setattr(outputs.os, "fsync", fail)
    with pytest.raises(type(failure) if isinstance(failure, KeyboardInterrupt) else OutputError):
        write_atomic(target, "new\n")
    assert target.read_text() == OLD
    assert _leftovers(tmp_path) == []


def test_a_rename_that_fails_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.sarif"
    target.write_text(OLD)

    def fail(src: str, dst: Path) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(outputs.os, "replace", fail)
    with pytest.raises(OutputError, match="cannot write"):
        write_atomic(target, "new\n")
    assert target.read_text() == OLD
    assert _leftovers(tmp_path) == []


def test_an_output_path_that_cannot_exist_is_exit_2(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = ws.write_manifest([ws.artifact("m")])
    blocker = ws.root / "file"
    blocker.write_text("a file, not a folder")
    code = main(["check", str(manifest), "--sarif", str(blocker / "r.sarif"), "-q"])
    assert code == EXIT_INPUT_ERROR
    assert "cannot write" in capsys.readouterr().err


# --- disk full ---------------------------------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB tmpfs: a real filesystem that runs out of space."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; test_write_failure_from_a_file_size_limit covers this path")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); the RLIMIT_FSIZE test covers this path")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.fixture
def big_manifest(ws: Workspace) -> Path:
    """A manifest whose SARIF is far larger than 64 KiB."""
    return ws.write_manifest([ws.artifact(f"m{i}", {"model.safetensors": safetensors_bytes()}) for i in range(40)])


def test_disk_full_on_output_is_exit_2_and_keeps_the_old_report(full_disk: Path, big_manifest: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    old = full_disk / "r.sarif"
    old.write_text(OLD)
    code = main(["check", str(big_manifest), "--sarif", str(old), "--source-root", str(big_manifest.parent), "-q"])
    err = capsys.readouterr().err
    assert code == EXIT_INPUT_ERROR, err
    assert "No space left on device" in err and "free disk space" in err
    assert "Traceback" not in err
    assert old.read_text() == OLD
    assert _leftovers(full_disk) == []


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_write_failure_from_a_file_size_limit(big_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    old = out / "r.sarif"
    old.write_text(OLD)
    result = subprocess.run([sys.executable, "-m", "weightgate", "check", str(big_manifest), "--sarif", str(old),
                             "--source-root", str(big_manifest.parent), "-q"],
                            capture_output=True, text=True, preexec_fn=_limit_file_size, cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=120)
    assert result.returncode == EXIT_INPUT_ERROR, result.stderr
    assert "File too large" in result.stderr and "free disk space" in result.stderr
    assert "Traceback" not in result.stderr
    assert old.read_text() == OLD
    assert _leftovers(out) == []
