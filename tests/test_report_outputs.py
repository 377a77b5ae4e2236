"""What `check` does with its outputs: every report that can be written is written when one cannot, with the
real cause; a mirror base that is not there is one usage error; each manifest keeps its own SARIF category."""

import errno
import json
import os
from pathlib import Path

import pytest

from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR
from weightgate.outputs import _cause

AS_OF = ["--as-of", "2026-11-26"]


@pytest.fixture
def pickled(ws):
    return ws.write_manifest([ws.artifact("a", files={"m.pkl": b"\x80\x04K\x01."})])


def test_one_unwritable_report_keeps_the_others_and_the_console(pickled, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = tmp_path / "out"
    code = main(["check", str(pickled), *AS_OF, "--sarif", str(blocker / "r.sarif"), "--bom", str(out / "r.cdx.json"),
                 "--json", str(out / "r.json"), "--gitlab-codequality", str(out / "cq.json")])
    captured = capsys.readouterr()
    assert code == EXIT_INPUT_ERROR
    assert "WG401" in captured.out and "FAIL" in captured.out  # the console report is out
    assert {p.name for p in out.iterdir()} == {"r.cdx.json", "r.json", "cq.json"}
    assert json.loads((out / "r.json").read_text())["verdict"] == "fail"
    assert f"1 report(s) not written: cannot write {blocker / 'r.sarif'}" in captured.err


def test_proc_is_named_for_what_it_is(pickled, capsys):
    assert main(["check", str(pickled), *AS_OF, "--sarif", "/proc/version", "-q"]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert "/proc accepts no new files" in err and "No such file or directory" not in err


def test_permission_denied_names_who_and_whose_folder(tmp_path):
    """A container user writing into a bind-mounted workspace: the message says which uid owns the folder. (The
    denial itself is made by the image test, tests/integration/test_container.py; root is never denied here.)"""
    folder = tmp_path / "theirs"
    folder.mkdir()
    owner = os.getuid() + 4242
    if os.getuid() == 0:
        os.chown(folder, owner, owner)
    else:
        owner = os.getuid()
    cause = _cause(PermissionError(errno.EACCES, "Permission denied"), folder)
    if owner == os.getuid():
        assert cause == f"Permission denied: cannot create files in {folder}"
    else:
        assert cause.startswith(f"Permission denied: uid 0 cannot create files in {folder} (owned by uid {owner})")
        assert cause.endswith(f"run it as the folder's owner: --user {owner}:{owner}")


@pytest.mark.parametrize(("mirror", "message"), [
    ("missing-folder", "does not exist"),
    ("manifest.yaml", "is not a directory"),
    ("file:///nonexistent/mirror", "does not exist"),
])
def test_a_mirror_base_that_is_not_there_is_one_usage_error(ws, pickled, capsys, monkeypatch, mirror, message):
    monkeypatch.chdir(ws.root)
    assert main(["check", str(pickled), *AS_OF, "--mirror", mirror]) == EXIT_INPUT_ERROR
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_an_existing_mirror_base_or_a_uri_is_accepted(ws, pickled, capsys, monkeypatch):
    monkeypatch.chdir(ws.root)
    assert main(["check", str(pickled), *AS_OF, "--mirror", "mirror", "-q"]) == EXIT_FINDINGS  # near miss
    assert main(["check", str(pickled), *AS_OF, "--mirror", "https://mirror.invalid/models", "-q",
                 "--offline"]) != EXIT_INPUT_ERROR


def _category(path: Path) -> str:
    return json.loads(path.read_text())["runs"][0]["automationDetails"]["id"]


def test_each_manifest_has_its_own_category_and_a_broken_one_keeps_it(ws, tmp_path, capsys):
    (ws.root / "deploy").mkdir()
    good = ws.write_manifest([ws.artifact("a")], name="deploy/prod.yaml", mirror_base="../mirror")
    other = ws.write_manifest([ws.artifact("b")], name="deploy/staging.yaml", mirror_base="../mirror")
    broken = ws.root / "deploy" / "broken.yaml"
    broken.write_text("apiVersion: weightgate.dev/v1\nkind: DeploymentManifest\nartifacts: 3\n")
    categories = {}
    for manifest in (good, other, broken):
        sarif, report = tmp_path / f"{manifest.stem}.sarif", tmp_path / f"{manifest.stem}.json"
        main(["check", str(manifest), *AS_OF, "--source-root", str(ws.root), "--sarif", str(sarif),
              "--json", str(report)])
        categories[manifest.stem] = _category(sarif)
        assert json.loads(report.read_text())["manifest"] == f"deploy/{manifest.name}"
        assert f"· deploy/{manifest.name} ·" in capsys.readouterr().out.splitlines()[0]
    assert categories == {"prod": "weightgate/check/deploy/prod.yaml/",
                          "staging": "weightgate/check/deploy/staging.yaml/",
                          "broken": "weightgate/check/deploy/broken.yaml/"}


@pytest.mark.parametrize(("given", "expected"), [("weightgate-prod", "weightgate-prod/"),
                                                 ("models/prod/", "models/prod/")])
def test_sarif_category_option(ws, pickled, tmp_path, given, expected):
    sarif = tmp_path / "r.sarif"
    main(["check", str(pickled), *AS_OF, "-q", "--sarif", str(sarif), "--sarif-category", given])
    assert _category(sarif) == expected


@pytest.mark.parametrize("bad", ["two words", "-flag", "a" * 201, "cat;rm"])
def test_sarif_category_is_validated(pickled, capsys, bad):
    assert main(["check", str(pickled), "--sarif-category", bad]) == EXIT_INPUT_ERROR
    assert "--sarif-category" in capsys.readouterr().err


def test_a_report_folder_that_cannot_be_made_names_the_folder_it_would_go_in(tmp_path):
    parent = tmp_path / "theirs"
    parent.mkdir()
    cause = _cause(PermissionError(errno.EACCES, "Permission denied"), parent / "out" / "deeper")
    assert cause == f"Permission denied: cannot create files in {parent}"


def test_github_summary_names_a_broken_manifest(ws, tmp_path, monkeypatch, capsys):
    broken = ws.root / "broken.yaml"
    broken.write_text("apiVersion: weightgate.dev/v1\nkind: DeploymentManifest\nartifacts: 3\n")
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    main(["check", str(broken), *AS_OF, "--github", "--source-root", str(ws.root)])
    title = summary.read_text().splitlines()[0]
    assert title.endswith("· broken\\.yaml") and "scan" not in title
