"""`weightgate admit`: the gate's decision enforced where the model is loaded.

An init container (or a model server's entrypoint) runs it in front of the files it is about to load: a local
folder or a mirror URI (s3://, hf://, https://, the same mirror code as `check`). It admits only when

  - a decision record (`check --attest`) for the artifact digest verifies with the gate's key, is the latest
    for that digest, says PASSED, was made under an accepted policy digest and is not older than a maximum age;
  - the location holds exactly the record's files: nothing missing, nothing beside them that a loader would
    pick up (a second pickle, a symlink), and every file streamed once and equal in size and sha256.

Every reason to refuse is reported, each with its own message; anything that cannot be read refuses (fail
closed). An admitted deployment is written down as a signed deployment record (see `evidence.deployment`).
"""

from __future__ import annotations

import datetime
import enum
import fnmatch
import hashlib
import itertools
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from weightgate.evidence.attestation import (
    EXTENSION,
    VSA_PREDICATE_TYPE,
    Outcome,
    time_verified,
    verify_attestations,
)
from weightgate.evidence.dsse import RecordRejected, TrustedSigner, verify_record
from weightgate.evidence.records import (
    RecordLine,
    RecordsUnavailable,
    claimed_statement,
    location_of,
    read_records,
)
from weightgate.facts import FileStatus, artifact_digest
from weightgate.manifest import PinnedFile
from weightgate.mirror import open_mirror
from weightgate.mirror.base import MAX_LISTED_FILES, EntryKind, Mirror, MirrorNotListable, MirrorUnavailable
from weightgate.mirror.local import unsafe_path_reason
from weightgate.mirror.settings import MirrorSettings
from weightgate.textsafety import redact_url
from weightgate.verify import DEFAULT_WORKERS, VerifyJob, verify_artifacts

MAX_SHOWN_PATHS = 20  # refusals list at most this many paths each; the count says how many more
_HEX64 = re.compile(r"[0-9a-f]{64}")
_AGE = re.compile(r"(\d{1,6})([dhms])")
_AGE_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


class Refusal(str, enum.Enum):
    """Why bytes were not admitted: one value, and one message, per reason."""

    CHANGED = "changed-bytes"
    MISSING = "missing-file"
    EXTRA = "extra-file"
    FAILED = "failed-record"
    NO_RECORD = "no-record-for-digest"
    UNTRUSTED = "untrusted-signer"
    OTHER_POLICY = "policy-not-accepted"
    EXPIRED = "expired-record"
    NO_FILE_LIST = "no-file-list"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Problem:
    refusal: Refusal
    message: str


@dataclass(frozen=True)
class AdmitRequest:
    target: str  # the folder or URI about to be loaded
    records: str  # the decision records: a file, a folder or a mirror URI
    key: TrustedSigner  # the gate's public key
    digest: str  # the artifact digest to admit, sha256:<hex>
    policy_digests: tuple[str, ...] = ()
    max_age: datetime.timedelta | None = None
    allow_extra: tuple[str, ...] = ()  # globs of files beside the record's that the loader never reads
    settings: MirrorSettings = field(default_factory=MirrorSettings)
    workers: int = DEFAULT_WORKERS
    now: datetime.datetime | None = None


@dataclass(frozen=True)
class Admission:
    digest: str
    target_uri: str  # credentials redacted
    problems: tuple[Problem, ...]
    statement: dict[str, Any] | None = None  # the PASSED decision relied on
    record: RecordLine | None = None  # where that decision was read
    files: int = 0  # files streamed and found equal
    ignored: tuple[str, ...] = ()  # records not believed (malformed, altered, another signer)

    @property
    def admitted(self) -> bool:
        return not self.problems and self.statement is not None

    @property
    def record_sha256(self) -> str:
        return hashlib.sha256(self.record.data).hexdigest() if self.record else ""


def parse_max_age(text: str) -> datetime.timedelta:
    """`30d`, `12h`, `90m` or `3600s`; a bare number is days. Raises ValueError."""
    value = text.strip().lower()
    match = _AGE.fullmatch(value if not value.isdigit() else value + "d")
    if match is None:
        raise ValueError(f"{text!r} is not an age such as 30d, 12h, 90m or 3600s")
    return datetime.timedelta(**{_AGE_UNITS[match.group(2)]: int(match.group(1))})


def admit(request: AdmitRequest) -> Admission:
    """Judge the records first (no bytes are read for a refused decision), then the bytes."""
    target_uri = redact_url(location_of(request.target).uri)
    try:
        lines = read_records(request.records, request.settings)
    except RecordsUnavailable as e:
        return Admission(request.digest, target_uri, (Problem(Refusal.UNREACHABLE, f"{e}; nothing is admitted "
                                                              "without the decision records"),))
    text = "\n".join(line.data.decode("utf-8", errors="replace") for line in lines)
    verdict = verify_attestations(text, request.key, request.digest, request.policy_digests, now=request.now)
    problem = _decision_problem(verdict.outcome, verdict.message, verdict.statement, lines, request)
    if problem is not None or verdict.statement is None:
        return Admission(request.digest, target_uri, (problem,) if problem else (), ignored=verdict.rejected)
    files, problem = _file_list(verdict.statement)
    if problem is not None:
        return Admission(request.digest, target_uri, (problem,), verdict.statement, ignored=verdict.rejected)
    record = _record_line(lines, verdict.statement, request.key)
    problems, checked = _check_bytes(request, files)
    return Admission(request.digest, target_uri, tuple(problems), verdict.statement, record, checked,
                     verdict.rejected)


# --- the decision -----------------------------------------------------------------------------------------

def _decision_problem(outcome: Outcome, message: str, statement: dict[str, Any] | None, lines: Sequence[RecordLine],
                      request: AdmitRequest) -> Problem | None:
    if outcome is Outcome.FAILED:
        return Problem(Refusal.FAILED, f"the gate's latest decision is not PASSED: {message}")
    if outcome is Outcome.OTHER_POLICY:
        return Problem(Refusal.OTHER_POLICY, message)
    if outcome is Outcome.ABSENT:
        return _absent(lines, request)
    assert statement is not None
    return _expired(statement, request)


def _absent(lines: Sequence[RecordLine], request: AdmitRequest) -> Problem:
    """No record for the digest verifies: say whether decision records for it were signed by someone else, or
    the records name other digests, or there are none, so the operator knows which thing to fix. What an
    unverified record claims only chooses the message; it never admits anything."""
    wanted = request.digest.removeprefix("sha256:").lower()
    foreign = 0
    others: set[str] = set()
    for line in lines:
        claimed = claimed_statement(line.data)
        if claimed is None or claimed.get("predicateType") != VSA_PREDICATE_TYPE:
            continue
        digests = {str((s.get("digest") or {}).get("sha256", "")).lower() for s in claimed["subject"]
                   if isinstance(s, dict) and isinstance(s.get("digest"), dict)}
        if wanted not in digests:
            others |= digests
            continue
        try:
            verify_record(line.data, [request.key], {VSA_PREDICATE_TYPE})
        except RecordRejected as e:
            foreign += e.untrusted
    if foreign:
        return Problem(Refusal.UNTRUSTED, f"{foreign} decision record(s) for {request.digest} are signed by another "
                       f"key, not the trusted {request.key}")
    if others:
        shown = ", ".join(f"sha256:{d}" for d in sorted(others)[:MAX_SHOWN_PATHS])
        return Problem(Refusal.NO_RECORD, f"the decision records are for other artifact digests ({shown}), "
                       f"none for {request.digest}")
    return Problem(Refusal.NO_RECORD, f"no decision record for {request.digest} in {len(lines)} record(s) read")


def _expired(statement: dict[str, Any], request: AdmitRequest) -> Problem | None:
    if request.max_age is None:
        return None
    made = time_verified(statement["predicate"])
    now = request.now or datetime.datetime.now(datetime.timezone.utc)
    if made is None or now - made > request.max_age:
        when = made.isoformat() if made else statement["predicate"].get("timeVerified")
        return Problem(Refusal.EXPIRED, f"the PASSED decision for {request.digest} was signed at "
                       f"{when}, longer ago than the maximum age "
                       f"({request.max_age}); re-run the gate")
    return None


def _file_list(statement: dict[str, Any]) -> tuple[list[PinnedFile], Problem | None]:
    """The record's files, only when they are well-formed and their digest is the subject's: a file list that
    does not add up to the signed digest admits nothing."""
    extension = statement["predicate"].get(EXTENSION)
    entries = extension.get("files") if isinstance(extension, dict) else None
    if not isinstance(entries, list) or not entries:
        return [], Problem(Refusal.NO_FILE_LIST, "the PASSED decision record carries no file list (written by a "
                           "weightgate before 0.x admit support); re-run `check --attest`")
    files = []
    for i, entry in enumerate(entries):
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str) and isinstance(entry.get("size"), int)
                and isinstance(entry.get("sha256"), str) and _HEX64.fullmatch(entry["sha256"])
                and entry["size"] >= 0 and unsafe_path_reason(entry["path"]) is None):
            return [], Problem(Refusal.NO_FILE_LIST, f"the decision record's file list entry {i} is malformed")
        files.append(PinnedFile(entry["path"], entry["sha256"], entry["size"], None, ("record", "files", i)))
    digest = artifact_digest((f.path, f.sha256 or "", f.size or 0) for f in files)
    subjects = {str((s.get("digest") or {}).get("sha256", "")) for s in statement["subject"]}
    if len({f.path for f in files}) != len(files) or digest.removeprefix("sha256:") not in subjects:
        return [], Problem(Refusal.NO_FILE_LIST, "the decision record's file list does not add up to its subject "
                           "digest")
    return files, None


def _record_line(lines: Sequence[RecordLine], statement: dict[str, Any], key: TrustedSigner) -> RecordLine | None:
    """The line the decision was read from, to name it (by sha256) in the deployment record."""
    for line in lines:
        try:
            if verify_record(line.data, [key], {VSA_PREDICATE_TYPE}).statement == statement:
                return line
        except RecordRejected:
            continue
    return None


# --- the bytes --------------------------------------------------------------------------------------------

def _check_bytes(request: AdmitRequest, files: list[PinnedFile]) -> tuple[list[Problem], int]:
    location = location_of(request.target)
    shown = redact_url(location.uri)
    try:
        mirror = open_mirror(location, request.settings)
    except MirrorUnavailable as e:
        return [Problem(Refusal.UNREACHABLE, f"{shown} cannot be opened: {e}")], 0
    listed, problems = _listing(mirror, shown, {f.path for f in files}, request.allow_extra)
    present = [f for f in files if f.path in listed]
    missing = [f.path for f in files if f.path not in listed]
    if missing:
        problems.append(Problem(Refusal.MISSING, f"{len(missing)} file(s) of the record are missing from {shown}: "
                                f"{_paths(missing)}"))
    if present:
        problems += _streamed(mirror, shown, present, request.workers)
    return problems, len(present)  # the count shown when admitted, i.e. when every one of them was equal


def _listing(mirror: Mirror, shown: str, recorded: Collection[str], allowed: Sequence[str] = ()
             ) -> tuple[set[str], list[Problem]]:
    """The plain files listed, and a problem for anything else a loader could pick up. Plain files matching an
    `allowed` glob (an eval report beside the weights) are let through; a symlink or a device never is."""
    try:
        entries = list(itertools.islice(mirror.list_files(), MAX_LISTED_FILES + 1))
    except MirrorNotListable as e:
        return set(recorded), [Problem(Refusal.UNREACHABLE, f"{shown} cannot be listed ({e}), so files beside the "
                                       "recorded ones cannot be ruled out")]
    except (MirrorUnavailable, OSError) as e:
        return set(), [Problem(Refusal.UNREACHABLE, f"{shown} cannot be listed: {e}")]
    if len(entries) > MAX_LISTED_FILES:
        return set(), [Problem(Refusal.UNREACHABLE, f"{shown} holds more than {MAX_LISTED_FILES} entries")]
    extra = [e for e in entries if e.kind is not EntryKind.FILE
             or (e.path not in recorded and not any(fnmatch.fnmatchcase(e.path, g) for g in allowed))]
    problems = []
    if extra:
        described = [e.path if e.kind is EntryKind.FILE else f"{e.path} ({e.kind.value}"
                     + (f" to {e.link_target})" if e.link_target is not None else ")") for e in extra]
        problems.append(Problem(Refusal.EXTRA, f"{len(extra)} file(s) in {shown} are not in the decision record, "
                                f"and a loader could pick them up: {_paths(described)}"))
    return {e.path for e in entries if e.kind is EntryKind.FILE}, problems


def _streamed(mirror: Mirror, shown: str, files: list[PinnedFile], workers: int) -> list[Problem]:
    (facts,) = verify_artifacts([VerifyJob("admit", mirror.uri, mirror, tuple(files))], workers)
    changed, missing, unread = [], [], []
    for f in facts.files:
        if f.matches_pin:
            continue
        if f.status is FileStatus.MISSING:
            missing.append(f.path)
        elif f.status is FileStatus.SIZE_MISMATCH or f.differs_from_pin:
            found = f"sha256 {f.sha256}" if f.verified else f"{f.size} bytes"
            changed.append(f"{f.path} ({found}, the record says sha256 {f.pinned_sha256}, {f.pinned_size} bytes)")
        else:
            unread.append(f"{f.path} ({f.shown_status}: {f.reason})")
    problems = []
    if changed:
        problems.append(Problem(Refusal.CHANGED, f"{len(changed)} file(s) in {shown} are not the bytes the gate "
                                f"passed: {_paths(changed)}"))
    if missing:
        problems.append(Problem(Refusal.MISSING, f"{len(missing)} file(s) vanished from {shown} while being read: "
                                f"{_paths(missing)}"))
    if unread:
        problems.append(Problem(Refusal.UNREACHABLE, f"{len(unread)} file(s) in {shown} could not be read whole: "
                                f"{_paths(unread)}"))
    return problems


def _paths(paths: Sequence[str]) -> str:
    more = len(paths) - MAX_SHOWN_PATHS
    return ", ".join(paths[:MAX_SHOWN_PATHS]) + (f" and {more} more" if more > 0 else "")
