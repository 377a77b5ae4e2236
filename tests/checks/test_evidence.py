"""WG618-WG620: eval evidence required per class, read from the mirror with its sha256 checked, and bound
to the artifact digest (a report copied from a previous version does not count)."""

import hashlib
import json

import pytest

from conftest import rule_ids, safetensors_bytes
from weightgate.facts import FileStatus, artifact_digest
from weightgate.governance import eval_evidence


def _digest(art):
    return artifact_digest((f["path"], f["sha256"], f["size"]) for f in art["files"])


def _fine_tune(ws, artifact_id="ft", files=None):
    return ws.artifact(artifact_id, files=files, **{"class": "fine-tune", "base_models": [{"artifact": "base"}]})


def _with_evidence(ws, art, data, path="evals/report.json", sha256=None):
    (ws.mirror / art["id"] / path).parent.mkdir(parents=True, exist_ok=True)
    (ws.mirror / art["id"] / path).write_bytes(data)
    art["eval_evidence"] = {"path": path, "sha256": sha256 or hashlib.sha256(data).hexdigest()}
    return art


def _report_for(digest):
    return json.dumps({"artifact_digest": digest, "metrics": {"accuracy": 0.9}}).encode()


def _check(ws, art, **options):
    return ws.check(ws.write_manifest([ws.artifact("base"), art]), **options)


def test_evidence_for_this_digest_passes(ws):
    art = _fine_tune(ws)
    report = _check(ws, _with_evidence(ws, art, _report_for(_digest(art))))
    assert rule_ids(report) == []
    facts = report.governance.evidence["ft"]
    assert facts.verified and facts.matches_pin and facts.named_digest == _digest(art)


def test_required_evidence_missing(ws):
    assert rule_ids(_check(ws, _fine_tune(ws))) == ["WG618"]
    # The default policy asks it of fine-tunes and adapters, not of base models.
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("base")]))) == []


def test_evidence_copied_from_a_previous_version(ws):
    v1 = _fine_tune(ws, "v1", files={"model.safetensors": safetensors_bytes(4)})
    v2 = _fine_tune(ws, "v2", files={"model.safetensors": safetensors_bytes(8)})
    evidence = _report_for(_digest(v1))
    _with_evidence(ws, v1, evidence)
    _with_evidence(ws, v2, evidence)  # v1's report, copied into v2's mirror with its sha256 re-pinned
    report = ws.check(ws.write_manifest([ws.artifact("base"), v1, v2]))
    assert [(f.rule.id, f.artifact_id) for f in report.active_findings] == [("WG620", "v2")]
    assert dict(report.active_findings[0].evidence) == {"evidence_digest": _digest(v1), "artifact_digest": _digest(v2)}


@pytest.mark.parametrize(("change", "reason"), [
    ("sha256", "hashes to"),
    ("missing", "not found"),
    ("escape", "'..'"),
    ("malformed-pin", "not 64 lowercase hex"),
])
def test_evidence_that_cannot_be_verified(ws, change, reason):
    art = _with_evidence(ws, _fine_tune(ws), _report_for("x"))
    if change == "sha256":
        art["eval_evidence"]["sha256"] = "0" * 64
    elif change == "missing":  # removed, not renamed: a report left beside the pins would be WG310 unpinned-file
        (ws.mirror / art["id"] / art["eval_evidence"]["path"]).unlink()
    elif change == "escape":
        (ws.mirror / art["id"] / art["eval_evidence"]["path"]).unlink()  # else it is WG310, unreferenced
        art["eval_evidence"]["path"] = "../base/model.safetensors"
    else:
        art["eval_evidence"]["sha256"] = "ABC"
    report = _check(ws, art)
    assert rule_ids(report) == ["WG619"]
    assert reason in report.active_findings[0].message


@pytest.mark.parametrize(("data", "reason"), [
    (b"accuracy: 0.9\n", "not JSON"),
    (b'{"metrics": {}}', "no string `artifact_digest`"),
    (b'{"artifact_digest": 7}', "no string `artifact_digest`"),
    (b"[1, 2]", "no string `artifact_digest`"),
])
def test_evidence_that_names_no_digest(ws, data, reason):
    report = _check(ws, _with_evidence(ws, _fine_tune(ws), data))
    assert rule_ids(report) == ["WG620"]
    assert reason in report.active_findings[0].message
    lenient = ws.write_policy(eval_evidence={"require_artifact_digest": False})
    assert rule_ids(_check(ws, _with_evidence(ws, _fine_tune(ws), data), policy=lenient)) == []


def test_evidence_too_large_to_read_its_digest_fails_closed(ws, monkeypatch):
    monkeypatch.setattr(eval_evidence, "MAX_EVIDENCE_JSON_BYTES", 64)
    art = _fine_tune(ws)
    data = json.dumps({"artifact_digest": _digest(art), "padding": "x" * 200}).encode()
    report = _check(ws, _with_evidence(ws, art, data))
    assert rule_ids(report) == ["WG620"]
    assert "larger than 64 bytes" in report.active_findings[0].message


def test_evidence_by_file_uri(ws):
    art = _fine_tune(ws)
    data = _report_for(_digest(art))
    outside = ws.root / "evals" / "ft.json"
    outside.parent.mkdir()
    outside.write_bytes(data)
    art["eval_evidence"] = {"path": outside.as_uri(), "sha256": hashlib.sha256(data).hexdigest()}
    assert rule_ids(_check(ws, art)) == []


def test_offline_evidence_is_not_fetched_and_says_so(ws):
    art = _with_evidence(ws, _fine_tune(ws), b"not even json")
    report = _check(ws, art, offline=True)
    assert rule_ids(report) == []
    facts = report.governance.evidence["ft"]
    assert facts.status is FileStatus.NOT_CHECKED and "not fetched" in facts.reason
