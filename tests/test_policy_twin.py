"""The built-in policy's JSON twin (issue 18: a scan with the built-in policy never imports the YAML parser)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from weightgate.policy import DEFAULT_POLICY_NAME, default_policy_document, default_policy_text, load_policy
from weightgate.yamlsource import from_located_json, located_json, parse_document

TWIN = Path(__file__).resolve().parents[1] / "src" / "weightgate" / "data" / "default-policy.json"


def _parsed():
    return parse_document(default_policy_text(), Path(DEFAULT_POLICY_NAME), "policy")


def test_the_twin_is_written_from_the_yaml_as_it_is_now():
    assert TWIN.read_text(encoding="utf-8") == located_json(_parsed()), "run scripts/default-policy-twin"


def test_the_twin_reads_back_as_the_parsed_yaml():
    twin, parsed = default_policy_document(), _parsed()
    assert (twin.data, twin.lines, twin.text, twin.path) == (parsed.data, parsed.lines, parsed.text, parsed.path)
    assert all(isinstance(key, tuple) for key in twin.lines)


def test_a_twin_written_for_another_text_is_never_used():
    twin = TWIN.read_text(encoding="utf-8")
    assert from_located_json(twin, default_policy_text(), Path("p")) is not None
    assert from_located_json(twin, default_policy_text() + "# edited\n", Path("p")) is None


def test_a_scan_with_the_built_in_policy_does_not_import_yaml(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    code = ("import sys\nfrom weightgate.cli import main\n"
            f"code = main(['scan', {str(tmp_path)!r}, '-q'])\n"
            "assert 'yaml' not in sys.modules, 'yaml imported'\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_built_in_policy_is_the_same_either_way(monkeypatch):
    from_twin = load_policy(None)
    monkeypatch.setattr("weightgate.policy.from_located_json", lambda *args: None)  # as if the twin were stale
    assert load_policy(None) == from_twin


def test_without_its_twin_the_built_in_policy_is_parsed_from_the_yaml(monkeypatch):
    from weightgate import policy

    expected = load_policy(None)
    real = policy._data_text

    def missing_twin(name: str) -> str:
        if name == "default-policy.json":
            raise FileNotFoundError(name)
        return real(name)

    monkeypatch.setattr(policy, "_data_text", missing_twin)
    assert load_policy(None) == expected
