"""The bundled example in tests: its generator, and its three planted problems fixed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import yaml

from conftest import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"


def make_example() -> ModuleType:
    """examples/make_example.py, which holds the example's files and regenerates its mirror."""
    spec = importlib.util.spec_from_file_location("make_example", EXAMPLES / "make_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fix_example(example: Path) -> None:
    """Fix the planted problems in a copy of the example: pin the embedder, drop the pickled reranker, restore
    the GGUF export's approved bytes."""
    manifest_path = example / "deployment.yaml"
    doc = yaml.safe_load(manifest_path.read_text())
    embedder = next(a for a in doc["artifacts"] if a["id"] == "support-embedder")
    embedder["source"]["revision"] = "0123456789abcdef0123456789abcdef01234567"
    doc["artifacts"] = [a for a in doc["artifacts"] if a["id"] != "ticket-reranker"]
    for service in doc["services"]:
        service["artifacts"] = [a for a in service["artifacts"] if a != "ticket-reranker"]
    manifest_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    for name, data in make_example().FILES["tiny-chat-gguf"].items():
        (example / "mirror" / "tiny-chat-gguf" / name).write_bytes(data)
