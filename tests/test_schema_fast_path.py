"""The compiled manifest validator (issue 18) only ever confirms: whatever it accepts, jsonschema accepts. Held by a
differential test over mutated manifests, and by a guard on the schema's keywords (the compiled validator reads
draft-07; a keyword the drafts read differently would let it accept what jsonschema refuses)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO_ROOT
from hardening.fuzzing import mutate_tree
from weightgate.jsonschemas import FAST_PATH_MIN_ITEMS, _validator, fast_valid, schema_errors, schema_text
from weightgate.yamlsource import load_document

EXAMPLE = load_document(REPO_ROOT / "examples" / "deployment.yaml", "manifest").data
# Keywords draft-07 and draft 2020-12 read alike (annotations included).
SHARED_KEYWORDS = {"$schema", "$id", "title", "description", "type", "properties", "patternProperties",
                   "additionalProperties", "required", "items", "enum", "const", "pattern", "minLength", "maxLength",
                   "minimum", "maximum", "exclusiveMinimum", "minItems", "maxItems", "uniqueItems", "oneOf", "anyOf",
                   "format", "default", "examples", "$ref", "$defs", "minProperties", "propertyNames"}
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2**70), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from([
                        1.0, 0.0, -1.5, "2026-02-30", "2026-13-01", "2026-1-01", "2026-01-01\n",
                        "\uff12\uff10\uff12\uff16-01-01",  # full-width digits: \d matches them without re.ASCII
                        "sha256:" + "a" * 64, "a" * 64 + "\n", "A" * 64, "hf://org/x", "weightgate.dev/v1",
                        "DeploymentManifest", "model", "x-extra", "", " ", "ok\n"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)


def _keywords(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("properties", "patternProperties", "$defs"):
                for sub in value.values():
                    _keywords(sub, found)
            else:
                found.add(key)
                _keywords(value, found)
    elif isinstance(node, list):
        for item in node:
            _keywords(item, found)
    return found


def test_the_manifest_schema_keeps_to_keywords_both_drafts_read_alike():
    assert _keywords(json.loads(schema_text("manifest")), set()) <= SHARED_KEYWORDS


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    return mutate_tree(draw, copy.deepcopy(EXAMPLE), VALUES, (1, 3))


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(mutated())
def test_what_the_compiled_validator_accepts_jsonschema_accepts(data):
    if fast_valid("manifest", data):
        assert not list(_validator("manifest").iter_errors(data)), "the fast path accepted an invalid manifest"


def test_a_large_manifest_gets_jsonschemas_errors_and_a_valid_one_none(tmp_path: Path):
    artifact = EXAMPLE["artifacts"][0]
    large = {**EXAMPLE, "artifacts": [{**artifact, "id": f"m-{i}"} for i in range(FAST_PATH_MIN_ITEMS)]}
    assert fast_valid("manifest", large) and schema_errors("manifest", large) == []
    large["artifacts"][7] = {**artifact, "last_validated": "2026-02-30", "files": "model.safetensors"}
    errors = schema_errors("manifest", large)
    assert [path for path, _ in errors] == [("artifacts", 7, "files"), ("artifacts", 7, "last_validated")]
    assert "'2026-02-30' is not a valid date (use YYYY-MM-DD)" in dict(errors).values()  # jsonschema's words
