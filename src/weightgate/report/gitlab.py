"""GitLab Code Quality: the CodeClimate-subset JSON that `artifacts:reports:codequality` ingests.

Each unwaived finding becomes one issue with the fields GitLab reads (description, check_name, fingerprint,
severity, location.path, location.lines.begin) plus CodeClimate's `content.body` for the fix. The fingerprint
is the one SARIF writes as `partialFingerprints`, so GitHub and GitLab track the same finding as the same
issue from run to run. A waived finding is left out: GitLab has no suppression, and a waiver is an accepted
risk, not a new issue in a merge request. The report is always written, as `[]` when there is nothing.
"""

from __future__ import annotations

import json
from typing import Any

from weightgate.findings import Finding
from weightgate.report.interface import Report
from weightgate.rules import Severity
from weightgate.textsafety import shown

# GitLab's five levels; critical (runs code on load, or bytes that are not the pinned bytes) blocks a merge.
SEVERITIES = {
    Severity.CRITICAL: "blocker",
    Severity.HIGH: "critical",
    Severity.MEDIUM: "major",
    Severity.LOW: "minor",
}


class GitlabCodeQualityReporter:
    def render(self, report: Report) -> str:
        issues: dict[str, dict[str, Any]] = {}
        for finding in report.active_findings:
            # GitLab keys issues by fingerprint; a repeated one would be shown once and counted twice.
            issues.setdefault(finding.fingerprint, _issue(report, finding))
        return json.dumps(list(issues.values()), indent=2) + "\n"


def _issue(report: Report, finding: Finding) -> dict[str, Any]:
    rule = finding.rule
    return {
        "type": "issue",
        "check_name": f"{rule.id} {rule.name}",
        "description": f"{rule.id} {rule.name}: {shown(finding.message)}",
        "content": {"body": f"{rule.help}\n\n**How to fix:** {rule.fix}\n\n[{rule.id} documentation]({rule.docs_url})"},
        "categories": ["Security"],
        "fingerprint": finding.fingerprint,
        "severity": SEVERITIES[finding.severity],
        "location": {
            "path": report.relative(finding.location.path),
            "lines": {"begin": max(finding.location.line, 1)},
        },
    }
