"""WG309/WG310: files under an artifact's local mirror folder that the manifest does not pin (issue 14, class 2).

The attack: a clean, pinned artifact whose folder also holds an unpinned `pytorch_model.bin` (a pickle calling
posix.system) and a `modeling_*.py`. `from_pretrained` on the folder, or a copy of it into the image, loads them.
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import rule_ids, safetensors_bytes
from weightgate import gate, unpinned
from weightgate.facts import ListingStatus

# protocol 2: GLOBAL posix.system, then REDUCE on ("id",): what `torch.load` of the file would run.
EVIL_PICKLE = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."
MODELING = b"import os\nos.system('id')\n"


def _check(ws, art, *others, **options):
    return ws.check(ws.write_manifest([art, *others]), **options)


def _found(report, rule_id):
    return sorted(f.file_path for f in report.active_findings if f.rule.id == rule_id)


def test_unpinned_pickle_and_modeling_code_beside_a_clean_artifact(ws):
    art = ws.artifact("m")
    ws.put("m", "pytorch_model.bin", EVIL_PICKLE)
    ws.put("m", "modeling_x.py", MODELING)
    report = _check(ws, art)
    assert rule_ids(report) == ["WG309", "WG309"]
    assert _found(report, "WG309") == ["modeling_x.py", "pytorch_model.bin"]
    pickle_finding = next(f for f in report.active_findings if f.file_path == "pytorch_model.bin")
    assert "content is pickle" in pickle_finding.message
    assert dict(pickle_finding.evidence)["format"] == "pickle"
    assert report.facts[0].intact  # the pinned artifact itself is clean: only its folder is not


def test_offline_runs_list_local_folders_too(ws):
    art = ws.artifact("m")
    ws.put("m", "modeling_x.py", MODELING)
    assert rule_ids(_check(ws, art, offline=True)) == ["WG309"]


@pytest.mark.parametrize(("name", "data", "rule"), [
    ("weights.dat", EVIL_PICKLE, "WG309"),  # a pickle by content, whatever the name says
    ("sub/dir/extra.pkl", EVIL_PICKLE, "WG309"),  # nested folders are walked
    ("config.json", json.dumps({"auto_map": {"AutoModel": "modeling_x.X"}}).encode(), "WG309"),
    ("native.so", b"\x7fELF", "WG309"),
    ("data.bin", safetensors_bytes(), "WG310"),  # near miss: a loader name, but the content is not code
    ("notes.txt", b"hello\n", "WG310"),
    ("extra-config.json", b'{"hidden_size": 8}', "WG310"),  # near miss: a config naming no code
])
def test_unpinned_files_by_name_and_content(ws, name, data, rule):
    art = ws.artifact("m")
    ws.put("m", name, data)
    report = _check(ws, art)
    assert rule_ids(report) == [rule]
    assert _found(report, rule) == [name]


def test_ignore_globs_hide_documentation_but_never_code(ws):
    art = ws.artifact("m")
    ws.put("m", "README.md", b"# card\n")  # the default policy ignores *.md
    ws.put("m", ".gitattributes", b"*.bin filter=lfs\n")
    assert rule_ids(_check(ws, art)) == []
    ws.put("m", "docs/guide.txt", b"guide\n")
    ws.put("m", "disguised.md", EVIL_PICKLE)
    policy = ws.write_policy(mirrors={"ignore_unpinned": ["docs/*", "*.md", ".git*"]})  # replaces the default
    report = _check(ws, art, policy=policy)
    assert rule_ids(report) == ["WG309"]  # docs/guide.txt is hidden by a path glob; a pickle never is
    assert _found(report, "WG309") == ["disguised.md"]
    ws.put("m", "other.txt", b"x")
    assert _found(_check(ws, art, policy=policy), "WG310") == ["other.txt"]


def test_a_symlink_out_of_the_root_is_reported_and_never_followed(ws, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.bin").write_bytes(EVIL_PICKLE)
    (outside / "data").write_bytes(b"x")
    art = ws.artifact("m")
    (ws.mirror / "m" / "pytorch_model.bin").symlink_to(outside / "evil.bin")
    (ws.mirror / "m" / "linked-folder").symlink_to(outside, target_is_directory=True)
    report = _check(ws, art)
    assert _found(report, "WG309") == ["pytorch_model.bin"]  # by name: a loader follows the link, we never do
    assert _found(report, "WG310") == ["linked-folder"]  # the folder is not walked: its files never appear
    linked = next(f for f in report.active_findings if f.file_path == "linked-folder")
    assert dict(linked.evidence)["link_target"] == str(outside)
    listing = report.governance.listings["m"]
    assert all(u.format is None for u in listing.unpinned)  # neither link was opened


def test_files_the_manifest_references_otherwise_are_not_unpinned(ws):
    art = ws.artifact("m", model_card={"path": "MODEL_CARD.md"}, signature={"bundle": "model.sig"})
    ws.put("m", "MODEL_CARD.md", b"---\nlicense: apache-2.0\n---\n")
    ws.put("m", "model.sig", b"{}")
    ws.put("m", "evals/report.json", b'{"metrics": {}}')
    art["eval_evidence"] = {"path": "evals/report.json", "sha256": "0" * 64}
    policy = ws.write_policy(mirrors={"ignore_unpinned": []})  # nothing hidden by globs
    report = _check(ws, art, policy=policy)
    assert not [f for f in report.active_findings if f.rule.id in ("WG309", "WG310")]
    assert report.governance.listings["m"].status is ListingStatus.LISTED


def test_artifacts_sharing_or_nesting_folders_count_each_others_pins(ws):
    tokenizer = ws.artifact("shared", {"tokenizer.json": b"{}"})
    model = ws.artifact("model", {"model.safetensors": safetensors_bytes()}, mirror="shared")
    inner = ws.artifact("inner", {"model.safetensors": safetensors_bytes(8)}, mirror="shared/inner")
    ws.put("shared", "inner/stray.pkl", EVIL_PICKLE)
    report = _check(ws, tokenizer, model, inner)
    # Reported once, for the artifact whose folder holds it (not again by the folder around it).
    assert [(f.rule.id, f.artifact_id, f.file_path) for f in report.active_findings
            if f.rule.id in ("WG309", "WG310")] == [("WG309", "inner", "stray.pkl")]


def test_a_listing_past_the_bound_is_a_finding(ws, monkeypatch):
    monkeypatch.setattr(unpinned, "MAX_LISTED_FILES", 3)
    art = ws.artifact("m")
    for i in range(4):
        ws.put("m", f"shard-{i}.txt", b"x")
    report = _check(ws, art, policy=ws.write_policy(mirrors={"ignore_unpinned": ["*.txt"]}))
    assert rule_ids(report) == ["WG310"]
    assert "more than 3 entries" in report.active_findings[0].message
    assert report.governance.listings["m"].status is ListingStatus.TRUNCATED


def test_unpinned_files_are_sniffed_by_their_head_and_pinned_files_are_not_reread(ws, monkeypatch):
    read: dict[str, int] = {}
    real_open = gate.open_approved_mirror

    class Counting:
        def __init__(self, inner):
            self._inner, self.uri = inner, inner.uri

        def open(self, path):
            handle = self._inner.open(path)
            inner_read = handle.readinto

            def readinto(buffer):
                n = inner_read(buffer)
                read[path] = read.get(path, 0) + n
                return n

            handle.readinto = readinto
            return handle

        def uri_of(self, path):
            return self._inner.uri_of(path)

        def list_files(self):
            return self._inner.list_files()

    monkeypatch.setattr(gate, "open_approved_mirror", lambda *a, **k: Counting(real_open(*a, **k)))
    art = ws.artifact("m")
    ws.put("m", "big.txt", b"a" * (1024 * 1024))
    report = _check(ws, art)
    assert rule_ids(report) == ["WG310"]
    assert read == {"model.safetensors": len(safetensors_bytes()), "big.txt": unpinned.HEAD_BYTES}


def test_hostile_names_are_shown_escaped(ws):
    art = ws.artifact("m")
    ws.put("m", "a\nWG000 fake-finding.txt", b"x")
    [finding] = [f for f in _check(ws, art).active_findings if f.rule.id == "WG310"]
    assert "\n" not in finding.message and "a\\nWG000" in finding.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_reported_without_blocking(ws):
    art = ws.artifact("m")
    os.mkfifo(ws.mirror / "m" / "pipe")
    report = _check(ws, art)
    assert _found(report, "WG310") == ["pipe"]
    assert "FIFO" in report.active_findings[0].message


def test_the_json_report_lists_every_unpinned_file_and_validates(ws):
    from jsonschema import Draft202012Validator

    from weightgate.jsonschemas import schema_text
    from weightgate.report.json import JsonReporter

    art = ws.artifact("m")
    ws.put("m", "pytorch_model.bin", EVIL_PICKLE)
    (ws.mirror / "m" / "elsewhere").symlink_to("/etc")
    document = json.loads(JsonReporter().render(_check(ws, art)))
    Draft202012Validator(json.loads(schema_text("report"))).validate(document)
    listing = document["artifacts"][0]["unpinned"]
    assert listing["status"] == "listed" and listing["listed"] == 3
    assert [(f["path"], f["format"], f["link_target"]) for f in listing["files"]] == [
        ("elsewhere", None, "/etc"), ("pytorch_model.bin", "pickle", None)]


def test_past_the_sniffing_budget_names_decide(ws, monkeypatch):
    monkeypatch.setattr(unpinned, "MAX_SNIFFED_FILES", 1)
    art = ws.artifact("m")
    ws.put("m", "a.txt", b"x")
    ws.put("m", "b.dat", EVIL_PICKLE)  # not read: still reported, by name as WG310
    report = _check(ws, art, policy=ws.write_policy(mirrors={"ignore_unpinned": []}))
    assert rule_ids(report) == ["WG310", "WG310"]
    assert [u.format for u in report.governance.listings["m"].unpinned] == ["text", None]


def test_nested_locations_are_found_from_sorted_keys_in_manifest_order():
    # Issue 18: found as one run of the sorted keys, not by comparing every pair of locations (10 s at 10,000).
    keys = ["file:///m/a", "file:///m/a/b", "file:///m/c", "file:///m/a/b/c", "file:///m/ab", "file:///m/a/a"]
    assert unpinned._nested(keys) == {
        "file:///m/a": ("b", "b/c", "a"), "file:///m/a/b": ("c",), "file:///m/c": (), "file:///m/a/b/c": (),
        "file:///m/ab": (), "file:///m/a/a": (),
    }
