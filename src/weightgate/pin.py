"""`weightgate pin`: mutable references → pinned ones, and file digests filled in from the mirror's bytes.

For each artifact: resolve what moves (a Hugging Face branch or tag → the commit, through the internal
endpoint's API; an MLflow alias or stage → the version number; an S3 key → its current version id), then read
every file once from the mirror *at the resolved reference* and record its sha256 and size. An artifact is
changed only when all of that succeeded: weightgate never pins what it could not verify. The manifest is
rewritten with a round-trip YAML library, so comments, key order and layout stay as the author wrote them.
"""

from __future__ import annotations

import difflib
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from weightgate import refs
from weightgate.errors import InputFileError
from weightgate.facts import FileStatus
from weightgate.manifest import Artifact, Manifest, load_manifest
from weightgate.mirror import MirrorKind, locate_mirror, open_approved_mirror
from weightgate.mirror.base import MirrorFileError, MirrorUnavailable
from weightgate.mirror.settings import EndpointOptions, MirrorSettings, settings_for, with_endpoints
from weightgate.policy import load_policy
from weightgate.rules import MUTABLE_REFERENCE
from weightgate.verify import verify_file
from weightgate.yamlsource import parse_document

FieldPath = tuple[str | int, ...]  # inside one artifact's mapping, e.g. ("files", 0, "sha256")


@dataclass(frozen=True)
class PinChange:
    artifact_id: str
    field: str  # dotted, for messages
    old: object
    new: object


@dataclass(frozen=True)
class PinProblem:
    artifact_id: str
    message: str


@dataclass(frozen=True)
class PinResult:
    path: Path
    original: str
    updated: str
    changes: tuple[PinChange, ...]
    problems: tuple[PinProblem, ...]

    @property
    def changed(self) -> bool:
        return self.original != self.updated

    def diff(self) -> str:
        name = str(self.path)
        return "".join(difflib.unified_diff(self.original.splitlines(keepends=True),
                                            self.updated.splitlines(keepends=True), name, name))


class _Skip(Exception):
    """This artifact cannot be pinned; the message says why. Nothing of it is changed."""


def pin_manifest(path: Path, policy_path: Path | None = None, mirror: str | None = None,
                 endpoints: EndpointOptions | None = None) -> PinResult:
    policy = with_endpoints(load_policy(policy_path), endpoints or EndpointOptions())
    settings = settings_for(policy)
    loaded = load_manifest(path)
    if loaded.manifest is None:
        lines = "\n".join(f"  {f.location.path}:{f.location.line}: {f.message}" for f in loaded.findings)
        raise InputFileError(f"{path} does not match the manifest schema; nothing was pinned:\n{lines}")
    manifest = loaded.manifest
    original = path.read_text(encoding="utf-8")
    updates: list[tuple[int, str, dict[FieldPath, Any]]] = []
    problems: list[PinProblem] = []
    for index, artifact in enumerate(manifest.artifacts):
        try:
            updates.append((index, artifact.id, _pin_artifact(artifact, manifest, mirror, settings)))
        except _Skip as e:
            problems.append(PinProblem(artifact.id, str(e)))
    updated, changes = rewrite(original, updates, path)
    return PinResult(path, original, updated, tuple(changes), tuple(problems))


def rewrite(original: str, updates: list[tuple[int, str, dict[FieldPath, Any]]],
            path: Path = Path("manifest.yaml")) -> tuple[str, list[PinChange]]:
    """The manifest text with `updates` (artifact index, id, field -> value) written in, and what changed.

    The rewrite goes through a YAML 1.2 library and is read by the gate's YAML 1.1 reader (yamlsource): a plain
    `1:20` is a string to one and 80 to the other, `yes` a string and True, `0123` a string and 83. So a string
    is written plain only when the gate's reader reads it back as that same string, else double-quoted; and the
    result is read back with the gate's reader before anyone sees it: a value that would read differently is
    refused (InputFileError), never written."""
    yaml, document = _round_trip(original)
    changes: list[PinChange] = []
    for index, artifact_id, fields in updates:
        node = document["artifacts"][index]
        for field_path, value in fields.items():
            old = _set(node, field_path, _written(value))
            if old != value:
                changes.append(PinChange(artifact_id, _dotted(field_path), old, value))
    if not changes:
        return original, changes
    out = io.StringIO()
    yaml.dump(document, out)
    _check_reads_back(out.getvalue(), updates, path)
    return out.getvalue(), changes


def _written(value: Any) -> Any:
    """`value` as the rewrite should emit it: strings the gate's reader would not read back as themselves when
    plain are double-quoted (ruamel escapes what double quotes cannot hold raw)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if not isinstance(value, str) or _reads_back_plain(value):
        return value
    return DoubleQuotedScalarString(value)


def _reads_back_plain(value: str) -> bool:
    if not value or value != value.strip() or any(not c.isprintable() or not c.isascii() for c in value):
        return False
    try:
        read = parse_document(f"v: {value}\n", Path("<pin>"), "value").data
    except InputFileError:
        return False
    return read == {"v": value} and type(read["v"]) is str


def _check_reads_back(text: str, updates: list[tuple[int, str, dict[FieldPath, Any]]], path: Path) -> None:
    data = parse_document(text, path, "manifest").data
    for index, artifact_id, fields in updates:
        for field_path, value in fields.items():
            node: Any = data["artifacts"][index]
            for part in field_path:
                node = node[part]
            if node != value or type(node) is not type(value):
                raise InputFileError(f"{path}: {artifact_id}: {_dotted(field_path)} would be written as {value!r} "
                                     f"and read back as {node!r}; nothing was pinned",
                                     hint="report this: weightgate must write what it reads back")


def _pin_artifact(artifact: Artifact, manifest: Manifest, mirror: str | None,
                  settings: MirrorSettings) -> dict[FieldPath, Any]:
    updates = _resolve_source(artifact, settings)
    resolved = _with_updates(artifact, updates)
    location = locate_mirror(resolved, manifest, mirror)
    if location is None:
        raise _Skip("no mirror location to read the files from")
    if location.kind is MirrorKind.S3:
        updates.update(_object_versions(resolved, location.uri, dict(location.versions), settings))
        resolved = _with_updates(artifact, updates)
        location = locate_mirror(resolved, manifest, mirror)
        assert location is not None
    try:
        opened = open_approved_mirror(location, settings)
    except MirrorUnavailable as e:
        raise _Skip(f"mirror unavailable: {e}") from None
    moved = any(key[0] in ("source", "mirror") for key in updates)
    for index, pinned in enumerate(artifact.files):
        facts = verify_file(opened, replace(pinned, sha256=None, size=None))  # read it whole, then compare
        if facts.status is not FileStatus.VERIFIED:
            raise _Skip(f"{pinned.path}: {facts.status.value}: {facts.reason}")
        known = refs.is_sha256_hex(pinned.sha256) and pinned.size is not None
        if known and (pinned.sha256, pinned.size) != (facts.sha256, facts.size) and not moved:
            raise _Skip(f"{pinned.path}: mirror bytes (sha256 {facts.sha256}, {facts.size} bytes) differ from the "
                        "pinned ones; not re-pinned without a new review")
        updates[("files", index, "sha256")] = facts.sha256
        updates[("files", index, "size")] = facts.size
    return updates


def _resolve_source(artifact: Artifact, settings: MirrorSettings) -> dict[FieldPath, Any]:
    """Field updates that pin the artifact's source (and a mirror that names the same mutable reference)."""
    src = artifact.source
    mutable = [p for p in refs.source_problems(src.registry, src.uri, src.revision) if p.rule is MUTABLE_REFERENCE]
    if src.registry == "s3" and not src.revision and refs.object_version("s3", src.uri) is None:
        return {("source", "revision"): _s3_source_version(src.uri, settings)}
    if not mutable:
        return {}
    if src.registry == "huggingface":
        return {("source", "revision"): _hf_commit(artifact, settings)}
    if src.registry == "mlflow":
        pinned_uri = _mlflow_version_uri(src.uri, settings)
        updates: dict[FieldPath, Any] = {("source", "uri"): pinned_uri}
        if artifact.mirror == src.uri:
            updates[("mirror",)] = pinned_uri
        return updates
    raise _Skip(f"cannot resolve a {src.registry} reference automatically ({mutable[0].message}); pin it by hand")


def _hf_commit(artifact: Artifact, settings: MirrorSettings) -> str:
    from weightgate.mirror.hf import hf_endpoint, hf_transport, parse_hf_uri, resolve_revision

    try:
        endpoint = hf_endpoint(settings)
        repo = parse_hf_uri(artifact.source.uri)
        return resolve_revision(hf_transport(endpoint, settings), endpoint, repo,
                                artifact.source.revision or repo.revision or "main")
    except MirrorUnavailable as e:
        raise _Skip(str(e)) from None
    except MirrorFileError as e:
        raise _Skip(f"cannot resolve {artifact.source.uri}@{artifact.source.revision}: {e.reason}") from None


def _mlflow_version_uri(uri: str, settings: MirrorSettings) -> str:
    from weightgate.mirror.mlflow import mlflow_transport, parse_mlflow_uri, resolve_version, tracking_uri

    try:
        ref = parse_mlflow_uri(uri)
        base = tracking_uri(settings)
        version = resolve_version(mlflow_transport(base, settings), base, ref)
    except MirrorUnavailable as e:
        raise _Skip(str(e)) from None
    except MirrorFileError as e:
        raise _Skip(f"cannot resolve {uri}: {e.reason}") from None
    return f"models:/{ref.name}/{version}"


def _s3_source_version(uri: str, settings: MirrorSettings) -> str:
    from weightgate.mirror.s3 import S3Mirror

    bucket_key = uri.split("://", 1)[1].split("?", 1)[0]
    folder, _, key = bucket_key.rpartition("/")
    try:
        version = S3Mirror(f"s3://{folder}", {}, settings).current_version(key)
    except MirrorUnavailable as e:
        raise _Skip(str(e)) from None
    except MirrorFileError as e:
        raise _Skip(f"cannot read the current version of {uri}: {e.reason}") from None
    if version is None:
        raise _Skip(f"{uri} has no version id (is versioning enabled on the bucket?)")
    return version


def _object_versions(artifact: Artifact, uri: str, known: dict[str, str],
                     settings: MirrorSettings) -> dict[FieldPath, Any]:
    from weightgate.mirror.s3 import S3Mirror

    try:
        bucket = S3Mirror(uri, known, settings)
        updates: dict[FieldPath, Any] = {}
        for index, pinned in enumerate(artifact.files):
            if pinned.path in known:
                continue
            version = bucket.current_version(pinned.path)
            if version is None:
                raise _Skip(f"{pinned.path}: object has no version id (is versioning enabled on the bucket?)")
            updates[("files", index, "version_id")] = version
        return updates
    except MirrorUnavailable as e:
        raise _Skip(str(e)) from None
    except MirrorFileError as e:
        raise _Skip(f"cannot read object versions: {e.reason}") from None


def _with_updates(artifact: Artifact, updates: dict[FieldPath, Any]) -> Artifact:
    """The artifact as it will read once `updates` are written (for locating and opening its mirror)."""
    source = artifact.source
    if ("source", "revision") in updates:
        source = replace(source, revision=str(updates[("source", "revision")]))
    if ("source", "uri") in updates:
        source = replace(source, uri=str(updates[("source", "uri")]))
    raw_files = [dict(f) for f in artifact.raw.get("files", [])]
    for key, value in updates.items():
        if key[0] == "files" and key[2] == "version_id":
            raw_files[int(key[1])]["version_id"] = value
    mirror = str(updates[("mirror",)]) if ("mirror",) in updates else artifact.mirror
    return replace(artifact, source=source, mirror=mirror, raw={**artifact.raw, "files": raw_files})


def _round_trip(text: str) -> tuple[Any, Any]:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    mapping, sequence, offset = _indentation(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml, yaml.load(text)


_PARENT = re.compile(r"^( *)[^\s#-][^:]*:\s*(#.*)?$")
_DASH = re.compile(r"^( *)- ")
_CHILD = re.compile(r"^( *)[^\s#-][^:]*:")


def _indentation(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the author wrote them, so a rewrite keeps them."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping, offset = 2, 0
    for previous, line in itertools.pairwise(lines):
        parent, dash, child = _PARENT.match(previous), _DASH.match(line), _CHILD.match(line)
        if parent and dash:
            offset = len(dash.group(1)) - len(parent.group(1))
            break
        if parent and child and len(child.group(1)) > len(parent.group(1)):
            mapping = len(child.group(1)) - len(parent.group(1))
    return mapping, offset + 2, offset


def _set(node: Any, field_path: FieldPath, value: Any) -> Any:
    """Set a field in the round-trip document, returning the old value (None when it was absent)."""
    for part in field_path[:-1]:
        node = node[part]
    last = field_path[-1]
    old = node.get(last) if hasattr(node, "get") else None
    if old != value:
        node[last] = value
    return old


def _dotted(field_path: FieldPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(field_path))


def describe(result: PinResult) -> Iterator[str]:
    """Lines for the user: each change, then each artifact that could not be pinned and why."""
    for change in result.changes:
        yield f"{change.artifact_id}: {change.field}: {change.old!r} -> {change.new!r}"
    for problem in result.problems:
        yield f"{problem.artifact_id}: not pinned: {problem.message}"
