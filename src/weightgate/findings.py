"""The one Finding model every check produces and every reporter reads."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace

from weightgate.rules import Level, Rule, Severity

# Hex digests, dates and counts vary between runs of the same problem; they must not split one alert in two.
_VOLATILE = re.compile(r"(?:sha256:)?[0-9a-f]{12,}|\d+")


@dataclass(frozen=True)
class Location:
    """Where a finding points: a file (manifest, policy or scanned file) and a 1-based line."""

    path: str
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Waiver:
    """A policy exception for one rule on one artifact digest, with its reason, expiry and approver."""

    rule_id: str
    digest: str
    reason: str
    expires: str
    approved_by: str = ""


@dataclass(frozen=True)
class Finding:
    """One problem: its rule, message and manifest location, and the waiver that clears it, if any."""

    rule: Rule
    message: str
    location: Location
    artifact_id: str = ""
    file_path: str = ""
    # Set only when a check raises or lowers the catalog default from data (e.g. a prohibited format that
    # runs code on load is critical); reporters never change it.
    severity_override: Severity | None = None
    evidence: tuple[tuple[str, str], ...] = ()
    confidence: str = "certain"
    waived_by: Waiver | None = field(default=None, compare=False)
    fix: str = ""  # a fix for this finding in particular (e.g. the fixed version to upgrade to); "": the rule's

    @property
    def fix_text(self) -> str:
        """How to fix this finding: its own fix when a check gives one, else the rule's."""
        return self.fix or self.rule.fix

    @property
    def severity(self) -> Severity:
        return self.severity_override or self.rule.severity

    @property
    def level(self) -> Level:
        return self.severity.level

    @property
    def fingerprint(self) -> str:
        """Stable across runs, line moves and changing numbers (digests, ages, sizes): what is wrong and where in
        the model, not where in the file, so a code-scanning alert stays one alert until it is fixed."""
        stable_message = _VOLATILE.sub("#", self.message)
        key = "\0".join((self.rule.id, self.artifact_id, self.file_path, stable_message))
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def waive(self, waiver: Waiver) -> Finding:
        return replace(self, waived_by=waiver)


def sort_key(f: Finding) -> tuple[str, int, str, str, str]:
    return (f.location.path, f.location.line, f.rule.id, f.artifact_id, f.message)
