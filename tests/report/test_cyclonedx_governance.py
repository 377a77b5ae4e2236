"""The ML-BOM answers an auditor's questions on its own: which models run in production, when were they last
validated, were they approved as the bytes verified, and which waivers were used."""

import json
import shutil

from conftest import REPO_ROOT, rule_ids
from weightgate.cli import main
from weightgate.facts import artifact_digest


def _props(component):
    return {p["name"].removeprefix("weightgate:"): p["value"] for p in component.get("properties", [])}


def _example_bom(tmp_path):
    example = tmp_path / "examples"
    shutil.copytree(REPO_ROOT / "examples", example)
    bom = tmp_path / "bom.json"
    main(["check", str(example / "deployment.yaml"), "--policy", str(example / "policy.yaml"), "--bom", str(bom),
          "-q", "--as-of", "2026-11-26"])
    return json.loads(bom.read_text())


def production_models(bom):
    """From the BOM alone: every model a production service depends on, with its validation evidence."""
    components = {c["bom-ref"]: c for c in bom["components"]}
    depends = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    answer = {}
    for ref, component in components.items():
        if component["type"] != "application" or _props(component).get("environment") != "production":
            continue
        for artifact_ref in depends.get(ref, []):
            props = _props(components[artifact_ref])
            approved = [v for k, v in props.items() if k.endswith(":matches-artifact-digest")]
            approved_as_verified = bool(approved) and all(v == "true" for v in approved)
            answer[components[artifact_ref]["name"]] = (props.get("last-validated"), props["verification"],
                                                        approved_as_verified)
    return answer


def test_which_models_run_in_production_and_when_they_were_last_validated(tmp_path):
    assert production_models(_example_bom(tmp_path)) == {
        "Tiny Chat Support": ("2026-11-02", "verified", True),
        "Support ticket embedder": ("2026-11-02", "verified", True),
        "Ticket reranker (community upload)": ("2026-11-02", "verified", True),
        # Changed after approval: the BOM says so rather than repeating the manifest's claim.
        "Tiny Chat Support, GGUF Q8_0 export for edge devices": ("2026-11-02", "differs-from-manifest", False),
    }


def test_governance_evidence_is_in_the_bom(tmp_path):
    components = {c["bom-ref"]: c for c in _example_bom(tmp_path)["components"]}
    support = _props(components["artifact:tiny-chat-support"])
    assert support["eval-evidence:status"] == "verified"
    assert support["eval-evidence:artifact-digest"] == support["artifact-digest"]
    assert support["registry-entry:lookup"] == "found"
    assert support["registry-entry:registry-digest"] == support["artifact-digest"]
    assert support["license-restrictions"] == "acceptable-use, attribution"
    assert support["license-review:record"] == "LIC-402"
    assert support["source-tier"] == "1" and support["environments"] == "production"
    rollback = _props(components["artifact:tiny-chat-support-v3"])
    assert rollback["environments"] == "production"  # deployed where it would replace v4
    assert _props(components["artifact:ticket-reranker"])["source-tier"] == "2"
    ancestors = components["artifact:tiny-chat-gguf"]["pedigree"]["ancestors"]
    assert [a["bom-ref"] for a in ancestors] == ["ancestor:tiny-chat-gguf:tiny-chat-support"]


def test_every_waiver_used_is_in_the_bom(ws, tmp_path):
    art = ws.artifact("a", files={"m.pkl": b"\x80\x02K\x01."})
    digest = artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])
    policy = ws.write_policy(waivers=[{"rule": "WG401", "digest": digest, "reason": "sandboxed legacy loader",
                                       "expires": "2026-12-31", "approved_by": "ciso@example.com"}])
    manifest = ws.write_manifest([art])
    assert rule_ids(ws.check(manifest, policy=policy)) == []
    bom_path = tmp_path / "bom.json"
    main(["check", str(manifest), "--policy", str(policy), "--bom", str(bom_path), "-q", "--as-of", "2026-11-26"])
    props = _props(next(c for c in json.loads(bom_path.read_text())["components"] if c["bom-ref"] == "artifact:a"))
    assert {k: v for k, v in props.items() if k.startswith("waiver:")} == {
        "waiver:1:rule": "WG401", "waiver:1:reason": "sandboxed legacy loader", "waiver:1:expires": "2026-12-31",
        "waiver:1:approved-by": "ciso@example.com"}
