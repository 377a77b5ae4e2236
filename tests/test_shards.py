"""One gate across runners (issue 18): `check --shard i/n` reads a share of the files, `merge` joins the shares into
exactly what one run writes, and refuses a shard that is missing, repeated, or from another run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from conftest import REPO_ROOT, TODAY, Workspace, rule_ids, safetensors_bytes
from test_reproducible import _statements_without_run
from weightgate import __version__
from weightgate.cli import main
from weightgate.gate import CheckOptions, run_check, run_shard
from weightgate.manifest import load_manifest
from weightgate.mirror import locate_mirrors
from weightgate.shards import ShardError, ShardSpec, plan_shares, shard_document

REPORTS = ("r.sarif", "r.cdx.json", "r.json", "cq.json", "console.txt")
EXAMPLE = ("examples/deployment.yaml", "--policy", "examples/policy.yaml", "--as-of", "2026-11-26")


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO_ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    key = tmp_path / "gate.pem"
    key.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return tmp_path


def _reports(command: str, *args: str, out: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Path]:
    code = main([command, *args, "--reproducible", "--sarif", f"{out}/r.sarif", "--bom", f"{out}/r.cdx.json",
                 "--json", f"{out}/r.json", "--gitlab-codequality", f"{out}/cq.json",
                 "--attest", f"{out}/records.jsonl", "--attest-key", "gate.pem"])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    Path(out, "console.txt").write_text(captured.out)
    return code, Path(out)


def _shards(count: int, *extra: str, folder: str = "shards") -> list[str]:
    paths = []
    for index in range(1, count + 1):
        path = f"{folder}/{index}.json"
        assert main(["check", EXAMPLE[0], *EXAMPLE[1:3], *extra, "-q", "--shard", f"{index}/{count}",
                     "--shard-out", path]) == 0
        paths.append(path)
    return paths


# --- the plan ------------------------------------------------------------------------------------------------

def test_the_plan_deals_every_file_once_balanced_by_bytes(ws: Workspace):
    sizes = [1000, 700, 650, 300, 300, 200, 120, 64, 10, 3]
    big = ws.artifact("big", files={f"part-{i}.safetensors": safetensors_bytes(n, seed=str(i))
                                    for i, n in enumerate(sizes)})
    manifest = load_manifest(ws.write_manifest([big, ws.artifact("small")])).manifest
    assert manifest is not None
    locations = locate_mirrors(manifest, None)
    shares = plan_shares(manifest, locations, 4)
    every = [key for share in shares for key in share]
    assert sorted(every) == sorted({*every}) and len(every) == len(sizes) + 1
    assert sum(1 for share in shares if any(a == "big" for a, _ in share)) == 4  # one artifact across shards
    loads = [sum(manifest.artifact(a).files[i].size for a, i in share) for share in shares]
    largest = max(f.size for a in manifest.artifacts for f in a.files)
    assert max(loads) - min(loads) <= largest  # greedy, largest first: within one file of even
    assert shares == plan_shares(manifest, locations, 4)  # the manifest alone decides it
    assert plan_shares(manifest, locations, 1) == [set(every)]


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "1/257", "x", "1/3/4", "-1/3", " "])
def test_a_shard_spec_that_names_no_shard_is_refused(text):
    with pytest.raises(ShardError):
        ShardSpec.parse(text)


# --- merge equals one run ------------------------------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 4])
def test_shards_merged_write_exactly_what_one_run_writes(checkout, capsys, count):
    one_code, one = _reports("check", *EXAMPLE, out="one", capsys=capsys)
    paths = _shards(count)
    capsys.readouterr()
    merged_code, merged = _reports("merge", *paths, "--manifest", *EXAMPLE, out="merged", capsys=capsys)
    assert merged_code == one_code == 1  # the example's planted problems fail either way
    for name in REPORTS:
        assert (merged / name).read_bytes() == (one / name).read_bytes(), name
    assert _statements_without_run(merged / "records.jsonl") == _statements_without_run(one / "records.jsonl")
    # The pinned model card reached the merge from the shard that read it (the card rules judged its text).
    assert any("captured" in f for s in paths for a in json.loads(Path(s).read_text())["artifacts"]
               for f in a["files"] if f["path"] == "README.md")


def test_shards_checked_out_elsewhere_merge_as_one_run_here(checkout, capsys, monkeypatch):
    """Runners check the repository out in different folders (GitLab: /builds/<runner>/<n>/...): a mirror inside
    the checkout is the same mirror, and the reports name nothing of the shards' folders."""
    paths = _shards(3)
    for path in paths:  # each shard file names the checkout it ran in
        assert str(checkout) in Path(path).read_text()
    elsewhere = checkout / "runner-b" / "checkout"
    shutil.copytree(checkout / "examples", elsewhere / "examples")
    shutil.copytree(checkout / "shards", elsewhere / "shards")
    Path(elsewhere / "gate.pem").write_bytes((checkout / "gate.pem").read_bytes())
    monkeypatch.chdir(elsewhere)
    one_code, one = _reports("check", *EXAMPLE, out="one", capsys=capsys)
    merged_code, merged = _reports("merge", *paths, "--manifest", *EXAMPLE, out="merged", capsys=capsys)
    assert merged_code == one_code == 1
    for name in REPORTS:
        assert (merged / name).read_bytes() == (one / name).read_bytes(), name
        assert str(checkout / "shards") not in (merged / name).read_text()


def _shard_files(options: CheckOptions, count: int, folder: Path) -> list[Path]:
    """Every shard of `options` run through the library and written as a shard file."""
    paths = []
    for index in range(1, count + 1):
        path = folder / f"{index}.json"
        path.write_text(shard_document(run_shard(options, ShardSpec(index, count))))
        paths.append(path)
    return paths


def test_dependency_files_read_by_a_shard_are_judged_by_the_merge(ws: Workspace, tmp_path: Path):
    artifact = ws.artifact("m", files={"model.safetensors": safetensors_bytes(4096),
                                       "requirements.txt": b"torch>=2.0\n"})
    manifest = ws.write_manifest([artifact])
    policy = ws.write_policy()
    options = CheckOptions(manifest=manifest, policy=policy, today=TODAY, source_root=ws.root)
    paths = _shard_files(options, 2, tmp_path)
    one = run_check(options)
    merged = run_check(CheckOptions(manifest=manifest, policy=policy, today=TODAY, source_root=ws.root,
                                    shards=tuple(paths)))
    assert one.runtime is not None and one.runtime.requirement_count == 1  # read from the pinned file's bytes
    assert rule_ids(merged) == rule_ids(one)
    assert merged.facts == one.facts and merged.runtime == one.runtime


def test_an_empty_pinned_model_card_reaches_the_merge_as_read(ws: Workspace, tmp_path: Path):
    artifact = ws.artifact("m", files={"model.safetensors": safetensors_bytes(4096), "README.md": b""},
                           model_card={"path": "README.md"})
    manifest, policy = ws.write_manifest([artifact]), ws.write_policy()
    options = CheckOptions(manifest=manifest, policy=policy, today=TODAY, source_root=ws.root)
    paths = _shard_files(options, 2, tmp_path)
    one = run_check(options)
    merged = run_check(dataclasses.replace(options, shards=tuple(paths)))
    assert one.governance.model_cards["m"].read  # an empty card is read (and judged), not "not verified"
    assert merged.governance.model_cards == one.governance.model_cards
    assert rule_ids(merged) == rule_ids(one)


def test_a_file_a_shard_could_not_read_fails_the_merge(checkout, capsys):
    (checkout / "examples/mirror/tiny-chat-base/model.safetensors").unlink()
    paths = _shards(3)
    capsys.readouterr()
    code = main(["merge", *paths, "--manifest", *EXAMPLE, "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert "WG303" in {f["rule"] for f in report["findings"]}


# --- a merge refuses what is not one split of this run ---------------------------------------------------------

def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["merge", *args, "--manifest", *EXAMPLE]) == 2
    return capsys.readouterr().err


def test_a_missing_shard_is_an_error_never_a_pass(checkout, capsys):
    paths = _shards(3)
    assert "shard(s) 2 of 3 missing" in _refused(capsys, paths[0], paths[2])


def test_a_repeated_shard_is_an_error(checkout, capsys):
    paths = _shards(2)
    assert "shard 1/2 was given twice" in _refused(capsys, paths[0], *paths)


def test_shards_of_two_splits_do_not_merge(checkout, capsys):
    three, two = _shards(3), _shards(2, folder="two")
    assert "belongs to a split into 2" in _refused(capsys, *three[:2], two[1], three[2])


def test_a_shard_of_another_manifest_or_policy_is_refused(checkout, capsys):
    paths = _shards(2)
    manifest = checkout / EXAMPLE[0]
    manifest.write_text(manifest.read_text() + "\n# a later commit\n")
    assert "checked another manifest" in _refused(capsys, *paths)
    paths = _shards(2)
    policy = checkout / "examples/policy.yaml"
    policy.write_text(policy.read_text() + "\n# edited\n")
    assert "ran under another policy" in _refused(capsys, *paths)


def test_a_shard_read_from_another_mirror_is_refused(checkout, capsys):
    shutil.copytree(checkout / "examples/mirror", checkout / "elsewhere")
    paths = _shards(2, "--mirror", str(checkout / "elsewhere"))
    assert "give the shards and the merge the same --mirror" in _refused(capsys, *paths)


@pytest.mark.parametrize("edit", ["drop-file", "foreign-file", "version", "other-build", "garbage", "unknown-rule",
                                  "repeat-key"])
def test_an_edited_or_broken_shard_file_is_refused(checkout, capsys, edit):
    paths = _shards(2)
    text = Path(paths[0]).read_text()
    document = json.loads(text)
    if edit == "drop-file":
        document["artifacts"][0]["files"].pop()
    elif edit == "foreign-file":
        document["artifacts"][0]["files"][0]["pinnedSha256"] = "0" * 64
    elif edit == "version":
        document["toolVersion"] = "0.0.1"
    elif edit == "other-build":  # development builds share a version number; their code differs
        document["toolVersion"] = f"{__version__} (code sha256:{'0' * 16})"
    elif edit == "unknown-rule":
        document["artifacts"][0]["files"][0]["issues"] = [{"rule": "WG999", "message": "", "severity": None,
                                                           "evidence": [], "confidence": "certain"}]
    text = {"garbage": text[: len(text) // 2], "repeat-key": text.replace('{', '{"shard": "1/2", ', 1)}.get(
        edit, json.dumps(document))
    Path(paths[0]).write_text(text)
    expected = {"drop-file": "does not hold the files the plan gives it",
                "foreign-file": "is not the file the manifest pins",
                "version": "was written by weightgate 0.0.1", "other-build": "was written by weightgate",
                "garbage": "is not JSON", "unknown-rule": "is not a weightgate shard file",
                "repeat-key": "appears twice"}[edit]
    assert expected in _refused(capsys, *paths)


# --- the shard command -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--shard", "1/2"], ["--shard-out", "s.json"], ["--shard", "1/2", "--shard-out", "s.json", "--sarif", "r"],
    ["--shard", "1/2", "--shard-out", "s.json", "--offline"],
    ["--shard", "1/2", "--shard-out", "s.json", "--format", "json"],
    ["--shard", "2/1", "--shard-out", "s.json"],
])
def test_shard_options_that_cannot_work_together_are_usage_errors(checkout, capsys, args):
    assert main(["check", *EXAMPLE[:3], *args]) == 2
    assert not Path("s.json").exists()


def test_a_shard_prints_its_share_and_what_did_not_verify(checkout, capsys):
    (checkout / "examples/mirror/tiny-chat-base/model.safetensors").write_bytes(b"\x1b[31m changed")
    outputs = []
    for index in (1, 2):
        assert main(["check", *EXAMPLE[:3], "--shard", f"{index}/2", "--shard-out", f"{index}.json"]) == 0
        outputs.append(capsys.readouterr().out)
    assert all(out.startswith(f"weightgate shard {i}/2: ") for i, out in enumerate(outputs, 1))
    assert sum("tiny-chat-base/model.safetensors" in out for out in outputs) == 1
    assert "`weightgate merge` judges the manifest from all 2 shard(s)" in outputs[0]
