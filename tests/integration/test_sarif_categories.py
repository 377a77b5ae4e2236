"""Two manifests of one repository, side by side in code scanning: the SARIF Multitool, under GitHub's rules,
accepts both runs, and each carries its own category so that neither closes the other's alerts."""

import json
import subprocess

import pytest

from integration.test_action import _sarif_multitool
from weightgate.cli import main


@pytest.mark.integration
def test_two_manifests_sarif_side_by_side(ws, tmp_path):
    multitool = _sarif_multitool()
    (ws.root / "deploy").mkdir()
    sarifs = []
    for name, files in (("prod", {"m.pkl": b"\x80\x04K\x01."}), ("staging", None)):
        manifest = ws.write_manifest([ws.artifact(name, files=files)], name=f"deploy/{name}.yaml",
                                     mirror_base="../mirror")
        sarif = tmp_path / f"{name}.sarif"
        main(["check", str(manifest), "--as-of", "2026-11-26", "-q", "--source-root", str(ws.root),
              "--sarif", str(sarif)])
        sarifs.append(sarif)
    out = tmp_path / "validation.sarif"
    subprocess.run([multitool, "validate", *map(str, sarifs), "--rule-kind", "Sarif;Gh", "-o", str(out),
                    "--log", "ForceOverwrite"], capture_output=True, text=True, check=True, timeout=300)
    results = json.loads(out.read_text())["runs"][0].get("results", [])
    problems = [r for r in results if r.get("level", "warning") in ("error", "warning")]
    assert problems == [], json.dumps(problems, indent=2)
    ids = [json.loads(s.read_text())["runs"][0]["automationDetails"]["id"] for s in sarifs]
    assert ids == ["weightgate/check/deploy/prod.yaml/", "weightgate/check/deploy/staging.yaml/"]
