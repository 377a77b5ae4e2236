"""The one JSON reader for evidence, registry and server answers, records, BOMs and trust configs (issue 19):
JSON that two readers read two ways is refused, and no other module parses such JSON by itself."""

import ast
from pathlib import Path

import pytest

from weightgate.evidence.dsse import RecordRejected, verify_record
from weightgate.strictjson import AmbiguousJson, JsonRefused, strict_json

SRC = Path(__file__).resolve().parents[1] / "src" / "weightgate"


@pytest.mark.parametrize(("text", "reason"), [
    ('{"passed": false, "passed": true}', 'the key "passed" appears twice'),
    ('{"a": {"b": 1, "b": 2}}', 'the key "b" appears twice'),
    ('[{"x": 1}, {"y": 1, "y": 1}]', 'the key "y" appears twice'),  # even with the same value
    ('{"metric": NaN}', "NaN is not a JSON number"),
    ('{"metric": Infinity}', "Infinity is not a JSON number"),
    ('[-Infinity]', "-Infinity is not a JSON number"),
])
def test_ambiguous_json_is_refused(text, reason):
    with pytest.raises(AmbiguousJson, match=reason):
        strict_json(text.encode(), "the evidence")


@pytest.mark.parametrize(("data", "reason"), [
    (b'{"a": 1', "is not JSON"),
    (b"\xff\xfe{}", "is not JSON: not UTF-8"),
    (b"\xef\xbb\xbf{}", "is not JSON"),  # a byte order mark only where allowed
    (b"[" * 100_000 + b"]" * 100_000, "is not JSON"),
])
def test_what_is_not_json_is_refused_with_a_reason(data, reason):
    with pytest.raises(JsonRefused, match=reason):
        strict_json(data, "the record")


def test_plain_json_reads_as_written():
    assert strict_json(b'{"a": [1, 2.5, "x", null, true], "b": {"a": 1}}', "x") == {
        "a": [1, 2.5, "x", None, True], "b": {"a": 1}}
    assert strict_json(b"\xef\xbb\xbf{}", "x", allow_bom=True) == {}


def test_a_record_with_a_repeated_key_or_nan_is_rejected_before_its_signature_is_checked():
    for data in (b'{"payload": "e30=", "payloadType": "x", "payloadType": "y", "signatures": []}',
                 b'{"payload": "e30=", "payloadType": "x", "signatures": [], "n": NaN}'):
        with pytest.raises(RecordRejected, match=r"appears twice|is not a JSON number"):
            verify_record(data, [], set())


# Parsing JSON that is not evidence, a record, a registry or server answer or a config is allowed elsewhere:
# artifact files (judged as their loaders read them), weightgate's own packaged data and its own output.
OWN_DATA = {"jsonschemas.py", "governance/identities.py", "report/cyclonedx.py", "strictjson.py"}


def test_no_module_parses_such_json_by_itself():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith("formats/") or relative in OWN_DATA:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("loads", "load") and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id == "json":
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == [], "parse with weightgate.strictjson.strict_json"
