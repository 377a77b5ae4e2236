"""Which signed review records count for an artifact, and why the others do not.

A record counts only when its signature verified against a signer the trusted policy names (done when it was
read, `evidence.store`), its subject is the artifact's verified digest, its signer is listed for the record's role
and is not the artifact's owner (by identity skeleton or by key), it covers an environment the artifact is deployed
to, and it is neither future-dated nor older than the policy allows. Per role, the latest counting record decides:
a `rejected` blocks until a later approval by that role; approvals count once per distinct signer.
"""

from __future__ import annotations

import datetime
import enum
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from weightgate.evidence.dsse import TrustedSigner
from weightgate.evidence.policy import EvidencePolicy
from weightgate.evidence.reviews import Decision
from weightgate.evidence.store import CheckedRecord, StoredRecords
from weightgate.governance.digests import BoundDigest
from weightgate.governance.identities import same_person


class Problem(str, enum.Enum):
    INVALID = "invalid"  # malformed, altered, duplicate, wrong payload or predicate type
    UNTRUSTED = "untrusted"  # signed by nobody the policy names for this role
    OTHER_DIGEST = "other-digest"
    OWNER = "owner"
    STALE = "stale"  # future-dated or too old
    OTHER_ENVIRONMENT = "other-environment"


@dataclass(frozen=True)
class RecordProblem:
    record: CheckedRecord
    problem: Problem
    message: str


@dataclass(frozen=True)
class RoleOutcome:
    role: str
    approvals: tuple[CheckedRecord, ...] = ()  # counting approvals, one per distinct signer
    rejection: CheckedRecord | None = None  # the latest counting record, when it is a rejection


@dataclass(frozen=True)
class JudgedReviews:
    problems: tuple[RecordProblem, ...] = ()
    roles: dict[str, RoleOutcome] = field(default_factory=dict)  # lower-case role -> outcome

    def approvers(self, role: str) -> int:
        outcome = self.roles.get(role.lower())
        return 0 if outcome is None or outcome.rejection else len(outcome.approvals)

    @property
    def any_approval(self) -> bool:
        return any(o.approvals and not o.rejection for o in self.roles.values())


def judge_reviews(stored: StoredRecords, digest: BoundDigest, owner: str | None, environments: frozenset[str],
                  policy: EvidencePolicy, today: datetime.date, max_age_days: int) -> JudgedReviews:
    problems: list[RecordProblem] = []
    counting: list[CheckedRecord] = []
    for record in stored.records:
        problem = _problem(record, digest, owner, environments, policy, today, max_age_days)
        if problem is not None:
            problems.append(problem)
        elif record.review is not None:
            counting.append(record)
    return JudgedReviews(tuple(problems), _roles(counting))


def _problem(record: CheckedRecord, digest: BoundDigest, owner: str | None, environments: frozenset[str],
             policy: EvidencePolicy, today: datetime.date, max_age_days: int) -> RecordProblem | None:
    if record.verified is None:
        kind = Problem.UNTRUSTED if record.untrusted else Problem.INVALID
        return RecordProblem(record, kind, record.reason)
    review = record.review
    if review is None:
        return None  # a verified record of another kind (an eval result): judged by the eval checks
    signer = record.verified.signer
    if not any(digest.binds(f"sha256:{d}") for d in record.verified.subject_digests):
        subjects = ", ".join(f"sha256:{d}" for d in sorted(record.verified.subject_digests)) or "no digest"
        return RecordProblem(record, Problem.OTHER_DIGEST, f"the record by {signer} is for {subjects}, not "
                             f"{digest.value}")
    role = policy.role(review.role)
    if role is None or not any(same_signer(signer, s) for s in role.signers):
        listed = "the policy names no reviewers for it" if role is None else \
            f"its signers are {', '.join(str(s) for s in role.signers) or 'nobody'}"
        return RecordProblem(record, Problem.UNTRUSTED, f"{signer} is not allowed to sign for the {review.role!r} "
                             f"role ({listed})")
    if _is_owner(signer, owner, policy.all_signers):
        return RecordProblem(record, Problem.OWNER, f"the {review.role!r} review is signed by {signer}, who is the "
                             f"artifact's owner ({owner})")
    day = review.time.date()
    if day > today:
        return RecordProblem(record, Problem.STALE, f"the {review.role!r} review by {signer} is dated "
                             f"{review.time:%Y-%m-%dT%H:%M:%SZ}, in the future")
    if (today - day).days > max_age_days:
        return RecordProblem(record, Problem.STALE, f"the {review.role!r} review by {signer} was signed "
                             f"{(today - day).days} days ago, on {day} (policy: at most {max_age_days})")
    if review.environments and not _covers(review.environments, environments):
        return RecordProblem(record, Problem.OTHER_ENVIRONMENT, f"the {review.role!r} review by {signer} covers "
                             f"{', '.join(review.environments)}, not {', '.join(sorted(environments))}")
    return None


def _roles(counting: Iterable[CheckedRecord]) -> dict[str, RoleOutcome]:
    by_role: dict[str, list[CheckedRecord]] = {}
    for record in counting:
        assert record.review is not None
        by_role.setdefault(record.review.role.lower(), []).append(record)
    outcomes = {}
    for role, records in by_role.items():
        records.sort(key=_time_then_rejection)
        latest = records[-1]
        assert latest.review is not None
        if latest.review.decision is Decision.REJECTED:
            outcomes[role] = RoleOutcome(latest.review.role, rejection=latest)
            continue
        signers: dict[str, CheckedRecord] = {}
        for record in records:
            assert record.verified is not None and record.review is not None
            if record.review.decision is Decision.APPROVED:
                signers[_signer_key(record.verified.signer)] = record
        outcomes[role] = RoleOutcome(latest.review.role, tuple(signers.values()))
    return outcomes


def _time_then_rejection(record: CheckedRecord) -> tuple[datetime.datetime, int]:
    """Sorted by time; at the same second a rejection comes last, so it wins."""
    assert record.review is not None
    return record.review.time, int(record.review.decision is Decision.REJECTED)


def _signer_key(signer: TrustedSigner) -> str:
    if signer.key_fingerprint is not None:
        return "key:" + signer.key_fingerprint
    return f"{signer.kind}:{signer.identity.casefold()}:{signer.issuer or ''}"


def same_signer(a: TrustedSigner, b: TrustedSigner) -> bool:
    if a.key_fingerprint is not None or b.key_fingerprint is not None:
        return a.key_fingerprint == b.key_fingerprint
    return a.kind == b.kind and a.identity.casefold() == b.identity.casefold() and a.issuer == b.issuer \
        and a.ca_file == b.ca_file


def _is_owner(signer: TrustedSigner, owner: str | None, everyone: Iterable[TrustedSigner]) -> bool:
    """The owner signed it: the signer's identity is the owner's (skeleton), or the key is one the policy lists
    under the owner's identity anywhere."""
    if owner is None:
        return False
    if same_person(signer.identity, owner):
        return True
    return signer.key_fingerprint is not None and any(
        s.key_fingerprint == signer.key_fingerprint and same_person(s.identity, owner) for s in everyone)


def _covers(patterns: Iterable[str], environments: frozenset[str]) -> bool:
    """Every environment the artifact is deployed to is covered by the review (an undeployed artifact: any)."""
    if not environments:
        return True
    return all(any(fnmatch.fnmatchcase(e.lower(), p.lower()) for p in patterns) for e in environments)
