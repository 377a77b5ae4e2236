"""`pin` writes identifiers so that the gate's own YAML reader reads back exactly what was written (issue 19).

ruamel.yaml (the round-trip writer) speaks YAML 1.2, the gate's reader (yamlsource, PyYAML) YAML 1.1: a plain
`1:20` is a string to one and the sexagesimal 80 to the other, `yes`/`on` are True, `0123` is octal 83, `~` is
null, `1_000` is 1000. Every value is checked by reading the rewritten manifest with the gate's reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from weightgate.errors import InputFileError
from weightgate.pin import rewrite
from weightgate.yamlsource import parse_document

MANIFEST = """\
apiVersion: weightgate.dev/v1
kind: DeploymentManifest
artifacts:
  - id: m   # a comment that stays
    class: model
    source:
      registry: s3
      uri: s3://bucket/models/m
    files:
      - path: model.safetensors
        sha256: {sha}
        size: 16
"""
SHA = "ab" * 32

HOSTILE = ["1:20", "-1:00", "190:20:30", "yes", "no", "on", "off", "y", "n", "true", "False", "NULL", "~", "",
           "0123", "0o17", "0x1f", "1_000", "1e3", "1.5", ".inf", "-.nan", "2026-01-01", "2026-01-01 10:00:00",
           "00042", "\u0663", "\uff11\uff12", "a\nb", "trailing\n", " lead", "trail ", "#x", "x #y",
           "- a", "[a]", "{a: 1}",
           "&a", "*a", "!tag", "%x", "@x", "`x", "'q'", '"q"', "a: b", "? x", "| x", "> x", "=", "<<",
           "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo", "null", "\u2028", "\x85", "\u00e9"]


def _read_back(text: str, *field: str | int) -> object:
    node = parse_document(text, Path("manifest.yaml"), "manifest").data["artifacts"][0]
    for part in field:
        node = node[part]
    return node


def _rewritten(value: object, field: tuple[str | int, ...]) -> str:
    text, changes = rewrite(MANIFEST.format(sha=SHA), [(0, "m", {field: value})])
    assert changes and "# a comment that stays" in text
    return text


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", [("files", 0, "version_id"), ("source", "revision")])
def test_hostile_values_read_back_exactly(value, field):
    assert _read_back(_rewritten(value, field), *field) == value


def test_plain_identifiers_stay_plain():
    """The near miss: what reads back as itself is written as the author would, without quotes."""
    text = _rewritten("3HL4kqtJlcpXroDTDmJ", ("files", 0, "version_id"))
    assert "version_id: 3HL4kqtJlcpXroDTDmJ\n" in text
    text = _rewritten("1:20", ("files", 0, "version_id"))
    assert 'version_id: "1:20"\n' in text
    assert _read_back(_rewritten(32, ("files", 0, "size")), "files", 0, "size") == 32


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=30))
@example("1:20:30")
@example("0b101")
@example("+12")
@example("Yes")
@example("OFF")
@example("\ufeffx")
def test_any_string_reads_back_exactly_or_is_refused(value):
    try:
        text = _rewritten(value, ("files", 0, "version_id"))
    except InputFileError as e:
        assert "nothing was pinned" in str(e)
        return
    assert _read_back(text, "files", 0, "version_id") == value


def test_pin_diff_escapes_manifest_text(ws, capsys):
    """`pin --diff` prints manifest lines: a bidi override or a workflow command in them is shown escaped."""
    from weightgate.cli import main
    from weightgate.exitcodes import EXIT_FINDINGS

    art = ws.artifact("m")
    for entry in art["files"]:
        del entry["sha256"], entry["size"]  # what pin fills in, so the diff shows the text around it
    del art["intended_use"]
    fields = list(art.items())
    at = [k for k, _ in fields].index("files") + 1  # right below the files, inside the diff's context
    art = dict([*fields[:at], ("intended_use", "PLACEHOLDER"), *fields[at:]])
    manifest = ws.write_manifest([art])
    block = "|\n    safe \u202eevil\n    ::error::pwned"
    manifest.write_text(manifest.read_text().replace("PLACEHOLDER", block), encoding="utf-8")
    assert main(["pin", str(manifest), "--check", "--diff"]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "+" in out and "\u202e" not in out and "\\u202e" in out
    assert not any(line.lstrip(" +-").startswith("::") for line in out.splitlines())
