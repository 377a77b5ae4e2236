"""The JSON report answers a GRC reviewer's questions without the BOM: who signed each artifact, which digest
its approvals bind to, what the eval evidence and the registry said, its license in effect, its lineage,
rollback and re-validation; and offline runs say what they did not fetch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Workspace
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS
from weightgate.report.interface import Report
from weightgate.report.json import NOT_GATHERED, JsonReporter

AS_OF = ["--as-of", "2026-11-26"]


def run_json(example: Path, out: Path, *extra: str) -> dict[str, Any]:
    code = main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"),
                 "--json", str(out), "-q", *AS_OF, *extra])
    assert code == EXIT_FINDINGS  # the example has planted problems
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def governance(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a["governance"] for a in doc["artifacts"]}


def _bom_props(example: Path, tmp_path: Path, *extra: str) -> dict[str, dict[str, str]]:
    bom = tmp_path / "r.bom.json"
    main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"), "--bom", str(bom),
          "-q", *AS_OF, *extra])
    return {c["bom-ref"].removeprefix("artifact:"): {p["name"].removeprefix("weightgate:"): p["value"]
                                                     for p in c.get("properties", [])}
            for c in json.loads(bom.read_text())["components"] if c["bom-ref"].startswith("artifact:")}


def test_signature_approvals_and_evidence_of_a_full_run(example: Path, tmp_path: Path) -> None:
    doc = run_json(example, tmp_path / "r.json")
    artifacts = {a["id"]: a for a in doc["artifacts"]}
    base = governance(doc)["tiny-chat-base"]
    assert base["signature"]["status"] == "verified"
    assert "example-org.pub" in base["signature"]["signer"]
    assert base["signature"]["signed_files"] == len(artifacts["tiny-chat-base"]["files"])
    support = governance(doc)["tiny-chat-support"]
    digest = artifacts["tiny-chat-support"]["digest"]
    assert support["binding"] == {"digest": digest, "source": "verified", "declared_digest": digest,
                                  "bytes_differ_from_pins": False}
    assert [(a["approver"], a["role"], a["time"], a["binds"], a["signed"], a["counted"])
            for a in support["approvals"]] == [
        ("appsec@example.com", "security", "2026-10-21T09:30:00Z", True, True, True),
        ("ml-lead@example.com", "ml-platform", "2026-10-22T09:30:00Z", True, True, True),
        ("legal@example.com", "legal", "2026-10-20T09:30:00Z", True, True, True)]
    assert support["approvals"][0]["record"].endswith(f"approvals/{digest.removeprefix('sha256:')}.jsonl#L1")
    evidence = support["eval_evidence"]
    assert (evidence["status"], evidence["matches_pin"], evidence["artifact_digest"], evidence["binds"]) == (
        "verified", True, digest, True)
    registry = support["registry_entry"]
    assert (registry["lookup"], registry["record"]["stage"], registry["record"]["binds"]) == (
        "found", "production", True)
    assert support["environments"] == ["production"] and support["source_tier"] == 1
    assert support["rollback"] == {"target": "tiny-chat-support-v3", "in_manifest": True,
                                   "verification": "verified", "digest": artifacts["tiny-chat-support-v3"]["digest"],
                                   "approved": True}
    assert support["freshness"] == {"last_validated": "2026-11-02", "revalidation_days": 5000,
                                    "revalidate_by": "2040-07-11", "overdue": False}


def test_license_and_lineage(example: Path, tmp_path: Path) -> None:
    support = governance(run_json(example, tmp_path / "r.json"))["tiny-chat-support"]
    license_ = support["license"]
    assert license_["review"]["record"] == "LIC-402"
    assert license_["verdict"]["needs_review"] == ["LicenseRef-tiny-chat-community"]
    assert [(r["restriction"], r["via"]) for r in license_["effective_restrictions"]] == [
        ("acceptable-use", ["tiny-chat-base"]), ("attribution", ["tiny-chat-base"])]
    assert [(b["name"], b["kind"], b["verification"]) for b in support["base_models"]] == [
        ("tiny-chat-base", "manifest", "verified")]


def test_bytes_changed_after_approval_are_visible(example: Path, tmp_path: Path) -> None:
    """The GGUF export changed after it was pinned: its approval names the pinned digest (which still binds,
    so WG305 reports the change once), and the report shows the bytes read are other bytes."""
    doc = run_json(example, tmp_path / "r.json")
    gguf = next(a for a in doc["artifacts"] if a["id"] == "tiny-chat-gguf")
    binding = gguf["governance"]["binding"]
    assert gguf["verification"] == "differs-from-manifest"
    assert binding["bytes_differ_from_pins"] is True and binding["digest"] == gguf["digest"]
    assert binding["declared_digest"] != gguf["digest"]
    assert gguf["governance"]["approvals"][0]["digest"] == binding["declared_digest"]
    # issue 14, class 9: the words say what was proven. The approval is about the pinned bytes, not the ones
    # read (binds false, as the BOM's matches-artifact-digest), and the changed file is not "verified".
    assert gguf["governance"]["approvals"][0]["binds"] is False
    assert [f["status"] for f in gguf["files"]] == ["differs-from-pin"]


def test_offline_says_what_was_not_fetched(example: Path, tmp_path: Path) -> None:
    doc = run_json(example, tmp_path / "r.json", "--offline")
    artifacts = {a["id"]: a for a in doc["artifacts"]}
    assert set(artifacts) == {"tiny-chat-base", "tiny-chat-support", "tiny-chat-support-v3", "tiny-chat-gguf",
                              "support-embedder", "ticket-reranker", "support-eval-set"}
    for artifact in artifacts.values():
        assert (artifact["verification"], artifact["digest"], artifact["files"]) == ("not-verified", None, [])
        assert artifact["governance"]["binding"]["source"] == "declared"
        for kind in ("signature", "model_card", "eval_evidence"):
            gathered = artifact["governance"][kind]
            if gathered is not None:
                assert gathered["status"] == "not-checked" and gathered["reason"].startswith("offline run"), kind
    registry = artifacts["tiny-chat-support"]["governance"]["registry_entry"]
    assert (registry["lookup"], registry["record"]) == ("not-checked", None)
    assert registry["reason"].startswith("offline run")
    declared = {k for a in artifacts.values() for k in ("signature", "model_card", "eval_evidence")
                if a["governance"][k] is not None}
    assert declared == {"signature", "model_card", "eval_evidence"}  # none silently left out


def test_json_and_bom_record_the_same_facts(example: Path, tmp_path: Path) -> None:
    for extra in ([], ["--offline"]):
        doc = run_json(example, tmp_path / "r.json", *extra)
        props = _bom_props(example, tmp_path, *extra)
        for artifact in doc["artifacts"]:
            bom, gov = props[artifact["id"]], artifact["governance"]
            assert artifact["verification"] == bom["verification"]
            assert (gov["signature"] or {}).get("status") == bom.get("signature:status")
            assert (gov["model_card"] or {}).get("status") == bom.get("model-card:status")
            assert (gov["eval_evidence"] or {}).get("status") == bom.get("eval-evidence:status")
            assert (gov["registry_entry"] or {}).get("lookup") == bom.get("registry-entry:lookup")
            assert str(gov["source_tier"]) == bom["source-tier"]
            if gov["license"]["expression"] is not None:
                restrictions = ", ".join(r["restriction"] for r in gov["license"]["effective_restrictions"])
                assert (restrictions or "none") == bom["license-restrictions"]


def test_facts_missing_from_a_report_show_as_not_checked(report: Report) -> None:
    """A Report without gathered governance (built by hand here) must not make declared evidence vanish."""
    doc = json.loads(JsonReporter().render(report))
    ft = governance(doc)["support-ft"]
    assert (ft["eval_evidence"]["status"], ft["eval_evidence"]["reason"]) == ("not-checked", NOT_GATHERED)
    assert ft["registry_entry"]["lookup"] == "not-checked"
    assert "no model registry" in ft["registry_entry"]["reason"]
    # One pinned file is missing: nothing can bind, and the approvals say so rather than "false".
    assert ft["binding"] is None and [a["binds"] for a in ft["approvals"]] == [None, None]
    assert ft["freshness"]["overdue"] is True  # the (waived) re-validation finding
    assert [(b["kind"], b["verification"]) for b in ft["base_models"]] == [
        ("manifest", "verified"), ("external", "not-verified")]
    assert ft["rollback"]["target"] == "base-llm" and ft["rollback"]["approved"] is False
    base = governance(doc)["base-llm"]
    assert base["freshness"] == {"last_validated": None, "revalidation_days": 90, "revalidate_by": None,
                                 "overdue": None}
    assert base["signature"] is None and base["eval_evidence"] is None and base["registry_entry"] is None


def test_base_without_governance_and_a_dataset(report: Report) -> None:
    doc = json.loads(JsonReporter().render(report))
    base = governance(doc)["base-llm"]
    assert base["binding"]["source"] == "verified" and base["approvals"] == []
    tickets = governance(doc)["support-tickets"]
    assert tickets["license"]["verdict"]["normalized"] == "CC-BY-4.0 OR MIT"
    assert tickets["rollback"] is None and tickets["base_models"] == []


def _registry(ws: Workspace, digest: str) -> Path:
    path = ws.root / "registry.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "weightgate.dev/v1", "kind": "ModelRegistry", "name": "files",
                                    "entries": [{"id": "a/1", "digest": digest, "stage": "production"}]}))
    return path


@pytest.mark.parametrize(("named", "binds"), [("pinned", True), ("other", False)])
def test_approval_and_registry_binding(ws: Workspace, named: str, binds: bool) -> None:
    art = ws.artifact("a", registry_entry={"registry": "files", "id": "a/1", "stage": "production"})
    pinned = art["approvals"][0]["digest"]
    digest = pinned if named == "pinned" else "sha256:" + "0" * 64
    art["approvals"][0]["digest"] = digest
    report = ws.check(ws.write_manifest([art]), registry=_registry(ws, digest))
    gov = governance(json.loads(JsonReporter().render(report)))["a"]
    assert gov["binding"]["digest"] == pinned
    assert gov["approvals"][0]["binds"] is binds
    assert (gov["registry_entry"]["lookup"], gov["registry_entry"]["record"]["binds"]) == ("found", binds)


@pytest.mark.parametrize(("entry_id", "lookup"), [("a/1", "found"), ("a/2", "missing")])
def test_registry_lookup_outcome(ws: Workspace, entry_id: str, lookup: str) -> None:
    art = ws.artifact("a", registry_entry={"id": entry_id})
    report = ws.check(ws.write_manifest([art]), registry=_registry(ws, art["approvals"][0]["digest"]))
    entry = governance(json.loads(JsonReporter().render(report)))["a"]["registry_entry"]
    assert (entry["lookup"], entry["record"] is None, entry["reason"]) == (lookup, lookup == "missing", None)


def test_an_unreadable_registry_says_why(ws: Workspace) -> None:
    art = ws.artifact("a", registry_entry={"id": "a/1"})
    broken = ws.root / "registry.yaml"
    broken.write_text("entries: [unclosed\n")
    report = ws.check(ws.write_manifest([art]), registry=broken)
    entry = governance(json.loads(JsonReporter().render(report)))["a"]["registry_entry"]
    assert entry["lookup"] == "registry-unavailable" and entry["reason"]
