"""Is this reference pinned? Pure functions over strings, no I/O.

A reference is pinned when it names bytes that cannot change: a full commit, a registry version number, an
object version id, a content digest. Everything else (branches, tags, 'latest', stages, aliases, bare keys)
can be moved after review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from weightgate.rules import MUTABLE_REFERENCE, UNVERSIONED_OBJECT_KEY, Rule

# Identifiers are matched whole (`fullmatch`: `$` also matches before a final newline) and in ASCII only
# (`str.isdigit` and `\d` take Arabic-Indic and other digits that no registry means).
COMMIT_SHA1 = re.compile(r"[0-9a-f]{40}", re.ASCII)
COMMIT_ANY = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}", re.ASCII)
SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
VERSION_NUMBER = re.compile(r"[0-9]{1,18}", re.ASCII)  # MLflow versions, GCS generations
# S3 version ids are opaque, URL-ready strings of at most 1,024 bytes: printable ASCII, no space.
OBJECT_VERSION_ID = re.compile(r"[!-~]{1,1024}", re.ASCII)
CONTENT_SEGMENT = re.compile(r"(?:^|[/@:=])(?:sha256:)?(?:[0-9a-f]{40}|[0-9a-f]{64})(?:$|[/?#&])")
MLFLOW_STAGES = {"production", "staging", "archived", "none", "latest"}
OBJECT_STORES = {"s3", "gcs", "azure-blob"}

# Names that are moved on purpose: seeing one of them anywhere a revision goes is always mutable.
MUTABLE_NAMES = frozenset({
    "latest", "main", "master", "head", "trunk", "dev", "develop", "development", "stable", "nightly",
    "release", "prod", "production", "staging", "canary", "champion", "challenger", "current", "default",
    "next", "beta", "alpha", "edge", "rc", "live",
})


@dataclass(frozen=True)
class RefProblem:
    rule: Rule
    message: str
    field: str  # "revision" or "uri": which manifest field to point at


def _mutable(message: str, field: str = "revision") -> RefProblem:
    return RefProblem(MUTABLE_REFERENCE, message, field)


def source_problems(registry: str, uri: str, revision: str | None,
                    require_object_versions: bool = True) -> list[RefProblem]:
    """Why the source reference (registry kind, URI, revision) is not pinned; empty when it is."""
    if revision is not None and revision.strip().lower() in MUTABLE_NAMES:
        return [_mutable(f"revision {revision!r} is a moving name, not a pinned version")]
    checker = {
        "huggingface": _huggingface, "git": _git, "mlflow": _mlflow, "http": _http, "oci": _oci,
    }.get(registry)
    if registry in OBJECT_STORES:
        return _object_store(registry, uri, revision, require_object_versions)
    if checker is None:  # internal / local: files are pinned by digest; a revision is optional
        return []
    return checker(uri, revision)


def _huggingface(uri: str, revision: str | None) -> list[RefProblem]:
    for marker in ("/tree/", "/resolve/", "/blob/"):
        if marker in uri:
            ref = uri.split(marker, 1)[1].split("/", 1)[0]
            if not COMMIT_SHA1.fullmatch(ref):
                return [_mutable(f"URI points at {ref!r}, not a full commit", "uri")]
    if "@" in uri.rsplit("/", 1)[-1]:
        return [_mutable("put the revision in `source.revision`, not after '@' in the URI", "uri")]
    if revision is None:
        return [_mutable("no revision: Hugging Face resolves that to the moving 'main' branch")]
    if revision.startswith("refs/pr/"):
        return [_mutable(f"revision {revision!r} is a pull-request ref that the author can push to")]
    if not COMMIT_SHA1.fullmatch(revision):
        return [_mutable(f"revision {revision!r} is not a full 40-hex commit (branches and tags can move)")]
    return []


def _git(uri: str, revision: str | None) -> list[RefProblem]:
    if revision is None or not COMMIT_ANY.fullmatch(revision):
        shown = "no revision" if revision is None else f"revision {revision!r}"
        return [_mutable(f"{shown} is not a full commit id")]
    return []


def _mlflow(uri: str, revision: str | None) -> list[RefProblem]:
    if uri.startswith("runs:/"):
        return []  # run ids are immutable
    if not uri.startswith("models:/"):
        return [_mutable("MLflow sources must be models:/<name>/<version> or runs:/<run id>/<path>", "uri")]
    rest = uri[len("models:/"):]
    if "@" in rest:
        return [_mutable(f"models:/ alias {rest.split('@', 1)[1]!r} can be reassigned to another version", "uri")]
    name, _, version = rest.partition("/")
    if not version:
        if revision is not None and is_version_number(revision):
            return []
        return [_mutable(f"models:/{name} names no version", "uri")]
    if is_version_number(version):
        return []
    if version.lower() in MLFLOW_STAGES:
        return [_mutable(f"models:/ stage {version!r} moves as versions are promoted", "uri")]
    return [_mutable(f"models:/ version {version!r} is not a version number", "uri")]


def _http(uri: str, revision: str | None) -> list[RefProblem]:
    path = urlsplit(uri).path.lower()
    moving = [seg for seg in path.split("/") if seg in MUTABLE_NAMES]
    if moving:
        return [_mutable(f"URL path segment {moving[0]!r} is a moving name", "uri")]
    if revision is not None and SHA256_DIGEST.fullmatch(revision):
        return []
    if CONTENT_SEGMENT.search(uri):
        return []
    return [_mutable("URL carries no content digest or commit; set `source.revision: sha256:<hex>`", "uri")]


def _oci(uri: str, revision: str | None) -> list[RefProblem]:
    if "@sha256:" in uri or (revision is not None and SHA256_DIGEST.fullmatch(revision)):
        return []
    tag = uri.rsplit("/", 1)[-1].partition(":")[2] or "latest"
    return [_mutable(f"OCI tag {tag!r} can be re-pushed; reference the image by @sha256 digest", "uri")]


def object_version(registry: str, uri: str) -> str | None:
    """The version named in an object-store URI, if any."""
    parts = urlsplit(uri)
    query = {k.lower(): v for k, v in parse_qs(parts.query).items()}
    if registry == "gcs" and is_version_number(parts.fragment):
        return parts.fragment  # gs://bucket/object#generation
    for key in ("versionid", "snapshot"):
        if query.get(key) and is_object_version_id(query[key][0]):
            return query[key][0]
    return None


def _object_store(registry: str, uri: str, revision: str | None, required: bool) -> list[RefProblem]:
    if object_version(registry, uri) or (revision is not None and is_object_version_id(revision)):
        return []
    if not required:
        return []
    return [RefProblem(UNVERSIONED_OBJECT_KEY,
                       f"{registry} key {uri!r} has no version id and can be overwritten in place", "uri")]


def is_sha256_hex(value: str | None) -> bool:
    return isinstance(value, str) and HEX64.fullmatch(value) is not None


def is_artifact_digest(value: str | None) -> bool:
    return isinstance(value, str) and SHA256_DIGEST.fullmatch(value) is not None


def is_commit(value: object) -> bool:
    """A full 40-hex commit id, nothing before or after it."""
    return isinstance(value, str) and COMMIT_SHA1.fullmatch(value) is not None


def is_version_number(value: object) -> bool:
    """A registry version number in ASCII digits (MLflow `models:/name/3`, a GCS generation)."""
    return isinstance(value, str) and VERSION_NUMBER.fullmatch(value) is not None


def is_object_version_id(value: object) -> bool:
    """An object-store version id as S3 (and MinIO, Ceph) write them: printable ASCII, no white space."""
    return isinstance(value, str) and value != "null" and OBJECT_VERSION_ID.fullmatch(value) is not None
