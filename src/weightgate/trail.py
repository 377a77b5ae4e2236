"""`weightgate trail`: the audit trail of an artifact digest (or of every digest deployed to an environment), read
back from the evidence weightgate leaves: BOMs (`check --bom`), decision records (`check --attest`), review records
(`approve`), eval results (`attest-eval`) and deployment records (`admit`).

A record counts as evidence only when its signature verifies with a key given (`--key`) or a signer the policy
names (`--policy`); any other record is still shown, marked as a claim with the reason it was not believed, so an
auditor sees everything that was filed and which of it is proven. Every string taken from a record is escaped
(`textsafety.shown`) and cut to a bound when the event is made, so no output format can be driven by record text.
"""

from __future__ import annotations

import datetime
import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightgate.evidence.attestation import EXTENSION, VSA_PREDICATE_TYPE
from weightgate.evidence.deployment import DEPLOYMENT_PREDICATE_TYPE
from weightgate.evidence.dsse import RecordRejected, TrustedSigner, verify_record
from weightgate.evidence.records import RecordLine, claimed_statement
from weightgate.evidence.reviews import REVIEW_PREDICATE_TYPE
from weightgate.governance.eval_results import TEST_RESULT_PREDICATE_TYPE
from weightgate.strictjson import JsonRefused, strict_json
from weightgate.textsafety import shown

KNOWN_TYPES = frozenset({VSA_PREDICATE_TYPE, REVIEW_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE,
                         DEPLOYMENT_PREDICATE_TYPE})
MAX_FIELD_CHARS = 300  # one value taken from a record, as shown
MAX_BOM_BYTES = 64 * 1024 * 1024
P = "weightgate:"


class EventKind(str, enum.Enum):
    GATE_RUN = "gate-run"  # a BOM: what the gate verified and recorded for the deployment manifest
    REVIEW = "review"
    EVAL = "eval"
    DECISION = "decision"
    DEPLOYMENT = "deployment"


@dataclass(frozen=True)
class Event:
    time: str  # UTC, RFC 3339 as the record wrote it ("" when the record names no time)
    kind: EventKind
    digest: str  # sha256:<hex>
    artifact: str
    summary: str
    signer: str  # who signed it, when verified; "" otherwise
    verified: bool
    source: str
    reason: str = ""  # why it was not believed
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactTrail:
    digest: str
    artifacts: tuple[str, ...]
    events: tuple[Event, ...]

    def of(self, kind: EventKind, verified_only: bool = False) -> list[Event]:
        return [e for e in self.events if e.kind is kind and (e.verified or not verified_only)]

    @property
    def last_validation(self) -> str:
        """The latest verified PASSED gate decision (the last time the bytes were proven to pass)."""
        passed = [e.time for e in self.of(EventKind.DECISION, True) if e.details.get("result") == "PASSED"]
        return max(passed, default="")

    @property
    def environments(self) -> tuple[str, ...]:
        return tuple(sorted({e.details["environment"] for e in self.of(EventKind.DEPLOYMENT, True)
                             if e.details.get("environment")}))


@dataclass(frozen=True)
class Selection:
    artifact: str | None = None
    digest: str | None = None
    environment: str | None = None

    def describe(self) -> str:
        parts = [f"artifact {self.artifact}" if self.artifact else "", f"digest {self.digest}" if self.digest else "",
                 f"environment {self.environment}" if self.environment else ""]
        return ", ".join(p for p in parts if p) or "every artifact"


@dataclass(frozen=True)
class Trail:
    selection: Selection
    trails: tuple[ArtifactTrail, ...]
    records_read: int
    problems: tuple[str, ...]  # sources or records that could not be read: the trail is incomplete without them


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _cut(value: object) -> str:
    text = shown(value)
    return text if len(text) <= MAX_FIELD_CHARS else text[:MAX_FIELD_CHARS] + "…"


# --- records -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParsedRecord:
    statement: dict[str, Any]
    signer: str
    verified: bool
    reason: str


def parse_record(line: RecordLine, signers: Sequence[TrustedSigner], trust_root: Path | None) -> ParsedRecord | None:
    """The statement of one record: verified when a trusted signer made it, else read as a claim. None when it
    is not a record at all."""
    try:
        verified = verify_record(line.data, signers, KNOWN_TYPES, trust_root)
        signer = verified.signer
        # A key given on the command line is named by its file already ("key gate.pub"); say it once.
        name = signer.identity if signer.key is not None and signer.identity.startswith("key ") else str(signer)
        return ParsedRecord(verified.statement, name, True, "")
    except RecordRejected as e:
        reason = e.reason
    statement = claimed_statement(line.data)
    return ParsedRecord(statement, "", False, reason) if statement is not None else None


# A record's largest cost is its signature check, and cryptography releases the GIL while it checks: records are
# parsed on threads in contiguous slices, which cut a 20,000-record trail's wall time by a fifth on two cores
# (issue 18; the JSON reading and escaping around each check still hold the GIL, so it costs more CPU). Small
# sources are parsed in turn: a thread costs more than it saves there.
PARALLEL_MIN_RECORDS = 2_000


def parse_records(lines: Sequence[RecordLine], signers: Sequence[TrustedSigner], trust_root: Path | None,
                  workers: int | None = None) -> list[ParsedRecord | None]:
    """parse_record of every line, in order."""
    count = min(workers or os.cpu_count() or 1, len(lines) // (PARALLEL_MIN_RECORDS // 2))
    if count < 2:
        return [parse_record(line, signers, trust_root) for line in lines]
    from concurrent.futures import ThreadPoolExecutor

    step = -(-len(lines) // count)
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="trail") as pool:
        slices = [pool.submit(lambda part: [parse_record(line, signers, trust_root) for line in part],
                              lines[at : at + step]) for at in range(0, len(lines), step)]
        return [parsed for part in slices for parsed in part.result()]


def _subjects(statement: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(artifact name, sha256:<hex>) of every well-formed subject."""
    found = []
    for subject in _list(statement.get("subject")):
        digest = subject.get("digest") if isinstance(subject, dict) else None
        value = digest.get("sha256") if isinstance(digest, dict) else None
        if isinstance(value, str):
            found.append((_cut(subject.get("name", "")), f"sha256:{_cut(value.lower())}"))
    return found


def record_events(parsed: ParsedRecord, source: str) -> list[Event]:
    """The events of one record; `source` must already be escaped (`shown`)."""
    statement = parsed.statement
    kind_of = {VSA_PREDICATE_TYPE: _decision, REVIEW_PREDICATE_TYPE: _review, TEST_RESULT_PREDICATE_TYPE: _eval,
               DEPLOYMENT_PREDICATE_TYPE: _deployment}
    make = kind_of.get(str(statement.get("predicateType")))
    if make is None:
        return []
    kind, time, summary, details = make(statement["predicate"])
    return [Event(_cut(time or ""), kind, digest, name, summary, _cut(parsed.signer), parsed.verified, source,
                  _cut(parsed.reason), details) for name, digest in _subjects(statement)]


Made = tuple[EventKind, Any, str, dict[str, str]]


def _decision(predicate: Mapping[str, Any]) -> Made:
    extension = _dict(predicate.get(EXTENSION))
    policy = _dict(predicate.get("policy"))
    policy_digest = _dict(policy.get("digest")).get("sha256", "")
    rules = _list(extension.get("failedRules"))
    waivers = _list(extension.get("waivers"))
    result = _cut(predicate.get("verificationResult", ""))
    details = {"result": result, "policy": _cut(policy.get("uri", "")), "policyDigest": _cut(policy_digest),
               "findings": _cut(", ".join(str(r) for r in rules)),
               "waivers": _cut(", ".join(str(w.get("rule", "")) for w in waivers if isinstance(w, dict)))}
    summary = f"{result} under policy {details['policy']}" + (f" (failed rules: {details['findings']})" if rules
                                                               else "")
    return EventKind.DECISION, predicate.get("timeVerified"), summary, details


def _review(predicate: Mapping[str, Any]) -> Made:
    details = {k: _cut(predicate.get(k) or "") for k in ("role", "decision", "reviewer", "ticket", "justification")}
    environments = predicate.get("environments")
    details["environments"] = _cut(", ".join(map(str, environments))) if isinstance(environments, list) else ""
    summary = f"{details['decision']} as {details['role']} by {details['reviewer']}"
    if details["ticket"]:
        summary += f" ({details['ticket']})"
    return EventKind.REVIEW, predicate.get("time"), summary, details


def _eval(predicate: Mapping[str, Any]) -> Made:
    extension = _dict(predicate.get(EXTENSION))
    metrics = _dict(extension.get("metrics"))
    details = {"suite": _cut(extension.get("suite", "")), "result": _cut(predicate.get("result", "")),
               "metrics": _cut(", ".join(f"{k}={v}" for k, v in sorted(metrics.items())))}
    summary = f"eval {details['suite']} {details['result']}" + (f" ({details['metrics']})" if metrics else "")
    return EventKind.EVAL, extension.get("time") or "", summary, details


def _deployment(predicate: Mapping[str, Any]) -> Made:
    details = {k: _cut(predicate.get(k) or "") for k in ("service", "environment", "target", "host", "location")}
    entry = predicate.get("registryEntry")
    details["registryEntry"] = _cut(entry.get("id", "")) if isinstance(entry, dict) else ""
    summary = f"deployed to {details['service']} in {details['environment']}"
    summary += (f" ({details['target']})" if details["target"] else "") + f" on {details['host']}"
    return EventKind.DEPLOYMENT, predicate.get("time"), summary, details


# --- BOMs --------------------------------------------------------------------------------------------------

def bom_events(document: Mapping[str, Any], source: str) -> list[Event]:
    """One gate-run event per artifact the BOM verified: when, the verdict, owner, intended use, approvals in the
    manifest and the last validation date it declares. A BOM is the gate's own output, not a signed record."""
    metadata = _dict(document.get("metadata"))
    run = _props(metadata)
    events = []
    for component in _list(document.get("components")):
        if not isinstance(component, dict) or not str(component.get("bom-ref", "")).startswith("artifact:"):
            continue
        props = _props(component)
        digest = props.get("artifact-digest")
        if not digest:
            continue
        details = {"verdict": _cut(run.get("verdict", "")), "owner": _cut(props.get("owner", "")),
                   "intendedUse": _cut(props.get("intended-use", "")),
                   "lastValidated": _cut(props.get("last-validated", "")),
                   "approvals": _cut("; ".join(_approvals(props)))}
        summary = f"gate run {details['verdict'] or '?'}; last validated {details['lastValidated'] or 'never'}"
        events.append(Event(_utc(metadata.get("timestamp", "")), EventKind.GATE_RUN, _cut(digest),
                            _cut(str(component["bom-ref"]).removeprefix("artifact:")), summary, "", False,
                            _cut(source), "a BOM is not a signed record", details))
    return events


def _utc(value: object) -> str:
    """A BOM's timestamp in the records' form (UTC, `Z`), so events sort and line up by the instant."""
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return _cut(value)
    if moment.tzinfo is None:
        return _cut(value)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _props(component: Mapping[str, Any]) -> dict[str, str]:
    props = component.get("properties")
    if not isinstance(props, list):
        return {}
    return {str(p["name"]).removeprefix(P): str(p.get("value", "")) for p in props
            if isinstance(p, dict) and str(p.get("name", "")).startswith(P)}


def _approvals(props: Mapping[str, str]) -> list[str]:
    found, n = [], 1
    while f"approval:{n}:approver" in props:
        found.append(f"{props[f'approval:{n}:approver']} ({props.get(f'approval:{n}:role', '?')}, "
                     f"{props.get(f'approval:{n}:date', '?')})")
        n += 1
    return found


# --- building ----------------------------------------------------------------------------------------------

def build_trail(events: Iterable[Event], selection: Selection, records_read: int, problems: Sequence[str]) -> Trail:
    by_digest: dict[str, list[Event]] = {}
    for event in events:
        by_digest.setdefault(event.digest, []).append(event)
    chosen = [d for d, evs in by_digest.items() if _selected(d, evs, selection)]
    trails = []
    for digest in sorted(chosen):
        evs = sorted(by_digest[digest], key=lambda e: (e.time, e.kind.value, e.summary))
        names = tuple(sorted({e.artifact for e in evs if e.artifact}))
        trails.append(ArtifactTrail(digest, names, tuple(evs)))
    return Trail(selection, tuple(trails), records_read, tuple(problems))


def _selected(digest: str, events: Sequence[Event], selection: Selection) -> bool:
    if selection.digest and digest != selection.digest:
        return False
    if selection.artifact and not any(e.artifact == selection.artifact for e in events):
        return False
    if selection.environment:
        return any(e.kind is EventKind.DEPLOYMENT and e.verified and e.details.get("environment")
                   == selection.environment for e in events)
    return True


def read_bom(data: bytes, source: str) -> list[Event]:
    """Events from a BOM file's bytes. Raises ValueError when it is not a CycloneDX BOM."""
    try:
        document = strict_json(data, source)
    except JsonRefused as e:
        raise ValueError(str(e)) from None
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise ValueError(f"{source} is not a CycloneDX BOM")
    return bom_events(document, source)


def utc_day_end(day: datetime.date) -> str:
    return f"{day.isoformat()}T23:59:59Z"


def load_trail(record_sources: Sequence[str], boms: Sequence[Path], signers: Sequence[TrustedSigner],
               trust_root: Path | None, selection: Selection, settings: Any = None) -> Trail:
    """Read every source (a source that cannot be read is a problem, never silence) and build the trail."""
    from weightgate.evidence.records import iter_sources
    from weightgate.inputfiles import read_input

    events: list[Event] = []
    problems: list[str] = []
    read = 0
    for _reference, lines, why in iter_sources(tuple(record_sources), settings):
        if lines is None:
            problems.append(why)
            continue
        shown_sources: dict[str, str] = {}  # escaped once per file, not once per record
        for line, parsed in zip(lines, parse_records(lines, signers, trust_root), strict=True):
            source = shown_sources.setdefault(line.source, _cut(line.source))
            if parsed is None:
                problems.append(f"{line.source} line {line.line}: not a signed record")
                continue
            read += 1
            events += record_events(parsed, f"{source}#{line.line}")
    for bom in boms:
        try:
            events += read_bom(read_input(bom, MAX_BOM_BYTES, "BOM"), str(bom))
        except ValueError as e:  # InputFileError is reported by the caller as an input error
            problems.append(str(e))
    return build_trail(events, selection, read, problems)
