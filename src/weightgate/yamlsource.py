"""Plain-data YAML with a line for every node.

Manifests and policies are untrusted input: only the YAML core schema's plain types are accepted (no
custom or Python tags), duplicate keys are an error rather than last-wins, and alias expansion and nesting
are bounded so a billion-laughs document fails fast.
"""

from __future__ import annotations

import datetime
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from weightgate.errors import InputFileError

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
MAX_NODES = 1_000_000  # after alias expansion
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


@dataclass(frozen=True)
class LocatedDocument:
    """A parsed document plus the 1-based line of every key and item, addressed by its path."""

    path: Path
    data: Any
    lines: dict[PathKey, int]

    def line_of(self, key: PathKey) -> int:
        """The line of `key`, or of its nearest ancestor that exists (schema errors name missing keys)."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)


def load_document(path: Path, what: str) -> LocatedDocument:
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise InputFileError(f"{path}: {what} is {size} bytes; the limit is {MAX_DOCUMENT_BYTES}")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{path}: {what} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise InputFileError(f"cannot read {what} {path}: {e.strerror or e}") from e
    return parse_document(text, path, what)


def parse_document(text: str, path: Path, what: str) -> LocatedDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputFileError(f"{path}: {what} is empty", hint=f"write a YAML mapping; see the {what} schema")
        builder = _Builder(loader, path)
        data = builder.build(node, (), 0)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 1
        raise InputFileError(f"{path}:{line}: {what} is not valid YAML: {e.problem}") from e
    except yaml.YAMLError as e:
        raise InputFileError(f"{path}: {what} is not valid YAML: {e}") from e
    finally:
        loader.dispose()
    return LocatedDocument(path, data, builder.lines)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, path: Path) -> None:
        self.loader = loader
        self.path = path
        self.lines: dict[PathKey, int] = {}
        self.count = 0

    def _fail(self, node: yaml.Node, message: str, hint: str = "") -> InputFileError:
        return InputFileError(f"{self.path}:{node.start_mark.line + 1}: {message}", hint=hint)

    def build(self, node: yaml.Node, key: PathKey, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self._fail(node, f"document expands to more than {MAX_NODES} nodes (alias bomb?)")
        if depth > MAX_DEPTH:
            raise self._fail(node, f"document nests deeper than {MAX_DEPTH} levels")
        self.lines.setdefault(key, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, key, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise self._fail(node, f"tag {node.tag!r} is not allowed", hint="use plain YAML lists")
            return [self.build(item, (*key, i), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: yaml.MappingNode, key: PathKey, depth: int) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise self._fail(node, f"tag {node.tag!r} is not allowed", hint="use plain YAML mappings")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self._fail(key_node, "merge keys (<<) are not allowed", hint="write the fields out")
            name = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(name, (str, int)) or isinstance(name, bool):
                raise self._fail(key_node, "mapping keys must be plain strings")
            name = str(name)
            if name in result:
                raise self._fail(key_node, f"duplicate key {name!r}", hint="YAML keys must be unique")
            child = (*key, name)
            self.lines[child] = key_node.start_mark.line + 1
            result[name] = self.build(value_node, child, depth + 1)
        return result

    def _scalar(self, node: yaml.Node) -> Hashable:
        if node.tag not in _PLAIN_TAGS:
            raise self._fail(node, f"tag {node.tag!r} is not allowed", hint="use plain YAML values")
        value = self.loader.construct_object(node, deep=True)
        # Dates stay strings: the schemas validate them as ISO dates and the models parse them.
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        return value  # type: ignore[no-any-return]
