"""Signed decision records. For every artifact a gate run judged, an in-toto Statement v1 whose subject is
the artifact digest and whose predicate is a SLSA Verification Summary (VSA v1): who verified, when, which
resource, under which policy (with its digest), PASSED or FAILED, the rules that failed and the waivers used.
Each statement travels in a DSSE envelope signed by `evidence.dsse`, the one module that signs and verifies every
record; a run writes one envelope per line (JSON Lines, like `*.intoto.jsonl`).

There is one record per (digest, policy, run): manifest entries that share a digest in one run share one record,
which names them all and is FAILED when any of them fails. Each record carries the run's id and `signedAt`, the
signing machine's clock when the run signed its records; unlike `timeVerified`, which follows SOURCE_DATE_EPOCH
for reproducible reports, no setting of the environment moves it.

`verify_attestations` is the other side: a deploy step or admission controller checks the file against the
gate's public key and the digest it is about to deploy, and refuses anything without a PASSED record whose
signature verifies. The signature is checked before anything in the payload is believed. Between records it
picks the newest run by `signedAt` (records dated after the verifier's clock are refused), and any FAILED record
in that run wins.
"""

from __future__ import annotations

import datetime
import enum
import json
import re
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from weightgate import __version__
from weightgate.errors import InputFileError
from weightgate.evidence.dsse import STATEMENT_TYPE, RecordRejected, TrustedSigner, sign_statement, verify_record
from weightgate.findings import Waiver
from weightgate.governance.digests import evidence_digests
from weightgate.report.interface import Report
from weightgate.report.inventory import DecisionRecord
from weightgate.report.locations import portable
from weightgate.rules import DOCS_BASE
from weightgate.timestamps import parse_rfc3339

VSA_PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = DOCS_BASE.split("/blob/", 1)[0]
# VSA's verifiedLevels: FAILED when policy verification failed; otherwise custom values, which must not start
# with SLSA_. weightgate verifies intake policy, not build provenance, so it claims no SLSA build level.
PASSED_LEVEL = "WEIGHTGATE_INTAKE_PASSED"
FAILED_LEVEL = "FAILED"
EXTENSION = "weightgate"  # where the predicate carries what VSA has no field for (failed rules, waivers)
MAX_ATTESTATION_BYTES = 64 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
# How far a record's time may lie ahead of the verifier's clock (clocks of two machines differ a little); a
# record dated later than that was stamped by a wrong or forged clock, and a date in the future would outrank
# every real run, so it is refused.
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)


class Result(str, enum.Enum):
    PASSED = "PASSED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class RunStamp:
    """What ties a run's records together: a random id, and the signing machine's clock when the run signed them
    (never SOURCE_DATE_EPOCH, which would let an old run outrank a newer one)."""

    run_id: str
    signed_at: datetime.datetime

    @classmethod
    def now(cls) -> RunStamp:
        return cls(str(uuid.uuid4()), datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0))


@dataclass(frozen=True)
class Decision:
    """The gate's decision about one artifact digest in one run, naming every manifest entry with that digest."""

    artifact_ids: tuple[str, ...]
    digest: str  # sha256:<hex>
    bytes_verified: bool  # the digest is of bytes read in this run (not only the pins' claim)
    resource_uri: str
    result: Result
    failed_rules: tuple[str, ...]
    waivers: tuple[Waiver, ...]

    @property
    def artifact_id(self) -> str:
        """The first entry with the digest (the statement's subject name)."""
        return self.artifact_ids[0]


def decisions(report: Report) -> list[Decision]:
    """One decision per artifact digest. An artifact passes only when its bytes were read and match its pins,
    and no unwaived critical or high finding names it or the deployment as a whole (a manifest-wide problem,
    such as an expired waiver or an unmonitored service, fails every record). Entries that share a digest share
    its decision, which passes only when every one of them passes: two records for the same bytes in one run,
    one PASSED and one FAILED, would let whoever reads them pick the one they like.

    fail_on plays no part: it decides whether this run's exit code blocks, while a record is read later by a
    deploy step that cannot see it, so `fail_on: never` must not sign PASSED for a critical finding."""
    manifest = report.manifest
    if manifest is None:
        return []
    bound = evidence_digests(manifest, report.facts)
    by_digest: dict[str, list[Decision]] = {}
    for artifact in dict.fromkeys(a.id for a in manifest.artifacts):
        digest = bound.get(artifact)
        if digest is not None:  # else no definite bytes to name: the integrity findings say why
            by_digest.setdefault(digest.value, []).append(_entry_decision(report, artifact, digest.value,
                                                                          digest.verified))
    return [_merged(entries) for entries in by_digest.values()]


def _entry_decision(report: Report, artifact: str, digest: str, verified: bool) -> Decision:
    failing = report.error_findings
    facts = report.facts_for(artifact)
    failed = sorted({f.rule.id for f in failing if f.artifact_id == artifact or not f.artifact_id})
    passed = not failed and verified and facts is not None and facts.intact
    return Decision(
        (artifact,), digest, verified, facts.mirror_uri if facts else "",
        Result.PASSED if passed else Result.FAILED, tuple(failed),
        tuple(dict.fromkeys(f.waived_by for f in report.findings
                            if f.artifact_id == artifact and f.waived_by is not None)),
    )


def _merged(entries: list[Decision]) -> Decision:
    """One decision for entries sharing a digest: FAILED if any failed, with every rule and waiver any used."""
    if len(entries) == 1:
        return entries[0]
    failed = any(e.result is Result.FAILED for e in entries)
    return Decision(
        tuple(a for e in entries for a in e.artifact_ids), entries[0].digest,
        all(e.bytes_verified for e in entries), entries[0].resource_uri,
        Result.FAILED if failed else Result.PASSED,
        tuple(sorted({r for e in entries for r in e.failed_rules})),
        tuple(dict.fromkeys(w for e in entries for w in e.waivers)),
    )


def statement(decision: Decision, report: Report, run: RunStamp | None = None) -> dict[str, Any]:
    """The in-toto Statement v1 with its SLSA VSA v1 predicate, stamped with the run it belongs to (a new one
    when `run` is not given: every statement of one run must share one)."""
    run = run or RunStamp.now()
    hex_digest = decision.digest.removeprefix("sha256:")
    predicate: dict[str, Any] = {
        "verifier": {"id": VERIFIER_ID, "version": {"weightgate": __version__}},
        "timeVerified": _utc(report.timestamp),
        "resourceUri": decision.resource_uri or f"weightgate:artifact/{decision.artifact_id}",
        "policy": {"uri": _policy_uri(report), "digest": {"sha256": report.policy.sha256}},
        "verificationResult": decision.result.value,
        "verifiedLevels": [PASSED_LEVEL if decision.result is Result.PASSED else FAILED_LEVEL],
        EXTENSION: {
            "artifact": decision.artifact_id,
            "artifacts": list(decision.artifact_ids),
            "runId": run.run_id,
            "signedAt": _utc(run.signed_at),
            "deployment": report.manifest.name if report.manifest else None,
            "manifest": report.relative(str(report.manifest.path)) if report.manifest else None,
            "bytesVerified": decision.bytes_verified,
            "failOn": report.fail_on.value,
            "failedRules": list(decision.failed_rules),
            "waivers": [{"rule": w.rule_id, "digest": w.digest, "reason": w.reason, "expires": w.expires,
                         "approvedBy": w.approved_by} for w in decision.waivers],
            # What `weightgate admit` compares the bytes about to be loaded with: exactly these files.
            "files": file_list(decision, report),
        },
    }
    entry = _registry_entry(decision.artifact_id, report)
    if entry:
        predicate[EXTENSION]["registryEntry"] = entry
    inputs = [i for a in decision.artifact_ids for i in _input_attestations(a, report)]
    if inputs:
        predicate["inputAttestations"] = inputs
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": decision.artifact_id, "digest": {"sha256": hex_digest}}],
            "predicateType": VSA_PREDICATE_TYPE, "predicate": predicate}


def file_list(decision: Decision, report: Report) -> list[dict[str, Any]]:
    """The (path, sha256, size) list the subject digest is computed from: the bytes read in this run when they
    were, else the manifest's pins (whose digest the subject then names)."""
    facts = report.facts_for(decision.artifact_id)
    if decision.bytes_verified and facts is not None and facts.complete:
        files = [(f.path, f.sha256, f.size) for f in facts.files]
    else:
        artifact = report.manifest.artifact(decision.artifact_id) if report.manifest else None
        files = [(f.path, f.sha256 or "", f.size or 0) for f in artifact.files] if artifact else []
    return [{"path": p, "sha256": h, "size": n} for p, h, n in sorted(files)]


def _registry_entry(artifact_id: str, report: Report) -> dict[str, Any]:
    artifact = report.manifest.artifact(artifact_id) if report.manifest else None
    entry = artifact.registry_entry if artifact else None
    if entry is None:
        return {}
    return {k: v for k, v in (("registry", entry.registry), ("id", entry.id), ("stage", entry.stage)) if v}


def _input_attestations(artifact_id: str, report: Report) -> list[dict[str, Any]]:
    """The model-signing bundle the decision relied on, when one was verified."""
    signature = report.governance.signatures.get(artifact_id)
    if signature is None or not signature.verified or not signature.bundle_sha256:
        return []
    return [{"uri": signature.uri, "digest": {"sha256": signature.bundle_sha256}}]


def _policy_uri(report: Report) -> str:
    from weightgate.policy import DEFAULT_POLICY_NAME

    if report.policy.source == DEFAULT_POLICY_NAME:
        return f"{VERIFIER_ID}/blob/v{__version__}/src/weightgate/data/default-policy.yaml"
    return report.relative(report.policy.source)


def _utc(timestamp: datetime.datetime) -> str:
    aware = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=datetime.timezone.utc)
    return aware.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- signing -----------------------------------------------------------------------------------------------

def attestation_lines(report: Report, signer: Any) -> str:
    """JSON Lines: one signed envelope per artifact digest, all stamped with one run."""
    run = RunStamp.now()
    return "".join(json.dumps(sign_statement(portable(statement(d, report, run), report.source_root), signer),
                              sort_keys=True) + "\n"
                   for d in decisions(report))


# --- verifying ---------------------------------------------------------------------------------------------

class Outcome(str, enum.Enum):
    PASSED = "passed"  # the newest run's verified record for the digest says PASSED (under an accepted policy)
    FAILED = "failed"  # a verified record of the newest run says FAILED (it wins over any PASSED one)
    OTHER_POLICY = "other-policy"  # the newest run's record PASSED under a policy digest not accepted
    ABSENT = "absent"  # no record for the digest (and artifact) verifies with the key


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    statement: dict[str, Any] | None = None
    rejected: tuple[str, ...] = ()  # why envelopes were not believed (bad signature, malformed, ...)


@dataclass(frozen=True)
class _Candidate:
    run: tuple[str, str]  # ("run", id) or, for records written before run ids, ("time", trusted time)
    time: datetime.datetime  # when the run signed it (`signedAt`; `timeVerified` in older records)
    document: dict[str, Any]


def verify_attestations(text: str, key: TrustedSigner, digest: str, policy_digests: Collection[str] = (), *,
                        artifact: str | None = None, now: datetime.datetime | None = None) -> Verdict:
    """Judge `digest` by the records in `text` whose signatures verify with `key`, by a rule that no record
    writer can steer:

    - a record dated after the verifier's clock (`now`, default the system clock; MAX_CLOCK_SKEW allowed) is
      refused: a future date would outrank every real run;
    - the newest run decides, by the time the run signed its records (`signedAt`), never by `timeVerified`
      (which SOURCE_DATE_EPOCH sets): runs that signed at the same second count as one;
    - in that run, any FAILED record for the digest wins;
    - with `artifact`, only records naming that manifest entry count; with `policy_digests`, a PASSED record
      counts only if made under one of them (a newer run under another policy is not skipped for an older one)."""
    wanted = _sha256_argument(digest, "--digest", "an artifact digest")
    accepted = [f"sha256:{_sha256_argument(d, '--policy-digest', 'a policy digest')}" for d in policy_digests]
    clock = (now or datetime.datetime.now(datetime.timezone.utc)) + MAX_CLOCK_SKEW
    rejected: list[str] = []
    matching: list[_Candidate] = []
    for number, line in _lines(text):
        try:
            document = _verified_statement(line, key)
            if not any((s.get("digest") or {}).get("sha256") == wanted for s in document["subject"]):
                continue
            candidate = _candidate(document, clock)
            if artifact is None or artifact in _artifacts_named(document, wanted):
                matching.append(candidate)
        except _NotBelieved as e:
            rejected.append(f"line {number}: {e}")
    named = f"{digest} (artifact {artifact})" if artifact is not None else digest
    if not matching:
        return Verdict(Outcome.ABSENT, f"no record for {named} verifies with the key", None, tuple(rejected))
    return _judge_newest_run(named, matching, accepted, tuple(rejected))


def decision_records(text: str, key: TrustedSigner, *, now: datetime.datetime | None = None
                     ) -> tuple[list[DecisionRecord], list[str]]:
    """Every record in `text` whose signature verifies with `key`, as what it says per digest (for `inventory`),
    and why the others were not believed. Records dated after the clock are refused, as in verify_attestations."""
    clock = (now or datetime.datetime.now(datetime.timezone.utc)) + MAX_CLOCK_SKEW
    found: list[DecisionRecord] = []
    rejected: list[str] = []
    for number, line in _lines(text):
        try:
            document = _verified_statement(line, key)
            candidate = _candidate(document, clock)
        except _NotBelieved as e:
            rejected.append(f"line {number}: {e}")
            continue
        predicate = candidate.document["predicate"]
        deployment = _extension(predicate).get("deployment")
        result = "pass" if predicate.get("verificationResult") == Result.PASSED.value else "fail"
        found += [DecisionRecord(f"sha256:{s['digest']['sha256']}", deployment if isinstance(deployment, str) else None,
                                 _rfc3339(predicate.get("timeVerified"), "timeVerified"), result)
                  for s in document["subject"]
                  if isinstance(s.get("digest"), dict) and isinstance(s["digest"].get("sha256"), str)]
    return found, rejected


def _judge_newest_run(digest: str, matching: list[_Candidate], accepted: list[str],
                      rejected: tuple[str, ...]) -> Verdict:
    run_times: dict[tuple[str, str], datetime.datetime] = {}
    for c in matching:
        run_times[c.run] = max(c.time, run_times.get(c.run, c.time))
    newest_time = max(run_times.values())
    latest = [c.document for c in matching if run_times[c.run] == newest_time]
    failed = [d for d in latest if d["predicate"].get("verificationResult") != Result.PASSED.value]
    if failed:
        return _failed(digest, failed[0], rejected)
    passed = [d for d in latest if not accepted or _policy_sha256(d["predicate"]) in accepted]
    if not passed:
        return _other_policy(digest, latest[0], accepted, rejected)
    predicate = passed[0]["predicate"]
    return Verdict(Outcome.PASSED, f"{digest} PASSED at {predicate.get('timeVerified')} under policy "
                   f"{_policy_field(predicate, 'uri')} ({_policy_sha256(predicate)})", passed[0], rejected)


def _extension(predicate: dict[str, Any]) -> dict[str, Any]:
    extension = predicate.get(EXTENSION)
    return extension if isinstance(extension, dict) else {}


def _candidate(document: dict[str, Any], clock: datetime.datetime) -> _Candidate:
    """The record's run and trusted time; refused when any time it carries lies after the verifier's clock."""
    predicate = document["predicate"]
    extension = _extension(predicate)
    verified = _rfc3339(predicate.get("timeVerified"), "timeVerified")
    signed = _rfc3339(extension["signedAt"], "signedAt") if "signedAt" in extension else verified
    for name, value in (("timeVerified", verified), ("signedAt", signed)):
        if value > clock:
            raise _NotBelieved(f"{name} {value.isoformat()} is in the future (the verifier's clock says "
                               f"{(clock - MAX_CLOCK_SKEW).isoformat()}): refused")
    run_id = extension.get("runId")
    run = ("run", run_id) if isinstance(run_id, str) and run_id else ("time", signed.isoformat())
    return _Candidate(run, signed, document)


def _artifacts_named(document: dict[str, Any], wanted: str) -> set[str]:
    """The manifest entries a record speaks for: its `artifacts` (or older `artifact`), and the subject names
    of the digest."""
    extension = _extension(document["predicate"])
    listed = extension.get("artifacts")
    names = {a for a in listed if isinstance(a, str)} if isinstance(listed, list) else set()
    if isinstance(extension.get("artifact"), str):
        names.add(extension["artifact"])
    names.update(s["name"] for s in document["subject"]
                 if isinstance(s.get("name"), str) and (s.get("digest") or {}).get("sha256") == wanted)
    return names


def _failed(digest: str, document: dict[str, Any], rejected: tuple[str, ...]) -> Verdict:
    predicate = document["predicate"]
    rules = _extension(predicate).get("failedRules") or []
    failed = ", ".join(str(r) for r in rules) if isinstance(rules, list) else ""
    return Verdict(Outcome.FAILED, f"{digest} {predicate.get('verificationResult')} at "
                   f"{predicate.get('timeVerified')} (failed rules: {failed or 'none listed'})", document, rejected)


def _other_policy(digest: str, document: dict[str, Any], accepted: list[str], rejected: tuple[str, ...]) -> Verdict:
    predicate = document["predicate"]
    return Verdict(Outcome.OTHER_POLICY, f"{digest} PASSED at {predicate.get('timeVerified')} under policy "
                   f"{_policy_field(predicate, 'uri')} with digest {_policy_sha256(predicate)}, which is not "
                   f"an accepted policy (accepted: {', '.join(accepted)})", document, rejected)


def _sha256_argument(value: str, option: str, what: str) -> str:
    """The hex of a `sha256:<hex>` (or bare hex) command-line argument, in lower case as records write it."""
    hex_digest = value.removeprefix("sha256:").lower()
    if not _HEX64.fullmatch(hex_digest):
        raise InputFileError(f"{value!r} is not {what}", hint=f"{option} takes sha256:<64 hex digits>")
    return hex_digest


def _policy_field(predicate: dict[str, Any], name: str) -> Any:
    policy = predicate.get("policy")
    return policy.get(name) if isinstance(policy, dict) else None


def _policy_sha256(predicate: dict[str, Any]) -> str | None:
    digest = _policy_field(predicate, "digest")
    value = digest.get("sha256") if isinstance(digest, dict) else None
    return f"sha256:{value}" if isinstance(value, str) else None


def _rfc3339(value: Any, name: str) -> datetime.datetime:
    try:
        return parse_rfc3339(value)
    except ValueError as e:
        raise _NotBelieved(f"{name} {e}") from None


def time_verified(predicate: dict[str, Any]) -> datetime.datetime | None:
    """When a verified record's run signed it (`signedAt`, the signing machine's clock; `timeVerified` in older
    records, since SOURCE_DATE_EPOCH can set that one), or None when it is not RFC 3339 with a zone."""
    extension = _extension(predicate)
    try:
        if "signedAt" in extension:
            return _rfc3339(extension["signedAt"], "signedAt")
        return _rfc3339(predicate.get("timeVerified"), "timeVerified")
    except _NotBelieved:
        return None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield number, line


class _NotBelieved(Exception):
    pass


def _verified_statement(line: str, key: TrustedSigner) -> dict[str, Any]:
    """The statement of one envelope, only after its signature verified with `key` (the one signing module)."""
    try:
        verified = verify_record(line.encode("utf-8", errors="replace"), [key], {VSA_PREDICATE_TYPE})
    except RecordRejected as e:
        raise _NotBelieved(e.reason) from None
    return _vsa_statement(verified.statement)


def _vsa_statement(document: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(document.get("subject"), list) or not all(isinstance(s, dict) for s in document["subject"]):
        raise _NotBelieved("the statement has no subject list")
    return document
