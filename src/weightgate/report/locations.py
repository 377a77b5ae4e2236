"""Locations in published reports as the repository names them, never as the runner saw them.

Every JSON report (the JSON report, the ML-BOM, SARIF, decision records) passes through `portable` before it
is written: a `file://` URI becomes a path relative to the source root (the repository), the source root's
absolute path inside free text is cut to the relative rest, and network URIs lose their credentials. So the
same inputs checked out in two places give the same bytes, and no runner path reaches published evidence.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from weightgate.textsafety import redact_urls


def portable(value: Any, source_root: Path) -> Any:
    """`value` (a JSON document: dicts, lists, strings, numbers) with every location made portable."""
    root = source_root.resolve()
    return _walk(value, root, (root.as_uri().rstrip("/") + "/", str(root).rstrip("/") + "/"))


def _walk(value: Any, root: Path, prefixes: tuple[str, str]) -> Any:
    if isinstance(value, str):
        return portable_text(value, root, prefixes)
    if isinstance(value, dict):
        return {k: _walk(v, root, prefixes) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, root, prefixes) for v in value]
    return value


def portable_uri(uri: str, source_root: Path) -> str:
    """One URI: a `file://` one relative to the source root (its fragment kept), a network one redacted."""
    root = source_root.resolve()
    return portable_text(uri, root, (root.as_uri().rstrip("/") + "/", str(root).rstrip("/") + "/"))


def portable_text(text: str, root: Path, prefixes: tuple[str, str]) -> str:
    if text.startswith("file:") and not any(c.isspace() for c in text):
        return _relative_file_uri(text, root)
    if "/" not in text:
        return text
    text = redact_urls(text)
    for prefix in prefixes:  # free text (a reason, a message) quoting a path inside the repository
        text = text.replace(prefix, "")
    return text


def _relative_file_uri(uri: str, root: Path) -> str:
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if not path.startswith("/"):
        return uri
    relative = Path(os.path.relpath(path, root)).as_posix()
    if path.endswith("/") and relative != ".":
        relative += "/"
    return relative + (f"#{parts.fragment}" if parts.fragment else "")
