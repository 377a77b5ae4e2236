"""WG602-WG607: approvals bound to the verified digest, separation of duties, age, required roles, full
records for conditional sources, prohibited sources."""

import pytest

from conftest import rule_ids, safetensors_bytes
from weightgate.facts import artifact_digest


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


def _approval(digest, approver="sec@example.com", role="security", date="2026-11-01", ticket="SEC-1"):
    approval = {"approver": approver, "role": role, "date": date, "digest": digest}
    if ticket:
        approval["ticket"] = ticket
    return approval


PRODUCTION = [{"name": "svc", "environment": "production", "artifacts": ["v2"]}]


def test_approval_of_this_digest_passes(ws):
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("v2")], PRODUCTION))) == []


@pytest.mark.parametrize("offline", [False, True])
def test_approval_copied_from_a_previous_version_is_bound_to_another_digest(ws, offline):
    v1 = ws.artifact("v1", files={"model.safetensors": safetensors_bytes(4)})
    v2 = ws.artifact("v2", files={"model.safetensors": safetensors_bytes(8)})
    v2["approvals"] = [_approval(_digest(v1))]  # the v1 record, copied forward
    report = ws.check(ws.write_manifest([v1, v2]), offline=offline)
    assert "WG602" in rule_ids(report)
    finding = next(f for f in report.active_findings if f.rule.id == "WG602")
    assert finding.artifact_id == "v2" and _digest(v2) in finding.message
    assert dict(finding.evidence)["approved_digest"] == _digest(v1)
    # The copied approval does not count towards the required roles either.
    assert "WG605" in rule_ids(ws.check(ws.write_manifest([v1, v2], PRODUCTION), offline=offline))


def test_tampered_bytes_are_an_integrity_finding_not_an_approval_one(ws):
    art = ws.artifact("v2")
    (ws.mirror / "v2" / "model.safetensors").write_bytes(safetensors_bytes(4)[:-1] + b"\x01")
    assert rule_ids(ws.check(ws.write_manifest([art], PRODUCTION))) == ["WG305"]


def test_owner_cannot_approve(ws):
    art = ws.artifact("v2", owner="Sec@Example.com ")
    report = ws.check(ws.write_manifest([art], PRODUCTION))
    # The self-approval does not count, so production also lacks its security approval.
    assert rule_ids(report) == ["WG603", "WG605"]
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("v2", owner="ml@example.com")], PRODUCTION))) == []


@pytest.mark.parametrize(("date", "fires"), [("2026-08-28", False), ("2026-08-27", True), ("2026-11-27", True)])
def test_approval_age(ws, date, fires):
    art = ws.artifact("v2")
    art["approvals"][0]["date"] = date
    assert ("WG604" in rule_ids(ws.check(ws.write_manifest([art])))) is fires


def test_approval_age_limit_can_differ_from_revalidation(ws):
    art = ws.artifact("v2")
    art["approvals"][0]["date"] = "2026-10-01"
    policy = ws.write_policy(approvals={"max_age_days": 30})
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=policy)) == ["WG604"]


def test_production_requires_the_roles_of_the_policy(ws):
    art = ws.artifact("v2")
    art["approvals"][0]["role"] = "ml-platform"
    report = ws.check(ws.write_manifest([art], PRODUCTION))
    assert rule_ids(report) == ["WG605"]
    assert "'security'" in report.active_findings[0].message
    # Not deployed to production: the default policy asks no role.
    assert rule_ids(ws.check(ws.write_manifest([art], [{"name": "svc", "environment": "staging",
                                                          "artifacts": ["v2"]}]))) == []


def test_tier_two_in_production_needs_security_and_compliance(ws):
    policy = ws.write_policy(approvals={"required_roles": [
        {"environment": "prod*", "roles": ["security"]},
        {"environment": "prod*", "tier": 2, "roles": ["security", "compliance"]}]})
    art = ws.artifact("v2")  # hf://org/v2: no tier rule matches, so tier 2
    report = ws.check(ws.write_manifest([art], PRODUCTION), policy=policy)
    assert rule_ids(report) == ["WG605"]
    assert dict(report.active_findings[0].evidence) == {"role": "compliance", "tier": "2", "approvals": "0",
                                                        "required": "1"}
    art["approvals"].append(_approval(_digest(art), approver="legal@example.com", role="compliance"))
    assert rule_ids(ws.check(ws.write_manifest([art], PRODUCTION), policy=policy)) == []


def test_rollback_target_answers_to_the_environment_it_would_replace(ws):
    v1 = ws.artifact("v1")
    v1["approvals"][0]["role"] = "ml-platform"
    report = ws.check(ws.write_manifest([ws.artifact("v2", rollback="v1"), v1], PRODUCTION))
    assert [(f.rule.id, f.artifact_id) for f in report.active_findings] == [("WG605", "v1")]


def test_tier_two_approvals_need_a_full_record(ws):
    art = ws.artifact("v2")
    art["approvals"] = [_approval(_digest(art), ticket=None)]
    report = ws.check(ws.write_manifest([art]))
    assert rule_ids(report) == ["WG606"]
    assert "no ticket" in report.active_findings[0].message
    tier_one = ws.write_policy(sources={"tiers": [{"tier": 1, "registries": ["huggingface"], "publishers": ["org"]}]})
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=tier_one)) == []


@pytest.mark.parametrize(("source", "fires"), [
    ({"registry": "huggingface", "uri": "hf://sketchy-unverified/m"}, True),  # publisher from the URI
    ({"registry": "huggingface", "uri": "hf://org/m", "publisher": "sketchy-unverified"}, True),
    ({"registry": "huggingface", "uri": "hf://org/m"}, False),
    ({"registry": "internal", "uri": "https://models.example.com/sketchy-unverified/m"}, False),
])
def test_tier_three_sources_are_prohibited(ws, source, fires):
    policy = ws.write_policy(sources={"tiers": [
        {"tier": 3, "registries": ["huggingface"], "publishers": ["*-UNVERIFIED"]}]})
    art = ws.artifact("v2", source={**source, "revision": "3f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39"})
    assert ("WG607" in rule_ids(ws.check(ws.write_manifest([art]), policy=policy))) is fires
