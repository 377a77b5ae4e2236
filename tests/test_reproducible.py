"""Reports without runner paths: the example checked out in two places gives byte-identical reports and decision
records with --reproducible, and no report names the checkout's absolute path (issue 15, evidence without runner
paths; issue 17, reproducible reports)."""

import base64
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from conftest import REPO_ROOT
from weightgate.cli import main
from weightgate.evidence.attestation import EXTENSION
from weightgate.report.locations import portable

OUTPUTS = ("r.sarif", "r.cdx.json", "r.json", "cq.json", "records.jsonl")


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "gate.pem"
    path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


def _check_copy(where: Path, key: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Path:
    shutil.copytree(REPO_ROOT / "examples", where / "examples")
    monkeypatch.chdir(where)
    main(["check", "examples/deployment.yaml", "--policy", "examples/policy.yaml", "--as-of", "2026-11-26", "-q",
          "--sarif", "out/r.sarif", "--bom", "out/r.cdx.json", "--json", "out/r.json",
          "--gitlab-codequality", "out/cq.json", "--attest", "out/records.jsonl", "--attest-key", str(key), *extra])
    return where / "out"


def _statements_without_run(records: Path) -> list[dict]:
    """The signed statements with the run's own stamp left out: each run has a fresh id and signs at the time it
    signs (never a pinned clock, so an old run cannot outrank a newer one), so only those two may differ."""
    statements = []
    for line in records.read_text().splitlines():
        statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
        extension = statement["predicate"][EXTENSION]
        assert extension.pop("runId") and extension.pop("signedAt")
        statements.append(statement)
    return statements


def test_same_inputs_in_two_places_give_the_same_bytes(tmp_path, key, monkeypatch):
    first = _check_copy(tmp_path / "runner-a" / "checkout", key, monkeypatch, "--reproducible")
    second = _check_copy(tmp_path / "b", key, monkeypatch, "--reproducible")
    for name in OUTPUTS:
        if name == "records.jsonl":
            assert _statements_without_run(first / name) == _statements_without_run(second / name)
        else:
            assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_no_report_names_the_checkout(tmp_path, key, monkeypatch):
    """Without --reproducible too, only SARIF's %SRCROOT% (which viewers use to open files) is absolute."""
    where = tmp_path / "runner-a" / "checkout"
    out = _check_copy(where, key, monkeypatch)
    for name in OUTPUTS:
        text = (out / name).read_text()
        if name == "r.sarif":
            text = text.replace(f'"uri": "{where.resolve().as_uri()}/"', "", 1)
        assert str(tmp_path) not in text, [line for line in text.splitlines() if str(tmp_path) in line]
    assert '"uri": "examples/mirror/tiny-chat-base/model.safetensors"' in (out / "r.json").read_text()


@pytest.mark.parametrize(("value", "expected"), [
    ("file:///repo/models/a/", "models/a/"),
    ("file:///repo/approvals/x.jsonl#L1", "approvals/x.jsonl#L1"),
    ("file:///elsewhere/mirror/a", "../elsewhere/mirror/a"),  # outside the repository: still relative
    ("https://user:secret@mirror.example/models/a", "https://REDACTED@mirror.example/models/a"),
    ("s3://bucket/models/a", "s3://bucket/models/a"),
    ("cannot read /repo/models/a/x.bin: gone", "cannot read models/a/x.bin: gone"),
    ("models/a/x.bin", "models/a/x.bin"),  # near miss: already relative
    ("sha256:" + "ab" * 32, "sha256:" + "ab" * 32),
])
def test_portable_locations(value, expected):
    assert portable({"k": [value]}, Path("/repo")) == {"k": [expected]}
