"""Configs that name code: Hydra/NeMo `_target_` (WG537) and transformers fields that fetch code (WG539).

Hydra's `instantiate` (which NeMo runs on the `model_config.yaml` inside every `.nemo` archive, and many
training stacks run on their JSON or YAML configs) imports the dotted path in `_target_` and calls it with the
other keys as arguments; `_args_` adds positional arguments and `_partial_` wraps the call in
`functools.partial`. Any importable function is reachable, so `{_target_: os.system, _args_: [...]}` runs a
command when the model is restored (CVE-2025-23304). Targets are judged against a short allowlist of the
constructors real model configs name: `torch.nn` layers and losses, `torch.optim` optimizers and schedulers,
NeMo's collections and core classes, and Megatron-Core configs. Paths into modules that run code or touch the
host are critical; every other target is high, since what it does is outside the reviewed list.

YAML is parsed with PyYAML's safe loader (no Python tags), bounded in size, and walked with a node budget that
counts shared aliases once; a document that does not parse is scanned line by line for `_target_:` instead, so
a malformed file cannot hide a target.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from weightgate.formats.base import Issue
from weightgate.rules import CONFIG_CODE_TARGET, CONFIG_FETCHES_CODE, MALFORMED_FILE, Severity

MAX_YAML_BYTES = 4 * 1024 * 1024  # NeMo model configs are tens of kilobytes
MAX_WALKED_VALUES = 500_000
MAX_ISSUES = 50
MAX_SHOWN_CHARS = 160
TARGET_KEY = "_target_"
TARGET_MARKER = b"_target_"
# Constructors real configs name (Hydra's and NeMo's own examples, every NeMo model card's model_config.yaml).
ALLOWED_TARGET_PREFIXES = ("torch.nn.", "torch.optim.", "nemo.collections.", "nemo.core.", "megatron.core.")
# Even under an allowed prefix: names that load files, restore models or evaluate text are not constructors.
SUSPICIOUS_PARTS = re.compile(r"load|restore|from_pretrained|pickle|exec|eval|system|popen|spawn|import|hub",
                              re.IGNORECASE)
# Top-level modules (or builtins) whose functions run code, start processes, load pickles or touch the host.
CODE_RUNNING_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "importlib", "pickle", "_pickle", "cPickle",
    "marshal", "runpy", "code", "codeop", "pty", "shutil", "socket", "ctypes", "sys", "functools", "operator",
    "types", "pydoc", "webbrowser", "multiprocessing", "asyncio", "pathlib", "io", "tempfile", "urllib",
    "requests", "http", "dill", "cloudpickle", "joblib", "yaml", "hydra", "omegaconf", "eval", "exec",
    "compile", "open", "__import__", "getattr", "setattr", "globals", "breakpoint", "input", "platform", "signal",
})
CODE_RUNNING_TARGETS = frozenset({"torch.load", "torch.hub.load", "torch.jit.load", "numpy.load",
                                  "torch.utils.cpp_extension.load", "torch.utils.cpp_extension.load_inline"})
_YAML_TARGET_LINE = re.compile(rb"""(?m)^[ \t-]*["']?_target_["']?[ \t]*:[ \t]*["']?([^"'\s#,}]+)""")

# --- transformers fields that fetch or run code (WG539) -------------------------------------------------------
TRUST_REMOTE_CODE = "trust_remote_code"
ATTENTION_FIELDS = ("attn_implementation", "_attn_implementation")
REMOTE_CODE_KEYS = ("auto_map", "custom_pipelines")
# A hub repository: `org/name`, optionally `@revision` and `:function`, or anything after `hub:`.
HUB_REPOSITORY = re.compile(r"^(hub:.*|[\w.-]+/[\w.-]+(@[\w./-]+)?(:\w+)?)$")


def target_issues(value: object) -> list[Issue]:
    """WG537 issues for every `_target_` in a parsed JSON or YAML document (bounded walk)."""
    issues: list[Issue] = []
    for issue in _walk_targets(value):
        if len(issues) == MAX_ISSUES:
            issues.append(Issue(issue.rule, f"more than {MAX_ISSUES} `_target_` problems; the rest are not listed",
                                issue.severity_override))
            break
        issues.append(issue)
    return issues


def _walk_targets(value: object) -> Iterator[Issue]:
    stack: list[tuple[object, str]] = [(value, "")]
    seen: set[int] = set()  # YAML aliases share objects: each is walked once
    walked = 0
    while stack:
        item, path = stack.pop()
        if id(item) in seen and isinstance(item, dict | list):
            continue
        seen.add(id(item))
        walked += 1
        if walked > MAX_WALKED_VALUES:
            yield Issue(CONFIG_CODE_TARGET, f"config has more than {MAX_WALKED_VALUES} values; the rest was not "
                        "checked for `_target_`", Severity.HIGH)
            return
        if isinstance(item, dict):
            issue = _target_issue(item[TARGET_KEY], path or "(top level)", item) if TARGET_KEY in item else None
            if issue is not None:
                yield issue
            stack.extend((child, f"{path}.{key}" if path else str(key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(item))


def _target_issue(target: object, path: str, node: dict[object, object]) -> Issue | None:
    extras = ",".join(k for k in ("_args_", "_partial_", "_recursive_", "_convert_") if k in node)
    evidence = (("key", _shown(path)), ("target", _shown(str(target))), *((("with", extras),) if extras else ()))
    if not isinstance(target, str):
        return Issue(CONFIG_CODE_TARGET, f"`_target_` at {_shown(path)} is not a dotted path "
                     f"({type(target).__name__}); what Hydra imports is unknown", Severity.HIGH, evidence)
    verdict = classify_target(target)
    if verdict is None:
        return None  # a known constructor
    severity, why = verdict
    return Issue(CONFIG_CODE_TARGET, f"`_target_` at {_shown(path)} names {_shown(target)!r}, {why}; "
                 "instantiating the config imports and calls it", severity, evidence)


def classify_target(target: str) -> tuple[Severity, str] | None:
    """None for an allowed constructor; else the severity and why."""
    dotted = target.strip()
    top = dotted.split(".", 1)[0]
    if top in CODE_RUNNING_MODULES or dotted in CODE_RUNNING_TARGETS or dotted.startswith("torch.hub."):
        return Severity.CRITICAL, "which runs code, starts processes or reads files"
    parts = dotted.split(".")
    if dotted.startswith(ALLOWED_TARGET_PREFIXES) and all(p.isidentifier() and not p.startswith("_") for p in parts):
        if SUSPICIOUS_PARTS.search(dotted) is None:
            return None
        return Severity.HIGH, "a function that loads or evaluates something, not a constructor"
    return Severity.HIGH, "outside the constructors weightgate knows (torch.nn, torch.optim, nemo, megatron.core)"


def yaml_target_issues(data: bytes | None, size: int) -> list[Issue]:
    """WG537 for YAML text of `size` bytes that mentions `_target_` (callers check for the marker first);
    `data` is None when the text was over MAX_YAML_BYTES and not kept."""
    if data is None or len(data) > MAX_YAML_BYTES:
        return [Issue(CONFIG_CODE_TARGET, f"YAML config with `_target_` is {size} bytes, over the "
                      f"{MAX_YAML_BYTES}-byte limit; its targets were not checked", Severity.HIGH)]
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        documents = list(yaml.load_all(data, Loader=loader))  # a safe loader, chosen above
    except (yaml.YAMLError, ValueError, RecursionError):
        return _scanned_targets(data)
    issues = [i for document in documents for i in target_issues(document)]
    return issues[: MAX_ISSUES + 1]


def _scanned_targets(data: bytes) -> list[Issue]:
    """Targets found line by line in YAML that did not parse (loaders that accept it may still instantiate)."""
    issues = [Issue(MALFORMED_FILE, "YAML config with `_target_` does not parse; its targets were found by "
                    "scanning lines", confidence="heuristic")]
    for match in _YAML_TARGET_LINE.finditer(data):
        target = match.group(1).decode("utf-8", errors="replace")
        verdict = classify_target(target)
        if verdict is not None:
            issues.append(Issue(CONFIG_CODE_TARGET, f"`_target_` names {_shown(target)!r}, {verdict[1]}",
                                verdict[0], (("target", _shown(target)),), confidence="heuristic"))
        if len(issues) > MAX_ISSUES:
            break
    return issues


# --- transformers ---------------------------------------------------------------------------------------------


def fetch_code_issues(config: dict[str, object]) -> list[Issue]:
    """WG539 for a transformers config (and its first-level sub-configs: text_config, vision_config, ...)."""
    issues: list[Issue] = []
    scopes: list[tuple[str, dict[str, object]]] = [("", config)]
    scopes += [(f"{key}.", sub) for key, sub in config.items() if isinstance(sub, dict)][:64]
    for prefix, scope in scopes:
        if scope.get(TRUST_REMOTE_CODE) is True or str(scope.get(TRUST_REMOTE_CODE)).lower() == "true":
            issues.append(_fetch_issue(prefix + TRUST_REMOTE_CODE, scope[TRUST_REMOTE_CODE],
                                       "makes the loader import and run the repository's Python"))
        for field in ATTENTION_FIELDS:
            for where, choice in _attention_choices(prefix + field, scope.get(field)):
                if HUB_REPOSITORY.match(choice):
                    issues.append(_fetch_issue(where, choice, "names a hub repository whose compiled kernel is "
                                               "downloaded and loaded"))
        for key in REMOTE_CODE_KEYS if not prefix else ():
            reference = json.dumps(scope.get(key), sort_keys=True) if key in scope else ""
            if "--" in reference:
                issues.append(_fetch_issue(key, reference, "imports code from another repository"))
    return issues


def _attention_choices(where: str, value: object) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):  # per sub-config: {"text_config": "...", "vision_config": "..."}
        yield from ((f"{where}.{k}", v) for k, v in list(value.items())[:64] if isinstance(v, str))


def _fetch_issue(field: str, value: object, why: str) -> Issue:
    shown = _shown(value if isinstance(value, str) else json.dumps(value))
    return Issue(CONFIG_FETCHES_CODE, f"`{_shown(field)}` is {shown!r}, which {why}",
                 evidence=(("field", _shown(field)), ("value", shown)))


def _shown(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"
