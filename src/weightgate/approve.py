"""`weightgate approve`: a reviewer's signed decision about one artifact of a manifest.

The digest is computed from the manifest's pins (the README formula), or with `verify` from the mirror's bytes,
streamed once: a reviewer can then sign only what they (or their tooling) actually read. The record is an in-toto
Statement v1 with the review predicate, in a DSSE envelope signed with the reviewer's key; with a certificate it
travels in a Sigstore-style bundle carrying the chain, so the gate can check it against the policy's CA.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightgate.errors import InputFileError
from weightgate.evidence.dsse import certificate_bundle, sign_statement
from weightgate.evidence.reviews import Review, review_statement
from weightgate.evidence.store import store_file_name
from weightgate.governance.digests import declared_digest
from weightgate.manifest import Artifact, Manifest, load_manifest
from weightgate.mirror.settings import EndpointOptions


@dataclass(frozen=True)
class Subject:
    artifact_id: str
    digest: str  # sha256:<hex>
    verified: bool  # from the mirror's bytes, not only the pins


@dataclass(frozen=True)
class ApproveOptions:
    manifest: Path
    artifact: str
    verify: bool = False
    policy: Path | None = None
    mirror: str | None = None
    endpoints: EndpointOptions = field(default_factory=EndpointOptions)


def subject_of(options: ApproveOptions) -> Subject:
    """The artifact and the digest a review of it names. Raises InputFileError when there is none to name."""
    manifest = _manifest(options.manifest)
    artifact = manifest.artifact(options.artifact)
    if artifact is None:
        known = ", ".join(a.id for a in manifest.artifacts[:20])
        raise InputFileError(f"{options.manifest} declares no artifact {options.artifact!r}",
                             hint=f"--artifact takes an artifact id: {known}")
    declared = declared_digest(artifact)
    if declared is None:
        raise InputFileError(f"{artifact.id}: not every file is pinned by sha256 and size, so there is no digest "
                             "to approve", hint="pin the artifact first (`weightgate pin`)")
    if not options.verify:
        return Subject(artifact.id, declared, False)
    verified = _verified_digest(manifest, artifact, options)
    if verified != declared:
        raise InputFileError(f"{artifact.id}: the mirror's bytes hash to {verified}, the pins to {declared}",
                             hint="`weightgate check` shows which files differ; approve only bytes that match")
    return Subject(artifact.id, verified, True)


def _manifest(path: Path) -> Manifest:
    loaded = load_manifest(path)
    if loaded.manifest is None:
        problems = "\n".join(f"  {f.location.path}:{f.location.line}: {f.message}" for f in loaded.findings)
        raise InputFileError(f"manifest {path} is invalid:\n{problems}", hint="`weightgate check` reports it")
    return loaded.manifest


def _verified_digest(manifest: Manifest, artifact: Artifact, options: ApproveOptions) -> str:
    """Stream the artifact's files from its mirror once, as the gate does."""
    from weightgate.mirror import locate_mirror, open_approved_mirror
    from weightgate.mirror.base import MirrorUnavailable
    from weightgate.mirror.settings import settings_for, with_endpoints
    from weightgate.policy import load_policy
    from weightgate.verify import DEFAULT_WORKERS, VerifyJob, verify_artifacts

    policy = with_endpoints(load_policy(options.policy), options.endpoints)
    location = locate_mirror(artifact, manifest, options.mirror)
    if location is None:
        raise InputFileError(f"{artifact.id} has no mirror location to verify", hint="set `mirror:` or --mirror")
    try:
        mirror = open_approved_mirror(location, settings_for(policy))
    except MirrorUnavailable as e:
        raise InputFileError(f"{artifact.id}: mirror {location.uri} cannot be used: {e}") from e
    facts = verify_artifacts([VerifyJob(artifact.id, location.uri, mirror, artifact.files)], DEFAULT_WORKERS, None)
    result = next((f for f in facts if f.artifact_id == artifact.id), None)
    if result is None or not result.intact or result.digest is None:
        bad = [f"{f.path}: {f.reason or f.status.value}" for f in (result.files if result else ()) if not f.matches_pin]
        raise InputFileError(f"{artifact.id}: the mirror's bytes do not verify: {'; '.join(bad) or 'not read'}",
                             hint="`weightgate check` reports each file; approve only bytes that verify")
    return result.digest


def approval_record(subject: Subject, review: Review, signer: Any, certificate_chain: bytes | None = None,
                    chain_source: str = "") -> dict[str, Any]:
    statement = review_statement(subject.artifact_id, subject.digest.removeprefix("sha256:"), review)
    envelope = sign_statement(statement, signer)
    return certificate_bundle(envelope, certificate_chain, chain_source) if certificate_chain else envelope


def record_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def store_path(store: Path, subject: Subject) -> Path:
    return store / store_file_name(subject.digest)


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
