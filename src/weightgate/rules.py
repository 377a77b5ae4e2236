"""The rule catalog: every rule weightgate can report, declared once.

Checks refer to these objects, never to id strings. Reporters read id, title, help and fix from here; the
docs table in README.md is tested against this catalog so the two cannot drift.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DOCS_BASE = "https://github.com/weightgate/weightgate/blob/main/docs/rules.md"


class Severity(str, enum.Enum):
    """Severity by capability: critical can run code on load; high is exploitable or breaks integrity
    without code execution; medium weakens a control; low is hygiene."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def level(self) -> Level:
        return _LEVELS[self]

    @property
    def score(self) -> float:
        """GitHub code scanning's `security-severity` (CVSS-like 0-10)."""
        return _SCORES[self]


class Level(str, enum.Enum):
    """The coarse level users fail on, matching SARIF's result levels."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        return {Level.NOTE: 0, Level.WARNING: 1, Level.ERROR: 2}[self]


_LEVELS = {
    Severity.CRITICAL: Level.ERROR,
    Severity.HIGH: Level.ERROR,
    Severity.MEDIUM: Level.WARNING,
    Severity.LOW: Level.NOTE,
}
_SCORES = {Severity.CRITICAL: 9.8, Severity.HIGH: 8.1, Severity.MEDIUM: 5.5, Severity.LOW: 3.1}


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    title: str
    severity: Severity
    help: str
    fix: str

    @property
    def docs_url(self) -> str:
        # The anchor GitHub derives from the heading "### WG101 manifest-schema" in docs/rules.md.
        return f"{DOCS_BASE}#{self.id.lower()}-{self.name}"


RULES: dict[str, Rule] = {}


def _rule(id: str, name: str, title: str, severity: Severity, help: str, fix: str) -> Rule:
    if id in RULES:
        raise ValueError(f"duplicate rule id {id}")
    rule = Rule(id, name, title, severity, help, fix)
    RULES[id] = rule
    return rule


C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW

# WG1xx: manifest and policy validity
MANIFEST_SCHEMA = _rule(
    "WG101", "manifest-schema", "Manifest does not match the schema", H,
    "The deployment manifest has a field of the wrong type, a missing required field or an unknown field. "
    "Nothing in an invalid manifest can be trusted, so no artifact is verified until it is fixed.",
    "Fix the field named in the message; `weightgate schema manifest` prints the schema.",
)
DUPLICATE_ARTIFACT_ID = _rule(
    "WG102", "duplicate-artifact-id", "Two artifacts share one id", H,
    "Services, rollbacks and lineage refer to artifacts by id; a duplicate makes every such reference ambiguous.",
    "Give each artifact a unique id.",
)
UNKNOWN_ARTIFACT_REFERENCE = _rule(
    "WG103", "unknown-artifact-reference", "A service deploys an artifact the manifest does not declare", H,
    "A service lists an artifact id with no artifact entry, so what it deploys is never verified.",
    "Declare the artifact in `artifacts:` or remove it from the service.",
)
DUPLICATE_FILE_PATH = _rule(
    "WG104", "duplicate-file-path", "An artifact lists the same file twice", H,
    "Two entries for one path can carry different digests; which one is deployed is undefined.",
    "Keep one entry per file path.",
)
NO_FILES = _rule(
    "WG105", "no-files", "An artifact pins no files", H,
    "An artifact without a file list cannot be re-hashed, so nothing about its bytes is known.",
    "List every file of the artifact with its sha256 and size (`weightgate pin` can fill them in).",
)
ROLLBACK_UNKNOWN = _rule(
    "WG106", "rollback-unknown", "Rollback names an artifact the manifest does not declare", H,
    "A rollback that points at nothing cannot be deployed when the new version fails.",
    "Point `rollback:` at the id of a previously approved, pinned artifact declared in this manifest.",
)
ROLLBACK_UNPINNED = _rule(
    "WG107", "rollback-unpinned", "Rollback target is not pinned", H,
    "A rollback target with a mutable reference or without file digests may not be the version that was "
    "known good.",
    "Pin the rollback artifact's revision and list its files with sha256 and size.",
)

# WG2xx: references and sources
MUTABLE_REFERENCE = _rule(
    "WG201", "mutable-reference", "Artifact is referenced by a mutable name", H,
    "Branches, tags, 'latest', registry stages and aliases can be moved to other bytes after review, so what "
    "is deployed may not be what was approved.",
    "Pin the exact revision: a full 40-hex commit for Hugging Face and git, a version number for MLflow, a "
    "version id for object stores, a sha256 digest for URLs and OCI images (`weightgate pin` does this).",
)
PUBLIC_HUB_AT_DEPLOY = _rule(
    "WG202", "public-hub-at-deploy", "Artifact is pulled from a public hub at deploy time", H,
    "Pulling from a public hub at deploy time trusts the hub and the publisher on every deployment; a "
    "compromised account or a re-pushed revision reaches production directly.",
    "Copy the reviewed files to the internal mirror and point `mirror:` at it.",
)
MIRROR_NOT_APPROVED = _rule(
    "WG203", "mirror-not-approved", "Mirror location is outside the approved mirror roots", H,
    "Only mirrors the policy approves are controlled by the organisation; anything else can change unseen.",
    "Move the files under one of the policy's `mirrors.approved_roots`, or have the policy owner add the root.",
)
UNVERSIONED_OBJECT_KEY = _rule(
    "WG204", "unversioned-object-key", "Object-store key has no version id", H,
    "An object-store key without a version id can be overwritten in place; the policy requires versioned keys.",
    "Add the object's version id (`?versionId=` in the URI or `source.revision`).",
)
MIRROR_MISSING = _rule(
    "WG205", "mirror-missing", "Artifact has no mirror location", H,
    "Without an internal mirror location there is nothing weightgate can re-hash, and deploy would pull "
    "from the source.",
    "Set `mirror:` on the artifact (or `mirror_base:` on the manifest, or pass `--mirror`).",
)

# WG3xx: integrity
DIGEST_MISSING = _rule(
    "WG301", "digest-missing", "File has no sha256 or size", H,
    "Without a pinned sha256 and size, any bytes would pass.",
    "Add the file's sha256 and size (`sha256sum FILE`, `stat -c %s FILE`, or `weightgate pin`).",
)
DIGEST_MALFORMED = _rule(
    "WG302", "digest-malformed", "File sha256 is not 64 hex digits", H,
    "A malformed digest cannot be compared with anything; it is usually a truncated copy or the wrong "
    "algorithm.",
    "Replace it with the full lowercase hex sha256 of the file.",
)
FILE_MISSING = _rule(
    "WG303", "file-missing", "Pinned file is missing from the mirror", H,
    "The manifest pins a file that the mirror does not hold; what would be deployed is unknown.",
    "Upload the reviewed file to the mirror, or correct its path in the manifest.",
)
SIZE_MISMATCH = _rule(
    "WG304", "size-mismatch", "File size differs from the manifest", C,
    "The bytes in the mirror are not the bytes that were pinned: the file was replaced, truncated or "
    "tampered with.",
    "Find out why the mirror copy changed; restore the approved file or re-review and re-pin the new one.",
)
DIGEST_MISMATCH = _rule(
    "WG305", "digest-mismatch", "File sha256 differs from the manifest", C,
    "The bytes in the mirror are not the bytes that were pinned: the file was replaced or tampered with.",
    "Find out why the mirror copy changed; restore the approved file or re-review and re-pin the new one.",
)
PATH_ESCAPE = _rule(
    "WG306", "path-escape", "File path escapes the mirror root", H,
    "Absolute paths, `..` segments and symlinks leading out of the mirror let a manifest make the gate read "
    "(and a deploy job ship) files from anywhere. weightgate never follows them.",
    "Use a plain relative path inside the artifact's mirror folder, and replace escaping symlinks with files.",
)
FILE_UNREADABLE = _rule(
    "WG307", "file-unreadable", "File could not be read", H,
    "A file that cannot be read (permission, I/O error, not a regular file) cannot be verified; the gate "
    "fails closed.",
    "Make the file a readable regular file in the mirror, then re-run.",
)
MIRROR_UNAVAILABLE = _rule(
    "WG308", "mirror-unavailable", "Mirror could not be used", H,
    "The artifact's mirror could not be opened (unknown scheme, missing folder, unreachable), so none of its "
    "files were verified.",
    "Check the mirror location and credentials; `file://`, a local path, or a supported URI scheme is needed.",
)

# WG4xx: formats
FORMAT_PROHIBITED = _rule(
    "WG401", "format-prohibited", "File format is prohibited by policy", H,
    "The policy prohibits this format, usually because loading it can execute code (pickle and the PyTorch "
    "checkpoints built on it) or because its content cannot be inspected.",
    "Convert the weights to a permitted format (e.g. safetensors) and pin the converted file.",
)
FORMAT_SANDBOX = _rule(
    "WG402", "format-sandbox-only", "File format is permitted only in a sandbox", M,
    "The policy permits this format only where it is loaded in an isolated sandbox.",
    "Load it only in the sandboxed runtime, or convert it to a fully permitted format.",
)
FORMAT_UNKNOWN = _rule(
    "WG403", "format-unknown", "File format could not be identified from its bytes", H,
    "A file whose content matches no known format cannot be inspected and is not silently permitted.",
    "Replace it with a file in a recognised format, or waive this exact digest in the policy with a reason.",
)
FORMAT_MISMATCH = _rule(
    "WG404", "format-mismatch", "Content disagrees with the declared format or extension", H,
    "The bytes are not what the name or manifest says (e.g. a `.safetensors` that is really a pickle): a "
    "classic way to smuggle an unsafe format past a review.",
    "Find out where the file came from; replace it with a genuine file of the declared format, or declare "
    "the real format and let the format policy judge it.",
)
MALFORMED_FILE = _rule(
    "WG405", "malformed-file", "File is malformed for its format", H,
    "The file claims a format but its structure is invalid or truncated; loaders may misbehave on it and "
    "its content cannot be inspected.",
    "Re-export the file with the format's reference tooling and pin the new bytes.",
)

# WG6xx: governance
REQUIRED_FIELD_MISSING = _rule(
    "WG601", "required-field-missing", "A field the policy requires for this artifact class is missing", M,
    "The policy requires this evidence for the artifact's class; without it the promotion decision cannot "
    "be audited.",
    "Fill in the field named in the message.",
)
REVALIDATION_OVERDUE = _rule(
    "WG609", "revalidation-overdue", "Artifact was last validated too long ago", M,
    "Threats and policies change; an artifact not re-validated within the policy's age may no longer pass.",
    "Re-run the intake checks and update `last_validated`.",
)
WAIVER_EXPIRED = _rule(
    "WG610", "waiver-expired", "A waiver in the policy has expired", M,
    "An expired waiver no longer applies; the findings it covered are reported again.",
    "Renew the waiver with a new expiry and review, or fix what it waived.",
)
