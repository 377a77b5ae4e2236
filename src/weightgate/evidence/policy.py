"""The policy sections for the rest of the intake decision matrix: who may sign artifacts from which source
(`signatures`), which services must name their monitoring (`monitoring`), and recorded source incidents
(`incidents`), and what model cards must contain per artifact class (`model_cards`). Built from schema-valid
policy data by `weightgate.policy`."""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightgate.errors import PolicyError
from weightgate.findings import Location
from weightgate.yamlsource import PathKey

if TYPE_CHECKING:  # a policy is read before any manifest, and `scan` may read none (nor sign anything)
    from weightgate.evidence.dsse import TrustedSigner
    from weightgate.manifest import Service, Source

LineOf = Callable[[PathKey], int]  # a policy key path -> its line, to locate problems


def _glob(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


@dataclass(frozen=True)
class KeylessIdentity:
    """A sigstore keyless signer: the certificate's identity (email or URI) and the OIDC issuer that vouched."""

    identity: str
    issuer: str

    def __str__(self) -> str:
        return f"{self.identity} (issuer {self.issuer})"


@dataclass(frozen=True)
class SignerRule:
    """Who may sign artifacts from sources matching `registries` and `publishers` (globs; empty matches any)."""

    registries: tuple[str, ...] = ()
    publishers: tuple[str, ...] = ()
    required: bool = False  # artifacts from these sources must be signed, whatever their tier
    keys: tuple[Path, ...] = ()  # PEM public keys
    certificates: tuple[Path, ...] = ()  # PEM certificate chains (root and intermediates)
    identities: tuple[KeylessIdentity, ...] = ()  # sigstore keyless signers, checked against the trust root
    location: Location | None = None

    def matches(self, registry: str, publisher: str | None) -> bool:
        if self.registries and not any(_glob(registry, r) for r in self.registries):
            return False
        if not self.publishers:
            return True
        return publisher is not None and any(_glob(publisher, p) for p in self.publishers)

    @property
    def describe(self) -> str:
        parts = [*(f"key {k.name}" for k in self.keys), *(f"certificate chain {c.name}" for c in self.certificates),
                 *(f"identity {i}" for i in self.identities)]
        return ", ".join(parts) or "no signer"


@dataclass(frozen=True)
class SignaturePolicy:
    """Which tiers need a publisher signature, who may sign for which sources, and the Sigstore trust root."""

    required_tiers: frozenset[int] = frozenset()
    signers: tuple[SignerRule, ...] = ()
    trust_root: Path | None = None  # sigstore trust configuration (ClientTrustConfig JSON) for keyless signers

    def signer_for(self, registry: str, publisher: str | None) -> SignerRule | None:
        """First matching rule wins, as with source tiers."""
        return next((r for r in self.signers if r.matches(registry, publisher)), None)

    def required(self, tier: int, registry: str, publisher: str | None) -> bool:
        rule = self.signer_for(registry, publisher)
        return tier in self.required_tiers or (rule is not None and rule.required)


@dataclass(frozen=True)
class MonitoringPolicy:
    """Services in these environments or on these targets (globs) must name their monitoring."""

    environments: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()

    def requires(self, service: Service) -> bool:
        if service.environment and any(_glob(service.environment, e) for e in self.environments):
            return True
        return any(_glob(t, pattern) for t in service.targets for pattern in self.targets)


@dataclass(frozen=True)
class Incident:
    """A source compromise: artifacts from matching sources validated before `date` must be re-validated."""

    pattern: str  # glob over the source's publisher, its registry kind and its URI
    date: datetime.date
    note: str
    location: Location

    def matches(self, source: Source, publisher: str | None) -> bool:
        candidates = [source.registry, source.uri, *([publisher] if publisher else [])]
        return any(_glob(c, self.pattern) for c in candidates)


def build_signatures(section: Mapping[str, Any], base: Path, source: str, line_of: LineOf) -> SignaturePolicy:
    trust_root = _policy_file(section.get("trust_root"), base, source, line_of(("signatures", "trust_root")))
    signers = tuple(_signer(s, base, source, line_of, i) for i, s in enumerate(section.get("signers", ())))
    if trust_root is None and any(s.identities for s in signers):
        raise PolicyError(f"{source}:{line_of(('signatures',))}: keyless `identities` need `signatures.trust_root`",
                          hint="weightgate verifies offline: point trust_root at a sigstore trust configuration "
                          "(ClientTrustConfig JSON) instead of fetching the public one")
    return SignaturePolicy(frozenset(int(t) for t in section.get("required_tiers", ())), signers, trust_root)


def _signer(data: Mapping[str, Any], base: Path, source: str, line_of: LineOf, index: int) -> SignerRule:
    key = ("signatures", "signers", index)
    return SignerRule(
        registries=tuple(data.get("registries", ())),
        publishers=tuple(data.get("publishers", ())),
        required=bool(data.get("required", False)),
        keys=_policy_files(data.get("keys", ()), base, source, line_of((*key, "keys"))),
        certificates=_policy_files(data.get("certificates", ()), base, source, line_of((*key, "certificates"))),
        identities=tuple(KeylessIdentity(i["identity"], i["issuer"]) for i in data.get("identities", ())),
        location=Location(source, line_of(key)),
    )


def _policy_files(names: Iterable[str], base: Path, source: str, line: int) -> tuple[Path, ...]:
    return tuple(p for p in (_policy_file(n, base, source, line) for n in names) if p is not None)


def _policy_file(name: str | None, base: Path, source: str, line: int) -> Path | None:
    """A key, certificate or trust root file named by the policy, relative to the policy file. A missing one is
    a policy error: a signer the gate cannot load must never be skipped silently."""
    if not name:
        return None
    path = (base / name).resolve()
    if not path.is_file():
        raise PolicyError(f"{source}:{line}: {name} does not exist or is not a file ({path})",
                          hint="key, certificate and trust root paths are relative to the policy file")
    return path


def build_monitoring(section: Mapping[str, Any]) -> MonitoringPolicy:
    return MonitoringPolicy(tuple(section.get("environments", ())), tuple(section.get("targets", ())))


def build_incidents(entries: Iterable[Mapping[str, Any]], source: str, line_of: LineOf) -> tuple[Incident, ...]:
    return tuple(Incident(e["pattern"], datetime.date.fromisoformat(str(e["date"])[:10]), e.get("note", ""),
                          Location(source, line_of(("incidents", i))))
                 for i, e in enumerate(entries))


@dataclass(frozen=True)
class CardRequirement:
    """What a model card must hold: metadata fields and section headings."""

    fields: tuple[str, ...] = ()  # metadata keys that must be present and non-empty (license, base_model, ...)
    sections: tuple[str, ...] = ()  # phrases a heading must contain, case-insensitive ("intended use")


@dataclass(frozen=True)
class ModelCardPolicy:
    """The model card each artifact class must have."""

    required: Mapping[str, CardRequirement] = field(default_factory=dict)  # artifact class -> what its card needs


def build_model_card_policy(section: Mapping[str, Any]) -> ModelCardPolicy:
    return ModelCardPolicy({cls: CardRequirement(tuple(r.get("fields", ())), tuple(r.get("sections", ())))
                            for cls, r in (section.get("required") or {}).items()})


@dataclass(frozen=True)
class ReviewerRole:
    """Who may sign review records for one role, and how many distinct signers must approve."""

    role: str
    min: int
    signers: tuple[TrustedSigner, ...]
    location: Location | None = None


@dataclass(frozen=True)
class EvidencePolicy:
    """Signed evidence: where records are kept (`approvals.store`, one `<digest hex>.jsonl` per artifact digest)
    and whose signatures count, per reviewer role and for eval results."""

    require_signed: bool = False  # text approvals in a manifest do not count
    store: str | None = None  # an absolute folder or a mirror URI
    trust_root: Path | None = None  # Sigstore trusted root for keyless signers
    reviewers: Mapping[str, ReviewerRole] = field(default_factory=dict)  # lower-case role -> reviewers
    eval_signers: tuple[TrustedSigner, ...] = ()
    eval_require_signed: bool = False
    license_roles: tuple[str, ...] = ("legal",)  # roles whose signed review of the expression is a license review
    location: Location | None = None  # the policy's approvals section, for findings about the setup

    @property
    def all_signers(self) -> tuple[TrustedSigner, ...]:
        return (*(s for r in self.reviewers.values() for s in r.signers), *self.eval_signers)

    def role(self, name: str) -> ReviewerRole | None:
        return self.reviewers.get(name.lower())


def build_evidence_policy(approvals: Mapping[str, Any], evals: Mapping[str, Any], licenses: Mapping[str, Any],
                          base: Path, source: str, line_of: LineOf, store_base: Path | None = None) -> EvidencePolicy:
    """`base` resolves trust files (keys, CAs, trust roots); `store_base` the store, a location (default: `base`)."""
    trust_root = _policy_file(approvals.get("trust_root"), base, source, line_of(("approvals", "trust_root")))
    reviewers = {role.lower(): _reviewer_role(role, spec, base, source, line_of)
                 for role, spec in (approvals.get("reviewers") or {}).items()}
    eval_signers = tuple(_trusted_signer(s, base, source, line_of(("eval_evidence", "signers", i)))
                         for i, s in enumerate(evals.get("signers", ())))
    store = approvals.get("store")
    return EvidencePolicy(
        require_signed=bool(approvals.get("require_signed", False)),
        store=_store_location(store, store_base or base) if store else None,
        trust_root=trust_root, reviewers=reviewers, eval_signers=eval_signers,
        eval_require_signed=bool(evals.get("require_signed", False)),
        license_roles=tuple(licenses.get("review_roles", ("legal",))),
        location=Location(source, line_of(("approvals",))),
    )


def _reviewer_role(role: str, spec: Mapping[str, Any], base: Path, source: str, line_of: LineOf) -> ReviewerRole:
    key = ("approvals", "reviewers", role)
    signers = tuple(_trusted_signer(s, base, source, line_of((*key, "signers", i)))
                    for i, s in enumerate(spec.get("signers", ())))
    return ReviewerRole(role, int(spec.get("min", 1)), signers, Location(source, line_of(key)))


def _store_location(store: str, base: Path) -> str:
    """A relative store is a folder beside the policy; a URI is read through the mirrors."""
    return store if "://" in store else str((base / store).resolve())


def _trusted_signer(spec: Mapping[str, Any], base: Path, source: str, line: int) -> TrustedSigner:
    from weightgate.evidence.dsse import TrustedSigner, policy_certificates, policy_public_key

    identity = str(spec["identity"])
    where = f"{source}:{line}"
    if spec.get("key"):
        path = _policy_file(spec["key"], base, source, line)
        assert path is not None
        return TrustedSigner(identity, key=policy_public_key(path, where), key_file=path)
    if spec.get("ca"):
        path = _policy_file(spec["ca"], base, source, line)
        assert path is not None
        return TrustedSigner(identity, ca=policy_certificates(path, where), ca_file=path)
    return TrustedSigner(identity, issuer=str(spec["issuer"]))
