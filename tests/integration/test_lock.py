"""requirements/lock.txt, the only source of the Action's and the image's dependencies: every runtime
dependency and the build backend pinned with hashes, and installable on every supported Python."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO_ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

LOCK = REPO_ROOT / "requirements" / "lock.txt"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")
RELOCK = "run scripts/lock (needs uv) after changing dependencies"


def locked() -> list[tuple[Requirement, list[str]]]:
    """Each pinned requirement with its hashes (uv writes `name==version ; markers \\` then hash lines)."""
    entries: list[tuple[Requirement, list[str]]] = []
    for line in LOCK.read_text().splitlines():
        if line.startswith("    --hash=sha256:"):
            entries[-1][1].append(line.split(":", 1)[1].rstrip(" \\"))
        elif line and not line.startswith((" ", "#")):
            entries.append((Requirement(line.rstrip(" \\")), []))
    return entries


def pins_for(python: str) -> dict[str, str]:
    env = {**default_environment(), "python_version": python, "python_full_version": f"{python}.0",
           "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}
    pins = {}
    for requirement, _ in locked():
        if requirement.marker is None or requirement.marker.evaluate(env):
            name = canonicalize_name(requirement.name)
            assert name not in pins, f"{name} pinned twice for Python {python}"
            pins[name] = next(iter(requirement.specifier)).version
    return pins


def test_every_pin_is_exact_and_hashed():
    entries = locked()
    assert entries
    for requirement, hashes in entries:
        assert len(requirement.specifier) == 1 and next(iter(requirement.specifier)).operator == "==", requirement
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), requirement


@pytest.mark.parametrize("python", SUPPORTED)
def test_lock_satisfies_pyproject(python):
    pins = pins_for(python)
    wanted = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]]
    env = {**default_environment(), "python_version": python, "python_full_version": f"{python}.0"}
    for text in wanted:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(env):
            continue  # e.g. tomli, needed only before Python 3.11
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements/lock.txt: {RELOCK}"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]}: {RELOCK}"


def _interpreter(version: str) -> str | None:
    # pyenv keeps versions it has not activated out of PATH, behind shims that fail for them.
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
    if candidates:
        return candidates[-1]
    found = shutil.which(f"python{version}")
    return found if found and "/shims/" not in found else None


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("version", SUPPORTED)
def test_lock_installs_with_hashes(version, tmp_path):
    """pip resolves the lock in hash-checking mode on each Python there is here, downloading (and so
    hash-checking) every wheel it would install."""
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine")
    result = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed", "--require-hashes",
         "--only-binary", ":all:", "--report", str(tmp_path / "report.json"), "-r", str(LOCK)],
        capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(tmp_path / "report.json").stat().st_size > 0
