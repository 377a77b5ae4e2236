"""WG634-WG635: production services name their monitoring when the policy requires it; artifacts from a
source with a recorded incident must have been validated after it."""

import pytest

from conftest import rule_ids


def _service(**fields):
    return {"name": "svc", "environment": "production", "targets": ["prod-eu-1"], "artifacts": ["m"], **fields}


@pytest.mark.parametrize(("monitoring", "service", "fires"), [
    ({"environments": ["production"]}, _service(), True),
    ({"environments": ["prod*"]}, _service(monitoring="https://grafana.example.com/d/svc"), False),
    ({"environments": ["production"]}, _service(environment="staging"), False),
    ({"targets": ["prod-*"]}, _service(environment="staging"), True),
    ({}, _service(), False),  # the built-in default requires nothing
])
def test_production_services_name_their_monitoring(ws, monitoring, service, fires):
    policy = ws.write_policy(monitoring=monitoring)
    report = ws.check(ws.write_manifest([ws.artifact("m")], services=[service]), policy=policy)
    assert rule_ids(report) == (["WG634"] if fires else [])
    if fires:
        finding = report.active_findings[0]
        assert "service svc" in finding.message and finding.location.line > 1


INCIDENT = {"pattern": "hf://org/*", "date": "2026-10-15", "note": "publisher token leaked (SEC-2001)"}


@pytest.mark.parametrize(("incident", "last_validated", "fires"), [
    (INCIDENT, "2026-10-01", True),  # validated before the incident
    (INCIDENT, "2026-10-15", False),  # re-validated on the day
    (INCIDENT, "2026-11-01", False),
    ({**INCIDENT, "pattern": "org"}, "2026-10-01", True),  # the publisher
    ({**INCIDENT, "pattern": "huggingface"}, "2026-10-01", True),  # the whole registry
    ({**INCIDENT, "pattern": "hf://other-org/*"}, "2026-10-01", False),
    ({**INCIDENT, "date": "2026-12-01"}, "2026-10-01", False),  # after the day judged
])
def test_artifacts_from_a_compromised_source_need_revalidation(ws, incident, last_validated, fires):
    policy = ws.write_policy(incidents=[incident])
    report = ws.check(ws.write_manifest([ws.artifact("m", last_validated=last_validated)]), policy=policy)
    assert rule_ids(report) == (["WG635"] if fires else [])
    if fires:
        assert "SEC-2001" in report.active_findings[0].message
        assert "the incident clock ran out" in report.active_findings[0].message
        assert dict(report.active_findings[0].evidence)["clock"] == "incident"


def test_incident_with_no_validation_date(ws):
    art = ws.artifact("m")
    del art["last_validated"]
    policy = ws.write_policy(incidents=[INCIDENT], required_fields={"model": []})
    report = ws.check(ws.write_manifest([art]), policy=policy)
    assert rule_ids(report) == ["WG635"] and "never recorded as validated" in report.active_findings[0].message
