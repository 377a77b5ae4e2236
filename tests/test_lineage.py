"""lineage.py and `weightgate lineage`: the graph, its text tree and Mermaid rendering, and the ML-BOM's
pedigree telling the same story."""

import json

from conftest import COMMIT
from weightgate.cli import main
from weightgate.exitcodes import EXIT_INPUT_ERROR, EXIT_PASS
from weightgate.lineage import build_lineage, cycles, mermaid, text_tree
from weightgate.manifest import load_manifest

EXTERNAL = {"uri": "hf://org/pretrain", "revision": COMMIT, "digest": "sha256:" + "ab" * 32, "license": "MIT"}


def _manifest(ws):
    arts = [
        ws.artifact("base", base_models=[EXTERNAL]),
        ws.artifact("ft", base_models=[{"artifact": "base"}], **{"class": "fine-tune"}),
        ws.artifact("gguf", base_models=[{"artifact": "ft"}, {"artifact": "ghost"}]),
        ws.artifact("solo", license={"spdx": 'MIT"]; click x'}),
    ]
    return ws.write_manifest(arts)


def test_text_tree_shows_each_artifact_above_its_bases(ws):
    lineage = build_lineage(load_manifest(_manifest(ws)).manifest)
    assert text_tree(lineage) == (
        "gguf (model, Apache-2.0)\n"
        "├── ft (fine-tune, Apache-2.0)\n"
        "│   └── base (model, Apache-2.0)\n"
        f"│       └── hf://org/pretrain@{COMMIT} (external, pinned, MIT)\n"
        "└── ghost (MISSING: no such artifact in the manifest)\n"
        "solo (model, MIT\"]; click x)\n"
    )


def test_mermaid_points_from_each_artifact_to_its_bases_and_escapes_labels(ws):
    text = mermaid(load_manifest(_manifest(ws)).manifest)
    lines = text.splitlines()
    assert lines[0] == "flowchart BT"
    assert '  n0["base (model, Apache-2.0)"]' in lines
    assert f'  n1(["hf://org/pretrain@{COMMIT} (external, pinned, MIT)"])' in lines
    assert "  n0 --> n1" in lines and "  n2 --> n0" in lines
    assert any(line.endswith('{{"ghost (MISSING)"}}') for line in lines)
    assert any("-.->" in line for line in lines)
    assert '"]; click' not in text and "#quot;]; click x" in text  # manifest text cannot end the label


def test_cycle_is_drawn_once_and_marked(ws):
    arts = [ws.artifact("a", base_models=[{"artifact": "b"}]), ws.artifact("b", base_models=[{"artifact": "a"}])]
    manifest = load_manifest(ws.write_manifest(arts)).manifest
    lineage = build_lineage(manifest)
    assert cycles(lineage) == [("a", "b")]
    assert "(CYCLE)" in text_tree(lineage)


def test_cli_prints_text_and_mermaid(ws, capsys):
    path = _manifest(ws)
    assert main(["lineage", str(path)]) == EXIT_PASS
    assert capsys.readouterr().out.startswith("gguf (model, Apache-2.0)\n├── ft")
    assert main(["lineage", str(path), "--format", "mermaid"]) == EXIT_PASS
    assert capsys.readouterr().out.startswith("flowchart BT\n")


def test_cli_rejects_an_invalid_manifest(ws, capsys):
    art = ws.artifact("a")
    art["class"] = "weights"
    assert main(["lineage", str(ws.write_manifest([art]))]) == EXIT_INPUT_ERROR
    assert "is invalid" in capsys.readouterr().err


def test_bom_pedigree_matches_the_lineage(ws, tmp_path):
    path = _manifest(ws)
    bom_path = tmp_path / "bom.json"
    main(["check", str(path), "--bom", str(bom_path), "-q", "--as-of", "2026-11-26"])
    components = {c["bom-ref"]: c for c in json.loads(bom_path.read_text())["components"]}
    lineage = build_lineage(load_manifest(path).manifest)
    for artifact_id, links in lineage.bases.items():
        ancestors = components[f"artifact:{artifact_id}"].get("pedigree", {}).get("ancestors", [])
        named = sorted(a["bom-ref"].split(":", 2)[2] for a in ancestors)
        assert named == sorted(link.ref.artifact or link.ref.uri for link in links)


def test_manifest_newlines_cannot_draw_lines_in_the_tree(ws, capsys):
    """Issue 19: a license or base URI with a newline must not add a fake branch to `lineage` output."""
    fake = {**EXTERNAL, "uri": "hf://org/x\n└── hf://org/approved (external, pinned, MIT)",
            "license": "MIT\n\x1b[2Kevil"}
    manifest = ws.write_manifest([ws.artifact("m", base_models=[fake])])
    assert main(["lineage", str(manifest)]) == EXIT_PASS
    out = capsys.readouterr().out
    assert out.count("\n") == 2 and "\x1b" not in out  # the artifact and its one base, nothing drawn in between
    assert "hf://org/x\\n└── hf://org/approved" in out and "MIT\\n\\x1b[2Kevil" in out
