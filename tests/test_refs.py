"""One line per reference form: pinned forms pass, every mutable form is named."""

import pytest

from weightgate import refs, rules

C40 = "3f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39"
D64 = "a" * 64


@pytest.mark.parametrize(
    ("registry", "uri", "revision"),
    [
        ("huggingface", "hf://org/model", C40),
        ("huggingface", "https://huggingface.co/org/model/resolve/" + C40 + "/model.safetensors", C40),
        ("git", "https://git.example.com/repo.git", C40),
        ("git", "https://git.example.com/repo.git", D64),
        ("mlflow", "models:/support/4", None),
        ("mlflow", "models:/support", "4"),
        ("mlflow", "runs:/0123456789abcdef0123456789abcdef/model", None),
        ("s3", "s3://bucket/models/model.safetensors?versionId=3HL4kqtJlcpXroDTDmJ", None),
        ("s3", "s3://bucket/models/", "3HL4kqtJlcpXroDTDmJ"),
        ("gcs", "gs://bucket/model.bin#1700000000000000", None),
        ("azure-blob", "https://acct.blob.core.windows.net/c/m.bin?versionid=2026-01-01T00:00:00Z", None),
        ("http", "https://models.example.com/m/model.bin", "sha256:" + D64),
        ("http", "https://models.example.com/blobs/sha256:" + D64, None),
        ("oci", "oci://registry.example.com/models/chat@sha256:" + D64, None),
        ("internal", "https://models.example.com/exports/chat/4", None),
        ("local", "/srv/models/chat", "v4"),
    ],
)
def test_pinned_references_pass(registry, uri, revision):
    assert refs.source_problems(registry, uri, revision) == []


@pytest.mark.parametrize(
    ("registry", "uri", "revision", "fragment"),
    [
        ("huggingface", "hf://org/model", None, "no revision"),
        ("huggingface", "hf://org/model", "main", "moving name"),
        ("huggingface", "hf://org/model", "v1.0", "not a full 40-hex commit"),
        ("huggingface", "hf://org/model", C40[:12], "not a full 40-hex commit"),
        ("huggingface", "hf://org/model", "refs/pr/5", "pull-request"),
        ("huggingface", "https://huggingface.co/org/model/tree/main", C40, "'main'"),
        ("huggingface", "hf://org/model@v2", C40, "not after '@'"),
        ("huggingface", "hf://org/model", "latest", "moving name"),
        ("git", "https://git.example.com/repo.git", "release-2", "not a full commit"),
        ("git", "https://git.example.com/repo.git", None, "no revision"),
        ("mlflow", "models:/support/Production", None, "stage 'Production'"),
        ("mlflow", "models:/support/Staging", None, "stage"),
        ("mlflow", "models:/support/latest", None, "stage 'latest'"),
        ("mlflow", "models:/support@champion", None, "alias 'champion'"),
        ("mlflow", "models:/support", None, "names no version"),
        ("mlflow", "mlflow-artifacts:/1/abc/model", None, "must be models:/"),
        ("http", "https://models.example.com/m/latest/model.bin", None, "'latest'"),
        ("http", "https://models.example.com/m/model.bin", None, "no content digest"),
        ("oci", "oci://registry.example.com/models/chat:v1", None, "tag 'v1'"),
        ("oci", "oci://registry.example.com/models/chat", None, "tag 'latest'"),
        ("local", "/srv/models/chat", "latest", "moving name"),
    ],
)
def test_mutable_references_are_named(registry, uri, revision, fragment):
    problems = refs.source_problems(registry, uri, revision)
    assert [p.rule for p in problems] == [rules.MUTABLE_REFERENCE]
    assert fragment in problems[0].message


@pytest.mark.parametrize("registry", ["s3", "gcs", "azure-blob"])
def test_object_keys_need_a_version_when_required(registry):
    uri = {"s3": "s3://b/k", "gcs": "gs://b/k", "azure-blob": "https://a.blob.core.windows.net/c/k"}[registry]
    assert [p.rule for p in refs.source_problems(registry, uri, None, True)] == [rules.UNVERSIONED_OBJECT_KEY]
    assert refs.source_problems(registry, uri, None, False) == []
