"""The human report: findings grouped by artifact, each with where, what and how to fix, then a verdict."""

from __future__ import annotations

from collections import defaultdict

import click

from weightgate.findings import Finding
from weightgate.report.interface import Report, Verdict
from weightgate.rules import Severity
from weightgate.terminal import fitted
from weightgate.textsafety import shown, shown_lines

_COLORS = {Severity.CRITICAL: "magenta", Severity.HIGH: "red", Severity.MEDIUM: "yellow", Severity.LOW: "cyan"}
_VERDICT_STYLES = {Verdict.PASS: ("PASS", "green"), Verdict.FAIL: ("FAIL", "red"),
                   Verdict.REPORT_ONLY: ("REPORT-ONLY", "yellow")}


class ConsoleReporter:
    """`width`: the terminal's columns, to which long finding lines are fitted (None: a log, never shortened)."""

    def __init__(self, color: bool = False, width: int | None = None) -> None:
        self.color = color
        self.width = width

    def _style(self, text: str, **kwargs: object) -> str:
        return click.style(text, **kwargs) if self.color else text  # type: ignore[arg-type]

    def render(self, report: Report) -> str:
        lines = [self._header(report), ""]
        by_artifact: dict[str, list[Finding]] = defaultdict(list)
        for finding in report.findings:
            by_artifact[finding.artifact_id].append(finding)
        for artifact_id in self._artifact_order(report, by_artifact):
            lines.append(self._artifact_line(report, artifact_id))
            lines.extend(line for f in by_artifact.get(artifact_id, ()) for line in self._finding(report, f))
            lines.append("")
        lines.append(self._verdict(report))
        return "\n".join(lines) + "\n"

    @staticmethod
    def _artifact_order(report: Report, by_artifact: dict[str, list[Finding]]) -> list[str]:
        ids = [a.id for a in report.manifest.artifacts] if report.manifest else []
        ids += [f.path for f in report.scanned]
        known = set(ids)
        extra = [k for k in by_artifact if k not in known]
        return list(dict.fromkeys(extra + ids))

    def _header(self, report: Report) -> str:
        target = report.checked_manifest_shown or "scan"
        mode = " (offline: no artifact bytes read)" if report.offline else ""
        at = f" at {report.policy.revision[:12]}" if report.policy.revision else ""  # --policy-ref
        return self._style(shown(f"weightgate {report.tool_version} · {target} · policy {report.policy.source}{at}")
                           + mode, bold=True)

    def _artifact_line(self, report: Report, artifact_id: str) -> str:
        if not artifact_id:
            return self._style("manifest and policy", bold=True)
        facts = report.facts_for(artifact_id)
        label = artifact_id
        if report.manifest and (artifact := report.manifest.artifact(artifact_id)):
            label += f" ({artifact.artifact_class})"
        if facts is None:
            state = "not verified" if report.manifest else _scanned_state(report, artifact_id)
        else:
            ok = sum(f.matches_pin for f in facts.files)
            state = f"{ok}/{len(facts.files)} files verified"
            if facts.intact and facts.digest:
                state += f", {facts.digest[:19]}…"
        return self._style(shown_lines(shown(label)), bold=True) + (f"  {shown(state)}" if state else "")

    def _finding(self, report: Report, f: Finding) -> list[str]:
        sev = self._style(f"{f.severity.value.upper():8}", fg=_COLORS[f.severity], bold=True)
        where = shown(f"{report.relative(f.location.path)}:{f.location.line}")
        waived = shown(f"  [waived until {f.waived_by.expires}: {f.waived_by.reason}]") if f.waived_by else ""
        return [
            f"  {sev} {f.rule.id} {f.rule.name}  {where}{waived}",
            fitted(f"           {shown(f.message)}", self.width),
            self._style(f"           fix: {shown(f.fix_text)}", dim=True),
        ]

    def _verdict(self, report: Report) -> str:
        counts = {s: 0 for s in Severity}
        for f in report.active_findings:
            counts[f.severity] += 1
        summary = ", ".join(f"{n} {s.value}" for s, n in counts.items())
        waived = len(report.findings) - len(report.active_findings)
        files = sum(len(a.files) for a in report.facts) + len(report.scanned)
        verified = sum(f.matches_pin for a in report.facts for f in a.files) + sum(f.verified for f in report.scanned)
        label, color = _VERDICT_STYLES[report.verdict]
        return (f"{self._style(label, fg=color, bold=True)}: {summary}" + (f" ({waived} waived)" if waived else "")
                + f" · {verified}/{files} files verified · fail-on: {report.fail_on.value}"
                + report.enforcement_note)


def _scanned_state(report: Report, path: str) -> str:
    """What `scan` read of one file: its format and size, or why it was not read."""
    scanned = report.scanned_file(path)
    if scanned is None:
        return ""
    if scanned.verified and scanned.format is not None:
        return f"{scanned.format.value}, {scanned.size} bytes"
    return f"not read ({scanned.status.value})"
