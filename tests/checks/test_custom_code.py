"""WG530: artifacts that need trust_remote_code fail until their exact digest is waived."""

import json

import pytest

from conftest import rule_ids, safetensors_bytes
from weightgate.facts import artifact_digest
from weightgate.rules import Severity

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64}
AUTO_MAP = {"AutoConfig": "configuration_phi.PhiConfig", "AutoModelForCausalLM": "modeling_phi.PhiForCausalLM"}


def _json(value: object) -> bytes:
    return json.dumps(value, indent=2).encode()


def _files(**extra: bytes) -> dict[str, bytes]:
    return {"model.safetensors": safetensors_bytes(), "config.json": _json(CONFIG), **extra}


def _digest(art):
    return artifact_digest((e["path"], e["sha256"], e["size"]) for e in art["files"])


def _waiver(digest):
    return {"rule": "WG530", "digest": digest, "reason": "modeling code reviewed in SEC-42", "expires": "2026-12-31",
            "approved_by": "sec@example.com"}


@pytest.mark.parametrize(
    "files",
    [
        _files(**{"modeling_phi.py": b"import torch\n"}),
        _files(**{"config.json": _json({**CONFIG, "auto_map": AUTO_MAP})}),
        _files(**{"tokenizer_config.json": _json({"auto_map": {"AutoTokenizer": ["tok.T", None]}})}),
        _files(**{"config.json": _json({**CONFIG, "custom_pipelines": {"my-task": {"impl": "pipe.MyPipeline"}}})}),
        _files(**{"sub/helpers.py": b"x = 1\n"}),
    ],
    ids=["python-file", "auto-map", "tokenizer-auto-map", "custom-pipelines", "nested-python-file"],
)
def test_custom_loading_code_fires(ws, files):
    report = ws.check(ws.write_manifest([ws.artifact("a", files=files)]))
    assert rule_ids(report) == ["WG530"]
    finding = report.active_findings[0]
    assert finding.severity is Severity.CRITICAL
    assert "trust_remote_code" in finding.message


def test_benign_configs_are_near_misses(ws):
    # auto_map only counts at the top level; a README mentioning .py files is not code.
    files = _files(**{"generation_config.json": _json({"nested": {"auto_map": "x"}}),
                      "README.md": b"run `python train.py`\n"})
    assert rule_ids(ws.check(ws.write_manifest([ws.artifact("a", files=files)]))) == []


def test_auto_map_into_another_repository_is_called_out(ws):
    config = {**CONFIG, "auto_map": {"AutoModel": "attacker/repo--modeling.Model"}}
    report = ws.check(ws.write_manifest([ws.artifact("a", files=_files(**{"config.json": _json(config)}))]))
    assert "another repository" in report.active_findings[0].message
    assert dict(report.active_findings[0].evidence)["config.json:auto_map"] == '{"AutoModel": ' \
        '"attacker/repo--modeling.Model"}'


def test_python_files_are_found_offline_from_the_manifest(ws):
    manifest = ws.write_manifest([ws.artifact("a", files=_files(**{"modeling.py": b"pass\n"}))])
    assert rule_ids(ws.check(manifest, offline=True)) == ["WG530"]


def test_waiver_for_the_exact_digest_clears_it(ws):
    art = ws.artifact("a", files=_files(**{"modeling_phi.py": b"import torch\n"}))
    report = ws.check(ws.write_manifest([art]), policy=ws.write_policy(waivers=[_waiver(_digest(art))]))
    assert rule_ids(report) == []
    assert [w.rule_id for w in report.waivers_used] == ["WG530"]


def test_waiver_for_another_digest_does_not(ws):
    reviewed = ws.artifact("a", files=_files(**{"modeling_phi.py": b"import torch\n"}))
    policy = ws.write_policy(waivers=[_waiver(_digest(reviewed))])
    changed = ws.artifact("a", files=_files(**{"modeling_phi.py": b"import torch, os\n"}))  # one byte later
    report = ws.check(ws.write_manifest([changed]), policy=policy)
    assert rule_ids(report) == ["WG530"]
