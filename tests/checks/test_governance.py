"""WG601, WG609, WG610 and waivers bound to exact digests."""

import pickle

from conftest import rule_ids
from weightgate.facts import artifact_digest


def test_required_fields_per_class(ws):
    art = ws.artifact("a")
    del art["owner"], art["approvals"]
    report = ws.check(ws.write_manifest([art]))
    assert rule_ids(report) == ["WG601", "WG601"]
    assert {dict(f.evidence)["field"] for f in report.active_findings} == {"owner", "approvals"}
    tok = ws.artifact("t", **{"class": "tokenizer"})
    del tok["approvals"]  # tokenizers need no approval under the default policy
    assert rule_ids(ws.check(ws.write_manifest([tok]))) == []


def test_revalidation_age(ws):
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("a", last_validated="2026-08-28")]))) == []
    old = ws.check(ws.write_manifest([ws.artifact("a", last_validated="2026-08-27")]))
    assert rule_ids(old) == ["WG609"]
    assert "91 days ago" in old.active_findings[0].message
    # Which clock ran out is said, in words and as evidence (not the advisory clock, WG703, nor an incident).
    assert "the re-validation clock ran out (`revalidation_days`: 90)" in old.active_findings[0].message
    assert dict(old.active_findings[0].evidence)["clock"] == "revalidation_days"
    future = ws.check(ws.write_manifest([ws.artifact("a", last_validated="2026-12-25")]))
    assert rule_ids(future) == ["WG609"]


def _pickle_artifact(ws):
    data = pickle.dumps([1, 2], protocol=2)
    art = ws.artifact("a", files={"m.pkl": data})
    return art, artifact_digest((e["path"], e["sha256"], e["size"]) for e in art["files"])


def _waiver(digest, expires="2026-12-31", rule="WG401"):
    return {"rule": rule, "digest": digest, "reason": "legacy loader in sandbox, ticket SEC-9", "expires": expires}


def test_waiver_applies_to_exact_rule_and_digest(ws):
    art, digest = _pickle_artifact(ws)
    policy = ws.write_policy(waivers=[_waiver(digest)])
    report = ws.check(ws.write_manifest([art]), policy=policy)
    assert rule_ids(report) == []
    assert [w.rule_id for w in report.waivers_used] == ["WG401"]
    assert not report.failed


def test_waiver_for_another_digest_or_rule_does_not_apply(ws):
    art, digest = _pickle_artifact(ws)
    other = "sha256:" + "0" * 64
    for waiver in (_waiver(other), _waiver(digest, rule="WG402")):
        report = ws.check(ws.write_manifest([art]), policy=ws.write_policy(waivers=[waiver]))
        assert rule_ids(report) == ["WG401"]


def test_expired_waiver_stops_applying_and_is_reported(ws):
    art, digest = _pickle_artifact(ws)
    policy = ws.write_policy(waivers=[_waiver(digest, expires="2026-11-25")])
    report = ws.check(ws.write_manifest([art]), policy=policy)
    assert rule_ids(report) == ["WG401", "WG610"]
    expired = next(f for f in report.active_findings if f.rule.id == "WG610")
    assert expired.location.path.endswith("policy.yaml")


def test_waiver_does_not_cover_tampered_bytes(ws):
    art, digest = _pickle_artifact(ws)
    (ws.mirror / "a" / "m.pkl").write_bytes(pickle.dumps([1, 3], protocol=2))
    report = ws.check(ws.write_manifest([art]), policy=ws.write_policy(waivers=[_waiver(digest)]))
    assert "WG305" in rule_ids(report) and "WG401" in rule_ids(report)


def test_overdue_revalidation_names_the_production_services(ws):
    art = ws.artifact("a", last_validated="2026-08-27")
    services = [{"name": "chat", "environment": "production", "artifacts": ["a"]},
                {"name": "lab", "environment": "staging", "artifacts": ["a"]}]
    report = ws.check(ws.write_manifest([art], services=services))
    (finding,) = [f for f in report.active_findings if f.rule.id == "WG609"]
    assert finding.message.endswith("; production service(s) chat run it")
