"""An MLflow tracking server with a model registry (sqlite backend, proxied artifact store).

Models are registered over MLflow's REST API exactly as a training pipeline would: create a run, upload its
artifacts through the artifact proxy, register a model version from the run's folder, set aliases.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from servers.process import HOST, ServerProcess, free_port

INSTALL_HINT = "pip install -e '.[mlflow-server]'"


@dataclass
class Mlflow:
    url: str
    process: ServerProcess
    experiment_id: str = ""

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/api/2.0/mlflow/{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def upload(self, artifact_uri: str, path: str, data: bytes) -> None:
        rel = artifact_uri.split("mlflow-artifacts:/", 1)[1].strip("/")
        request = urllib.request.Request(f"{self.url}/api/2.0/mlflow-artifacts/artifacts/{rel}/{path}", data=data,
                                         method="PUT")
        with urllib.request.urlopen(request, timeout=30):
            pass

    def register(self, name: str, files: dict[str, bytes], alias: str | None = None) -> str:
        """Log `files` in a new run under `model/`, register them as a new version of `name`; return it."""
        run = self.api("POST", "runs/create", {"experiment_id": self.experiment_id})["run"]["info"]
        for path, data in files.items():
            self.upload(run["artifact_uri"], f"model/{path}", data)
        self.api("POST", "runs/update", {"run_id": run["run_id"], "status": "FINISHED"})
        try:
            self.api("POST", "registered-models/create", {"name": name})
        except urllib.error.HTTPError as e:
            if e.code != 400:  # already registered
                raise
        version = self.api("POST", "model-versions/create", {"name": name, "run_id": run["run_id"],
                                                             "source": f"{run['artifact_uri']}/model"})
        number = str(version["model_version"]["version"])
        if alias:
            self.api("POST", "registered-models/alias", {"name": name, "alias": alias, "version": number})
        return number


def start_mlflow(folder: Path) -> Mlflow:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        pytest.fail(f"mlflow is not installed; {INSTALL_HINT}", pytrace=False)
    port = free_port()
    args = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination", str(folder / "artifacts"), "--host", HOST, "--port", str(port),
            "--workers", "1"]
    process = ServerProcess("mlflow", args, folder / "mlflow.log", cwd=folder)
    url = f"http://{HOST}:{port}"

    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return resp.status == 200

    process.wait_ready(healthy, timeout=120)
    server = Mlflow(url, process)
    server.experiment_id = str(server.api("POST", "experiments/create", {"name": "weightgate"})["experiment_id"])
    return server
