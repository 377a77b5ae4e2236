"""WG615-WG617: base references resolve, form no cycle, and external bases are pinned and licensed."""

import pytest

from conftest import COMMIT, rule_ids

NO_EVIDENCE = {"eval_evidence": {"required_for": []}}
EXTERNAL = {"uri": "hf://org/base", "revision": COMMIT, "digest": "sha256:" + "ab" * 32, "license": "Apache-2.0"}


def _ft(ws, artifact_id, *bases):
    return ws.artifact(artifact_id, base_models=[{"artifact": b} for b in bases], **{"class": "fine-tune"})


def test_bases_in_the_manifest_resolve(ws):
    manifest = ws.write_manifest([ws.artifact("base"), _ft(ws, "ft", "base")])
    assert rule_ids(ws.check(manifest, policy=ws.write_policy(**NO_EVIDENCE))) == []


def test_dangling_base_reference(ws):
    path = ws.write_manifest([_ft(ws, "ft", "ghost")])
    report = ws.check(path, policy=ws.write_policy(**NO_EVIDENCE))
    assert rule_ids(report) == ["WG615"]
    assert "ghost" in path.read_text().splitlines()[report.active_findings[0].location.line - 1]


@pytest.mark.parametrize("arts", [
    [("a", "b"), ("b", "a")],
    [("a", "a")],
    [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")],
])
def test_cycles_are_reported_once(ws, arts):
    report = ws.check(ws.write_manifest([_ft(ws, i, b) for i, b in arts]), policy=ws.write_policy(**NO_EVIDENCE))
    assert rule_ids(report) == ["WG616"]
    assert report.active_findings[0].message.startswith("a: base models form a cycle: a → ")


@pytest.mark.parametrize(("change", "problem"), [
    ({}, None),
    ({"revision": "main"}, "moving name"),
    ({"revision": None}, "no `revision`"),
    ({"digest": None}, "no artifact `digest`"),
    ({"digest": "sha256:abc"}, "is not sha256:<64 hex>"),
    ({"license": None}, "no `license`"),
])
def test_external_bases_are_pinned_and_licensed(ws, change, problem):
    base = {k: v for k, v in {**EXTERNAL, **change}.items() if v is not None}
    art = ws.artifact("ft", base_models=[base], **{"class": "fine-tune"})
    report = ws.check(ws.write_manifest([art]), policy=ws.write_policy(**NO_EVIDENCE))
    if problem is None:
        assert rule_ids(report) == []
    else:
        assert rule_ids(report) == ["WG617"]
        assert problem in report.active_findings[0].message
