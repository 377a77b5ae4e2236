"""WG643 and signed eval results: test-result records from `attest-eval`, kept in the approvals store by digest,
count only when an eval signer the policy names signed them for this exact digest."""

from __future__ import annotations

import json

import pytest

from conftest import rule_ids
from evidence.signing import write_key
from weightgate.cli import main
from weightgate.evidence.store import store_file_name
from weightgate.facts import artifact_digest

SUITE = {"name": "qa", "metrics": {"exact_match": {"min": 0.7}}}


class Evals:
    def __init__(self, ws, require_signed=True):
        self.ws = ws
        self.keys = {n: write_key(ws.root / "keys", n) for n in ("evals", "appsec")}
        self.store = ws.root / "approvals"
        self.store.mkdir()
        self.art = ws.artifact("m", approvals=[])
        self.digest = artifact_digest((f["path"], f["sha256"], f["size"]) for f in self.art["files"])
        self.manifest = ws.write_manifest([self.art])
        self.policy = ws.write_policy(
            approvals={"require_signed": True, "store": "approvals", "reviewers": {"security": {"signers": [
                {"identity": "appsec@example.com", "key": "keys/appsec.pub"}]}}},
            eval_evidence={"required_for": ["model"], "suites": [SUITE], "require_signed": require_signed,
                           "signers": [{"identity": "evals@example.com", "key": "keys/evals.pub"}]})

    def results(self, exact_match=0.8, passed=True, digest=None):
        path = self.ws.root / "results.json"
        path.write_text(json.dumps({"artifact_digest": digest or self.digest, "suite": "qa",
                                    "metrics": {"exact_match": exact_match}, "passed": passed}))
        return path

    def attest(self, key="evals", digest=None, **result):
        out = self.ws.root / "eval.intoto.jsonl"
        digest = digest or self.digest
        code = main(["attest-eval", str(self.results(digest=digest, **result)), "--digest", digest, "--key",
                     str(self.keys[key][0]), "--artifact", "m", "-o", str(out)])
        assert code == 0
        with (self.store / store_file_name(self.digest)).open("a") as store:
            store.write(out.read_text())

    def unsigned(self, **result):
        path = self.results(**result)
        self.ws.put("m", "evals/qa.json", path.read_bytes())
        import hashlib

        art = dict(self.art, eval_evidence={"path": "evals/qa.json",
                                            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
        self.manifest = self.ws.write_manifest([art])

    def check(self):
        return self.ws.check(self.manifest, policy=self.policy)


@pytest.fixture
def evals(ws):
    return Evals(ws)


def test_a_signed_result_by_an_eval_signer_counts(evals):
    evals.attest()
    assert rule_ids(evals.check()) == []


def test_an_unsigned_report_does_not_count_where_signers_are_required(evals):
    evals.unsigned()
    report = evals.check()
    assert rule_ids(report) == ["WG643", "WG644"]
    assert "is a claim" in next(f.message for f in report.active_findings if f.rule.id == "WG643")


def test_the_same_unsigned_report_counts_when_signing_is_not_required(ws):
    evals = Evals(ws, require_signed=False)
    evals.unsigned()
    assert rule_ids(evals.check()) == []


def test_a_signed_result_below_the_threshold_fails(evals):
    evals.attest(exact_match=0.5)
    report = evals.check()
    assert rule_ids(report) == ["WG641"]
    assert "0.5" in report.active_findings[0].message


def test_a_signed_result_saying_failed_fails(evals):
    evals.attest(passed=False)
    assert rule_ids(evals.check()) == ["WG641"]


def test_a_reviewer_key_cannot_sign_eval_results(evals):
    evals.attest(key="appsec")
    assert rule_ids(evals.check()) == ["WG618", "WG638", "WG643"]


def test_a_signed_result_for_another_digest_does_not_count(evals):
    evals.attest(digest="sha256:" + "cd" * 32)
    assert rule_ids(evals.check()) == ["WG618", "WG620", "WG643"]
