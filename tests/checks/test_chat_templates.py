"""WG535/WG536 on chat templates saved as files (`chat_template.jinja`, `additional_chat_templates/*.jinja`),
located on the file's manifest line. The payloads are those of CVE-2024-34359 (llama-cpp-python rendered a
model's chat template without a sandbox), moved from GGUF metadata into the file transformers saves today."""

from __future__ import annotations

import json

import pytest

from conftest import rule_ids, safetensors_bytes
from weightgate.checks.chat_templates import template_name
from weightgate.facts import artifact_digest
from weightgate.formats.chat_template import MAX_TEMPLATE_FILE_BYTES

SSTI = "{{ cycler.__init__.__globals__.os.popen('touch /tmp/pwned').read() }}"
MRO = "{% for m in messages %}{{ m.content }}{% endfor %}\n{{ ''.__class__.__mro__[1].__subclasses__() }}"
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
          "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
          "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
          "{% endif %}")


def _files(**extra: bytes) -> dict[str, bytes]:
    return {"model.safetensors": safetensors_bytes(), "tokenizer_config.json": b'{"eos_token": "<|eot_id|>"}',
            **extra}


def _check(ws, files: dict[str, bytes]):
    path = ws.write_manifest([ws.artifact("a", files=files)])
    return path, ws.check(path)


@pytest.mark.parametrize(
    ("path", "template", "construct"),
    [("chat_template.jinja", SSTI, "cycler"),
     ("chat_template.jinja", MRO, "__subclasses__"),
     ("additional_chat_templates/tool_use.jinja", "{{ x|attr('__class__') }}", "|attr"),
     ("tokenizer/chat_template.jinja", "{% include 'other.jinja' %}", "include")],
    ids=["cycler-globals", "mro-subclasses", "additional-template", "tokenizer-subfolder"],
)
def test_malicious_template_file_fires_on_its_manifest_line(ws, path, template, construct):
    manifest, report = _check(ws, _files(**{path: template.encode()}))
    assert rule_ids(report) == ["WG535"]
    [finding] = report.active_findings
    assert path in manifest.read_text().splitlines()[finding.location.line - 1]
    assert finding.message.startswith(f"{path}: chat template line")
    assert construct in dict(finding.evidence)["constructs"].split(",")
    assert dict(finding.evidence)["template"] == template_name(path)


@pytest.mark.parametrize("template", [CHATML, LLAMA3, "You are a helpful assistant."],
                         ids=["chatml", "llama3", "no-jinja-syntax"])
def test_real_template_files_pass(ws, template):
    files = _files(**{"chat_template.jinja": template.encode(),
                      "additional_chat_templates/rag.jinja": CHATML.encode()})
    assert rule_ids(_check(ws, files)[1]) == []


def test_text_quoting_template_syntax_is_not_a_template(ws):
    # Model cards quote templates, payloads included; only a template file's path makes it one.
    card = f"# Model\n\nDo not ship templates like:\n\n```\n{SSTI}\n```\n\n{{% raw %}}{{{{ x }}}}\n".encode()
    files = _files(**{"README.md": card, "docs/prompt.txt": MRO.encode(), "chat_template.md": SSTI.encode()})
    assert rule_ids(_check(ws, files)[1]) == []


def test_template_in_chat_template_json_is_checked_as_in_tokenizer_config(ws):
    files = _files(**{"chat_template.json": json.dumps({"chat_template": SSTI}).encode()})
    assert rule_ids(_check(ws, files)[1]) == ["WG535"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"{{ x }}" * (MAX_TEMPLATE_FILE_BYTES // 7 + 1), "byte limit"),
     (b"{% for m in messages %}{{ m.content }}", "does not parse"),
     (b"{{ x }}" * 20_000 + b"\xff", "not UTF-8 text")],
    ids=["oversize", "unparseable", "not-utf8"],
)
def test_template_file_that_cannot_be_checked_fails_closed(ws, data, expected):
    report = _check(ws, _files(**{"chat_template.jinja": data}))[1]
    unchecked = [f for f in report.active_findings if f.rule.id == "WG536"]
    assert len(unchecked) == 1 and expected in unchecked[0].message


def test_a_reviewed_template_is_waived_by_the_artifact_digest_like_any_finding(ws):
    art = ws.artifact("a", files=_files(**{"chat_template.jinja": b"{{ message|attr('content') }}"}))
    digest = artifact_digest((e["path"], e["sha256"], e["size"]) for e in art["files"])
    waiver = {"rule": "WG535", "digest": digest, "reason": "reviewed in SEC-7", "expires": "2026-12-31",
              "approved_by": "sec@example.com"}
    report = ws.check(ws.write_manifest([art]), policy=ws.write_policy(waivers=[waiver]))
    assert rule_ids(report) == [] and [w.rule_id for w in report.waivers_used] == ["WG535"]


@pytest.mark.parametrize(
    ("path", "name"),
    [("chat_template.jinja", "chat_template"), ("tok/chat_template.jinja", "chat_template"),
     ("additional_chat_templates/tool_use.jinja", "chat_template.tool_use"),
     ("templates/tool_chat_template_llama3.J2", "chat_template.tool_chat_template_llama3"),
     ("README.md", None), ("chat_template.json", None), ("chat_template.jinja.txt", None)],
)
def test_template_role_comes_from_the_path(path, name):
    assert template_name(path) == name
