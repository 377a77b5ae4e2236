"""CycloneDX 1.6 ML-BOM: what the deployment is made of, written from verified facts only.

A hash or an artifact digest appears only when weightgate read the bytes and computed it in this run; what
the manifest merely claims is never written as a hash. Offline runs therefore produce components without
hashes, marked `weightgate:verification = not-verified`.

This module imports cyclonedx-python-lib, which is slow to import: only the CLI's BOM path imports it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from cyclonedx.exception.model import InvalidUriException
from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import fixup_id
from packageurl import PackageURL

from weightgate.evidence.signatures import SignatureFacts
from weightgate.facts import ArtifactFacts, FileFacts
from weightgate.governance.deployment import environments_of, tier_of
from weightgate.governance.facts import EvidenceFacts
from weightgate.governance.model_card import ModelCardFacts
from weightgate.manifest import Artifact, BaseModelRef, Manifest, Service
from weightgate.report.interface import Report, Verification, lookup_status, verification_of
from weightgate.report.locations import portable
from weightgate.rules import DOCS_BASE
from weightgate.textsafety import redact_url

P = "weightgate:"  # namespace of every property weightgate writes
HOME = DOCS_BASE.split("/blob/", 1)[0]
# uuid5 namespace for serial numbers: fixed, so equal BOM content gives an equal serial number.
SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, HOME + "#cyclonedx-serial")
SPDX_OPERATORS = frozenset({"AND", "OR", "WITH"})
HF_HOSTS = ("huggingface.co", "hf.co")


class CycloneDxReporter:
    """Renders a Report as a CycloneDX 1.6 ML-BOM (JSON).

    serialNumber is a uuid5 over the BOM's own content, which includes the report timestamp, the manifest's
    components and the verified facts: the same Report (timestamp included) gives byte-identical output,
    and any change to the inputs or the time gives a new serial number.
    """

    def render(self, report: Report) -> str:
        bom_json: dict[str, Any] = json.loads(JsonV1Dot6(build_bom(report)).output_as_string())
        bom_json = portable(add_model_cards(bom_json, report), report.source_root)
        return json.dumps(with_serial_number(bom_json), indent=2) + "\n"


def build_bom(report: Report) -> Bom:
    bom = Bom(metadata=BomMetaData(
        timestamp=_aware(report.timestamp),
        tools=ToolRepository(components=[_tool(report.tool_version)]),
        properties=_run_properties(report),
    ))
    if report.manifest is not None:
        _add_manifest(bom, report, report.manifest)
    else:
        bom.components.update(_file(f"file:{f.path}", f.path, f) for f in report.scanned)
    return bom


def _tool(version: str) -> Component:
    return Component(type=ComponentType.APPLICATION, name="weightgate", version=version,
                     external_references=_references([(ExternalReferenceType.WEBSITE, HOME)]))


def _run_properties(report: Report) -> list[Property]:
    return _properties({
        "policy": report.policy.source,
        "policy-sha256": report.policy.sha256,
        "verdict": report.judgement.value,
        "enforced": str(report.enforced).lower(),
        "offline": str(report.offline).lower(),
    })


def _add_manifest(bom: Bom, report: Report, manifest: Manifest) -> None:
    # Keyed by id and name: a duplicate (a WG102 finding) must not give two components one bom-ref.
    artifacts = {a.id: _artifact(a, report, manifest) for a in manifest.artifacts}
    services = {s.name: (s, _service(s)) for s in manifest.services}
    bom.components.update(artifacts.values())
    for service, component in services.values():
        bom.components.add(component)
        # Unknown ids are WG103 findings; the BOM lists only what exists.
        bom.register_dependency(component, [artifacts[a] for a in service.artifacts if a in artifacts])
    name = manifest.name or manifest.path.stem
    root = Component(type=ComponentType.APPLICATION, name=name, bom_ref=f"deployment:{name}",
                     properties=_properties({"manifest": report.relative(str(manifest.path))}))
    bom.metadata.component = root
    # The root depends on its services, and directly on artifacts no service deploys, so the graph is whole.
    deployed = {a for s in manifest.services for a in s.artifacts}
    undeployed = [c for a, c in artifacts.items() if a not in deployed]
    bom.register_dependency(root, [*(c for _, c in services.values()), *undeployed])
    if report.runtime is not None:
        from weightgate.report.cyclonedx_runtime import add_runtime

        add_runtime(bom, report.runtime, manifest, artifacts, {name: c for name, (_, c) in services.items()})


# --- artifacts ---------------------------------------------------------------------------------------------

def _artifact(artifact: Artifact, report: Report, manifest: Manifest) -> Component:
    facts = report.facts_for(artifact.id)
    component = _identity(artifact, f"artifact:{artifact.id}", facts)
    component.external_references.update(_artifact_references(artifact, facts))
    component.properties.update(_properties(_governance(artifact, report)))
    component.components.update(_files(artifact, facts))
    if artifact.base_models:
        ancestors = (_ancestor(artifact.id, base, report, manifest) for base in artifact.base_models)
        # A base listed twice would give two ancestors one bom-ref, which the library then renames at random.
        component.pedigree = Pedigree(ancestors={str(a.bom_ref): a for a in ancestors}.values())
    return component


def _identity(artifact: Artifact, bom_ref: str, facts: ArtifactFacts | None) -> Component:
    """What names the artifact: shared by its component and by its copies as an ancestor."""
    src = artifact.source
    return Component(
        type=ComponentType.DATA if artifact.is_dataset else ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=bom_ref,
        name=artifact.name or artifact.id,
        version=artifact.version or src.revision,
        supplier=OrganizationalEntity(name=src.publisher) if src.publisher else None,
        publisher=src.publisher,
        purl=_purl(src.registry, src.uri, src.revision),
        licenses=[_license(artifact.license.spdx)] if artifact.license else [],
        properties=_properties({
            "artifact-class": artifact.artifact_class,
            "artifact-digest": facts.digest if facts else None,
            "verification": verification_of(facts).value,
            "source-revision": src.revision,
        }),
    )


def _artifact_references(artifact: Artifact, facts: ArtifactFacts | None) -> list[ExternalReference]:
    source_type = ExternalReferenceType.VCS if artifact.source.registry == "git" else ExternalReferenceType.DISTRIBUTION
    refs = [(source_type, artifact.source.uri)]
    if facts is not None:
        refs.append((ExternalReferenceType.DISTRIBUTION_INTAKE, facts.mirror_uri))
    if artifact.eval_evidence is not None:
        # Only the location: the evidence's sha256 is a manifest claim this reporter did not check.
        refs.append((ExternalReferenceType.EVIDENCE, artifact.eval_evidence.path))
    return _references(refs)


def _governance(artifact: Artifact, report: Report) -> dict[str, str | None]:
    props: dict[str, str | None] = {
        "owner": artifact.owner,
        "intended-use": artifact.intended_use,
        "rollback": artifact.rollback,
        "last-validated": artifact.last_validated.isoformat() if artifact.last_validated else None,
        "targets": ", ".join(artifact.targets) or None,
    }
    if (entry := artifact.registry_entry) is not None:
        props.update({"registry-entry": entry.id, "registry-entry:registry": entry.registry,
                      "registry-entry:stage": entry.stage})
    for n, approval in enumerate(report.approvals_of(artifact), 1):
        props.update(_numbered(f"approval:{n}", {
            "approver": approval.approver, "role": approval.role, "date": approval.day, "time": approval.time,
            "digest": approval.digest, "ticket": approval.ticket, "decision": approval.decision,
            "signed": str(approval.signed).lower(), "counted": str(approval.counted).lower(),
            "record": approval.record,
        }))
    props.update(_evidence(artifact, report))
    waivers = dict.fromkeys(f.waived_by for f in report.findings if f.artifact_id == artifact.id and f.waived_by)
    for n, waiver in enumerate(waivers, 1):
        props.update(_numbered(f"waiver:{n}", {
            "rule": waiver.rule_id, "reason": waiver.reason, "expires": waiver.expires,
            "approved-by": waiver.approved_by,
        }))
    return props


def _evidence(artifact: Artifact, report: Report) -> dict[str, str | None]:
    """Governance evidence as checked in this run: where the artifact runs, its source tier, its license
    review and effective (inherited) restrictions, which approvals name the verified digest, what the eval
    evidence file held, and what the registry holds for its entry."""
    manifest = report.manifest
    assert manifest is not None
    governance = report.policy.governance
    props: dict[str, str | None] = {
        "environments": ", ".join(sorted(environments_of(manifest, artifact.id))) or None,
        "source-tier": str(tier_of(governance, artifact)),
    }
    if artifact.license is not None:
        restrictions = report.restrictions.effective(artifact)
        props["license-restrictions"] = ", ".join(sorted(r.value for r in restrictions)) or "none"
        if (review := artifact.license.review) is not None:
            props.update(_numbered("license-review", {"reviewer": review.reviewer, "date": review.date.isoformat(),
                                                      "outcome": review.outcome, "record": review.record}))
    facts = report.facts_for(artifact.id)
    if facts is not None and facts.digest is not None:
        for n, approval in enumerate(report.approvals_of(artifact), 1):
            props[f"approval:{n}:matches-artifact-digest"] = str(approval.digest == facts.digest).lower()
    props.update(_eval_evidence(report.governance.evidence.get(artifact.id)))
    props.update(_registry_entry(artifact, report))
    props.update(_signature(report.governance.signatures.get(artifact.id)))
    props.update(_card(report.governance.model_cards.get(artifact.id)))
    return props


def _signature(signature: SignatureFacts | None) -> dict[str, str | None]:
    """The model signature as verified in this run: who signed (only once verified) and what was checked."""
    if signature is None:
        return {}
    return _numbered("signature", {
        "status": signature.status.value,
        "bundle-uri": signature.uri,
        "bundle-sha256": signature.bundle_sha256 or None,
        "signer": signature.signer or None,
        "signed-files": str(len(signature.files)) if signature.verified else None,
        "serialization": "/".join(signature.serialization) if signature.verified else None,
        "reason": signature.reason or None,
    })


def _card(card: ModelCardFacts | None) -> dict[str, str | None]:
    """The Hugging Face model card as read in this run; its claims are the card's, labelled as such."""
    if card is None:
        return {}
    return _numbered("model-card", {
        "path": card.path,
        "status": card.status.value,
        "sha256": card.sha256 or None,
        "license": card.license,
        "license-name": card.license_name,
        "base-model": ", ".join(card.base_models) or None,
        "reason": card.reason or None,
    })


def _eval_evidence(evidence: EvidenceFacts | None) -> dict[str, str | None]:
    if evidence is None:
        return {}
    return _numbered("eval-evidence", {
        "status": evidence.status.value,
        "sha256": evidence.sha256 if evidence.verified else None,  # only bytes read in this run
        "matches-pin": str(evidence.matches_pin).lower() if evidence.verified else None,
        "artifact-digest": evidence.named_digest,
        "reason": evidence.reason or evidence.unbound_reason or None,
    })


def _registry_entry(artifact: Artifact, report: Report) -> dict[str, str | None]:
    lookups = report.governance.registry
    if artifact.registry_entry is None:
        return {}
    record = lookups.record(artifact.id)
    return _numbered("registry-entry", {
        "lookup": lookup_status(lookups, artifact.id).value, "registry-uri": lookups.uri,
        "registry-stage": record.stage if record else None, "registry-digest": record.digest if record else None,
    })


def _numbered(prefix: str, fields: dict[str, str | None]) -> dict[str, str | None]:
    """One record of a list as flat properties: `<prefix>:<field>` (CycloneDX properties are flat)."""
    return {f"{prefix}:{name}": value for name, value in fields.items()}


# --- files -------------------------------------------------------------------------------------------------

def _files(artifact: Artifact, facts: ArtifactFacts | None) -> Iterator[Component]:
    checked = {f.path: f for f in facts.files} if facts else {}
    # dict.fromkeys: a path pinned twice (WG104) must not produce two components with one bom-ref.
    for path in dict.fromkeys([*(p.path for p in artifact.files), *checked]):
        yield _file(f"artifact:{artifact.id}/file:{path}", path, checked.get(path))


def _file(bom_ref: str, path: str, facts: FileFacts | None) -> Component:
    """A file component. The hash is written only for bytes read in this run."""
    if facts is None:
        return Component(type=ComponentType.FILE, name=path, bom_ref=bom_ref,
                         properties=_properties({"status": "not-checked"}))
    return Component(
        type=ComponentType.FILE,
        name=path,
        bom_ref=bom_ref,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=facts.sha256)] if facts.verified else [],
        properties=_properties({
            "status": facts.shown_status,
            "size": str(facts.size) if facts.verified else None,
            "format": facts.format.value if facts.format else None,
            "mirror-uri": facts.uri,
            "reason": facts.reason or None,
            # What the inspectors recorded (chat templates, pickle globals, ONNX external data, ...), so an
            # auditor sees from the BOM what each file contains, not just that it hashed right.
            **{f"detail:{key}": value for key, value in sorted(facts.details.items())},
        }),
    )


# --- lineage -----------------------------------------------------------------------------------------------

def _ancestor(derived_id: str, base: BaseModelRef, report: Report, manifest: Manifest) -> Component:
    """Pedigree ancestors are full components, so each gets its own bom-ref; the `weightgate:bom-ref`
    property points at the base's own component when the base is declared in this manifest."""
    target = manifest.artifact(base.artifact) if base.artifact else None
    if target is not None:
        copy = _identity(target, f"ancestor:{derived_id}:{target.id}", report.facts_for(target.id))
        copy.properties.add(Property(name=P + "bom-ref", value=f"artifact:{target.id}"))
        return copy
    return _external_ancestor(derived_id, base)


def _external_ancestor(derived_id: str, base: BaseModelRef) -> Component:
    uri = base.uri or base.artifact or "unknown"
    registry = _registry_of(uri)
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=f"ancestor:{derived_id}:{uri}",
        name=uri.split("://", 1)[-1],
        version=base.revision,
        purl=_purl(registry, uri, base.revision) if registry else None,
        licenses=[_license(base.license)] if base.license else [],
        external_references=_references([(ExternalReferenceType.DISTRIBUTION, base.uri)] if base.uri else []),
        # The digest is the manifest's claim about bytes weightgate never read, labelled as such.
        properties=_properties({"declared-digest": base.digest,
                                "verification": Verification.NOT_VERIFIED.value}),
    )


# --- services ----------------------------------------------------------------------------------------------

def _service(service: Service) -> Component:
    return Component(
        type=ComponentType.APPLICATION,
        bom_ref=f"service:{service.name}",
        name=service.name,
        properties=_properties({
            "environment": service.environment,
            "targets": ", ".join(service.targets) or None,
            "customer-facing": str(service.customer_facing).lower(),
            "commercial": str(service.commercial).lower(),
            "monitoring": service.monitoring,
        }),
    )


# --- values ------------------------------------------------------------------------------------------------

def _properties(values: dict[str, str | None]) -> list[Property]:
    return [Property(name=P + name, value=value) for name, value in values.items() if value]


def _references(refs: Iterable[tuple[ExternalReferenceType, str]]) -> list[ExternalReference]:
    result = []
    for ref_type, url in refs:
        try:
            result.append(ExternalReference(type=ref_type, url=XsUri(redact_url(url))))
        except InvalidUriException:
            continue  # a malformed manifest URI must not stop the BOM; the manifest checks report it
    return result


def _license(expression: str) -> License:
    """An SPDX id as a license id; a compound or LicenseRef expression as an expression; anything else as a
    named license. The library's own expression check rejects LicenseRef-*, which SPDX allows."""
    spdx_id = fixup_id(expression)
    if spdx_id is not None:
        return DisjunctiveLicense(id=spdx_id)
    if _is_spdx_expression(expression):
        return LicenseExpression(expression)
    return DisjunctiveLicense(name=expression)


def _is_spdx_expression(text: str) -> bool:
    """License symbols joined by AND / OR / WITH with balanced parentheses: the SPDX grammar, loosely."""
    depth, want_symbol = 0, True
    for word in text.replace("(", " ( ").replace(")", " ) ").split():
        if word == "(" and want_symbol:
            depth += 1
        elif word == ")" and not want_symbol and depth > 0:
            depth -= 1
        elif word in SPDX_OPERATORS and not want_symbol:
            want_symbol = True
        elif want_symbol and _is_license_symbol(word):
            want_symbol = False
        else:
            return False
    return depth == 0 and not want_symbol


def _is_license_symbol(token: str) -> bool:
    return fixup_id(token.removesuffix("+")) is not None or token.startswith(("LicenseRef-", "DocumentRef-"))


def _registry_of(uri: str) -> str | None:
    """The registry an external base model's URI names, for its purl."""
    if uri.startswith("models:/"):
        return "mlflow"
    scheme, _, rest = uri.partition("://")
    return "huggingface" if scheme == "hf" or rest.partition("/")[0] in HF_HOSTS else None


def _purl(registry: str, uri: str, revision: str | None) -> PackageURL | None:
    """pkg:huggingface/<org>/<name>@<commit> or pkg:mlflow/<name>@<version>; None for other sources, and for
    names no purl can hold (a name of white space or control characters from the manifest: without this
    check packageurl fails only later, while the whole BOM is being serialised)."""
    try:
        purl = _purl_of(registry, uri, revision)
        if purl is not None:
            purl.to_string()
    except (TypeError, ValueError):
        return None
    return purl


def _purl_of(registry: str, uri: str, revision: str | None) -> PackageURL | None:
    if registry == "huggingface" and (repo := _hf_repo(uri)) is not None:
        namespace, name, uri_revision = repo
        return PackageURL(type="huggingface", namespace=namespace, name=name, version=revision or uri_revision)
    if registry == "mlflow" and uri.startswith("models:/"):
        name, _, version = uri.removeprefix("models:/").strip("/").partition("/")
        # `models:/name@alias` names no version; only a pinned revision can fill it in.
        return PackageURL(type="mlflow", name=name.partition("@")[0], version=revision or version or None)
    return None


def _hf_repo(uri: str) -> tuple[str | None, str, str | None] | None:
    """(org, name, revision) of a Hugging Face model URI (hf://, https://huggingface.co/ or a bare repo id);
    None for datasets and spaces, which have no purl type."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        rest = uri
    elif scheme != "hf":
        host, _, rest = rest.partition("/")
        if host not in HF_HOSTS:
            return None
    segments = [s for s in rest.split("/") if s]
    if not segments or segments[0] in ("datasets", "spaces"):
        return None
    # Legacy models have no org (hf://gpt2); web URLs go on with /tree/<revision>, /resolve/..., /blob/...
    has_org = len(segments) > 1 and segments[1] not in ("tree", "resolve", "blob")
    name, _, uri_revision = segments[1 if has_org else 0].partition("@")
    return (segments[0] if has_org else None), name, uri_revision or None


def _aware(timestamp: datetime.datetime) -> datetime.datetime:
    """A naive timestamp is taken to be UTC (CycloneDX wants an offset)."""
    return timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=datetime.timezone.utc)


# --- after serialisation -----------------------------------------------------------------------------------

def add_model_cards(bom_json: dict[str, Any], report: Report) -> dict[str, Any]:
    """Add a 1.6 `modelCard` to every model component whose manifest entry has `model_card` facts.

    cyclonedx-python-lib has no model card classes, so the card is added to the serialised JSON. Datasets
    declared in the manifest are referenced by bom-ref; others are described inline by name.
    """
    if report.manifest is None:
        return bom_json
    manifest = report.manifest
    dataset_ids = {a.id for a in manifest.artifacts if a.is_dataset}
    for component in bom_json.get("components", []):
        artifact = manifest.artifact(component["bom-ref"].removeprefix("artifact:"))
        if artifact is None or not artifact.model_card or component["type"] != "machine-learning-model":
            continue
        component["modelCard"] = _model_card(artifact.model_card, dataset_ids)
    return bom_json


def _model_card(card: dict[str, Any], dataset_ids: set[str]) -> dict[str, Any]:
    parameters = {
        "task": card.get("task"),
        "architectureFamily": card.get("architecture_family"),
        "modelArchitecture": card.get("model_architecture"),
        "datasets": [{"ref": f"artifact:{d}"} if d in dataset_ids else {"type": "dataset", "name": d}
                     for d in card.get("datasets", ())],
    }
    considerations = {"useCases": card.get("use_cases"), "technicalLimitations": card.get("limitations")}
    result = {"modelParameters": _present(parameters), "considerations": _present(considerations)}
    return _present(result)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "", [], {})}


def with_serial_number(bom_json: dict[str, Any]) -> dict[str, Any]:
    """Replace the library's random serial number with a uuid5 over the rest of the document, and put the
    header fields first so the file reads from the top."""
    body = {k: v for k, v in bom_json.items() if k != "serialNumber"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    header: dict[str, Any] = {k: body.pop(k) for k in ("$schema", "bomFormat", "specVersion") if k in body}
    return {**header, "serialNumber": uuid.uuid5(SERIAL_NAMESPACE, digest).urn, **body}
