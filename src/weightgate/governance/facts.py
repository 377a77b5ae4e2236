"""Governance facts gathered by the gate before the checks run: eval evidence read from the mirror and
registry entries looked up. Checks judge them; reporters (the ML-BOM) record them. Kept light: reporters
import this module, so it must not pull in the format inspectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from weightgate.facts import FileStatus, MirrorListing
from weightgate.formats import Format
from weightgate.registry import RegistryLookups

if TYPE_CHECKING:  # annotations only: reporters import this module and must stay light
    from weightgate.evidence.signatures import SignatureFacts
    from weightgate.evidence.store import StoredRecords
    from weightgate.governance.eval_results import EvalResult
    from weightgate.governance.model_card import ModelCardFacts
    from weightgate.manifest import Manifest

OFFLINE_REASON = "offline run: the evidence file was not fetched"


@dataclass(frozen=True)
class EvidenceFacts:
    """What was found at an artifact's eval_evidence reference."""

    artifact_id: str
    path: str  # as the manifest writes it
    uri: str
    status: FileStatus
    pinned_sha256: str
    sha256: str = ""
    size: int = 0
    format: Format | None = None
    named_digest: str | None = None  # the artifact digest the evidence says it evaluated
    unbound_reason: str = ""  # why no digest could be read from it ("" when named_digest is set)
    results: tuple[EvalResult, ...] = ()  # the suite results it reports (read in the same parse as the digest)
    malformed: str = ""  # why the JSON cannot be read one way only (a repeated key); such evidence never counts
    reason: str = ""  # why the file was not read

    @property
    def verified(self) -> bool:
        return self.status is FileStatus.VERIFIED

    @property
    def matches_pin(self) -> bool:
        return self.verified and self.sha256 == self.pinned_sha256.lower()

    @property
    def usable(self) -> bool:
        """Read, the pinned bytes, and not malformed: what the evidence says may be believed (WG619 otherwise)."""
        return self.matches_pin and not self.malformed


def not_fetched(manifest: Manifest) -> dict[str, EvidenceFacts]:
    """Offline: every evidence reference, recorded as not fetched (never as a pass)."""
    return {a.id: EvidenceFacts(a.id, a.eval_evidence.path, a.eval_evidence.path, FileStatus.NOT_CHECKED,
                                a.eval_evidence.sha256, reason=OFFLINE_REASON)
            for a in manifest.artifacts if a.eval_evidence is not None}


@dataclass(frozen=True)
class ApprovalView:
    """One approval as the gate judged it, for reports: a signed review record or a text approval."""

    approver: str  # the verified signer for a signed record; the manifest's text for a text approval
    role: str | None
    time: str  # UTC to the second for signed records, the day for text approvals
    digest: str | None  # what it names
    ticket: str | None
    decision: str  # approved / rejected
    signed: bool
    counted: bool  # it counts toward the role's approvals in this run
    record: str | None = None  # store URI and line of a signed record

    @property
    def day(self) -> str:
        return self.time[:10]


@dataclass(frozen=True)
class GovernanceFacts:
    """Everything gathered beside the verify pass: eval evidence, registry entries, model signatures, cards, signed
    records and listings."""

    evidence: Mapping[str, EvidenceFacts] = field(default_factory=dict)  # artifact id -> its eval evidence
    registry: RegistryLookups = field(default_factory=RegistryLookups)
    signatures: Mapping[str, SignatureFacts] = field(default_factory=dict)  # artifact id -> its model signature
    model_cards: Mapping[str, ModelCardFacts] = field(default_factory=dict)  # artifact id -> its model card
    records: Mapping[str, StoredRecords] = field(default_factory=dict)  # artifact id -> signed records for its digest
    records_store: str | None = None  # where they were looked up (None: no store configured)
    # artifact id -> the files beside its pinned ones (one listing per location, for the first artifact there)
    listings: Mapping[str, MirrorListing] = field(default_factory=dict)
