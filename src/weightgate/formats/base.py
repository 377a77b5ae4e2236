"""What an inspector is: a streaming consumer of one file's bytes that returns facts and issues.

Inspectors never open files: the verify pass feeds them the bytes it is already hashing, so the same
inspector serves every mirror kind and every byte is read once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from weightgate.formats import Format
from weightgate.rules import Rule, Severity

# The details key under which a config's custom-code entries (auto_map, custom_pipelines) are recorded.
CUSTOM_CODE_DETAIL = "custom_code_keys"


@dataclass(frozen=True)
class Issue:
    """Something an inspector found in the bytes; the verify pass turns it into a located Finding."""

    rule: Rule
    message: str
    severity_override: Severity | None = None
    evidence: tuple[tuple[str, str], ...] = ()
    confidence: str = "certain"  # or "heuristic": a reviewer weighs a pattern match differently from a parse


@dataclass
class Inspection:
    """An inspector's verdict on one file: its final format, facts worth recording, and issues."""

    format: Format
    details: dict[str, str] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)


class Inspector(Protocol):
    def feed(self, chunk: memoryview) -> None:
        """Consume the next bytes of the file (the first call starts at offset 0)."""

    def finish(self) -> Inspection:
        """Called once at end of file; returns the final verdict."""
