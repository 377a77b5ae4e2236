"""WG608, WG611-WG614: SPDX expressions against the policy, review records, and restrictions inherited
along the lineage (three levels deep), named by their whole chain."""

import pytest

from conftest import rule_ids

REVIEW = {"reviewer": "legal@example.com", "date": "2026-10-01", "outcome": "approved", "record": "LIC-1"}
# Eval evidence is another rule family's business; these tests look at licenses only.
NO_EVIDENCE = {"eval_evidence": {"required_for": []}}


def _license(spdx, review=True):
    return {"spdx": spdx, **({"review": REVIEW} if review else {})}


def _policy(ws, **licenses):
    return ws.write_policy(licenses=licenses, **NO_EVIDENCE)


@pytest.mark.parametrize(("spdx", "fires"), [
    ("Apache-2.0", False),
    ("apache-2.0 WITH LLVM-exception", False),
    ("MIT AND", True),
    ("(MIT", True),
    ("Apache2", True),  # not an SPDX id
    ("LicenseRef-acme-model", True),  # not declared in the policy
])
def test_license_expressions_are_parsed(ws, spdx, fires):
    art = ws.artifact("m", license=_license(spdx))
    assert ("WG608" in rule_ids(ws.check(ws.write_manifest([art]), policy=_policy(ws)))) is fires


def test_declared_licenseref_is_judged_by_its_declaration(ws):
    policy = _policy(ws, declared={"LicenseRef-acme-model": {"restrictions": ["attribution"]}})
    art = ws.artifact("m", license=_license("LicenseRef-acme-model"))
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=policy)) == []


@pytest.mark.parametrize(("spdx", "review", "expected"), [
    ("AGPL-3.0-only", True, ["WG611"]),  # denied by the default policy
    ("AGPL-3.0-only OR MIT", False, []),  # the licensee can pick MIT
    ("MIT", {**REVIEW, "outcome": "rejected"}, ["WG611"]),
    ("CC-BY-SA-4.0", False, ["WG612"]),  # review-required by the default policy
    ("CC-BY-SA-4.0", True, []),
    ("BSD-3-Clause", False, []),
])
def test_allowed_denied_and_review_required(ws, spdx, review, expected):
    lic = {"spdx": spdx, **({"review": review if isinstance(review, dict) else REVIEW} if review else {})}
    art = ws.artifact("m", license=lic)
    assert rule_ids(ws.check(ws.write_manifest([art]), policy=_policy(ws))) == expected


def test_field_of_use_clauses_always_need_a_review(ws):
    policy = _policy(ws, allowed=["LicenseRef-*"], review_required=[],
                     declared={"LicenseRef-med": {"restrictions": ["field-of-use"], "description": "no diagnosis"}})
    unreviewed = ws.artifact("m", license=_license("LicenseRef-med", review=False))
    assert rule_ids(ws.check(ws.write_manifest([unreviewed]), policy=policy)) == ["WG612"]
    reviewed = ws.artifact("m", license=_license("LicenseRef-med"))
    assert rule_ids(ws.check(ws.write_manifest([reviewed]), policy=policy)) == []


def _chain(ws, a, b, c):
    """a (model) ← b (fine-tune of a) ← c (adapter of b), with the given licenses."""
    return [
        ws.artifact("a", license=_license(a)),
        ws.artifact("b", license=_license(b), base_models=[{"artifact": "a"}], **{"class": "fine-tune"}),
        ws.artifact("c", license=_license(c), base_models=[{"artifact": "b"}], **{"class": "adapter"}),
    ]


def test_license_chain_three_levels_deep_keeps_its_restrictions(ws):
    manifest = ws.write_manifest(_chain(ws, "CC-BY-NC-4.0", "CC-BY-NC-4.0", "CC-BY-NC-4.0 AND Apache-2.0"))
    assert rule_ids(ws.check(manifest, policy=_policy(ws))) == []


def test_license_chain_violation_three_levels_deep_names_the_whole_chain(ws):
    report = ws.check(ws.write_manifest(_chain(ws, "CC-BY-NC-4.0", "CC-BY-NC-4.0", "MIT")), policy=_policy(ws))
    assert rule_ids(report) == ["WG613"]
    (finding,) = report.active_findings
    assert finding.artifact_id == "c"
    assert "non-commercial via c → b → a (CC-BY-NC-4.0)" in finding.message
    assert dict(finding.evidence) == {"non-commercial": "c → b → a"}


def test_a_base_that_drops_a_restriction_passes_it_on_anyway(ws):
    report = ws.check(ws.write_manifest(_chain(ws, "CC-BY-NC-4.0", "MIT", "MIT")), policy=_policy(ws))
    assert [(f.rule.id, f.artifact_id) for f in report.active_findings] == [("WG613", "b"), ("WG613", "c")]


def test_external_base_license_is_inherited(ws):
    base = {"uri": "hf://org/base", "revision": "3f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39",
            "digest": "sha256:" + "ab" * 32, "license": "CC-BY-NC-SA-4.0"}
    art = ws.artifact("ft", license=_license("CC-BY-NC-4.0"), base_models=[base], **{"class": "fine-tune"})
    report = ws.check(ws.write_manifest([art]), policy=_policy(ws))
    assert rule_ids(report) == ["WG613"]
    assert "share-alike via ft → hf://org/base@3f1c" in report.active_findings[0].message


@pytest.mark.parametrize(("service", "fires"), [
    ({"commercial": True}, True),
    ({"customer_facing": True}, True),
    ({"commercial": False, "customer_facing": False}, False),
])
def test_commercial_use_of_a_transitively_non_commercial_model(ws, service, fires):
    services = [{"name": "api", "environment": "staging", "artifacts": ["c"], **service}]
    manifest = ws.write_manifest(_chain(ws, "CC-BY-NC-4.0", "CC-BY-NC-4.0", "CC-BY-NC-4.0"), services)
    report = ws.check(manifest, policy=_policy(ws))
    assert rule_ids(report) == (["WG614"] if fires else [])
    if fires:
        assert "via c → b → a (CC-BY-NC-4.0)" in report.active_findings[0].message
        assert "service 'api'" in report.active_findings[0].message


def test_no_derivatives_base_cannot_be_fine_tuned(ws):
    arts = _chain(ws, "CC-BY-ND-4.0", "CC-BY-ND-4.0", "CC-BY-ND-4.0")
    report = ws.check(ws.write_manifest(arts[:2]), policy=_policy(ws))
    assert [(f.rule.id, f.artifact_id) for f in report.active_findings] == [("WG614", "b")]
    assert rule_ids(ws.check(ws.write_manifest(arts[:1]), policy=_policy(ws))) == []
