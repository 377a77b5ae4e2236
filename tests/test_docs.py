"""Docs that must not drift: the rule table, docs/rules.md, and README's test command that CI runs."""

import re

from conftest import REPO_ROOT
from weightgate.rulesdoc import rule_table, rules_markdown

README = (REPO_ROOT / "README.md").read_text()


def test_readme_rule_table_matches_the_catalog():
    table = README.split("<!-- rules:start -->\n", 1)[1].split("<!-- rules:end -->", 1)[0]
    assert table == rule_table(), "regenerate with: python -m weightgate.rulesdoc"


def test_rules_doc_matches_the_catalog():
    assert (REPO_ROOT / "docs" / "rules.md").read_text() == rules_markdown(), (
        "regenerate with: python -m weightgate.rulesdoc")


def test_every_rule_has_a_docs_anchor():
    doc = rules_markdown()
    for anchor in re.findall(r"#(wg\d{3}-[a-z0-9-]+)", rule_table()):
        rule_id, name = anchor.split("-", 1)
        assert f"### {rule_id.upper()} {name}" in doc


def test_ci_runs_exactly_readme_test_command():
    commands = re.findall(r"```sh\n(.+?)\n```", README)
    ci_lines = [line for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
                if line and not line.startswith("#")]
    assert commands[1] in ci_lines, "README's test command and .ci/run differ"
    assert "weightgate check examples/deployment.yaml" in commands[0]


def _synopsis() -> dict[str, set[str]]:
    """README's Usage block: each command (and "" for weightgate itself) with the options it names."""
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("## Usage\n\n```\n", 1)[1].split("```\n", 1)[0]
    named: dict[str, set[str]] = {}
    command = ""
    for line in block.splitlines():
        if line.startswith("weightgate "):
            words = line.split()
            command = "" if words[1].startswith("[") else words[1]
            if command in _GROUPS:
                command = f"{command} {words[2]}"
            named.setdefault(command, set())
        named[command] |= set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", line))
    return named


def _options(command) -> list[set[str]]:
    """Each option of a click command as the set of names that spell it (-q, --quiet; --github, --no-github)."""
    import click

    return [set(p.opts) | set(p.secondary_opts) for p in command.params if isinstance(p, click.Option)]


_GROUPS = ("advisories",)


def _commands() -> dict[str, object]:
    """Every command by the words that call it, a group's subcommands as `group sub`."""
    import click

    from weightgate.cli import cli

    commands: dict[str, object] = {}
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            assert name in _GROUPS, f"{name} is a group: add it to _GROUPS"
            commands |= {f"{name} {sub}": c for sub, c in command.commands.items()}
        else:
            commands[name] = command
    return commands


def test_readme_synopsis_matches_the_commands():
    """Every command and every option is in the synopsis, under the command it belongs to, and nothing else is;
    the group's own options (-v, --color) on their own line, before COMMAND."""
    import click

    from weightgate.cli import cli

    named = _synopsis()
    commands = _commands()
    assert set(named) == {"", *commands}, "commands in README's synopsis and in the CLI differ"
    for name, command in [("", cli), *commands.items()]:
        options = _options(command) + [{"-h", "--help"}] * (name == "")
        missing = [sorted(spellings) for spellings in options if not spellings & named[name]]
        assert not missing, f"README's synopsis of `weightgate {name}` leaves out {missing}"
        known = set().union(*options) if options else set()
        assert named[name] <= known, f"`weightgate {name}` has no {sorted(named[name] - known)}"
        assert isinstance(command, click.Command)
    assert "-v" not in named["check"], "-v is weightgate's own option: `weightgate -v check`"


def test_shell_completion_as_documented():
    """README's completion line works: the script is emitted, and it completes an option of `check`."""
    import os
    import subprocess
    import sys

    readme = (REPO_ROOT / "README.md").read_text()
    assert 'eval "$(_WEIGHTGATE_COMPLETE=bash_source weightgate)"' in readme
    run = [sys.executable, "-c", "import sys; from weightgate.cli import main; sys.exit(main())"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    script = subprocess.run(run, env={**env, "_WEIGHTGATE_COMPLETE": "bash_source"}, capture_output=True,
                            text=True, check=False)
    assert "complete -o nosort -F _weightgate_completion weightgate" in script.stdout
    words = {"COMP_WORDS": "weightgate check --sarif-c", "COMP_CWORD": "2", "_WEIGHTGATE_COMPLETE": "bash_complete"}
    completed = subprocess.run(run, env={**env, **words}, capture_output=True, text=True, check=False)
    assert completed.stdout.split() == ["plain,--sarif-category"]
