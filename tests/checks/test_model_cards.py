"""WG631-WG633: Hugging Face model cards read with huggingface_hub from the bytes of the verify pass (or the
mirror), required per class with fields and sections from the policy, and compared with the manifest."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import rule_ids, safetensors_bytes
from weightgate import gate
from weightgate.governance.model_card import CardStatus, ModelCardFacts, headings, hf_repo_id, parse_card

CARD = """---
license: apache-2.0
base_model: org/base-1b
datasets: [org/web-text]
---
# Tiny model

## Intended uses & limitations
Support chat only.

Training data
-------------
Public web text.
"""

REQUIRED = {"required": {"fine-tune": {"fields": ["license", "base_model", "datasets"],
                                       "sections": ["intended use", "limitations", "training data"]}}}


def _fine_tune(ws, card=CARD, **fields):
    files = {"model.safetensors": safetensors_bytes(), "README.md": card.encode()} if card is not None else None
    art = ws.artifact("ft", files=files, **{"class": "fine-tune", "eval_evidence": None,
                                             "base_models": [{"uri": "hf://org/base-1b", "revision": "a" * 40,
                                                              "digest": "sha256:" + "0" * 64,
                                                              "license": "Apache-2.0"}], **fields})
    art.pop("eval_evidence")
    return art


def _check(ws, art, cards=REQUIRED, **options):
    policy = ws.write_policy(model_cards=cards, eval_evidence={"required_for": []})
    return ws.check(ws.write_manifest([art]), policy=policy, **options)


def test_complete_card_that_agrees_passes(ws):
    report = _check(ws, _fine_tune(ws))
    assert rule_ids(report) == []
    card = report.governance.model_cards["ft"]
    assert card.status is CardStatus.READ and card.pinned and card.license == "apache-2.0"
    assert card.base_models == ("org/base-1b",)


def test_pinned_card_is_read_once_from_the_verify_pass(ws, monkeypatch):
    counts = {}
    real_open = gate.open_approved_mirror

    class Counting:
        def __init__(self, inner):
            self._inner, self.uri = inner, inner.uri

        def open(self, path):
            counts[path] = counts.get(path, 0) + 1
            return self._inner.open(path)

        def uri_of(self, path):
            return self._inner.uri_of(path)

        def list_files(self):
            return self._inner.list_files()

    monkeypatch.setattr(gate, "open_approved_mirror", lambda *a, **k: Counting(real_open(*a, **k)))
    assert rule_ids(_check(ws, _fine_tune(ws))) == []
    assert counts == {"model.safetensors": 1, "README.md": 1}


def test_required_card_missing(ws):
    assert rule_ids(_check(ws, _fine_tune(ws, card=None))) == ["WG631"]
    # Near miss: the policy asks no card of this class.
    assert rule_ids(_check(ws, _fine_tune(ws, card=None), cards={"required": {"model": {}}})) == []


def test_card_elsewhere_in_the_mirror(ws):
    art = _fine_tune(ws, card=None, model_card={"path": "docs/CARD.md", "task": "text-generation"})
    (ws.mirror / "ft" / "docs").mkdir()
    (ws.mirror / "ft" / "docs" / "CARD.md").write_text(CARD)
    report = _check(ws, art)
    assert rule_ids(report) == []
    assert not report.governance.model_cards["ft"].pinned
    (ws.mirror / "ft" / "docs" / "CARD.md").unlink()
    report = _check(ws, art)
    assert rule_ids(report) == ["WG631"] and "missing" in report.active_findings[0].message


@pytest.mark.parametrize(("card", "reason"), [
    ("---\nlicense: [unclosed\n---\n# x\n", "not valid YAML"),
    ("---\na: &x [1]\nb: *x\n---\n", "aliases"),
    ("---\n- a\n- b\n---\n", "invalid"),
])
def test_malformed_card(ws, card, reason):
    art = _fine_tune(ws, card=None)
    art = ws.artifact("ft", files={"model.safetensors": safetensors_bytes(), "README.md": card.encode()},
                      **{k: v for k, v in art.items() if k in ("class", "base_models")})
    report = _check(ws, art)
    assert rule_ids(report) == ["WG631"]
    assert reason in report.active_findings[0].message


def test_incomplete_card(ws):
    card = "---\nlicense: apache-2.0\n---\n# Tiny model\n\n## Limitations\nSome.\n"
    report = _check(ws, _fine_tune(ws, card=card))
    assert rule_ids(report) == ["WG632"]
    message = report.active_findings[0].message
    for missing in ("field `base_model`", "field `datasets`", "section 'intended use'", "section 'training data'"):
        assert missing in message
    assert "'limitations'" not in message


@pytest.mark.parametrize(("card_license", "manifest", "agrees"), [
    ("apache-2.0", "Apache-2.0", True),
    ("mit", "Apache-2.0", False),
    ("gpl-3.0", "GPL-3.0-or-later", True),
    ("other\nlicense_name: tiny-community", "Apache-2.0 AND LicenseRef-tiny-community", True),
    ("other\nlicense_name: another", "LicenseRef-tiny-community", False),
    ("llama2", "LicenseRef-llama2", True),
])
def test_card_license_must_agree_with_the_manifest(ws, card_license, manifest, agrees):
    card = CARD.replace("license: apache-2.0", f"license: {card_license}")
    report = _check(ws, _fine_tune(ws, card=card, license={"spdx": manifest, "review": {
        "reviewer": "legal@example.com", "date": "2026-11-01", "outcome": "approved"}}),
        cards={"required": {}})
    found = [f for f in report.active_findings if f.rule.id == "WG633"]
    assert (found == []) == agrees, [f.message for f in found]


def test_card_base_model_must_agree_with_the_lineage(ws):
    other_base = CARD.replace("base_model: org/base-1b", "base_model: someone/other-7b")
    report = _check(ws, _fine_tune(ws, card=other_base), cards={"required": {}})
    assert rule_ids(report) == ["WG633"]
    assert "someone/other-7b" in report.active_findings[0].message
    # A base model the card names but the manifest does not declare at all.
    art = ws.artifact("plain", files={"README.md": CARD.encode(), "model.safetensors": safetensors_bytes()})
    report = ws.check(ws.write_manifest([art]))
    assert rule_ids(report) == ["WG633"] and "does not declare" in report.active_findings[0].message


def test_offline_reads_no_card(ws):
    report = _check(ws, _fine_tune(ws), offline=True)
    assert rule_ids(report) == []
    assert report.governance.model_cards["ft"].status is CardStatus.NOT_CHECKED


def test_card_parsing_helpers():
    base = ModelCardFacts("a", "README.md", "README.md", CardStatus.NOT_CHECKED, True)
    assert parse_card(base, b"no front matter\n# Title\n").status is CardStatus.READ
    assert parse_card(base, b"\xff\xfe# x").status is CardStatus.MALFORMED  # not UTF-8
    assert headings("# A\n```\n# not a heading\n```\nB\n===\n### C ###\n") == ("A", "B", "C")
    assert hf_repo_id("https://huggingface.co/Org/Name/tree/main") == "org/name"
    assert hf_repo_id("hf://org/name@abc") == "org/name"
    assert hf_repo_id("models:/x/3") is None


# --- read as huggingface_hub's ModelCard reads a card (issue 18: the Hub client is not imported for it) -------

def _as_model_card(text: str):
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(text, ignore_metadata_errors=False)
    except Exception as e:
        return type(e)
    return dict(card.data.to_dict()), str(card.text)


def _as_weightgate(text: str):
    from weightgate.governance.model_card import _hf_card

    try:
        return _hf_card(text)
    except Exception as e:
        return type(e)


def test_the_metadata_pattern_is_the_hubs():
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    from weightgate.governance.model_card import _FRONT_MATTER

    assert _FRONT_MATTER.pattern == REGEX_YAML_BLOCK.pattern and _FRONT_MATTER.flags == REGEX_YAML_BLOCK.flags


CARDS = [
    "---\nlicense: apache-2.0\nbase_model: org/base\ntags: [a, b]\n---\n# Model\nbody\n",
    "---\r\nlicense: mit\r\n---\r\nbody\r\n",
    "---\rlicense: mit\r---\rbody",
    "  \n---\nlicense: mit\n---   \nbody",
    "no metadata\n# Title\n",
    "---\n---\nempty block\n",
    "---\n- a list\n---\nbody\n",
    "---\njust text\n---\n",
    "---\nlicense: [unclosed\n---\n",
    "---\nmodel-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n"
    "    dataset: {name: d, type: d}\n    metrics: [{type: accuracy, value: 0.9}]\n---\nbody",
    "---\nmodel-index:\n- name: m\n  results: not-a-list\n---\nbody",
    "---\nmodel-index: 3\n---\n",
    "---\nlicense: mit\neval_results: [1]\n---\n",
    "---\n123: numeric key\n---\n",
    "---\nlicense: mit\n---\nbody\n---\nsecond: block\n---\n",
    "\ufeff---\nlicense: mit\n---\n",
    "---\nlicense: mit",
]


@pytest.mark.parametrize("text", CARDS)
def test_cards_read_as_the_hub_reads_them(text):
    assert _as_weightgate(text) == _as_model_card(text)


def test_the_bundled_example_cards_read_as_the_hub_reads_them():
    from conftest import REPO_ROOT

    cards = [p for p in (REPO_ROOT / "examples").rglob("*.md") if p.read_text(encoding="utf-8").startswith("---")]
    assert cards
    for path in cards:
        text = path.read_text(encoding="utf-8")
        assert _as_weightgate(text) == _as_model_card(text), path


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(["---", "\n", "\r\n", "\r", " ", "license: mit", "base_model: a/b", "- x", "k:",
                                 "model-index:", "  - name: m", "    results: []", "[", "{", "}", "'", "&a", "*a",
                                 "tags: [t]", "datasets: d", "# H", "text", "\t", "…"]), max_size=14))
def test_generated_cards_read_as_the_hub_reads_them(parts):
    text = "".join(parts)
    assert _as_weightgate(text) == _as_model_card(text)
