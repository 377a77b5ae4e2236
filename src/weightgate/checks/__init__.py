"""Checks: small functions from (manifest, policy, facts) to findings.

Each module in this package exports `CHECKS`, a tuple of check functions; `all_checks()` collects them, so
adding a check touches its own module and the rule catalog, and nothing else.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from weightgate.findings import Finding

if TYPE_CHECKING:  # `scan` imports check modules for their judging functions, without a manifest or governance
    from weightgate.facts import ArtifactFacts
    from weightgate.findings import Location
    from weightgate.governance.digests import BoundDigest
    from weightgate.governance.facts import GovernanceFacts
    from weightgate.governance.signed_reviews import JudgedReviews
    from weightgate.manifest import Artifact, Manifest
    from weightgate.mirror import MirrorLocation
    from weightgate.policy import Policy
    from weightgate.runtime.facts import RuntimeFacts


def _no_runtime() -> RuntimeFacts:
    from weightgate.runtime.facts import RuntimeFacts

    return RuntimeFacts()


def _no_governance() -> GovernanceFacts:
    from weightgate.governance.facts import GovernanceFacts

    return GovernanceFacts()


@dataclass(frozen=True)
class CheckContext:
    """What every check reads: the manifest, the policy, the mirrors and what was verified and gathered."""

    manifest: Manifest
    policy: Policy
    locations: Mapping[str, MirrorLocation | None]  # artifact id -> resolved mirror
    facts: Mapping[str, ArtifactFacts]  # artifact id -> verified facts; empty when offline
    today: datetime.date
    offline: bool
    governance: GovernanceFacts = field(default_factory=_no_governance)  # eval evidence, registry entries
    runtime: RuntimeFacts = field(default_factory=_no_runtime)  # dependency files, advisory matches

    @functools.cached_property
    def digests(self) -> dict[str, BoundDigest]:
        """The digest evidence binds to, per artifact (computed once; see governance.digests)."""
        from weightgate.governance.digests import evidence_digests

        return evidence_digests(self.manifest, self.facts.values())

    @functools.cached_property
    def judged_reviews(self) -> dict[str, JudgedReviews]:
        """Per artifact with signed records, which count and why the others do not (judged once per run)."""
        from weightgate.checks.approvals import judge_artifact_reviews

        return {a.id: judge_artifact_reviews(self, a) for a in self.manifest.artifacts}

    def at(self, artifact: Artifact, *suffix: str | int) -> Location:
        """The manifest location of a field of an artifact."""
        return self.manifest.location((*artifact.key, *suffix))


Check = Callable[[CheckContext], Iterable[Finding]]


def all_checks() -> tuple[Check, ...]:
    checks: list[Check] = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        checks.extend(getattr(module, "CHECKS", ()))
    return tuple(checks)


def run_checks(ctx: CheckContext) -> list[Finding]:
    return [finding for check in all_checks() for finding in check(ctx)]
