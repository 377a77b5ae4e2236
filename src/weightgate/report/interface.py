"""The Report every reporter renders, and the Reporter protocol."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from weightgate.facts import ArtifactFacts, FileFacts
from weightgate.findings import Finding, Waiver
from weightgate.governance.facts import GovernanceFacts
from weightgate.manifest import Manifest
from weightgate.policy import FailOn, Policy


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

    @property
    def active_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.waived_by is None)

    @property
    def failed(self) -> bool:
        return any(self.fail_on.fails(f.level) for f in self.active_findings)

    @property
    def waivers_used(self) -> tuple[Waiver, ...]:
        seen: dict[Waiver, None] = {}
        for f in self.findings:
            if f.waived_by is not None:
                seen[f.waived_by] = None
        return tuple(seen)

    def facts_for(self, artifact_id: str) -> ArtifactFacts | None:
        return next((a for a in self.facts if a.artifact_id == artifact_id), None)

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
