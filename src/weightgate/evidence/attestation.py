"""Signed decision records. For every artifact a gate run judged, an in-toto Statement v1 whose subject is
the artifact digest and whose predicate is a SLSA Verification Summary (VSA v1): who verified, when, which
resource, under which policy (with its digest), PASSED or FAILED, the rules that failed and the waivers used.
Each statement travels in a DSSE envelope signed by `evidence.dsse`, the one module that signs and verifies every
record; a run writes one envelope per line (JSON Lines, like `*.intoto.jsonl`).

`verify_attestations` is the other side: a deploy step or admission controller checks the file against the
gate's public key and the digest it is about to deploy, and refuses anything without a PASSED record whose
signature verifies. The signature is checked before anything in the payload is believed.
"""

from __future__ import annotations

import datetime
import enum
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from weightgate import __version__
from weightgate.errors import InputFileError
from weightgate.evidence.dsse import STATEMENT_TYPE, RecordRejected, TrustedSigner, sign_statement, verify_record
from weightgate.findings import Waiver
from weightgate.governance.digests import evidence_digests
from weightgate.report.interface import Report
from weightgate.report.locations import portable
from weightgate.rules import DOCS_BASE

VSA_PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = DOCS_BASE.split("/blob/", 1)[0]
# VSA's verifiedLevels: FAILED when policy verification failed; otherwise custom values, which must not start
# with SLSA_. weightgate verifies intake policy, not build provenance, so it claims no SLSA build level.
PASSED_LEVEL = "WEIGHTGATE_INTAKE_PASSED"
FAILED_LEVEL = "FAILED"
EXTENSION = "weightgate"  # where the predicate carries what VSA has no field for (failed rules, waivers)
MAX_ATTESTATION_BYTES = 64 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})")


class Result(str, enum.Enum):
    PASSED = "PASSED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Decision:
    """The gate's decision about one artifact, bound to the digest evidence binds to."""

    artifact_id: str
    digest: str  # sha256:<hex>
    bytes_verified: bool  # the digest is of bytes read in this run (not only the pins' claim)
    resource_uri: str
    result: Result
    failed_rules: tuple[str, ...]
    waivers: tuple[Waiver, ...]


def decisions(report: Report) -> list[Decision]:
    """One decision per artifact with a digest. An artifact passes only when its bytes were read and match its
    pins, and no unwaived critical or high finding names it or the deployment as a whole (a manifest-wide
    problem, such as an expired waiver or an unmonitored service, fails every record).

    fail_on plays no part: it decides whether this run's exit code blocks, while a record is read later by a
    deploy step that cannot see it, so `fail_on: never` must not sign PASSED for a critical finding."""
    manifest = report.manifest
    if manifest is None:
        return []
    bound = evidence_digests(manifest, report.facts)
    failing = report.error_findings
    global_failures = {f.rule.id for f in failing if not f.artifact_id}
    result = []
    for artifact in dict.fromkeys(a.id for a in manifest.artifacts):
        digest = bound.get(artifact)
        if digest is None:
            continue  # no definite bytes to name: the integrity findings say why
        facts = report.facts_for(artifact)
        failed = sorted({f.rule.id for f in failing if f.artifact_id == artifact} | global_failures)
        passed = not failed and digest.verified and facts is not None and facts.intact
        result.append(Decision(
            artifact, digest.value, digest.verified, facts.mirror_uri if facts else "",
            Result.PASSED if passed else Result.FAILED, tuple(failed),
            tuple(dict.fromkeys(f.waived_by for f in report.findings
                                if f.artifact_id == artifact and f.waived_by is not None)),
        ))
    return result


def statement(decision: Decision, report: Report) -> dict[str, Any]:
    """The in-toto Statement v1 with its SLSA VSA v1 predicate."""
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
            "deployment": report.manifest.name if report.manifest else None,
            "manifest": report.relative(str(report.manifest.path)) if report.manifest else None,
            "bytesVerified": decision.bytes_verified,
            "failOn": report.fail_on.value,
            "failedRules": list(decision.failed_rules),
            "waivers": [{"rule": w.rule_id, "digest": w.digest, "reason": w.reason, "expires": w.expires,
                         "approvedBy": w.approved_by} for w in decision.waivers],
        },
    }
    inputs = _input_attestations(decision.artifact_id, report)
    if inputs:
        predicate["inputAttestations"] = inputs
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": decision.artifact_id, "digest": {"sha256": hex_digest}}],
            "predicateType": VSA_PREDICATE_TYPE, "predicate": predicate}


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
    """JSON Lines: one signed envelope per artifact decision."""
    return "".join(json.dumps(sign_statement(portable(statement(d, report), report.source_root), signer),
                              sort_keys=True) + "\n"
                   for d in decisions(report))


# --- verifying ---------------------------------------------------------------------------------------------

class Outcome(str, enum.Enum):
    PASSED = "passed"  # the latest verified record for the digest says PASSED (under an accepted policy)
    FAILED = "failed"  # a latest verified record for the digest says FAILED (it wins a tie)
    OTHER_POLICY = "other-policy"  # the latest verified record PASSED under a policy digest not accepted
    ABSENT = "absent"  # no record for the digest verifies with the key


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    statement: dict[str, Any] | None = None
    rejected: tuple[str, ...] = ()  # why envelopes were not believed (bad signature, malformed, ...)


def verify_attestations(text: str, key: TrustedSigner, digest: str, policy_digests: Collection[str] = ()) -> Verdict:
    """Judge `digest` by the records in `text` whose signatures verify with `key`. The latest record decides
    (a FAILED one wins a tie); with `policy_digests`, a PASSED record counts only if made under one of them."""
    wanted = _sha256_argument(digest, "--digest", "an artifact digest")
    accepted = [f"sha256:{_sha256_argument(d, '--policy-digest', 'a policy digest')}" for d in policy_digests]
    rejected: list[str] = []
    matching: list[tuple[datetime.datetime, dict[str, Any]]] = []
    for number, line in _lines(text):
        try:
            document = _verified_statement(line, key)
            if any((s.get("digest") or {}).get("sha256") == wanted for s in document["subject"]):
                matching.append((_time_verified(document["predicate"]), document))
        except _NotBelieved as e:
            rejected.append(f"line {number}: {e}")
    if not matching:
        return Verdict(Outcome.ABSENT, f"no record for {digest} verifies with the key", None, tuple(rejected))
    latest_time = max(time for time, _ in matching)
    latest = [document for time, document in matching if time == latest_time]
    failed = [d for d in latest if d["predicate"].get("verificationResult") != Result.PASSED.value]
    if failed:
        return _failed(digest, failed[0], tuple(rejected))
    passed = [d for d in latest if not accepted or _policy_sha256(d["predicate"]) in accepted]
    if not passed:
        return _other_policy(digest, latest[0], accepted, tuple(rejected))
    predicate = passed[0]["predicate"]
    return Verdict(Outcome.PASSED, f"{digest} PASSED at {predicate.get('timeVerified')} under policy "
                   f"{_policy_field(predicate, 'uri')} ({_policy_sha256(predicate)})", passed[0],
                   tuple(rejected))


def _failed(digest: str, document: dict[str, Any], rejected: tuple[str, ...]) -> Verdict:
    predicate = document["predicate"]
    rules = (predicate.get(EXTENSION) or {}).get("failedRules") or []
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


def _time_verified(predicate: dict[str, Any]) -> datetime.datetime:
    """`timeVerified` as an aware time, so records written with different offsets compare by the instant."""
    value = predicate.get("timeVerified")
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    problem = _NotBelieved(f"timeVerified {value!r} is not an RFC 3339 date-time with a time zone")
    if match is None:
        raise problem
    seconds, fraction, zone = match.groups()
    # Python 3.10's fromisoformat takes 3 or 6 fraction digits and no "Z".
    normalised = seconds + (f".{fraction[:6].ljust(6, '0')}" if fraction else "") + ("+00:00" if zone == "Z" else zone)
    try:
        return datetime.datetime.fromisoformat(normalised)
    except ValueError:
        raise problem from None


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
