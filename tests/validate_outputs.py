#!/usr/bin/env python3
"""Validate SARIF and CycloneDX JSON files against the official schemas vendored in tests/schemas/, offline.

Usage: python tests/validate_outputs.py [--sarif FILE]... [--bom FILE]...
Exit 0 when every file is valid, 1 otherwise. Beyond the schema, SARIF files are held to what GitHub code
scanning needs to show a result well (help text, security-severity, repository-relative locations with a line,
fingerprints). Tests call `output_errors(kind, path)`, which also runs the team's shared validator when a
`../shared/tools/validate-outputs` sits beside the checkout: an extra check, never a requirement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT7

SCHEMAS = Path(__file__).resolve().parent / "schemas"
SHARED_VALIDATOR = Path(__file__).resolve().parents[2] / "shared" / "tools" / "validate-outputs"
CYCLONEDX_BASE = "http://cyclonedx.org/schema/"
BOM_REFS = ("spdx.schema.json", "jsf-0.82.schema.json")


def _load(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@cache
def _sarif_validator() -> Draft4Validator:
    schema = _load(SCHEMAS / "sarif-2.1.0.json")
    registry: Registry[Any] = Registry().with_resource(
        schema["id"], Resource.from_contents(schema, default_specification=DRAFT4))
    return Draft4Validator(schema, registry=registry)


@cache
def _bom_validator() -> Draft7Validator:
    schema = _load(SCHEMAS / "bom-1.6.schema.json")
    registry: Registry[Any] = Registry().with_resource(
        schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7))
    # The BOM schema's relative $refs resolve against its $id; both names are served from the vendored copies.
    for name in BOM_REFS:
        resource = Resource.from_contents(_load(SCHEMAS / name), default_specification=DRAFT7)
        registry = registry.with_resources([(name, resource), (CYCLONEDX_BASE + name, resource)])
    return Draft7Validator(schema, registry=registry)


def _schema_errors(validator: Draft4Validator | Draft7Validator, doc: Any) -> list[str]:
    return [f"schema: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _github_errors(doc: Any) -> list[str]:
    """What GitHub code scanning needs beyond the schema to show each result well."""
    errs = []
    for r, run in enumerate(doc.get("runs", [])):
        rules = {rule.get("id"): rule for rule in run.get("tool", {}).get("driver", {}).get("rules", [])}
        for rid, rule in rules.items():
            if not (rule.get("help") or {}).get("text"):
                errs.append(f"runs[{r}] rule {rid}: no help.text")
            if "security-severity" not in (rule.get("properties") or {}):
                errs.append(f"runs[{r}] rule {rid}: no properties.security-severity")
        for i, res in enumerate(run.get("results", [])):
            where = f"runs[{r}].results[{i}]"
            if res.get("ruleId") not in rules:
                errs.append(f"{where}: ruleId {res.get('ruleId')!r} not in tool.driver.rules")
            locs = res.get("locations") or []
            if not locs:
                errs.append(f"{where}: no locations")
            for loc in locs:
                phys = loc.get("physicalLocation", {})
                uri = phys.get("artifactLocation", {}).get("uri", "")
                if not uri or uri.startswith(("/", "file:")) or "://" in uri:
                    errs.append(f"{where}: location uri {uri!r} is not repository-relative")
                if "startLine" not in phys.get("region", {}):
                    errs.append(f"{where}: location has no region.startLine")
            if not res.get("partialFingerprints"):
                errs.append(f"{where}: no partialFingerprints")
    return errs


def sarif_errors(doc: Any) -> list[str]:
    return _schema_errors(_sarif_validator(), doc) + _github_errors(doc)


def bom_errors(doc: Any) -> list[str]:
    errs = _schema_errors(_bom_validator(), doc)
    if doc.get("specVersion") != "1.6":
        errs.append(f"specVersion is {doc.get('specVersion')!r}, expected '1.6'")
    return errs


CHECKS = {"sarif": sarif_errors, "bom": bom_errors}


def file_errors(kind: str, path: Path) -> list[str]:
    try:
        return CHECKS[kind](_load(path))
    except (OSError, ValueError) as e:
        return [f"unreadable: {e}"]


def output_errors(kind: str, path: Path) -> list[str]:
    """The vendored schemas' verdict on one file, plus the shared validator's when it is beside the checkout."""
    errs = file_errors(kind, path)
    if SHARED_VALIDATOR.is_file():
        shared = subprocess.run([sys.executable, str(SHARED_VALIDATOR), f"--{kind}", str(path)],
                                capture_output=True, text=True, check=False)
        if shared.returncode != 0:
            errs.append(f"shared validator: {shared.stdout}{shared.stderr}")
    return errs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sarif", action="append", default=[], type=Path)
    ap.add_argument("--bom", action="append", default=[], type=Path)
    args = ap.parse_args(argv)
    if not args.sarif and not args.bom:
        ap.error("give at least one --sarif or --bom file")
    bad = 0
    for kind, files in (("sarif", args.sarif), ("bom", args.bom)):
        for f in files:
            errs = file_errors(kind, f)
            print(f"{kind.upper()} {f}: {'valid' if not errs else f'{len(errs)} problem(s)'}")
            for e in errs[:50]:
                print("  -", e)
            bad += bool(errs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
