"""Eval evidence: the evaluation report an artifact's manifest entry points at, read from the mirror.

The file is streamed once through the verify pass's `inspect_stream` (hash, size, format), and only its first
MAX_EVIDENCE_JSON_BYTES are kept to read the `artifact_digest` it names and the suite results it reports (one
parse for both); a larger report cannot show its digest and fails closed. Nothing here judges: the evidence
checks turn these facts into findings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace

from weightgate.evidence.fetch import mirror_for
from weightgate.facts import FileStatus
from weightgate.formats import Format
from weightgate.governance.eval_results import (
    DIGEST_FIELD,
    DuplicateKeyError,
    load_json,
    results_from_json,
)
from weightgate.governance.facts import EvidenceFacts
from weightgate.manifest import Artifact, EvalEvidence, Manifest
from weightgate.mirror import MirrorLocation, open_mirror
from weightgate.mirror.base import Mirror, MirrorFileError, MirrorUnavailable
from weightgate.verify import inspect_stream

log = logging.getLogger(__name__)

MAX_EVIDENCE_JSON_BYTES = 4 * 1024 * 1024


MirrorOpener = Callable[[MirrorLocation], Mirror]


def fetch_evidence(manifest: Manifest, locations: Mapping[str, MirrorLocation | None],
                   opener: MirrorOpener = open_mirror) -> dict[str, EvidenceFacts]:
    """Read every artifact's eval evidence (relative paths from the artifact's mirror, or a URI). `opener` is
    how the gate opens mirrors (with its mirror settings), so evidence is read exactly like artifact files."""
    results: dict[str, EvidenceFacts] = {}
    for artifact in manifest.artifacts:
        if artifact.eval_evidence is not None and artifact.id not in results:
            results[artifact.id] = read_evidence(artifact, artifact.eval_evidence, locations.get(artifact.id),
                                                 opener)
    return results


def read_evidence(artifact: Artifact, evidence: EvalEvidence, location: MirrorLocation | None,
                  opener: MirrorOpener = open_mirror) -> EvidenceFacts:
    try:
        mirror, path = mirror_for(evidence.path, location, opener)
    except MirrorUnavailable as e:
        return EvidenceFacts(artifact.id, evidence.path, evidence.path, FileStatus.NOT_CHECKED, evidence.sha256,
                             reason=str(e))
    return _read(artifact.id, evidence, mirror, path)


def _read(artifact_id: str, evidence: EvalEvidence, mirror: Mirror, path: str) -> EvidenceFacts:
    uri = mirror.uri_of(path)
    base = EvidenceFacts(artifact_id, evidence.path, uri, FileStatus.NOT_CHECKED, evidence.sha256)
    try:
        handle = mirror.open(path)
    except MirrorFileError as e:
        return replace(base, status=e.status, reason=e.reason)
    except OSError as e:  # a network mirror failing mid-request: unreadable, never a pass
        return replace(base, status=FileStatus.UNREADABLE, reason=f"open failed: {e.strerror or e}")
    kept = bytearray()

    def read_into(view: memoryview) -> int:
        n = handle.readinto(view)
        if len(kept) <= MAX_EVIDENCE_JSON_BYTES:
            kept.extend(view[: min(n, MAX_EVIDENCE_JSON_BYTES + 1 - len(kept))])
        return n

    try:
        sha256, total, partial = inspect_stream(read_into, handle.size)
    except OSError as e:
        return replace(base, status=FileStatus.UNREADABLE, reason=f"read failed: {e.strerror or e}")
    finally:
        handle.close()
    if handle.size is not None and total != handle.size:
        return replace(base, status=FileStatus.UNREADABLE, size=total,
                       reason=f"file changed while being read ({handle.size} bytes expected, {total} read)")
    log.info("read eval evidence %s (%d bytes)", uri, total)
    read = replace(base, status=FileStatus.VERIFIED, sha256=sha256, size=total, format=partial.format)
    return _with_report(read, partial.format, bytes(kept))


def _with_report(facts: EvidenceFacts, fmt: Format | None, head: bytes) -> EvidenceFacts:
    """The facts with what the report says, from one parse: the digest it names (or why it names none) and the
    results it reports. Repeated keys make it malformed: with them, which `passed` or digest a reader sees is
    up to the reader."""
    if fmt is not Format.JSON:
        kind = fmt.value if fmt else "unrecognised"
        return replace(facts, unbound_reason=f"the evidence is {kind}, not JSON naming `{DIGEST_FIELD}`")
    if len(head) > MAX_EVIDENCE_JSON_BYTES:
        return replace(facts, unbound_reason=f"the evidence is larger than {MAX_EVIDENCE_JSON_BYTES} bytes; its "
                       "digest was not read")
    try:
        document = load_json(head)
    except DuplicateKeyError as e:
        return replace(facts, malformed=str(e), unbound_reason=f"the evidence is malformed: {e}")
    except (UnicodeDecodeError, ValueError, RecursionError):
        return replace(facts, unbound_reason="the evidence is not valid JSON")
    results = results_from_json(document, facts.uri)
    value = document.get(DIGEST_FIELD) if isinstance(document, dict) else None
    if not isinstance(value, str):
        return replace(facts, unbound_reason=f"the evidence has no string `{DIGEST_FIELD}` field", results=results)
    return replace(facts, named_digest=value, results=results)
