"""GitHub Actions: a job summary, annotations and step outputs, each a view of the same Reports.

- The **job summary** (Markdown appended to `$GITHUB_STEP_SUMMARY`): the verdict, a table of artifacts, the
  findings grouped by severity with their fixes, and the base-model lineage as a Mermaid diagram.
- **Annotations**: one workflow command per finding, at its manifest line (`::error file=…,line=…::…`).
- **Step outputs** (appended to `$GITHUB_OUTPUT`) in the multi-line form, each value fenced by a random
  delimiter so that no value can end its own fence and smuggle in another output.

Everything shown comes from the manifest, i.e. from whoever wrote the pull request, so it is escaped for the
place it lands: Markdown punctuation in the summary, `%`/CR/LF (and `:`/`,` in properties) in workflow
commands. Several Reports (one per manifest, as pre-commit passes them) render into one summary and one set
of outputs.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from weightgate.errors import OutputError
from weightgate.findings import Finding
from weightgate.report.interface import Report, Verdict
from weightgate.rules import Level, Severity
from weightgate.textsafety import markdown_text, workflow_data, workflow_property

# GitHub refuses a step summary over 1 MiB; stop adding findings well before that and say how many were left.
MAX_SUMMARY_BYTES = 900 * 1024
# GitHub shows at most 10 error and 10 warning annotations per step and 50 per job; more are dropped.
MAX_ANNOTATIONS = 50
DIGEST_SHORT = 19  # "sha256:" + 12 hex, as the console report shows it

_COMMANDS = {Level.ERROR: "error", Level.WARNING: "warning", Level.NOTE: "notice"}
_ICONS = {"fail": "❌", "warn": "⚠️", "pass": "✅", "report-only": "📋"}
_OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


# --- escaping ----------------------------------------------------------------------------------------------

# One escaping module serves every channel; these names stay for the workflow-command callers.
escape_data = workflow_data
escape_property = workflow_property


# --- job summary -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GithubSummaryReporter:
    """The job summary. `blob_base` (`https://github.com/OWNER/REPO/blob/SHA`) turns locations into links."""

    blob_base: str | None = None

    def render(self, report: Report) -> str:
        return self.render_all([report])

    def render_all(self, reports: Sequence[Report]) -> str:
        sections = [_summary(report, self.blob_base) for report in reports]
        return "\n".join(sections)


def _summary(report: Report, blob_base: str | None) -> str:
    head = [*_verdict(report), "", *_artifact_table(report), ""]
    tail = _lineage(report)
    budget = MAX_SUMMARY_BYTES - len("\n".join(head + tail).encode())
    return "\n".join(head + _findings(report, blob_base, budget) + tail) + "\n"


def _target(report: Report) -> str:
    return report.checked_manifest_shown or "scan"


def _revision(report: Report) -> str:
    """Where the policy was read (--policy-ref): a commit's hex name, safe in Markdown as it is."""
    return f" at `{report.policy.revision[:12]}`" if report.policy.revision else ""


def _verdict(report: Report) -> list[str]:
    verdict = report.verdict.value
    counts = severity_counts(report.active_findings)
    waived = len(report.findings) - len(report.active_findings)
    files = sum(len(a.files) for a in report.facts) + len(report.scanned)
    verified = sum(f.matches_pin for a in report.facts for f in a.files) + sum(f.verified for f in report.scanned)
    mode = " · offline: no artifact bytes read" if report.offline else f" · {verified}/{files} files verified"
    return [
        f"## {_ICONS[verdict]} weightgate: {verdict.upper()} · {markdown_text(_target(report))}",
        "",
        f"Policy {markdown_text(report.policy.source)}{_revision(report)} · fail on {report.fail_on.value}"
        f"{report.enforcement_note}{mode} · weightgate {markdown_text(report.tool_version)}",
        "",
        "| critical | high | medium | low | waived |",
        "|---:|---:|---:|---:|---:|",
        "| " + " | ".join(str(counts[s.value]) for s in Severity) + f" | {waived} |",
    ]


def _artifact_table(report: Report) -> list[str]:
    if report.manifest is None:
        return []
    lines = ["### Artifacts", "", "| artifact | class | digest | format | verdict |", "|---|---|---|---|---|"]
    for artifact in report.manifest.artifacts:
        findings = [f for f in report.active_findings if f.artifact_id == artifact.id]
        cells = (markdown_text(artifact.id), markdown_text(artifact.artifact_class), _digest_cell(report, artifact.id),
                 _format_cell(report, artifact.id), _artifact_verdict(report, findings))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _digest_cell(report: Report, artifact_id: str) -> str:
    facts = report.facts_for(artifact_id)
    digest = facts.digest if facts is not None else None
    if digest is None:
        return "not verified" if not report.offline else "not read (offline)"
    # Complete but not intact: this is the digest of the bytes found, which are not the pinned ones.
    return f"`{digest[:DIGEST_SHORT]}`" + ("" if facts is not None and facts.intact else " (not the pinned bytes)")


def _format_cell(report: Report, artifact_id: str) -> str:
    facts = report.facts_for(artifact_id)
    if facts is not None:
        formats = {f.format.value for f in facts.files if f.format is not None}
    else:  # offline: only what the manifest declares, marked as a claim
        artifact = report.manifest.artifact(artifact_id) if report.manifest else None
        declared = {f.declared_format for f in artifact.files if f.declared_format} if artifact else set()
        formats = {f"{name} (declared)" for name in declared}
    return markdown_text(", ".join(sorted(formats))) if formats else "—"


def _artifact_verdict(report: Report, findings: list[Finding]) -> str:
    if any(report.judges_failing(f) for f in findings):
        verdict = "fail"
    elif findings:
        verdict = "warn"
    else:
        verdict = "pass"
    counts = severity_counts(findings)
    detail = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return f"{_ICONS[verdict]} {verdict}" + (f" ({detail})" if detail else "")


def _findings(report: Report, blob_base: str | None, budget: int) -> list[str]:
    if not report.findings:
        return ["### Findings", "", "No findings.", ""]
    lines = ["### Findings", ""]
    used = left_out = 0
    for title, group in _groups(report):
        lines += [f"#### {title} ({len(group)})", ""]
        for finding in group:
            item = _finding_item(report, finding, blob_base)
            size = sum(len(line.encode()) + 1 for line in item)
            if used + size > budget:
                left_out += 1
                continue
            used += size
            lines += item
        lines.append("")
    if left_out:
        lines += [f"_{left_out} more findings do not fit in a job summary; see the SARIF or JSON report._", ""]
    return lines


def _groups(report: Report) -> Iterable[tuple[str, list[Finding]]]:
    for severity in Severity:
        group = [f for f in report.active_findings if f.severity is severity]
        if group:
            yield severity.value.capitalize(), group
    waived = [f for f in report.findings if f.waived_by is not None]
    if waived:
        yield "Waived", waived


def _finding_item(report: Report, finding: Finding, blob_base: str | None) -> list[str]:
    where = f"{report.relative(finding.location.path)}:{finding.location.line}"
    location = markdown_text(where)
    if blob_base and not where.startswith("../"):
        location = f"[{location}]({blob_base}/{report.relative(finding.location.path)}#L{finding.location.line})"
    artifact = f" · {markdown_text(finding.artifact_id)}" if finding.artifact_id else ""
    lines = [
        f"- **[{finding.rule.id}]({finding.rule.docs_url}) {finding.rule.name}**{artifact} · {location}",
        f"  {markdown_text(finding.message)}",
        f"  <br>**Fix:** {markdown_text(finding.fix_text)}",
    ]
    if finding.waived_by is not None:
        waiver = finding.waived_by
        lines.append(f"  <br>**Waived** until {markdown_text(waiver.expires)}: {markdown_text(waiver.reason)}")
    return lines


def _lineage(report: Report) -> list[str]:
    if report.manifest is None or not any(a.base_models for a in report.manifest.artifacts):
        return []
    from weightgate.lineage import mermaid

    return ["### Lineage", "", "```mermaid", mermaid(report.manifest).rstrip("\n"), "```", ""]


# --- annotations -------------------------------------------------------------------------------------------

class GithubAnnotationsReporter:
    """One workflow command per unwaived finding, most severe first (GitHub drops those past its limits)."""

    def render(self, report: Report) -> str:
        return self.render_all([report])

    def render_all(self, reports: Sequence[Report]) -> str:
        pairs = [(r, f) for r in reports for f in r.active_findings]
        pairs.sort(key=lambda p: (-p[1].level.rank, _severity_rank(p[1]), p[1].location.path, p[1].location.line))
        lines = [annotation(report, finding) for report, finding in pairs[:MAX_ANNOTATIONS]]
        if len(pairs) > MAX_ANNOTATIONS:
            lines.append("::notice title=weightgate::" + escape_data(
                f"{len(pairs) - MAX_ANNOTATIONS} more findings are not annotated; see the job summary."))
        return "".join(line + "\n" for line in lines)


def _severity_rank(finding: Finding) -> int:
    return list(Severity).index(finding.severity)


def annotation(report: Report, finding: Finding) -> str:
    path = report.relative(finding.location.path)
    props = []
    if not path.startswith("../"):  # outside the workspace GitHub cannot place it; keep it unattached
        props += [f"file={escape_property(path)}", f"line={max(finding.location.line, 1)}"]
        if finding.location.column > 1:
            props.append(f"col={finding.location.column}")
    props.append(f"title={escape_property(f'{finding.rule.id} {finding.rule.name} ({finding.severity.value})')}")
    message = f"{finding.message}\nFix: {finding.fix_text}"
    return f"::{_COMMANDS[finding.level]} {','.join(props)}::{escape_data(message)}"


# --- step outputs ------------------------------------------------------------------------------------------

def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {s.value: 0 for s in Severity}
    for finding in findings:
        counts[finding.severity.value] += 1
    return counts


def step_outputs(reports: Sequence[Report], sarif_file: Path | None, bom_file: Path | None) -> dict[str, str]:
    """`result` (pass/fail: what the findings come to, as the JSON report's verdict), `enforced` (false under
    fail_on never, when the result does not decide the exit code), `findings` (unwaived counts by severity, as
    JSON) and the report paths."""
    active = [f for r in reports for f in r.active_findings]
    return {
        "result": "fail" if any(r.judgement is Verdict.FAIL for r in reports) else "pass",
        "enforced": str(all(r.enforced for r in reports)).lower(),
        "findings": json.dumps(severity_counts(active), separators=(",", ":")),
        "sarif-file": str(sarif_file) if sarif_file else "",
        "bom-file": str(bom_file) if bom_file else "",
    }


def format_outputs(outputs: Mapping[str, str]) -> str:
    """`name<<DELIM` / value / `DELIM` blocks, the form GitHub reads for any value, with a fresh random
    delimiter that the value does not contain."""
    blocks = []
    for name, value in outputs.items():
        if not _OUTPUT_NAME.fullmatch(name):
            raise ValueError(f"invalid output name {name!r}")
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        while delimiter in value:
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        blocks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(blocks)


# --- publishing in a workflow ------------------------------------------------------------------------------

def blob_base(environ: Mapping[str, str]) -> str | None:
    server, repo, sha = (environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"))
    return f"{server}/{repo}/blob/{sha}" if server and repo and sha else None


def publish(reports: Sequence[Report], environ: Mapping[str, str], sarif_file: Path | None = None,
            bom_file: Path | None = None) -> str:
    """Append the summary and the outputs to the files the runner names, and return the annotations for
    standard output. A variable that is unset (e.g. outside a runner) skips that part."""
    summary_path = environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        _append(Path(summary_path), GithubSummaryReporter(blob_base(environ)).render_all(reports))
    output_path = environ.get("GITHUB_OUTPUT")
    if output_path:
        _append(Path(output_path), format_outputs(step_outputs(reports, sarif_file, bom_file)))
    return GithubAnnotationsReporter().render_all(reports)


def stop_commands_token() -> str:
    """A fresh token for `::stop-commands::`: between it and `::TOKEN::` the runner interprets nothing, so
    manifest text printed in the console report cannot pose as a workflow command."""
    return secrets.token_hex(16)


def _append(path: Path, text: str) -> None:
    # The runner's files are appended to, never replaced: other steps' content may already be there.
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise OutputError(f"cannot append to {path}: {e.strerror or e}",
                          hint="the runner's GITHUB_OUTPUT / GITHUB_STEP_SUMMARY file must be writable") from e

