"""s3:// mirrors against a real SeaweedFS S3 gateway over HTTPS: versions, tampering, credentials."""

from __future__ import annotations

import uuid

import pytest

from conftest import safetensors_bytes
from mirror.netcase import line_of, mirror_ids, mirror_policy, only

pytestmark = pytest.mark.server

WEIGHTS = safetensors_bytes(32)


@pytest.fixture(scope="module")
def bucket(seaweed):
    name = f"models-{uuid.uuid4().hex[:8]}"
    client = seaweed.client()
    client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def aws_env(seaweed, monkeypatch):
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def _upload(seaweed, bucket, key, data):
    return seaweed.client().put_object(Bucket=bucket, Key=key, Body=data)["VersionId"]


def _s3_artifact(ws, seaweed, bucket, artifact_id, data=WEIGHTS, versioned=True):
    art = ws.artifact(artifact_id, {"model.safetensors": data})
    version = _upload(seaweed, bucket, f"{artifact_id}/model.safetensors", data)
    art["mirror"] = f"s3://{bucket}/{artifact_id}"
    if versioned:
        art["files"][0]["version_id"] = version
    return art


def _policy(ws, seaweed, **extra):
    return mirror_policy(ws, seaweed.ca_pem, s3_endpoint=seaweed.endpoint, **extra)


def test_versioned_object_verifies_when_it_is_the_current_version(ws, seaweed, bucket, aws_env):
    art = _s3_artifact(ws, seaweed, bucket, "s3-ok")
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws, seaweed, require_object_versions=True))
    assert mirror_ids(report) == []
    assert "?versionId=" in report.facts[0].files[0].uri
    assert report.governance.listings["s3-ok"].superseded == ()


def test_a_newer_version_on_top_of_the_pin_is_reported(ws, seaweed, bucket, aws_env):
    art = _s3_artifact(ws, seaweed, bucket, "s3-newer")
    newer = _upload(seaweed, bucket, "s3-newer/model.safetensors", safetensors_bytes(33))
    path = ws.write_manifest([art])
    report = ws.check(path, policy=_policy(ws, seaweed, require_object_versions=True))
    # The pinned version is still read and verified; a sync of the prefix would ship the newer one.
    assert report.facts[0].files[0].status.value == "verified"
    assert mirror_ids(report) == ["WG311"]
    assert newer in only(report, "WG311").message
    assert line_of(path, report, "WG311").startswith("version_id:")


def test_a_delete_marker_on_top_of_the_pin_is_reported(ws, seaweed, bucket, aws_env):
    art = _s3_artifact(ws, seaweed, bucket, "s3-deleted")
    seaweed.client().delete_object(Bucket=bucket, Key="s3-deleted/model.safetensors")  # a marker, versioned
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws, seaweed, require_object_versions=True))
    assert report.facts[0].files[0].status.value == "verified"
    assert mirror_ids(report) == ["WG311"]
    assert "no current object" in only(report, "WG311").message


def test_overwritten_unversioned_key_is_caught(ws, seaweed, bucket, aws_env):
    art = _s3_artifact(ws, seaweed, bucket, "s3-tampered", versioned=False)
    _upload(seaweed, bucket, "s3-tampered/model.safetensors", WEIGHTS[:-1] + b"\1")
    path = ws.write_manifest([art])
    report = ws.check(path, policy=_policy(ws, seaweed))
    assert mirror_ids(report) == ["WG305"]
    assert line_of(path, report, "WG305") == "- path: model.safetensors"


def test_unversioned_file_on_s3_mirror_needs_a_version_id_when_required(ws, seaweed, bucket, aws_env):
    art = _s3_artifact(ws, seaweed, bucket, "s3-unversioned", versioned=False)
    path = ws.write_manifest([art])
    report = ws.check(path, policy=_policy(ws, seaweed, require_object_versions=True), offline=True)
    assert mirror_ids(report) == ["WG204"]
    assert line_of(path, report, "WG204") == "- path: model.safetensors"


def test_size_from_the_object_is_compared_before_reading(ws, seaweed, bucket, aws_env):
    art = _s3_artifact(ws, seaweed, bucket, "s3-size", versioned=False)
    _upload(seaweed, bucket, "s3-size/model.safetensors", WEIGHTS + b"\0")
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws, seaweed))
    assert mirror_ids(report) == ["WG304"]
    assert report.facts[0].files[0].status.value == "size-mismatch"  # decided from the object size, unread


def test_missing_key_and_wrong_credentials(ws, seaweed, bucket, aws_env, monkeypatch):
    art = _s3_artifact(ws, seaweed, bucket, "s3-missing", versioned=False)
    seaweed.client().delete_object(Bucket=bucket, Key="s3-missing/model.safetensors")
    path = ws.write_manifest([art])
    assert mirror_ids(ws.check(path, policy=_policy(ws, seaweed))) == ["WG303"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    report = ws.check(path, policy=_policy(ws, seaweed))
    assert mirror_ids(report) == ["WG308"]
    assert "SignatureDoesNotMatch" in only(report, "WG308").message


def test_missing_extra_names_it(ws, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_boto3(name, *args, **kwargs):
        if name == "boto3" or name.startswith("botocore"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_boto3)
    art = ws.artifact("no-extra", mirror="s3://bucket/no-extra")
    report = ws.check(ws.write_manifest([art]), policy=mirror_policy(ws, None))
    assert "pip install 'weightgate[s3]'" in only(report, "WG308").message


def test_objects_under_the_prefix_that_the_manifest_does_not_pin(ws, seaweed, bucket, aws_env):
    art = _s3_artifact(ws, seaweed, bucket, "s3-extra")
    _upload(seaweed, bucket, "s3-extra/pytorch_model.bin", b"\x80\x02cposix\nsystem\nq\x00.")
    _upload(seaweed, bucket, "s3-extra/sub/notes.txt", b"notes")
    _upload(seaweed, bucket, "s3-extra/README.md", b"# card")  # the default ignore globs
    _upload(seaweed, bucket, "s3-extra-sibling/stray.py", b"import os")  # another prefix: not this artifact's
    seaweed.client().put_object(Bucket=bucket, Key="s3-extra/folder/", Body=b"")  # a console folder marker
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws, seaweed))
    assert [(f.rule.id, f.file_path) for f in report.active_findings if f.rule.id in ("WG309", "WG310")] == [
        ("WG309", "pytorch_model.bin"), ("WG310", "sub/notes.txt")]
    listing = report.governance.listings["s3-extra"]
    assert listing.listed == 4
    assert all(u.format is None for u in listing.unpinned)  # listed, never read


def test_only_pinned_objects_under_the_prefix_pass(ws, seaweed, bucket, aws_env):
    art = _s3_artifact(ws, seaweed, bucket, "s3-alone")
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws, seaweed))
    assert [f.rule.id for f in report.active_findings if f.rule.id in ("WG309", "WG310")] == []
    assert report.governance.listings["s3-alone"].listed == 1


def test_a_prefix_that_cannot_be_listed_fails_closed(ws, seaweed, bucket, aws_env):
    art = _s3_artifact(ws, seaweed, bucket, "s3-nolist")
    art["mirror"] = f"s3://{bucket}-gone/s3-nolist"  # reads and listing both refused: WG308 says it once
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws, seaweed))
    assert mirror_ids(report) == ["WG308"]
    assert report.governance.listings["s3-nolist"].status.value == "unavailable"
