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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from weightgate import __version__, refs
from weightgate.errors import InputFileError
from weightgate.evidence.dsse import STATEMENT_TYPE, RecordRejected, TrustedSigner, sign_statement, verify_record
from weightgate.findings import Waiver
from weightgate.governance.digests import evidence_digests
from weightgate.report.interface import Report
from weightgate.rules import DOCS_BASE

VSA_PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = DOCS_BASE.split("/blob/", 1)[0]
# VSA's verifiedLevels: FAILED when policy verification failed; otherwise custom values, which must not start
# with SLSA_. weightgate verifies intake policy, not build provenance, so it claims no SLSA build level.
PASSED_LEVEL = "WEIGHTGATE_INTAKE_PASSED"
FAILED_LEVEL = "FAILED"
EXTENSION = "weightgate"  # where the predicate carries what VSA has no field for (failed rules, waivers)
MAX_ATTESTATION_BYTES = 64 * 1024 * 1024


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
    pins, and no unwaived finding at or above the fail level names it or the deployment as a whole (a
    manifest-wide problem, such as an expired waiver or an unmonitored service, fails every record)."""
    manifest = report.manifest
    if manifest is None:
        return []
    bound = evidence_digests(manifest, report.facts)
    failing = [f for f in report.active_findings if report.fail_on.fails(f.level)]
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
    return "".join(json.dumps(sign_statement(statement(d, report), signer), sort_keys=True) + "\n"
                   for d in decisions(report))


# --- verifying ---------------------------------------------------------------------------------------------

class Outcome(str, enum.Enum):
    PASSED = "passed"  # a record for the digest verifies and says PASSED (the latest such record)
    FAILED = "failed"  # the latest verified record for the digest says FAILED
    ABSENT = "absent"  # no record for the digest verifies with the key


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    statement: dict[str, Any] | None = None
    rejected: tuple[str, ...] = ()  # why envelopes were not believed (bad signature, malformed, ...)


def verify_attestations(text: str, key: TrustedSigner, digest: str) -> Verdict:
    """Judge `digest` by the records in `text` whose signatures verify with `key`."""
    if not refs.is_sha256_hex(digest.removeprefix("sha256:")):
        raise InputFileError(f"{digest!r} is not an artifact digest", hint="--digest takes sha256:<64 hex digits>")
    wanted = digest.removeprefix("sha256:")
    rejected: list[str] = []
    matching: list[dict[str, Any]] = []
    for number, line in _lines(text):
        try:
            document = _verified_statement(line, key)
        except _NotBelieved as e:
            rejected.append(f"line {number}: {e}")
            continue
        if any((s.get("digest") or {}).get("sha256") == wanted for s in document["subject"]):
            matching.append(document)
    if not matching:
        return Verdict(Outcome.ABSENT, f"no record for {digest} verifies with the key", None, tuple(rejected))
    latest = max(matching, key=lambda d: str(d["predicate"].get("timeVerified", "")))
    result = latest["predicate"].get("verificationResult")
    predicate = latest["predicate"]
    failed = ", ".join((predicate.get(EXTENSION) or {}).get("failedRules") or []) or "none listed"
    if result == Result.PASSED.value:
        return Verdict(Outcome.PASSED, f"{digest} PASSED at {predicate.get('timeVerified')} under policy "
                       f"{predicate.get('policy', {}).get('uri')}", latest, tuple(rejected))
    return Verdict(Outcome.FAILED, f"{digest} {result} at {predicate.get('timeVerified')} (failed rules: {failed})",
                   latest, tuple(rejected))


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
