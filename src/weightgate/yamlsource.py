"""Plain-data YAML with a line for every node.

Manifests and policies are untrusted input: only the YAML core schema's plain types are accepted (no
custom or Python tags), duplicate keys are an error rather than last-wins, and alias expansion and nesting
are bounded so a billion-laughs document fails fast.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightgate.errors import InputFileError
from weightgate.inputfiles import read_input
from weightgate.strictjson import strict_json

if TYPE_CHECKING:
    import yaml

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
MAX_NODES = 1_000_000  # after alias expansion
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
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
    text: str = field(default="", repr=False, compare=False)  # as read, e.g. for the policy's digest

    def line_of(self, key: PathKey) -> int:
        """The line of `key`, or of its nearest ancestor that exists (schema errors name missing keys)."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)


def located_json(doc: LocatedDocument) -> str:
    """`doc` as JSON: the sha256 of its text, its data and the line of every path. Only for documents whose
    data JSON holds exactly (dates are already strings here; a float that JSON changes is refused)."""
    twin = {"text_sha256": hashlib.sha256(doc.text.encode()).hexdigest(), "data": doc.data,
            "lines": [[list(key), line] for key, line in doc.lines.items()]}
    text = json.dumps(twin, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if strict_json(text, "policy twin")["data"] != doc.data:
        raise ValueError("the document's data does not survive JSON")
    return text


def from_located_json(twin: str, text: str, path: Path) -> LocatedDocument | None:
    """The document `located_json` wrote for `text`, or None when it was written for another text."""
    parsed = strict_json(twin, "policy twin")
    if parsed["text_sha256"] != hashlib.sha256(text.encode()).hexdigest():
        return None
    return LocatedDocument(path, parsed["data"], {tuple(key): line for key, line in parsed["lines"]}, text)


def load_document(path: Path, what: str) -> LocatedDocument:
    raw = read_input(path, MAX_DOCUMENT_BYTES, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{path}: {what} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    return parse_document(text, path, what)


def parse_document(text: str, path: Path, what: str) -> LocatedDocument:
    import yaml  # here, not at the top: a scan with the built-in policy never parses YAML (start-up, issue 18)

    # libyaml's parser when PyYAML was built with it (10-20x faster on large manifests); same safe constructors.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    builder = _Builder(loader, path)
    try:
        data = builder.build(_events(loader))
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 1
        raise InputFileError(f"{path}:{line}: {what} is not valid YAML: {e.problem}") from e
    except yaml.YAMLError as e:
        raise InputFileError(f"{path}: {what} is not valid YAML: {e}") from e
    finally:
        loader.dispose()
    if data is _EMPTY:
        raise InputFileError(f"{path}: {what} is empty", hint=f"write a YAML mapping; see the {what} schema")
    return LocatedDocument(path, data, builder.lines, text)


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 1


def _events(loader: Any) -> Iterator[yaml.Event]:
    # get_event() is None after the stream's end, in libyaml's parser and in PyYAML's own: one call per event
    # instead of check_event() + get_event() (a large manifest has hundreds of thousands of events).
    get_event = loader.get_event
    while (event := get_event()) is not None:
        yield event


_EMPTY = object()


@dataclass
class _Container:
    """A mapping or sequence being built, with where it sits and how many nodes it holds (for anchors)."""

    value: dict[str, Any] | list[Any]
    key: PathKey
    anchor: str | None
    start_count: int
    pending_key: str | None = None


class _Builder:
    """Builds plain data from parser events (libyaml emits events far faster than it composes nodes), with
    an explicit stack so nesting is bounded by MAX_DEPTH rather than by Python's recursion limit."""

    def __init__(self, loader: Any, path: Path) -> None:
        import yaml

        self.yaml = yaml
        self.loader = loader
        self.path = path
        self.lines: dict[PathKey, int] = {}
        self.count = 0
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.stack: list[_Container] = []
        self.root: Any = _EMPTY
        self.documents = 0
        self._resolved: dict[str, str] = {}  # plain scalar text -> its implicit tag

    def _fail(self, event: yaml.Event, message: str, hint: str = "") -> InputFileError:
        return InputFileError(f"{self.path}:{_line(event)}: {message}", hint=hint)

    def build(self, events: Iterator[yaml.Event]) -> Any:
        # Scalars are most events of a large manifest: they are tested first, by exact type (libyaml's events
        # are never subclassed), and handled inline (issue 18: building was a third of an offline check).
        import yaml

        scalar = yaml.ScalarEvent
        for event in events:
            if type(event) is scalar:
                self._scalar_event(event)
            elif isinstance(event, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    raise self._fail(event, "expected a single YAML document", hint="remove the extra '---'")
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                self._open(event)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                self._close()
            elif isinstance(event, scalar):
                self._scalar_event(event)
            elif isinstance(event, yaml.AliasEvent):
                self._alias(event)
        return self.root

    def _count(self, event: yaml.Event, nodes: int = 1) -> None:
        self.count += nodes
        if self.count > MAX_NODES:
            raise self._fail(event, f"document expands to more than {MAX_NODES} nodes (alias bomb?)")

    def _slot(self, event: yaml.Event) -> PathKey:
        """The path of the value this event starts, recording its line."""
        if not self.stack:
            key: PathKey = ()
        else:
            parent = self.stack[-1]
            if isinstance(parent.value, list):
                key = (*parent.key, len(parent.value))
            else:
                assert parent.pending_key is not None
                key = (*parent.key, parent.pending_key)
        self.lines.setdefault(key, _line(event))
        return key

    def _place(self, value: Any) -> None:
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            parent.value.append(value)
        else:
            assert parent.pending_key is not None
            parent.value[parent.pending_key] = value
            parent.pending_key = None

    def _expecting_key(self) -> bool:
        return bool(self.stack) and isinstance(self.stack[-1].value, dict) and self.stack[-1].pending_key is None

    def _open(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent) -> None:
        is_map = isinstance(event, self.yaml.MappingStartEvent)
        if self._expecting_key():
            raise self._fail(event, "mapping keys must be plain strings")
        expected = "tag:yaml.org,2002:map" if is_map else "tag:yaml.org,2002:seq"
        if event.tag not in (None, "!", expected):
            raise self._fail(event, f"tag {event.tag!r} is not allowed",
                             hint="use plain YAML mappings" if is_map else "use plain YAML lists")
        if len(self.stack) >= MAX_DEPTH:
            raise self._fail(event, f"document nests deeper than {MAX_DEPTH} levels")
        self._count(event)
        key = self._slot(event)
        self.stack.append(_Container({} if is_map else [], key, event.anchor, self.count))

    def _close(self) -> None:
        done = self.stack.pop()
        if done.anchor is not None:
            self.anchors[done.anchor] = (done.value, self.count - done.start_count + 1)
        self._place(done.value)

    def _scalar_event(self, event: yaml.ScalarEvent) -> None:
        self._count(event)
        stack = self.stack
        if not stack:
            self._slot(event)
            self.root = self._scalar(event)
            if event.anchor is not None:
                self.anchors[event.anchor] = (self.root, 1)
            return
        parent = stack[-1]
        container = parent.value
        if isinstance(container, dict):
            if parent.pending_key is None:
                self._key(event)
                return
            key: PathKey = (*parent.key, parent.pending_key)
        else:
            key = (*parent.key, len(container))
        self.lines.setdefault(key, _line(event))
        value = self._scalar(event)
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1)
        if isinstance(container, dict):
            assert parent.pending_key is not None
            container[parent.pending_key] = value
            parent.pending_key = None
        else:
            container.append(value)

    def _key(self, event: yaml.ScalarEvent) -> None:
        parent = self.stack[-1]
        if event.tag is None and not event.implicit[0]:
            name = event.value  # a quoted key is its text (a merge key is plain)
        else:
            if self._tag(event) == "tag:yaml.org,2002:merge":
                raise self._fail(event, "merge keys (<<) are not allowed", hint="write the fields out")
            scalar = self._scalar(event)
            if not isinstance(scalar, (str, int)) or isinstance(scalar, bool):
                raise self._fail(event, "mapping keys must be plain strings")
            name = str(scalar)
        assert isinstance(parent.value, dict)
        if name in parent.value:
            raise self._fail(event, f"duplicate key {name!r}", hint="YAML keys must be unique")
        parent.pending_key = name
        key = (*parent.key, name)
        self.lines[key] = _line(event)

    def _alias(self, event: yaml.AliasEvent) -> None:
        if event.anchor not in self.anchors:
            raise self._fail(event, f"unknown alias {event.anchor!r}")
        value, nodes = self.anchors[event.anchor]
        if self._expecting_key():
            raise self._fail(event, "mapping keys must be plain strings")
        self._count(event, nodes)
        self._slot(event)
        self._place(value)

    def _tag(self, event: yaml.ScalarEvent) -> str:
        if event.tag is None or event.tag == "!":
            if not event.implicit[0]:
                return _STR  # quoted: no implicit resolver applies (the safe loader has no path resolvers)
            value = event.value
            tag = self._resolved.get(value)
            if tag is None:
                tag = str(self.loader.resolve(self.yaml.ScalarNode, value, event.implicit))
                if len(value) <= 64 and len(self._resolved) < 4096:  # keys and short values repeat
                    self._resolved[value] = tag
            return tag
        return str(event.tag)

    def _scalar(self, event: yaml.ScalarEvent) -> Hashable:
        if event.tag is None and not event.implicit[0]:
            return str(event.value)  # quoted, untagged: a string, the most common scalar of a large manifest
        tag = self._tag(event)
        if tag not in _PLAIN_TAGS:
            raise self._fail(event, f"tag {tag!r} is not allowed", hint="use plain YAML values")
        if tag == _STR:
            return str(event.value)
        node = self.yaml.ScalarNode(tag, event.value, style=event.style)
        value = self.loader.yaml_constructors[tag](self.loader, node)
        # Dates stay strings: the schemas validate them as ISO dates and the models parse them.
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()
        return value  # type: ignore[no-any-return]
