"""The inventory: which artifacts (by digest) run where, read back from the ML-BOMs `weightgate check --bom`
writes, one per deployment.

It answers the auditor's question "which models are running in production right now, and when did we last
validate them?" from files alone: every artifact component with its services, environments and targets, owner,
the approvals that name its verified digest, its last validation and whether that is overdue under the
policy's re-validation age. Only the newest BOM of each deployment counts (older ones are superseded). BOMs are
plain JSON read with the standard library, so a thousand of them take well under a second.

What it believes (issue 19): a BOM counts only when weightgate wrote it, told by its structure (weightgate as
its tool, a deployment as its root, the run's verdict and policy digest, an RFC 3339 timestamp no later than
the clock) and, when the gate's signed decision records are given, by signature: every artifact digest in the
BOM must have a record, verified with the gate's key, made in that deployment at that BOM's time. Any other BOM
(another tool's, an edited one, one no record vouches for) is listed apart and never supersedes a BOM that
counts. Each row carries its run's verdict (the signed record's, when records are given), and an artifact whose
run failed is not validated, however recent its date.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from weightgate.errors import InputFileError
from weightgate.inputfiles import read_input
from weightgate.strictjson import AmbiguousJson, JsonRefused, strict_json
from weightgate.textsafety import csv_cell, shown, shown_lines
from weightgate.timestamps import parse_rfc3339

P = "weightgate:"
MAX_BOM_BYTES = 64 * 1024 * 1024
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)  # a BOM dated later than the clock plus this is refused
VERDICTS = ("pass", "fail")  # what the BOMs weightgate writes say of a run (`weightgate:verdict`)
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)


@dataclass(frozen=True)
class InventoryRow:
    digest: str | None  # the artifact digest verified in that run; None when its bytes were not all verified
    artifact: str
    name: str
    version: str | None
    artifact_class: str | None
    deployment: str
    services: tuple[str, ...]
    rollback_for: tuple[str, ...]  # artifacts that fall back to this one (it runs where they run)
    environments: tuple[str, ...]
    targets: tuple[str, ...]
    owner: str | None
    approved_by: tuple[str, ...]  # "approver (role, date)" of approvals naming the verified digest
    last_validated: datetime.date | None
    age_days: int | None
    overdue: bool  # never validated, validated in the future, or longer ago than the policy allows
    verification: str
    checked_at: str  # when the gate run that wrote the BOM happened
    verdict: str  # that run's verdict (pass / fail); with signed records, the record's for this digest
    bom: str
    trust: str = "structure"  # "signed": a verified decision record vouches for it; "structure": weightgate's form

    @property
    def validated(self) -> bool:
        """Validated within the policy's age by a run that passed it: a failed run validates nothing."""
        return not self.overdue and self.verdict == "pass"


@dataclass(frozen=True)
class SetApart:
    """A BOM read but not believed: another tool's, edited, or (with records) vouched for by no signed record."""

    bom: str
    deployment: str
    reason: str


@dataclass(frozen=True)
class DecisionRecord:
    """What a decision record, verified with the gate's key, says about one digest in one run."""

    digest: str  # sha256:<hex>
    deployment: str | None
    time_verified: datetime.datetime
    result: str  # "pass" or "fail"


@dataclass(frozen=True)
class Inventory:
    rows: tuple[InventoryRow, ...]
    revalidation_days: int
    as_of: datetime.date
    boms_read: int
    superseded: tuple[str, ...]  # BOMs ignored because a newer BOM of the same deployment was given
    problems: tuple[str, ...]  # BOMs that could not be read (the inventory is incomplete without them)
    set_apart: tuple[SetApart, ...] = ()  # BOMs not believed: listed, never counted, never superseding

    @property
    def digests(self) -> int:
        return len({r.digest for r in self.rows if r.digest})


@dataclass(frozen=True)
class _Bom:
    path: str
    deployment: str
    timestamp: str
    time: datetime.datetime | None  # None when the BOM is set apart (its timestamp is not believed either)
    document: dict[str, Any]
    foreign: str | None = None  # why it is not a BOM weightgate wrote


def build_inventory(paths: Iterable[Path], revalidation_days: int, as_of: datetime.date, *,
                    records: Iterable[DecisionRecord] | None = None,
                    now: datetime.datetime | None = None) -> Inventory:
    """Each BOM is turned into rows as soon as it is read, and its document dropped: holding a thousand parsed
    BOMs would only make the garbage collector walk them over and over. With `records` (decision records
    verified with the gate's key), a BOM counts only when they vouch for it."""
    clock = (now or datetime.datetime.now(datetime.timezone.utc)) + MAX_CLOCK_SKEW
    vouching = _by_run(records) if records is not None else None
    newest: dict[str, tuple[datetime.datetime, str, list[InventoryRow]]] = {}  # deployment -> (time, path, rows)
    superseded: list[str] = []
    problems: list[str] = []
    set_apart: list[SetApart] = []
    read = 0
    for path in paths:
        try:
            bom = _read_bom(path, clock)
        except InputFileError as e:  # unreadable or over the limit: the message names the file
            problems.append(str(e))
            continue
        except ValueError as e:
            problems.append(f"{path}: {e}")
            continue
        read += 1
        if bom.foreign is not None or bom.time is None:
            set_apart.append(SetApart(bom.path, bom.deployment, bom.foreign or "not a BOM weightgate wrote"))
            continue
        rows = _rows(bom, revalidation_days, as_of)
        if vouching is not None:
            vouched, reason = _vouched(bom, bom.time, rows, vouching)
            if vouched is None:
                set_apart.append(SetApart(bom.path, bom.deployment, reason))
                continue
            rows = vouched
        current = newest.get(bom.deployment)
        if current is not None and bom.time < current[0]:
            superseded.append(bom.path)
            continue  # on equal times the later argument wins
        if current is not None:
            superseded.append(current[1])
        newest[bom.deployment] = (bom.time, bom.path, rows)
    rows = [row for _, _, bom_rows in newest.values() for row in bom_rows]
    rows.sort(key=lambda r: (r.digest or "~", r.deployment, r.artifact))
    return Inventory(tuple(rows), revalidation_days, as_of, read, tuple(superseded), tuple(problems),
                     tuple(set_apart))


def _read_bom(path: Path, clock: datetime.datetime) -> _Bom:
    """A BOM as read. Raises ValueError for what is no BOM at all or carries a time that is no date (the
    inventory cannot be complete without it); a BOM another tool wrote comes back marked `foreign`."""
    raw = read_input(path, MAX_BOM_BYTES, "BOM")
    try:
        document = strict_json(raw, "the BOM")
    except AmbiguousJson as e:
        raise ValueError(f"is ambiguous JSON ({e})") from None
    except JsonRefused:
        raise ValueError("is not JSON") from None
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise ValueError("is not a CycloneDX BOM")
    metadata = document.get("metadata")
    root = metadata.get("component") if isinstance(metadata, dict) else None
    if not isinstance(metadata, dict) or not isinstance(root, dict):
        raise ValueError("names no deployment (metadata.component): was it written by `weightgate check --bom`?")
    deployment = str(root.get("name") or root.get("bom-ref") or path)
    timestamp = metadata.get("timestamp")
    try:
        time = parse_rfc3339(timestamp)
    except ValueError as e:
        raise ValueError(f"metadata.timestamp {e}") from None
    if time > clock:
        now = (clock - MAX_CLOCK_SKEW).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise ValueError(f"metadata.timestamp {timestamp} is later than the clock ({now}): a BOM dated in the "
                         "future would outrank every real one")
    foreign = _not_written_by_weightgate(metadata, root)
    return _Bom(str(path), deployment, str(timestamp), None if foreign else time, document, foreign)


def _not_written_by_weightgate(metadata: Mapping[str, Any], root: Mapping[str, Any]) -> str | None:
    """Why the BOM is not in the form `weightgate check --bom` writes; None when it is. A form is no proof (anyone
    can copy it), but it keeps other tools' BOMs of the same deployment name from replacing the gate's."""
    tools = metadata.get("tools")
    components = tools.get("components") if isinstance(tools, dict) else None
    if not isinstance(components, list) or not any(isinstance(c, dict) and c.get("name") == "weightgate"
                                                   for c in components):
        return "written by another tool (metadata.tools names no weightgate)"
    if not str(root.get("bom-ref", "")).startswith("deployment:"):
        return "its root component is not a weightgate deployment (bom-ref deployment:...)"
    run = _props(metadata)
    if run.get("verdict") not in VERDICTS:
        return "it records no run verdict (weightgate:verdict pass or fail)"
    if not _HEX64.fullmatch(run.get("policy-sha256", "")):
        return "it records no policy digest (weightgate:policy-sha256)"
    return None


def _by_run(records: Iterable[DecisionRecord]) -> dict[tuple[str, datetime.datetime], dict[str, str]]:
    """(deployment, time verified) -> digest -> result; FAILED wins where one run has two records for a digest."""
    runs: dict[tuple[str, datetime.datetime], dict[str, str]] = {}
    for record in records:
        if record.deployment is None:
            continue
        results = runs.setdefault((record.deployment, record.time_verified), {})
        results[record.digest] = "fail" if "fail" in (record.result, results.get(record.digest)) else record.result
    return runs


def _vouched(bom: _Bom, time: datetime.datetime, rows: list[InventoryRow],
             runs: Mapping[tuple[str, datetime.datetime], Mapping[str, str]]) -> tuple[list[InventoryRow] | None, str]:
    """The rows with their signed verdicts, when the records vouch for every digest of the BOM's run."""
    results = runs.get((bom.deployment, time))
    if results is None:
        return None, "no signed decision record of this deployment at this time (unsigned)"
    missing = [r.artifact for r in rows if r.digest and r.digest not in results]
    if missing:
        return None, f"no signed decision record for {', '.join(missing[:5])} of this run (unsigned)"
    return [dataclasses.replace(r, verdict=results[r.digest], trust="signed") if r.digest else
            dataclasses.replace(r, verdict="unrecorded", trust="signed") for r in rows], ""


def _props(component: Mapping[str, Any]) -> dict[str, str]:
    props = component.get("properties")
    if not isinstance(props, list):
        return {}
    try:  # what weightgate writes: every property a {name: str, value: str} object (the fast path)
        return {p["name"][len(P):]: p["value"] for p in props if p["name"].startswith(P) and type(p["value"]) is str}
    except (TypeError, KeyError, AttributeError):
        return {str(p["name"]).removeprefix(P): str(p.get("value", "")) for p in props
                if isinstance(p, dict) and str(p.get("name", "")).startswith(P)}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _rows(bom: _Bom, revalidation_days: int, as_of: datetime.date) -> list[InventoryRow]:
    document = bom.document
    components = [c for c in document.get("components") or [] if isinstance(c, dict)]
    services = {c.get("bom-ref"): c for c in components if str(c.get("bom-ref", "")).startswith("service:")}
    deployed_by: dict[str, list[dict[str, Any]]] = {}
    for dependency in document.get("dependencies") or []:
        if isinstance(dependency, dict) and dependency.get("ref") in services:
            for ref in dependency.get("dependsOn") or []:
                deployed_by.setdefault(str(ref), []).append(services[dependency["ref"]])
    run = _props(document.get("metadata") or {})
    artifacts = [(c, _props(c)) for c in components if str(c.get("bom-ref", "")).startswith("artifact:")]
    rollback_for: dict[str, list[str]] = {}
    for component, props in artifacts:
        if props.get("rollback"):
            rollback_for.setdefault(props["rollback"], []).append(str(component["bom-ref"]).removeprefix("artifact:"))
    return [_row(c, props, deployed_by.get(str(c.get("bom-ref")), []), rollback_for, bom, run.get("verdict", ""),
                 revalidation_days, as_of)
            for c, props in artifacts]


def _row(component: Mapping[str, Any], props: Mapping[str, str], services: list[dict[str, Any]],
         rollback_for: Mapping[str, list[str]], bom: _Bom, verdict: str, revalidation_days: int,
         as_of: datetime.date) -> InventoryRow:
    artifact = str(component.get("bom-ref", "")).removeprefix("artifact:")
    service_props = [_props(s) for s in services]
    environments = {*_split(props.get("environments")), *(p["environment"] for p in service_props
                                                          if p.get("environment"))}
    targets = {*_split(props.get("targets")), *(t for p in service_props for t in _split(p.get("targets")))}
    validated = _date(props.get("last-validated"))
    age = (as_of - validated).days if validated else None
    return InventoryRow(
        digest=props.get("artifact-digest") or None,
        artifact=artifact,
        name=str(component.get("name", "")),
        version=component.get("version"),
        artifact_class=props.get("artifact-class"),
        deployment=bom.deployment,
        services=tuple(sorted(str(s.get("name", "")) for s in services)),
        rollback_for=tuple(sorted(rollback_for.get(artifact, ()))),
        environments=tuple(sorted(environments)),
        targets=tuple(sorted(targets)),
        owner=props.get("owner"),
        approved_by=_approvals(props),
        last_validated=validated,
        age_days=age,
        overdue=age is None or age < 0 or age > revalidation_days,
        verification=props.get("verification", "not-verified"),
        checked_at=bom.timestamp,
        verdict=verdict,
        bom=bom.path,
    )


def _approvals(props: Mapping[str, str]) -> tuple[str, ...]:
    """Approvals that name the verified digest (the BOM marks each `matches-artifact-digest`) and that the gate
    counted (`counted`, in BOMs that record it: a signed record by an allowed reviewer, or a text approval where
    the policy lets those count)."""
    found = []
    n = 1
    while f"approval:{n}:approver" in props:
        if props.get(f"approval:{n}:matches-artifact-digest") == "true" \
                and props.get(f"approval:{n}:counted", "true") == "true":
            role = props.get(f"approval:{n}:role")
            found.append(f"{props[f'approval:{n}:approver']} ({role + ', ' if role else ''}"
                         f"{props.get(f'approval:{n}:date', '?')})")
        n += 1
    return tuple(found)


def _date(value: str | None) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


# --- rendering ---------------------------------------------------------------------------------------------

def _record(row: InventoryRow) -> dict[str, Any]:
    record = {f.name: getattr(row, f.name) for f in fields(InventoryRow)}  # shallow: asdict deep-copies
    record.update({k: list(v) for k, v in record.items() if isinstance(v, tuple)})
    record["last_validated"] = row.last_validated.isoformat() if row.last_validated else None
    record["validated"] = row.validated
    return record


def render_json(inventory: Inventory) -> str:
    document = {
        "asOf": inventory.as_of.isoformat(), "revalidationDays": inventory.revalidation_days,
        "bomsRead": inventory.boms_read, "superseded": list(inventory.superseded),
        "problems": list(inventory.problems), "artifacts": [_record(r) for r in inventory.rows],
        "setApart": [{"bom": a.bom, "deployment": a.deployment, "reason": a.reason} for a in inventory.set_apart],
    }
    return json.dumps(document, indent=2) + "\n"


CSV_COLUMNS = ("digest", "artifact", "name", "version", "artifact_class", "deployment", "services", "rollback_for",
               "environments", "targets", "owner", "approved_by", "last_validated", "age_days", "overdue",
               "verification", "checked_at", "verdict", "validated", "trust", "bom")


def _csv_cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = "; ".join(map(str, value))
    return csv_cell("" if value is None else str(value).lower() if isinstance(value, bool) else str(value))


def render_csv(inventory: Inventory) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in inventory.rows:
        record = _record(row)
        writer.writerow([_csv_cell(record[c]) for c in CSV_COLUMNS])
    return out.getvalue()


TABLE_COLUMNS = ("DIGEST", "ARTIFACT", "DEPLOYMENT", "RUNS IN", "OWNER", "APPROVED BY", "VALIDATED", "VERDICT",
                 "STATUS")


def _printable(text: str) -> str:
    """Manifest text reaches the terminal: control characters (escape sequences) are never printed raw."""
    return shown_lines(shown(text))


def _table_cells(row: InventoryRow) -> tuple[str, ...]:
    where = ", ".join([*row.services, *(f"rollback for {a}" for a in row.rollback_for)]) or "(no service)"
    if row.environments:
        where += f" [{', '.join(row.environments)}]"
    if row.overdue:
        status = "OVERDUE" if row.age_days is None or row.age_days < 0 else f"OVERDUE ({row.age_days} days)"
    elif row.verdict != "pass":
        status = "NOT VALIDATED (its run did not pass)"
    else:
        status = f"ok ({row.age_days} days)"
    verdict = (row.verdict or "none") + (" (signed)" if row.trust == "signed" else "")
    return tuple(_printable(c) for c in (
        row.digest[:19] + "…" if row.digest else f"({row.verification})", row.artifact, row.deployment, where,
        row.owner or "-", "; ".join(row.approved_by) or "none for this digest",
        row.last_validated.isoformat() if row.last_validated else "never", verdict, status))


def render_table(inventory: Inventory) -> str:
    cells = [TABLE_COLUMNS, *(_table_cells(r) for r in inventory.rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(TABLE_COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    overdue = sum(r.overdue for r in inventory.rows)
    failed = sum(not r.overdue and r.verdict != "pass" for r in inventory.rows)
    deployments = len({r.deployment for r in inventory.rows})
    lines += ["", f"{len(inventory.rows)} artifacts ({inventory.digests} digests) in {deployments} deployments; "
              f"{overdue} overdue (re-validation every {inventory.revalidation_days} days, as of "
              f"{inventory.as_of}); {failed} more from runs that did not pass"]
    if inventory.superseded:
        lines.append(f"{len(inventory.superseded)} older BOMs superseded by newer ones of the same deployment")
    lines += [f"not counted: {_printable(a.bom)} ({_printable(a.deployment)}): {_printable(a.reason)}"
              for a in inventory.set_apart]
    lines += [f"problem: {_printable(p)}" for p in inventory.problems]
    return "\n".join(lines) + "\n"
