"""`weightgate pin`: mutable references resolved through real endpoints, digests filled from the mirror's bytes,
the manifest rewritten with its comments and layout kept, and nothing pinned that was not verified."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
import yaml

from conftest import REPO_ROOT, safetensors_bytes
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_PASS
from weightgate.mirror.settings import EndpointOptions
from weightgate.pin import pin_manifest

pytestmark = pytest.mark.server

EXAMPLE = REPO_ROOT / "examples"


@pytest.fixture
def example(tmp_path, olah):
    """The README example, with support-embedder's repo served by the HF-compatible endpoint."""
    root = tmp_path / "examples"
    shutil.copytree(EXAMPLE, root)
    # The planted tampered GGUF is another problem (WG305) that pin rightly refuses to paper over: restore it.
    spec = importlib.util.spec_from_file_location("make_example", EXAMPLE / "make_example.py")
    make_example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_example)
    for name, data in make_example.FILES["tiny-chat-gguf"].items():
        (root / "mirror" / "tiny-chat-gguf" / name).write_bytes(data)
    embedder = EXAMPLE / "mirror" / "support-embedder"
    olah.commit("example-org/support-embedder", {p.name: p.read_bytes() for p in embedder.iterdir()})
    return root


def _endpoint_args(olah, test_ca):
    return ["--hf-endpoint", olah.endpoint, "--ca-bundle", str(test_ca.pem)]


def test_example_mutable_manifest_becomes_pinned(example, olah, test_ca, capsys):
    manifest = example / "deployment.yaml"
    before = manifest.read_text()
    args = [str(manifest), "--policy", str(example / "policy.yaml"), *_endpoint_args(olah, test_ca)]
    assert main(["pin", "--check", "--diff", *args]) == EXIT_FINDINGS
    diff = capsys.readouterr().out
    assert manifest.read_text() == before, "--check changes nothing"
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert [line.strip() for line in removed] == ["-      revision: main                     # planted: a branch "
                                                  "moves after review".strip()]
    assert len(added) == 1 and "# planted: a branch moves after review" in added[0]

    assert main(["pin", *args]) == EXIT_PASS
    after = manifest.read_text()
    commit = yaml.safe_load(after)["artifacts"][4]["source"]["revision"]
    assert len(commit) == 40 and commit in added[0]
    assert [a for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b] == [
        removed[0][1:]], "only the revision line changes; comments and layout stay"
    assert main(["pin", "--check", *args]) == EXIT_PASS
    capsys.readouterr()
    main(["check", str(manifest), "--policy", str(example / "policy.yaml"), "--format", "json",
          "--as-of", "2026-11-26", *_endpoint_args(olah, test_ca)])
    assert "WG201" not in capsys.readouterr().out


def test_hf_mirror_branch_resolved_and_digests_filled(ws, olah, test_ca):
    files = {"model.safetensors": safetensors_bytes(8), "config.json": b'{"a": 1}'}
    olah.commit("org/pin-fill", files)
    art = ws.artifact("pin-fill", files, mirror="hf://org/pin-fill",
                      source={"registry": "huggingface", "uri": "hf://org/pin-fill", "revision": "main"})
    for entry in art["files"]:
        del entry["sha256"], entry["size"]
    path = ws.write_manifest([art])
    path.write_text("# keep me\n" + path.read_text())
    result = pin_manifest(path, endpoints=EndpointOptions(test_ca.pem, olah.endpoint))
    assert not result.problems
    pinned = yaml.safe_load(result.updated)["artifacts"][0]
    assert [f["size"] for f in pinned["files"]] == [len(d) for d in files.values()]
    assert result.updated.startswith("# keep me\n")
    assert {c.field for c in result.changes} >= {"source.revision", "files[0].sha256", "files[1].size"}


def test_never_pins_what_it_could_not_verify(ws, olah, test_ca):
    olah.commit("org/pin-missing", {"model.safetensors": safetensors_bytes(8)})
    art = ws.artifact("pin-missing", {"model.safetensors": safetensors_bytes(8)}, mirror="hf://org/pin-missing",
                      source={"registry": "huggingface", "uri": "hf://org/pin-missing", "revision": "main"})
    art["files"].append({"path": "absent.bin"})
    path = ws.write_manifest([art])
    policy = ws.write_policy(mirrors={"ca_bundle": str(test_ca.pem), "hf_endpoint": olah.endpoint,
                                      "request_timeout_seconds": 2, "file_deadline_seconds": 5})
    result = pin_manifest(path, policy)
    assert not result.changed and result.changes == ()
    assert "absent.bin" in result.problems[0].message


def test_changed_bytes_are_not_silently_repinned(ws, tmp_path):
    art = ws.artifact("pin-drift")
    (ws.mirror / "pin-drift" / "model.safetensors").write_bytes(safetensors_bytes(5))
    result = pin_manifest(ws.write_manifest([art]))
    assert not result.changed
    assert "not re-pinned without a new review" in result.problems[0].message


def test_s3_versions_are_pinned(ws, seaweed, monkeypatch):
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)
    client = seaweed.client()
    client.create_bucket(Bucket="pin-bucket")
    client.put_bucket_versioning(Bucket="pin-bucket", VersioningConfiguration={"Status": "Enabled"})
    data = safetensors_bytes(3)
    version = client.put_object(Bucket="pin-bucket", Key="art/model.safetensors", Body=data)["VersionId"]
    art = ws.artifact("art", {"model.safetensors": data}, mirror="s3://pin-bucket/art",
                      source={"registry": "s3", "uri": "s3://pin-bucket/art/model.safetensors"})
    result = pin_manifest(ws.write_manifest([art]), endpoints=EndpointOptions(seaweed.ca_pem,
                                                                                s3_endpoint=seaweed.endpoint))
    assert not result.problems
    pinned = yaml.safe_load(result.updated)["artifacts"][0]
    assert pinned["files"][0]["version_id"] == version
    assert pinned["source"]["revision"] == version
