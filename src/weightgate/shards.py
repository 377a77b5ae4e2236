"""One gate split across CI runners: `check --shard i/n` reads a share of the pinned files, `merge` joins the shares.

A fleet's mirror can outgrow one runner's cores and network, so the CI system's own parallelism (a GitHub Actions
matrix, GitLab `parallel:`) spreads the files: each shard streams its share (balanced by pinned bytes; one
artifact's files may land on several shards) and writes what it found about each file. `merge` then runs the gate
once over the whole manifest with those file facts in place of its own verify pass, so every check, report and
decision record is exactly what one run would have written. The plan is a pure function of the manifest, so
`merge` recomputes it and refuses shard files that do not match it: a shard missing, repeated, from another
manifest, policy, mirror, plan or weightgate version is an error (exit 2), never a pass.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import heapq
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightgate import __version__
from weightgate.errors import WeightgateError
from weightgate.facts import ArtifactFacts, FileFacts, FileStatus
from weightgate.formats import Format
from weightgate.formats.base import Issue
from weightgate.manifest import Manifest
from weightgate.mirror import MirrorLocation
from weightgate.rules import RULES, Severity
from weightgate.textsafety import redact_url
from weightgate.verify import VerifyJob, artifacts_to_read

SHARD_FORMAT = "weightgate-shard"
SHARD_FORMAT_VERSION = 1
MAX_SHARDS = 256
MAX_SHARD_FILE_BYTES = 512 * 1024 * 1024
_SPEC = re.compile(r"([0-9]{1,3})/([0-9]{1,3})")


class ShardError(WeightgateError):
    """A shard argument or shard file the merge cannot use."""


@dataclass(frozen=True)
class ShardSpec:
    """Shard `index` of `count` (1-based, as CI systems number them: GitLab's CI_NODE_INDEX/CI_NODE_TOTAL)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        match = _SPEC.fullmatch(text.strip())
        if not match:
            raise ShardError(f"--shard {text!r} is not INDEX/COUNT", hint="e.g. --shard 2/4 (the second of four)")
        index, count = int(match.group(1)), int(match.group(2))
        if not 1 <= count <= MAX_SHARDS or not 1 <= index <= count:
            raise ShardError(f"--shard {text!r}: INDEX must be 1..COUNT and COUNT 1..{MAX_SHARDS}",
                             hint="GitLab: --shard \"$CI_NODE_INDEX/$CI_NODE_TOTAL\"; a GitHub matrix: "
                                  "--shard \"${{ matrix.shard }}/<count>\"")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


FileKey = tuple[str, int]  # (artifact id, index of the file in the artifact's `files`)


def plan_shares(manifest: Manifest, locations: Mapping[str, MirrorLocation | None], count: int) -> list[set[FileKey]]:
    """Every pinned file to read, dealt to `count` shares balanced by pinned bytes: largest first, each to the share
    with the fewest bytes so far (ties to the lowest index). Deterministic: the manifest alone decides it."""
    items: list[tuple[int, str, int]] = []
    for artifact in artifacts_to_read(manifest, locations):
        items += [(f.size or 0, artifact.id, i) for i, f in enumerate(artifact.files)]
    items.sort(key=lambda item: (-item[0], item[1], item[2]))
    loads = [(0, index) for index in range(count)]
    shares: list[set[FileKey]] = [set() for _ in range(count)]
    for size, artifact_id, i in items:
        load, index = heapq.heappop(loads)
        shares[index].add((artifact_id, i))
        heapq.heappush(loads, (load + size, index))
    return shares


@functools.cache
def running_tool() -> str:
    """This weightgate: its version and a digest of its code and data. Development builds share a version number,
    and shards read by other inspectors than the merge's are not one run."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in (".py", ".json", ".yaml")):
        digest.update(f"{path.relative_to(package).as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return f"{__version__} (code sha256:{digest.hexdigest()[:16]})"


@dataclass(frozen=True)
class ShardFacts:
    """What one shard found: the facts of each file in its share, and the bytes of the small files the gate keeps
    from the verify pass (model cards, dependency files)."""

    spec: ShardSpec
    manifest_sha256: str
    policy_sha256: str
    mirrors: dict[str, str]  # artifact id -> mirror URI as the shard's run located it (redacted)
    files: dict[FileKey, FileFacts]
    captured: dict[FileKey, bytes]
    root: str = ""  # the shard's source root (its checkout), resolved: the merge rebases locations under it
    tool_version: str = field(default_factory=running_tool)


def manifest_sha256(manifest: Manifest) -> str:
    return hashlib.sha256(manifest.document.text.encode()).hexdigest()


def shard_document(shard: ShardFacts) -> str:
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for (artifact_id, index), facts in sorted(shard.files.items()):
        entry = _file_json(facts)
        entry["index"] = index
        if (artifact_id, index) in shard.captured:
            entry["captured"] = base64.b64encode(shard.captured[(artifact_id, index)]).decode()
        artifacts.setdefault(artifact_id, []).append(entry)
    document = {
        "format": SHARD_FORMAT, "formatVersion": SHARD_FORMAT_VERSION, "toolVersion": shard.tool_version,
        "shard": str(shard.spec), "manifestSha256": shard.manifest_sha256, "policySha256": shard.policy_sha256,
        "sourceRoot": shard.root,
        "artifacts": [{"id": a, "mirror": shard.mirrors.get(a, ""), "files": files} for a, files in artifacts.items()],
    }
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def _file_json(facts: FileFacts) -> dict[str, Any]:
    return {
        "path": facts.path, "status": facts.status.value, "uri": facts.uri, "sha256": facts.sha256,
        "size": facts.size, "format": facts.format.value if facts.format else None,
        "details": [[k, v] for k, v in facts.details.items()],  # pairs: the order reports print them in
        "issues": [{"rule": i.rule.id, "message": i.message,
                    "severity": i.severity_override.value if i.severity_override else None,
                    "evidence": [list(pair) for pair in i.evidence], "confidence": i.confidence}
                   for i in facts.issues],
        "reason": facts.reason, "pinnedSha256": facts.pinned_sha256, "pinnedSize": facts.pinned_size,
    }


# --- reading shard files back --------------------------------------------------------------------------------

def read_shard(path: Path) -> ShardFacts:
    from weightgate.inputfiles import read_input
    from weightgate.strictjson import JsonRefused, strict_json

    data = read_input(path, MAX_SHARD_FILE_BYTES, "shard file")
    try:
        document = strict_json(data, f"shard file {path}")
        return _parse(document)
    except JsonRefused as e:
        raise ShardError(str(e), hint=_REDO) from None
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as e:
        raise ShardError(f"shard file {path} is not a weightgate shard file ({type(e).__name__}: {e})",
                         hint=_REDO) from None


_REDO = "run the shard again (`weightgate check MANIFEST --shard I/N --shard-out FILE`) and merge its new file"


def _parse(document: Any) -> ShardFacts:
    if not isinstance(document, dict) or document.get("format") != SHARD_FORMAT:
        raise ValueError("no `format: weightgate-shard`")
    if document["formatVersion"] != SHARD_FORMAT_VERSION:
        raise ValueError(f"format version {document['formatVersion']!r}, this weightgate reads {SHARD_FORMAT_VERSION}")
    spec = ShardSpec.parse(_text(document["shard"]))
    files: dict[FileKey, FileFacts] = {}
    captured: dict[FileKey, bytes] = {}
    mirrors: dict[str, str] = {}
    for artifact in document["artifacts"]:
        artifact_id = _text(artifact["id"])
        if artifact_id in mirrors:
            raise ValueError(f"artifact {artifact_id!r} listed twice")
        mirrors[artifact_id] = _text(artifact["mirror"])
        for entry in artifact["files"]:
            key = (artifact_id, _count(entry["index"]))
            if key in files:
                raise ValueError(f"file {key[1]} of {artifact_id!r} listed twice")
            files[key] = _file_facts(entry)
            if "captured" in entry:
                captured[key] = base64.b64decode(_text(entry["captured"]), validate=True)
    return ShardFacts(spec, _text(document["manifestSha256"]), _text(document["policySha256"]), mirrors, files,
                      captured, _text(document["sourceRoot"]), _text(document["toolVersion"]))


def _file_facts(entry: Mapping[str, Any]) -> FileFacts:
    issues = tuple(
        Issue(RULES[_text(i["rule"])], _text(i["message"]),
              Severity(i["severity"]) if i["severity"] is not None else None,
              tuple((_text(k), _text(v)) for k, v in i["evidence"]), _text(i["confidence"]))
        for i in entry["issues"])
    return FileFacts(
        path=_text(entry["path"]), status=FileStatus(entry["status"]), uri=_text(entry["uri"]),
        sha256=_text(entry["sha256"]), size=_count(entry["size"]),
        format=Format(entry["format"]) if entry["format"] is not None else None,
        details={_text(k): _text(v) for k, v in entry["details"]}, issues=issues, reason=_text(entry["reason"]),
        pinned_sha256=None if entry["pinnedSha256"] is None else _text(entry["pinnedSha256"]),
        pinned_size=None if entry["pinnedSize"] is None else _count(entry["pinnedSize"]),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, found {type(value).__name__}")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"expected a count, found {value!r}")
    return value


# --- merging -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MergedFacts:
    """The shards' facts joined into what one verify pass returns, with the small files it kept."""

    facts: tuple[ArtifactFacts, ...]
    captured: dict[FileKey, bytes]


def merge_shards(shards: Sequence[ShardFacts], manifest: Manifest, policy_sha256: str,
                 locations: Mapping[str, MirrorLocation | None], root: Path) -> MergedFacts:
    """Join shard facts, refusing anything that is not exactly the shares of this manifest's plan. Locations inside
    a shard's checkout are rebased onto `root`, the merge's: runners check the repository out in different
    folders (GitLab's /builds/<runner>/<n>/...), and a mirror inside it is the same mirror."""
    if not shards:
        raise ShardError("no shard files to merge", hint="pass every shard's --shard-out file")
    shards = [rebased(shard, root) for shard in shards]
    count = shards[0].spec.count
    by_index: dict[int, ShardFacts] = {}
    for shard in shards:
        _same_run(shard, count, manifest, policy_sha256)
        if shard.spec.index in by_index:
            raise ShardError(f"shard {shard.spec} was given twice",
                             hint="pass each shard's file once; two runs of one shard are not two shards")
        by_index[shard.spec.index] = shard
    missing = [str(i) for i in range(1, count + 1) if i not in by_index]
    if missing:
        raise ShardError(f"shard(s) {', '.join(missing)} of {count} missing: their files were never verified",
                         hint="a shard that failed or never ran must be run again before merging; the gate does "
                              "not pass on part of the manifest")
    plan = plan_shares(manifest, locations, count)
    expected_mirrors = {a: redact_url(loc.uri) for a, loc in locations.items() if loc is not None}
    files: dict[FileKey, FileFacts] = {}
    captured: dict[FileKey, bytes] = {}
    for index, shard in sorted(by_index.items()):
        if set(shard.files) != plan[index - 1]:
            raise ShardError(f"shard {shard.spec} does not hold the files the plan gives it "
                             f"({len(shard.files)} listed, {len(plan[index - 1])} planned)", hint=_REDO)
        for artifact_id, uri in shard.mirrors.items():
            if expected_mirrors.get(artifact_id) != uri:
                raise ShardError(f"shard {shard.spec} read {artifact_id!r} from {uri}, the merge locates it at "
                                 f"{expected_mirrors.get(artifact_id)}",
                                 hint="give the shards and the merge the same --mirror and endpoints")
        for key, facts in shard.files.items():
            _pinned_as_in_manifest(manifest, key, facts, shard.spec)
        files.update(shard.files)
        captured.update(shard.captured)
    joined = []
    for artifact in artifacts_to_read(manifest, locations):
        joined.append(ArtifactFacts(artifact.id, expected_mirrors[artifact.id],
                                    tuple(files[(artifact.id, i)] for i in range(len(artifact.files)))))
    return MergedFacts(tuple(joined), captured)


def rebased(shard: ShardFacts, root: Path) -> ShardFacts:
    """The shard's facts as a run in `root` would have written them: its checkout's folder, as a URI or a path
    anywhere in a location, reason or message, replaced by `root`."""
    if not shard.root or not Path(shard.root).is_absolute():
        return shard
    old, new = Path(shard.root), root.resolve()
    if old == new:
        return shard
    swaps = {old.as_uri().rstrip("/") + "/": new.as_uri().rstrip("/") + "/",
             str(old).rstrip("/") + "/": str(new).rstrip("/") + "/"}
    # One pass, longest first: a rebased location is never rebased again (the new root may lie under the old).
    pattern = re.compile("|".join(re.escape(before) for before in sorted(swaps, key=len, reverse=True)))

    def moved(text: str) -> str:
        return pattern.sub(lambda match: swaps[match.group(0)], text)

    files = {key: dataclasses.replace(
        f, uri=moved(f.uri), reason=moved(f.reason), details={k: moved(v) for k, v in f.details.items()},
        issues=tuple(dataclasses.replace(i, message=moved(i.message),
                                         evidence=tuple((k, moved(v)) for k, v in i.evidence)) for i in f.issues))
        for key, f in shard.files.items()}
    mirrors = {artifact_id: moved(uri) for artifact_id, uri in shard.mirrors.items()}
    return dataclasses.replace(shard, files=files, mirrors=mirrors, root=str(new))


def _same_run(shard: ShardFacts, count: int, manifest: Manifest, policy_sha256: str) -> None:
    if shard.tool_version != running_tool():
        raise ShardError(f"shard {shard.spec} was written by weightgate {shard.tool_version}, the merge is "
                         f"{running_tool()}", hint="run the shards and the merge with one weightgate build")
    if shard.spec.count != count:
        raise ShardError(f"shard {shard.spec} belongs to a split into {shard.spec.count}, others into {count}",
                         hint="merge the files of one split")
    if shard.manifest_sha256 != manifest_sha256(manifest):
        raise ShardError(f"shard {shard.spec} checked another manifest (sha256 {shard.manifest_sha256})",
                         hint="shards and merge must read the same commit's manifest")
    if shard.policy_sha256 != policy_sha256:
        raise ShardError(f"shard {shard.spec} ran under another policy (sha256 {shard.policy_sha256})",
                         hint="give the shards and the merge the same --policy and --policy-ref")


def _pinned_as_in_manifest(manifest: Manifest, key: FileKey, facts: FileFacts, spec: ShardSpec) -> None:
    artifact = manifest.artifact(key[0])
    pinned = artifact.files[key[1]] if artifact is not None and key[1] < len(artifact.files) else None
    if pinned is None or (facts.path, facts.pinned_sha256, facts.pinned_size) != \
            (pinned.path, pinned.sha256, pinned.size):
        raise ShardError(f"shard {spec}: file {key[1]} of {key[0]!r} is not the file the manifest pins there",
                         hint=_REDO)


def share_of(keys: Iterable[FileKey]) -> dict[str, tuple[int, ...]]:
    """A share as the files of each artifact, in the artifact's order."""
    grouped: dict[str, list[int]] = {}
    for artifact_id, index in keys:
        grouped.setdefault(artifact_id, []).append(index)
    return {a: tuple(sorted(indexes)) for a, indexes in grouped.items()}


def with_files(job: VerifyJob, indexes: Sequence[int]) -> VerifyJob:
    """The job narrowed to the artifact's files at `indexes` (this shard's share of it)."""
    return dataclasses.replace(job, files=tuple(job.files[i] for i in indexes))
