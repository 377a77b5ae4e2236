"""The ML-BOM's runtime: pinned libraries as components with purls, models and services depending on them, and
the CycloneDX 1.6 `vulnerabilities` the pinned snapshot lists (real advisories), still valid against 1.6."""

from __future__ import annotations

import hashlib
import json

from checks.test_runtime_deps import UV_LOCK, _artifact, _check, _service
from report.test_cyclonedx import assert_valid
from weightgate.report.cyclonedx import CycloneDxReporter


def _bom(ws):
    lock = UV_LOCK.format(torch="2.5.1")
    (ws.root / "uv.lock").write_text(lock)
    service = _service(runtime={"lock": "uv.lock", "sha256": hashlib.sha256(lock.encode()).hexdigest()})
    report = _check(ws, _artifact(ws, b"torch==2.5.1\ntransformers==4.30.0\nsafetensors==0.4.5\nonnx>=1\n"), service)
    text = CycloneDxReporter().render(report)
    return text, json.loads(text)


def test_runtime_libraries_dependencies_and_vulnerabilities_validate(ws, tmp_path, validate_outputs):
    text, bom = _bom(ws)
    assert_valid(text, tmp_path, validate_outputs)
    libraries = {c["bom-ref"]: c for c in bom["components"] if c["type"] == "library"}
    assert set(libraries) == {"pypi:torch@2.5.1", "pypi:transformers@4.30.0", "pypi:safetensors@0.4.5"}
    assert libraries["pypi:torch@2.5.1"]["purl"] == "pkg:pypi/torch@2.5.1"
    declared = {p["name"]: p["value"] for p in libraries["pypi:torch@2.5.1"]["properties"]}
    assert declared["weightgate:declared-in"] == "artifact:m/requirements.txt, service:svc/uv.lock"
    depends = {d["ref"]: set(d.get("dependsOn", [])) for d in bom["dependencies"]}
    assert depends["artifact:m"] == set(libraries)  # its own files, and the torch of the service that loads it
    assert depends["service:svc"] == {"artifact:m", "pypi:torch@2.5.1"}


def test_vulnerabilities_carry_ids_aliases_ratings_affects_and_recommendation(ws):
    _, bom = _bom(ws)
    by_id = {v["id"]: v for v in bom["vulnerabilities"]}
    assert set(by_id) == {"PYSEC-2025-41", "PYSEC-2024-227", "PYSEC-2025-40"}
    torch = by_id["PYSEC-2025-41"]
    assert {r["id"] for r in torch["references"]} == {"CVE-2025-32434", "GHSA-53q9-r3pm-6pq6"}
    assert torch["source"]["url"] == "https://osv.dev/vulnerability/PYSEC-2025-41"
    assert torch["ratings"] == [{"method": "CVSSv31", "score": 9.8, "severity": "critical",
                                 "vector": torch["ratings"][0]["vector"]}]
    assert torch["affects"] == [{"ref": "pypi:torch@2.5.1", "versions": [{"status": "affected", "version": "2.5.1"}]}]
    assert torch["recommendation"] == "Upgrade torch to 2.6.0 or later (fixed in 2.6.0)."


def test_no_vulnerabilities_no_array(ws, tmp_path, validate_outputs):
    report = _check(ws, _artifact(ws, b"torch==2.6.0\n"))
    text = CycloneDxReporter().render(report)
    assert_valid(text, tmp_path, validate_outputs)
    assert "vulnerabilities" not in json.loads(text)
