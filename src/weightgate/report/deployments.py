"""`weightgate inventory --deployments`: what ran where between two days, from the signed deployment records
`weightgate admit` wrote (not from the latest gate run). Only records whose signature verifies with a key given
count; the others are reported, never listed as deployments."""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from weightgate.evidence.dsse import TrustedSigner
from weightgate.evidence.records import iter_sources
from weightgate.textsafety import csv_cell, shown
from weightgate.trail import EventKind, parse_record, record_events

COLUMNS = ("time", "digest", "artifact", "service", "environment", "target", "host", "registry_entry", "signer")


@dataclass(frozen=True)
class DeploymentRow:
    time: str
    digest: str
    artifact: str
    service: str
    environment: str
    target: str
    host: str
    registry_entry: str
    signer: str


@dataclass(frozen=True)
class DeploymentWindow:
    since: datetime.date | None
    as_of: datetime.date
    rows: tuple[DeploymentRow, ...]
    ignored: tuple[str, ...]  # records not believed, and why
    problems: tuple[str, ...]  # sources that could not be read: the listing is incomplete


def deployments_between(sources: Sequence[str], signers: Sequence[TrustedSigner], since: datetime.date | None,
                        as_of: datetime.date, settings: Any = None) -> DeploymentWindow:
    rows, ignored, problems = [], [], []
    for _reference, lines, why in iter_sources(tuple(sources), settings):
        if lines is None:
            problems.append(why)
            continue
        for line in lines:
            parsed = parse_record(line, signers, None)
            events = record_events(parsed, f"{shown(line.source)}#{line.line}") if parsed else []
            for event in (e for e in events if e.kind is EventKind.DEPLOYMENT):
                if not event.verified:
                    ignored.append(f"{event.source}: {event.reason}")
                    continue
                day = event.time[:10]
                if day > as_of.isoformat() or (since is not None and day < since.isoformat()):
                    continue
                d = event.details
                rows.append(DeploymentRow(event.time, event.digest, event.artifact, d.get("service", ""),
                                          d.get("environment", ""), d.get("target", ""), d.get("host", ""),
                                          d.get("registryEntry", ""), event.signer))
    rows.sort(key=lambda r: (r.time, r.environment, r.service))
    return DeploymentWindow(since, as_of, tuple(rows), tuple(ignored), tuple(problems))


def render_json(window: DeploymentWindow) -> str:
    return json.dumps({"since": window.since.isoformat() if window.since else None, "asOf": window.as_of.isoformat(),
                       "deployments": [asdict(r) for r in window.rows], "ignored": list(window.ignored),
                       "problems": list(window.problems)}, indent=2) + "\n"


def render_csv(window: DeploymentWindow) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in window.rows:
        writer.writerow([csv_cell(getattr(row, c)) for c in COLUMNS])
    return out.getvalue()


def render_table(window: DeploymentWindow) -> str:
    header = ("TIME", "DIGEST", "ARTIFACT", "SERVICE", "ENVIRONMENT", "TARGET", "HOST")
    cells = [header, *((r.time, r.digest[:19] + "…", r.artifact, r.service, r.environment, r.target or "-", r.host)
                       for r in window.rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    span = f"{window.since} to {window.as_of}" if window.since else f"up to {window.as_of}"
    lines += ["", f"{len(window.rows)} deployments of {len({r.digest for r in window.rows})} digests, {span}"]
    if window.ignored:
        lines.append(f"{len(window.ignored)} deployment records ignored (not signed by a key given)")
    lines += [f"problem: {p}" for p in window.problems]
    return "\n".join(lines) + "\n"
