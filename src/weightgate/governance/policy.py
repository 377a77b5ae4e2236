"""The governance sections of the policy: source tiers, approval requirements, licenses, eval evidence and
the model registry. Built from schema-validated data by `weightgate.policy`."""

from __future__ import annotations

import enum
import fnmatch
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightgate.errors import PolicyError
from weightgate.findings import Location

DEFAULT_TIER = 2
PROHIBITED_TIER = 3
FULL_RECORD_FIELDS = ("role", "ticket")


class Restriction(str, enum.Enum):
    """What a license forbids or demands; inherited along the lineage."""

    NON_COMMERCIAL = "non-commercial"
    NO_REDISTRIBUTION = "no-redistribution"
    NO_DERIVATIVES = "no-derivatives"
    SHARE_ALIKE = "share-alike"
    FIELD_OF_USE = "field-of-use"
    ATTRIBUTION = "attribution"
    ACCEPTABLE_USE = "acceptable-use"


# Clauses a machine cannot judge against `intended_use`: a person must review them.
NEEDS_HUMAN_REVIEW = frozenset({Restriction.FIELD_OF_USE, Restriction.ACCEPTABLE_USE})


class LicenseAction(str, enum.Enum):
    ALLOW = "allow"
    REVIEW = "review"  # allowed once a license review record approves it
    DENY = "deny"


@dataclass(frozen=True)
class TierRule:
    """Sources matching every given field are in `tier`; an empty tuple matches anything."""

    tier: int
    registries: tuple[str, ...] = ()
    publishers: tuple[str, ...] = ()  # glob patterns, case-insensitive

    def matches(self, registry: str, publisher: str | None) -> bool:
        if self.registries and registry not in self.registries:
            return False
        if not self.publishers:
            return True
        return publisher is not None and any(_glob(publisher, p) for p in self.publishers)


@dataclass(frozen=True)
class RoleRequirement:
    """Roles that must approve artifacts deployed to `environment` and/or coming from `tier`."""

    roles: tuple[str, ...]
    environment: str | None = None  # glob
    tier: int | None = None

    def applies(self, environments: frozenset[str], tier: int) -> bool:
        if self.tier is not None and self.tier != tier:
            return False
        return self.environment is None or any(_glob(e, self.environment) for e in environments)

    @property
    def scope(self) -> str:
        parts = [f"environment {self.environment}" if self.environment else "", f"tier {self.tier}"
                 if self.tier is not None else ""]
        return " from ".join(p for p in parts if p) or "every artifact"


@dataclass(frozen=True)
class LicenseDeclaration:
    """The policy's reading of one license id: the restrictions it carries."""

    key: str
    restrictions: frozenset[Restriction]
    description: str = ""


@dataclass(frozen=True)
class LicensePolicy:
    """Which licenses are allowed, denied or need review, and the restrictions declared for them."""

    allowed: tuple[str, ...] = ()  # glob patterns over license ids
    denied: tuple[str, ...] = ()
    review_required: tuple[str, ...] = ()
    unlisted: LicenseAction = LicenseAction.REVIEW
    declared: Mapping[str, LicenseDeclaration] = field(default_factory=dict)  # lower-case id -> declaration

    def action(self, license_id: str) -> LicenseAction:
        """Denied beats review-required beats allowed: the strictest listing wins."""
        if _matches_any(license_id, self.denied):
            return LicenseAction.DENY
        if _matches_any(license_id, self.review_required):
            return LicenseAction.REVIEW
        if _matches_any(license_id, self.allowed):
            return LicenseAction.ALLOW
        return self.unlisted

    def declaration(self, license_id: str) -> LicenseDeclaration | None:
        return self.declared.get(license_id.lower())


@dataclass(frozen=True)
class MetricBound:
    """A threshold on one metric of an eval suite: a floor (`min`), a ceiling (`max`), or a band (both)."""

    metric: str
    min: float | None = None
    max: float | None = None

    @property
    def higher_is_better(self) -> bool | None:
        """The direction a regression is judged in: a floor says higher is better, a ceiling lower; a band
        says neither, so it is not compared with the rollback."""
        if (self.min is None) == (self.max is None):
            return None
        return self.min is not None


@dataclass(frozen=True)
class EvalSuite:
    """An eval suite the policy requires of artifacts of `classes` deployed to `environments` (empty: any)."""

    name: str
    classes: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()  # globs over the environments of the services deploying the artifact
    metrics: tuple[MetricBound, ...] = ()  # each metric is required; its bound must hold
    regression_tolerance: float | None = None  # None: not compared with the rollback's result
    location: Location | None = None  # where the policy declares it

    def applies(self, artifact_class: str, environments: frozenset[str]) -> bool:
        if self.classes and artifact_class not in self.classes:
            return False
        return not self.environments or any(_glob(e, p) for e in environments for p in self.environments)


@dataclass(frozen=True)
class GovernancePolicy:
    """The policy's governance rules: source tiers, reviewers per role, licenses, lineage, evals and registry."""

    default_tier: int = DEFAULT_TIER
    tiers: tuple[TierRule, ...] = ()
    approval_max_age_days: int | None = None  # None: the policy's revalidation_days
    role_requirements: tuple[RoleRequirement, ...] = ()
    full_record_tiers: frozenset[int] = frozenset()
    licenses: LicensePolicy = field(default_factory=LicensePolicy)
    eval_required_for: frozenset[str] = frozenset()
    eval_require_digest: bool = True
    eval_suites: tuple[EvalSuite, ...] = ()
    registry_file: Path | None = None
    registry_backend: str = "file"  # or "mlflow"
    production_stages: frozenset[str] = frozenset({"production"})
    registry_location: Location | None = None  # where the policy configures the registry, for findings

    def tier_of(self, registry: str, publisher: str | None) -> int:
        """First matching tier rule wins; unknown sources get the default tier."""
        return next((r.tier for r in self.tiers if r.matches(registry, publisher)), self.default_tier)


@functools.lru_cache(maxsize=8192)
def _matches_any(value: str, patterns: tuple[str, ...]) -> bool:
    # Cached: a manifest of thousands of artifacts asks about the same few license ids over and over.
    return any(_glob(value, p) for p in patterns)


def _glob(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def build_governance(data: Mapping[str, Any], base: Path, where: Location | None,
                     line_of: Callable[[tuple[str | int, ...]], int] | None = None) -> GovernancePolicy:
    """The governance sections of a merged, schema-valid policy document; `base` resolves relative paths and
    `line_of` finds a key's line (for locations and errors)."""
    sources = data.get("sources") or {}
    approvals = data.get("approvals") or {}
    evidence = data.get("eval_evidence") or {}
    registry = data.get("registry") or {}
    registry_file = registry.get("file")
    return GovernancePolicy(
        default_tier=int(sources.get("default_tier", DEFAULT_TIER)),
        tiers=tuple(TierRule(int(t["tier"]), tuple(t.get("registries", ())), tuple(t.get("publishers", ())))
                    for t in sources.get("tiers", ())),
        approval_max_age_days=approvals.get("max_age_days"),
        role_requirements=tuple(RoleRequirement(tuple(r["roles"]), r.get("environment"), r.get("tier"))
                                for r in approvals.get("required_roles", ())),
        full_record_tiers=frozenset(int(t) for t in approvals.get("full_record_tiers", ())),
        licenses=_licenses(data.get("licenses") or {}),
        eval_required_for=frozenset(evidence.get("required_for", ())),
        eval_require_digest=bool(evidence.get("require_artifact_digest", True)),
        eval_suites=_eval_suites(evidence.get("suites") or (), where.path if where else "policy",
                                 line_of or (lambda _key: 1)),
        registry_file=(base / registry_file).resolve() if registry_file else None,
        registry_backend=str(registry.get("backend", "file")),
        production_stages=frozenset(s.lower() for s in registry.get("production_stages", ("production",))),
        registry_location=where,
    )


def _eval_suites(entries: Iterable[Mapping[str, Any]], source: str,
                 line_of: Callable[[tuple[str | int, ...]], int]) -> tuple[EvalSuite, ...]:
    """The policy's eval suites. A suite named twice, or a band whose floor is above its ceiling, cannot be
    met as written: a usage error, never a silent choice."""
    suites: list[EvalSuite] = []
    for index, entry in enumerate(entries):
        where = Location(source, line_of(("eval_evidence", "suites", index)))
        name = str(entry["name"])
        if any(s.name == name for s in suites):
            raise PolicyError(f"{source}:{where.line}: eval_evidence.suites names suite {name!r} twice",
                              hint="give each suite one entry (list every class and environment it applies to)")
        bounds = tuple(MetricBound(str(metric), _number(bound.get("min")), _number(bound.get("max")))
                       for metric, bound in (entry.get("metrics") or {}).items())
        for bound in bounds:
            if bound.min is not None and bound.max is not None and bound.min > bound.max:
                raise PolicyError(f"{source}:{where.line}: eval suite {name!r} requires {bound.metric} at least "
                                  f"{bound.min:g} and at most {bound.max:g}, which no result can meet",
                                  hint="swap or correct the bounds")
        tolerance = entry.get("regression_tolerance")
        suites.append(EvalSuite(name, tuple(entry.get("classes", ())), tuple(entry.get("environments", ())),
                                bounds, _number(tolerance), where))
    return tuple(suites)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _licenses(section: Mapping[str, Any]) -> LicensePolicy:
    declared = {
        key.lower(): LicenseDeclaration(key, frozenset(Restriction(r) for r in decl.get("restrictions", ())),
                                        decl.get("description", ""))
        for key, decl in (section.get("declared") or {}).items()
    }
    return LicensePolicy(
        allowed=tuple(section.get("allowed", ())),
        denied=tuple(section.get("denied", ())),
        review_required=tuple(section.get("review_required", ())),
        unlisted=LicenseAction(section.get("unlisted", LicenseAction.REVIEW.value)),
        declared=declared,
    )
