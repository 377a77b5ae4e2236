"""issue 14, class 3: untrusted text reaches no channel raw.

Random strings made of control characters, ANSI escapes, bidi overrides, line separators and GitHub workflow
commands are written into a manifest (owner, name, intended use, file paths, base-model URIs) and pushed
through every reporter: console (with per-file progress lines and log lines), JSON, SARIF, GitLab, the GitHub
summary, outputs and annotations, the inventory table and CSV, and the lineage text tree. No output may hold a
raw control character; on the streams no line may start a workflow command outside the stop-commands fence
(weightgate's own annotations excepted, whose properties hold no `::`); no CSV cell may start a formula.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import COMMIT, Workspace, safetensors_bytes
from weightgate.cli import main
from weightgate.lineage import build_lineage, text_tree
from weightgate.manifest import load_manifest
from weightgate.report.inventory import build_inventory, render_csv, render_table
from weightgate.textsafety import csv_cell, markdown_text, redact_url, shown, shown_lines, workflow_property

PIECES = ["\x1b[31m", "\x1b]0;owned\x07", "\r", "\n", "\t", "\x00", "\x7f", "\x85", "\x9b2J", "\u2028", "\u2029",
          "\u202e", "\u2066", "\u2069", "\u200f", "::stop-commands::x", "::add-mask::secret", "::x::",
          "\n::error file=a.py,line=1::pwned", "::set-output name=result::pass", "=cmd|'/c calc'!A1", "+1", "-2",
          "@SUM(1)", "[link](https://evil)", "<img src=x>", "|", "%0A", "a", "model", " "]
HOSTILE = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join)
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f]")
ANNOTATION = re.compile(r"::(error|warning|notice) [^:]*::.*")


def _assert_no_raw_controls(name: str, text: str) -> None:
    match = UNSAFE.search(text)
    context = text[max(0, match.start() - 60):][:120] if match else ""
    assert match is None, f"{name}: raw {match.group()!r} at {match.start()}: {context!r}"


def _assert_no_command_outside_fence(name: str, text: str) -> None:
    """A runner obeys a line starting `::` (after leading white space) unless commands are stopped."""
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.lstrip()
        if fence is not None:
            if stripped == f"::{fence}::":
                fence = None
            continue
        if stripped.startswith("::stop-commands::"):
            fence = stripped.removeprefix("::stop-commands::")
            continue
        if stripped.startswith("::"):
            assert ANNOTATION.fullmatch(stripped), f"{name}: workflow command outside the fence: {line!r}"


def _manifest(ws: Workspace, text: str) -> Path:
    weights = safetensors_bytes(8)
    art = ws.artifact("a", {"model.safetensors": weights}, owner=text, name=text, intended_use=text)
    art["files"].append({"path": f"w{text}.bin", "sha256": "0" * 64, "size": 115})  # missing: quoted in WG301
    derived = ws.artifact("b", base_models=[{"artifact": "a"}, {"uri": f"hf://org/{text}", "revision": COMMIT}])
    return ws.write_manifest([art, derived])


def _run(root: Path, text: str) -> dict[str, str]:
    ws = Workspace(root)
    manifest = _manifest(ws, text)
    files = {k: root / f"out.{k}" for k in ("sarif", "bom", "json", "cq", "summary", "outputs")}
    for f in (files["summary"], files["outputs"]):
        f.write_text("")
    out, err = io.StringIO(), io.StringIO()
    env = {"GITHUB_STEP_SUMMARY": str(files["summary"]), "GITHUB_OUTPUT": str(files["outputs"])}
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for key, value in env.items():
            mp.setenv(key, value)
        main(["-v", "check", str(manifest), "--policy", str(ws.write_policy()), "--as-of", "2026-11-26",
              "--github", "--sarif", str(files["sarif"]), "--bom", str(files["bom"]), "--json", str(files["json"]),
              "--gitlab-codequality", str(files["cq"]), "--workers", "1"])
    results = {"stdout": out.getvalue(), "stderr": err.getvalue(),
               **{k: p.read_text(encoding="utf-8") for k, p in files.items()}}
    inventory = build_inventory([files["bom"]], 90, datetime.date(2026, 11, 26))
    results["inventory table"] = render_table(inventory)
    results["inventory csv"] = render_csv(inventory)
    loaded = load_manifest(manifest)
    assert loaded.manifest is not None
    results["lineage"] = text_tree(build_lineage(loaded.manifest))
    return results


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=HOSTILE)
def test_hostile_manifest_text_reaches_no_channel_raw(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        results = _run(Path(folder), text)
    for name, output in results.items():
        _assert_no_raw_controls(name, output)
    for name in ("stdout", "stderr", "inventory table", "lineage"):
        _assert_no_command_outside_fence(name, results[name])
    assert results["stderr"].lstrip().startswith("::stop-commands::")  # before any progress line
    for row in csv.reader(io.StringIO(results["inventory csv"])):
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row), row


@given(text=st.text())
def test_every_escape_is_one_safe_line(text: str) -> None:
    for escaped in (shown(text), markdown_text(text), workflow_property(text), csv_cell(text)):
        _assert_no_raw_controls("escaped", escaped)
        assert "\n" not in escaped and "\r" not in escaped
    _assert_no_raw_controls("lines", shown_lines(text))
    assert not any(line.lstrip().startswith(":") for line in shown_lines(text).splitlines())


@given(text=st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_shown_is_the_escaping_regex_whatever_path_it_takes(text: str) -> None:
    # shown() returns printable ASCII without a URL as it is (issue 18): the regex must agree it is safe.
    from weightgate.textsafety import _UNSAFE, _escape_char, redact_urls

    assert shown(text) == _UNSAFE.sub(_escape_char, redact_urls(text))


@given(url=st.text(alphabet="htps:/@?&=#%;abcAT_-. \n0") | st.text())
def test_redact_url_takes_its_shortcut_only_when_the_parse_finds_nothing(url: str) -> None:
    from urllib.parse import urlsplit

    if "@" not in url and "?" not in url:
        assert redact_url(url) == url
        with contextlib.suppress(ValueError):
            parts = urlsplit(url)
            assert "@" not in parts.netloc and not parts.query


@pytest.mark.parametrize(("url", "expected"), [
    ("https://ci:s3cret@mirror.internal/m", "https://REDACTED@mirror.internal/m"),
    ("https://mirror.internal/m?token=abc&v=1", "https://mirror.internal/m?token=REDACTED&v=1"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Signature=f00&X-Amz-Credential=AK%2F1",
     "https://b.s3.amazonaws.com/k?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED"),
    ("https://mirror.internal/m?revision=main", "https://mirror.internal/m?revision=main"),  # near miss
    ("./mirror/a", "./mirror/a"),
])
def test_redact_url(url: str, expected: str) -> None:
    """issue 14, class 4: one function takes credentials out of every URL shown."""
    assert redact_url(url) == expected
    assert "s3cret" not in shown(f"mirror {url} failed")
