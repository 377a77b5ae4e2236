"""The shipped pre-commit hooks: their file patterns, their start-up cost, and `pre-commit try-repo` running
them for real against a temporary git repository (installing the hook from this repository's files)."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import COMMIT, REPO_ROOT, Workspace, safetensors_bytes
from integration.conftest import commit_all, copy_working_tree, git_env, require_tool

HOOKS = {hook["id"]: hook for hook in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())}
HEAVY_MODULES = ("huggingface_hub", "cyclonedx", "fickling")
# pickle.dumps of os.system("id") (protocol 4), written out so that no test ever builds it with a live callable.
PICKLE = (b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94"
          b"\x8c\x02id\x94\x85\x94R\x94.")


def selects(hook_id: str, path: str) -> bool:
    """pre-commit's filename filter: `files` and not `exclude`, both `re.search`."""
    hook = HOOKS[hook_id]
    return bool(re.search(hook.get("files", ""), path)) and not re.search(hook.get("exclude", "^$"), path)


@pytest.mark.parametrize(("path", "selected"), [
    ("weightgate.yaml", True), ("weightgate.yml", True), ("deploy/weightgate.yaml", True),
    ("deploy/models.weightgate.yaml", True), ("weightgate-prod.yml", True),
    ("deployment.yaml", False),  # a Kubernetes Deployment is not a weightgate manifest
    (".pre-commit-config.yaml", False), ("weightgate-policy.yaml", False), ("weightgate/policy.yaml", False),
    ("notweightgate.yaml", False), ("weightgate.yaml.bak", False), ("weightgate.json", False),
])
def test_manifest_hook_files(path, selected):
    assert selects("weightgate-manifest", path) is selected


@pytest.mark.parametrize(("path", "selected"), [
    ("model.pkl", True), ("weights/pytorch_model.bin", True), ("m.PT", True), ("m.pth", True), ("m.ckpt", True),
    ("m.joblib", True), ("model.safetensors", True), ("m.gguf", True), ("m.onnx", True), ("m.npy", True),
    ("m.npz", True), ("m.h5", True), ("m.keras", True), ("saved_model.pb", True), ("tokenizer.model", True),
    ("train.py", False), ("config.json", False), ("README.md", False), ("model.pkl.txt", False),
    # issue 14, class 9: chosen by content, so a pickle under any other name reaches the scan.
    ("config.p", True), ("weights.dat", True), ("data/x", True), ("assets/logo.png", True),
    ("Dockerfile", False), ("setup.cfg", False), ("docs/index.HTML", False),
])
def test_scan_hook_files(path, selected):
    assert selects("weightgate-scan", path) is selected


def test_hook_entries_are_weightgate_commands():
    assert HOOKS["weightgate-manifest"]["entry"] == "weightgate check --offline"
    assert HOOKS["weightgate-scan"]["entry"] == "weightgate scan --only-model-files"
    assert HOOKS["weightgate-code-loads"]["entry"] == "weightgate scan --only-code"
    assert HOOKS["weightgate-code-loads"]["types"] == ["python"]  # identify's tag: *.py, *.pyw and python shebangs
    assert all(hook["language"] == "python" for hook in HOOKS.values())


def test_offline_check_imports_nothing_heavy():
    """The manifest hook runs on every commit: its path must not import the hub client, the BOM library or
    fickling."""
    code = textwrap.dedent(f"""
        import sys
        from weightgate.cli import main
        code = main(["check", "--offline", "-q", "examples/deployment.yaml", "--policy", "examples/policy.yaml"])
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY_MODULES!r}))
        print(code, heavy)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split(maxsplit=1)[1].strip() == "[]", result.stdout


def test_code_hook_imports_nothing_heavy(tmp_path):
    """The code hook runs on every commit of application code: a static read, with no model library, hub client,
    BOM library or fickling imported."""
    app = tmp_path / "app.py"
    app.write_text("from transformers import AutoModel\nAutoModel.from_pretrained('someone/random-model')\n")
    code = textwrap.dedent(f"""
        import sys
        from weightgate.cli import main
        code = main(["scan", "--only-code", "-q", {str(app)!r}])
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({(*HEAVY_MODULES, "transformers", "torch")!r}))
        print(code, heavy)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["1", "[]"], result.stdout


# --- pre-commit try-repo -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> Path:
    return copy_working_tree(tmp_path_factory.mktemp("hooks") / "weightgate")


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    """One hook environment for the module: the first try-repo installs weightgate, the rest reuse it."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def user_repo(tmp_path) -> Path:
    repo = tmp_path / "models-repo"
    repo.mkdir()
    commit_all(repo, "empty")
    return repo


def try_repo(hook_repo: Path, home: Path, user_repo: Path, hook_id: str) -> subprocess.CompletedProcess[str]:
    pre_commit = require_tool("pre-commit", "the test extra")
    subprocess.run(["git", "add", "-A"], cwd=user_repo, env=git_env(user_repo), check=True)
    env = {**git_env(user_repo), "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    env.pop("GITHUB_ACTIONS", None)  # the hook's output must not depend on where the tests run
    return subprocess.run([pre_commit, "try-repo", str(hook_repo), hook_id, "--all-files"], cwd=user_repo, env=env,
                          capture_output=True, text=True, check=False, timeout=900)


def write_manifest(repo: Path, revision: str) -> Path:
    """A fully governed manifest, dated today (the hook judges re-validation age against today)."""
    ws = Workspace(repo)
    today = datetime.date.today().isoformat()
    artifact = ws.artifact("support-chat", last_validated=today)
    artifact["source"]["revision"] = revision
    for approval in artifact["approvals"]:
        approval["date"] = today
    return ws.write_manifest([artifact], name="weightgate.yaml")


@pytest.mark.integration
@pytest.mark.slow
def test_manifest_hook_fails_on_a_mutable_reference_and_passes_once_pinned(hook_repo, pre_commit_home, user_repo):
    write_manifest(user_repo, "main")
    (user_repo / "deployment.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\n")  # not selected
    result = try_repo(hook_repo, pre_commit_home, user_repo, "weightgate-manifest")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "WG201 mutable-reference" in output and "weightgate.yaml" in output
    assert "deployment.yaml" not in output.replace("weightgate.yaml", "")

    write_manifest(user_repo, COMMIT)
    result = try_repo(hook_repo, pre_commit_home, user_repo, "weightgate-manifest")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"weightgate manifest \(offline\)\.+Passed", result.stdout)


@pytest.mark.integration
@pytest.mark.slow
def test_scan_hook_blocks_a_committed_pickle(hook_repo, pre_commit_home, user_repo):
    # The hook sniffs every file: keep the hook tooling's own cache (wheels are zip files) out of the repo.
    (user_repo / ".gitignore").write_text(".cache/\n")
    models = user_repo / "models"
    models.mkdir()
    (models / "model.safetensors").write_bytes(safetensors_bytes())
    result = try_repo(hook_repo, pre_commit_home, user_repo, "weightgate-scan")
    assert result.returncode == 0, result.stdout + result.stderr  # near miss: safetensors passes

    (models / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))  # not a model: passed over
    result = try_repo(hook_repo, pre_commit_home, user_repo, "weightgate-scan")
    assert result.returncode == 0, result.stdout + result.stderr

    (models / "config.p").write_bytes(PICKLE)  # runs code on load, under a name no extension list knows
    result = try_repo(hook_repo, pre_commit_home, user_repo, "weightgate-scan")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "config.p" in output and "pickle" in output
    assert re.search(r"weightgate scan \(model files\)\.+Failed", result.stdout)



@pytest.mark.integration
@pytest.mark.slow
def test_code_hook_blocks_a_deploy_time_hub_pull(hook_repo, pre_commit_home, user_repo):
    service = user_repo / "service"
    service.mkdir()
    (service / "serve.py").write_text(textwrap.dedent(f"""
        from transformers import AutoModel
        MODEL_DIR = "/models/support-chat"  # where the verified mirror is deployed
        model = AutoModel.from_pretrained(MODEL_DIR)
        with open("README.md") as fh:  # no model: nothing to say
            fh.read()
        REVISION = "{COMMIT}"
    """))
    result = try_repo(hook_repo, pre_commit_home, user_repo, "weightgate-code-loads")
    assert result.returncode == 0, result.stdout + result.stderr  # near miss: a local path, no manifest asked

    (service / "tokenizer.py").write_text("import transformers as tf\n"
                                          "tok = tf.AutoTokenizer.from_pretrained(f\"{'someone'}/random-model\")\n")
    result = try_repo(hook_repo, pre_commit_home, user_repo, "weightgate-code-loads")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "WG720 code-load-public-hub" in output and "service/tokenizer.py" in output
    assert re.search(r"weightgate code loads \(application code\)\.+Failed", result.stdout)
