"""The static reader of model loads (`weightgate.codeloads`): the facts it extracts, the values it resolves, and
that it never runs what it reads."""

from __future__ import annotations

import pytest

from conftest import COMMIT
from weightgate.codeloads import UNKNOWN_PART, TargetKind, classify, scan_source


def only_load(source: str):
    (load,) = scan_source(source.encode()).loads
    return load


def test_facts_of_one_load():
    load = only_load(f"from transformers import AutoModel as M\nREV = '{COMMIT}'\n"
                     "M.from_pretrained('org/m', revision=REV, trust_remote_code=True)\n")
    assert (load.api.name, load.line, load.column) == ("from_pretrained", 3, 1)
    assert (load.target.kind, load.target.text) == (TargetKind.HUB_ID, "org/m")
    assert load.revision is not None and load.revision.text == COMMIT and load.revision_given
    assert load.trust_remote_code is True and load.trust_remote_code_constant


@pytest.mark.parametrize(("expression", "text", "complete"), [
    ("f'{ORG}/{NAME}'", "org/name", True),
    ("f'{ORG}/{unknown}'", f"org/{UNKNOWN_PART}", False),
    ("ORG + '/' + NAME", "org/name", True),
    ("'%s/%s' % (ORG, NAME)", "org/name", True),
    ("'{}/{n}'.format(ORG, n=NAME)", "org/name", True),
    ("'/'.join((ORG, NAME))", "org/name", True),
    ("os.path.join('/srv', ORG, NAME)", "/srv/org/name", True),
    ("pathlib.Path('/srv') / ORG / NAME", "/srv/org/name", True),
    ("TABLE['chat']", "org/name", True),
    ("PAIR[1]", "name", True),
    ("str(ORG)", "org", True),
], ids=["fstring", "fstring-partial", "concat", "percent", "format", "join", "os-path-join", "pathlib",
        "dict", "tuple-index", "str"])
def test_values_resolve(expression, text, complete):
    load = only_load("import os, pathlib, torch\nORG = 'org'\nNAME = 'name'\nTABLE = {'chat': f'{ORG}/{NAME}'}\n"
                     f"PAIR = (ORG, NAME)\ndef f(unknown):\n    torch.load({expression})\n")
    assert (load.target.text, load.target.complete) == (text, complete)


@pytest.mark.parametrize(("source", "kind"), [
    ("A = B\nB = A\ntorch.load(A)", TargetKind.UNRESOLVED),  # a cycle ends at the depth bound
    ("X = 'a'\nX = 'b'\ntorch.load(X)", TargetKind.UNRESOLVED),  # bound twice: not one value
    ("X = 'a'\nX = 'a'\ntorch.load(X)", TargetKind.HUB_ID),  # bound twice to the same value
    ("for X in ('a', 'b'):\n    torch.load(X)", TargetKind.UNRESOLVED),
])
def test_ambiguous_names_stay_unresolved(source, kind):
    assert only_load("import torch\n" + source).target.kind is kind


@pytest.mark.parametrize(("text", "complete", "kind"), [
    ("org/model", True, TargetKind.HUB_ID), ("gpt2", True, TargetKind.HUB_ID),
    ("./model", True, TargetKind.LOCAL), ("/opt/m", True, TargetKind.LOCAL), ("a/b/c", True, TargetKind.LOCAL),
    ("C:\\models\\m", True, TargetKind.LOCAL), ("file:///opt/m", True, TargetKind.LOCAL),
    ("https://x/m", True, TargetKind.URL), ("s3://b/k", True, TargetKind.URL), (f"https://{UNKNOWN_PART}", False,
                                                                                 TargetKind.URL),
    (f"{UNKNOWN_PART}/m", False, TargetKind.UNRESOLVED),
])
def test_classify(text, complete, kind):
    assert classify(text, complete) is kind


def test_the_source_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    source = (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n"
              "import torch\ntorch.load('https://example.com/m.pt')\n")
    assert len(scan_source(source.encode()).loads) == 1
    assert not marker.exists()


def test_calls_that_are_not_loads():
    source = ("import torch, json\nfrom_pretrained = 1\nmodel.generate()\njson.load(fh)\ntorch.save(m, 'x')\n"
              "def snapshot_download(x):\n    pass\nsnapshot_download('org/m')\n")  # a local function, not the hub's
    assert scan_source(source.encode()).loads == ()
