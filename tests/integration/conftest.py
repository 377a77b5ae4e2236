"""Shared by the tests that drive real clients: finding their executables, and a committed copy of this
repository (pre-commit and gitlab-ci-local read the repository through git, and nothing here may commit to
the real one)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

# Run by .ci/run (CI=true), where scripts/install-ci-tools and README's install put every client in place: a
# missing client there is a broken CI, not a reason to skip.
IN_CI = os.environ.get("CI") == "true"
COPY_IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", ".*_cache", "out")


def find_tool(name: str) -> str | None:
    """The tool installed beside this Python (the venv's bin, where the lint and test extras put it), else
    the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def require_tool(name: str, installed_by: str) -> str:
    path = find_tool(name)
    if path is None:
        message = f"{name} is not installed (it comes from {installed_by})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def git_env(home: Path) -> dict[str, str]:
    """Git with no user or system configuration and a fixed identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", HOME=str(home),
               GIT_AUTHOR_NAME="weightgate tests", GIT_AUTHOR_EMAIL="tests@example.com",
               GIT_COMMITTER_NAME="weightgate tests", GIT_COMMITTER_EMAIL="tests@example.com")
    return env


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=git_env(cwd), capture_output=True, text=True, check=True)
    return result.stdout


def commit_all(repo: Path, message: str = "snapshot") -> str:
    if not (repo / ".git").exists():
        git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def _working_tree_files() -> list[str] | None:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout (e.g. an unpacked sdist): copy the tree instead
    return [name for name in out.decode().split("\0") if name]


def copy_working_tree(target: Path) -> Path:
    """This repository as it is now (uncommitted edits included), committed into a fresh git repository."""
    files = _working_tree_files()
    if files is None:
        shutil.copytree(REPO_ROOT, target, symlinks=True, ignore=COPY_IGNORED)
    else:
        for name in files:
            source, dest = REPO_ROOT / name, target / name
            if not source.is_symlink() and not source.exists():
                continue  # deleted in the working tree
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                dest.symlink_to(os.readlink(source))
            else:
                shutil.copy2(source, dest)
    commit_all(target)
    return target


# podman (and gitlab-ci-local's podman jobs) read the repository's settings unless the caller chose others.
os.environ.setdefault("CONTAINERS_CONF", str(REPO_ROOT / "scripts" / "containers.conf"))
# WEIGHTGATE_TEST_IMAGE: another tag, so that two checkouts testing at once do not rebuild each other's image.
IMAGE = os.environ.get("WEIGHTGATE_TEST_IMAGE", "localhost/weightgate:test")
BASE_IMAGE = "localhost/weightgate-base:test"  # made by scripts/build-image; also gitlab-ci-local's helper


def require_podman() -> str:
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is not installed (scripts/install-ci-tools installs it; .ci/run runs that script)")
    return podman


@pytest.fixture(scope="session")
def weightgate_image() -> str:
    """The image built from the Dockerfile by scripts/build-image (once per session)."""
    require_podman()
    result = subprocess.run([str(REPO_ROOT / "scripts" / "build-image"), IMAGE], capture_output=True, text=True,
                            check=False, timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return IMAGE
