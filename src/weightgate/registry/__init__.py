"""Model registries: where the entries a manifest's `registry_entry` names are looked up.

One small protocol; the file-based registry (`registry.yaml`) is the embedded default, and other backends
(an MLflow Model Registry, as an extra) implement the same protocol without touching the checks. Lookups
happen in the gate, before the checks run, so checks stay free of I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from weightgate.findings import Location

if TYPE_CHECKING:  # reporters import this module without building the manifest model
    from weightgate.manifest import Manifest


class RegistryUnavailable(Exception):
    """The registry as a whole cannot be read (missing, unparseable, unreachable); the message says why."""


@dataclass(frozen=True)
class RegistryApproval:
    approver: str
    role: str | None
    date: str | None
    digest: str | None


@dataclass(frozen=True)
class RegistryRecord:
    """One registry entry as the registry holds it."""

    id: str
    digest: str | None
    stage: str | None
    approvals: tuple[RegistryApproval, ...]
    location: Location  # where the entry is recorded (a file line, or the server URI)


class Registry(Protocol):
    name: str | None  # the name manifests use in `registry_entry.registry`, when the registry declares one
    uri: str

    def entry(self, entry_id: str) -> RegistryRecord | None:
        """The entry with this id, or None when the registry has none. Raises RegistryUnavailable."""


@dataclass(frozen=True)
class RegistryLookups:
    """What the gate found in the registry for each artifact with a `registry_entry`."""

    uri: str | None = None  # the registry consulted; None when none is configured or the run is offline
    name: str | None = None
    records: Mapping[str, RegistryRecord | None] = field(default_factory=dict)
    unavailable: str | None = None  # why the registry could not be read
    offline: bool = False

    def record(self, artifact_id: str) -> RegistryRecord | None:
        return self.records.get(artifact_id)


def open_registry(path: Path) -> Registry:
    from weightgate.registry.file import FileRegistry

    return FileRegistry(path)


def look_up_entries(registry: Registry, manifest: Manifest) -> RegistryLookups:
    """Look up every artifact's registry entry once. A registry that fails midway fails as a whole."""
    records: dict[str, RegistryRecord | None] = {}
    for artifact in manifest.artifacts:
        if artifact.registry_entry is not None and artifact.id not in records:
            records[artifact.id] = registry.entry(artifact.registry_entry.id)
    return RegistryLookups(registry.uri, registry.name, records)
