"""The vendored schemas and the offline validator every SARIF/BOM test relies on: they catch what they must,
resolve every `$ref` without the network, and carry their origin and licence."""

from __future__ import annotations

import json

import pytest

from validate_outputs import SCHEMAS, SHARED_VALIDATOR, bom_errors, main, sarif_errors

MINIMAL_SARIF = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "weightgate", "rules": []}},
                                               "results": []}]}
MINIMAL_BOM = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
               "components": [{"type": "machine-learning-model", "name": "m",
                               "licenses": [{"license": {"id": "Apache-2.0"}}]}]}


def test_valid_documents_pass():
    assert sarif_errors(MINIMAL_SARIF) == []
    assert bom_errors(MINIMAL_BOM) == []


def test_schema_violations_are_reported():
    assert any("schema" in e for e in sarif_errors({**MINIMAL_SARIF, "version": "2.0"}))
    # The SPDX id enum comes from the referenced spdx.schema.json: an unknown id shows the $ref resolved.
    bad_licence = json.loads(json.dumps(MINIMAL_BOM))
    bad_licence["components"][0]["licenses"][0]["license"]["id"] = "Not-A-Licence"
    assert any("schema" in e for e in bom_errors(bad_licence))
    assert bom_errors({**MINIMAL_BOM, "specVersion": "1.5"}) == ["specVersion is '1.5', expected '1.6'"]


def test_github_needs_beyond_the_schema():
    doc = json.loads(json.dumps(MINIMAL_SARIF))
    doc["runs"][0]["results"] = [{"ruleId": "WG1", "message": {"text": "x"}, "locations": [
        {"physicalLocation": {"artifactLocation": {"uri": "file:///runner/m.yaml"}, "region": {"startLine": 1}}}]}]
    errs = sarif_errors(doc)
    assert any("not in tool.driver.rules" in e for e in errs)
    assert any("not repository-relative" in e for e in errs)
    assert any("partialFingerprints" in e for e in errs)


def test_command_line(tmp_path, capsys):
    good, bad = tmp_path / "good.sarif", tmp_path / "bad.cdx.json"
    good.write_text(json.dumps(MINIMAL_SARIF))
    bad.write_text("{not json")
    assert main(["--sarif", str(good)]) == 0
    assert main(["--sarif", str(good), "--bom", str(bad)]) == 1
    assert "unreadable" in capsys.readouterr().out


def test_every_vendored_schema_has_its_origin_and_licence():
    notes = (SCHEMAS / "README.md").read_text()
    for schema in SCHEMAS.glob("*.json"):
        assert f"`{schema.name}`" in notes
    for licence in ("LICENSE-MIT-sarif.txt", "LICENSE-Apache-2.0.txt"):
        assert (SCHEMAS / licence).is_file() and licence in notes


@pytest.mark.skipif(not SHARED_VALIDATOR.is_file(), reason="optional: no shared folder beside the checkout")
def test_vendored_schemas_match_the_shared_reference():
    shared = SHARED_VALIDATOR.parents[1] / "schemas-ref"
    for schema in SCHEMAS.glob("*.json"):
        assert schema.read_bytes() == (shared / schema.name).read_bytes(), schema.name

