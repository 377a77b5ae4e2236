"""The deployment manifest: YAML → schema-validated, typed model with a line for every node.

Schema problems are findings (WG101), not exceptions: the gate reports every one of them at its line and
then stops, because nothing in an invalid manifest can be trusted. A file that is not readable YAML at all
is an input error (exit 2).
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightgate.findings import Finding, Location
from weightgate.jsonschemas import schema_errors
from weightgate.pinned import PinnedFile as PinnedFile  # re-exported: part of the manifest model
from weightgate.rules import MANIFEST_SCHEMA
from weightgate.yamlsource import LocatedDocument, PathKey, load_document

ARTIFACT_CLASSES = (
    "model", "fine-tune", "adapter", "embedding-model", "reranker", "tokenizer", "preprocessor", "dataset",
)


@dataclass(frozen=True)
class Source:
    registry: str
    uri: str
    revision: str | None
    publisher: str | None


@dataclass(frozen=True)
class BaseModelRef:
    artifact: str | None
    uri: str | None
    revision: str | None
    digest: str | None
    license: str | None
    key: PathKey


@dataclass(frozen=True)
class LicenseReview:
    reviewer: str
    date: datetime.date
    outcome: str
    record: str | None


@dataclass(frozen=True)
class License:
    spdx: str
    review: LicenseReview | None


@dataclass(frozen=True)
class Approval:
    approver: str
    role: str | None
    date: datetime.date
    digest: str
    ticket: str | None
    key: PathKey


@dataclass(frozen=True)
class EvalEvidence:
    path: str
    sha256: str


@dataclass(frozen=True)
class RegistryEntry:
    registry: str | None
    id: str
    stage: str | None


@dataclass(frozen=True)
class SignatureRef:
    """Where the artifact's OpenSSF model-signing bundle is: a path in its mirror, or a URI."""

    bundle: str


@dataclass(frozen=True)
class Artifact:
    id: str
    artifact_class: str
    name: str | None
    version: str | None
    owner: str | None
    intended_use: str | None
    source: Source
    mirror: str | None
    files: tuple[PinnedFile, ...]
    base_models: tuple[BaseModelRef, ...]
    license: License | None
    eval_evidence: EvalEvidence | None
    approvals: tuple[Approval, ...]
    registry_entry: RegistryEntry | None
    targets: tuple[str, ...]
    rollback: str | None
    last_validated: datetime.date | None
    model_card: dict[str, Any]
    key: PathKey
    # The artifact as written, for policy-defined required fields (dotted paths chosen by the policy owner).
    raw: dict[str, Any] = field(compare=False, repr=False)
    signature: SignatureRef | None = None
    model_card_path: str | None = None  # the Hugging Face model card (README.md): a pinned file or a mirror path

    @property
    def is_dataset(self) -> bool:
        return self.artifact_class == "dataset"

    def has_field(self, dotted: str) -> bool:
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return node not in (None, "", [], {})


@dataclass(frozen=True)
class ServiceRuntime:
    """The lock file a service installs its Python dependencies from, pinned by sha256."""

    lock: str
    sha256: str  # lowercase hex, without the `sha256:` prefix


@dataclass(frozen=True)
class Service:
    name: str
    environment: str | None
    targets: tuple[str, ...]
    artifacts: tuple[str, ...]
    customer_facing: bool
    commercial: bool
    monitoring: str | None
    key: PathKey
    runtime: ServiceRuntime | None = None


@dataclass(frozen=True)
class Manifest:
    path: Path
    name: str | None
    mirror_base: str | None
    artifacts: tuple[Artifact, ...]
    services: tuple[Service, ...]
    document: LocatedDocument = field(compare=False, repr=False)

    def location(self, key: PathKey) -> Location:
        return Location(str(self.path), self.document.line_of(key))

    def artifact(self, artifact_id: str) -> Artifact | None:
        return self._artifacts_by_id.get(artifact_id)

    # Indexes built once: checks ask these questions per artifact, and manifests run to thousands of artifacts.
    @functools.cached_property
    def _artifacts_by_id(self) -> dict[str, Artifact]:
        by_id: dict[str, Artifact] = {}
        for a in self.artifacts:
            by_id.setdefault(a.id, a)  # duplicates are reported by WG102; the first one answers
        return by_id

    @functools.cached_property
    def services_by_artifact(self) -> dict[str, tuple[Service, ...]]:
        found: dict[str, list[Service]] = {}
        for service in self.services:
            for artifact_id in dict.fromkeys(service.artifacts):
                found.setdefault(artifact_id, []).append(service)
        return {k: tuple(v) for k, v in found.items()}

    @functools.cached_property
    def rolled_back_from(self) -> dict[str, tuple[str, ...]]:
        """Rollback target id -> ids of the artifacts that name it as their rollback."""
        found: dict[str, list[str]] = {}
        for a in self.artifacts:
            if a.rollback is not None and a.rollback != a.id:
                found.setdefault(a.rollback, []).append(a.id)
        return {k: tuple(v) for k, v in found.items()}


@dataclass(frozen=True)
class LoadedManifest:
    """A manifest that passed the schema (`manifest` set), or the schema findings that stopped it."""

    manifest: Manifest | None
    findings: tuple[Finding, ...]


def load_manifest(path: Path) -> LoadedManifest:
    document = load_document(path, "manifest")
    errors = schema_errors("manifest", document.data)
    if errors:
        findings = tuple(
            Finding(MANIFEST_SCHEMA, f"{_dotted(key)}: {message}" if key else message,
                    Location(str(path), document.line_of(key)))
            for key, message in errors
        )
        return LoadedManifest(None, findings)
    return LoadedManifest(_build_manifest(document), ())


def _dotted(key: PathKey) -> str:
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _date(value: str | None) -> datetime.date | None:
    return datetime.date.fromisoformat(value[:10]) if value else None


def _build_manifest(doc: LocatedDocument) -> Manifest:
    data = doc.data
    artifacts = tuple(_build_artifact(a, ("artifacts", i)) for i, a in enumerate(data["artifacts"]))
    services = tuple(
        Service(
            name=s["name"], environment=s.get("environment"), targets=tuple(s.get("targets", ())),
            artifacts=tuple(s["artifacts"]), customer_facing=bool(s.get("customer_facing", False)),
            commercial=bool(s.get("commercial", False)), monitoring=s.get("monitoring"), key=("services", i),
            runtime=ServiceRuntime(s["runtime"]["lock"], s["runtime"]["sha256"].removeprefix("sha256:"))
            if s.get("runtime") else None,
        )
        for i, s in enumerate(data.get("services", ()))
    )
    return Manifest(doc.path, (data.get("metadata") or {}).get("name"), data.get("mirror_base"),
                    artifacts, services, doc)


def _build_artifact(a: dict[str, Any], key: PathKey) -> Artifact:
    src = a["source"]
    lic = a.get("license")
    review = (lic or {}).get("review")
    ev = a.get("eval_evidence")
    reg = a.get("registry_entry")
    return Artifact(
        id=a["id"],
        artifact_class=a["class"],
        name=a.get("name"),
        version=_opt_str(a.get("version")),
        owner=a.get("owner"),
        intended_use=a.get("intended_use"),
        source=Source(src["registry"], src["uri"], _opt_str(src.get("revision")), src.get("publisher")),
        mirror=a.get("mirror"),
        files=tuple(
            PinnedFile(f["path"], f.get("sha256"), f.get("size"), f.get("format"), (*key, "files", i))
            for i, f in enumerate(a["files"])
        ),
        base_models=tuple(
            BaseModelRef(b.get("artifact"), b.get("uri"), _opt_str(b.get("revision")), b.get("digest"),
                         b.get("license"), (*key, "base_models", i))
            for i, b in enumerate(a.get("base_models", ()))
        ),
        license=License(lic["spdx"], LicenseReview(
            review["reviewer"], _date(review["date"]) or datetime.date.min, review["outcome"], review.get("record"),
        ) if review else None) if lic else None,
        eval_evidence=EvalEvidence(ev["path"], ev["sha256"]) if ev else None,
        approvals=tuple(
            Approval(p["approver"], p.get("role"), _date(p["date"]) or datetime.date.min, p["digest"],
                     p.get("ticket"), (*key, "approvals", i))
            for i, p in enumerate(a.get("approvals", ()))
        ),
        registry_entry=RegistryEntry(reg.get("registry"), reg["id"], reg.get("stage")) if reg else None,
        targets=tuple(a.get("targets", ())),
        rollback=a.get("rollback"),
        last_validated=_date(a.get("last_validated")),
        # `path` locates the card file; the other keys are model facts for the ML-BOM's model card.
        model_card={k: v for k, v in (a.get("model_card") or {}).items() if k != "path"},
        key=key,
        raw=a,
        signature=SignatureRef(a["signature"]["bundle"]) if a.get("signature") else None,
        model_card_path=(a.get("model_card") or {}).get("path"),
    )


def _opt_str(value: Any) -> str | None:
    # YAML turns `version: 1.0` into a float and `revision: 3` into an int; both are labels here.
    return None if value is None else str(value)
