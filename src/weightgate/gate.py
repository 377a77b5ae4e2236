"""One gate run: manifest + policy → locations → static checks → streamed verification → findings → Report."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from weightgate import __version__, refs, rules
from weightgate.checks import CheckContext, run_checks
from weightgate.facts import ArtifactFacts, artifact_digest
from weightgate.findings import Finding, sort_key
from weightgate.manifest import Manifest, load_manifest
from weightgate.mirror import MirrorLocation, locate_mirror, open_mirror
from weightgate.mirror.base import MirrorUnavailable
from weightgate.policy import FailOn, Policy, load_policy
from weightgate.report.interface import Report
from weightgate.verify import DEFAULT_WORKERS, VerifyJob, verify_artifacts


@dataclass(frozen=True)
class CheckOptions:
    manifest: Path
    policy: Path | None = None
    mirror: str | None = None
    offline: bool = False
    fail_on: FailOn | None = None  # None: the policy's
    workers: int = DEFAULT_WORKERS
    today: datetime.date | None = None
    timestamp: datetime.datetime | None = None
    source_root: Path = field(default_factory=Path.cwd)


def run_check(options: CheckOptions) -> Report:
    policy = load_policy(options.policy)
    loaded = load_manifest(options.manifest)
    timestamp = options.timestamp or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    today = options.today or timestamp.date()
    manifest = loaded.manifest
    findings = list(loaded.findings)
    facts: tuple[ArtifactFacts, ...] = ()
    if manifest is not None:
        locations = {a.id: locate_mirror(a, manifest, options.mirror) for a in manifest.artifacts}
        if not options.offline:
            facts = verify_artifacts(_jobs(manifest, locations), options.workers)
        ctx = CheckContext(manifest, policy, locations, {f.artifact_id: f for f in facts}, today, options.offline)
        findings = apply_waivers(run_checks(ctx), policy, _digests(manifest, facts), today)
    return Report(
        tool_version=__version__, policy=policy, fail_on=options.fail_on or policy.fail_on,
        findings=tuple(sorted(findings, key=sort_key)), timestamp=timestamp, source_root=options.source_root,
        manifest=manifest, facts=facts, offline=options.offline,
    )


def _jobs(manifest: Manifest, locations: Mapping[str, MirrorLocation | None]) -> list[VerifyJob]:
    jobs = []
    seen: set[str] = set()
    for artifact in manifest.artifacts:
        location = locations[artifact.id]
        if location is None or artifact.id in seen:
            continue  # reported by the mirror and duplicate-id checks; nothing to read from
        seen.add(artifact.id)
        try:
            jobs.append(VerifyJob(artifact.id, location.uri, open_mirror(location), artifact.files))
        except MirrorUnavailable as e:
            jobs.append(VerifyJob(artifact.id, location.uri, None, artifact.files, unavailable_reason=str(e)))
    return jobs


def _digests(manifest: Manifest, facts: Iterable[ArtifactFacts]) -> dict[str, str]:
    """The digest each artifact's waivers are matched against: the verified one, or (offline) the one the
    manifest declares when every file is fully pinned."""
    digests = {}
    for artifact in manifest.artifacts:
        if all(refs.is_sha256_hex(f.sha256) and f.size is not None for f in artifact.files) and artifact.files:
            digests[artifact.id] = artifact_digest((f.path, f.sha256 or "", f.size or 0) for f in artifact.files)
    for f in facts:
        verified = f.digest
        if verified is not None:
            digests[f.artifact_id] = verified
        else:
            digests.pop(f.artifact_id, None)  # bytes were read and did not all verify: nothing to waive against
    return digests


def apply_waivers(findings: Iterable[Finding], policy: Policy, digests: Mapping[str, str],
                  today: datetime.date) -> list[Finding]:
    """Mark findings covered by an unexpired waiver naming their rule and exact artifact digest, and report
    expired waivers. Waivers never cover findings without an artifact, nor waiver findings themselves."""
    active = [w for w in policy.waivers if w.expires >= today]
    result = []
    for finding in findings:
        digest = digests.get(finding.artifact_id)
        match = next((w for w in active if w.waiver.rule_id == finding.rule.id and digest == w.waiver.digest), None)
        result.append(finding.waive(match.waiver) if match and finding.rule is not rules.WAIVER_EXPIRED else finding)
    for expired in (w for w in policy.waivers if w.expires < today):
        result.append(Finding(rules.WAIVER_EXPIRED, f"waiver for {expired.waiver.rule_id} on "
                               f"{expired.waiver.digest[:19]}… expired on {expired.expires}", expired.location))
    return result
