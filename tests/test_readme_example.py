"""README's first command: the output README shows is what the command prints, on any date for years to come."""

import datetime

import pytest

from conftest import REPO_ROOT
from weightgate.cli import main

README = (REPO_ROOT / "README.md").read_text()
TODAY = datetime.datetime.now(datetime.timezone.utc).date()


def _readme_output() -> str:
    block = README.split("<!-- example-output:start -->\n```\n", 1)[1].split("```\n<!-- example-output:end -->", 1)
    return block[0]


@pytest.mark.parametrize("years", [0, 5, 10])
def test_readme_shows_what_the_example_prints(years, monkeypatch, capsys):
    """Run from the repository root as README does; the example must not rot (approvals, re-validation and the
    reviewers' certificates are good for longer than ten years), so moving the clock changes nothing."""
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    day = TODAY.replace(year=TODAY.year + years) if (TODAY.month, TODAY.day) != (2, 29) else TODAY
    code = main(["check", "examples/deployment.yaml", "--policy", "examples/policy.yaml", "--as-of",
                 day.isoformat()])
    printed = "".join(line + "\n" for line in capsys.readouterr().out.splitlines()
                      if not line.startswith("           fix:"))
    assert code == 1
    assert printed == _readme_output()
