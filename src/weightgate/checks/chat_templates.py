"""WG535/WG536 for chat templates saved as their own files, judged like templates inside GGUF or tokenizer configs.

transformers saves the template beside the tokenizer as `chat_template.jinja` and named ones as
`additional_chat_templates/<name>.jinja`, and renders them on every request. Serving stacks also load a
template file by path (vLLM `--chat-template`, llama.cpp `--chat-template-file`), so the name on disk is the
deployer's choice: every `*.jinja` (`*.jinja2`, `*.j2`) file in an artifact is treated as a chat template.
What makes a file a template is its path; its bytes are ordinary text, which the text inspector already
parsed as Jinja in the verify pass (formats/chat_template.py) without knowing the name. Here that verdict
becomes findings on the file's manifest line, and a template that was not parsed (not text, too large)
fails closed. Other text quoting `{{ }}` (a README) is never judged as a template.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from weightgate.checks import CheckContext
from weightgate.checks.formats import issue_findings
from weightgate.facts import FileFacts
from weightgate.findings import Finding, Location

if TYPE_CHECKING:
    from weightgate.policy import Policy

TEMPLATE_SUFFIXES = (".jinja", ".jinja2", ".j2")
DEFAULT_TEMPLATE_STEM = "chat_template"


def template_name(path: str) -> str | None:
    """The name a template file's path gives it, as the GGUF and tokenizer-config facts name templates
    (`chat_template`, `chat_template.tool_use`), or None when the file is not a chat template."""
    filename = path.rsplit("/", 1)[-1]
    suffix = next((s for s in TEMPLATE_SUFFIXES if filename.lower().endswith(s)), None)
    if suffix is None:
        return None
    stem = filename[: -len(suffix)]
    return DEFAULT_TEMPLATE_STEM if stem == DEFAULT_TEMPLATE_STEM else f"{DEFAULT_TEMPLATE_STEM}.{stem}"


def template_file_findings(path: str, facts: FileFacts, policy: Policy, where: Location,
                           artifact_id: str) -> Iterator[Finding]:
    """Findings for one file if its path makes it a chat template (shared with `scan`). Unread files are
    reported by the integrity checks."""
    name = template_name(path)
    if name is None or not facts.verified or facts.format is None:
        return
    # Imported here: every run imports the check modules, and only runs with a template file need the checker.
    from weightgate.formats.chat_template import template_file_issues

    issues = template_file_issues(name, facts.format, facts.size, facts.details)
    yield from issue_findings(issues, policy, where, artifact_id, path)


def chat_template_files(ctx: CheckContext) -> Iterator[Finding]:
    for artifact in ctx.manifest.artifacts:
        facts = ctx.facts.get(artifact.id)
        if facts is None:
            continue
        for pinned, file_facts in zip(artifact.files, facts.files, strict=True):
            yield from template_file_findings(pinned.path, file_facts, ctx.policy,
                                              ctx.manifest.location(pinned.key), artifact.id)


CHECKS = (chat_template_files,)
