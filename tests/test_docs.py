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
