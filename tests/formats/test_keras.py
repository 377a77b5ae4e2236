"""WG520-WG522: Keras configs judged without Keras, in `.keras` (config.json) and legacy `.h5` files.

Configs are written the way Keras writes them (keras/src/saving/serialization_lib.py, lambda_layer.py); the
legacy ones and the `.h5` writer are in keras_samples.py.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from typing import Any

import pytest

from weightgate.formats import Format
from weightgate.formats.keras import MAX_CONFIG_BYTES, keras_config_issues
from weightgate.rules import (
    KERAS_CUSTOM_OBJECT,
    KERAS_LAMBDA,
    KERAS_UNSAFE_DESERIALIZATION,
    MALFORMED_FILE,
    Severity,
)

from .feeding import inspect_all_chunkings, inspect_bytes
from .keras_samples import EVIL_CODE, h5_file, lambda2, legacy_model
from .samples import hdf5_file, zip_of


def layer(class_name: str, name: str, module: str | None = "keras.layers", **config: Any) -> dict[str, Any]:
    return {"module": module, "class_name": class_name, "config": {"name": name, **config},
            "registered_name": None}


def sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": [
        layer("InputLayer", "input", batch_shape=[None, 4], dtype="float32"), *layers]}, "registered_name": None}


def dense(name: str = "dense", activation: object = "relu") -> dict[str, Any]:
    return layer("Dense", name, units=4, activation=activation, use_bias=True)


def lambda3(name: str = "lambda") -> dict[str, Any]:
    """A Keras 3 Lambda layer around a Python lambda."""
    function = {"class_name": "__lambda__", "config": {"code": EVIL_CODE, "defaults": None, "closure": None}}
    return layer("Lambda", name, function=function, arguments={})


def function_ref(module: str | None, name: str, registered: str | None = None) -> dict[str, Any]:
    return {"module": module, "class_name": "function", "config": name, "registered_name": registered or name}


def config_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def keras_file(config: dict[str, Any]) -> bytes:
    """A `.keras` v3 archive as Keras writes it: metadata.json, config.json, model.weights.h5."""
    return zip_of({"metadata.json": json.dumps({"keras_version": "3.8.0", "date_saved": "2025-01-01"}).encode(),
                   "config.json": config_bytes(config), "model.weights.h5": hdf5_file()})


def issues_of_keras_file(config: dict[str, Any]):
    data = keras_file(config)
    assert inspect_bytes(data).format is Format.KERAS_V3
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return keras_config_issues(archive.read("config.json"))


# --- .keras config.json ---------------------------------------------------------------------------------------


def test_lambda_layer_in_a_keras_file_fires() -> None:
    [issue] = issues_of_keras_file(sequential(dense(), lambda3("evil")))
    assert issue.rule is KERAS_LAMBDA
    assert "Lambda layer 'evil'" in issue.message
    evidence = dict(issue.evidence)
    assert evidence["loads_only_with"] == "safe_mode=False"
    assert {"os", "system"} <= set(evidence["code_names"].split(","))  # read from the bytecode, not run


def test_benign_keras_file_passes() -> None:
    assert issues_of_keras_file(sequential(dense("a"), dense("b", activation="softmax"))) == []


def test_lambda_object_outside_a_lambda_layer_fires() -> None:
    activation = {"class_name": "__lambda__", "config": {"value": [EVIL_CODE, None, None]}}
    [issue] = keras_config_issues(config_bytes(sequential(dense(activation=activation))))
    assert issue.rule is KERAS_LAMBDA and "__lambda__ object" in issue.message


def test_lambda_layer_around_a_keras_function_is_a_near_miss() -> None:
    named = layer("Lambda", "l", function=function_ref("keras.activations", "relu"), arguments={})
    assert keras_config_issues(config_bytes(sequential(named))) == []


@pytest.mark.parametrize(
    ("obj", "origin"),
    [
        (layer("MyAttention", "att", module="my_company.layers"), "my_company.layers"),
        ({**layer("MyAttention", "att", module=None), "registered_name": "MyCompany>MyAttention"},
         "MyCompany>MyAttention"),
        (dense(activation=function_ref("my_company.activations", "swish2")), "my_company.activations"),
        (layer("Lambda", "l", function=function_ref("helpers", "f")), "helpers"),
    ],
    ids=["custom-layer", "registered-custom-class", "custom-function", "lambda-calling-custom-function"],
)
def test_objects_outside_keras_fire(obj: dict[str, Any], origin: str) -> None:
    [issue] = keras_config_issues(config_bytes(sequential(obj)))
    assert issue.rule is KERAS_CUSTOM_OBJECT
    assert dict(issue.evidence)["origin"] == origin
    assert issue.severity_override is None  # high: custom code, not an attack by itself


def test_function_from_a_code_running_module_is_critical() -> None:
    # CVE-2025-1550: Keras < 3.9 imported the module a config names and called the function.
    [issue] = keras_config_issues(config_bytes(sequential(dense(activation=function_ref("os", "system")))))
    assert issue.rule is KERAS_CUSTOM_OBJECT and issue.severity_override is Severity.CRITICAL


@pytest.mark.parametrize(
    "obj",
    [
        dense(activation=function_ref("builtins", "relu", "function")),  # resolved among Keras's own built-ins
        dense(activation=function_ref("keras.activations", "gelu")),
        {**layer("GemmaBackbone", "backbone", module="keras_hub.src.models.gemma.gemma_backbone"),
         "registered_name": "keras_hub>GemmaBackbone"},
        layer("Dense", "legacy", module=None),  # Keras 2 configs carry no module
        layer("Dense", "tf", module="tf_keras.src.layers"),
    ],
    ids=["builtins-function", "keras-function", "keras-hub", "no-module", "tf-keras"],
)
def test_keras_own_objects_are_near_misses(obj: dict[str, Any]) -> None:
    assert keras_config_issues(config_bytes(sequential(obj))) == []


@pytest.mark.parametrize(
    ("module", "name"),
    [("keras.config", "enable_unsafe_deserialization"),  # CVE-2025-9906
     ("keras.utils", "get_file"),  # CVE-2025-8747
     ("keras.models", "load_model")],
)
def test_functions_that_defeat_safe_mode_fire(module: str, name: str) -> None:
    obj = layer("Lambda", "l", function=function_ref(module, name))
    [issue] = keras_config_issues(config_bytes(sequential(obj)))
    assert issue.rule is KERAS_UNSAFE_DESERIALIZATION
    assert issue.rule.severity is Severity.CRITICAL


def test_same_names_outside_a_function_reference_are_near_misses() -> None:
    obj = dense(name="get_file")
    assert keras_config_issues(config_bytes(sequential(obj))) == []


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[" * 100_000])
def test_unreadable_config_fails_closed(raw: bytes) -> None:
    [issue] = keras_config_issues(raw)
    assert issue.rule is MALFORMED_FILE


def test_oversized_config_fails_closed() -> None:
    [issue] = keras_config_issues(b" " * (MAX_CONFIG_BYTES + 1))
    assert issue.rule is MALFORMED_FILE and "limit" in issue.message


def test_many_problems_are_capped() -> None:
    issues = keras_config_issues(config_bytes(sequential(*(lambda3(f"l{i}") for i in range(80)))))
    assert len(issues) == 51 and "not listed" in issues[-1].message


# --- legacy .h5 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_text", [False, True], ids=["fixed-length-attribute", "variable-length-attribute"])
def test_h5_lambda_with_marshalled_code_fires(as_text: bool) -> None:
    raw = json.dumps(legacy_model(lambda2()))
    result = inspect_all_chunkings(h5_file(raw if as_text else raw.encode(), weights=40_000))
    assert result.format is Format.HDF5
    [issue] = result.issues
    assert issue.rule is KERAS_LAMBDA and "Lambda layer 'lambda_1'" in issue.message
    assert issue.confidence == "heuristic"  # found by scanning bytes, not by parsing HDF5
    assert result.details["keras_config"] == "found"
    assert result.details["keras_model_class"] == "Sequential"


def test_h5_benign_model_passes() -> None:
    result = inspect_all_chunkings(h5_file(json.dumps(legacy_model(
        {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "relu"}})).encode()))
    assert result.issues == []
    assert result.details["keras_config"] == "found"


def test_h5_weights_only_file_is_a_near_miss() -> None:
    result = inspect_all_chunkings(h5_file(None))
    assert result.issues == []
    assert result.details["keras_config"] == "absent"


def test_h5_with_reordered_keys_and_unicode_escapes_still_fires() -> None:
    lam = lambda2()
    config = {"config": {"layers": [{"config": lam["config"], "class_name": "Lambda"}]}, "class_name": "Sequential"}
    text = json.dumps(config).replace('"Lambda"', '"\\u004cambda"').replace('"class_name"', '"\\u0063lass_name"')
    result = inspect_all_chunkings(h5_file(text.encode()))
    assert [i.rule for i in result.issues] == [KERAS_LAMBDA]


def test_h5_model_config_that_is_not_json_fails_closed() -> None:
    result = inspect_bytes(h5_file(b"this is not a config"))
    assert [i.rule for i in result.issues] == [MALFORMED_FILE]


def test_h5_lambda_token_without_a_parseable_config_still_fires() -> None:
    broken = json.dumps(legacy_model(lambda2()))[:-40] + "\x01"  # cut, then a byte JSON never holds
    result = inspect_bytes(h5_file(broken.encode()))
    assert KERAS_LAMBDA in [i.rule for i in result.issues]


def test_h5_binary_that_looks_like_json_is_ignored() -> None:
    noise = b'{"a": [1, 2' + struct.pack("<4f", 1, 2, 3, 4) + b'{"b":' + bytes(range(256))
    result = inspect_all_chunkings(hdf5_file() + noise)
    assert result.issues == [] and result.details["keras_config"] == "absent"


# --- the same judgement wherever the config travels -----------------------------------------------------------


def test_keras_archive_is_judged_end_to_end() -> None:
    # The zip inspector opens every member like a file; config.json reaches the JSON inspector and so here.
    result = inspect_all_chunkings(keras_file(sequential(dense(), lambda3("evil"))))
    assert result.format is Format.KERAS_V3
    assert [i.rule for i in result.issues] == [KERAS_LAMBDA]
    assert "config.json" in result.issues[0].message


def test_keras_archive_with_a_custom_module_is_judged_end_to_end() -> None:
    result = inspect_bytes(keras_file(sequential(layer("MyAttention", "att", module="my_company.layers"))))
    assert [i.rule for i in result.issues] == [KERAS_CUSTOM_OBJECT]


def test_benign_keras_archive_passes_end_to_end() -> None:
    assert inspect_all_chunkings(keras_file(sequential(dense()))).issues == []


def test_model_json_saved_on_its_own_is_judged() -> None:
    result = inspect_bytes(json.dumps({**legacy_model(lambda2()), "keras_version": "2.15.0"}).encode())
    assert result.format is Format.JSON
    assert [i.rule for i in result.issues] == [KERAS_LAMBDA]
    assert result.details["keras_model_class"] == "Sequential"


def test_json_that_only_mentions_class_name_is_a_near_miss() -> None:
    # diffusers' model_index.json style, and an object without a Keras-shaped top level.
    for value in ({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]},
                  {"class_name": "Thing", "module": "elsewhere"}):
        result = inspect_bytes(json.dumps(value).encode())
        assert result.issues == [] and "keras_model_class" not in result.details
