"""Dependency files and lock files read as pip, uv, poetry and PEP 751 write them (packaging and tomllib)."""

import pytest

from weightgate.runtime.requirements import (
    DependencyFileKind,
    dependency_file_kind,
    lock_file_kind,
    parse_dependency_file,
)

K = DependencyFileKind

REQUIREMENTS = b"""\
# pinned with hashes, as pip-compile --generate-hashes writes them
torch==2.5.1 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
Transformers==4.30.0 ; python_version >= "3.9"  # a comment
onnx>=1.14
keras~=3.0
numpy==1.*
safetensors
--index-url https://pypi.internal/simple
-r other.txt
-e ./local-package
not a requirement!
"""


def test_requirements_with_hashes_markers_and_options():
    parsed = parse_dependency_file(K.REQUIREMENTS, REQUIREMENTS)
    found = {r.name: (r.version, r.line) for r in parsed.requirements}
    assert found == {"torch": ("2.5.1", 2), "transformers": ("4.30.0", 5), "onnx": (None, 6), "keras": (None, 7),
                     "numpy": (None, 8), "safetensors": (None, 9)}
    problems = dict(parsed.problems)
    assert set(problems) == {11, 12, 13}
    assert "-r other.txt is not followed" in problems[11]
    assert "not a requirement" in problems[13]


@pytest.mark.parametrize(("kind", "text", "expected"), [
    (K.PYPROJECT, b'[project]\nname = "m"\ndependencies = [\n  "torch==2.5.1",\n  "transformers>=4",\n]\n'
                  b'[project.optional-dependencies]\ndev = ["pytest"]\n',
     {"torch": "2.5.1", "transformers": None}),
    (K.SETUP_CFG, b"[metadata]\nname = m\n[options]\ninstall_requires =\n    torch==2.5.1\n    onnx\n",
     {"torch": "2.5.1", "onnx": None}),
    (K.CONDA_ENVIRONMENT, b"name: m\ndependencies:\n  - python=3.11\n  - pytorch=2.1.0\n  - pip:\n"
                          b"    - llama-cpp-python==0.2.60\n",
     {"llama-cpp-python": "0.2.60"}),
    (K.UV_LOCK, b'version = 1\n[[package]]\nname = "torch"\nversion = "2.5.1"\nsource = { registry = "x" }\n'
                b'[[package]]\nname = "app"\nsource = { virtual = "." }\n',
     {"torch": "2.5.1"}),
    (K.POETRY_LOCK, b'[[package]]\nname = "Keras"\nversion = "3.7.0"\n[metadata]\nlock-version = "2.0"\n',
     {"keras": "3.7.0"}),
    (K.PYLOCK, b'lock-version = "1.0"\ncreated-by = "uv"\n[[packages]]\nname = "onnx"\nversion = "1.15.0"\n',
     {"onnx": "1.15.0"}),
], ids=["pyproject", "setup.cfg", "environment.yml", "uv.lock", "poetry.lock", "pylock.toml"])
def test_each_format(kind, text, expected):
    parsed = parse_dependency_file(kind, text)
    assert {r.name: r.version for r in parsed.requirements} == expected
    assert parsed.problems == ()


@pytest.mark.parametrize(("kind", "data"), [
    (K.UV_LOCK, b"[[package]\nname = "), (K.PYPROJECT, b"\xff\xfe\x00"), (K.CONDA_ENVIRONMENT, b"a: [b"),
    (K.SETUP_CFG, b"no section header\n"),
])
def test_a_broken_file_is_one_problem_never_an_exception(kind, data):
    parsed = parse_dependency_file(kind, data)
    assert parsed.requirements == ()
    assert len(parsed.problems) == 1


@pytest.mark.parametrize(("path", "kind"), [
    ("requirements.txt", K.REQUIREMENTS), ("sub/requirements-gpu.txt", K.REQUIREMENTS),
    ("pyproject.toml", K.PYPROJECT), ("setup.cfg", K.SETUP_CFG), ("environment.yml", K.CONDA_ENVIRONMENT),
    ("uv.lock", K.UV_LOCK), ("poetry.lock", K.POETRY_LOCK), ("pylock.toml", K.PYLOCK), ("pylock.dev.toml", K.PYLOCK),
    ("model.safetensors", None), ("requirements.md", None), ("requirements.in", None), ("my-requirements.txt", None),
])
def test_dependency_files_are_known_by_name(path, kind):
    assert dependency_file_kind(path) is kind


def test_a_service_lock_of_another_name_is_read_as_pip_requirements():
    assert lock_file_kind("deploy/locked.txt") is K.REQUIREMENTS
    assert lock_file_kind("uv.lock") is K.UV_LOCK


def test_a_check_without_dependency_files_or_snapshot_imports_no_parser_or_index():
    """Start-up (issue 18): TOML, setup.cfg and the advisory index are imported only by the runs that read them."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\nfrom weightgate.cli import main\n"
            "try:\n"
            "    main(['check', 'examples/deployment.yaml', '--policy', 'examples/policy.yaml', '--offline', '-q'])\n"
            "except SystemExit:\n    pass\n"
            "loaded = {'tomllib', 'configparser', 'sqlite3', 'zipfile'} & set(sys.modules)\n"
            "assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
