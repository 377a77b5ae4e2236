"""The Finding model: fingerprints stay stable where code-scanning alerts must."""

from weightgate import rules
from weightgate.findings import Finding, Location


def _finding(message, line=1, artifact="a"):
    return Finding(rules.REVALIDATION_OVERDUE, message, Location("m.yaml", line), artifact)


def test_fingerprint_ignores_lines_and_changing_numbers():
    a = _finding("a: last validated 2026-08-01, 91 days ago (policy: at most 90)", line=10)
    b = _finding("a: last validated 2026-08-01, 92 days ago (policy: at most 90)", line=20)
    assert a.fingerprint == b.fingerprint
    digest_a = Finding(rules.DIGEST_MISMATCH, "m: mirror bytes hash to " + "ab" * 32, Location("m", 1), "a", "m")
    digest_b = Finding(rules.DIGEST_MISMATCH, "m: mirror bytes hash to " + "cd" * 32, Location("m", 1), "a", "m")
    assert digest_a.fingerprint == digest_b.fingerprint


def test_fingerprint_separates_rules_artifacts_and_fields():
    base = _finding("a: the policy requires `owner`")
    assert base.fingerprint != _finding("a: the policy requires `license`").fingerprint
    assert base.fingerprint != _finding("a: the policy requires `owner`", artifact="b").fingerprint
