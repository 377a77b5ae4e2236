"""Review records: a reviewer's signed decision about one artifact digest, for one role.

`weightgate approve` writes them; the gate believes them only after `dsse.verify_record` checked the signature
against the reviewers the trusted policy names. The predicate (`REVIEW_PREDICATE_TYPE`) is a public contract with
a JSON Schema (`weightgate schema approval`); a record whose predicate does not match it does not count.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from weightgate.evidence.dsse import STATEMENT_TYPE, RecordRejected, VerifiedStatement
from weightgate.jsonschemas import schema_errors

REVIEW_PREDICATE_TYPE = "https://weightgate.dev/attestation/review/v1"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Decision(str, enum.Enum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class LicenseTerms:
    """What a license reviewer checked: the expression and the rights that matter for deployment."""

    expression: str
    commercial_use: bool | None = None
    redistribution: bool | None = None
    derivatives: bool | None = None
    output_rights: str | None = None
    training_data_terms: str | None = None

    def as_json(self) -> dict[str, Any]:
        fields = {"expression": self.expression, "commercialUse": self.commercial_use,
                  "redistribution": self.redistribution, "derivatives": self.derivatives,
                  "outputRights": self.output_rights, "trainingDataTerms": self.training_data_terms}
        return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class Review:
    """The predicate of a verified review record."""

    role: str
    decision: Decision
    reviewer: str  # as the record claims it; who signed is the verified signer, not this text
    time: datetime.datetime
    ticket: str | None = None
    justification: str | None = None
    environments: tuple[str, ...] = ()
    license: LicenseTerms | None = None


def review_statement(artifact_id: str, digest_hex: str, review: Review) -> dict[str, Any]:
    """The in-toto Statement v1 of a review: subject is the artifact digest."""
    predicate: dict[str, Any] = {
        "role": review.role, "decision": review.decision.value, "reviewer": review.reviewer,
        "time": review.time.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT),
    }
    if review.ticket:
        predicate["ticket"] = review.ticket
    if review.justification:
        predicate["justification"] = review.justification
    if review.environments:
        predicate["environments"] = list(review.environments)
    if review.license is not None:
        predicate["license"] = review.license.as_json()
    return {"_type": STATEMENT_TYPE, "subject": [{"name": artifact_id, "digest": {"sha256": digest_hex}}],
            "predicateType": REVIEW_PREDICATE_TYPE, "predicate": predicate}


def review_of(verified: VerifiedStatement) -> Review:
    """The review a verified statement carries. Raises RecordRejected when the predicate does not match its
    schema, so a record that means something else never counts."""
    predicate = verified.statement["predicate"]
    errors = schema_errors("approval", predicate)
    if errors:
        where = "/".join(str(p) for p in errors[0][0]) or "predicate"
        raise RecordRejected(f"the review predicate does not match its schema at {where}: {errors[0][1]}")
    return Review(
        role=predicate["role"], decision=Decision(predicate["decision"]), reviewer=predicate["reviewer"],
        time=parse_time(predicate["time"]), ticket=predicate.get("ticket"),
        justification=predicate.get("justification"), environments=tuple(predicate.get("environments", ())),
        license=_license(predicate.get("license")),
    )


def _license(data: Mapping[str, Any] | None) -> LicenseTerms | None:
    if data is None:
        return None
    return LicenseTerms(data["expression"], data.get("commercialUse"), data.get("redistribution"),
                        data.get("derivatives"), data.get("outputRights"), data.get("trainingDataTerms"))


def parse_time(text: str) -> datetime.datetime:
    """UTC to the second, as written by `approve` (`2026-10-21T09:30:00Z`)."""
    try:
        return datetime.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise RecordRejected(f"the review time {text[:40]!r} is not UTC to the second (YYYY-MM-DDTHH:MM:SSZ)") from None


def environments_text(environments: Sequence[str]) -> str:
    return ", ".join(environments) if environments else "every environment"
