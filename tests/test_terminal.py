"""Colour and line width of the console report: --color, NO_COLOR and FORCE_COLOR, digests fitted to a terminal."""

import pytest

from weightgate.cli import main
from weightgate.terminal import color_enabled, fitted

DIGEST = "ab" * 32


@pytest.mark.parametrize(("choice", "isatty", "env", "expected"), [
    ("auto", True, {}, True),
    ("auto", False, {}, False),
    ("auto", True, {"NO_COLOR": "1"}, False),
    ("auto", True, {"NO_COLOR": ""}, True),  # near miss: an empty NO_COLOR is unset (no-color.org)
    ("auto", False, {"FORCE_COLOR": "1"}, True),
    ("auto", False, {"FORCE_COLOR": "0"}, False),  # near miss
    ("auto", True, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
    ("always", False, {"NO_COLOR": "1"}, True),  # the option is explicit: it wins over the environment
    ("never", True, {"FORCE_COLOR": "1"}, False),
])
def test_color_choice(choice, isatty, env, expected):
    assert color_enabled(choice, isatty, env) is expected


def test_digests_are_shortened_only_when_the_line_is_too_wide():
    line = f"           sha256 {DIGEST} != {DIGEST[::-1]}"
    assert fitted(line, None) == line  # a log: full values
    assert fitted(line, len(line)) == line  # near miss: it fits
    short = fitted(line, 80)
    assert short == f"           sha256 {DIGEST[:12]}… != {DIGEST[::-1][:12]}…"
    assert fitted("x" * 100, 80) == "x" * 100  # nothing to shorten: the terminal wraps it


@pytest.fixture
def pickled(ws):
    return ws.write_manifest([ws.artifact("a", files={"m.pkl": b"\x80\x04K\x01."})])


@pytest.mark.parametrize(("args", "env", "styled"), [
    (["--color", "always"], {}, True),
    ([], {"FORCE_COLOR": "1"}, True),
    ([], {}, False),  # captured output is no terminal
    (["--color", "never"], {"FORCE_COLOR": "1"}, False),
])
def test_color_option_and_environment_reach_the_report(pickled, capsys, monkeypatch, args, env, styled):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    main([*args, "check", str(pickled), "--as-of", "2026-11-26"])
    assert ("\x1b[" in capsys.readouterr().out) is styled


def test_color_is_a_global_option(pickled, capsys):
    assert main(["check", str(pickled), "--color", "always"]) == 2
    assert "No such option" in capsys.readouterr().err
