"""`weightgate scan`: folders and files without a manifest, the same inspectors and policy, exit codes
0/1/2/3, symlinks and FIFOs as findings, custom code per folder, and outputs the reporters validate."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import safetensors_bytes
from formats.samples import GGUF_STRING, gguf_file, gguf_kv, gguf_string, pb
from validate_outputs import output_errors
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_NOTHING_CHECKED, EXIT_PASS
from weightgate.scan import ScanOptions, run_scan

SSTI = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"


def onnx_with_external(location: str) -> bytes:
    tensor = pb(8, "w") + pb(13, pb(1, "location") + pb(2, location)) + pb(14, 1)
    graph = pb(1, pb(1, "x") + pb(2, "y") + pb(4, "MatMul")) + pb(2, "g") + pb(5, tensor)
    return pb(1, 8) + pb(2, "exporter") + pb(7, graph) + pb(8, pb(1, "") + pb(2, 17))


def write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def clean_files() -> dict[str, bytes]:
    return {"model.safetensors": safetensors_bytes(), "config.json": b'{"model_type": "llama"}',
            "README.md": b"# model\n", "onnx/model.onnx": onnx_with_external("model.onnx.data")}


def scan(*paths: Path, **options) -> object:
    return run_scan(ScanOptions(paths=paths, source_root=paths[0].parent, **options))


def by_rule(report) -> dict[str, list[str]]:
    """rule id -> the paths it fired at (each once)."""
    found: dict[str, list[str]] = {}
    for f in report.active_findings:
        found.setdefault(f.rule.id, [])
        if f.location.path not in found[f.rule.id]:
            found[f.rule.id].append(f.location.path)
    return found


def test_mixed_folder(tmp_path):
    gguf = gguf_file(kv=[gguf_kv("tokenizer.chat_template", GGUF_STRING, gguf_string(SSTI))])
    root = write(tmp_path / "models", {
        **clean_files(), "chat.gguf": gguf, "legacy/model.pkl": pickle.dumps({"w": [1.0]}, protocol=4),
        "onnx/escape.onnx": onnx_with_external("../../../etc/shadow"),
        ".git/objects/ab/cdef": b"\x78\x9c not scanned",  # version-control metadata is skipped
    })
    report = scan(root)
    assert by_rule(report) == {
        "WG401": [f"{root}/legacy/model.pkl"],
        "WG525": [f"{root}/onnx/escape.onnx"],
        "WG535": [f"{root}/chat.gguf"],
    }
    assert all(f.location.line == 1 for f in report.findings)
    assert sorted(f.path for f in report.scanned) == sorted(
        f"{root}/{p}" for p in [*clean_files(), "chat.gguf", "legacy/model.pkl", "onnx/escape.onnx"])
    assert {f.format.value for f in report.scanned} >= {"safetensors", "gguf", "pickle", "onnx", "json", "text"}


def test_clean_folder_passes(tmp_path):
    report = scan(write(tmp_path / "m", clean_files()))
    assert report.active_findings == () and not report.failed


def test_files_given_one_by_one_as_pre_commit_does(tmp_path):
    root = write(tmp_path / "repo", {**clean_files(), "bad.safetensors": pickle.dumps([1], protocol=2)})
    report = scan(root / "model.safetensors", root / "bad.safetensors")
    assert [f.path for f in report.scanned] == [str(root / "model.safetensors"), str(root / "bad.safetensors")]
    assert sorted(by_rule(report)) == ["WG401", "WG404"]  # prohibited pickle, and a name that lies


def test_h5_with_a_lambda_layer(tmp_path):
    from formats.keras_samples import h5_file, lambda2, legacy_model

    path = tmp_path / "model.h5"
    path.write_bytes(h5_file(json.dumps(legacy_model(lambda2())).encode()))
    report = scan(path)
    assert sorted(f.rule.id for f in report.active_findings) == ["WG402", "WG520"]  # sandbox-only format too
    lam = next(f for f in report.active_findings if f.rule.id == "WG520")
    assert lam.confidence == "heuristic"


# --- what is never followed or opened --------------------------------------------------------------------------


def test_symlink_out_of_the_folder_is_a_finding_and_is_not_read(tmp_path):
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"outside")
    root = write(tmp_path / "m", clean_files())
    (root / "leak.safetensors").symlink_to(outside)
    (root / "inside.json").symlink_to(root / "config.json")  # stays inside: read like any file
    (root / "linked-dir").symlink_to(tmp_path, target_is_directory=True)  # never entered
    report = scan(root)
    assert by_rule(report) == {"WG306": [f"{root}/leak.safetensors", f"{root}/linked-dir"]}
    inside = next(f for f in report.scanned if f.path.endswith("inside.json"))
    assert inside.verified and inside.format.value == "json"


def test_a_file_argument_that_links_out_of_its_folder_is_not_followed(tmp_path):
    outside = write(tmp_path / "elsewhere", {"w.safetensors": safetensors_bytes()})
    (tmp_path / "repo").mkdir()
    link = tmp_path / "repo" / "w.safetensors"
    link.symlink_to(outside / "w.safetensors")
    assert list(by_rule(scan(link))) == ["WG306"]


def test_fifo_is_a_finding_not_a_hang(tmp_path):
    root = write(tmp_path / "m", clean_files())
    os.mkfifo(root / "pipe.bin")
    report = scan(root)
    assert by_rule(report) == {"WG307": [f"{root}/pipe.bin"]}
    assert "FIFO" in report.active_findings[0].message


# --- custom code per folder, and waivers by the folder's artifact digest --------------------------------------


def _custom_folder(tmp_path: Path) -> Path:
    return write(tmp_path / "phi", {**clean_files(), "modeling_phi.py": b"import torch\n"})


def test_custom_code_is_judged_per_folder(tmp_path):
    root = _custom_folder(tmp_path)
    report = scan(root, write(tmp_path / "plain", clean_files()))
    [finding] = report.active_findings
    assert finding.rule.id == "WG530" and finding.artifact_id == str(root)
    assert finding.location.path == f"{root}/modeling_phi.py"


def _policy(tmp_path: Path, digest: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps({"apiVersion": "weightgate.dev/v1", "kind": "Policy", "waivers": [
        {"rule": "WG530", "digest": digest, "reason": "reviewed in SEC-42", "expires": "2099-12-31"}]}))
    return path


def test_waiver_for_the_folder_digest_clears_custom_code(tmp_path):
    root = _custom_folder(tmp_path)
    digest = dict(scan(root).active_findings[0].evidence)["artifact_digest"]
    assert scan(root, policy=_policy(tmp_path, digest)).active_findings == ()
    assert [f.rule.id for f in scan(root, policy=_policy(tmp_path, "sha256:" + "1" * 64)).active_findings] == [
        "WG530"]


# --- chat templates saved as files (CVE-2024-34359's payload, in the file transformers now writes) ----------

MRO = "{% for m in messages %}{{ m.content }}{% endfor %}{{ ''.__class__.__mro__[1].__subclasses__() }}"
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def test_template_files_are_judged_by_their_path(tmp_path):
    root = write(tmp_path / "m", {
        **clean_files(), "chat_template.jinja": SSTI.encode(),
        "additional_chat_templates/tool_use.jinja": MRO.encode(),
        "additional_chat_templates/rag.jinja": CHATML.encode(),
        "README.md": f"# model\n\nNever ship `{SSTI}`\n".encode(),  # quoting a payload is not a template
    })
    report = scan(root)
    assert by_rule(report) == {"WG535": [f"{root}/additional_chat_templates/tool_use.jinja",
                                         f"{root}/chat_template.jinja"]}
    assert {dict(f.evidence)["template"] for f in report.active_findings} == {"chat_template",
                                                                               "chat_template.tool_use"}


def test_template_file_given_alone_as_pre_commit_does(tmp_path):
    root = write(tmp_path / "repo", {"chat_template.jinja": CHATML.encode(), "bad/chat_template.jinja": MRO.encode()})
    assert scan(root / "chat_template.jinja").active_findings == ()
    assert by_rule(scan(root / "bad" / "chat_template.jinja")) == {"WG535": [str(root / "bad" / "chat_template.jinja")]}


def test_oversize_template_file_fails_closed(tmp_path):
    from weightgate.formats.chat_template import MAX_TEMPLATE_FILE_BYTES

    root = write(tmp_path / "m", {"chat_template.jinja": b"{{ bos_token }}" * (MAX_TEMPLATE_FILE_BYTES // 15 + 1)})
    [finding] = scan(root).active_findings
    assert finding.rule.id == "WG536" and "byte limit" in finding.message


# --- the command: exit codes and outputs ------------------------------------------------------------------------


def test_exit_codes(tmp_path, capsys):
    clean = write(tmp_path / "clean", clean_files())
    dirty = write(tmp_path / "dirty", {"m.pkl": pickle.dumps([1], protocol=4)})
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert main(["scan", str(clean)]) == EXIT_PASS
    assert main(["scan", str(dirty)]) == EXIT_FINDINGS
    assert main(["scan", str(dirty), "--fail-on", "never"]) == EXIT_PASS
    assert main(["scan", str(tmp_path / "empty")]) == EXIT_NOTHING_CHECKED
    assert "no files found" in capsys.readouterr().err
    assert main(["scan", str(tmp_path / "missing")]) == EXIT_INPUT_ERROR
    assert main(["scan"]) == EXIT_INPUT_ERROR


def test_console_lists_scanned_files(tmp_path, capsys):
    root = write(tmp_path / "m", clean_files())
    main(["scan", str(root), "--source-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert "m/model.safetensors  safetensors, " in out
    assert "PASS" in out and "4/4 files verified" in out


def test_json_output(tmp_path, capsys):
    root = write(tmp_path / "m", {"m.pkl": pickle.dumps([1], protocol=4)})
    assert main(["scan", str(root), "--format", "json", "--source-root", str(tmp_path)]) == EXIT_FINDINGS
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "fail" and doc["manifest"] is None
    assert [f["rule"] for f in doc["findings"]] == ["WG401"]
    assert doc["findings"][0]["path"] == "m/m.pkl" and doc["scanned"][0]["format"] == "pickle"


def test_sarif_of_a_scan_validates(tmp_path):
    gguf = gguf_file(kv=[gguf_kv("tokenizer.chat_template", GGUF_STRING, gguf_string(SSTI))])
    root = write(tmp_path / "m", {**clean_files(), "chat.gguf": gguf, "modeling.py": b"pass\n"})
    sarif, bom = tmp_path / "scan.sarif", tmp_path / "scan.bom.json"
    code = main(["scan", str(root), "--sarif", str(sarif), "--bom", str(bom), "-q", "--source-root", str(tmp_path)])
    assert code == EXIT_FINDINGS
    assert output_errors("sarif", sarif) == []
    assert output_errors("bom", bom) == []
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"WG530", "WG535"}
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"m/chat.gguf", "m/modeling.py"}


@pytest.mark.parametrize("module", ["torch", "keras", "tensorflow", "onnx", "h5py"])
def test_scanning_imports_no_model_library(tmp_path, module):
    root = write(tmp_path / "m", clean_files())
    code = (f"import sys; from weightgate.cli import main; main(['scan', {str(root)!r}, '-q']); "
            f"sys.exit(1 if {module!r} in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_scan_honours_the_policy_pickle_allowlist(tmp_path):
    """A global the policy adds to the pickle allowlist is accepted by scan as by check."""
    import pickle

    from weightgate.cli import main

    data = pickle.dumps(__import__("fractions").Fraction(1, 3), protocol=2)
    (tmp_path / "m.pkl").write_bytes(data)
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: weightgate.dev/v1\nkind: Policy\nformats: {pickle: permitted}\n")
    assert main(["scan", str(tmp_path / "m.pkl"), "--policy", str(policy), "-q"]) == 1
    policy.write_text("apiVersion: weightgate.dev/v1\nkind: Policy\nformats: {pickle: permitted}\n"
                      "pickle: {allow_globals: [fractions.Fraction]}\n")
    assert main(["scan", str(tmp_path / "m.pkl"), "--policy", str(policy), "-q"]) == 0


def test_only_model_files_chooses_by_content(tmp_path, capsys):
    """issue 14, class 9: the pre-commit hook hands over every file; a pickle named config.p is scanned and
    fails, a picture and a text file are passed over (exit 0, nothing to report)."""
    from weightgate.cli import main

    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (tmp_path / "notes").write_text("plain words\n")
    assert main(["scan", "--only-model-files", str(tmp_path / "logo.png"), str(tmp_path / "notes")]) == 0
    assert "logo.png" not in capsys.readouterr().out
    (tmp_path / "config.p").write_bytes(b"cos\nsystem\n(S'id'\ntR.")  # protocol 0: text to a naive sniffer
    assert main(["scan", "--only-model-files", str(tmp_path / "config.p"), str(tmp_path / "logo.png")]) == 1
    out = capsys.readouterr().out
    assert "config.p" in out and "WG502" in out and "logo.png" not in out
    assert main(["scan", str(tmp_path / "logo.png")]) == 1  # without the flag an unknown format is WG403
