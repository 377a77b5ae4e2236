"""The JSON report's published schema (schemas/report.schema.json): real reports validate against it, failing
and passing, full and offline, check and scan; it rejects what the report never writes; its enums are the
code's; `weightgate schema report` prints it; and equal inputs give byte-identical reports."""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conftest import REPO_ROOT
from example_copy import fix_example
from weightgate.cli import main
from weightgate.evidence.signatures import SignatureStatus
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_PASS
from weightgate.facts import DIFFERS_FROM_PIN, FileStatus, ListingStatus
from weightgate.governance.model_card import CardStatus
from weightgate.governance.policy import Restriction
from weightgate.jsonschemas import schema_errors, schema_text
from weightgate.report.interface import LookupStatus, Report, Verification
from weightgate.report.json import SCHEMA_ID, JsonReporter
from weightgate.rules import Level, Severity

AS_OF = ["--as-of", "2026-11-26"]
SCHEMA = json.loads(schema_text("report"))


def check_json(example: Path, out: Path, *extra: str) -> tuple[int, str]:
    code = main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"),
                 "--json", str(out), "-q", *AS_OF, *extra])
    return code, out.read_text()


@pytest.mark.parametrize("extra", [[], ["--offline"]], ids=["full", "offline"])
def test_failing_example_report_validates(example: Path, tmp_path: Path, extra: list[str]) -> None:
    code, text = check_json(example, tmp_path / "r.json", *extra)
    assert code == EXIT_FINDINGS
    doc = json.loads(text)
    assert doc["verdict"] == "fail" and doc["$schema"] == SCHEMA_ID
    assert schema_errors("report", doc) == []


def test_passing_example_report_validates(example: Path, tmp_path: Path) -> None:
    fix_example(example)
    code, text = check_json(example, tmp_path / "r.json")
    assert code == EXIT_PASS
    doc = json.loads(text)
    assert doc["verdict"] == "pass" and schema_errors("report", doc) == []
    assert {a["verification"] for a in doc["artifacts"]} == {"verified"}


def test_scan_report_validates(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    main(["scan", str(example / "mirror"), "--json", str(out), "-q", "--source-root", str(example)])
    doc = json.loads(out.read_text())
    assert doc["scanned"] and doc["artifacts"] == [] and doc["manifest"] is None
    assert schema_errors("report", doc) == []


def test_hand_built_report_validates(report: Report) -> None:
    assert schema_errors("report", json.loads(JsonReporter().render(report))) == []


def _mutations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    def changed(edit: Any) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(doc))
        edit(copy)
        return copy

    return [
        ("unknown top-level key", changed(lambda d: d.update(extra=1))),
        ("unknown governance key", changed(lambda d: d["artifacts"][0]["governance"].update(extra=1))),
        ("unknown signature status", changed(lambda d: d["artifacts"][0]["governance"]["signature"].update(
            status="fine"))),
        ("missing binding", changed(lambda d: d["artifacts"][0]["governance"].pop("binding"))),
        ("malformed digest", changed(lambda d: d["artifacts"][0].update(digest="sha256:xyz"))),
        ("bad verdict", changed(lambda d: d.update(verdict="maybe"))),
    ]


def test_schema_rejects_what_the_report_never_writes(example: Path, tmp_path: Path) -> None:
    _, text = check_json(example, tmp_path / "r.json")
    doc = json.loads(text)
    assert doc["artifacts"][0]["governance"]["signature"] is not None  # tiny-chat-base is signed
    for name, mutated in _mutations(doc):
        assert schema_errors("report", mutated), name


def test_schema_is_valid_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$id"] == SCHEMA_ID
    assert SCHEMA["additionalProperties"] is False


def _objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") == "object" else []
        return found + [o for value in node.values() for o in _objects(value)]
    if isinstance(node, list):
        return [o for value in node for o in _objects(value)]
    return []


def test_every_object_is_closed() -> None:
    """additionalProperties false on every object with fixed keys; only string maps stay open."""
    for obj in _objects(SCHEMA):
        if "properties" in obj:
            assert obj.get("additionalProperties") is False, obj
            assert set(obj["required"]) == set(obj["properties"]), obj
        else:
            assert obj["additionalProperties"] == {"type": "string"}, obj


@pytest.mark.parametrize(("definition", "values"), [
    ("fileStatus", FileStatus), ("verification", Verification), ("restriction", Restriction),
    (("signature", "status"), SignatureStatus), (("modelCard", "status"), CardStatus),
    (("registryEntry", "lookup"), LookupStatus), (("finding", "severity"), Severity),
    (("finding", "level"), Level), (("unpinned", "status"), ListingStatus),
])
def test_schema_enums_are_the_codes(definition: str | tuple[str, str], values: type[enum.Enum]) -> None:
    node = SCHEMA["$defs"][definition] if isinstance(definition, str) else \
        SCHEMA["$defs"][definition[0]]["properties"][definition[1]]
    codes = [v.value for v in values]
    if values is FileStatus:  # a file read whole that is not the pinned bytes is never called verified
        codes.insert(1, DIFFERS_FROM_PIN)
    assert node["enum"] == codes


def test_schema_command_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "report"]) == EXIT_PASS
    assert json.loads(capsys.readouterr().out) == json.loads((REPO_ROOT / "schemas" / "report.schema.json")
                                                            .read_text())


# --- determinism -------------------------------------------------------------------------------------------

TIMESTAMP = re.compile(r'"timestamp": "[^"]*"')


@pytest.mark.parametrize("extra", [[], ["--offline"]], ids=["full", "offline"])
def test_two_runs_differ_only_in_the_timestamp(example: Path, tmp_path: Path, extra: list[str]) -> None:
    _, first = check_json(example, tmp_path / "a.json", "--workers", "1", *extra)
    _, second = check_json(example, tmp_path / "b.json", "--workers", "4", *extra)
    assert TIMESTAMP.sub("", first) == TIMESTAMP.sub("", second)


def test_reproducible_runs_are_byte_identical(example: Path, tmp_path: Path) -> None:
    _, first = check_json(example, tmp_path / "a.json", "--reproducible", "--workers", "1")
    _, second = check_json(example, tmp_path / "b.json", "--reproducible")
    assert first == second


def test_runtime_report_validates(ws) -> None:
    """Dependency files, the snapshot used and the matches (real advisories) are in the report, and validate."""
    from checks.test_runtime_deps import _artifact, _check

    report = _check(ws, _artifact(ws, b"torch==2.5.1\nonnx>=1\n"))
    doc = json.loads(JsonReporter().render(report))
    assert schema_errors("report", doc) == []
    runtime = doc["runtime"]
    assert runtime["advisories"]["status"] == "loaded"
    assert runtime["files"][0]["requirements"][1] == {"name": "onnx", "specifier": ">=1", "version": None, "line": 2}
    (match,) = runtime["vulnerable"]
    assert match["advisories"][0]["aliases"] == ["CVE-2025-32434", "GHSA-53q9-r3pm-6pq6"]
    assert match["advisories"][0]["fixed"] == ["2.6.0"]


def test_runtime_enums_are_the_codes() -> None:
    from weightgate.runtime.facts import DependencyFileStatus, OwnerKind, SnapshotStatus

    runtime = SCHEMA["$defs"]["runtime"]["properties"]
    assert runtime["advisories"]["properties"]["status"]["enum"] == [s.value for s in SnapshotStatus]
    assert runtime["files"]["items"]["properties"]["status"]["enum"] == [s.value for s in DependencyFileStatus]
    assert runtime["files"]["items"]["properties"]["owner_kind"]["enum"] == [k.value for k in OwnerKind]
