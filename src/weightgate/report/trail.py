"""The audit trail as a table (terminal), JSON, or Markdown with a Mermaid timeline (a CI job summary).

Events arrive escaped (`trail._cut`); Markdown adds its own escaping on top, and the Mermaid timeline keeps only
characters that cannot end a label or start a directive.
"""

from __future__ import annotations

import json
import re
from typing import Any

from weightgate.textsafety import markdown_text
from weightgate.trail import ArtifactTrail, Event, EventKind, Trail

_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9 @._,()/+=-]")


def _status(event: Event) -> str:
    return f"signed by {event.signer}" if event.verified else f"NOT VERIFIED ({event.reason})"


def _summary(trail: ArtifactTrail) -> dict[str, Any]:
    reviews = trail.of(EventKind.REVIEW)
    return {
        "requests": [{"ticket": e.details.get("ticket", ""), "justification": e.details.get("justification", ""),
                      "verified": e.verified} for e in reviews if e.details.get("ticket") or
                     e.details.get("justification")],
        "findings": sorted({r.strip() for e in trail.of(EventKind.DECISION, True)
                            for r in e.details.get("findings", "").split(",") if r.strip()}),
        "lastValidation": trail.last_validation or None,
        "environments": list(trail.environments),
    }


def _event_json(event: Event) -> dict[str, Any]:
    return {"time": event.time or None, "kind": event.kind.value, "artifact": event.artifact,
            "summary": event.summary, "verified": event.verified, "signer": event.signer or None,
            "notVerifiedBecause": event.reason or None, "source": event.source, "details": dict(event.details)}


def render_json(trail: Trail) -> str:
    document = {
        "selection": trail.selection.describe(), "recordsRead": trail.records_read, "problems": list(trail.problems),
        "artifacts": [{"digest": t.digest, "artifacts": list(t.artifacts), **_summary(t),
                       "events": [_event_json(e) for e in t.events]} for t in trail.trails],
    }
    # Compact: a trail runs to tens of thousands of events, and indenting takes json's slow pure-Python path.
    return json.dumps(document) + "\n"


def render_table(trail: Trail) -> str:
    lines = [f"audit trail of {trail.selection.describe()}: {len(trail.trails)} digest(s), "
             f"{trail.records_read} record(s) read"]
    for t in trail.trails:
        summary = _summary(t)
        lines += ["", f"{t.digest}  {', '.join(t.artifacts)}",
                  f"  last validation: {summary['lastValidation'] or 'never (no verified PASSED decision)'}",
                  f"  deployed to: {', '.join(summary['environments']) or 'nowhere (no verified deployment record)'}"]
        if summary["findings"]:
            lines.append(f"  findings in decisions: {', '.join(summary['findings'])}")
        for request in summary["requests"]:
            lines.append(f"  request: {request['ticket'] or '-'}: {request['justification'] or '-'}")
        for e in t.events:
            lines.append(f"  {e.time or '(no time)':20}  {e.kind.value:10}  {e.summary}  [{_status(e)}]")
    lines += [f"problem: {p}" for p in trail.problems]
    return "\n".join(lines) + "\n"


def _mermaid(text: str) -> str:
    return " ".join(_MERMAID_UNSAFE.sub(" ", text).split())[:120] or "-"


def render_markdown(trail: Trail) -> str:
    out = [f"## Audit trail: {markdown_text(trail.selection.describe())}", ""]
    for t in trail.trails:
        summary = _summary(t)
        out += [f"### `{t.digest}` {markdown_text(', '.join(t.artifacts))}", "",
                f"Last validation: {markdown_text(summary['lastValidation'] or 'never')}; deployed to: "
                f"{markdown_text(', '.join(summary['environments']) or 'nowhere')}", ""]
        out += [f"- request {markdown_text(r['ticket'] or '-')}: {markdown_text(r['justification'] or '-')}"
                for r in summary["requests"]]
        if summary["findings"]:
            out.append(f"- findings in decisions: {markdown_text(', '.join(summary['findings']))}")
        if summary["requests"] or summary["findings"]:
            out.append("")
        timed = [e for e in t.events if e.time]
        if timed:
            out += ["```mermaid", "timeline", f"    title {_mermaid(t.digest[:19])} {_mermaid(', '.join(t.artifacts))}"]
            out += [f"    {_mermaid(e.time[:10])} : {_mermaid(e.kind.value + ' ' + e.summary)}"
                    + ("" if e.verified else " (not verified)") for e in timed]
            out += ["```", ""]
        out += ["| Time | Event | What | Signed by |", "| --- | --- | --- | --- |"]
        out += [f"| {markdown_text(e.time or '-')} | {e.kind.value} | {markdown_text(e.summary)} | "
                f"{markdown_text(e.signer) if e.verified else 'not verified: ' + markdown_text(e.reason)} |"
                for e in t.events]
        out.append("")
    out += [f"- problem: {markdown_text(p)}" for p in trail.problems]
    return "\n".join(out).rstrip("\n") + "\n"
