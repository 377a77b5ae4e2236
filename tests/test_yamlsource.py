"""Manifests and policies are untrusted: plain data only, bounded, with a line for every node."""

from pathlib import Path

import pytest

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
