"""The CLI through `main(argv)`: exit codes, outputs, and clear messages instead of tracebacks."""

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, safetensors_bytes
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_PASS


@pytest.fixture
def clean_manifest(ws):
    """Clean under the built-in default policy: not deployed to production, so no role must approve it, and no
    text approval (the default counts only signed records)."""
    return ws.write_manifest([ws.artifact("a", approvals=[])])


def test_clean_manifest_exits_0(clean_manifest, capsys):
    assert main(["check", str(clean_manifest), "--as-of", "2026-11-26"]) == EXIT_PASS
    assert "PASS" in capsys.readouterr().out


def test_findings_exit_1_and_fail_on_never_exits_0(ws, capsys):
    path = ws.write_manifest([ws.artifact("a", files={"m.pkl": b"\x80\x04K\x01."})])
    assert main(["check", str(path), "--as-of", "2026-11-26"]) == EXIT_FINDINGS
    assert "WG401" in capsys.readouterr().out
    assert main(["check", str(path), "--as-of", "2026-11-26", "--fail-on", "never"]) == EXIT_PASS


@pytest.mark.parametrize("how", ["option", "policy"])
def test_fail_on_never_is_report_only_never_pass(ws, capsys, tmp_path, how):
    """Exit 0 under `never`, but no output calls a run with high findings a pass."""
    path = ws.write_manifest([ws.artifact("a", files={"m.pkl": b"\x80\x04K\x01."})])
    never = ["--fail-on", "never"] if how == "option" else ["--policy", str(ws.write_policy(fail_on="never"))]
    report = tmp_path / "r.json"
    assert main(["check", str(path), "--as-of", "2026-11-26", "--json", str(report), *never]) == EXIT_PASS
    verdict = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert verdict.startswith("REPORT-ONLY: ") and "PASS" not in verdict and "(not enforced)" in verdict
    doc = json.loads(report.read_text())
    assert (doc["verdict"], doc["enforced"], doc["fail_on"]) == ("fail", False, "never")


def test_fail_on_never_without_error_findings_is_still_not_a_pass(clean_manifest, capsys, tmp_path):
    report = tmp_path / "r.json"
    assert main(["check", str(clean_manifest), "--as-of", "2026-11-26", "--fail-on", "never", "--json",
                 str(report)]) == EXIT_PASS
    verdict = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert verdict.startswith("REPORT-ONLY: 0 critical, 0 high") and "nothing at error level" in verdict
    assert (json.loads(report.read_text())["verdict"], json.loads(report.read_text())["enforced"]) == ("pass", False)


def test_offline_reads_no_artifact_bytes(ws):
    art = ws.artifact("a")
    (ws.mirror / "a" / "model.safetensors").write_bytes(safetensors_bytes(8))  # tampered, but not read
    path = ws.write_manifest([art])
    assert main(["check", str(path), "--offline", "--as-of", "2026-11-26"]) == EXIT_PASS
    assert main(["check", str(path), "--as-of", "2026-11-26"]) == EXIT_FINDINGS


def test_outputs_are_written_even_without_findings(clean_manifest, tmp_path):
    sarif, bom, report = tmp_path / "out" / "r.sarif", tmp_path / "out" / "r.bom.json", tmp_path / "r.json"
    code = main(["check", str(clean_manifest), "--as-of", "2026-11-26", "--sarif", str(sarif), "--bom", str(bom),
                 "--json", str(report), "--quiet"])
    assert code == EXIT_PASS
    assert json.loads(sarif.read_text())["runs"][0]["results"] == []
    assert json.loads(bom.read_text())["components"]
    assert json.loads(report.read_text())["verdict"] == "pass"
    assert json.loads(report.read_text())["enforced"] is True


def test_json_format_on_stdout(clean_manifest, capsys):
    main(["check", str(clean_manifest), "--as-of", "2026-11-26", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["artifacts"][0]["files"][0]["format"] == "safetensors"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "does-not-exist.yaml"], "cannot read manifest"),
        (["check", "{bad}", "--policy", "nope.yaml"], "cannot read"),
        (["check", "--fail-on", "sometimes", "x.yaml"], "Invalid value"),
        (["frobnicate"], "No such command"),
    ],
)
def test_input_errors_exit_2_without_traceback(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_unparseable_manifest_names_file_and_line(ws, capsys):
    path = ws.root / "m.yaml"
    path.write_text("apiVersion: weightgate.dev/v1\nartifacts:\n  - id: [unclosed\n")
    assert main(["check", str(path)]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert f"{path}:" in err and "not valid YAML" in err


def test_invalid_policy_lists_every_error_with_lines(ws, clean_manifest, capsys):
    policy = ws.root / "policy.yaml"
    policy.write_text("apiVersion: weightgate.dev/v1\nkind: Policy\nfail_on: sometimes\nformats:\n  pickle: maybe\n")
    assert main(["check", str(clean_manifest), "--policy", str(policy)]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert f"{policy}:3:" in err and f"{policy}:5:" in err


def test_output_that_cannot_be_written_is_an_input_error(clean_manifest, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["check", str(clean_manifest), "--sarif", str(blocker / "r.sarif"), "-q"]) == EXIT_INPUT_ERROR
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["manifest", "policy", "deployment"])
def test_schema_command_prints_the_shipped_schema(name, capsys):
    assert main(["schema", name]) == EXIT_PASS
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((REPO_ROOT / "schemas" / f"{name}.schema.json").read_text())


def test_default_policy_validates_against_the_policy_schema(capsys):
    import yaml

    from weightgate.jsonschemas import schema_errors

    assert main(["schema", "default-policy"]) == EXIT_PASS
    assert schema_errors("policy", yaml.safe_load(capsys.readouterr().out)) == []


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "weightgate", "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.startswith("weightgate, version ")
