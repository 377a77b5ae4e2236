"""SARIF 2.1.0 for GitHub code scanning and other SARIF viewers: a view of the findings, nothing more.

Every rule of the catalog is declared in `tool.driver.rules` (not only the ones that fired) so viewers can
show help for a rule that stops firing, and GitHub keeps the rule's metadata for closed alerts. Output is
deterministic: the same Report renders to the same bytes.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from weightgate.findings import Finding, Waiver
from weightgate.report.interface import Report
from weightgate.report.locations import portable
from weightgate.rules import DOCS_BASE, RULES, Rule
from weightgate.textsafety import shown

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "weightgateFindingHash/v1"
# The repository home, derived from the docs link so the address is written once (in rules.py).
INFORMATION_URI = DOCS_BASE.split("/blob/", 1)[0]

# Tags GitHub shows as filters; one per rule family (the hundreds digit of the id).
FAMILY_TAGS = {
    "1": "manifest",
    "2": "references",
    "3": "integrity",
    "4": "formats",
    "5": "content",
    "6": "governance",
}

SarifObject = dict[str, Any]


class SarifReporter:
    """Renders a Report as one SARIF 2.1.0 run, in the category `category` (default: one per manifest)."""

    def __init__(self, category: str | None = None) -> None:
        self.category = category

    def render(self, report: Report) -> str:
        rules = sorted(RULES.values(), key=lambda r: r.id)
        index = {rule.id: i for i, rule in enumerate(rules)}
        results = sorted((_result(f, index[f.rule.id], report) for f in report.findings), key=_result_order)
        run: SarifObject = {
            "tool": {"driver": _driver(report.tool_version, rules)},
            "automationDetails": {"id": sarif_category(report, self.category)},
            "originalUriBaseIds": {SRCROOT: _source_root(report)},
            "invocations": [{"executionSuccessful": True, "endTimeUtc": _utc(report.timestamp)}],
            "columnKind": "unicodeCodePoints",
            "results": portable(results, report.source_root),
        }
        sarif = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
        return json.dumps(sarif, indent=2) + "\n"


def sarif_category(report: Report, override: str | None = None) -> str:
    """The code-scanning category (`automationDetails.id`): one per manifest, so that two manifests of one
    repository never close each other's alerts, and a manifest that fails to load keeps its category (its
    alerts stay open while it is broken). upload-sarif only sets a category on a run that has none, so the
    Action's `category` input reaches the SARIF through `--sarif-category` instead. GitHub takes the part up to
    the last slash as the category: the id ends with one."""
    if override:
        return override if override.endswith("/") else override + "/"
    manifest = report.checked_manifest_shown
    return "weightgate/scan/" if manifest is None else f"weightgate/check/{manifest}/"


def _driver(version: str, rules: list[Rule]) -> SarifObject:
    return {
        "name": "weightgate",
        "version": version,
        "semanticVersion": version,
        "informationUri": INFORMATION_URI,
        "rules": [_rule(rule) for rule in rules],
    }


def _rule(rule: Rule) -> SarifObject:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.help},
        "help": {
            "text": f"{rule.help}\n\nHow to fix: {rule.fix}",
            "markdown": f"{rule.help}\n\n**How to fix:** {rule.fix}\n\n[{rule.id} documentation]({rule.docs_url})",
        },
        "helpUri": rule.docs_url,
        "defaultConfiguration": {"level": rule.severity.level.value},
        "properties": {
            "security-severity": f"{rule.severity.score:.1f}",
            "tags": ["security", "supply-chain", FAMILY_TAGS.get(rule.id[2:3], "other")],
            "precision": _precision(rule),
        },
    }


def _precision(rule: Rule) -> str:
    # Content rules (WG5xx) read untrusted structures heuristically (which pickle globals are dangerous,
    # what a template does); every other rule compares exact values.
    return "high" if rule.id.startswith("WG5") else "very-high"


def _result(finding: Finding, rule_index: int, report: Report) -> SarifObject:
    result: SarifObject = {
        "ruleId": finding.rule.id,
        "ruleIndex": rule_index,
        "level": finding.level.value,
        "message": {"text": f"{shown(finding.message)}\n\nHow to fix: {shown(finding.fix_text)}"},
        "locations": [_location(finding, report)],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": _result_properties(finding),
    }
    if finding.waived_by is not None:
        result["suppressions"] = [_suppression(finding.waived_by)]
    return result


def _location(finding: Finding, report: Report) -> SarifObject:
    region: SarifObject = {"startLine": max(finding.location.line, 1)}
    if finding.location.column > 1:
        region["startColumn"] = finding.location.column
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": report.relative(finding.location.path), "uriBaseId": SRCROOT},
            "region": region,
        }
    }


def _result_properties(finding: Finding) -> SarifObject:
    props: SarifObject = {
        "severity": finding.severity.value,
        "confidence": finding.confidence,
        # GitHub ranks alerts by the rule's score; a per-finding override (e.g. a critical pickle) shows here.
        "security-severity": f"{finding.severity.score:.1f}",
    }
    if finding.artifact_id:
        props["artifact"] = finding.artifact_id
    if finding.file_path:
        props["file"] = finding.file_path
    if finding.evidence:
        props["evidence"] = dict(finding.evidence)
    return props


def _suppression(waiver: Waiver) -> SarifObject:
    justification = f"{waiver.reason} (waiver expires {waiver.expires}"
    justification += f", approved by {waiver.approved_by})" if waiver.approved_by else ")"
    return {"kind": "external", "status": "accepted", "justification": justification}


def _result_order(result: SarifObject) -> tuple[str, int, str, str]:
    physical = result["locations"][0]["physicalLocation"]
    return (
        physical["artifactLocation"]["uri"],
        physical["region"]["startLine"],
        result["ruleId"],
        result["partialFingerprints"][FINGERPRINT_KEY],
    )


def _source_root(report: Report) -> SarifObject:
    """Where %SRCROOT% is: the checkout's absolute URI, which viewers use to open files, unless the report must
    be byte-identical wherever the same inputs are checked out (--reproducible); GitHub resolves it without."""
    if report.reproducible:
        return {"description": {"text": "The repository root (--source-root)."}}
    return {"uri": _directory_uri(report)}


def _directory_uri(report: Report) -> str:
    # SARIF requires base URIs to end with a slash, or relative URIs would resolve against the parent.
    uri = report.source_root.resolve().as_uri()
    return uri if uri.endswith("/") else uri + "/"


def _utc(timestamp: datetime.datetime) -> str:
    """RFC 3339 in UTC; a naive timestamp is taken to be UTC already."""
    if timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(datetime.timezone.utc)
    return timestamp.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
