"""The file-based registry: parsed as untrusted plain YAML; every structural problem makes it unavailable."""

from pathlib import Path

import pytest

from weightgate.registry import RegistryUnavailable, open_registry

GOOD = """\
kind: ModelRegistry
name: mlflow
entries:
  - id: chat/4
    digest: sha256:{d}
    stage: production
    approvals:
      - {{approver: bot@example.com, role: registry, date: 2026-10-01, digest: sha256:{d}}}
  - id: chat/3
""".format(d="a" * 64)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    return path


def test_entries_are_looked_up_by_id(tmp_path):
    registry = open_registry(_write(tmp_path, GOOD))
    assert registry.name == "mlflow" and registry.uri.startswith("file://")
    entry = registry.entry("chat/4")
    assert entry is not None and entry.stage == "production" and entry.location.line == 4
    (approval,) = entry.approvals
    assert approval.date == "2026-10-01" and approval.digest == "sha256:" + "a" * 64
    bare = registry.entry("chat/3")
    assert bare is not None and bare.digest is None and bare.approvals == ()
    assert registry.entry("chat/5") is None


@pytest.mark.parametrize(("text", "message"), [
    ("entries: []\n", "not a registry file"),
    ("kind: ModelRegistry\n", "`entries` must be a list"),
    ("kind: ModelRegistry\nentries: [{id: a}, {id: a}]\n", "appears twice"),
    ("kind: ModelRegistry\nentries: [{digest: x}]\n", "string `id`"),
    ("kind: ModelRegistry\nentries: [{id: a, stage: 3}]\n", "`stage` must be a string"),
    ("kind: ModelRegistry\nentries: [{id: a, approvals: [{role: x}]}]\n", "string `approver`"),
    ("kind: ModelRegistry\nentries: [{id: a, approvals: {}}]\n", "`approvals` must be a list"),
    ("kind: ModelRegistry\nentries: !!python/object:os.system []\n", "not allowed"),
    ("kind: [unclosed\n", "not valid YAML"),
])
def test_malformed_registry_is_unavailable(tmp_path, text, message):
    with pytest.raises(RegistryUnavailable, match=message):
        open_registry(_write(tmp_path, text))


def test_missing_registry_is_unavailable(tmp_path):
    with pytest.raises(RegistryUnavailable, match="cannot read registry"):
        open_registry(tmp_path / "nope.yaml")
