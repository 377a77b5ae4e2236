"""Facts from the JSON configs model loaders read: Hugging Face chat templates (checked as code), keys that
need custom code, and Keras model configs.

The JSON inspector parses each JSON file once and hands the value here, so tokenizer_config.json's
`chat_template` is checked in the same streaming pass, and `auto_map` / `custom_pipelines` are recorded
whatever their position among the top-level keys (the listed keys are capped). A document shaped like a
serialized Keras model (`class_name` and `config` at the top) is judged by `keras.config_value_issues`: that
covers the `config.json` member of a `.keras` archive (zip members are inspected like files) and model JSON
saved on its own (`model.to_json()`).
"""

from __future__ import annotations

import json

from weightgate.formats.base import CUSTOM_CODE_DETAIL, Issue
from weightgate.formats.chat_template import template_details, template_issues
from weightgate.formats.configcode import fetch_code_issues
from weightgate.formats.keras import config_value_issues
from weightgate.rules import TEMPLATE_UNCHECKED

TEMPLATE_FIELD = "chat_template"
# Keys that make transformers / diffusers import Python from the repository (trust_remote_code).
CUSTOM_CODE_KEYS = ("auto_map", "custom_pipelines")
MAX_REFERENCE_CHARS = 500
MAX_NAMED_TEMPLATES = 32


def config_facts(value: object) -> tuple[dict[str, str], list[Issue]]:
    """Details and issues for a parsed JSON document (nothing unless it is an object with these keys)."""
    if not isinstance(value, dict):
        return {}, []
    details: dict[str, str] = {}
    issues: list[Issue] = []
    if TEMPLATE_FIELD in value:
        _templates(value[TEMPLATE_FIELD], details, issues)
    if isinstance(value.get("class_name"), str) and "config" in value:
        details["keras_model_class"] = value["class_name"][:MAX_REFERENCE_CHARS]
        issues.extend(config_value_issues(value))
    issues.extend(fetch_code_issues(value))  # trust_remote_code, hub attention kernels, code in other repos
    custom = [key for key in CUSTOM_CODE_KEYS if key in value]
    if custom:
        details[CUSTOM_CODE_DETAIL] = ",".join(custom)
        for key in custom:  # what the code references are ("modeling_x.Model", "other/repo--x.Model")
            details[key] = json.dumps(value[key], sort_keys=True)[:MAX_REFERENCE_CHARS]
    return details, issues


def _templates(field: object, details: dict[str, str], issues: list[Issue]) -> None:
    """`chat_template` is one string, or a list of {"name", "template"} (transformers' named templates)."""
    named = _named_templates(field)
    if named is None:
        issues.append(Issue(TEMPLATE_UNCHECKED, f"{TEMPLATE_FIELD} is neither a string nor a list of named "
                            "templates, so what loaders render is unknown"))
        return
    details["has_chat_template"] = "true"
    for name, text in named:
        # Same names as the GGUF inspector: chat_template, chat_template.tool_use, ...
        detail = TEMPLATE_FIELD if name == "default" else f"{TEMPLATE_FIELD}.{name}"
        details.update(template_details(detail, text))
        issues.extend(template_issues(detail, text))


def _named_templates(field: object) -> list[tuple[str, str]] | None:
    if isinstance(field, str):
        return [("default", field)]
    if not isinstance(field, list) or len(field) > MAX_NAMED_TEMPLATES:
        return None
    named = []
    for entry in field:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                and isinstance(entry.get("template"), str)):
            return None
        named.append((entry["name"], entry["template"]))
    return named
