"""Nested content: archive members and decompressed streams, inspected as files of their own.

An archive inspector hands each member's bytes to a fresh sniffing inspector (`Nesting.open`), so a pickle is
found by its content wherever it sits and whatever it is called. One `Budget` per top-level file bounds what
all levels together may expand to and how many members they may hold; `Nesting.depth` bounds how deep
containers may nest. `NestedResults` folds the members' verdicts into the archive's: their issues, prefixed
with where they were found, and the facts worth recording (which members are pickles, which globals they name).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Inspector, Issue
from weightgate.rules import ARCHIVE_MEMBER_UNINSPECTABLE, CONTAINER_LIMIT_EXCEEDED, Severity

MAX_DEPTH = 5  # containers nested deeper than this are not opened
MAX_TOTAL_MEMBERS = 250_000  # archive members across every level of one file
MAX_TOTAL_EXPANDED_BYTES = 64 * 1024**3  # decompressed bytes across every level of one file
MAX_NESTED_ISSUES = 100  # issues kept from the members of one container; the rest are counted
MAX_LISTED = 50

CONTAINER_FORMATS = frozenset({
    Format.ZIP, Format.PYTORCH_ZIP, Format.KERAS_V3, Format.NUMPY_NPZ, Format.TAR, Format.PYTORCH_TAR,
    Format.GZIP, Format.BZIP2, Format.XZ,
})
PICKLE_FORMATS = frozenset({Format.PICKLE, Format.JOBLIB, Format.PYTORCH_ZIP, Format.PYTORCH_TAR})
# Compressed formats weightgate cannot open: inside an archive their content stays unknown.
OPAQUE_FORMATS = frozenset({Format.SEVEN_ZIP, Format.ZSTD})
_SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)

# PyTorch's tensor storage records (<archive>/data/<key>): torch.load reads them as raw bytes through miniz,
# which PyTorch builds with MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS. No loader acts on their CRC or opens them as
# files, so neither is checked: CRC-ing them cost 12 % of a checkpoint's pass and keeping each one's last bytes
# (to find a zip directory at its end) 10 % (issue 18). Pickles, configs and every other member are checked.
TORCH_STORAGE_RECORD = re.compile(r"[^/]+/data/[0-9]+")

InspectorFactory = Callable[[int, "Nesting"], Inspector]


@dataclass
class Budget:
    """What one top-level file's nested content has used so far (shared by every level)."""

    expanded: int = 0
    members: int = 0


@dataclass(frozen=True)
class Nesting:
    """Where an inspector sits: how deep, inside which members, and how to open a member."""

    factory: InspectorFactory
    budget: Budget = field(default_factory=Budget)
    depth: int = 0
    path: tuple[str, ...] = ()
    container: str = ""  # the kind of the enclosing container: "zip", "tar", "gzip", "npy", ...
    # The member is read by its loader as raw bytes (a tensor storage), never opened as a file of its own.
    raw_data: bool = False

    @property
    def too_deep(self) -> bool:
        return self.depth >= MAX_DEPTH

    def child(self, name: str, container: str, raw_data: bool = False) -> Nesting:
        return replace(self, depth=self.depth + 1, path=(*self.path, name), container=container,
                       raw_data=raw_data)

    def open(self, name: str, size: int, container: str, raw_data: bool = False) -> Inspector:
        """A sniffing inspector for a member's content (`size` negative when unknown)."""
        return self.factory(size, self.child(name, container, raw_data))

    def count_member(self) -> bool:
        """Count one more member against the file's budget; False when the budget is spent."""
        self.budget.members += 1
        return self.budget.members <= MAX_TOTAL_MEMBERS


class DepthLimitInspector:
    """Stands in for a container nested too deep: counts its bytes and reports the limit."""

    def __init__(self, fmt: Format, nesting: Nesting) -> None:
        self._format = fmt
        self._depth = nesting.depth

    def feed(self, chunk: memoryview) -> None:
        pass

    def finish(self) -> Inspection:
        return Inspection(self._format, issues=[Issue(
            CONTAINER_LIMIT_EXCEEDED,
            f"{self._format.value} nested {self._depth} levels deep (limit {MAX_DEPTH}); its content is not "
            "inspected",
        )])


class NestedResults:
    """Collects the verdicts of a container's members into the container's issues and details."""

    def __init__(self, label: str) -> None:
        self._label = label  # "zip member", "tar member", "gzip content", ...
        self.issues: list[Issue] = []
        self._omitted: list[Issue] = []
        self._pickle_members: list[str] = []
        self._pickle_count = 0
        self._globals: dict[str, None] = {}  # ordered set

    def add(self, name: str | None, inspection: Inspection) -> None:
        where = f"{self._label} {name!r}" if name is not None else self._label
        evidence = (("member", name),) if name is not None else ()
        issues = list(inspection.issues)
        if inspection.format in OPAQUE_FORMATS:
            issues.append(Issue(ARCHIVE_MEMBER_UNINSPECTABLE, f"is a {inspection.format.value} stream, which "
                                "weightgate cannot open; its content is unknown"))
        for issue in issues:
            located = replace(issue, message=f"{where}: {issue.message}", evidence=evidence + issue.evidence)
            (self.issues if len(self.issues) < MAX_NESTED_ISSUES else self._omitted).append(located)
        if inspection.format in PICKLE_FORMATS or "pickle_globals" in inspection.details:
            self._pickle_count += 1
            if name is not None and len(self._pickle_members) < MAX_LISTED:
                self._pickle_members.append(name)
        for global_name in filter(None, inspection.details.get("pickle_globals", "").split(",")):
            self._globals.setdefault(global_name, None)

    def add_issue(self, issue: Issue) -> None:
        (self.issues if len(self.issues) < MAX_NESTED_ISSUES else self._omitted).append(issue)

    def all_issues(self) -> list[Issue]:
        if not self._omitted:
            return list(self.issues)
        worst = min(self._omitted, key=lambda issue: _SEVERITY_ORDER.index(issue.severity_override
                                                                            or issue.rule.severity))
        summary = Issue(worst.rule, f"{len(self._omitted)} more issues in {self._label}s are not listed "
                                    f"(the first is: {worst.message})", worst.severity_override)
        return [*self.issues, summary]

    def details(self) -> dict[str, str]:
        details: dict[str, str] = {}
        if self._pickle_count:
            details["pickle_members"] = str(self._pickle_count)
        if self._pickle_members:
            details["pickle_member_names"] = ",".join(self._pickle_members)
        if self._globals:
            details["pickle_globals"] = ",".join(list(self._globals)[:MAX_LISTED])
        return details
