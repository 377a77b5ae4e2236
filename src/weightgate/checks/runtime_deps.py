"""WG701-WG707: the runtime that loads the models. Dependencies found among an artifact's pinned files and in
each service's lock file are judged against the policy: pinned to one version where a production service
deploys them, free of the known vulnerabilities in the pinned OSV snapshot, and that snapshot fresh (the
48-hour clock: `advisories.max_age_hours`).

The facts were gathered once (runtime/collect.py); these checks only compare.
"""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Iterator

from weightgate import rules
from weightgate.checks import CheckContext
from weightgate.findings import Finding, Location
from weightgate.governance.deployment import services_deploying
from weightgate.manifest import Service
from weightgate.rules import Severity
from weightgate.runtime.advisories import Advisory, CvssRating
from weightgate.runtime.facts import (
    DependencyFile,
    DependencyFileStatus,
    OwnerKind,
    SnapshotStatus,
    VulnerableRequirement,
)

MAX_PROBLEMS_SHOWN = 5
_SEVERITIES = {"critical": Severity.CRITICAL, "high": Severity.HIGH, "medium": Severity.MEDIUM,
               "low": Severity.LOW, "none": Severity.LOW}


def _where(ctx: CheckContext, file: DependencyFile) -> Location:
    """The manifest line that names the file: the artifact's pinned file entry, or the service's lock."""
    if file.owner_kind is OwnerKind.SERVICE:
        service = next((s for s in ctx.manifest.services if s.name == file.owner), None)
        return ctx.manifest.location((*service.key, "runtime", "lock")) if service else Location(
            str(ctx.manifest.path))
    artifact = ctx.manifest.artifact(file.owner)
    if artifact is None:
        return Location(str(ctx.manifest.path))
    pinned = next((f for f in artifact.files if f.path == file.path), None)
    return ctx.manifest.location(pinned.key) if pinned else ctx.at(artifact, "files")


def _artifact_id(file: DependencyFile) -> str:
    return file.owner if file.owner_kind is OwnerKind.ARTIFACT else ""


def _production_services(ctx: CheckContext, file: DependencyFile) -> list[Service]:
    """The services in a production environment that run this file's dependencies."""
    if file.owner_kind is OwnerKind.SERVICE:
        services = [s for s in ctx.manifest.services if s.name == file.owner]
    else:
        services = services_deploying(ctx.manifest, file.owner)
    globs = ctx.policy.advisories.production_environments
    return [s for s in services if s.environment and any(fnmatch.fnmatchcase(s.environment, g) for g in globs)]


def unpinned_runtime(ctx: CheckContext) -> Iterator[Finding]:
    for file in ctx.runtime.files:
        unpinned = [r for r in file.requirements if not r.pinned]
        production = _production_services(ctx, file) if unpinned else []
        if not production:
            continue
        names = ", ".join(sorted(s.name for s in production))
        for requirement in unpinned:
            allowed = f"`{requirement.shown}`" if requirement.specifier else f"`{requirement.name}` (any version)"
            yield Finding(rules.RUNTIME_UNPINNED,
                          f"{file.owner}: {file.path}:{requirement.line} requires {allowed}, not one version, and "
                          f"production service(s) {names} run it", _where(ctx, file), _artifact_id(file), file.path,
                          evidence=(("requirement", requirement.shown), ("services", names)))


def vulnerable_runtime(ctx: CheckContext) -> Iterator[Finding]:
    for match in ctx.runtime.vulnerable:
        for advisory in match.advisories:
            yield _vulnerability_finding(ctx, match, advisory)


def _vulnerability_finding(ctx: CheckContext, match: VulnerableRequirement, advisory: Advisory) -> Finding:
    requirement = match.requirement
    pinned = f"{requirement.name}=={requirement.version}"
    rating = advisory.rating
    summary = f": {advisory.summary}" if advisory.summary else ""
    fixed = (f"fixed in {', '.join(advisory.fixed)}" if advisory.fixed
             else "no fixed version is published")
    message = (f"{match.file.owner}: {match.file.path}:{requirement.line} pins {pinned}, affected by "
               f"{advisory.ids_shown}, {_rating_text(rating)}{summary}; {fixed}")
    repin = (f"in {match.file.path} and re-pin the file in the manifest" if match.file.owner_kind is OwnerKind.ARTIFACT
             else "re-lock, and pin the new lock's sha256 in `runtime.sha256`")
    fix = (f"Upgrade {requirement.name} to {advisory.fixed[0]} or later (fixed in {', '.join(advisory.fixed)}), "
           f"{repin}." if advisory.fixed else
           f"No fixed {requirement.name} release is published: replace the library"
           + (", or prove the vulnerable code unreachable and record that as a waiver of WG702 for this artifact's "
              "digest with an expiry." if match.file.owner_kind is OwnerKind.ARTIFACT else
              " in the service's lock (waivers bind to artifact digests, never to a service)."))
    evidence = [("advisory", advisory.id), ("aliases", ",".join(advisory.aliases)), ("package", requirement.name),
                ("version", requirement.version or ""), ("fixed", ",".join(advisory.fixed))]
    if rating is not None and rating.vector:
        evidence.append(("cvss", rating.vector))
    return Finding(rules.RUNTIME_VULNERABLE, message, _where(ctx, match.file), _artifact_id(match.file),
                   match.file.path, severity_override=_severity(rating), evidence=tuple(evidence), fix=fix)


def _rating_text(rating: CvssRating | None) -> str:
    if rating is None:
        return "no CVSS rating"
    if not rating.vector:
        return f"rated {rating.label}"
    return f"CVSS {rating.score:.1f} {rating.label}"


def _severity(rating: CvssRating | None) -> Severity | None:
    """The advisory's own rating decides the severity; without one, the rule's default (high)."""
    if rating is None:
        return None
    return _SEVERITIES.get(rating.label)


def stale_advisories(ctx: CheckContext) -> Iterator[Finding]:
    snapshot = ctx.runtime.snapshot
    judged_at = ctx.runtime.judged_at
    if snapshot.status is not SnapshotStatus.LOADED or judged_at is None:
        return
    limit = datetime.timedelta(hours=ctx.policy.advisories.max_age_hours)
    newest = snapshot.newest_modified
    if newest is not None and judged_at - newest <= limit:
        return
    age = "no record carries a modification time" if newest is None else (
        f"its newest record was modified {newest.isoformat()}, {_hours(judged_at - newest)} h before this check")
    yield Finding(rules.ADVISORIES_STALE,
                  f"the advisory clock ran out: {ctx.policy.advisories.max_age_hours} h "
                  f"(`advisories.max_age_hours`) since the snapshot's data, and {age}",
                  _policy_location(ctx), evidence=(("clock", "advisories.max_age_hours"),
                                                   ("snapshot_sha256", snapshot.sha256),
                                                   ("newest_modified", newest.isoformat() if newest else "")))


def _hours(delta: datetime.timedelta) -> int:
    return int(delta.total_seconds() // 3600)


def _policy_location(ctx: CheckContext) -> Location:
    return ctx.policy.advisories.location or Location(ctx.policy.source)


def unavailable_advisories(ctx: CheckContext) -> Iterator[Finding]:
    snapshot = ctx.runtime.snapshot
    if snapshot.status is SnapshotStatus.UNAVAILABLE:
        count = ctx.runtime.requirement_count
        yield Finding(rules.ADVISORIES_UNAVAILABLE,
                      f"advisory snapshot {snapshot.location}: {snapshot.reason}; {count} runtime requirement(s) "
                      "were not checked for known vulnerabilities", _policy_location(ctx),
                      evidence=(("snapshot", snapshot.location),))
    elif snapshot.status is SnapshotStatus.NOT_CONFIGURED and not ctx.offline and ctx.runtime.requirement_count:
        owners = sorted({f.owner for f in ctx.runtime.files if f.requirements})
        yield Finding(rules.ADVISORIES_NOT_CONFIGURED,
                      f"{ctx.runtime.requirement_count} runtime requirement(s) of {', '.join(owners)} were not "
                      "checked for known vulnerabilities: the policy names no `advisories.snapshot`",
                      _policy_location(ctx))


def unverified_locks(ctx: CheckContext) -> Iterator[Finding]:
    for file in ctx.runtime.files:
        # NOT_CHECKED: an offline run and a lock on the network; the full run reads it.
        if file.owner_kind is not OwnerKind.SERVICE or file.status in (DependencyFileStatus.READ,
                                                                         DependencyFileStatus.NOT_CHECKED):
            continue
        what = {DependencyFileStatus.MISSING: "is missing", DependencyFileStatus.DIGEST_MISMATCH: "is not the pinned "
                "bytes", DependencyFileStatus.UNREADABLE: "cannot be read"}[file.status]
        yield Finding(rules.RUNTIME_LOCK_UNVERIFIED,
                      f"service {file.owner}: runtime lock {file.path} {what} ({file.reason}); its dependencies were "
                      "not checked", _where(ctx, file), "", file.path, evidence=(("service", file.owner),))
    for file in ctx.runtime.files:
        if file.owner_kind is OwnerKind.SERVICE and file.read and not file.requirements and not file.problems:
            yield Finding(rules.RUNTIME_LOCK_UNVERIFIED,
                          f"service {file.owner}: runtime lock {file.path} names no package ({file.kind.value} "
                          "format); its dependencies were not checked", _where(ctx, file), "", file.path,
                          evidence=(("service", file.owner),))


def unparsed_dependency_files(ctx: CheckContext) -> Iterator[Finding]:
    for file in ctx.runtime.files:
        if file.owner_kind is OwnerKind.ARTIFACT and file.status is DependencyFileStatus.UNREADABLE:
            yield Finding(rules.RUNTIME_FILE_UNPARSED, f"{file.owner}: {file.path} was not read ({file.reason})",
                          _where(ctx, file), file.owner, file.path)
        if not file.problems:
            continue
        shown = "; ".join(f"line {line}: {problem}" for line, problem in file.problems[:MAX_PROBLEMS_SHOWN])
        more = f"; and {len(file.problems) - MAX_PROBLEMS_SHOWN} more" if len(file.problems) > MAX_PROBLEMS_SHOWN \
            else ""
        yield Finding(rules.RUNTIME_FILE_UNPARSED, f"{file.owner}: {file.path}: {shown}{more}", _where(ctx, file),
                      _artifact_id(file), file.path, evidence=(("lines", str(len(file.problems))),))


CHECKS = (unpinned_runtime, vulnerable_runtime, stale_advisories, unavailable_advisories, unverified_locks,
          unparsed_dependency_files)
