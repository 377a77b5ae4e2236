"""WG720-WG728: model loads in application code, judged through `weightgate scan --only-code` on generated
Python files. One line per load form: what fires, and the near miss that must not."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from conftest import COMMIT, REPO_ROOT, Workspace
from validate_outputs import output_errors
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS, EXIT_INPUT_ERROR, EXIT_NOTHING_CHECKED, EXIT_PASS
from weightgate.jsonschemas import schema_errors
from weightgate.report.json import JsonReporter
from weightgate.rules import Severity
from weightgate.scan import ScanOptions, run_scan

INTERNAL = "https://hub.internal.example"


def scan_code(root: Path, source: str, *, manifest: Path | None = None, name: str = "app.py"):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return run_scan(ScanOptions(paths=(path,), code_only=True, manifest=manifest, source_root=root))


def fired(report) -> set[str]:
    return {f.rule.id for f in report.active_findings}


# (case, source, rules expected). COMMIT is a 40-hex commit; {INTERNAL} an endpoint outside the public hubs.
CASES = [
    # from_pretrained on any class, in every spelling a static read can follow
    ("from_pretrained", "from transformers import AutoModel\nAutoModel.from_pretrained('someone/random-model')",
     {"WG720", "WG721"}),
    ("from_pretrained-pinned-still-public", f"import transformers\n"
     f"transformers.AutoModel.from_pretrained('org/m', revision='{COMMIT}')", {"WG720"}),
    ("from_pretrained-branch", "from transformers import AutoModel\nAutoModel.from_pretrained('org/m', "
     "revision='v1.0')", {"WG720", "WG721"}),
    ("from_pretrained-local-no-manifest", "from transformers import AutoModel\n"
     "AutoModel.from_pretrained('./models/chat')", set()),
    ("hf_hub_download", "from huggingface_hub import hf_hub_download\nhf_hub_download('org/m', 'model.bin')",
     {"WG720", "WG721"}),
    ("hf_hub_download-pinned-internal", f"from huggingface_hub import hf_hub_download\n"
     f"hf_hub_download('org/m', 'model.safetensors', revision='{COMMIT}', endpoint='{INTERNAL}')", set()),
    ("snapshot_download-internal-unpinned", f"import huggingface_hub as hh\n"
     f"hh.snapshot_download(repo_id='org/m', endpoint='{INTERNAL}')", {"WG721"}),
    ("pipeline-model-keyword", "from transformers import pipeline\npipeline('text-generation', model='org/m')",
     {"WG720", "WG721"}),
    ("pipeline-model-positional", "import transformers\ntransformers.pipeline('fill-mask', 'org/m')",
     {"WG720", "WG721"}),
    ("from_pretrained-pinned-hf-endpoint-set", f"import os\nos.environ['HF_ENDPOINT'] = '{INTERNAL}'\n"
     f"from transformers import AutoModel\nAutoModel.from_pretrained('org/m', revision='{COMMIT}')", set()),
    ("hf-endpoint-setdefault-not-counted", f"import os\nos.environ.setdefault('HF_ENDPOINT', '{INTERNAL}')\n"
     f"from transformers import AutoModel\nAutoModel.from_pretrained('org/m', revision='{COMMIT}')", {"WG720"}),
    ("hf-endpoint-public", "import os\nos.environ['HF_ENDPOINT'] = 'https://hf.co'\n"
     f"from transformers import AutoModel\nAutoModel.from_pretrained('org/m', revision='{COMMIT}')", {"WG720"}),
    ("pipeline-default-model", "from transformers import pipeline\npipeline('sentiment-analysis')", {"WG720"}),
    ("pipeline-kwargs-spread", "from transformers import pipeline\ndef f(conf):\n    return pipeline(**conf)",
     {"WG727"}),
    ("hub-id-options-spread", "from transformers import AutoModel\ndef f(**options):\n"
     "    return AutoModel.from_pretrained('org/m', **options)", {"WG720", "WG721"}),
    ("sentence-transformer", "from sentence_transformers import SentenceTransformer\n"
     "SentenceTransformer('sentence-transformers/all-MiniLM-L6-v2')", {"WG720", "WG721"}),
    ("cross-encoder-pinned", f"from sentence_transformers import CrossEncoder\n"
     f"CrossEncoder('cross-encoder/ms-marco', revision='{COMMIT}')", {"WG720"}),
    ("torch-hub-load", "import torch\ntorch.hub.load('pytorch/vision:v0.10.0', 'resnet18')",
     {"WG720", "WG721", "WG722"}),
    ("torch-hub-load-commit", f"import torch\ntorch.hub.load('pytorch/vision:{COMMIT}', 'resnet18')",
     {"WG720", "WG722"}),
    ("torch-hub-load-local", "import torch\ntorch.hub.load('./hub', 'resnet18', source='local')", set()),
    ("torch-hub-state-dict-url", "import torch\ntorch.hub.load_state_dict_from_url("
     "'https://download.pytorch.org/models/resnet18-f37072fd.pth')", {"WG720", "WG721", "WG724"}),
    # pickle loaders: only a URL or a download is around the gate
    ("torch-load-url", "import torch\ntorch.load('https://example.com/m.pt')", {"WG724"}),
    ("torch-load-download", "import torch\nfrom huggingface_hub import hf_hub_download\n"
     f"torch.load(hf_hub_download('org/m', 'm.bin', revision='{COMMIT}', endpoint='{INTERNAL}'))", {"WG724"}),
    ("torch-load-local", "import torch\ntorch.load('model.pt', weights_only=True)", set()),
    ("torch-load-weights-only-false", "import torch\ntorch.load('model.pt', weights_only=False)", {"WG723"}),
    ("joblib-urlretrieve", "import joblib\nfrom urllib.request import urlretrieve\n"
     "path, _ = urlretrieve('https://example.com/m.joblib')\njoblib.load(path)", {"WG724"}),
    ("joblib-urlretrieve-index", "import joblib, urllib.request\n"
     "joblib.load(urllib.request.urlretrieve('https://example.com/m.joblib')[0])", {"WG724"}),
    ("pickle-loads-requests", "import pickle, requests\nURL = 'https://example.com/m.pkl'\n"
     "pickle.loads(requests.get(URL).content)", {"WG724"}),
    ("pickle-load-urlopen-with", "import pickle\nfrom urllib.request import urlopen\n"
     "def f():\n    with urlopen('https://example.com/m.pkl') as r:\n        return pickle.load(r)", {"WG724"}),
    ("pickle-load-open-download", "import pickle\nfrom huggingface_hub import hf_hub_download\n"
     f"def f():\n    p = hf_hub_download('org/m', 'm.pkl', revision='{COMMIT}', endpoint='{INTERNAL}')\n"
     "    with open(p, 'rb') as fh:\n        return pickle.load(fh)", {"WG724"}),
    ("pickle-load-local-file", "import pickle\nwith open('cache.pkl', 'rb') as fh:\n    pickle.load(fh)", set()),
    ("pickle-loads-unknown", "import pickle\ndef f(blob):\n    return pickle.loads(blob)", set()),
    # Keras and TensorFlow: a remote path
    ("keras-url", "import keras\nkeras.saving.load_model('https://example.com/m.keras')", {"WG725"}),
    ("tf-saved-model-gcs", "import tensorflow as tf\ntf.saved_model.load('gs://bucket/model')", {"WG725"}),
    ("tf-keras-get-file", "import tensorflow as tf\n"
     "tf.keras.models.load_model(tf.keras.utils.get_file('m.keras', origin='https://example.com/m.keras'))",
     {"WG725"}),
    ("keras-local", "from keras.models import load_model\nload_model('model.keras')", set()),
    ("keras-safe-mode-false", "import keras\nkeras.saving.load_model('model.keras', safe_mode=False)", {"WG723"}),
    ("keras-unresolved", "import keras, os\nkeras.saving.load_model(os.environ['MODEL'])", {"WG727"}),
    # switches
    ("trust-remote-code", "from transformers import AutoModelForCausalLM as LM\n"
     "LM.from_pretrained('./local/model', trust_remote_code=True)", {"WG722"}),
    ("trust-remote-code-false", "from transformers import AutoModelForCausalLM as LM\n"
     "LM.from_pretrained('./local/model', trust_remote_code=False)", set()),
    ("trust-remote-code-variable", "from transformers import AutoModel\n"
     "def load(trust):\n    return AutoModel.from_pretrained('./local/model', trust_remote_code=trust)", {"WG722"}),
    ("trust-remote-code-constant", "from transformers import AutoModel\nTRUST = True\n"
     "AutoModel.from_pretrained('./local/model', trust_remote_code=TRUST)", {"WG722"}),
    # what a static read cannot know is reported, not passed over
    ("unresolved-parameter", "from transformers import AutoModel\n"
     "def load(name):\n    return AutoModel.from_pretrained(name)", {"WG727"}),
    ("unresolved-environment", "import os\nfrom transformers import AutoModel\n"
     "AutoModel.from_pretrained(os.getenv('MODEL_ID'))", {"WG727"}),
    ("unresolved-partial-fstring", "from transformers import AutoModel\n"
     "def load(org):\n    return AutoModel.from_pretrained(f'{org}/model')", {"WG727"}),
    ("unresolved-url-partial", "import joblib\ndef load(v):\n    return joblib.load(f'https://example.com/{v}.joblib')",
     {"WG724"}),
    # obfuscated forms a static read still resolves
    ("alias-import-as", "from transformers import AutoModel as M\nM.from_pretrained('someone/random-model')",
     {"WG720", "WG721"}),
    ("alias-module-as", "import transformers as tf\ntf.AutoModel.from_pretrained('someone/random-model')",
     {"WG720", "WG721"}),
    ("alias-bound-callable", "import torch\nload = torch.load\nload('https://example.com/m.pt')", {"WG724"}),
    ("alias-bound-class", "from transformers import AutoModel\nCls = AutoModel\nCls.from_pretrained('org/m')",
     {"WG720", "WG721"}),
    ("alias-getattr", "import transformers\ngetattr(transformers, 'AutoModel').from_pretrained('org/m')",
     {"WG720", "WG721"}),
    ("alias-import-module", "import importlib\nimportlib.import_module('torch').load('https://example.com/m.pt')",
     {"WG724"}),
    ("alias-dunder-import", "__import__('joblib').load('https://example.com/m.joblib')", {"WG724"}),
    ("alias-star-import", "from huggingface_hub import *\nsnapshot_download('org/m')", {"WG720", "WG721"}),
    ("fstring-constants", "from transformers import AutoModel\nORG = 'someone'\nNAME = 'model'\n"
     "AutoModel.from_pretrained(f'{ORG}/{NAME}')", {"WG720", "WG721"}),
    ("concatenation", "from transformers import AutoModel\nORG = 'someone'\n"
     "AutoModel.from_pretrained(ORG + '/' + 'model')", {"WG720", "WG721"}),
    ("percent-format", "from transformers import AutoModel\nAutoModel.from_pretrained('%s/%s' % ('org', 'm'))",
     {"WG720", "WG721"}),
    ("str-format", "from transformers import AutoModel\nAutoModel.from_pretrained('{}/{m}'.format('org', m='x'))",
     {"WG720", "WG721"}),
    ("str-join", "from transformers import AutoModel\nAutoModel.from_pretrained('/'.join(['org', 'm']))",
     {"WG720", "WG721"}),
    ("dict-constant", "from transformers import AutoModel\nMODELS = {'chat': 'org/chat'}\n"
     "AutoModel.from_pretrained(MODELS['chat'])", {"WG720", "WG721"}),
    ("keyword-spread-branch", "from transformers import AutoModel\n"
     "AutoModel.from_pretrained('org/m', **{'revision': 'main'})", {"WG720", "WG721"}),
    ("keyword-spread-pinned", f"from huggingface_hub import snapshot_download\nOPTS = {{'revision': '{COMMIT}', "
     f"'endpoint': '{INTERNAL}'}}\nsnapshot_download('org/m', **OPTS)", set()),
    ("keyword-target", "from transformers import AutoModel\n"
     "AutoModel.from_pretrained(pretrained_model_name_or_path='org/m')", {"WG720", "WG721"}),
    ("pipeline-positional-revision", f"from transformers import pipeline\n"
     f"pipeline('t', 'org/m', None, None, None, None, None, None, '{COMMIT}')", {"WG720"}),
    ("function-local-constant", "from transformers import AutoModel\ndef f():\n    name = 'org/m'\n"
     "    return AutoModel.from_pretrained(name)", {"WG720", "WG721"}),
    ("pathlib-local", "from pathlib import Path\nimport torch\ntorch.load(Path('/opt/models') / 'm.pt')", set()),
    ("unrelated-calls", "import json, pickle\njson.load(open('c.json'))\nprint(pickle.dumps(1))", set()),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_load_forms(tmp_path, source, expected):
    report = scan_code(tmp_path, source)
    assert fired(report) == expected, [f.message for f in report.active_findings]


def test_findings_point_at_the_line_and_column(tmp_path):
    report = scan_code(tmp_path, "import torch\n\nx = 1\nmodel =  torch.load('https://example.com/m.pt')\n")
    (finding,) = report.active_findings
    assert (finding.location.path, finding.location.line, finding.location.column) == (str(tmp_path / "app.py"), 4, 10)
    assert dict(finding.evidence)["target"] == "https://example.com/m.pt"


def test_weights_only_lowers_a_remote_pickle_to_high(tmp_path):
    report = scan_code(tmp_path, "import torch\ntorch.load('https://example.com/m.pt', weights_only=True)")
    (finding,) = report.active_findings
    assert finding.rule.id == "WG724" and finding.severity is Severity.HIGH
    report = scan_code(tmp_path, "import torch\ntorch.load('https://example.com/m.pt')")
    assert report.active_findings[0].severity is Severity.CRITICAL


def test_unresolved_target_is_a_heuristic_warning(tmp_path):
    report = scan_code(tmp_path, "from transformers import AutoModel\ndef f(n):\n    AutoModel.from_pretrained(n)")
    (finding,) = report.active_findings
    assert finding.confidence == "heuristic" and not report.failed  # medium: below the default fail_on: error


# --- with a manifest: local paths outside every mirror ---------------------------------------------------------

@pytest.fixture
def manifest(ws: Workspace) -> Path:
    return ws.write_manifest([ws.artifact("chat"), ws.artifact("remote", mirror="s3://bucket/models/remote")])


@pytest.mark.parametrize(("source", "expected"), [
    ("from transformers import AutoModel\nAutoModel.from_pretrained('mirror/chat')", set()),
    ("from transformers import AutoModel\nAutoModel.from_pretrained('./mirror/chat')", set()),
    ("from transformers import AutoModel\nAutoModel.from_pretrained(MIRROR + '/chat')\nMIRROR = './mirror'", set()),
    ("import torch\ntorch.load('mirror/chat/model.pt', weights_only=True)", set()),
    ("import torch\ntorch.load('./checkpoints/model.pt')", {"WG726"}),
    ("import torch\ntorch.load('/opt/models/model.pt')", {"WG726"}),
    ("from transformers import AutoModel\nAutoModel.from_pretrained('./mirror/chat/../../elsewhere')", {"WG726"}),
    ("from transformers import AutoModel\nAutoModel.from_pretrained('./mirror/other-model')", {"WG726"}),
    ("import tensorflow as tf\ntf.saved_model.load('s3://bucket/models/remote/saved')", set()),
    ("import tensorflow as tf\ntf.saved_model.load('s3://bucket/models/remote-2/saved')", {"WG725"}),
    ("from transformers import AutoModel\ndef f(d):\n    AutoModel.from_pretrained(f'./mirror/{d}')", {"WG727"}),
], ids=["hub-id-shaped-mirror-folder", "mirror-folder", "mirror-constant", "file-in-mirror", "relative-outside",
        "absolute-outside", "dot-dot-escape", "sibling-not-an-artifact", "remote-mirror", "remote-prefix-only",
        "partly-unknown"])
def test_manifest_coverage(ws, manifest, source, expected):
    report = scan_code(ws.root, source, manifest=manifest)
    assert fired(report) == expected, [f.message for f in report.active_findings]


def test_no_manifest_no_local_path_question(tmp_path):
    assert fired(scan_code(tmp_path, "import torch\ntorch.load('./checkpoints/model.pt')")) == set()


def test_an_invalid_manifest_is_an_input_error(tmp_path):
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "bad.yaml").write_text("apiVersion: weightgate.dev/v1\nkind: DeploymentManifest\nartifacts: 3\n")
    code = main(["scan", "--only-code", str(tmp_path / "app.py"), "--manifest", str(tmp_path / "bad.yaml"), "-q"])
    assert code == EXIT_INPUT_ERROR


# --- files that cannot be read: findings, never tracebacks ----------------------------------------------------

@pytest.mark.parametrize(("data", "reason"), [
    (b"def f(:\n", "not valid Python"),
    (b"x = 1\x00\n", "null bytes"),
    (b"x = '\xff\xfe'\n", "not valid Python"),  # not UTF-8 and no coding line
    (b"x = " + b"(" * 500 + b")" * 500 + b"\n", "nested"),
    (b"x = " + b"1 + " * 300_000 + b"1\n", "cannot be parsed"),
    (b"# " + b"x" * (4 * 1024 * 1024) + b"\n", "larger than"),
], ids=["syntax", "null-byte", "undecodable", "nested-parentheses", "deep-expression", "oversize"])
def test_unreadable_source_is_a_finding(tmp_path, data, reason):
    (tmp_path / "app.py").write_bytes(data)
    report = run_scan(ScanOptions(paths=(tmp_path / "app.py",), code_only=True, source_root=tmp_path))
    (finding,) = report.active_findings
    assert finding.rule.id == "WG728" and reason in finding.message, finding.message


def test_declared_encoding_is_honoured(tmp_path):
    (tmp_path / "app.py").write_bytes(b"# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\nimport torch\n"
                                      b"torch.load('https://example.com/m.pt')\n")
    report = run_scan(ScanOptions(paths=(tmp_path / "app.py",), code_only=True, source_root=tmp_path))
    assert fired(report) == {"WG724"}


def test_a_symlink_out_of_the_folder_is_not_followed(tmp_path):
    (tmp_path / "real.py").write_text("import torch\ntorch.load('https://example.com/m.pt')\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "link.py").symlink_to(tmp_path / "real.py")
    report = run_scan(ScanOptions(paths=(tmp_path / "app",), code_only=True, source_root=tmp_path))
    (finding,) = report.active_findings
    assert finding.rule.id == "WG728" and "symlink" in finding.message


def test_a_symlink_inside_the_folder_is_read(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "real.py").write_text("import torch\ntorch.load('https://example.com/m.pt')\n")
    (tmp_path / "app" / "link.py").symlink_to(tmp_path / "app" / "real.py")
    report = run_scan(ScanOptions(paths=(tmp_path / "app",), code_only=True, source_root=tmp_path))
    assert sorted((f.rule.id, Path(f.location.path).name) for f in report.active_findings) == [
        ("WG724", "link.py"), ("WG724", "real.py")]


def test_fifo_is_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe.py")
    report = run_scan(ScanOptions(paths=(tmp_path,), code_only=True, source_root=tmp_path))
    (finding,) = report.active_findings
    assert finding.rule.id == "WG728" and "regular file" in finding.message


def test_json_report_of_a_code_scan_matches_its_schema(tmp_path):
    report = scan_code(tmp_path, "import torch\ntorch.load('https://example.com/m.pt', weights_only=False)\n")
    doc = json.loads(JsonReporter().render(report))
    assert schema_errors("report", doc) == []
    assert {f["rule"] for f in doc["findings"]} == {"WG723", "WG724"}


# --- the scan command ------------------------------------------------------------------------------------------

def test_folder_scan_reads_python_beside_model_files(tmp_path):
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "serve.py").write_text("from transformers import AutoModel\nAutoModel.from_pretrained('o/m')\n")
    (tmp_path / "svc" / "notes.txt").write_text("AutoModel.from_pretrained('o/m')\n")  # not Python: not read
    report = run_scan(ScanOptions(paths=(tmp_path / "svc",), source_root=tmp_path))
    serve = str(tmp_path / "svc" / "serve.py")
    assert {(f.rule.id, f.location.path) for f in report.active_findings if f.rule.id.startswith("WG72")} == {
        ("WG720", serve), ("WG721", serve)}
    model_files = run_scan(ScanOptions(paths=(tmp_path / "svc",), source_root=tmp_path, model_files_only=True))
    assert not model_files.active_findings  # the model-file hook leaves source to the code hook


def test_only_code_exit_codes(tmp_path):
    app = tmp_path / "app.py"
    app.write_text(f"from huggingface_hub import hf_hub_download\nhf_hub_download('o/m', 'f', revision='{COMMIT}', "
                   f"endpoint='{INTERNAL}')\n")
    assert main(["scan", "--only-code", str(app), "-q"]) == EXIT_PASS
    app.write_text("from transformers import AutoModel\nAutoModel.from_pretrained('someone/random-model')\n")
    assert main(["scan", "--only-code", str(app), "-q"]) == EXIT_FINDINGS
    (tmp_path / "empty").mkdir()
    assert main(["scan", "--only-code", str(tmp_path / "empty"), "-q"]) == EXIT_NOTHING_CHECKED
    assert main(["scan", "--only-code", "--only-model-files", str(app), "-q"]) == EXIT_INPUT_ERROR


def test_waiver_by_file_digest(ws):
    app = ws.root / "app.py"
    app.write_text("from transformers import AutoModel\ndef f(n):\n    AutoModel.from_pretrained(n)\n")
    report = run_scan(ScanOptions(paths=(app,), code_only=True, source_root=ws.root))
    digest = dict(report.findings[0].evidence)["artifact_digest"]
    policy = ws.write_policy(waivers=[{"rule": "WG727", "digest": digest, "reason": "name comes from a reviewed "
                                       "allowlist", "expires": "2099-01-01", "approved_by": "sec@example.com"}])
    waived = run_scan(ScanOptions(paths=(app,), code_only=True, source_root=ws.root, policy=policy))
    assert waived.findings and not waived.active_findings


def test_sarif_of_a_code_scan_validates(tmp_path):
    app = tmp_path / "svc" / "app.py"
    app.parent.mkdir()
    app.write_text("import torch\nfrom transformers import AutoModel\n\nAutoModel.from_pretrained('o/m', "
                   "trust_remote_code=True)\ntorch.load('https://example.com/\\x1b[31m.pt', weights_only=False)\n")
    (tmp_path / "svc" / "broken.py").write_bytes(b"def f(:\n")
    sarif = tmp_path / "code.sarif"
    code = main(["scan", "--only-code", str(app.parent), "--sarif", str(sarif), "-q", "--source-root", str(tmp_path)])
    assert code == EXIT_FINDINGS
    assert output_errors("sarif", sarif) == []
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"WG720", "WG721", "WG722", "WG723", "WG724", "WG728"}
    where = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
              r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results}
    assert ("WG722", "svc/app.py", 4) in where and ("WG723", "svc/app.py", 5) in where
    assert ("WG728", "svc/broken.py", 1) in where
    assert "\x1b" not in sarif.read_text()


def test_public_hubs_come_from_the_policy(ws):
    source = f"import torch\ntorch.hub.load('pytorch/vision:{COMMIT}', 'resnet18')\n"
    assert fired(scan_code(ws.root, source)) == {"WG720", "WG722"}
    policy = ws.write_policy(mirrors={"public_hubs": ["huggingface.co"]})
    (ws.root / "app.py").write_text(source)
    report = run_scan(ScanOptions(paths=(ws.root / "app.py",), code_only=True, source_root=ws.root, policy=policy))
    assert fired(report) == {"WG722"}  # hubconf.py still runs, whoever hosts it


def test_more_loads_than_listed_is_said(tmp_path):
    (tmp_path / "app.py").write_text("import torch\n" + "torch.load('https://example.com/m.pt')\n" * 1001)
    report = run_scan(ScanOptions(paths=(tmp_path / "app.py",), code_only=True, source_root=tmp_path))
    rules = [f.rule.id for f in report.active_findings]
    assert rules.count("WG724") == 1000 and rules.count("WG728") == 1


def test_readme_example_reports_what_its_comments_say(tmp_path):
    """README's code-loads example: each line's trailing comment names the rules it fires, or says it passes."""
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("<!-- code-loads-example:start -->\n```python\n", 1)[1].split("```\n", 1)[0]
    expected = {number: set(re.findall(r"WG\d{3}", line.split("#", 1)[1]))
                for number, line in enumerate(block.splitlines(), 1) if "  # " in line}
    assert any(not rules for rules in expected.values()), "the example shows a load that passes"
    report = scan_code(tmp_path, block)
    found: dict[int, set[str]] = {number: set() for number in expected}
    for f in report.active_findings:
        found.setdefault(f.location.line, set()).add(f.rule.id)
    assert found == expected
