"""Shared test helpers: a workspace with a real mirror directory and a manifest written as YAML."""

from __future__ import annotations

import datetime
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from weightgate.facts import artifact_digest
from weightgate.gate import CheckOptions, run_check
from weightgate.report.interface import Report

# Session-scoped real servers (nginx, S3, HF endpoint, MLflow); the hypothesis profiles, which must be known
# before pytest applies `--hypothesis-profile`.
pytest_plugins = ["servers.fixtures", "hardening.profiles"]

TODAY = datetime.date(2026, 11, 26)
COMMIT = "3f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the bundled example (examples/), free to change."""
    copy = tmp_path / "examples"
    shutil.copytree(REPO_ROOT / "examples", copy)
    return copy


def safetensors_bytes(n_floats: int = 4, seed: str = "") -> bytes:
    """A valid safetensors file of one F32 tensor; zeros, or (with `seed`) values derived from it, so artifacts
    made from different seeds have different digests at the same size."""
    import json
    import struct

    header = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}).encode()
    header += b" " * (-len(header) % 8)
    data = b"\0" * (4 * n_floats)
    if seed:
        stream = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(n_floats // 8 + 1))
        data = stream[:4 * n_floats]
    return struct.pack("<Q", len(header)) + header + data


def file_entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@dataclass
class Workspace:
    root: Path

    @property
    def mirror(self) -> Path:
        return self.root / "mirror"

    def put(self, artifact_id: str, path: str, data: bytes) -> dict[str, Any]:
        """Write a file into the artifact's mirror folder and return its pinned manifest entry."""
        target = self.mirror / artifact_id / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return file_entry(path, data)

    def artifact(self, artifact_id: str, files: dict[str, bytes] | None = None, **fields: Any) -> dict[str, Any]:
        """A fully governed artifact whose files exist in the mirror; `fields` override or add."""
        # Bytes of its own: artifacts sharing a digest are a finding (WG650), so only tests that mean it share one.
        files = {"model.safetensors": safetensors_bytes(seed=artifact_id)} if files is None else files
        entries = [self.put(artifact_id, p, d) for p, d in files.items()]
        digest = artifact_digest((e["path"], e["sha256"], e["size"]) for e in entries)
        art: dict[str, Any] = {
            "id": artifact_id, "class": "model", "name": artifact_id, "version": "1",
            "owner": "team@example.com", "intended_use": "tests",
            "source": {"registry": "huggingface", "uri": f"hf://org/{artifact_id}", "revision": COMMIT},
            "files": entries, "license": {"spdx": "Apache-2.0"},
            "approvals": [{"approver": "sec@example.com", "role": "security", "date": "2026-11-01",
                           "digest": digest, "ticket": "SEC-1"}],
            "last_validated": "2026-11-01",
        }
        art.update(fields)
        return art

    def write_manifest(self, artifacts: list[dict[str, Any]], services: list[dict[str, Any]] | None = None,
                       name: str = "manifest.yaml", **top: Any) -> Path:
        doc: dict[str, Any] = {"apiVersion": "weightgate.dev/v1", "kind": "DeploymentManifest",
                               "mirror_base": "mirror", "artifacts": artifacts, **top}
        if services:
            doc["services"] = services
        path = self.root / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def write_policy(self, name: str = "policy.yaml", **sections: Any) -> Path:
        """A policy file. Unless `approvals` says otherwise, text approvals count (`require_signed: false`): the
        workspace's artifacts carry text approvals, and the tests of signed records set their own approvals."""
        sections["approvals"] = {"require_signed": False, **(sections.get("approvals") or {})}
        path = self.root / name
        path.write_text(yaml.safe_dump({"apiVersion": "weightgate.dev/v1", "kind": "Policy", **sections}))
        return path

    def check(self, manifest: Path, **options: Any) -> Report:
        """Run the gate; without `policy`, the built-in default with text approvals counting (pass
        `policy=None` for the built-in default itself)."""
        if "policy" not in options:
            options["policy"] = self.write_policy("text-approvals-policy.yaml")
        options.setdefault("today", TODAY)
        options.setdefault("source_root", self.root)
        return run_check(CheckOptions(manifest=manifest, **options))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def rule_ids(report: Report) -> list[str]:
    return sorted(f.rule.id for f in report.active_findings)
