"""Fuzzing the structured-content parsers: ONNX and SavedModel protobuf walkers (with external data paths),
the protobuf head reader, Keras configs (parsed JSON and the byte scanner of `.h5` files), chat templates,
and the JSON / JSON Lines / text inspectors with the Hugging Face config checks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from formats import keras_samples, samples
from formats.samples import pb, pb_float
from hardening.fuzzing import (
    CHUNKINGS,
    EDITS,
    SIZE_HINTS,
    apply_edits,
    bounded,
    feed,
    mutated,
    pieces,
    seeds_from,
    shares_parser,
    size_hint,
    sniff,
    well_formed,
)
from weightgate.formats import Format
from weightgate.formats.base import Inspection, Issue
from weightgate.formats.chat_template import template_issues
from weightgate.formats.hdf5 import Hdf5Inspector
from weightgate.formats.hfconfig import config_facts
from weightgate.formats.jsontext import JsonInspector, TextInspector
from weightgate.formats.keras import KerasConfigScanner, config_value_issues, keras_config_issues
from weightgate.formats.onnxmodel import OnnxInspector
from weightgate.formats.protobuf import protobuf_facts, walk_fields
from weightgate.formats.tfgraph import SavedModelInspector

pytestmark = pytest.mark.fuzz

STRINGS = st.one_of(st.text(max_size=12), st.sampled_from(["../../etc/passwd", "/abs/path", "weights.bin",
                                                           "com.microsoft", "ai.onnx", "PyFunc", "ReadFile",
                                                           "Relu", "location", "data"]))


@st.composite
def protobuf_messages(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A message of random fields (varint, length-delimited with nested messages or strings, fixed32/64),
    with field numbers drawn near the ones ONNX and SavedModel use so the walkers descend."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 6))):
        number = draw(st.one_of(st.integers(1, 16), st.integers(1, 2**29 - 1)))
        kind = draw(st.integers(0, 4))
        if kind == 0:
            out += pb(number, draw(st.integers(0, 2**64 - 1)))
        elif kind == 1:
            out += pb(number, draw(STRINGS))
        elif kind == 2 and depth < 4:
            out += pb(number, draw(protobuf_messages(depth + 1)))
        elif kind == 3:
            out += pb_float(number, draw(st.floats(width=32, allow_nan=False)))
        else:
            out += draw(st.binary(max_size=12))
    return bytes(out)


def _external_data_model() -> bytes:
    """An ONNX model with one initializer stored outside the file (data_location EXTERNAL, key 'location')."""
    entry = pb(1, "location") + pb(2, "../../secret.bin")
    tensor = pb(1, 1) + pb(2, 1) + pb(8, "w") + pb(13, entry) + pb(14, 1)
    graph = pb(5, tensor) + pb(2, "g")
    return pb(1, 8) + pb(7, graph) + pb(8, pb(1, "com.microsoft") + pb(2, 1))


PROTO_SEEDS = seeds_from([samples.onnx_model, samples.saved_model, samples.sentencepiece_model, _external_data_model])
PROTOBUFS = st.one_of(protobuf_messages(), mutated(PROTO_SEEDS), mutated(protobuf_messages()))

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), STRINGS),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(STRINGS, st.sampled_from([
                                "class_name", "config", "layers", "function", "module", "registered_name",
                                "chat_template", "auto_map", "name", "template", "function_type"])), inner,
                                max_size=4)),
    max_leaves=25,
)
KERAS_CONFIGS = st.one_of(
    JSON_VALUES,
    st.just(keras_samples.legacy_model(keras_samples.lambda2())),
    st.builds(lambda layers: keras_samples.legacy_model(*layers),
              st.lists(st.dictionaries(st.sampled_from(["class_name", "config", "module", "registered_name"]),
                                       JSON_VALUES, max_size=4), max_size=3)),
)
TEMPLATE_PARTS = st.sampled_from([
    "{{ ", " }}", "{% ", " %}", "{# ", " #}", "for m in messages", "endfor", "if x", "endif", "m.role",
    "__class__", ".__mro__", "[1]", ".__subclasses__()", "cycler", ".__init__.__globals__", "|attr('x')",
    "'__cla' ~ 'ss__'", "namespace()", "|map(attribute='__class__')", "raise_exception('x')", "set x = 1",
    "{%- ", " -%}", "'", '"', "(", ")", "[", "]", "|", "~", "lipsum", "range(10**9)", "{% raw %}", "{% endraw %}",
])
TEMPLATES = st.one_of(st.text(max_size=200), st.lists(TEMPLATE_PARTS, max_size=30).map("".join),
                      st.just(samples.CHAT_TEMPLATE))


@given(data=PROTOBUFS, chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_onnx_and_saved_model_walkers(data: bytes, chunking: tuple[int, ...], hint: tuple[int, int, int]) -> None:
    hint = size_hint(hint, len(data))
    with bounded():
        feed(OnnxInspector(hint), data, chunking)
        feed(SavedModelInspector(hint), data, chunking)
        sniff(data, chunking, hint)
        walk_fields(data, hint)
        for fmt in (Format.ONNX, Format.TF_SAVEDMODEL, Format.SENTENCEPIECE):
            well_formed(protobuf_facts(fmt, data, hint))


@shares_parser(2)
@given(value=KERAS_CONFIGS, edits=st.one_of(st.just([]), EDITS))
def test_keras_config(value: object, edits: list) -> None:
    mutant = apply_edits(json.dumps(value).encode(), edits)
    with bounded():
        _issues(config_value_issues(value))
        _issues(keras_config_issues(mutant))
        details, issues = config_facts(value)
        _issues(issues)
        assert all(isinstance(v, str) for v in details.values())


H5_LAMBDA = keras_samples.h5_file(json.dumps(keras_samples.legacy_model(keras_samples.lambda2())), weights=4)


@shares_parser(2)
@given(value=KERAS_CONFIGS, noise=st.tuples(st.binary(max_size=64), st.binary(max_size=64)),
       edits=st.one_of(st.just([]), EDITS), h5=st.booleans(), chunking=CHUNKINGS)
def test_keras_h5_byte_scanner(value: object, noise: tuple[bytes, bytes], edits: list, h5: bool,
                               chunking: tuple[int, ...]) -> None:
    """The `.h5` scanner looks for config JSON anywhere in the bytes: JSON behind the attribute name, between
    binary noise, mutated; or a real `.h5` with a Lambda layer, mutated."""
    blob = noise[0] + b"model_config\x00" + json.dumps(value).encode() + noise[1]
    mutant = apply_edits(H5_LAMBDA if h5 else blob, edits)
    with bounded():
        scanner = KerasConfigScanner()
        for piece in pieces(mutant, chunking):
            scanner.feed(piece)
        _issues(scanner.finish()[1])
        feed(Hdf5Inspector(len(mutant)), mutant, chunking)


@given(text=st.one_of(TEMPLATES, mutated(TEMPLATES.map(str.encode)).map(lambda b: b.decode("utf-8", "replace"))))
def test_chat_template_checker(text: str) -> None:
    with bounded():
        _issues(template_issues("chat_template", text))
        well_formed(Inspection(Format.JSON, *config_facts({"chat_template": text})))
        well_formed(Inspection(Format.JSON, *config_facts({"chat_template": [{"name": "x", "template": text}]})))


JSON_FILES = st.one_of(
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.lists(JSON_VALUES, min_size=2, max_size=5).map(lambda vs: b"\n".join(json.dumps(v).encode() for v in vs)),
    mutated(JSON_VALUES.map(lambda v: json.dumps(v).encode())),
    st.text(max_size=300).map(str.encode),
    st.just(b"[" * 100_000 + b"]" * 100_000),
)


@given(data=JSON_FILES, chunking=CHUNKINGS, hint=SIZE_HINTS)
def test_json_jsonl_and_text(data: bytes, chunking: tuple[int, ...], hint: tuple[int, int, int]) -> None:
    hint = size_hint(hint, len(data))
    with bounded():
        feed(JsonInspector(hint), data, chunking)
        feed(TextInspector(hint), data, chunking)
        sniff(data, chunking, hint)


def _issues(issues: list[Issue]) -> None:
    assert all(isinstance(issue, Issue) and issue.message for issue in issues)

