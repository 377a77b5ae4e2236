"""Machine-readable report: every finding, every verified fact and the governance evidence gathered, in one
JSON document (schemas/report.schema.json).

The governance object of each artifact is rendered from the facts the gate gathered (signatures, model cards,
eval evidence, registry lookups) and from the same views of them the ML-BOM uses (`Report.digests`,
`Report.restrictions`, `verification_of`, `lookup_status`); nothing is fetched or judged here. What a run did
not fetch is written with its status and the reason (`not-checked`, "offline run: ..."), never left out.
Keys are sorted, so equal inputs give byte-identical reports apart from `timestamp`.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from weightgate.evidence.signatures import SignatureFacts, SignatureStatus
from weightgate.facts import FileFacts, FileStatus, MirrorListing
from weightgate.findings import Finding
from weightgate.governance.deployment import environments_of, tier_of
from weightgate.governance.digests import BoundDigest
from weightgate.governance.facts import ApprovalView, EvidenceFacts
from weightgate.governance.inheritance import verdict_of
from weightgate.governance.licenses import LicenseVerdict
from weightgate.governance.model_card import CardStatus, ModelCardFacts, card_path
from weightgate.lineage import BaseLink
from weightgate.manifest import Artifact, Manifest
from weightgate.report.interface import LookupStatus, Report, lookup_status, verification_of
from weightgate.report.locations import portable
from weightgate.rules import REVALIDATION_OVERDUE
from weightgate.runtime.facts import RuntimeFacts

SCHEMA_ID = "https://weightgate.dev/schemas/report.schema.json"
# Facts a Report should carry for what the manifest declares, but does not (a Report built by hand, or a
# gate that skipped them): shown as not checked, never as absent.
NOT_GATHERED = "not gathered in this run"

JsonObject = dict[str, Any]


def finding_json(report: Report, f: Finding) -> JsonObject:
    return {
        "rule": f.rule.id, "name": f.rule.name, "severity": f.severity.value, "level": f.level.value,
        "message": f.message, "fix": f.fix_text, "help_uri": f.rule.docs_url,
        "path": report.relative(f.location.path), "line": f.location.line,
        "artifact": f.artifact_id or None, "file": f.file_path or None, "confidence": f.confidence,
        "evidence": dict(f.evidence), "fingerprint": f.fingerprint,
        "waived": None if f.waived_by is None else {"reason": f.waived_by.reason, "expires": f.waived_by.expires},
    }


def file_json(f: FileFacts) -> JsonObject:
    return {
        "path": f.path, "status": f.shown_status, "uri": f.uri, "sha256": f.sha256 or None,
        "size": f.size if f.verified else None, "format": f.format.value if f.format else None,
        "details": f.details, "reason": f.reason or None,
    }


class JsonReporter:
    def render(self, report: Report) -> str:
        doc = {
            "$schema": SCHEMA_ID,
            "tool": {"name": "weightgate", "version": report.tool_version},
            "timestamp": report.timestamp.isoformat(),
            "verdict": report.judgement.value,
            "enforced": report.enforced,
            "fail_on": report.fail_on.value,
            "offline": report.offline,
            "manifest": report.checked_manifest_shown,
            "policy": {"source": report.policy.source, "sha256": report.policy.sha256},
            "findings": [finding_json(report, f) for f in report.findings],
            "artifacts": artifacts_json(report),
            "scanned": [file_json(f) for f in report.scanned],
            "runtime": runtime_json(report.runtime) if report.runtime is not None else None,
        }
        return json.dumps(portable(doc, report.source_root), indent=2, sort_keys=True) + "\n"


# --- runtime -----------------------------------------------------------------------------------------------

def runtime_json(runtime: RuntimeFacts) -> JsonObject:
    """The runtime facts as gathered (runtime/collect.py): nothing is matched again here."""
    snapshot = runtime.snapshot
    return {
        "advisories": {"status": snapshot.status.value, "location": snapshot.location, "sha256": snapshot.sha256,
                       "records": snapshot.records, "reason": snapshot.reason,
                       "newest_modified": snapshot.newest_modified.isoformat() if snapshot.newest_modified else None},
        "files": [{"owner_kind": f.owner_kind.value, "owner": f.owner, "path": f.path, "kind": f.kind.value,
                   "status": f.status.value, "sha256": f.sha256, "problems": len(f.problems), "reason": f.reason,
                   "requirements": [{"name": r.name, "specifier": r.specifier, "version": r.version, "line": r.line}
                                    for r in f.requirements]} for f in runtime.files],
        "vulnerable": [{"owner": v.file.owner, "path": v.file.path, "package": v.requirement.name,
                        "version": v.requirement.version or "",
                        "advisories": [{"id": a.id, "aliases": list(a.aliases), "fixed": list(a.fixed),
                                        "severity": a.rating.label if a.rating else None,
                                        "score": a.rating.score if a.rating and a.rating.vector else None}
                                       for a in v.advisories]} for v in runtime.vulnerable],
    }


# --- artifacts ---------------------------------------------------------------------------------------------

def artifacts_json(report: Report) -> list[JsonObject]:
    """Every artifact of the manifest (the first of a duplicated id, as the checks do), read or not."""
    if report.manifest is None:
        return []
    manifest = report.manifest
    first = [manifest.artifact(artifact_id) for artifact_id in dict.fromkeys(a.id for a in manifest.artifacts)]
    # As judged in this run (as of its day), waived or not: read from the findings, never judged again here.
    overdue = frozenset(f.artifact_id for f in report.findings if f.rule is REVALIDATION_OVERDUE)
    return [artifact_json(report, manifest, artifact, overdue) for artifact in first if artifact is not None]


def artifact_json(report: Report, manifest: Manifest, artifact: Artifact, overdue: frozenset[str]) -> JsonObject:
    facts = report.facts_for(artifact.id)
    return {
        "id": artifact.id,
        "digest": facts.digest if facts else None,  # only of bytes read in this run
        "mirror": facts.mirror_uri if facts else None,
        "verification": verification_of(facts).value,
        "files": [file_json(f) for f in facts.files] if facts else [],
        "governance": governance_json(report, manifest, artifact, overdue),
        "unpinned": _unpinned(report.governance.listings.get(artifact.id)),
    }


def _unpinned(listing: MirrorListing | None) -> JsonObject | None:
    """What lies beside the pinned files (every file, unlike the findings, which stop at a bound per rule)."""
    if listing is None:
        return None
    return {
        "status": listing.status.value, "uri": listing.uri, "listed": listing.listed, "reason": listing.reason or None,
        "files": [{"path": u.path, "uri": u.uri, "size": u.size, "code": u.code or None,
                   "format": u.format.value if u.format else None, "link_target": u.link_target,
                   "special": u.special} for u in listing.unpinned],
        "superseded": [{"path": p.path, "uri": p.uri, "pinned_version": p.pinned, "current_version": p.current}
                       for p in listing.superseded],
    }


def governance_json(report: Report, manifest: Manifest, artifact: Artifact, overdue: frozenset[str]) -> JsonObject:
    bound = report.digests.get(artifact.id)
    gathered = report.governance
    return {
        "owner": artifact.owner,
        "environments": sorted(environments_of(manifest, artifact.id)),
        "source_tier": tier_of(report.policy.governance, artifact),
        "binding": _binding(bound),
        "approvals": [_approval(a, bound) for a in report.approvals_of(artifact)],
        "signature": _signature(artifact, gathered.signatures.get(artifact.id)),
        "model_card": _model_card(artifact, gathered.model_cards.get(artifact.id)),
        "eval_evidence": _eval_evidence(artifact, gathered.evidence.get(artifact.id), bound),
        "registry_entry": _registry_entry(report, artifact, bound),
        "license": _license(report, artifact),
        "base_models": [_base(report, link) for link in report.lineage.links(artifact.id)],
        "rollback": _rollback(report, manifest, artifact),
        "freshness": _freshness(report, artifact, artifact.id in overdue),
    }


# --- what evidence binds to --------------------------------------------------------------------------------

def _binding(bound: BoundDigest | None) -> JsonObject | None:
    """The digest approvals and evidence must name; None when no evidence can bind (files not all pinned, or
    read but not all verified: the integrity findings say which)."""
    if bound is None:
        return None
    return {"digest": bound.value, "source": "verified" if bound.verified else "declared",
            "declared_digest": bound.declared, "bytes_differ_from_pins": bound.bytes_differ_from_pins}


def _binds(bound: BoundDigest | None, named: str | None) -> bool | None:
    """Does evidence naming `named` name the artifact digest this report stands on (the bytes read, or the
    pins' digest when nothing was read)? None when nothing can bind or nothing is named. The BOM's
    `matches-artifact-digest` says the same. Evidence naming the pins while the mirror holds other bytes is
    `false` here: it is about other bytes (the integrity findings fail the gate for that, once, and
    `binding.bytes_differ_from_pins` shows it)."""
    return None if bound is None or named is None else named == bound.value


def _approval(approval: ApprovalView, bound: BoundDigest | None) -> JsonObject:
    return {"approver": approval.approver, "role": approval.role, "date": approval.day, "time": approval.time,
            "digest": approval.digest, "ticket": approval.ticket, "binds": _binds(bound, approval.digest),
            "decision": approval.decision, "signed": approval.signed, "counted": approval.counted,
            "record": approval.record}


# --- gathered evidence -------------------------------------------------------------------------------------

def _signature(artifact: Artifact, facts: SignatureFacts | None) -> JsonObject | None:
    if artifact.signature is None:
        return None
    reference = artifact.signature.bundle
    s = facts or SignatureFacts(artifact.id, reference, reference, SignatureStatus.NOT_CHECKED, reason=NOT_GATHERED)
    return {
        "status": s.status.value, "bundle": s.bundle, "uri": s.uri, "bundle_sha256": s.bundle_sha256 or None,
        "signer": s.signer or None,  # verified only when status is `verified`
        "signed_files": len(s.files) if s.verified else None,
        "serialization": "/".join(s.serialization) if s.verified else None,
        "reason": s.reason or None,
    }


def _model_card(artifact: Artifact, facts: ModelCardFacts | None) -> JsonObject | None:
    path = card_path(artifact)
    if path is None:
        return None
    card = facts or ModelCardFacts(artifact.id, path, path, CardStatus.NOT_CHECKED,
                                   any(f.path == path for f in artifact.files), reason=NOT_GATHERED)
    return {
        "path": card.path, "uri": card.uri, "status": card.status.value, "pinned": card.pinned,
        "sha256": card.sha256 or None, "license": card.license, "license_name": card.license_name,
        "base_models": list(card.base_models), "metadata": sorted(card.present), "reason": card.reason or None,
    }


def _eval_evidence(artifact: Artifact, facts: EvidenceFacts | None, bound: BoundDigest | None) -> JsonObject | None:
    declared = artifact.eval_evidence
    if declared is None:
        return None
    e = facts or EvidenceFacts(artifact.id, declared.path, declared.path, FileStatus.NOT_CHECKED, declared.sha256,
                               reason=NOT_GATHERED)
    return {
        "path": e.path, "uri": e.uri, "status": e.status.value, "pinned_sha256": e.pinned_sha256,
        "sha256": e.sha256 if e.verified else None,  # only bytes read in this run
        "matches_pin": e.matches_pin if e.verified else None,
        "artifact_digest": e.named_digest, "binds": _binds(bound, e.named_digest) if e.verified else None,
        "unbound_reason": e.unbound_reason or None, "reason": e.reason or None,
    }


def _registry_entry(report: Report, artifact: Artifact, bound: BoundDigest | None) -> JsonObject | None:
    entry = artifact.registry_entry
    if entry is None:
        return None
    lookups = report.governance.registry
    status = lookup_status(lookups, artifact.id)
    record = lookups.record(artifact.id) if status is LookupStatus.FOUND else None
    return {
        "registry": entry.registry, "id": entry.id, "stage": entry.stage,  # as the manifest names it
        "lookup": status.value, "registry_uri": lookups.uri, "reason": _lookup_reason(report, status),
        "record": None if record is None else {
            "stage": record.stage, "digest": record.digest, "binds": _binds(bound, record.digest),
            "location": f"{record.location.path}:{record.location.line}",
            "approvals": [{"approver": a.approver, "role": a.role, "date": a.date, "digest": a.digest,
                           "binds": _binds(bound, a.digest)} for a in record.approvals],
        },
    }


def _lookup_reason(report: Report, status: LookupStatus) -> str | None:
    lookups = report.governance.registry
    if status is LookupStatus.UNAVAILABLE:
        return lookups.unavailable
    if status is LookupStatus.NOT_CHECKED:
        return ("offline run: the registry was not consulted" if lookups.offline or report.offline
                else "no model registry is configured (policy `registry.file` or --registry)")
    return None


# --- license, lineage, rollback, freshness -----------------------------------------------------------------

def _license(report: Report, artifact: Artifact) -> JsonObject:
    """The artifact's own license judged against the policy, and the restrictions it carries in effect
    (its own and every base's, each with the chain of bases it comes down)."""
    declared = artifact.license
    verdict = verdict_of(declared.spdx if declared else None, report.policy.governance.licenses)
    review = declared.review if declared else None
    effective = report.restrictions.effective(artifact)
    return {
        "expression": declared.spdx if declared else None,
        "verdict": _verdict(verdict) if isinstance(verdict, LicenseVerdict) else None,
        "error": verdict if isinstance(verdict, str) else None,
        "review": None if review is None else {"reviewer": review.reviewer, "date": review.date.isoformat(),
                                               "outcome": review.outcome, "record": review.record},
        "effective_restrictions": [
            {"restriction": r.value, "origin_license": i.origin_license or None, "via": [link.name for link in i.chain]}
            for r, i in sorted(effective.items(), key=lambda item: item[0].value)
        ],
    }


def _verdict(verdict: LicenseVerdict) -> JsonObject:
    return {
        "normalized": verdict.parsed.expression, "denied": list(verdict.denied),
        "needs_review": list(verdict.needs_review), "undeclared": list(verdict.undeclared),
        "restrictions": sorted(r.value for r in verdict.restrictions),
    }


def _base(report: Report, link: BaseLink) -> JsonObject:
    ref = link.ref
    kind = "external" if link.external else "dangling" if link.dangling else "manifest"
    target_facts = report.facts_for(link.target.id) if link.target is not None else None
    return {
        "name": link.name, "kind": kind, "artifact": ref.artifact, "uri": ref.uri, "revision": ref.revision,
        "declared_digest": ref.digest, "license": ref.license,
        "verification": verification_of(target_facts).value,  # external bases are never read
    }


def _rollback(report: Report, manifest: Manifest, artifact: Artifact) -> JsonObject | None:
    if artifact.rollback is None:
        return None
    target = manifest.artifact(artifact.rollback)
    facts = report.facts_for(target.id) if target is not None else None
    bound = report.digests.get(target.id) if target is not None else None
    return {
        "target": artifact.rollback, "in_manifest": target is not None,
        "verification": verification_of(facts).value,
        "digest": bound.value if bound else None,
        # Whether any of the target's approvals names that digest (the target's own entry lists them).
        "approved": None if target is None or bound is None else any(
            a.counted for a in report.approvals_of(target)),
    }


def _freshness(report: Report, artifact: Artifact, overdue: bool) -> JsonObject:
    validated = artifact.last_validated
    days = report.policy.revalidation_days
    return {
        "last_validated": validated.isoformat() if validated else None,
        "revalidation_days": days,
        "revalidate_by": (validated + datetime.timedelta(days=days)).isoformat() if validated else None,
        # Never validated is unknown here; the required-fields rule reports a missing date.
        "overdue": None if validated is None else overdue,
    }
