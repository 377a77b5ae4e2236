"""WG101-WG107: schema errors at their lines, ids, references, file lists, rollback targets."""

from conftest import COMMIT, rule_ids


def test_clean_manifest_passes(ws):
    report = ws.check(ws.write_manifest([ws.artifact("a")], [{"name": "svc", "artifacts": ["a"]}]))
    assert rule_ids(report) == []
    assert not report.failed


def test_schema_errors_are_findings_at_their_lines(ws):
    art = ws.artifact("a")
    art["class"] = "weights"  # not a class
    art["colour"] = "blue"  # unknown field
    del art["source"]
    path = ws.write_manifest([art])
    report = ws.check(path)
    assert {f.rule.id for f in report.findings} == {"WG101"}
    lines = path.read_text().splitlines()
    by_text = {f.message: f.location.line for f in report.findings}
    class_msg = next(m for m in by_text if m.startswith("artifacts[0].class"))
    assert lines[by_text[class_msg] - 1].strip().startswith("class: weights")
    colour_msg = next(m for m in by_text if "colour" in m)
    assert "unknown field 'colour'" in colour_msg
    assert any("missing required field 'source'" in m for m in by_text)
    assert report.failed


def test_numbers_where_strings_belong_get_a_quoting_hint(ws):
    art = ws.artifact("a")
    art["source"]["revision"] = 1234567
    report = ws.check(ws.write_manifest([art]))
    assert any("quote it" in f.message for f in report.findings)


def test_duplicate_artifact_ids(ws):
    report = ws.check(ws.write_manifest([ws.artifact("a"), ws.artifact("a")]))
    assert rule_ids(report).count("WG102") == 1


def test_service_naming_unknown_artifact(ws):
    path = ws.write_manifest([ws.artifact("a")], [{"name": "svc", "artifacts": ["a", "ghost"]}])
    report = ws.check(path)
    assert rule_ids(report) == ["WG103"]
    f = report.active_findings[0]
    assert "ghost" in path.read_text().splitlines()[f.location.line - 1]


def test_duplicate_file_paths_and_empty_file_lists(ws):
    art = ws.artifact("a")
    art["files"].append(dict(art["files"][0]))
    empty = ws.artifact("b", files={})
    assert rule_ids(ws.check(ws.write_manifest([art, empty]))) == ["WG104", "WG105"]


def test_rollback_must_name_a_pinned_artifact(ws):
    good = ws.check(ws.write_manifest([ws.artifact("v2", rollback="v1"), ws.artifact("v1")]))
    assert rule_ids(good) == []
    unknown = ws.check(ws.write_manifest([ws.artifact("v2", rollback="v0")]))
    assert rule_ids(unknown) == ["WG106"]
    itself = ws.check(ws.write_manifest([ws.artifact("v2", rollback="v2")]))
    assert rule_ids(itself) == ["WG106"]
    v1 = ws.artifact("v1", source={"registry": "huggingface", "uri": "hf://o/v1", "revision": "main"})
    unpinned = ws.check(ws.write_manifest([ws.artifact("v2", rollback="v1"), v1]))
    assert "WG107" in rule_ids(unpinned)
    v1_nodigest = ws.artifact("v1")
    del v1_nodigest["files"][0]["sha256"]
    assert "WG107" in rule_ids(ws.check(ws.write_manifest([ws.artifact("v2", rollback="v1"), v1_nodigest])))
    assert COMMIT  # the pinned default source keeps the near miss clean
