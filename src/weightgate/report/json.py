"""Machine-readable report: every finding and every verified fact, in one JSON document."""

from __future__ import annotations

import json
from typing import Any

from weightgate.facts import FileFacts
from weightgate.findings import Finding
from weightgate.report.interface import Report


def finding_json(report: Report, f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule.id, "name": f.rule.name, "severity": f.severity.value, "level": f.level.value,
        "message": f.message, "fix": f.rule.fix, "help_uri": f.rule.docs_url,
        "path": report.relative(f.location.path), "line": f.location.line,
        "artifact": f.artifact_id or None, "file": f.file_path or None, "confidence": f.confidence,
        "evidence": dict(f.evidence), "fingerprint": f.fingerprint,
        "waived": None if f.waived_by is None else {"reason": f.waived_by.reason, "expires": f.waived_by.expires},
    }


def file_json(f: FileFacts) -> dict[str, Any]:
    return {
        "path": f.path, "status": f.status.value, "uri": f.uri, "sha256": f.sha256 or None,
        "size": f.size if f.verified else None, "format": f.format.value if f.format else None,
        "details": f.details, "reason": f.reason or None,
    }


class JsonReporter:
    def render(self, report: Report) -> str:
        doc = {
            "tool": {"name": "weightgate", "version": report.tool_version},
            "timestamp": report.timestamp.isoformat(),
            "verdict": "fail" if report.failed else "pass",
            "fail_on": report.fail_on.value,
            "offline": report.offline,
            "manifest": report.relative(str(report.manifest.path)) if report.manifest else None,
            "policy": {"source": report.policy.source, "sha256": report.policy.sha256},
            "findings": [finding_json(report, f) for f in report.findings],
            "artifacts": [
                {"id": a.artifact_id, "digest": a.digest, "mirror": a.mirror_uri,
                 "files": [file_json(f) for f in a.files]}
                for a in report.facts
            ],
            "scanned": [file_json(f) for f in report.scanned],
        }
        return json.dumps(doc, indent=2) + "\n"
