"""hf:// mirrors against a real Hugging Face-compatible endpoint (olah, offline, serving local git repos)."""

from __future__ import annotations

import pytest

from conftest import safetensors_bytes
from mirror.netcase import line_of, mirror_ids, mirror_policy, only

pytestmark = pytest.mark.server

WEIGHTS = safetensors_bytes(16)


def _hf_artifact(ws, olah, repo, files):
    commit = olah.commit(repo, files)
    art = ws.artifact(repo.split("/")[1], files, mirror=f"hf://{repo}",
                      source={"registry": "huggingface", "uri": f"hf://{repo}", "revision": commit})
    return art, commit


def test_hf_mirror_verifies_at_the_pinned_commit(ws, olah, test_ca):
    art, commit = _hf_artifact(ws, olah, "org/hf-ok", {"model.safetensors": WEIGHTS, "config.json": b"{}"})
    olah.commit("org/hf-ok", {"model.safetensors": safetensors_bytes(17)})  # main moves on; the pin does not
    report = ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, test_ca.pem, hf_endpoint=olah.endpoint))
    assert mirror_ids(report) == []
    assert report.facts[0].files[0].uri == f"{olah.endpoint}/org/hf-ok/resolve/{commit}/model.safetensors"


def test_tampered_commit_is_caught(ws, olah, test_ca):
    art, _ = _hf_artifact(ws, olah, "org/hf-tampered", {"model.safetensors": WEIGHTS})
    # Someone rewrites history: the pinned revision now names other bytes of the same size.
    tampered = olah.commit("org/hf-tampered", {"model.safetensors": WEIGHTS[:-1] + b"\1"})
    art["source"]["revision"] = tampered
    path = ws.write_manifest([art])
    report = ws.check(path, policy=mirror_policy(ws, test_ca.pem, hf_endpoint=olah.endpoint))
    assert mirror_ids(report) == ["WG305"]
    assert line_of(path, report, "WG305") == "- path: model.safetensors"


def test_hf_without_internal_endpoint_is_the_public_hub(ws, olah, test_ca):
    art, _ = _hf_artifact(ws, olah, "org/hf-public", {"model.safetensors": WEIGHTS})
    path = ws.write_manifest([art])
    report = ws.check(path, policy=mirror_policy(ws, test_ca.pem))
    assert mirror_ids(report) == ["WG202", "WG308"]
    assert "internal Hugging Face-compatible endpoint" in only(report, "WG308").message
    public = ws.check(path, policy=mirror_policy(ws, test_ca.pem, hf_endpoint="https://huggingface.co"),
                      offline=True)
    assert mirror_ids(public) == ["WG202"]


def test_branch_name_is_not_read(ws, olah, test_ca):
    art, _ = _hf_artifact(ws, olah, "org/hf-branch", {"model.safetensors": WEIGHTS})
    art["source"]["revision"] = "main"
    report = ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, test_ca.pem, hf_endpoint=olah.endpoint))
    assert mirror_ids(report) == ["WG201", "WG308"]
    assert "weightgate pin" in only(report, "WG308").message


def test_missing_file_fails_closed(ws, olah, test_ca):
    art, _ = _hf_artifact(ws, olah, "org/hf-missing", {"model.safetensors": WEIGHTS})
    art["files"].append({"path": "absent.json", "sha256": "0" * 64, "size": 2})
    report = ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, test_ca.pem, hf_endpoint=olah.endpoint))
    # olah offline answers 500 (not the hub's 404) for a file the commit lacks: retried, then unreadable.
    assert mirror_ids(report) == ["WG307"]
    assert "HTTP 500 (3 attempts)" in only(report, "WG307").message


def test_files_in_the_tree_at_the_pinned_commit_that_the_manifest_does_not_pin(ws, olah, test_ca):
    commit = olah.commit("org/hf-extra", {"model.safetensors": WEIGHTS, "modeling_x.py": b"import os\n",
                                          "extra/notes.txt": b"notes"})
    art = ws.artifact("hf-extra", {"model.safetensors": WEIGHTS}, mirror="hf://org/hf-extra",
                      source={"registry": "huggingface", "uri": "hf://org/hf-extra", "revision": commit})
    olah.commit("org/hf-extra", {"later.pkl": b"\x80\x02."})  # after the pin: not in the pinned tree
    report = ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, test_ca.pem, hf_endpoint=olah.endpoint))
    assert [(f.rule.id, f.file_path) for f in report.active_findings if f.rule.id in ("WG309", "WG310")] == [
        ("WG309", "modeling_x.py"), ("WG310", "extra/notes.txt")]
