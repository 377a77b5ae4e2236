"""The Report every reporter renders, and the Reporter protocol."""

from __future__ import annotations

import datetime
import enum
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from weightgate.facts import ArtifactFacts, FileFacts
from weightgate.findings import Finding, Waiver
from weightgate.governance.facts import ApprovalView, GovernanceFacts
from weightgate.policy import FailOn, Policy
from weightgate.registry import RegistryLookups
from weightgate.rules import Level

if TYPE_CHECKING:  # reporters import this module; what the views below need is imported when first used
    from weightgate.governance.digests import BoundDigest
    from weightgate.governance.inheritance import RestrictionIndex
    from weightgate.lineage import Lineage
    from weightgate.manifest import Artifact, Manifest
    from weightgate.runtime.facts import RuntimeFacts


class Verification(str, enum.Enum):
    """One artifact's bytes, as read in this run (the ML-BOM's `verification`, the JSON report's too)."""

    VERIFIED = "verified"  # every file was read and hashed in this run and is exactly the pinned bytes
    MISMATCH = "differs-from-manifest"  # every file was read, but some bytes are not the pinned ones
    INCOMPLETE = "incomplete"  # some files could not be verified
    NOT_VERIFIED = "not-verified"  # nothing was read (offline, or an external base model)


def verification_of(facts: ArtifactFacts | None) -> Verification:
    if facts is None:
        return Verification.NOT_VERIFIED
    if facts.intact:
        return Verification.VERIFIED
    return Verification.MISMATCH if facts.complete else Verification.INCOMPLETE


class LookupStatus(str, enum.Enum):
    """What the registry lookup of one artifact's `registry_entry` came to."""

    FOUND = "found"
    MISSING = "missing"  # the registry was read and holds no such entry
    UNAVAILABLE = "registry-unavailable"  # the registry could not be read
    NOT_CHECKED = "not-checked"  # offline, or no registry configured


def lookup_status(lookups: RegistryLookups, artifact_id: str) -> LookupStatus:
    if lookups.offline or lookups.uri is None:
        return LookupStatus.NOT_CHECKED
    if lookups.unavailable is not None:
        return LookupStatus.UNAVAILABLE
    return LookupStatus.FOUND if lookups.record(artifact_id) is not None else LookupStatus.MISSING


class Verdict(str, enum.Enum):
    """What a run comes to, the one place every reporter reads it from."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password; a fail level is enforced and nothing reaches it
    FAIL = "fail"  # a fail level is enforced and unwaived findings reach it
    # fail_on: never: the findings are shown and the exit code is 0, so nothing may call the run a pass.
    REPORT_ONLY = "report-only"


@dataclass(frozen=True)
class Report:
    """Everything one run found and verified. Reporters only read it."""

    tool_version: str
    policy: Policy
    fail_on: FailOn
    findings: tuple[Finding, ...]  # sorted; waived ones included, marked by `waived_by`
    timestamp: datetime.datetime
    source_root: Path  # SARIF and other reports make paths relative to this
    manifest: Manifest | None = None  # None for `scan`
    facts: tuple[ArtifactFacts, ...] = ()  # one per artifact that was verified (empty when offline)
    scanned: tuple[FileFacts, ...] = ()  # files inspected by `scan`
    offline: bool = False
    governance: GovernanceFacts = field(default_factory=GovernanceFacts)  # eval evidence, registry entries
    approvals: Mapping[str, tuple[ApprovalView, ...]] = field(default_factory=dict)  # artifact id -> as judged
    runtime: RuntimeFacts | None = None  # dependency files and advisory matches (None: not gathered, e.g. scan)
    # The manifest file `check` was given, kept when it failed to load: a broken manifest is still a check of
    # that manifest (its header, JSON `manifest` and SARIF category), never a `scan`.
    manifest_path: Path | None = None
    # --reproducible: the same inputs give the same bytes wherever they are checked out (no absolute %SRCROOT%).
    reproducible: bool = False

    @property
    def checked_manifest(self) -> Path | None:
        """The manifest this run checked (None for `scan`), valid or not."""
        return self.manifest.path if self.manifest is not None else self.manifest_path

    @property
    def checked_manifest_shown(self) -> str | None:
        """The checked manifest relative to the source root, as every report names it."""
        path = self.checked_manifest
        return None if path is None else self.relative(str(path))

    @property
    def active_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.waived_by is None)

    @property
    def enforced(self) -> bool:
        """Whether the fail level decides the exit code (not under `fail_on: never`)."""
        return self.fail_on is not FailOn.NEVER

    @property
    def error_findings(self) -> tuple[Finding, ...]:
        """Unwaived critical and high findings: what fails a decision record whatever fail_on says."""
        return tuple(f for f in self.active_findings if f.level is Level.ERROR)

    def judges_failing(self, finding: Finding) -> bool:
        """Whether a finding makes the run's judgement fail: at or above the enforced fail level, or at error
        level under `never` (which stops enforcing the judgement, not making it)."""
        return self.fail_on.fails(finding.level) if self.enforced else finding.level is Level.ERROR

    @property
    def judgement(self) -> Verdict:
        """PASS or FAIL: what the findings come to, enforced or not (the JSON report's and BOM's `verdict`)."""
        return Verdict.FAIL if any(self.judges_failing(f) for f in self.active_findings) else Verdict.PASS

    @property
    def verdict(self) -> Verdict:
        """What the run says it is: its judgement when enforced, REPORT_ONLY under `fail_on: never`."""
        return self.judgement if self.enforced else Verdict.REPORT_ONLY

    @property
    def enforcement_note(self) -> str:
        """What a verdict line adds under `fail_on: never`, so that a report-only run never reads as a pass."""
        if self.enforced:
            return ""
        return " (not enforced)" if self.judgement is Verdict.FAIL else " (not enforced; nothing at error level)"

    @property
    def failed(self) -> bool:
        """The exit code's question: does an enforced fail level fail the run?"""
        return self.verdict is Verdict.FAIL

    @property
    def waivers_used(self) -> tuple[Waiver, ...]:
        seen: dict[Waiver, None] = {}
        for f in self.findings:
            if f.waived_by is not None:
                seen[f.waived_by] = None
        return tuple(seen)

    def approvals_of(self, artifact: Artifact) -> tuple[ApprovalView, ...]:
        """The approvals of `artifact` as the gate judged them; for a report made without that judgement, its
        manifest approvals, counted where they name the digest evidence binds to."""
        judged = self.approvals.get(artifact.id)
        if judged is not None:
            return judged
        bound = self.digests.get(artifact.id)
        return tuple(ApprovalView(a.approver, a.role, a.date.isoformat(), a.digest, a.ticket, "approved", False,
                                  bound is not None and bound.binds(a.digest)) for a in artifact.approvals)

    def facts_for(self, artifact_id: str) -> ArtifactFacts | None:
        return self._facts_by_id.get(artifact_id)

    @functools.cached_property
    def _facts_by_id(self) -> dict[str, ArtifactFacts]:
        # An index, not a scan per lookup: reporters ask per artifact, and manifests run to thousands of them.
        by_id: dict[str, ArtifactFacts] = {}
        for a in self.facts:
            by_id.setdefault(a.artifact_id, a)
        return by_id

    def scanned_file(self, path: str) -> FileFacts | None:
        """What `scan` read of the file at `path` (its first entry), or None."""
        return self._scanned_by_path.get(path)

    @functools.cached_property
    def _scanned_by_path(self) -> dict[str, FileFacts]:
        by_path: dict[str, FileFacts] = {}
        for f in self.scanned:
            by_path.setdefault(f.path, f)
        return by_path

    # Views of the facts that several reporters show, computed once by the same functions the checks use.
    @functools.cached_property
    def digests(self) -> dict[str, BoundDigest]:
        """The digest approvals and evidence bind to, per artifact (as CheckContext.digests)."""
        from weightgate.governance.digests import evidence_digests

        return evidence_digests(self.manifest, self.facts) if self.manifest is not None else {}

    @functools.cached_property
    def lineage(self) -> Lineage:
        from weightgate.lineage import build_lineage

        assert self.manifest is not None, "a lineage needs a manifest"
        return build_lineage(self.manifest)

    @functools.cached_property
    def restrictions(self) -> RestrictionIndex:
        """Each artifact's effective license restrictions (its own and inherited along the lineage)."""
        from weightgate.governance.inheritance import RestrictionIndex

        return RestrictionIndex(self.lineage, self.policy.governance.licenses)

    def relative(self, path: str) -> str:
        """A path relative to the source root, with forward slashes (SARIF wants repository-relative URIs)."""
        p = Path(path)
        try:
            return p.resolve().relative_to(self.source_root.resolve()).as_posix()
        except ValueError:
            return Path(os.path.relpath(p.resolve(), self.source_root.resolve())).as_posix()


class Reporter(Protocol):
    def render(self, report: Report) -> str:
        """The whole output as text."""
