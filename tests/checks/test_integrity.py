"""WG301-WG308: the mirror's bytes are exactly the pinned bytes, and nothing outside the mirror is read."""

import os

import pytest

from conftest import rule_ids, safetensors_bytes


def test_missing_and_malformed_digests(ws):
    art = ws.artifact("a", files={"model.safetensors": safetensors_bytes(), "b.safetensors": safetensors_bytes(8)})
    del art["files"][0]["size"]
    art["files"][1]["sha256"] = art["files"][1]["sha256"][:40]
    ids = rule_ids(ws.check(ws.write_manifest([art]), offline=True))
    assert ids == ["WG301", "WG302"]


def test_tampered_file_is_a_digest_mismatch(ws):
    art = ws.artifact("a")
    (ws.mirror / "a" / "model.safetensors").write_bytes(safetensors_bytes()[:-1] + b"\x01")
    report = ws.check(ws.write_manifest([art]))
    assert rule_ids(report) == ["WG305"]
    facts = report.facts[0]
    assert facts.complete and not facts.intact  # all bytes read; they are not the pinned bytes
    assert facts.digest != art["approvals"][0]["digest"]  # so the approval no longer matches


def test_size_mismatch_is_caught_before_reading(ws):
    art = ws.artifact("a")
    (ws.mirror / "a" / "model.safetensors").write_bytes(safetensors_bytes(16))
    report = ws.check(ws.write_manifest([art]))
    assert rule_ids(report) == ["WG304"]
    assert not report.facts[0].files[0].sha256  # never hashed


def test_missing_file(ws):
    art = ws.artifact("a")
    (ws.mirror / "a" / "model.safetensors").unlink()
    assert rule_ids(ws.check(ws.write_manifest([art]))) == ["WG303"]


@pytest.mark.parametrize("path", ["../b/model.safetensors", "/etc/passwd", "sub/../../b/model.safetensors",
                                  "a\\..\\b", "C:/x"])
def test_path_escapes_are_never_followed(ws, path):
    ws.artifact("b")
    art = ws.artifact("a")
    art["files"][0]["path"] = path
    report = ws.check(ws.write_manifest([art]))
    assert "WG306" in rule_ids(report)


def test_symlink_escaping_the_root(ws, tmp_path):
    secret = tmp_path / "outside.bin"
    secret.write_bytes(safetensors_bytes())
    art = ws.artifact("a")
    target = ws.mirror / "a" / "model.safetensors"
    target.unlink()
    target.symlink_to(secret)
    assert rule_ids(ws.check(ws.write_manifest([art]))) == ["WG306"]


def test_symlink_inside_the_root_is_followed(ws):
    art = ws.artifact("a")
    target = ws.mirror / "a" / "model.safetensors"
    real = ws.mirror / "a" / "blobs" / "model"
    real.parent.mkdir()
    target.rename(real)
    target.symlink_to(real)
    assert rule_ids(ws.check(ws.write_manifest([art]))) == []


def test_fifo_does_not_block_and_fails_closed(ws):
    art = ws.artifact("a")
    target = ws.mirror / "a" / "model.safetensors"
    target.unlink()
    os.mkfifo(target)
    report = ws.check(ws.write_manifest([art]))
    assert rule_ids(report) == ["WG307"]
    assert "FIFO" in report.active_findings[0].message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; permission denial cannot be staged")
def test_unreadable_file(ws):
    art = ws.artifact("a")
    (ws.mirror / "a" / "model.safetensors").chmod(0)
    assert rule_ids(ws.check(ws.write_manifest([art]))) == ["WG307"]


def test_missing_mirror_directory(ws):
    art = ws.artifact("a", mirror="nowhere")
    report = ws.check(ws.write_manifest([art]))
    assert rule_ids(report) == ["WG308"]


def test_unsupported_mirror_scheme_fails_closed(ws):
    art = ws.artifact("a", mirror="gs://internal-bucket/a")
    assert rule_ids(ws.check(ws.write_manifest([art]))) == ["WG308"]
