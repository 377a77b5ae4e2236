"""Gathering the runtime facts of one run: dependency files captured from the verify pass's own stream, the
services' lock files, the advisory snapshot the policy pins, and the matches between them.

A dependency file that is one of an artifact's pinned files is kept as the verify pass reads it (bounded), so
its bytes are read once and are exactly the bytes that were hashed. A service's lock file is read through the
mirror transport and must be the bytes its `sha256` pins.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weightgate.evidence.fetch import mirror_for, read_small
from weightgate.facts import ArtifactFacts
from weightgate.manifest import Manifest, Service
from weightgate.mirror import MirrorLocation
from weightgate.mirror.base import ListedEntry, Mirror, MirrorFile, MirrorFileError, MirrorUnavailable
from weightgate.policy import AdvisoryPolicy
from weightgate.runtime.advisories import (
    MAX_SNAPSHOT_BYTES,
    AdvisoryIndex,
    SnapshotError,
    SnapshotInfo,
    cache_dir,
    open_index,
    snapshot_sha256,
)
from weightgate.runtime.facts import (
    DependencyFile,
    DependencyFileStatus,
    OwnerKind,
    RuntimeFacts,
    SnapshotFacts,
    SnapshotStatus,
    VulnerableRequirement,
)
from weightgate.runtime.requirements import (
    MAX_DEPENDENCY_FILE_BYTES,
    dependency_file_kind,
    lock_file_kind,
    parse_dependency_file,
)
from weightgate.textsafety import redact_url

MirrorOpener = Callable[[MirrorLocation], Mirror]
CHUNK_BYTES = 1024 * 1024


# --- capturing artifact dependency files from the verify pass ------------------------------------------------

class _CapturingFile:
    def __init__(self, inner: MirrorFile, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink
        self.size = inner.size
        self.uri = inner.uri

    def readinto(self, buffer: memoryview) -> int:
        n = self._inner.readinto(buffer)
        room = MAX_DEPENDENCY_FILE_BYTES + 1 - len(self._sink)
        if room > 0:
            self._sink.extend(buffer[: min(n, room)])
        return n

    def close(self) -> None:
        self._inner.close()


class _CapturingMirror:
    def __init__(self, inner: Mirror, sinks: Mapping[str, bytearray]) -> None:
        self._inner = inner
        self._sinks = sinks
        self.uri = inner.uri

    def open(self, path: str) -> MirrorFile:
        handle = self._inner.open(path)
        sink = self._sinks.get(path)
        if sink is None:
            return handle
        sink.clear()  # a re-open starts the file over
        return _CapturingFile(handle, sink)

    def uri_of(self, path: str) -> str:
        return self._inner.uri_of(path)

    def list_files(self) -> Iterator[ListedEntry]:
        return self._inner.list_files()


class DependencyCapture:
    """Keeps the bytes of the dependency files among the artifacts' pinned files as the verify pass streams them."""

    def __init__(self, manifest: Manifest) -> None:
        self._paths = {a.id: [f.path for f in a.files if dependency_file_kind(f.path)] for a in manifest.artifacts}
        self._bytes: dict[str, dict[str, bytearray]] = {}
        self._lock = threading.Lock()

    def wrap(self, artifact_id: str, mirror: Mirror) -> Mirror:
        paths = self._paths.get(artifact_id)
        if not paths:
            return mirror
        with self._lock:
            sinks = self._bytes.setdefault(artifact_id, {p: bytearray() for p in paths})
        return _CapturingMirror(mirror, sinks)

    def captured(self, artifact_id: str, path: str) -> bytes | None:
        data = self._bytes.get(artifact_id, {}).get(path)
        return None if data is None else bytes(data)

    def keep(self, artifact_id: str, path: str, data: bytes) -> None:
        """Bytes another run's verify pass kept (`merge` of shards)."""
        if path in self._paths.get(artifact_id, ()):
            self._bytes.setdefault(artifact_id, {})[path] = bytearray(data[: MAX_DEPENDENCY_FILE_BYTES + 1])


def artifact_dependency_files(manifest: Manifest, facts: Mapping[str, ArtifactFacts], capture: DependencyCapture,
                              offline: bool) -> list[DependencyFile]:
    found = []
    for artifact in manifest.artifacts:
        verified = {f.path: f for f in facts[artifact.id].files} if artifact.id in facts else {}
        for pinned in artifact.files:
            kind = dependency_file_kind(pinned.path)
            if kind is None:
                continue
            file_facts = verified.get(pinned.path)
            data = capture.captured(artifact.id, pinned.path)
            if offline or file_facts is None or not file_facts.verified or data is None:
                reason = "offline" if offline else "the file was not verified"
                found.append(DependencyFile(OwnerKind.ARTIFACT, artifact.id, pinned.path, kind,
                                            DependencyFileStatus.NOT_CHECKED, reason=reason))
            elif len(data) > MAX_DEPENDENCY_FILE_BYTES:
                found.append(DependencyFile(OwnerKind.ARTIFACT, artifact.id, pinned.path, kind,
                                            DependencyFileStatus.UNREADABLE, sha256=file_facts.sha256,
                                            reason=f"larger than {MAX_DEPENDENCY_FILE_BYTES} bytes"))
            else:
                parsed = parse_dependency_file(kind, data)
                found.append(DependencyFile(OwnerKind.ARTIFACT, artifact.id, pinned.path, kind,
                                            DependencyFileStatus.READ, parsed.requirements, parsed.problems,
                                            file_facts.sha256))
    return found


# --- service lock files --------------------------------------------------------------------------------------

def service_lock_files(manifest: Manifest, opener: MirrorOpener, root: Path, offline: bool = False
                       ) -> list[DependencyFile]:
    """Each service's lock. A relative lock path is relative to the manifest's folder and must stay inside `root`
    (the repository, --source-root): the manifest is untrusted and never makes the gate read other local files.
    Offline, a lock on the network is not read."""
    return [_service_lock(service, manifest, opener, root.resolve(), offline) for service in manifest.services
            if service.runtime]


def _service_lock(service: Service, manifest: Manifest, opener: MirrorOpener, root: Path,
                  offline: bool) -> DependencyFile:
    assert service.runtime is not None
    lock = service.runtime.lock
    kind = lock_file_kind(lock)
    if offline and local_snapshot_path(lock) is None:
        return DependencyFile(OwnerKind.SERVICE, service.name, lock, kind, DependencyFileStatus.NOT_CHECKED,
                              reason="offline")
    reference = lock
    if "://" not in lock:
        # The path under the root, as the local mirror reads it (which refuses `..` and symlinks out of it).
        reference = os.path.relpath(manifest.path.parent.resolve() / lock, root).replace(os.sep, "/")
    here = MirrorLocation(root.as_uri(), root)
    try:
        mirror, path = mirror_for(reference, here, opener)
    except MirrorUnavailable as e:
        return DependencyFile(OwnerKind.SERVICE, service.name, lock, kind, DependencyFileStatus.UNREADABLE,
                              reason=str(e))
    small = read_small(mirror, path, MAX_DEPENDENCY_FILE_BYTES)
    if small.data is None:
        status = DependencyFileStatus.MISSING if small.missing else DependencyFileStatus.UNREADABLE
        return DependencyFile(OwnerKind.SERVICE, service.name, lock, kind, status, reason=small.reason)
    if small.sha256 != service.runtime.sha256:
        return DependencyFile(OwnerKind.SERVICE, service.name, lock, kind, DependencyFileStatus.DIGEST_MISMATCH,
                              sha256=small.sha256, reason=f"sha256 {small.sha256}, pinned {service.runtime.sha256}")
    parsed = parse_dependency_file(kind, small.data)
    return DependencyFile(OwnerKind.SERVICE, service.name, lock, kind, DependencyFileStatus.READ,
                          parsed.requirements, parsed.problems, small.sha256)


# --- the advisory snapshot -----------------------------------------------------------------------------------

def local_snapshot_path(location: str) -> Path | None:
    """The local path of a snapshot location (a path or file:// URI), None for a network URI."""
    if location.startswith("file://"):
        return Path(unquote(urlsplit(location).path))
    return None if "://" in location else Path(location)


def fetch_snapshot(uri: str, target: Path, opener: MirrorOpener) -> str:
    """Copy a snapshot from a mirror URI to `target` (atomically, bounded); returns its sha256 hex.
    Raises SnapshotError."""
    try:
        mirror, name = mirror_for(uri, None, opener)
        handle = mirror.open(name)
    except (MirrorUnavailable, MirrorFileError) as e:
        raise SnapshotError(f"{redact_url(uri)} cannot be opened: {e}") from e
    except OSError as e:
        raise SnapshotError(f"{redact_url(uri)} cannot be opened: {e.strerror or e}") from e
    import tempfile  # only a network snapshot is copied: not at the start-up of every check

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=target.name, suffix=".partial", dir=target.parent)
    hasher = hashlib.sha256()
    total = 0
    try:
        with os.fdopen(fd, "wb") as out:
            buffer = memoryview(bytearray(CHUNK_BYTES))
            while n := handle.readinto(buffer):
                total += n
                if total > MAX_SNAPSHOT_BYTES:
                    raise SnapshotError(f"{redact_url(uri)} is larger than {MAX_SNAPSHOT_BYTES} bytes; not read")
                hasher.update(buffer[:n])
                out.write(buffer[:n])
        os.chmod(temporary, 0o644)  # public advisory data: readable like any checked-out file
        os.replace(temporary, target)
    except OSError as e:
        raise SnapshotError(f"{redact_url(uri)} cannot be read: {e.strerror or e}") from e
    finally:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return hasher.hexdigest()


def open_snapshot(policy: AdvisoryPolicy, opener: MirrorOpener) -> tuple[AdvisoryIndex, SnapshotInfo]:
    """The pinned snapshot's index. A network snapshot is copied once into the cache, named by its pinned
    digest. Raises SnapshotError for anything that is not exactly the pinned, readable snapshot."""
    assert policy.snapshot is not None
    pinned = policy.sha256 or ""
    path = local_snapshot_path(policy.snapshot)
    if path is None:
        name = policy.snapshot.rstrip("/").rpartition("/")[2] or "snapshot.zip"
        path = cache_dir() / pinned / name
        if not path.is_file() or snapshot_sha256(path) != pinned:
            fetch_snapshot(policy.snapshot, path, opener)
    actual = snapshot_sha256(path)
    if actual != pinned:
        raise SnapshotError(f"the snapshot's sha256 is {actual}, and the policy pins {pinned or 'nothing'}")
    return open_index(path, actual, beside=policy.index_beside)


# --- one run ------------------------------------------------------------------------------------------------

def collect_runtime(manifest: Manifest, policy: AdvisoryPolicy, files: Iterable[DependencyFile],
                    opener: MirrorOpener, judged_at: datetime.datetime) -> RuntimeFacts:
    """Match every pinned requirement against the snapshot (opened only when there is something to match)."""
    dependency_files = tuple(files)
    shown = redact_url(policy.snapshot) if policy.snapshot else ""
    if not any(f.requirements for f in dependency_files):
        status = SnapshotStatus.NOT_CONFIGURED if policy.snapshot is None else SnapshotStatus.NOT_NEEDED
        return RuntimeFacts(dependency_files, SnapshotFacts(status, shown), (), judged_at)
    if policy.snapshot is None:
        return RuntimeFacts(dependency_files, SnapshotFacts(SnapshotStatus.NOT_CONFIGURED), (), judged_at)
    try:
        index, info = open_snapshot(policy, opener)
    except SnapshotError as e:
        return RuntimeFacts(dependency_files, SnapshotFacts(SnapshotStatus.UNAVAILABLE, shown, reason=str(e)), (),
                            judged_at)
    try:
        vulnerable = tuple(
            VulnerableRequirement(f, r, advisories)
            for f in dependency_files for r in f.requirements
            if r.version is not None and (advisories := index.affecting(r.name, r.version))
        )
    finally:
        index.close()
    snapshot = SnapshotFacts(SnapshotStatus.LOADED, shown, info.sha256, info.records, info.pypi_records,
                             info.newest_modified)
    return RuntimeFacts(dependency_files, snapshot, vulnerable, judged_at)
