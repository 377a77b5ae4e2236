"""Fuzzing manifest and policy loading: YAML text (yamlsource), schema validation, model building and the
offline checks. A case ends in a loaded manifest or policy, schema findings, or a WeightgateError (exit 2):
never another exception.

Valid documents (the bundled example, the default policy) are mutated as trees (a node replaced by a value of
another type, a key dropped or added: the shapes a schema must stop before the model builder sees them) and
as text (bytes flipped or cut: what the YAML reader must reject cleanly)."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import REPO_ROOT
from hardening.fuzzing import bounded, mutate_tree, mutated
from weightgate.errors import WeightgateError
from weightgate.gate import CheckOptions, run_check
from weightgate.manifest import LoadedManifest, load_manifest
from weightgate.policy import Policy, default_policy_text, load_policy
from weightgate.yamlsource import LocatedDocument, parse_document

pytestmark = pytest.mark.fuzz

EXAMPLE_MANIFEST = (REPO_ROOT / "examples" / "deployment.yaml").read_text()
EXAMPLE_POLICY = (REPO_ROOT / "examples" / "policy.yaml").read_text()
DEFAULT_POLICY = default_policy_text()
TODAY = datetime.date(2026, 11, 26)

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10),
                    st.sampled_from(["sha256:" + "0" * 64, "0" * 64, "2026-01-01", "hf://org/x", "models:/m/1",
                                     "../../etc", "Apache-2.0", "pickle", "prohibited", "WG501", "*"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=10)
YAML_PARTS = st.sampled_from(["a: 1\n", "- x\n", "  ", "&a ", "*a ", "!!python/object:os.system ", "!tag ", "<<: ",
                              "? ", ": ", "{", "}", "[", "]", "'", '"', "#", "\n", "---\n", "...\n", "%YAML 1.1\n",
                              "key: value\n", "k: &x [*x]\n", "|\n  text\n", ">-\n", "\t", "\\", "2026-01-01", "~"])


@st.composite
def mutated_tree(draw: st.DrawFn, text: str) -> str:
    """The document with a few nodes replaced, dropped or given an extra key, dumped back to YAML."""
    tree = mutate_tree(draw, copy.deepcopy(yaml.safe_load(text)), VALUES, (1, 4))
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)


def _text_mutants(text: str) -> st.SearchStrategy[str]:
    return mutated(st.just(text.encode())).map(lambda raw: raw.decode("utf-8", "replace"))


MANIFEST_TEXTS = st.one_of(mutated_tree(EXAMPLE_MANIFEST), _text_mutants(EXAMPLE_MANIFEST),
                           st.lists(YAML_PARTS, max_size=20).map("".join), st.text(max_size=200))
POLICY_TEXTS = st.one_of(mutated_tree(EXAMPLE_POLICY), mutated_tree(DEFAULT_POLICY), _text_mutants(EXAMPLE_POLICY),
                         st.lists(YAML_PARTS, max_size=20).map("".join))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example's folder layout (manifest beside its mirror), reused by every case."""
    root = tmp_path_factory.mktemp("fuzz-manifest")
    (root / "mirror").symlink_to(REPO_ROOT / "examples" / "mirror")
    return root


@given(text=st.one_of(MANIFEST_TEXTS, POLICY_TEXTS))
def test_yaml_reader(text: str) -> None:
    with bounded():
        try:
            assert isinstance(parse_document(text, Path("m.yaml"), "manifest"), LocatedDocument)
        except WeightgateError as exc:
            assert exc.diagnostics()


@given(text=MANIFEST_TEXTS)
def test_manifest_loading_and_offline_checks(folder: Path, text: str) -> None:
    path = folder / "deployment.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with bounded():
        try:
            loaded = load_manifest(path)
        except WeightgateError:
            return
        assert isinstance(loaded, LoadedManifest)
        assert (loaded.manifest is None) == bool(loaded.findings)
        report = run_check(CheckOptions(manifest=path, offline=True, today=TODAY, source_root=folder))
        assert all(f.rule.id.startswith("WG") for f in report.findings)


@given(text=POLICY_TEXTS)
def test_policy_loading(folder: Path, text: str) -> None:
    path = folder / "policy.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with bounded():
        try:
            assert isinstance(load_policy(path), Policy)
        except WeightgateError as exc:
            assert exc.diagnostics()
