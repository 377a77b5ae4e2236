from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from weightgate.facts import FileFacts, FileStatus
from weightgate.formats import Format
from weightgate.report.cyclonedx import CycloneDxReporter, _license, _purl
from weightgate.report.interface import Report


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render(report: Report) -> dict[str, Any]:
    return json.loads(CycloneDxReporter().render(report))


def all_components(bom: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every component, however deeply nested (files, pedigree ancestors)."""
    stack = list(bom.get("components", []))
    while stack:
        component = stack.pop()
        yield component
        stack.extend(component.get("components", []))
        stack.extend(component.get("pedigree", {}).get("ancestors", []))


def component(bom: dict[str, Any], ref: str) -> dict[str, Any]:
    return next(c for c in all_components(bom) if c["bom-ref"] == ref)


def props(node: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in node.get("properties", [])}


def assert_valid(text: str, tmp_path, validate_outputs) -> None:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    assert errors is None, [str(e) for e in errors or ()]
    path = tmp_path / "bom.cdx.json"
    path.write_text(text, encoding="utf-8")
    assert validate_outputs("bom", path) == []


def test_bom_passes_the_library_and_the_schema_validators(report, tmp_path, validate_outputs):
    assert_valid(CycloneDxReporter().render(report), tmp_path, validate_outputs)


def test_offline_bom_is_valid(report, tmp_path, validate_outputs):
    offline = dataclasses.replace(report, facts=(), offline=True)
    assert_valid(CycloneDxReporter().render(offline), tmp_path, validate_outputs)


def test_scan_bom_lists_scanned_files(report, tmp_path, validate_outputs):
    data = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "
    scanned = (FileFacts("weights/model.safetensors", FileStatus.VERIFIED, "file:///w/model.safetensors",
                         sha256(data), len(data), Format.SAFETENSORS),)
    scan = dataclasses.replace(report, manifest=None, facts=(), scanned=scanned, findings=())
    text = CycloneDxReporter().render(scan)
    assert_valid(text, tmp_path, validate_outputs)
    (file,) = json.loads(text)["components"]
    assert file["bom-ref"] == "file:weights/model.safetensors"
    assert file["hashes"] == [{"alg": "SHA-256", "content": sha256(data)}]
    assert "component" not in json.loads(text)["metadata"]


def test_metadata(report):
    meta = render(report)["metadata"]
    assert meta["timestamp"] == "2024-06-30T12:00:00+00:00"
    (tool,) = meta["tools"]["components"]
    assert (tool["name"], tool["version"]) == ("weightgate", report.tool_version)
    assert props(meta) == {
        "weightgate:policy": report.policy.source,
        "weightgate:policy-sha256": report.policy.sha256,
        "weightgate:verdict": "fail",
        "weightgate:enforced": "true",
        "weightgate:offline": "false",
    }
    assert meta["component"]["name"] == "support-assistant"
    assert meta["component"]["type"] == "application"


def test_verdict_passes_when_only_waived_findings_remain(report):
    waived = tuple(f for f in report.findings if f.waived_by is not None)
    assert props(render(dataclasses.replace(report, findings=waived))["metadata"])["weightgate:verdict"] == "pass"


def test_one_component_per_artifact_and_service(report):
    bom = render(report)
    top = {c["bom-ref"]: c for c in bom["components"]}
    assert sorted(top) == ["artifact:base-llm", "artifact:support-ft", "artifact:support-tickets",
                           "service:support-assistant-api"]
    assert top["artifact:base-llm"]["type"] == "machine-learning-model"
    assert top["artifact:support-tickets"]["type"] == "data"
    assert top["service:support-assistant-api"]["type"] == "application"


def test_artifact_identity(report):
    base = component(render(report), "artifact:base-llm")
    assert (base["name"], base["version"]) == ("Llama-3.1-8B-Instruct", "3.1")
    assert base["supplier"] == {"name": "meta-llama"} and base["publisher"] == "meta-llama"
    assert base["purl"] == "pkg:huggingface/meta-llama/Llama-3.1-8B-Instruct@0e9e39f249a16976918f6564b8830bc894c89659"
    assert component(render(report), "artifact:support-ft")["purl"] == "pkg:mlflow/support-ft@7"
    assert "purl" not in component(render(report), "artifact:support-tickets")  # S3 has no purl type


def test_external_references(report, tmp_path):
    refs = {(r["type"], r["url"]) for r in component(render(report), "artifact:support-ft")["externalReferences"]}
    assert refs == {
        ("distribution", "models:/support-ft/7"),
        ("distribution-intake", "mirror/support-ft/"),  # relative to the source root: no runner path
        ("evidence", "https://evals.example.com/support-ft/2.0.1/report.json"),
    }


def test_governance_properties(report):
    p = props(component(render(report), "artifact:support-ft"))
    assert p["weightgate:artifact-class"] == "fine-tune"
    assert p["weightgate:owner"] == "team-support-ml"
    assert p["weightgate:intended-use"].startswith("Drafting answers")
    assert p["weightgate:approval:1:approver"] == "alice@example.com"
    assert p["weightgate:approval:1:ticket"] == "CHG-1001"
    assert p["weightgate:approval:2:role"] == "security"
    assert "weightgate:approval:2:ticket" not in p
    assert p["weightgate:registry-entry"] == "support-ft/7"
    assert p["weightgate:rollback"] == "base-llm"
    assert p["weightgate:last-validated"] == "2024-01-02"
    assert p["weightgate:targets"] == "eks-prod-eu, eks-prod-us"
    assert p["weightgate:waiver:1:rule"] == "WG609"
    assert p["weightgate:waiver:1:expires"] == "2024-07-31"
    assert not any(k.startswith("weightgate:waiver") for k in props(component(render(report), "artifact:base-llm")))


def test_digest_and_hashes_only_from_verified_bytes(report, mirror_files):
    bom = render(report)
    base = props(component(bom, "artifact:base-llm"))
    assert base["weightgate:verification"] == "verified"
    assert base["weightgate:artifact-digest"] == report.facts_for("base-llm").digest
    tuned = props(component(bom, "artifact:support-ft"))
    assert tuned["weightgate:verification"] == "incomplete"
    assert "weightgate:artifact-digest" not in tuned  # one file is missing, so there is no artifact digest
    for artifact_id, files in mirror_files.items():
        for path, data in files.items():
            file = component(bom, f"artifact:{artifact_id}/file:{path}")
            assert file["type"] == "file" and file["name"] == path
            assert file["hashes"] == [{"alg": "SHA-256", "content": sha256(data)}]
            assert props(file)["weightgate:size"] == str(len(data))
            assert props(file)["weightgate:status"] == "verified"
    assert props(component(bom, "artifact:base-llm/file:model.safetensors"))["weightgate:format"] == "safetensors"


def test_unverified_file_has_no_hash(report):
    missing = component(render(report), "artifact:support-ft/file:tokenizer.json")
    assert "hashes" not in missing
    assert props(missing)["weightgate:status"] == "missing"
    assert "weightgate:size" not in props(missing)
    assert "cd" * 32 not in json.dumps(missing)  # the manifest's pinned sha256 is a claim, never written


def test_offline_bom_has_no_hashes_and_nothing_verified(report, mirror_files):
    bom = render(dataclasses.replace(report, facts=(), offline=True))
    text = json.dumps(bom)
    assert '"hashes"' not in text
    assert props(bom["metadata"])["weightgate:offline"] == "true"
    for artifact_id in mirror_files:
        p = props(component(bom, f"artifact:{artifact_id}"))
        assert p["weightgate:verification"] == "not-verified"
        assert "weightgate:artifact-digest" not in p
    file = component(bom, "artifact:support-ft/file:model.safetensors")
    assert props(file) == {"weightgate:status": "not-checked"}
    # every file the manifest pins is still listed
    assert component(bom, "artifact:support-ft/file:tokenizer.json")


def test_lineage_is_pedigree_ancestors(report):
    bom = render(report)
    ancestors = {a["bom-ref"]: a for a in component(bom, "artifact:support-ft")["pedigree"]["ancestors"]}
    internal = ancestors["ancestor:support-ft:base-llm"]
    assert internal["name"] == "Llama-3.1-8B-Instruct"
    assert internal["purl"] == component(bom, "artifact:base-llm")["purl"]
    assert props(internal)["weightgate:bom-ref"] == "artifact:base-llm"
    assert props(internal)["weightgate:artifact-digest"] == report.facts_for("base-llm").digest
    assert "components" not in internal  # a reference, not a second copy of the files' bom-refs
    external = ancestors["ancestor:support-ft:hf://mistralai/Mistral-7B-v0.1"]
    assert external["purl"] == "pkg:huggingface/mistralai/Mistral-7B-v0.1@26bca36bde8333b5d7f72e9ed20ccda6a618af24"
    assert external["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    claimed = report.manifest.artifact("support-ft").base_models[1].digest
    assert props(external) == {"weightgate:declared-digest": claimed,
                               "weightgate:verification": "not-verified"}
    assert "pedigree" not in component(bom, "artifact:base-llm")


def test_bom_refs_are_unique(report):
    refs = [c["bom-ref"] for c in all_components(render(report))]
    assert len(refs) == len(set(refs))


def test_duplicates_in_an_invalid_manifest_still_give_unique_refs_and_stable_bytes(report):
    # Duplicate ids, paths and bases are findings (WG102, WG104); the BOM must still be valid and
    # deterministic (the library renames clashing bom-refs at random).
    manifest = report.manifest
    tuned = manifest.artifact("support-ft")
    tuned = dataclasses.replace(tuned, base_models=tuned.base_models * 2, files=tuned.files * 2)
    artifacts = tuple(tuned if a.id == "support-ft" else a for a in manifest.artifacts)
    broken = dataclasses.replace(report, manifest=dataclasses.replace(manifest, artifacts=artifacts * 2))
    text = CycloneDxReporter().render(broken)
    assert CycloneDxReporter().render(broken) == text
    refs = [c["bom-ref"] for c in all_components(json.loads(text))]
    assert len(refs) == len(set(refs))
    assert all(not ref.startswith("BomRef") for ref in refs)


def test_services_depend_on_their_artifacts(report):
    bom = render(report)
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in bom["dependencies"]}
    assert graph["service:support-assistant-api"] == {"artifact:support-ft", "artifact:base-llm"}
    # the dataset is deployed by no service, so the deployment depends on it directly
    assert graph["deployment:support-assistant"] == {"service:support-assistant-api", "artifact:support-tickets"}
    service = props(component(bom, "service:support-assistant-api"))
    assert service == {
        "weightgate:environment": "production",
        "weightgate:targets": "eks-prod-eu",
        "weightgate:customer-facing": "true",
        "weightgate:commercial": "true",
        "weightgate:monitoring": "grafana://support/assistant",
    }


def test_model_card(report):
    bom = render(report)
    card = component(bom, "artifact:support-ft")["modelCard"]
    assert card["modelParameters"] == {
        "task": "text-generation",
        "architectureFamily": "transformer",
        "modelArchitecture": "LlamaForCausalLM",
        "datasets": [{"ref": "artifact:support-tickets"}, {"type": "dataset", "name": "OpenAssistant/oasst1"}],
    }
    assert card["considerations"] == {
        "useCases": ["Drafting support replies reviewed by an agent"],
        "technicalLimitations": ["English only", "Not for legal or medical advice"],
    }
    assert component(bom, card["modelParameters"]["datasets"][0]["ref"])["type"] == "data"
    assert "modelCard" not in component(bom, "artifact:base-llm")


def test_license_ref_is_an_expression(report):
    bom = render(report)
    assert component(bom, "artifact:base-llm")["licenses"] == [{"expression": "LicenseRef-llama3.1"}]
    assert component(bom, "artifact:support-tickets")["licenses"] == [{"expression": "CC-BY-4.0 OR MIT"}]


@pytest.mark.parametrize(("spdx", "expected"), [
    ("Apache-2.0", {"id": "Apache-2.0"}),
    ("apache-2.0", {"id": "Apache-2.0"}),
    ("LicenseRef-llama3.1", {"expression": "LicenseRef-llama3.1"}),
    ("MIT OR Apache-2.0", {"expression": "MIT OR Apache-2.0"}),
    ("(MIT AND LicenseRef-x) OR GPL-2.0-only WITH Classpath-exception-2.0",
     {"expression": "(MIT AND LicenseRef-x) OR GPL-2.0-only WITH Classpath-exception-2.0"}),
    ("Llama 3 Community License", {"name": "Llama 3 Community License"}),
    ("MIT OR", {"name": "MIT OR"}),
    ("(MIT", {"name": "(MIT"}),
])
def test_license_choice(spdx, expected):
    license = _license(spdx)
    values = {k: getattr(license, k, None) for k in ("id", "name", "value")}
    shown = {"expression" if k == "value" else k: v for k, v in values.items() if v}
    assert shown == expected


@pytest.mark.parametrize(("registry", "uri", "revision", "expected"), [
    ("huggingface", "hf://org/name", "a" * 40, "pkg:huggingface/org/name@" + "a" * 40),
    ("huggingface", "https://huggingface.co/org/name/tree/main", None, "pkg:huggingface/org/name"),
    ("huggingface", "hf://gpt2", None, "pkg:huggingface/gpt2"),
    ("huggingface", "hf://datasets/org/corpus", None, None),
    ("mlflow", "models:/fraud/3", None, "pkg:mlflow/fraud@3"),
    ("mlflow", "models:/fraud@champion", "4", "pkg:mlflow/fraud@4"),
    ("mlflow", "runs:/abc/model", None, None),
    ("s3", "s3://bucket/key", "v1", None),
])
def test_purl(registry, uri, revision, expected):
    purl = _purl(registry, uri, revision)
    assert (purl.to_string() if purl else None) == expected


def test_same_report_and_timestamp_give_identical_bytes(report):
    first = CycloneDxReporter().render(report)
    assert CycloneDxReporter().render(report) == first
    assert json.loads(first)["serialNumber"].startswith("urn:uuid:")
    assert list(json.loads(first))[:4] == ["$schema", "bomFormat", "specVersion", "serialNumber"]


def test_serial_number_changes_with_time_and_content(report):
    serial = render(report)["serialNumber"]
    later = dataclasses.replace(report, timestamp=report.timestamp + datetime.timedelta(seconds=1))
    assert render(later)["serialNumber"] != serial
    assert render(dataclasses.replace(report, facts=()))["serialNumber"] != serial


def test_inspector_details_are_recorded_per_file(tmp_path):
    """A GGUF's chat template is code; the BOM records it with the file it came from."""
    import shutil

    from weightgate.gate import CheckOptions, run_check
    from weightgate.report.cyclonedx import CycloneDxReporter

    examples = Path(__file__).resolve().parents[2] / "examples"
    copy = tmp_path / "examples"
    shutil.copytree(examples, copy)
    report = run_check(CheckOptions(copy / "deployment.yaml", policy=copy / "policy.yaml", source_root=tmp_path))
    bom = json.loads(CycloneDxReporter().render(report))
    gguf = next(c for c in bom["components"] if c["bom-ref"] == "artifact:tiny-chat-gguf")
    props = {p["name"]: p["value"] for p in gguf["components"][0]["properties"]}
    assert props["weightgate:detail:chat_template"].startswith("{% for m in messages %}")
    assert props["weightgate:detail:architecture"] == "llama"
