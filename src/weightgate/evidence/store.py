"""The evidence store: signed records found by artifact digest, and checked against the trusted policy.

A store is a folder or a mirror URI with one JSON Lines file per artifact digest, `<sha256 hex>.jsonl`, one
record (a DSSE envelope or a Sigstore bundle) per line. Records are found by the digest the gate verified, so
they never carry over to another version, and listing them in a manifest is never what makes them count. The
file is read once, bounded, through the same mirrors (roots, TLS, limits) as artifact files.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from weightgate.evidence.dsse import RecordRejected, TrustedSigner, VerifiedStatement, verify_record
from weightgate.evidence.fetch import MirrorOpener, mirror_for, read_small
from weightgate.evidence.reviews import REVIEW_PREDICATE_TYPE, Review, review_of
from weightgate.facts import FileStatus
from weightgate.governance.eval_results import TEST_RESULT_PREDICATE_TYPE
from weightgate.mirror.base import MirrorUnavailable

log = logging.getLogger(__name__)

PREDICATE_TYPES = frozenset({REVIEW_PREDICATE_TYPE, TEST_RESULT_PREDICATE_TYPE})
MAX_STORE_FILE_BYTES = 64 * 1024 * 1024
MAX_RECORDS_PER_DIGEST = 10_000


@dataclass(frozen=True)
class CheckedRecord:
    """One line of a store file: believed (`verified` set) or not (`reason` says why)."""

    line: int
    verified: VerifiedStatement | None = None
    review: Review | None = None  # for a verified review record
    reason: str = ""
    untrusted: bool = False  # well-formed and signed, but by nobody the policy names


@dataclass(frozen=True)
class StoredRecords:
    """The records found for one artifact digest."""

    digest: str  # sha256:<hex> looked up
    uri: str
    status: FileStatus  # VERIFIED: read; MISSING: no records; UNREADABLE / NOT_CHECKED: fails closed
    records: tuple[CheckedRecord, ...] = ()
    reason: str = ""

    @property
    def readable(self) -> bool:
        return self.status in (FileStatus.VERIFIED, FileStatus.MISSING)

    @property
    def fetched(self) -> bool:
        """False for an offline run that left a network store unread: nothing can be judged from it."""
        return self.status is not FileStatus.NOT_CHECKED

    def reviews(self) -> list[CheckedRecord]:
        return [r for r in self.records if r.review is not None]

    def of_type(self, predicate_type: str) -> list[VerifiedStatement]:
        return [r.verified for r in self.records if r.verified and r.verified.predicate_type == predicate_type]


def store_file_name(digest: str) -> str:
    return f"{digest.removeprefix('sha256:').lower()}.jsonl"


def read_store(store: str, digest: str, opener: MirrorOpener, signers: Sequence[TrustedSigner],
               trust_root: Path | None, now: datetime.datetime | None = None) -> StoredRecords:
    """Read and check every record kept for `digest` in `store` (a folder or a URI)."""
    reference = store.rstrip("/") + "/" + store_file_name(digest)
    if "://" not in reference:
        reference = Path(reference).resolve().as_uri()
    try:
        mirror, path = mirror_for(reference, None, opener)
    except MirrorUnavailable as e:
        return StoredRecords(digest, reference, FileStatus.UNREADABLE, reason=str(e))
    small = read_small(mirror, path, MAX_STORE_FILE_BYTES)
    if small.missing:
        return StoredRecords(digest, small.uri, FileStatus.MISSING)
    if small.data is None:
        return StoredRecords(digest, small.uri, FileStatus.UNREADABLE, reason=small.reason)
    log.info("read evidence records %s (%d bytes)", small.uri, len(small.data))
    lines = [(n, line) for n, line in enumerate(small.data.split(b"\n"), 1) if line.strip()]
    if len(lines) > MAX_RECORDS_PER_DIGEST:
        return StoredRecords(digest, small.uri, FileStatus.UNREADABLE,
                             reason=f"{len(lines)} records, more than {MAX_RECORDS_PER_DIGEST}")
    return StoredRecords(digest, small.uri, FileStatus.VERIFIED, check_lines(lines, signers, trust_root, now))


def check_lines(lines: Sequence[tuple[int, bytes]], signers: Sequence[TrustedSigner],
                trust_root: Path | None, now: datetime.datetime | None = None) -> tuple[CheckedRecord, ...]:
    seen: dict[bytes, int] = {}
    checked = []
    for number, line in lines:
        text = line.strip()
        if text in seen:  # the same signature twice must not count twice, nor pass silently
            checked.append(CheckedRecord(number, reason=f"a copy of the record on line {seen[text]}"))
            continue
        seen[text] = number
        checked.append(check_record(number, text, signers, trust_root, now))
    return tuple(checked)


def check_record(number: int, data: bytes, signers: Sequence[TrustedSigner], trust_root: Path | None,
                 now: datetime.datetime | None = None) -> CheckedRecord:
    try:
        verified = verify_record(data, signers, PREDICATE_TYPES, trust_root, now)
        review = review_of(verified) if verified.predicate_type == REVIEW_PREDICATE_TYPE else None
    except RecordRejected as e:
        return CheckedRecord(number, reason=e.reason, untrusted=e.untrusted)
    return CheckedRecord(number, verified, review)


def not_fetched(store: str, digests: Mapping[str, str]) -> dict[str, StoredRecords]:
    """Offline, a network store is not read: recorded as such, never as 'no records'."""
    return {artifact_id: StoredRecords(digest, store, FileStatus.NOT_CHECKED,
                                       reason="offline run: the approvals store was not read")
            for artifact_id, digest in digests.items()}


def read_all(store: str | None, digests: Mapping[str, str], opener: MirrorOpener,
             signers: Sequence[TrustedSigner], trust_root: Path | None,
             now: datetime.datetime | None = None) -> dict[str, StoredRecords]:
    """artifact id -> its records; artifacts sharing a digest share one read."""
    if store is None:
        return {}
    by_digest: dict[str, StoredRecords] = {}
    for digest in dict.fromkeys(digests.values()):
        by_digest[digest] = read_store(store, digest, opener, signers, trust_root, now)
    return {artifact_id: by_digest[digest] for artifact_id, digest in digests.items()}
