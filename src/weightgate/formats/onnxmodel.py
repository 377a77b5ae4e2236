"""ONNX models walked as they stream: external data locations and operator domains, never tensor bytes.

What the walk looks at (onnx/onnx.proto): ModelProto → graph, training graphs and model-local functions;
GraphProto → nodes and initializers; NodeProto → op_type, domain and attributes, whose tensors and
subgraphs (If/Loop/Scan bodies) are walked the same way; TensorProto → name, data_location and the
`external_data` key/value entries. Raw tensor data is skipped by byte count.

- External data: the loader joins `location` to the model's folder, so an absolute location or one with
  `..` reads (and saving tools write) files anywhere (CVE-2022-25882, CVE-2024-27318); either is reported,
  and every location is recorded as a fact.
- Operator domains: nodes outside the standard domains need a custom operator library in the runtime,
  except calls of functions the model itself defines; ONNX Runtime's contrib domains are reported at low
  severity.
"""

from __future__ import annotations

import ntpath
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Issue
from weightgate.formats.protobuf import Capture, Frame, ProtoStreamWalker, Schema
from weightgate.rules import MALFORMED_FILE, ONNX_CUSTOM_DOMAIN, ONNX_EXTERNAL_DATA_ESCAPE, Severity

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})
# Operators ONNX Runtime ships itself: not standard, but not a third-party library either.
KNOWN_CONTRIB_DOMAINS = frozenset({"com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental"})
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
MAX_RECORDED = 50  # locations, domains and ops listed in facts and messages
MAX_DOMAINS = 1000
MAX_LOCAL_FUNCTIONS = 100_000
MAX_DETAIL_CHARS = 2000

_I, _B = Capture.INT, Capture.BYTES
ONNX_SCHEMA: Schema = {
    "ModelProto": {1: _I, 2: _B, 3: _B, 4: _B, 7: "GraphProto", 8: "OperatorSetIdProto",
                   20: "TrainingInfoProto", 25: "FunctionProto"},
    "GraphProto": {1: "NodeProto", 5: "TensorProto", 15: "SparseTensorProto"},
    "NodeProto": {3: _B, 4: _B, 5: "AttributeProto", 7: _B},
    "AttributeProto": {5: "TensorProto", 6: "GraphProto", 10: "TensorProto", 11: "GraphProto",
                       22: "SparseTensorProto", 23: "SparseTensorProto"},
    "SparseTensorProto": {1: "TensorProto", 2: "TensorProto"},
    "TensorProto": {8: _B, 13: "StringStringEntryProto", 14: _I},
    "StringStringEntryProto": {1: _B, 2: _B},
    "TrainingInfoProto": {1: "GraphProto", 2: "GraphProto"},
    "FunctionProto": {1: _B, 7: "NodeProto", 10: _B, 11: "AttributeProto"},
    "OperatorSetIdProto": {1: _B, 2: _I},
}
HEAD_FIELDS = {1: "ir_version", 2: "producer_name", 3: "producer_version", 4: "domain"}


@dataclass
class _OnnxFacts:
    opsets: list[str] = field(default_factory=list)
    nodes: int = 0
    ops_by_domain: dict[str, set[str]] = field(default_factory=dict)
    local_functions: set[tuple[str, str]] = field(default_factory=set)
    external_tensors: int = 0
    locations: list[str] = field(default_factory=list)  # the first MAX_RECORDED distinct locations
    escapes: dict[str, list[str]] = field(default_factory=dict)  # escaping location -> tensor names
    problems: list[str] = field(default_factory=list)

    def message_end(self, frame: Frame, parents: Sequence[Frame]) -> None:
        parent = parents[-1] if parents else None
        match frame.type:
            case "NodeProto":
                self._node(frame)
            case "FunctionProto":
                self._function(frame)
            case "OperatorSetIdProto" if parent is not None and parent.type == "ModelProto":
                self._opset(frame)
            case "StringStringEntryProto" if parent is not None and parent.type == "TensorProto":
                if len(parent.notes) < MAX_RECORDED:
                    parent.note(frame.text(1), frame)
            case "TensorProto":
                self._tensor(frame)

    def _node(self, frame: Frame) -> None:
        self.nodes += 1
        domain = frame.text(7)
        if domain not in self.ops_by_domain and len(self.ops_by_domain) >= MAX_DOMAINS:
            self._problem(f"nodes use more than {MAX_DOMAINS} operator domains")
            return
        ops = self.ops_by_domain.setdefault(domain, set())
        if len(ops) < MAX_RECORDED:
            ops.add(frame.text(4))

    def _function(self, frame: Frame) -> None:
        if len(self.local_functions) >= MAX_LOCAL_FUNCTIONS:
            self._problem(f"the model defines more than {MAX_LOCAL_FUNCTIONS} functions")
            return
        self.local_functions.add((frame.text(10), frame.text(1)))

    def _opset(self, frame: Frame) -> None:
        if len(self.opsets) < MAX_RECORDED:
            self.opsets.append(f"{frame.text(1) or 'ai.onnx'}:{frame.integer(2)}")

    def _tensor(self, frame: Frame) -> None:
        entries = [entry for entry in frame.notes.get("location", ()) if isinstance(entry, Frame)]
        if not entries:
            if frame.integer(14) == EXTERNAL or frame.notes:
                self._problem(f"tensor {frame.text(8)!r} keeps its data externally but names no location")
            return
        self.external_tensors += 1
        entry = entries[-1]  # the loader builds a dict from the entries: the last one wins
        location = entry.text(2) + ("…" if 2 in entry.cut else "")
        if location not in self.locations and len(self.locations) < MAX_RECORDED:
            self.locations.append(location)
        if location_escape(location) is not None and (location in self.escapes or len(self.escapes) < MAX_RECORDED):
            names = self.escapes.setdefault(location, [])
            if len(names) < MAX_RECORDED:
                names.append(frame.text(8))

    def _problem(self, text: str) -> None:
        if text not in self.problems and len(self.problems) < MAX_RECORDED:
            self.problems.append(text)


class OnnxInspector:
    """Streams a whole ONNX model through the walker; memory is bounded by the captured names."""

    def __init__(self, size: int) -> None:
        self._facts = _OnnxFacts()
        self._walker = ProtoStreamWalker(ONNX_SCHEMA, "ModelProto", size, self._facts)

    def feed(self, chunk: memoryview) -> None:
        self._walker.feed(chunk)

    def finish(self) -> Inspection:
        self._walker.finish()
        facts = self._facts
        inspection = Inspection(Format.ONNX, _details(self._walker.root, facts))
        if self._walker.problem is not None:
            inspection.issues.append(Issue(MALFORMED_FILE, f"ONNX {self._walker.problem}"))
        inspection.issues += [Issue(MALFORMED_FILE, f"ONNX {problem}") for problem in facts.problems]
        inspection.issues += [_escape_issue(location, names) for location, names in facts.escapes.items()]
        inspection.issues += _domain_issues(facts)
        return inspection


def _details(model: Frame, facts: _OnnxFacts) -> dict[str, str]:
    details: dict[str, str] = {}
    for number, name in HEAD_FIELDS.items():
        if number in model.values:
            value = model.integer(number) if number == 1 else model.text(number)
            details[name] = str(value)[:MAX_DETAIL_CHARS]
    details["nodes"] = str(facts.nodes)
    if facts.opsets:
        details["opset_imports"] = ",".join(facts.opsets)
    details["operator_domains"] = ",".join(sorted(d or "ai.onnx" for d in facts.ops_by_domain))[:MAX_DETAIL_CHARS]
    if facts.external_tensors:
        details["external_data"] = ",".join(facts.locations)[:MAX_DETAIL_CHARS]
        details["external_data_tensors"] = str(facts.external_tensors)
    return details


def _escape_issue(location: str, tensors: list[str]) -> Issue:
    reason = location_escape(location)
    return Issue(ONNX_EXTERNAL_DATA_ESCAPE, f"external data location {location!r} {reason} (tensor "
                 f"{tensors[0]!r}{f' and {len(tensors) - 1} more' if len(tensors) > 1 else ''})",
                 evidence=(("location", location), ("tensors", ",".join(tensors[:MAX_RECORDED]))))


def location_escape(location: str) -> str | None:
    """Why an external data location leads out of the model's folder, or None when it stays inside.

    Judged for POSIX and Windows alike (a model is written on one and loaded on the other), without
    touching the file system: the gate never resolves paths it was given by the artifact."""
    if not location or location.endswith("…"):
        return "is empty or too long to judge"
    if "\0" in location:
        return "contains a NUL byte"
    if posixpath.isabs(location) or ntpath.isabs(location) or ntpath.splitdrive(location)[0]:
        return "is absolute"
    if ".." in location.replace("\\", "/").split("/"):
        return "climbs out of the model folder with '..'"
    return None


def _domain_issues(facts: _OnnxFacts) -> list[Issue]:
    issues = []
    for domain in sorted(facts.ops_by_domain):
        ops = sorted(op for op in facts.ops_by_domain[domain] if (domain, op) not in facts.local_functions)
        if domain in STANDARD_DOMAINS or not ops:
            continue
        contrib = domain in KNOWN_CONTRIB_DOMAINS
        issues.append(Issue(
            ONNX_CUSTOM_DOMAIN,
            f"operators from domain {domain!r}: {', '.join(ops[:10])}{' …' if len(ops) > 10 else ''}"
            + (" (ONNX Runtime contrib operators)" if contrib else " (needs a custom operator library)"),
            severity_override=Severity.LOW if contrib else None,
            evidence=(("domain", domain), ("operators", ",".join(ops))),
        ))
    return issues
