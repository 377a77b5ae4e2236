"""olah as the Hugging Face-compatible endpoint, offline, serving git repositories from its mirrors path.

A repository is a plain git repo at `<mirrors>/models/<org>/<name>`; olah answers the hub API
(`/api/models/<repo>/revision/<ref>`) and `/resolve/<commit>/<path>` from it over HTTPS, like an internal hub
proxy. Its metadata cache is off, so a branch moved by a test is seen at once.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from servers.process import HOST, ServerProcess, free_port, port_open, require_program
from servers.tls import TestCA

INSTALL_HINT = "pip install 'olah==0.5.4' (in the test extra)"
GIT = ("git", "-c", "user.name=weightgate-tests", "-c", "user.email=tests@example.com")


@dataclass
class Olah:
    endpoint: str
    mirrors: Path
    process: ServerProcess

    def commit(self, repo_id: str, files: dict[str, bytes], message: str = "update") -> str:
        """Write `files` into the repo's main branch (creating the repo) and return the new commit id."""
        repo = self.mirrors / "models" / repo_id
        if not (repo / ".git").exists():
            repo.mkdir(parents=True)
            subprocess.run([*GIT, "init", "-q", "-b", "main", str(repo)], check=True)
        for path, data in files.items():
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_bytes(data)
        subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
        subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "-m", message], check=True)
        return subprocess.run([*GIT, "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True,
                              text=True).stdout.strip()


def start_olah(folder: Path, ca: TestCA) -> Olah:
    require_program("git", "install git (apt-get install git)")
    try:
        import olah  # noqa: F401
    except ImportError:
        import pytest

        pytest.fail(f"olah is not installed; {INSTALL_HINT}", pytrace=False)
    cert = ca.issue("olah")
    port = free_port()
    mirrors = folder / "mirrors"
    (mirrors / "models").mkdir(parents=True)
    config = folder / "olah.toml"
    config.write_text(f"""[basic]
host = "{HOST}"
port = {port}
ssl-key = "{cert.key}"
ssl-cert = "{cert.cert}"
repos-path = "{folder / 'repos'}"
mirrors-path = ["{mirrors}"]
metadata-cache-ttl = 0

[accessibility]
offline = true
""")
    process = ServerProcess("olah", [sys.executable, "-m", "olah.server", "-c", str(config)], folder / "olah.log",
                            cwd=folder)
    process.wait_ready(lambda: port_open(port), timeout=30)
    return Olah(f"https://{HOST}:{port}", mirrors, process)
