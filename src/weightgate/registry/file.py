"""The file-based model registry: a `registry.yaml` kept beside the policy (or named by `--registry`).

    apiVersion: weightgate.dev/v1
    kind: ModelRegistry
    name: mlflow                     # optional: the name manifests give in registry_entry.registry
    entries:
      - id: tiny-chat-support/4
        digest: sha256:<64 hex>      # the artifact digest registered
        stage: production
        approvals:
          - {approver: appsec@example.com, role: security, date: 2026-10-21, digest: sha256:<64 hex>}

The file is untrusted input like the manifest: plain YAML only, bounded, every structural problem makes the
registry unavailable (a finding), never a pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weightgate.errors import InputFileError
from weightgate.findings import Location
from weightgate.registry import RegistryApproval, RegistryRecord, RegistryUnavailable
from weightgate.yamlsource import LocatedDocument, load_document

MAX_ENTRIES = 100_000


class FileRegistry:
    def __init__(self, path: Path) -> None:
        try:
            document = load_document(path, "registry")
        except InputFileError as e:
            raise RegistryUnavailable(e.diagnostics()) from e
        self.uri = path.resolve().as_uri()
        self.name, self._entries = _parse(document)

    def entry(self, entry_id: str) -> RegistryRecord | None:
        return self._entries.get(entry_id)


def _parse(doc: LocatedDocument) -> tuple[str | None, dict[str, RegistryRecord]]:
    data = doc.data
    if not isinstance(data, dict) or data.get("kind") != "ModelRegistry":
        raise RegistryUnavailable(f"{doc.path}: not a registry file (expected `kind: ModelRegistry`)")
    name = _optional_str(doc, data, "name", ())
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise _error(doc, ("entries",), "`entries` must be a list")
    if len(entries) > MAX_ENTRIES:
        raise _error(doc, ("entries",), f"more than {MAX_ENTRIES} entries")
    records: dict[str, RegistryRecord] = {}
    for i, entry in enumerate(entries):
        record = _record(doc, entry, ("entries", i))
        if record.id in records:
            raise _error(doc, ("entries", i), f"entry id {record.id!r} appears twice; which one holds is undefined")
        records[record.id] = record
    return name, records


def _record(doc: LocatedDocument, entry: Any, key: tuple[str | int, ...]) -> RegistryRecord:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise _error(doc, key, "each entry must be a mapping with a string `id`")
    approvals = entry.get("approvals", [])
    if not isinstance(approvals, list):
        raise _error(doc, (*key, "approvals"), "`approvals` must be a list")
    return RegistryRecord(
        id=entry["id"],
        digest=_optional_str(doc, entry, "digest", key),
        stage=_optional_str(doc, entry, "stage", key),
        approvals=tuple(_approval(doc, a, (*key, "approvals", n)) for n, a in enumerate(approvals)),
        location=Location(str(doc.path), doc.line_of(key)),
    )


def _approval(doc: LocatedDocument, approval: Any, key: tuple[str | int, ...]) -> RegistryApproval:
    if not isinstance(approval, dict) or not isinstance(approval.get("approver"), str):
        raise _error(doc, key, "each approval must be a mapping with a string `approver`")
    return RegistryApproval(approval["approver"], _optional_str(doc, approval, "role", key),
                            _optional_str(doc, approval, "date", key), _optional_str(doc, approval, "digest", key))


def _optional_str(doc: LocatedDocument, node: dict[str, Any], field: str, key: tuple[str | int, ...]) -> str | None:
    value = node.get(field)
    if value is not None and not isinstance(value, str):
        raise _error(doc, (*key, field), f"`{field}` must be a string (quote it in YAML)")
    return value


def _error(doc: LocatedDocument, key: tuple[str | int, ...], message: str) -> RegistryUnavailable:
    return RegistryUnavailable(f"{doc.path}:{doc.line_of(key)}: {message}")
