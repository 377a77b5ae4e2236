"""SIGINT and SIGTERM during a long `weightgate check` stop it cleanly: exit 130 / 143, within a moment (queued
files are dropped, reads in flight are not waited for), no traceback, no report file written, and a report
from an earlier run left as it was.

The run is made long with sparse files (gigabytes that take no disk and read at memory speed); the signal is
sent once the first file has been verified, so the handlers are certainly installed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import COMMIT, REPO_ROOT
from weightgate.exitcodes import EXIT_INTERRUPTED, EXIT_TERMINATED

FILES = 16
FILE_BYTES = 512 * 1024 * 1024  # 8 GiB in all: seconds of hashing that the signal must cut short
STOP_WITHIN_S = 3.0
OLD = "the previous run's report\n"


@pytest.fixture
def long_run(tmp_path: Path) -> Path:
    """A manifest of one artifact whose sparse files take several seconds to hash."""
    mirror = tmp_path / "mirror" / "big"
    mirror.mkdir(parents=True)
    files = []
    for i in range(FILES):
        with (mirror / f"shard-{i:02}.bin").open("wb") as f:
            f.truncate(FILE_BYTES)
        files.append({"path": f"shard-{i:02}.bin", "sha256": "0" * 64, "size": FILE_BYTES})
    artifact = {"id": "big", "class": "model", "name": "big", "version": "1", "owner": "t@example.com",
                "intended_use": "tests", "source": {"registry": "huggingface", "uri": "hf://o/big", "revision": COMMIT},
                "files": files, "license": {"spdx": "Apache-2.0"}}
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"apiVersion": "weightgate.dev/v1", "kind": "DeploymentManifest",
                                        "mirror_base": "mirror", "artifacts": [artifact]}))
    return manifest


def _start(manifest: Path, out: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "weightgate", "-v", "check", str(manifest), "--workers", "1",
               "--sarif", str(out / "r.sarif"), "--bom", str(out / "r.bom.json"), "--json", str(out / "r.json")]
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "GITHUB_ACTIONS": "false"})


def _wait_for_first_file(process: subprocess.Popen[str]) -> list[str]:
    """Read stderr until the first file is reported verified (the run is then well inside the verify pass)."""
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if "shard-00.bin" in line:
            return seen
    process.kill()
    pytest.fail("the run never reported its first file:\n" + "".join(seen))


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_TERMINATED)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_long_check_cleanly(long_run: Path, tmp_path: Path, signum: int, code: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.sarif").write_text(OLD)
    process = _start(long_run, out)
    before = _wait_for_first_file(process)
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    elapsed = time.monotonic() - sent
    err = "".join(before) + rest
    assert process.returncode == code, err
    assert elapsed < STOP_WITHIN_S, f"took {elapsed:.1f} s to stop"
    assert "Traceback" not in err
    assert "no report was written half-way" in err
    assert sorted(p.name for p in out.iterdir()) == ["r.sarif"]  # no new report, no temp file
    assert (out / "r.sarif").read_text() == OLD


def test_a_second_signal_while_stopping_is_harmless(long_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    process = _start(long_run, out)
    before = _wait_for_first_file(process)
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGTERM)
    try:
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode in (EXIT_TERMINATED, EXIT_INTERRUPTED), "".join(before) + rest
    assert "Traceback" not in rest
    assert list(out.iterdir()) == []
