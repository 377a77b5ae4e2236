"""The policy: what the gate enforces. A user policy overrides the strict built-in default per section."""

from __future__ import annotations

import datetime
import enum
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightgate.errors import PolicyError
from weightgate.evidence.policy import (
    EvidencePolicy,
    Incident,
    ModelCardPolicy,
    MonitoringPolicy,
    SignaturePolicy,
    build_evidence_policy,
    build_incidents,
    build_model_card_policy,
    build_monitoring,
    build_signatures,
)
from weightgate.findings import Location, Waiver
from weightgate.formats import Format
from weightgate.formats.pickle_allowlist import policy_entry_problem
from weightgate.formats.pickle_profiles import profile_globals
from weightgate.governance.policy import GovernancePolicy, build_governance
from weightgate.jsonschemas import schema_errors
from weightgate.rules import Level
from weightgate.yamlsource import LocatedDocument, from_located_json, load_document, parse_document

DEFAULT_POLICY_NAME = "<built-in default policy>"
GOVERNANCE_SECTIONS = ("sources", "approvals", "licenses", "eval_evidence", "registry", "signatures", "model_cards",
                       "monitoring")
# Fields that name *trust material* by a path relative to the policy file (a name or a list of names; `*` walks
# a list). With --policy-ref these files are read at the target revision like the policy itself, never from the
# change under review. A new such field belongs here; tests/test_policy_ref.py holds every schema field described
# as "relative to the policy file" to this list or to LOCATION_FIELDS.
TRUST_FILE_FIELDS: tuple[tuple[str, ...], ...] = (
    ("mirrors", "ca_bundle"),
    ("registry", "file"),
    ("signatures", "trust_root"),
    ("signatures", "signers", "*", "keys"),
    ("signatures", "signers", "*", "certificates"),
    ("approvals", "trust_root"),
    ("approvals", "reviewers", "*", "signers", "*", "key"),
    ("approvals", "reviewers", "*", "signers", "*", "ca"),
    ("eval_evidence", "signers", "*", "key"),
    ("eval_evidence", "signers", "*", "ca"),
)
# Relative paths that are *locations* (where artifacts may live), not trust material: they always resolve
# against the policy file's real directory, since the bytes under them are re-hashed, not trusted.
# The approvals store is one too: its records are signed, and count only when a signer the trusted policy names
# made them, so a record added by the change is safe to read (and is how a reviewer's approval reaches the gate).
# The advisory snapshot is one as well: the trusted policy pins its sha256, so the bytes read are checked, not trusted.
LOCATION_FIELDS: tuple[tuple[str, ...], ...] = (("mirrors", "approved_roots"), ("approvals", "store"),
                                                ("advisories", "snapshot"))
DEFAULT_ADVISORY_MAX_AGE_HOURS = 48
DEFAULT_PRODUCTION_ENVIRONMENTS = ("production", "prod")


class FormatAction(str, enum.Enum):
    PERMITTED = "permitted"
    SANDBOX = "sandbox"
    PROHIBITED = "prohibited"


class FailOn(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    NEVER = "never"

    def fails(self, level: Level) -> bool:
        if self is FailOn.NEVER:
            return False
        threshold = Level.ERROR if self is FailOn.ERROR else Level.WARNING
        return level.rank >= threshold.rank


@dataclass(frozen=True)
class PolicyWaiver:
    """A waiver as the policy writes it: when it expires and where it is written."""

    waiver: Waiver
    expires: datetime.date
    location: Location


@dataclass(frozen=True)
class AdvisoryPolicy:
    """`advisories`: the OSV snapshot runtime dependencies are matched against, and how old it may be."""

    snapshot: str | None = None  # an absolute path, or a URI as written
    sha256: str | None = None  # lowercase hex
    max_age_hours: int = DEFAULT_ADVISORY_MAX_AGE_HOURS
    production_environments: tuple[str, ...] = DEFAULT_PRODUCTION_ENVIRONMENTS
    location: Location | None = None  # where the section is, for findings about the snapshot
    # Whether an index found beside the snapshot may be used. Not when the policy was read at a revision
    # (--policy-ref): the snapshot's folder is then the change's working tree, and the index there is unpinned.
    index_beside: bool = True


@dataclass(frozen=True)
class Policy:
    """The policy a run judges with: the built-in default merged with the team's policy file."""

    source: str  # file path, or DEFAULT_POLICY_NAME
    sha256: str  # of the policy text as given (the default's text for the built-in one)
    fail_on: FailOn
    formats: dict[Format, FormatAction]
    default_format_action: FormatAction
    approved_roots: tuple[str, ...]
    public_hubs: frozenset[str]
    require_object_versions: bool
    required_fields: dict[str, tuple[str, ...]]
    revalidation_days: int
    waivers: tuple[PolicyWaiver, ...]
    governance: GovernancePolicy = field(default_factory=GovernancePolicy)
    pickle_allow_globals: tuple[str, ...] = ()  # `module.name` or `module.*` added to the pickle allowlist
    pickle_allow_profiles: tuple[str, ...] = ()  # curated library profiles (formats/pickle_profiles.py)
    # How network mirrors are reached (mirrors.*); --ca-bundle and the --*-endpoint options override these.
    allow_http: bool = False
    ca_bundle: Path | None = None
    hf_endpoint: str | None = None
    s3_endpoint: str | None = None
    mlflow_tracking_uri: str | None = None
    request_timeout_s: float = 30.0  # connect and each read
    file_deadline_s: float = 3600.0  # one file, all retries and resumes included
    max_attempts: int = 3  # failed requests per file before it is reported unreadable
    # The rest of the intake decision matrix: signers per source, model cards per class, monitoring, incidents.
    signatures: SignaturePolicy = field(default_factory=SignaturePolicy)
    model_cards: ModelCardPolicy = field(default_factory=ModelCardPolicy)
    monitoring: MonitoringPolicy = field(default_factory=MonitoringPolicy)
    incidents: tuple[Incident, ...] = ()
    # Signed evidence: the approvals store and who may sign reviews (per role) and eval results.
    evidence: EvidencePolicy = field(default_factory=EvidencePolicy)
    revision: str | None = None  # the commit the policy was read at (--policy-ref); None: the file as it is
    # Globs of unpinned files beside an artifact's pinned ones that need no finding (docs, git metadata). A glob
    # without '/' matches the file name, one with '/' the path under the artifact's location. Never hides code.
    ignore_unpinned: tuple[str, ...] = ()
    advisories: AdvisoryPolicy = field(default_factory=AdvisoryPolicy)

    def format_action(self, fmt: Format) -> FormatAction:
        return self.formats.get(fmt, self.default_format_action)

    @property
    def pickle_extra_globals(self) -> tuple[str, ...]:
        """Everything the policy adds to the pickle allowlist: its own entries and its profiles' entries."""
        return self.pickle_allow_globals + profile_globals(self.pickle_allow_profiles)


def default_policy_text() -> str:
    return _data_text("default-policy.yaml")


def _data_text(name: str) -> str:
    beside = Path(__file__).with_name("data") / name
    if beside.is_file():  # an installed package: importlib.resources (tempfile, zipfile...) costs start-up time
        return beside.read_text(encoding="utf-8")
    from importlib import resources

    return resources.files("weightgate").joinpath(f"data/{name}").read_text(encoding="utf-8")


def default_policy_document() -> LocatedDocument:
    """The built-in policy, parsed. Read from its JSON twin (data/default-policy.json, written from the YAML by
    scripts/default-policy-twin) when the twin was written for this text: a scan with the built-in policy then
    never imports the YAML parser, a tenth of its start-up (issue 18). A stale twin is never used."""
    text = default_policy_text()
    try:
        twin = from_located_json(_data_text("default-policy.json"), text, Path(DEFAULT_POLICY_NAME))
    except OSError:  # a package installed without it (a repackaging): the YAML is the policy
        twin = None
    return twin or parse_document(text, Path(DEFAULT_POLICY_NAME), "policy")


def load_policy(path: Path | None, *, source: str | None = None, roots_base: Path | None = None,
                revision: str | None = None) -> Policy:
    """The policy at `path` merged over the built-in default. Relative trust files resolve beside `path`;
    relative `mirrors.approved_roots` beside `roots_base` (default: beside `path` too). `source` is the name
    findings and reports give the policy (default: `path`), so a policy read from a copy (--policy-ref) still
    points at the file the team edits; `revision` records the commit that copy was read at."""
    default = default_policy_document()
    if path is None:
        return _build(default.data, default, DEFAULT_POLICY_NAME, default.text)
    user = load_document(path, "policy")
    name = source or str(path)
    errors = schema_errors("policy", user.data)
    if errors:
        lines = "\n".join(f"  {name}:{user.line_of(key)}: {msg}" for key, msg in errors)
        at = f" (at {revision[:12]})" if revision else ""
        raise PolicyError(f"policy {name}{at} is invalid:\n{lines}",
                          hint="`weightgate schema policy` prints the schema")
    merged = {**default.data, **user.data}
    # formats merge per format, so a policy can change one format without restating the rest.
    merged["formats"] = {**default.data["formats"], **user.data.get("formats", {})}
    merged["mirrors"] = {**default.data["mirrors"], **user.data.get("mirrors", {})}
    # Governance sections merge key by key too; declared licenses merge per license id.
    for section in GOVERNANCE_SECTIONS:
        merged[section] = {**default.data.get(section, {}), **user.data.get(section, {})}
    merged["licenses"]["declared"] = {**default.data.get("licenses", {}).get("declared", {}),
                                      **user.data.get("licenses", {}).get("declared", {})}
    # The text already read: one read, one digest.
    return _build(merged, user, name, user.text, roots_base=roots_base, revision=revision)


def trust_file_names(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The relative trust-material paths a policy document names (TRUST_FILE_FIELDS), as written. Works on a
    document not yet validated: anything that is not a string where a name belongs is skipped."""
    names = (name for fields in TRUST_FILE_FIELDS for name in _values_at(data, fields))
    return tuple(dict.fromkeys(n for n in names if n and not Path(n).is_absolute()))


def _values_at(node: Any, fields: tuple[str, ...]) -> Iterator[str]:
    if not fields:
        yield from (value for value in (node if isinstance(node, list) else [node]) if isinstance(value, str))
    elif fields[0] == "*" and isinstance(node, (list, Mapping)):
        for item in node if isinstance(node, list) else node.values():
            yield from _values_at(item, fields[1:])
    elif isinstance(node, Mapping) and fields[0] in node:
        yield from _values_at(node[fields[0]], fields[1:])


def _build(data: dict[str, Any], doc: LocatedDocument, source: str, text: str, *, roots_base: Path | None = None,
           revision: str | None = None) -> Policy:
    formats = dict(data["formats"])
    default_action = FormatAction(formats.pop("default", "prohibited"))
    mirrors = data["mirrors"]
    base = doc.path.parent if source != DEFAULT_POLICY_NAME else Path.cwd()
    return Policy(
        source=source,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        fail_on=FailOn(data["fail_on"]),
        formats={Format(k): FormatAction(v) for k, v in formats.items()},
        default_format_action=default_action,
        approved_roots=tuple(_resolve_root(r, roots_base or base) for r in mirrors.get("approved_roots", ())),
        public_hubs=frozenset(h.lower() for h in mirrors.get("public_hubs", ())),
        require_object_versions=bool(mirrors.get("require_object_versions", True)),
        required_fields={k: tuple(v) for k, v in data.get("required_fields", {}).items()},
        revalidation_days=int(data["revalidation_days"]),
        waivers=tuple(
            PolicyWaiver(
                Waiver(w["rule"], w["digest"], w["reason"], w["expires"], w.get("approved_by", "")),
                datetime.date.fromisoformat(w["expires"]),
                Location(source, doc.line_of(("waivers", i))),
            )
            for i, w in enumerate(data.get("waivers", ()))
        ),
        governance=build_governance(data, base, Location(source, doc.line_of(("registry",))), doc.line_of),
        pickle_allow_globals=_pickle_allow_globals(data, doc, source),
        # The schema's enum refuses unknown names (tests/formats/test_pickle_profiles.py keeps it in step).
        pickle_allow_profiles=tuple(data.get("pickle", {}).get("allow_profiles", ())),
        allow_http=bool(mirrors.get("allow_http", False)),
        ca_bundle=(base / mirrors["ca_bundle"]).resolve() if mirrors.get("ca_bundle") else None,
        hf_endpoint=mirrors.get("hf_endpoint") or None,
        s3_endpoint=mirrors.get("s3_endpoint") or None,
        mlflow_tracking_uri=mirrors.get("mlflow_tracking_uri") or None,
        request_timeout_s=float(mirrors.get("request_timeout_seconds", 30)),
        file_deadline_s=float(mirrors.get("file_deadline_seconds", 3600)),
        max_attempts=int(mirrors.get("max_attempts", 3)),
        signatures=build_signatures(data.get("signatures") or {}, base, source, doc.line_of),
        model_cards=build_model_card_policy(data.get("model_cards") or {}),
        monitoring=build_monitoring(data.get("monitoring") or {}),
        incidents=build_incidents(data.get("incidents") or (), source, doc.line_of),
        evidence=build_evidence_policy(data.get("approvals") or {}, data.get("eval_evidence") or {},
                                       data.get("licenses") or {}, base, source, doc.line_of,
                                       store_base=roots_base or base),
        revision=revision,
        ignore_unpinned=tuple(mirrors.get("ignore_unpinned", ())),
        advisories=_advisories(data.get("advisories") or {}, roots_base or base, Location(source, doc.line_of(
            ("advisories",))), index_beside=revision is None),
    )


def _advisories(section: dict[str, Any], base: Path, location: Location, *, index_beside: bool) -> AdvisoryPolicy:
    snapshot = section.get("snapshot")
    if isinstance(snapshot, str) and "://" not in snapshot:
        snapshot = str((base / snapshot).resolve())
    sha256 = section.get("sha256")
    return AdvisoryPolicy(
        snapshot=snapshot or None,
        sha256=sha256.removeprefix("sha256:") if isinstance(sha256, str) else None,
        max_age_hours=int(section.get("max_age_hours", DEFAULT_ADVISORY_MAX_AGE_HOURS)),
        production_environments=tuple(section.get("production_environments", DEFAULT_PRODUCTION_ENVIRONMENTS)),
        location=location,
        index_beside=index_beside,
    )


def _resolve_root(root: str, base: Path) -> str:
    """Relative local roots are relative to the policy file; URIs are kept as written."""
    if "://" in root:
        return root.rstrip("/") + "/"
    return str((base / root).resolve()) + "/"


def _pickle_allow_globals(data: dict[str, Any], doc: LocatedDocument, source: str) -> tuple[str, ...]:
    """The policy's extra pickle globals; an entry the deny set covers is a usage error, never a silent no-op."""
    entries = tuple(data.get("pickle", {}).get("allow_globals", ()))
    for index, entry in enumerate(entries):
        problem = policy_entry_problem(entry)
        if problem:
            line = doc.line_of(("pickle", "allow_globals", index))
            raise PolicyError(f"{source}:{line}: pickle.allow_globals entry {entry!r} {problem}",
                              hint="the deny set is listed in docs/rules.md under WG502")
    return entries
