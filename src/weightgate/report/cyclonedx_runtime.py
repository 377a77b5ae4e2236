"""The runtime part of the ML-BOM: the pinned libraries that load and serve the models as CycloneDX library
components with purls, `dependencies` from each model (and service) to them, and the CycloneDX 1.6
`vulnerabilities` the pinned advisory snapshot lists for them.

Only what was read in this run is written: libraries from dependency files and locks whose bytes the gate
read (artifact files verified in the verify pass, service locks matching their pin), and vulnerabilities from
the snapshot whose sha256 the policy pins.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from packageurl import PackageURL

from weightgate.manifest import Manifest
from weightgate.runtime.advisories import Advisory, CvssRating
from weightgate.runtime.facts import OwnerKind, RuntimeFacts, VulnerableRequirement
from weightgate.runtime.requirements import RuntimeRequirement

P = "weightgate:"
OSV_URL = "https://osv.dev/vulnerability/"
_ALIAS_SOURCES = (
    ("CVE-", "NVD", "https://nvd.nist.gov/vuln/detail/"),
    ("GHSA-", "GitHub Advisories", "https://github.com/advisories/"),
    ("PYSEC-", "PyPA Advisory Database", OSV_URL),
)
_METHODS = {"CVSS_V4": VulnerabilityScoreSource.CVSS_V4, "CVSS_V2": VulnerabilityScoreSource.CVSS_V2}
_SEVERITIES = {s.value: s for s in VulnerabilitySeverity}


def library_ref(name: str, version: str) -> str:
    return f"pypi:{name}@{version}"


def add_runtime(bom: Bom, runtime: RuntimeFacts, manifest: Manifest, artifacts: Mapping[str, Component],
                services: Mapping[str, Component]) -> None:
    """Add the libraries, the model -> library and service -> library dependencies, and the vulnerabilities."""
    libraries: dict[str, Component] = {}
    declared: dict[str, list[str]] = {}
    owned: dict[tuple[OwnerKind, str], list[Component]] = {}
    for file in runtime.files:
        for requirement in file.requirements:
            if requirement.version is None:
                continue  # a range names no one library; WG701 reports it
            ref = library_ref(requirement.name, requirement.version)
            component = libraries.setdefault(ref, _library(requirement, ref))
            declared.setdefault(ref, []).append(f"{file.owner_kind.value}:{file.owner}/{file.path}")
            owned.setdefault((file.owner_kind, file.owner), []).append(component)
    for ref, component in libraries.items():
        component.properties.add(Property(name=f"{P}declared-in", value=", ".join(dict.fromkeys(declared[ref]))))
    bom.components.update(libraries.values())
    for (kind, owner), components in owned.items():
        target = (artifacts if kind is OwnerKind.ARTIFACT else services).get(owner)
        if target is not None:
            bom.register_dependency(target, components)
    # A model is loaded by its own declared libraries and by the runtime of every service that deploys it.
    for service in manifest.services:
        service_libraries = owned.get((OwnerKind.SERVICE, service.name), [])
        for artifact_id in service.artifacts:
            if artifact_id in artifacts and service_libraries:
                bom.register_dependency(artifacts[artifact_id], service_libraries)
    bom.vulnerabilities.update(_vulnerabilities(runtime.vulnerable))


def _library(requirement: RuntimeRequirement, ref: str) -> Component:
    return Component(type=ComponentType.LIBRARY, bom_ref=ref, name=requirement.name, version=requirement.version,
                     purl=PackageURL(type="pypi", name=requirement.name, version=requirement.version))


def _vulnerabilities(matches: Iterable[VulnerableRequirement]) -> list[Vulnerability]:
    """One entry per advisory, affecting every library version it matched."""
    advisories: dict[str, Advisory] = {}
    affected: dict[str, dict[str, str]] = {}  # advisory id -> library ref -> version
    packages: dict[str, str] = {}
    for match in matches:
        version = match.requirement.version or ""
        for advisory in match.advisories:
            advisories.setdefault(advisory.id, advisory)
            affected.setdefault(advisory.id, {})[library_ref(match.requirement.name, version)] = version
            packages.setdefault(advisory.id, match.requirement.name)
    return [_vulnerability(advisory, affected[advisory_id], packages[advisory_id])
            for advisory_id, advisory in sorted(advisories.items())]


def _vulnerability(advisory: Advisory, affected: Mapping[str, str], package: str) -> Vulnerability:
    recommendation = (f"Upgrade {package} to {advisory.fixed[0]} or later (fixed in {', '.join(advisory.fixed)})."
                      if advisory.fixed else f"No fixed {package} release is published.")
    return Vulnerability(
        bom_ref=f"vulnerability:{advisory.id}",
        id=advisory.id,
        source=VulnerabilitySource(name="OSV", url=XsUri(OSV_URL + advisory.id)),
        references=[VulnerabilityReference(id=alias, source=_alias_source(alias)) for alias in advisory.aliases],
        ratings=_ratings(advisory.rating),
        description=advisory.summary or None,
        recommendation=recommendation,
        published=advisory.published,
        updated=advisory.modified,
        affects=[BomTarget(ref=ref, versions=[BomTargetVersionRange(version=version,
                                                                    status=ImpactAnalysisAffectedStatus.AFFECTED)])
                 for ref, version in sorted(affected.items())],
    )


def _alias_source(alias: str) -> VulnerabilitySource:
    for prefix, name, url in _ALIAS_SOURCES:
        if alias.startswith(prefix):
            return VulnerabilitySource(name=name, url=XsUri(url + alias))
    return VulnerabilitySource(name="OSV", url=XsUri(OSV_URL + alias))


def _ratings(rating: CvssRating | None) -> list[VulnerabilityRating]:
    if rating is None:
        return []
    severity = _SEVERITIES.get(rating.label, VulnerabilitySeverity.UNKNOWN)
    if not rating.vector:  # a label without a vector (GHSA's database severity)
        return [VulnerabilityRating(severity=severity, method=VulnerabilityScoreSource.OTHER)]
    method = _METHODS.get(rating.method) or (VulnerabilityScoreSource.CVSS_V3_1 if rating.vector.startswith(
        "CVSS:3.1/") else VulnerabilityScoreSource.CVSS_V3)
    return [VulnerabilityRating(score=decimal.Decimal(str(rating.score)), severity=severity, method=method,
                                vector=rating.vector)]
