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


# --- identifiers match whole and in ASCII (issue 19) -----------------------------------------------------------

@pytest.mark.parametrize(("registry", "uri", "revision"), [
    ("huggingface", "hf://org/model", C40 + "\n"),  # `$` in re.match also matches before a final newline
    ("huggingface", "hf://org/model", C40.upper()),
    ("huggingface", "https://huggingface.co/org/model/resolve/" + C40 + "\n/model.safetensors", C40),
    ("git", "https://git.example.com/repo.git", D64 + "\n"),
    ("mlflow", "models:/support/\u0663", None),  # Arabic-Indic three: str.isdigit() says yes
    ("mlflow", "models:/support/\uff14", None),  # fullwidth four
    ("mlflow", "models:/support", "\u0664"),
    ("mlflow", "models:/support/4\n", None),
    ("http", "https://files.example.com/model.bin", "sha256:" + D64 + "\n"),
    ("oci", "registry.example.com/m:v1", "sha256:" + D64 + "\n"),
])
def test_identifiers_that_only_look_pinned_are_mutable(registry, uri, revision):
    assert [p.rule for p in refs.source_problems(registry, uri, revision)] == [rules.MUTABLE_REFERENCE]


@pytest.mark.parametrize(("registry", "uri", "revision", "pinned"), [
    ("s3", "s3://bucket/key?versionId=3HL4kqtJlcpXroDTDmJ%2BrmSp", None, True),
    ("s3", "s3://bucket/key?versionId=a%0Ab", None, False),  # a newline in the version id
    ("s3", "s3://bucket/key?versionId=%D9%A3", None, False),  # not ASCII
    ("s3", "s3://bucket/key", "1:20", True),  # odd, but an id: pin quotes it (tests/test_pin_roundtrip.py)
    ("s3", "s3://bucket/key", "a b", False),
    ("s3", "s3://bucket/key", "null", False),  # what S3 says for "no version"
    ("gcs", "gs://bucket/object#1700000000000000", None, True),
    ("gcs", "gs://bucket/object#\u0661\u0667", None, False),
])
def test_object_version_ids_are_printable_ascii(registry, uri, revision, pinned):
    assert (refs.source_problems(registry, uri, revision) == []) is pinned


@pytest.mark.parametrize(("value", "commit", "version"), [
    (C40, True, False), (C40 + "\n", False, False), ("\u0663", False, False), ("42", False, True),
    ("0042", False, True), ("4 2", False, False), ("", False, False), (None, False, False), (42, False, False),
])
def test_identifier_predicates(value, commit, version):
    assert refs.is_commit(value) is commit and refs.is_version_number(value) is version


class _Answers:
    """A server that answers every JSON request with one document (the transport's own tests cover HTTP)."""

    def __init__(self, answer):
        self.answer = answer

    def get_json(self, url):
        return self.answer


@pytest.mark.parametrize(("answer", "accepted"), [
    ({"sha": C40}, True),
    ({"sha": C40 + "\n"}, False),
    ({"sha": C40.upper()}, False),
    ({"sha": ["x"]}, False),
])
def test_a_commit_from_the_server_must_be_one(answer, accepted):
    from weightgate.mirror.base import MirrorFileError
    from weightgate.mirror.hf import parse_hf_uri, resolve_revision

    repo = parse_hf_uri("hf://org/model")
    if accepted:
        assert resolve_revision(_Answers(answer), "https://hub.example.com", repo, "main") == C40
    else:
        with pytest.raises(MirrorFileError, match="no commit id"):
            resolve_revision(_Answers(answer), "https://hub.example.com", repo, "main")


@pytest.mark.parametrize(("version", "accepted"), [("7", True), ("\u0667", False), ("7\n", False), (7, True)])
def test_an_mlflow_version_from_the_server_must_be_ascii_digits(version, accepted):
    from weightgate.mirror.base import MirrorFileError
    from weightgate.mirror.mlflow import parse_mlflow_uri, resolve_version

    ref = parse_mlflow_uri("models:/support@champion")
    answer = _Answers({"model_version": {"version": version}})
    if accepted:
        assert resolve_version(answer, "https://mlflow.example.com", ref) == "7"
    else:
        with pytest.raises(MirrorFileError, match="points at 0 versions"):
            resolve_version(answer, "https://mlflow.example.com", ref)
