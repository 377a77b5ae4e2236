"""The compiled validators (issue 18) only ever confirm: whatever they accept, jsonschema accepts. Held by
differential tests over mutated manifests, policies and approvals, by a guard on the schemas' keywords (the
compiled validators read draft-07; a keyword the drafts read differently would let one accept what jsonschema
refuses), and by regenerating them (they must be what scripts/compile-schemas writes now)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO_ROOT
from hardening.fuzzing import mutate_tree
from weightgate.jsonschemas import (
    COMPILED_SCHEMAS,
    _validator,
    compiled_schema_code,
    fast_valid,
    schema_errors,
    schema_text,
)
from weightgate.yamlsource import load_document

EXAMPLE = load_document(REPO_ROOT / "examples" / "deployment.yaml", "manifest").data
POLICY = load_document(REPO_ROOT / "examples" / "policy.yaml", "policy").data
APPROVAL = {"role": "legal", "decision": "approved", "reviewer": "legal@example.com", "time": "2026-11-20T10:00:00Z",
            "ticket": "LEG-1", "environments": ["production"],
            "license": {"expression": "Apache-2.0", "commercialUse": True, "outputRights": "ours"}}
DOCUMENTS = {"manifest": EXAMPLE, "policy": POLICY, "approval": APPROVAL}
# Keywords draft-07 and draft 2020-12 read alike (annotations included).
SHARED_KEYWORDS = {"$schema", "$id", "title", "description", "type", "properties", "patternProperties",
                   "additionalProperties", "required", "items", "enum", "const", "pattern", "minLength", "maxLength",
                   "minimum", "maximum", "exclusiveMinimum", "minItems", "maxItems", "uniqueItems", "oneOf", "anyOf",
                   "format", "default", "examples", "$ref", "$defs", "minProperties", "propertyNames", "$comment",
                   "if", "then", "not", "allOf"}
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


@pytest.mark.parametrize("name", COMPILED_SCHEMAS)
def test_the_compiled_schemas_keep_to_keywords_both_drafts_read_alike(name):
    assert _keywords(json.loads(schema_text(name)), set()) <= SHARED_KEYWORDS


@pytest.mark.parametrize("name", COMPILED_SCHEMAS)
def test_the_compiled_validators_are_what_the_script_writes_now(name):
    written = (REPO_ROOT / "src" / "weightgate" / "compiled_schemas" / f"{name}.py").read_text(encoding="utf-8")
    assert written == compiled_schema_code(name), "run scripts/compile-schemas"


@pytest.mark.parametrize("name", COMPILED_SCHEMAS)
def test_the_examples_pass_the_compiled_validators_unchanged(name):
    document = copy.deepcopy(DOCUMENTS[name])
    assert not list(_validator(name).iter_errors(document))
    assert fast_valid(name, document)
    assert document == DOCUMENTS[name]  # never filled in with defaults


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(COMPILED_SCHEMAS))
    return name, mutate_tree(draw, copy.deepcopy(DOCUMENTS[name]), VALUES, (1, 3))


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(mutated())
def test_what_the_compiled_validators_accept_jsonschema_accepts(case):
    name, data = case
    before = copy.deepcopy(data)
    if fast_valid(name, data):
        assert not list(_validator(name).iter_errors(data)), f"the compiled validator accepted an invalid {name}"
    assert data == before


def test_a_large_manifest_gets_jsonschemas_errors_and_a_valid_one_none(tmp_path: Path):
    artifact = EXAMPLE["artifacts"][0]
    large = {**EXAMPLE, "artifacts": [{**artifact, "id": f"m-{i}"} for i in range(200)]}
    assert fast_valid("manifest", large) and schema_errors("manifest", large) == []
    large["artifacts"][7] = {**artifact, "last_validated": "2026-02-30", "files": "model.safetensors"}
    errors = schema_errors("manifest", large)
    assert [path for path, _ in errors] == [("artifacts", 7, "files"), ("artifacts", 7, "last_validated")]
    assert "'2026-02-30' is not a valid date (use YYYY-MM-DD)" in dict(errors).values()  # jsonschema's words


def test_a_check_of_valid_documents_does_not_import_jsonschema():
    import subprocess
    import sys

    code = ("import sys\nfrom weightgate.cli import main\n"
            "main(['check', 'examples/deployment.yaml', '--policy', 'examples/policy.yaml', '--offline', '-q'])\n"
            "assert 'jsonschema' not in sys.modules, 'jsonschema imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr


def test_an_invalid_policy_still_gets_jsonschemas_words():
    errors = schema_errors("policy", {**POLICY, "advisories": {"snapshot": "osv.zip"}})
    assert (("advisories",), "missing required field 'sha256'") in errors
