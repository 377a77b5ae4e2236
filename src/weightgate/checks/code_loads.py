"""What the policy and the manifest say about model loads found in application code (`weightgate scan`).

A load is around the gate when it reads bytes the manifest does not cover: a hub id or URL (always: the bytes
come from wherever the hub points at run time), a download, or, with a manifest, a local path outside every
artifact's mirror. Independently of where bytes come from, switching a loader's safety off (remote code,
`weights_only=False`, `safe_mode=False`) is reported wherever it appears.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from weightgate import rules
from weightgate.codeloads import UNKNOWN_PART, ApiKind, ModelLoad, SourceScan, TargetKind
from weightgate.findings import Finding, Location
from weightgate.manifest import Manifest
from weightgate.mirror import is_public_host, locate_mirror
from weightgate.policy import Policy
from weightgate.refs import COMMIT_SHA1, source_problems
from weightgate.rules import Severity

DEFAULT_HUB = "huggingface.co"  # where a hub id goes without HF_ENDPOINT
TORCH_HUB_HOST = "github.com"  # torch.hub.load's default source
MAX_SHOWN_CHARS = 160
_REGISTRY_OF_SCHEME = {"s3": "s3", "gs": "gcs", "hf": "huggingface"}
_HF_HOSTS = frozenset({"huggingface.co", "hf.co"})



@dataclass(frozen=True)
class MirrorCoverage:
    """Where the manifest's artifacts live: the only places a covered load may read from."""

    local_roots: tuple[Path, ...]
    remote_roots: tuple[str, ...]
    source_root: Path  # relative load paths are taken from here (where the service runs) and from the file's folder

    def covers_path(self, text: str, source_file: Path) -> bool:
        if UNKNOWN_PART in text:
            return False
        expanded = text.removeprefix("file://")
        candidates = [Path(expanded)] if os.path.isabs(expanded) else [self.source_root / expanded,
                                                                       source_file.parent / expanded]
        for candidate in candidates:
            normal = Path(os.path.normpath(os.path.abspath(candidate)))
            if any(normal == root or root in normal.parents for root in self.local_roots):
                return True
        return False

    def covers_uri(self, text: str) -> bool:
        if UNKNOWN_PART in text:
            return False
        return any(text == root or text.startswith(root.rstrip("/") + "/") for root in self.remote_roots)


def manifest_coverage(manifest: Manifest, source_root: Path) -> MirrorCoverage:
    local: list[Path] = []
    remote: list[str] = []
    for artifact in manifest.artifacts:
        location = locate_mirror(artifact, manifest, None)
        if location is None:
            continue
        if location.local_path is not None:
            local.append(Path(os.path.normpath(os.path.abspath(location.local_path))))
        else:
            remote.append(location.uri)
    return MirrorCoverage(tuple(local), tuple(remote), Path(os.path.abspath(source_root)))


def source_findings(scan: SourceScan, path: str, source_file: Path, policy: Policy,
                    coverage: MirrorCoverage | None) -> Iterator[Finding]:
    """Findings for one Python file; `path` is how reports name it (and the id its waivers bind to)."""
    if scan.unreadable is not None:
        yield Finding(rules.CODE_SOURCE_UNREADABLE, f"{path}: {scan.unreadable}", Location(path, scan.unreadable_line),
                      path, path)
    if scan.truncated:
        yield Finding(rules.CODE_SOURCE_UNREADABLE, f"{path}: more model loads than the scan lists; the first "
                      f"{len(scan.loads)} are reported", Location(path, scan.loads[-1].line), path, path)
    judge = _Judge(path, source_file, policy, coverage)
    for load in scan.loads:
        yield from judge.load(load)


def _url_pin_problem(url: str, scheme: str, host: str) -> str | None:
    """Why a URL does not name fixed bytes; None when it carries a commit or content digest."""
    if scheme == "hf":
        return "an hf:// path names no revision"
    if host in _HF_HOSTS:
        for marker in ("/resolve/", "/blob/", "/tree/"):
            if marker in url:
                ref = url.split(marker, 1)[1].split("/", 1)[0]
                return None if COMMIT_SHA1.match(ref) else f"URL points at {ref!r}, not a full commit"
        return "the URL names no commit"
    problems = source_problems(_REGISTRY_OF_SCHEME.get(scheme, "http"), url, None)
    return problems[0].message if problems else None


def _shown(text: str) -> str:
    return repr(text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…")


@dataclass(frozen=True)
class _Judge:
    path: str
    source_file: Path
    policy: Policy
    coverage: MirrorCoverage | None

    def finding(self, rule: rules.Rule, load: ModelLoad, message: str, *, severity: Severity | None = None,
                confidence: str = "certain") -> Finding:
        evidence = (("api", load.api.name), ("target", load.target.text[:MAX_SHOWN_CHARS]),
                    ("target_kind", load.target.kind.value))
        return Finding(rule, message, Location(self.path, load.line, load.column),
                       self.path, self.path, severity_override=severity, evidence=evidence, confidence=confidence)

    def load(self, load: ModelLoad) -> Iterator[Finding]:
        if load.trust_remote_code:
            how = "trust_remote_code=True" if load.trust_remote_code_constant else \
                "trust_remote_code set from a value the scan cannot read (it may be True)"
            yield self.finding(rules.CODE_LOAD_REMOTE_CODE, load, f"{load.api.name} with {how}: the model's own "
                               "Python files run in the service", confidence="certain"
                               if load.trust_remote_code_constant else "heuristic")
        if load.unsafe_switch is not None:
            yield self.finding(rules.CODE_LOAD_UNSAFE_DESERIALIZATION, load,
                               f"{load.api.name} with {load.unsafe_switch}: the file loaded can run code")
        kind = load.api.kind
        if kind is ApiKind.HUB:
            yield from self.hub_load(load)
        elif kind is ApiKind.TORCH_HUB:
            yield from self.torch_hub_load(load)
        elif kind is ApiKind.URL_PICKLE:
            yield from self.url_pickle_load(load)
        else:
            yield from self.file_load(load)

    # by API kind

    def hub_load(self, load: ModelLoad) -> Iterator[Finding]:
        target = load.target
        host = ((urlsplit(load.endpoint).hostname or DEFAULT_HUB) if load.endpoint else DEFAULT_HUB).lower()
        if target.kind is TargetKind.DEFAULT:
            if is_public_host(host, self.policy.public_hubs):
                yield self.finding(rules.CODE_LOAD_PUBLIC_HUB, load, f"{load.api.name}() names no model: "
                                   f"transformers downloads the task's default model from {host}")
        elif target.kind is TargetKind.HUB_ID:
            if self.coverage is not None and self.coverage.covers_path(target.text, self.source_file):
                return  # a folder inside an artifact's mirror, named like a hub id
            if is_public_host(host, self.policy.public_hubs):
                yield self.finding(rules.CODE_LOAD_PUBLIC_HUB, load, f"{load.api.name}({_shown(target.text)}) "
                                   f"pulls from {host} at run time, around the manifest")
            yield from self.hub_revision(load)
        elif target.kind is TargetKind.URL:
            yield from self.remote_url(load)
        else:
            yield from self.local_or_unknown(load)

    def hub_revision(self, load: ModelLoad) -> Iterator[Finding]:
        revision = load.revision
        if revision is not None and revision.complete and COMMIT_SHA1.match(revision.text):
            return
        if not load.revision_given:
            why = "no revision: the hub resolves it to the moving 'main' branch"
        elif revision is None or not revision.complete:
            why = "revision is not a constant the scan can read"
        else:
            why = f"revision {_shown(revision.text)} is not a full 40-hex commit (branches and tags move)"
        yield self.finding(rules.CODE_LOAD_UNPINNED, load, f"{load.api.name}({_shown(load.target.text)}): {why}")

    def remote_url(self, load: ModelLoad) -> Iterator[Finding]:
        """Hub and pin rules for a URL; nothing when the URL lies inside an artifact's mirror."""
        url = load.target.text
        if self.coverage is not None and self.coverage.covers_uri(url):
            return
        parts = urlsplit(url.replace(UNKNOWN_PART, "x"))
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        if scheme == "hf":
            host = DEFAULT_HUB
        if is_public_host(host, self.policy.public_hubs):
            yield self.finding(rules.CODE_LOAD_PUBLIC_HUB, load, f"{load.api.name}({_shown(url)}) pulls from "
                               f"{host} at run time, around the manifest")
        if not load.target.complete:
            yield self.finding(rules.CODE_LOAD_UNPINNED, load, f"{load.api.name}({_shown(url)}): the URL is built "
                               "from values the scan cannot read, so what it names is not pinned")
            return
        problem = _url_pin_problem(url, scheme, host)
        if problem is not None:
            yield self.finding(rules.CODE_LOAD_UNPINNED, load, f"{load.api.name}({_shown(url)}): {problem}")

    def torch_hub_load(self, load: ModelLoad) -> Iterator[Finding]:
        target = load.target
        if load.torch_hub_source == "local":
            yield from self.local_or_unknown(load)
            return
        yield self.finding(rules.CODE_LOAD_REMOTE_CODE, load, f"torch.hub.load({_shown(target.text or '?')}) imports "
                           f"the repository's hubconf.py from {TORCH_HUB_HOST}")
        if target.kind is TargetKind.UNRESOLVED or not target.complete:
            yield from self.local_or_unknown(load)
            return
        if is_public_host(TORCH_HUB_HOST, self.policy.public_hubs):
            yield self.finding(rules.CODE_LOAD_PUBLIC_HUB, load, f"torch.hub.load({_shown(target.text)}) pulls "
                               f"from {TORCH_HUB_HOST} at run time, around the manifest")
        ref = target.text.partition(":")[2]
        if not COMMIT_SHA1.match(ref):
            why = f"ref {_shown(ref)} is not a full 40-hex commit" if ref else "no ref: the default branch moves"
            yield self.finding(rules.CODE_LOAD_UNPINNED, load, f"torch.hub.load({_shown(target.text)}): {why}")

    def url_pickle_load(self, load: ModelLoad) -> Iterator[Finding]:
        target = load.target
        if target.kind is TargetKind.URL and self.coverage is not None and self.coverage.covers_uri(target.text):
            return
        yield self.remote_pickle(load, f"{load.api.name}({_shown(target.text or '?')}) unpickles a file "
                                 "downloaded at run time")
        if target.kind is TargetKind.URL:
            yield from self.remote_url(load)

    def remote_pickle(self, load: ModelLoad, message: str) -> Finding:
        restricted = load.weights_only is True
        return self.finding(rules.CODE_LOAD_REMOTE_PICKLE, load, message + (" (weights_only=True restricts it)"
                            if restricted else ""), severity=Severity.HIGH if restricted else None)

    def file_load(self, load: ModelLoad) -> Iterator[Finding]:
        """torch.load, joblib, pickle, Keras and TensorFlow loaders: judged by where their file comes from."""
        target = load.target
        remote_rule = rules.CODE_LOAD_REMOTE_PICKLE if load.api.kind is ApiKind.PICKLE else \
            rules.CODE_LOAD_REMOTE_SAVED_MODEL
        if target.kind is TargetKind.DOWNLOAD:
            message = f"{load.api.name} of what {target.text} fetched at run time"
        elif target.kind is TargetKind.URL:
            if self.coverage is not None and self.coverage.covers_uri(target.text):
                return
            message = f"{load.api.name}({_shown(target.text)}) reads a remote location"
        else:
            if load.api.kind is ApiKind.SAVED_MODEL or target.kind is not TargetKind.UNRESOLVED:
                yield from self.local_or_unknown(load)
            return
        if remote_rule is rules.CODE_LOAD_REMOTE_PICKLE:
            yield self.remote_pickle(load, message)
        else:
            yield self.finding(remote_rule, load, message)

    def local_or_unknown(self, load: ModelLoad) -> Iterator[Finding]:
        target = load.target
        known_local = target.kind in (TargetKind.LOCAL, TargetKind.HUB_ID) and target.complete
        if known_local:
            if self.coverage is not None and not self.coverage.covers_path(target.text, self.source_file):
                yield self.finding(rules.CODE_LOAD_UNMANAGED_PATH, load, f"{load.api.name}({_shown(target.text)}) "
                                   "reads a path inside no artifact's mirror")
            return
        if target.kind is TargetKind.DOWNLOAD:
            return  # the download call is reported where it is made
        if target.kind is TargetKind.LOCAL and self.coverage is None:
            return  # a local path, partly unknown: only a manifest makes local paths a question
        shown = _shown(target.text) if target.text else "a value"
        yield self.finding(rules.CODE_LOAD_UNRESOLVED, load, f"{load.api.name} loads {shown} the scan cannot "
                           "resolve statically", confidence="heuristic")
