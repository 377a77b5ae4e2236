"""JSON and plain text: JSON is validated whole (bounded), text checked to stay valid UTF-8.

JSON files here are configs and tokenizers, which loaders parse with plain `json` (duplicate keys allowed),
so this validates the same way. A file too large to validate fails closed rather than passing unseen.

Text small enough to be a chat template is kept (bounded) and, when it contains Jinja syntax, parsed as
one: `chat_template.jinja` is only text to the bytes, and this pass never learns file names, so the verdict
is recorded in the facts and judged by checks/chat_templates.py for the files whose path makes them templates.
"""

from __future__ import annotations

import codecs
import json

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Issue
from weightgate.formats.chat_template import MAX_TEMPLATE_FILE_BYTES, jinja_text_details
from weightgate.formats.configcode import MAX_YAML_BYTES, TARGET_MARKER, target_issues, yaml_target_issues
from weightgate.formats.hfconfig import config_facts
from weightgate.rules import MALFORMED_FILE

MAX_JSON_BYTES = 32 * 1024 * 1024
MAX_JSONL_LINE_BYTES = 16 * 1024 * 1024
MAX_LISTED_KEYS = 50
MAX_KEY_CHARS = 100


class JsonInspector:
    """Buffers up to MAX_JSON_BYTES and parses at the end. JSON Lines (one value per line, as datasets are
    shipped) is recognised and, once past the buffer limit, validated line by line as it streams."""

    def __init__(self, size: int) -> None:
        self._buf = bytearray()
        self._too_large = False
        self._lines: _JsonLines | None = None

    def feed(self, chunk: memoryview) -> None:
        if self._too_large:
            return
        if self._lines is not None:
            self._lines.feed(bytes(chunk))
            return
        if len(self._buf) + len(chunk) > MAX_JSON_BYTES:
            data = bytes(self._buf) + bytes(chunk)
            if _first_line_is_a_value(data):
                self._lines = _JsonLines()
                self._lines.feed(data)
            else:
                self._too_large = True
            self._buf = bytearray()
            return
        self._buf += chunk

    def finish(self) -> Inspection:
        if self._lines is not None:
            return self._lines.finish()
        inspection = Inspection(Format.JSON)
        if self._too_large:
            return _malformed(inspection, f"JSON is too large to validate (over {MAX_JSON_BYTES} bytes)")
        try:
            value = json.loads(bytes(self._buf).decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            return _malformed(inspection, f"JSON is not valid UTF-8 (byte {exc.start})")
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data" and _first_line_is_a_value(self._buf):
                lines = _JsonLines()
                lines.feed(bytes(self._buf))
                return lines.finish()
            return _malformed(inspection, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        except RecursionError:
            return _malformed(inspection, "JSON nests too deeply to validate")
        inspection.details.update(_json_details(value))
        # Chat templates (checked as code) and custom-code keys of Hugging Face configs: see hfconfig.
        config_details, config_issues = config_facts(value)
        inspection.details.update(config_details)
        inspection.issues.extend(config_issues)
        if TARGET_MARKER in self._buf:  # Hydra / NeMo configs: only they name `_target_`, and most JSON is large
            inspection.issues.extend(target_issues(value))
        return inspection


def _first_line_is_a_value(data: bytes | bytearray) -> bool:
    newline = data.find(b"\n")
    if newline < 0:
        return False
    try:
        json.loads(bytes(data[:newline]).decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return False
    return True


class _JsonLines:
    """Validates JSON Lines one line at a time; memory is bounded by MAX_JSONL_LINE_BYTES."""

    def __init__(self) -> None:
        self._pending = b""
        self._count = 0
        self._problem: str | None = None

    def feed(self, data: bytes) -> None:
        if self._problem is not None:
            return
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_JSONL_LINE_BYTES:
            self._problem = f"line {self._count + 1} is longer than {MAX_JSONL_LINE_BYTES} bytes"
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        if self._problem is not None or not line.strip():
            return
        self._count += 1
        try:
            json.loads(line.decode("utf-8-sig" if self._count == 1 else "utf-8"))
        except (ValueError, RecursionError) as exc:
            self._problem = f"invalid JSON Lines: line {self._count} is not a JSON value ({type(exc).__name__})"

    def finish(self) -> Inspection:
        self._line(self._pending)
        inspection = Inspection(Format.JSONL, {"records": str(self._count)})
        return _malformed(inspection, self._problem) if self._problem else inspection


def _json_details(value: object) -> dict[str, str]:
    if isinstance(value, dict):
        # Top-level keys let checks spot e.g. `auto_map` (custom code) without re-reading the file.
        keys = [str(key)[:MAX_KEY_CHARS] for key in list(value)[:MAX_LISTED_KEYS]]
        return {"top_level": "object", "top_level_keys": ",".join(keys)}
    return {"top_level": "array" if isinstance(value, list) else type(value).__name__}


class TextInspector:
    """Checks UTF-8 validity incrementally; a file that stops being text is reclassified as UNKNOWN. Text of
    at most MAX_TEMPLATE_FILE_BYTES is also kept, to be checked as a chat template if it has Jinja syntax."""

    def __init__(self, size: int) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._problem: str | None = None
        self._offset = 0
        # None once the text is known to be larger than any template the checker takes.
        self._kept: bytearray | None = bytearray() if size <= MAX_TEMPLATE_FILE_BYTES else None
        # YAML configs (Hydra, NeMo's model_config.yaml) are judged for `_target_`: kept up to MAX_YAML_BYTES,
        # and past it only whether the marker occurs (a larger config with targets fails closed).
        self._config: bytearray | None = bytearray()
        self._marker_seen = False
        self._tail = b""

    def feed(self, chunk: memoryview) -> None:
        if self._problem is None:
            self._check(bytes(chunk), final=False)
        self._offset += len(chunk)
        if self._problem is None and not self._marker_seen:
            window = self._tail + bytes(chunk)
            self._marker_seen = TARGET_MARKER in window
            self._tail = window[-(len(TARGET_MARKER) - 1):]
        if self._config is not None:
            if self._offset > MAX_YAML_BYTES or self._problem is not None:
                self._config = None
            else:
                self._config += chunk
        if self._kept is not None:
            if self._offset > MAX_TEMPLATE_FILE_BYTES or self._problem is not None:
                self._kept = None
            else:
                self._kept += chunk

    def _check(self, data: bytes, final: bool) -> None:
        nul = data.find(b"\x00")
        if nul >= 0:
            self._problem = f"NUL byte at offset {self._offset + nul}"
            return
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            self._problem = f"invalid UTF-8 near offset {self._offset + exc.start}"

    def finish(self) -> Inspection:
        if self._problem is None:
            self._check(b"", final=True)
        if self._problem is not None:
            return Inspection(Format.UNKNOWN, {"not_text": self._problem})
        details = {"encoding": "utf-8"}
        if self._kept is not None:
            details.update(jinja_text_details(bytes(self._kept)))
        inspection = Inspection(Format.TEXT, details)
        if self._marker_seen:
            data = bytes(self._config) if self._config is not None else None  # None: over MAX_YAML_BYTES
            inspection.issues.extend(yaml_target_issues(data, self._offset))
        return inspection


def _malformed(inspection: Inspection, message: str) -> Inspection:
    inspection.issues.append(Issue(MALFORMED_FILE, message))
    return inspection
