"""Waivers: a finding is waived only by an unexpired waiver naming its rule and its artifact's exact digest."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from weightgate import rules
from weightgate.findings import Finding
from weightgate.policy import Policy


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
