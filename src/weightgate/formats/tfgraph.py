"""TensorFlow SavedModel (`saved_model.pb`) walked as it streams: the op of every node, in the main graphs
and in the function library, and nothing else.

A SavedModel's graph runs whatever ops it names when it is served. Most ops compute; a few touch the host:
- ops that call back into Python (tensorflow/python/ops/script_ops.py: `tf.py_function`,
  `tf.numpy_function`, `tf.compat.v1.py_func` → EagerPyFunc, PyFunc, PyFuncStateless);
- ops that read or write files (io_ops: ReadFile, WriteFile, MatchingFiles, the Reader ops; the file
  datasets and dataset save/load/snapshot; summary writers; ImmutableConst, which maps a file into memory),
  the pair that ModelScan's TensorFlow scanner reports (ReadFile, WriteFile) included;
- ops that talk to the network (the experimental RPC ops and the tf.data service).
The checkpoint ops every SavedModel carries for its own variables (SaveV2, RestoreV2, MergeV2Checkpoints and
their v1 forms) are left out on purpose: they read and write the model's own variables folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Issue
from weightgate.formats.protobuf import Capture, Frame, ProtoStreamWalker, Schema
from weightgate.rules import MALFORMED_FILE, TF_FILE_OP, TF_PYTHON_OP

PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
FILE_OPS = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "FileSystemSetConfiguration", "RecordInput",
    "LoadAndRemapMatrix",
    "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2", "FixedLengthRecordReader",
    "FixedLengthRecordReaderV2", "TFRecordReader", "TFRecordReaderV2", "LMDBReader",
    "TextLineDataset", "TFRecordDataset", "TFRecordDatasetV2", "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "SqlDataset",
    "ExperimentalSqlDataset", "LMDBDataset", "ExperimentalLMDBDataset", "MatchingFilesDataset",
    "ExperimentalMatchingFilesDataset", "SaveDataset", "SaveDatasetV2", "LoadDataset", "DatasetToTFRecord",
    "ExperimentalDatasetToTFRecord", "SnapshotDataset", "SnapshotDatasetV2",
    "CreateSummaryFileWriter", "CreateSummaryDbWriter", "DebugIdentityV2",
})
NETWORK_OPS = frozenset({
    "RpcClient", "RpcServer", "RpcServerRegister", "RpcServerStart", "RpcCall", "DataServiceDataset",
    "DataServiceDatasetV2", "DataServiceDatasetV3", "DataServiceDatasetV4", "RegisterDataset",
    "RegisterDatasetV2",
})
MAX_OPS = 10_000  # distinct op names recorded
MAX_NODES_NAMED = 5  # node names shown per reported op
MAX_DETAIL_CHARS = 4000

_I, _B = Capture.INT, Capture.BYTES
SAVED_MODEL_SCHEMA: Schema = {
    "SavedModel": {1: _I, 2: "MetaGraphDef"},
    "MetaGraphDef": {1: "MetaInfoDef", 2: "GraphDef"},
    "MetaInfoDef": {4: _B, 5: _B},
    "GraphDef": {1: "NodeDef", 2: "FunctionDefLibrary"},
    "FunctionDefLibrary": {1: "FunctionDef"},
    "FunctionDef": {1: "OpDef", 3: "NodeDef"},
    "OpDef": {1: _B},
    "NodeDef": {1: _B, 2: _B},
}


@dataclass
class _GraphFacts:
    nodes: int = 0
    ops: set[str] = field(default_factory=set)
    too_many_ops: bool = False
    flagged: dict[str, list[str]] = field(default_factory=dict)  # op -> where: "node" or "function/node"
    tags: list[str] = field(default_factory=list)
    tensorflow_version: str = ""

    def message_end(self, frame: Frame, parents: Sequence[Frame]) -> None:
        parent = parents[-1] if parents else None
        if frame.type == "NodeDef":
            self._node(frame, parent)
        elif frame.type == "OpDef" and parent is not None and parent.type == "FunctionDef":
            parent.note("name", frame.text(1))  # the signature comes before the function's nodes
        elif frame.type == "MetaInfoDef":
            self.tags += [t for t in frame.texts(4) if t not in self.tags][:MAX_NODES_NAMED]
            self.tensorflow_version = self.tensorflow_version or frame.text(5)

    def _node(self, frame: Frame, parent: Frame | None) -> None:
        self.nodes += 1
        op = frame.text(2)
        if op not in self.ops:
            if len(self.ops) < MAX_OPS:
                self.ops.add(op)
            else:
                self.too_many_ops = True
        if op in PYTHON_OPS | FILE_OPS | NETWORK_OPS:
            function = parent.notes.get("name", [""])[-1] if parent is not None else ""
            where = self.flagged.setdefault(op, [])
            if len(where) < MAX_NODES_NAMED:
                where.append(f"{function}/{frame.text(1)}" if function else frame.text(1))


class SavedModelInspector:
    """Streams a whole `saved_model.pb` through the walker; memory is bounded by the recorded op names."""

    def __init__(self, size: int) -> None:
        self._facts = _GraphFacts()
        self._walker = ProtoStreamWalker(SAVED_MODEL_SCHEMA, "SavedModel", size, self._facts)

    def feed(self, chunk: memoryview) -> None:
        self._walker.feed(chunk)

    def finish(self) -> Inspection:
        self._walker.finish()
        facts = self._facts
        inspection = Inspection(Format.TF_SAVEDMODEL, _details(self._walker.root, facts))
        if self._walker.problem is not None:
            inspection.issues.append(Issue(MALFORMED_FILE, f"SavedModel {self._walker.problem}"))
        if facts.too_many_ops:
            inspection.issues.append(Issue(MALFORMED_FILE, f"SavedModel uses more than {MAX_OPS} distinct ops; "
                                           "the rest were not checked"))
        inspection.issues += [_op_issue(op, where) for op, where in sorted(facts.flagged.items())]
        return inspection


def _op_issue(op: str, where: list[str]) -> Issue:
    shown = ", ".join(repr(w) for w in where)
    if op in PYTHON_OPS:
        return Issue(TF_PYTHON_OP, f"op {op} calls a Python function of the serving process (nodes {shown})",
                     evidence=(("op", op), ("nodes", ",".join(where))))
    kind = "talks to the network" if op in NETWORK_OPS else "reads or writes files"
    return Issue(TF_FILE_OP, f"op {op} {kind} (nodes {shown})", evidence=(("op", op), ("nodes", ",".join(where))))


def _details(root: Frame, facts: _GraphFacts) -> dict[str, str]:
    details = {"nodes": str(facts.nodes), "ops": ",".join(sorted(facts.ops))[:MAX_DETAIL_CHARS]}
    if 1 in root.values:
        details["schema_version"] = str(root.integer(1))
    if facts.tags:
        details["tags"] = ",".join(facts.tags)
    if facts.tensorflow_version:
        details["tensorflow_version"] = facts.tensorflow_version
    return details
