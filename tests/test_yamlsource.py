"""Manifests and policies are untrusted: plain data only, bounded, with a line for every node."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weightgate.errors import InputFileError
from weightgate.yamlsource import MAX_DOCUMENT_BYTES, load_document, parse_document

P = Path("m.yaml")


def test_lines_are_kept_for_keys_and_items():
    doc = parse_document("a: 1\nb:\n  - x: 2\n    d: 2026-01-01\n  - y\n", P, "manifest")
    assert doc.data == {"a": 1, "b": [{"x": 2, "d": "2026-01-01"}, "y"]}
    assert doc.line_of(("b", 0, "d")) == 4
    assert doc.line_of(("b", 1)) == 5
    assert doc.line_of(("b", 0, "missing", "deeper")) == 3  # nearest existing ancestor


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: !!python/object/apply:os.system ['id']", "is not allowed"),
        ("a: !custom x", "is not allowed"),
        ("a: !!binary aGVsbG8=", "is not allowed"),
        ("a: !!set {x}", "is not allowed"),
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'"),
        ("base: &b {x: 1}\nc:\n  <<: *b\n", "merge keys"),
        ("[1, 2\n", "not valid YAML"),
        ("", "is empty"),
        ("? [a, b]\n: 1\n", "plain strings"),
    ],
)
def test_non_plain_or_broken_yaml_is_an_input_error(text, fragment):
    with pytest.raises(InputFileError, match=fragment.replace("[", r"\[")):
        parse_document(text, P, "manifest")


def test_billion_laughs_is_bounded():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    with pytest.raises(InputFileError, match="alias bomb"):
        parse_document("\n".join(lines) + "\n", P, "manifest")


def test_deep_nesting_is_bounded():
    with pytest.raises(InputFileError, match="deeper than"):
        parse_document("a: " + "[" * 200 + "]" * 200 + "\n", P, "manifest")


def test_oversized_and_unreadable_files(tmp_path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(InputFileError, match="the limit is"):
        load_document(big, "manifest")
    with pytest.raises(InputFileError, match="cannot read manifest"):
        load_document(tmp_path / "nope.yaml", "manifest")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputFileError, match="not UTF-8"):
        load_document(binary, "manifest")


# --- the builder reads a document as PyYAML's safe loader does (with libyaml's parser and with PyYAML's own) ----

REPO = Path(__file__).resolve().parents[1]
BUNDLED = sorted([REPO / "src/weightgate/data/default-policy.yaml", *(REPO / "examples").glob("*.yaml"),
                  *(REPO / "deploy").rglob("*.yaml")])


def _as_loaded(value):
    """What safe_load gives, with dates as the builder keeps them (ISO strings)."""
    import datetime

    if isinstance(value, dict):
        return {str(k): _as_loaded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_loaded(v) for v in value]
    return value.isoformat() if isinstance(value, (datetime.date, datetime.datetime)) else value


def _pure_python_yaml(monkeypatch):
    import yaml

    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)  # as on a PyYAML built without libyaml


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_documents_read_as_safe_load_reads_them(path, libyaml, monkeypatch):
    import yaml

    text = path.read_text()
    expected = _as_loaded(yaml.safe_load(text))
    if not libyaml:
        _pure_python_yaml(monkeypatch)
    assert parse_document(text, path, "document").data == expected


SCALARS = ["x", "yes", "No", "~", "null", "0x1F", "0o17", "017", "1_000", "3.5", "-.inf", ".nan", "1e3",
           "2026-01-02", "2026-01-02T03:04:05Z", "'quoted'", '"d\\tq"', "a: b", "- c", "#h", "", "é", "\u2028"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.recursive(
    st.one_of(st.sampled_from(SCALARS), st.integers(), st.booleans(), st.none(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=4)),
    max_leaves=20),
    flow=st.sampled_from([None, True, False]), libyaml=st.booleans())
def test_generated_documents_read_as_safe_load_reads_them(data, flow, libyaml, monkeypatch):
    import yaml

    text = yaml.safe_dump({"root": data}, default_flow_style=flow, allow_unicode=True)
    expected = _as_loaded(yaml.safe_load(text))
    with monkeypatch.context() as m:
        if not libyaml:
            _pure_python_yaml(m)
        assert parse_document(text, P, "document").data == expected
