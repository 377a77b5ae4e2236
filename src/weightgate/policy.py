"""The policy: what the gate enforces. A user policy overrides the strict built-in default per section."""

from __future__ import annotations

import datetime
import enum
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from weightgate.errors import PolicyError
from weightgate.findings import Location, Waiver
from weightgate.formats import Format
from weightgate.jsonschemas import schema_errors
from weightgate.rules import Level
from weightgate.yamlsource import LocatedDocument, load_document, parse_document

DEFAULT_POLICY_NAME = "<built-in default policy>"


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
    waiver: Waiver
    expires: datetime.date
    location: Location


@dataclass(frozen=True)
class Policy:
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

    def format_action(self, fmt: Format) -> FormatAction:
        return self.formats.get(fmt, self.default_format_action)


def default_policy_text() -> str:
    return resources.files("weightgate").joinpath("data/default-policy.yaml").read_text(encoding="utf-8")


def load_policy(path: Path | None) -> Policy:
    default = parse_document(default_policy_text(), Path(DEFAULT_POLICY_NAME), "policy")
    if path is None:
        return _build(default.data, default, DEFAULT_POLICY_NAME, default_policy_text())
    user = load_document(path, "policy")
    errors = schema_errors("policy", user.data)
    if errors:
        lines = "\n".join(f"  {path}:{user.line_of(key)}: {msg}" for key, msg in errors)
        raise PolicyError(f"policy {path} is invalid:\n{lines}", hint="`weightgate schema policy` prints the schema")
    merged = {**default.data, **user.data}
    # formats merge per format, so a policy can change one format without restating the rest.
    merged["formats"] = {**default.data["formats"], **user.data.get("formats", {})}
    merged["mirrors"] = {**default.data["mirrors"], **user.data.get("mirrors", {})}
    return _build(merged, user, str(path), path.read_text(encoding="utf-8"))


def _build(data: dict[str, Any], doc: LocatedDocument, source: str, text: str) -> Policy:
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
        approved_roots=tuple(_resolve_root(r, base) for r in mirrors.get("approved_roots", ())),
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
    )


def _resolve_root(root: str, base: Path) -> str:
    """Relative local roots are relative to the policy file; URIs are kept as written."""
    if "://" in root:
        return root.rstrip("/") + "/"
    return str((base / root).resolve()) + "/"
