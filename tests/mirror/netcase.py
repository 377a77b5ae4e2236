"""Helpers for tests that verify from network mirrors: a policy trusting the session CA, rule ids by family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Workspace
from weightgate.report.interface import Report

FAST = {"request_timeout_seconds": 2, "file_deadline_seconds": 5, "max_attempts": 3}


def mirror_policy(ws: Workspace, ca_pem: Path | None, **mirrors: Any) -> Path:
    """A policy that trusts the test CA, with short timeouts so fault tests stay quick."""
    settings: dict[str, Any] = {**FAST, "require_object_versions": False, **mirrors}
    if ca_pem is not None:
        settings["ca_bundle"] = str(ca_pem)
    return ws.write_policy(mirrors=settings)


def mirror_ids(report: Report) -> list[str]:
    """Rule ids of the reference and integrity families (WG2xx, WG3xx): what mirrors can cause."""
    return sorted(f.rule.id for f in report.active_findings if f.rule.id[:3] in ("WG2", "WG3"))


def only(report: Report, rule_id: str) -> Any:
    matches = [f for f in report.active_findings if f.rule.id == rule_id]
    assert len(matches) == 1, [(f.rule.id, f.message) for f in report.active_findings]
    return matches[0]


def line_of(path: Path, report: Report, rule_id: str) -> str:
    return path.read_text().splitlines()[only(report, rule_id).location.line - 1].strip()
