"""WG527/WG528: TensorFlow SavedModel graphs, main graph and function library, walked as they stream.

Encoded by hand from tensorflow/core/protobuf/saved_model.proto, meta_graph.proto, graph.proto,
function.proto, node_def.proto and op_def.proto (TensorFlow is not a dependency).
"""

from __future__ import annotations

import pytest

from weightgate.formats import Format
from weightgate.rules import MALFORMED_FILE, TF_FILE_OP, TF_PYTHON_OP

from .feeding import inspect_all_chunkings, inspect_bytes
from .samples import pb


def node(name: str, op: str, *inputs: str, constant: bytes = b"") -> bytes:
    body = pb(1, name) + pb(2, op) + b"".join(pb(3, i) for i in inputs)
    # attr {key: "value", value: {tensor: ...}}: big constants live here and are skipped unread
    return body + (pb(5, pb(1, "value") + pb(2, pb(8, pb(4, constant)))) if constant else b"")


def function(name: str, *nodes: bytes) -> bytes:
    return pb(1, pb(1, name)) + b"".join(pb(3, n) for n in nodes)  # signature (OpDef), node_def


def saved_model(*nodes: bytes, functions: tuple[bytes, ...] = ()) -> bytes:
    library = pb(2, b"".join(pb(1, f) for f in functions)) if functions else b""
    graph_def = b"".join(pb(1, n) for n in nodes) + library
    meta_info = pb(4, "serve") + pb(5, "2.15.0")
    return pb(1, 1) + pb(2, pb(1, meta_info) + pb(2, graph_def))


SAVER = (node("save/Const", "Const"), node("save/SaveV2", "SaveV2", "save/Const"),
         node("save/RestoreV2", "RestoreV2", "save/Const"), node("save/MergeV2Checkpoints", "MergeV2Checkpoints"))


def test_benign_graph_with_its_checkpoint_ops_passes() -> None:
    data = saved_model(node("x", "Placeholder"), node("w", "VarHandleOp"), node("y", "MatMul", "x", "w"), *SAVER,
                       functions=(function("__inference_serve_12", node("relu", "Relu"), node("id", "Identity")),))
    result = inspect_all_chunkings(data)
    assert result.format is Format.TF_SAVEDMODEL
    assert result.issues == []
    assert result.details["nodes"] == "9"
    assert "MatMul" in result.details["ops"].split(",") and "SaveV2" in result.details["ops"].split(",")
    assert result.details["tags"] == "serve" and result.details["tensorflow_version"] == "2.15.0"


def test_read_file_in_the_main_graph_fires() -> None:
    data = saved_model(node("path", "Const"), node("leak", "ReadFile", "path"), *SAVER)
    [issue] = inspect_all_chunkings(data).issues
    assert issue.rule is TF_FILE_OP
    assert dict(issue.evidence) == {"op": "ReadFile", "nodes": "leak"}


def test_py_func_in_the_function_library_fires_with_its_function() -> None:
    data = saved_model(node("x", "Placeholder"), node("call", "StatefulPartitionedCall", "x"),
                       functions=(function("__inference_call_7", node("py", "EagerPyFunc")),))
    [issue] = inspect_all_chunkings(data).issues
    assert issue.rule is TF_PYTHON_OP
    assert dict(issue.evidence)["nodes"] == "__inference_call_7/py"


@pytest.mark.parametrize(("op", "rule"), [("WriteFile", TF_FILE_OP), ("MatchingFiles", TF_FILE_OP),
                                          ("PyFunc", TF_PYTHON_OP), ("PyFuncStateless", TF_PYTHON_OP),
                                          ("RpcClient", TF_FILE_OP), ("ImmutableConst", TF_FILE_OP)])
def test_each_op_family_fires(op: str, rule) -> None:
    assert [i.rule for i in inspect_bytes(saved_model(node("n", op))).issues] == [rule]


def test_op_names_are_matched_exactly() -> None:
    # Near misses: names that contain a flagged one, and a node *named* like a flagged op.
    data = saved_model(node("ReadFile", "Identity"), node("r", "ReadFileV9"), node("w", "MyWriteFile"))
    assert inspect_bytes(data).issues == []


def test_large_constants_are_skipped_while_streaming() -> None:
    data = saved_model(node("big", "Const", constant=b"\x00" * (3 * 1024 * 1024)), node("w", "WriteFile", "big"))
    result = inspect_all_chunkings(data, chunkings=[4096, 1024 * 1024, (3, 0, 4096, 1, 65_541, 0, 1024 * 1024)])
    assert [i.rule for i in result.issues] == [TF_FILE_OP]


def test_truncated_saved_model_is_malformed() -> None:
    data = saved_model(node("big", "Const", constant=b"\x00" * 100_000), node("r", "ReadFile"))
    result = inspect_bytes(data[:-10], size=len(data))
    assert result.format is Format.TF_SAVEDMODEL
    assert [i.rule for i in result.issues] == [MALFORMED_FILE]


def test_wrong_wire_type_for_a_walked_field_is_malformed() -> None:
    meta_graph = pb(1, pb(4, "serve")) + pb(2, pb(1, pb(1, "n") + pb(2, 7)))  # NodeDef.op as a varint
    data = pb(1, 1) + pb(2, meta_graph)
    assert [i.rule for i in inspect_bytes(data).issues] == [MALFORMED_FILE]
