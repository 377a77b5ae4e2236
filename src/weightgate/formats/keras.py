"""Keras model configs (`.keras` v3 `config.json`, legacy `.h5` `model_config`) judged without Keras.

Keras rebuilds a model by walking its JSON config: every `{"class_name", "config", "module",
"registered_name"}` object names a class or function that is looked up (and in older versions imported)
and called. What makes a config dangerous is therefore visible in the JSON itself:
- Python code: a `Lambda` layer or `__lambda__` object carries base64 marshalled bytecode that Keras runs
  when loaded with `safe_mode=False` (keras/src/layers/core/lambda_layer.py, serialization_lib.py);
- code outside Keras: a module or registered name outside the Keras packages (CVE-2025-1550: Keras < 3.9
  imported any module the config named, even in safe mode);
- safe-mode bypasses: Keras functions that switch safe mode off or load other files, the ones Keras itself
  now refuses while deserializing (`LOADING_APIS` in serialization_lib.py; CVE-2025-9906, CVE-2025-8747).
The JSON is parsed with the stdlib, bounded, and walked iteratively; bytecode is never unmarshalled.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from weightgate.formats.base import Issue
from weightgate.rules import (
    KERAS_CUSTOM_OBJECT,
    KERAS_LAMBDA,
    KERAS_LAYER_LOADS_FILE,
    KERAS_UNSAFE_DESERIALIZATION,
    MALFORMED_FILE,
    Severity,
)

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # real configs are kilobytes to a few megabytes
MAX_CONFIG_NODES = 2_000_000  # JSON values walked per config
MAX_ISSUES = 50
MAX_SHOWN_CHARS = 120
MAX_CODE_NAMES = 20

# Packages whose classes Keras itself ships (tf_keras is Keras 2 as packaged for TensorFlow >= 2.16).
KERAS_PACKAGES = ("keras", "keras_hub", "keras_nlp", "keras_cv", "tf_keras", "tensorflow.keras",
                  "tensorflow.python.keras")
# Functions Keras refuses to call while deserializing, by name (serialization_lib.LOADING_APIS).
LOADING_FUNCTIONS = frozenset({"enable_unsafe_deserialization", "load_model", "load_img", "load_weights",
                               "get_file"})
# Modules that run code or touch the host by themselves: a config naming them is an attack, not a custom layer.
CODE_RUNNING_MODULES = frozenset({
    "builtins", "os", "posix", "nt", "subprocess", "sys", "importlib", "runpy", "pickle", "marshal", "shutil",
    "socket", "ctypes", "code", "codeop", "pty", "webbrowser", "pip", "types", "functools", "operator",
})
LAMBDA_CLASS, LAMBDA_OBJECT, FUNCTION_CLASS = "Lambda", "__lambda__", "function"
# Built-in layers that read a file named in their config when the model is built, safe mode or not:
# the lookup layers read a `vocabulary` given as a path (CVE-2025-12058); Keras Hub tokenizers read their
# vocabulary, merges or SentencePiece proto the same way.
PATH_FIELDS_BY_CLASS: dict[str, tuple[str, ...]] = {
    "StringLookup": ("vocabulary",), "IntegerLookup": ("vocabulary",), "TextVectorization": ("vocabulary",),
}
TOKENIZER_PATH_FIELDS: tuple[str, ...] = ("vocabulary", "merges", "proto", "spm_proto")
# Layers that load another model: TFSMLayer restores a SavedModel from its `filepath` and runs its graph
# (CVE-2026-1462).
MODEL_LOADING_CLASSES = frozenset({"TFSMLayer"})
IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]{1,63}")


@dataclass(frozen=True)
class _Node:
    """A serialized Keras object: `{"class_name": ..., "config": ..., "module": ..., ...}`."""

    class_name: str
    module: str | None
    registered_name: str | None
    config: object
    label: str  # how messages name it: `Lambda layer 'lambda_1'`


def keras_config_issues(config: bytes) -> list[Issue]:
    """Issues for a Keras config (`config.json` of a `.keras` file, or an `.h5` model_config)."""
    if len(config) > MAX_CONFIG_BYTES:
        return [Issue(MALFORMED_FILE, f"Keras config is {len(config)} bytes, over the {MAX_CONFIG_BYTES}-byte "
                      "limit; it was not checked")]
    try:
        value = json.loads(config.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return [Issue(MALFORMED_FILE, f"Keras config is not valid JSON ({type(exc).__name__}); it was not checked")]
    return config_value_issues(value)


def config_value_issues(value: object) -> list[Issue]:
    """Issues for an already parsed Keras config value."""
    issues: list[Issue] = []
    for issue in _walk(value):
        if len(issues) == MAX_ISSUES:
            issues.append(Issue(issue.rule, f"more than {MAX_ISSUES} Keras config problems; the rest are not "
                                "listed"))
            break
        issues.append(issue)
    return issues


def _walk(value: object) -> Iterator[Issue]:
    stack = [value]
    seen = 0
    handled: set[int] = set()  # `__lambda__` objects already reported as part of their Lambda layer
    while stack:
        seen += 1
        if seen > MAX_CONFIG_NODES:
            yield Issue(MALFORMED_FILE, f"Keras config has more than {MAX_CONFIG_NODES} values; the rest was not "
                        "checked")
            return
        item = stack.pop()
        if isinstance(item, dict):
            node = _as_node(item)
            if node is not None and id(item) not in handled:
                yield from _node_issues(node, handled)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _as_node(item: dict[str, object]) -> _Node | None:
    class_name = item.get("class_name")
    if not isinstance(class_name, str):
        return None
    module, registered = item.get("module"), item.get("registered_name")
    inner = item.get("config")
    name = inner.get("name") if isinstance(inner, dict) else None
    label = f"{class_name} {'object' if class_name.startswith('__') else 'layer'}"
    if class_name == FUNCTION_CLASS:
        label = f"function {inner!r}" if isinstance(inner, str) else "function"
    elif isinstance(name, str):
        label += f" {_shown(name)!r}"
    return _Node(class_name, module if isinstance(module, str) else None,
                 registered if isinstance(registered, str) else None, inner, label)


def _node_issues(node: _Node, handled: set[int]) -> Iterator[Issue]:
    if node.class_name == LAMBDA_OBJECT:
        yield _lambda_issue(node.label, node.config)
    elif node.class_name == LAMBDA_CLASS and _is_keras(node.module):
        yield from _lambda_layer_issues(node, handled)
    elif node.class_name == FUNCTION_CLASS:
        yield from _function_issues(node)
    else:
        yield from _class_issues(node)


def _lambda_layer_issues(node: _Node, handled: set[int]) -> Iterator[Issue]:
    inner = node.config if isinstance(node.config, dict) else {}
    for field in ("function", "output_shape", "mask"):
        value = inner.get(field)
        if isinstance(value, dict) and value.get("class_name") == LAMBDA_OBJECT:  # Keras 3
            handled.add(id(value))
            yield _lambda_issue(f"{node.label} ({field})", value.get("config"))
    # Keras 2 (legacy .h5): "function": [base64 code, defaults, closure] with "function_type": "lambda".
    if inner.get("function_type") == "lambda":
        yield _lambda_issue(f"{node.label} (function)", inner.get("function"))
    elif inner.get("function_type") == FUNCTION_CLASS and not _is_keras(_str(inner.get("module"))):
        module = _str(inner.get("module")) or "an unknown module"
        yield Issue(KERAS_CUSTOM_OBJECT, f"{node.label} calls function {_shown(str(inner.get('function')))!r} "
                    f"from {_shown(module)}", evidence=(("module", module), ("object", node.label)))


def _lambda_issue(label: str, payload: object) -> Issue:
    """WG520 with what can be seen of the bytecode without unmarshalling it: its size and the identifiers
    it mentions (names like `os` or `system` tell a reviewer a lot)."""
    code = _code_text(payload)
    evidence: list[tuple[str, str]] = [("object", label), ("loads_only_with", "safe_mode=False")]
    raw = _decode_base64(code) if code else None
    if raw is not None:
        names = list(dict.fromkeys(m.group().decode() for m in IDENTIFIER.finditer(raw)))[:MAX_CODE_NAMES]
        evidence += [("code_bytes", str(len(raw))), ("code_names", ",".join(names))]
    return Issue(KERAS_LAMBDA, f"{label} carries Python bytecode that runs when the model is loaded",
                 evidence=tuple(evidence))


def _code_text(payload: object) -> str | None:
    if isinstance(payload, str):
        return payload
    if isinstance(payload, list | tuple) and payload and isinstance(payload[0], str):
        return payload[0]
    if isinstance(payload, dict):  # {"code": ...} in a Lambda layer, {"value": [code, ...]} elsewhere
        return _code_text(payload.get("code", payload.get("value")))
    return None


def _decode_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _function_issues(node: _Node) -> Iterator[Issue]:
    name = node.config if isinstance(node.config, str) else ""
    module = node.module
    if name in LOADING_FUNCTIONS and (module is None or _is_keras(module)):
        yield Issue(KERAS_UNSAFE_DESERIALIZATION, f"the config calls {_shown((module or 'keras') + '.' + name)}, "
                    "which switches safe mode off or loads other files", evidence=(("function", name),))
    elif module == "builtins":
        return  # Keras resolves these names only among its own activations, losses, metrics...
    elif module is not None and not _is_keras(module):
        yield _outside_keras(node, module, f"function {_shown(name)!r}")
    elif _custom_registration(node.registered_name):
        yield _outside_keras(node, node.registered_name or "", f"function {_shown(name)!r}")


def _class_issues(node: _Node) -> Iterator[Issue]:
    yield from _file_loading_issues(node)
    if node.module is not None and not _is_keras(node.module):
        yield _outside_keras(node, node.module, node.label)
    elif _custom_registration(node.registered_name):
        yield _outside_keras(node, node.registered_name or "", node.label)


def _file_loading_issues(node: _Node) -> Iterator[Issue]:
    """WG538: built-in layers whose config names a file to read or a model to load."""
    inner = node.config if isinstance(node.config, dict) else {}
    if node.class_name in MODEL_LOADING_CLASSES:
        path = _str(inner.get("filepath")) or "an unnamed path"
        yield Issue(KERAS_LAYER_LOADS_FILE, f"{node.label} loads the SavedModel at {_shown(path)!r} and runs its "
                    "graph when the model is loaded", evidence=(("object", node.label), ("path", _shown(path))))
        return
    fields = PATH_FIELDS_BY_CLASS.get(node.class_name)
    if fields is None and node.class_name.endswith("Tokenizer"):
        fields = TOKENIZER_PATH_FIELDS
    for field in fields or ():
        named = inner.get(field)
        if isinstance(named, str) and named:
            yield Issue(KERAS_LAYER_LOADS_FILE, f"{node.label} reads its `{field}` from the file {_shown(named)!r} "
                        "when the model is loaded", evidence=(("object", node.label), ("field", field),
                                                              ("path", _shown(named))))


def _outside_keras(node: _Node, origin: str, what: str) -> Issue:
    top = origin.split(".", 1)[0].split(">", 1)[0]
    severity = Severity.CRITICAL if top in CODE_RUNNING_MODULES else None
    return Issue(KERAS_CUSTOM_OBJECT, f"{what} comes from {_shown(origin)}, outside Keras; loading the model runs "
                 "that code", severity_override=severity,
                 evidence=(("origin", origin), ("class_name", node.class_name)))


def _custom_registration(registered: str | None) -> bool:
    """`package>Name` names a class registered by a package; only the Keras packages are Keras's own."""
    if registered is None or ">" not in registered:
        return False
    return not _is_keras(registered.split(">", 1)[0])


def _is_keras(module: str | None) -> bool:
    """True for the Keras packages; a missing module (Keras 2 configs) is resolved by class name in Keras."""
    if module is None:
        return True
    return any(module == package or module.startswith(package + ".") for package in KERAS_PACKAGES)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _shown(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


# --- legacy HDF5 (.h5): the config found by scanning the bytes ---------------------------------------------

# How the scan finds configs without an HDF5 library: Keras writes `model_config` as one JSON string
# attribute, which HDF5 stores as plain contiguous bytes (inline in the root group's header, or in a global
# heap when written as a variable-length string). Every JSON object in the stream (an opening brace and a key)
# is captured whole, bounded, parsed and judged like a `.keras` config; binary that merely looks like a start
# is dropped at its first control byte, which JSON never contains. A `model_config` attribute without any
# readable config fails closed, and Lambda tokens seen anywhere are reported even when no config parsed.
OBJECT_START = re.compile(rb'\{\s{0,64}"[^"\x00-\x1f]{0,256}"\s{0,64}:')
MODEL_CONFIG_ATTRIBUTE = b"model_config\x00"
LAMBDA_TOKEN_STARTS = (b'"class_name"', b'"function_type"')
LAMBDA_TOKEN = re.compile(rb'"class_name"\s{0,16}:\s{0,16}"(?:Lambda|__lambda__)"'
                          rb'|"function_type"\s{0,16}:\s{0,16}"lambda"')
SCAN_OVERLAP = 512  # longer than every start pattern and token, so none is missed where two chunks meet
MAX_CAPTURES = 256  # JSON objects parsed per file (a Keras .h5 has two or three)
MAX_FALSE_STARTS = 100_000  # starts dropped as binary; each costs a re-scan of the bytes it covered
# Structural characters, and the control bytes that end a false start (JSON allows only tab, LF and CR).
JSON_SPECIAL = re.compile(rb'["\\{}\x00-\x08\x0b\x0c\x0e-\x1f]')
SCAN_EVIDENCE = (("method", "byte scan of the HDF5 file for Keras config JSON"),)


class _JsonCapture:
    """Collects one JSON object from its opening brace to the matching closing one, across chunks."""

    def __init__(self, start: int) -> None:
        self.start = start  # absolute offset of the opening brace
        self.buf = bytearray()  # the bytes of earlier chunks
        self.depth = 0
        self.in_string = False
        self.skip_next = False  # a backslash ended the previous chunk: the next byte is escaped
        self.too_large = False
        self.not_json = False

    def feed(self, data: bytes, start: int) -> int | None:
        """Consume data[start:]; the index just past the closing brace (or past the byte that shows this is
        not JSON), or None while the object goes on."""
        pos = start
        if self.skip_next and pos < len(data):
            pos, self.skip_next = pos + 1, False
        while (match := JSON_SPECIAL.search(data, pos)) is not None:
            at, char = match.start(), data[match.start()]
            pos = at + 1
            if char < 0x20:
                self.not_json = True
                return pos
            if self.in_string:
                if char == ord("\\"):
                    self.skip_next = pos >= len(data)
                    pos += 1
                elif char == ord('"'):
                    self.in_string = False
            elif char == ord('"'):
                self.in_string = True
            elif char == ord("{"):
                self.depth += 1
            elif char == ord("}"):
                self.depth -= 1
                if self.depth == 0:
                    return pos
        if len(self.buf) + len(data) - start > MAX_CONFIG_BYTES:
            self.too_large = True
            return len(data)
        self.buf += data[start:]
        return None


class KerasConfigScanner:
    """Streams over a file's bytes and judges the Keras config JSON found in them (used for legacy `.h5`)."""

    def __init__(self) -> None:
        self._carry = b""  # the last SCAN_OVERLAP bytes, already scanned
        self._offset = 0  # bytes fed so far
        self._search_from = 0  # absolute offset where the next object may start
        self._capture: _JsonCapture | None = None
        self._captures = 0
        self._false_starts = 0
        self._too_large = 0
        self._configs = 0
        self._model_class: str | None = None
        self._issues: list[Issue] = []
        self._attribute_seen = False
        self._lambda_tokens: list[int] = []  # offsets

    def feed(self, chunk: memoryview) -> None:
        data = self._carry + bytes(chunk)
        base = self._offset - len(self._carry)
        self._scan_tokens(data, base, len(self._carry))
        # An open capture continues with the new bytes; otherwise the search resumes where it stopped (a start
        # cut by the previous chunk's end lies in the carried bytes).
        pos = len(self._carry) if self._capture is not None else max(0, self._search_from - base)
        while pos < len(data) and self._scanning:
            if self._capture is None:
                match = OBJECT_START.search(data, pos)
                if match is None:
                    pos = max(pos, len(data) - SCAN_OVERLAP)
                    break
                self._capture = _JsonCapture(base + match.start())
                pos = match.start()
            capture, fed_from = self._capture, pos
            end = capture.feed(data, pos)
            if end is None:
                pos = len(data)
                break
            self._capture = None
            if capture.not_json:
                # A real object may start inside the bytes this false start covered: scan them again.
                self._false_starts += 1
                data = bytes(capture.buf) + data[fed_from:]
                base, pos = capture.start, 1
            else:
                self._close_capture(capture, data[fed_from:end])
                pos = end
        self._search_from = base + pos
        self._offset += len(chunk)
        self._carry = data[-SCAN_OVERLAP:]

    @property
    def _scanning(self) -> bool:
        return self._captures < MAX_CAPTURES and self._false_starts < MAX_FALSE_STARTS

    def _close_capture(self, capture: _JsonCapture, last: bytes) -> None:
        self._captures += 1
        if capture.too_large:
            self._too_large += 1
        else:
            self._judge(_parse_json(bytes(capture.buf) + last))

    def _judge(self, value: object) -> None:
        if not isinstance(value, dict):
            return  # binary that happened to look like JSON
        issues = config_value_issues(value)
        if _mentions_class_name(value):
            self._configs += 1
        if self._model_class is None and isinstance(value.get("class_name"), str) and "config" in value:
            self._model_class = _shown(value["class_name"])
        room = MAX_ISSUES + 1 - len(self._issues)
        self._issues += [_heuristic(issue) for issue in issues][:max(0, room)]

    def _scan_tokens(self, data: bytes, base: int, old: int) -> None:
        """Record Lambda tokens and the model_config attribute name not already seen in the carried bytes."""
        if not self._attribute_seen and data.find(MODEL_CONFIG_ATTRIBUTE) >= 0:
            self._attribute_seen = True
        for start_token in LAMBDA_TOKEN_STARTS:
            at = data.find(start_token)
            while at >= 0 and len(self._lambda_tokens) < MAX_ISSUES:
                match = LAMBDA_TOKEN.match(data, at)
                if match is not None and match.end() > old:
                    self._lambda_tokens.append(base + at)
                at = data.find(start_token, at + 1)

    def finish(self) -> tuple[dict[str, str], list[Issue]]:
        issues = list(self._issues)
        details = {"keras_config": "found" if self._configs else "absent"}
        if self._model_class is not None:
            details["keras_model_class"] = self._model_class
        if self._attribute_seen and not self._configs:
            issues.append(_heuristic(Issue(MALFORMED_FILE, "the file has a model_config attribute but no "
                                           "readable Keras config JSON; the model was not checked")))
        unfinished = self._capture is not None and not self._capture.not_json
        if self._too_large or (unfinished and self._attribute_seen):
            issues.append(_heuristic(Issue(MALFORMED_FILE, "a Keras config JSON in the file is unterminated or "
                                           f"over the {MAX_CONFIG_BYTES}-byte limit; it was not checked")))
        if self._lambda_tokens and not any(i.rule is KERAS_LAMBDA for i in issues):
            issues.append(_heuristic(Issue(KERAS_LAMBDA, f"a Lambda marker at byte {self._lambda_tokens[0]} "
                                           "(the config around it could not be parsed)",
                                           evidence=(("offsets", ",".join(map(str, self._lambda_tokens))),))))
        return details, issues


def _mentions_class_name(value: object) -> bool:
    """True when a parsed JSON value holds a serialized Keras object anywhere (bounded walk)."""
    stack, seen = [value], 0
    while stack and seen < MAX_CONFIG_NODES:
        item, seen = stack.pop(), seen + 1
        if isinstance(item, dict):
            if isinstance(item.get("class_name"), str):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _parse_json(raw: bytes) -> object:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None  # binary that happened to look like the start of a config


def _heuristic(issue: Issue) -> Issue:
    return Issue(issue.rule, issue.message, issue.severity_override, issue.evidence + SCAN_EVIDENCE,
                 confidence="heuristic")
