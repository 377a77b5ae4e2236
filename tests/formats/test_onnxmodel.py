"""WG525/WG526: ONNX models walked as they stream (external data escapes, operator domains), and the
streaming protobuf walker's own bounds.

Models are encoded by hand from onnx/onnx.proto field numbers (the onnx package is not a dependency).
External-data escapes pin CVE-2022-25882 (absolute / `..` locations) and CVE-2024-27318 (the bypass of its
first fix).
"""

from __future__ import annotations

import pytest

from weightgate.formats import Format
from weightgate.formats.onnxmodel import location_escape
from weightgate.formats.protobuf import MAX_MESSAGE_DEPTH
from weightgate.rules import MALFORMED_FILE, ONNX_CUSTOM_DOMAIN, ONNX_EXTERNAL_DATA_ESCAPE, Severity

from .feeding import inspect_all_chunkings, inspect_bytes
from .samples import pb, pb_varint

FLOAT, GRAPH_ATTRIBUTE, EXTERNAL = 1, 5, 1


def node(op: str, domain: str = "", name: str = "n", *attributes: bytes) -> bytes:
    body = pb(1, "x") + pb(2, "y") + pb(3, name) + pb(4, op)
    return body + b"".join(pb(5, a) for a in attributes) + (pb(7, domain) if domain else b"")


def external_tensor(name: str, location: str, data_location: int = EXTERNAL) -> bytes:
    entries = pb(13, pb(1, "location") + pb(2, location)) + pb(13, pb(1, "offset") + pb(2, "0"))
    return pb(1, 4) + pb(2, FLOAT) + pb(8, name) + entries + pb(14, data_location)


def raw_tensor(name: str, size: int) -> bytes:
    return pb(1, size // 4) + pb(2, FLOAT) + pb(8, name) + pb(9, b"\x00" * size)


def graph(*nodes: bytes, initializers: tuple[bytes, ...] = ()) -> bytes:
    return b"".join(pb(1, n) for n in nodes) + pb(2, "g") + b"".join(pb(5, t) for t in initializers)


def model(graph_bytes: bytes, *functions: bytes, opsets: tuple[tuple[str, int], ...] = (("", 17),)) -> bytes:
    head = pb(1, 8) + pb(2, "pytorch") + pb(3, "2.1.0") + pb(7, graph_bytes)
    return head + b"".join(pb(8, pb(1, d) + pb(2, v)) for d, v in opsets) + b"".join(pb(25, f) for f in functions)


def subgraph_attribute(name: str, body: bytes) -> bytes:
    return pb(1, name) + pb(6, body) + pb(20, GRAPH_ATTRIBUTE)


def rules_of(data: bytes) -> list[str]:
    return sorted(i.rule.id for i in inspect_all_chunkings(data).issues)


# --- external data --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    ["/etc/passwd", "../../../../home/user/.ssh/id_rsa", "weights/../../secret.bin", "C:\\Windows\\win.ini",
     "\\\\server\\share\\w.bin", "..\\..\\secret.bin", "c:relative-to-drive.bin"],
)
def test_escaping_external_data_fires(location: str) -> None:
    data = model(graph(node("MatMul"), initializers=(external_tensor("w", location),)))
    result = inspect_all_chunkings(data)
    assert result.format is Format.ONNX
    [issue] = result.issues
    assert issue.rule is ONNX_EXTERNAL_DATA_ESCAPE
    assert dict(issue.evidence) == {"location": location, "tensors": "w"}


def test_benign_external_data_is_recorded_not_reported() -> None:
    tensors = (external_tensor("w1", "model.onnx.data"), external_tensor("w2", "weights/part-2.bin"),
               external_tensor("w3", "model.onnx.data"))
    result = inspect_all_chunkings(model(graph(node("MatMul"), initializers=tensors)))
    assert result.issues == []
    assert result.details["external_data"] == "model.onnx.data,weights/part-2.bin"
    assert result.details["external_data_tensors"] == "3"


def test_escape_inside_a_nested_subgraph_is_found() -> None:
    then_branch = graph(node("Constant", "", "c", pb(1, "value") + pb(5, external_tensor("k", "/dev/zero"))))
    data = model(graph(node("If", "", "if0", subgraph_attribute("then_branch", then_branch))))
    assert rules_of(data) == ["WG525"]


def test_escape_in_a_training_graph_and_a_sparse_initializer_is_found() -> None:
    sparse = pb(1, external_tensor("values", "../v.bin")) + pb(2, external_tensor("indices", "i.bin"))
    training = pb(20, pb(1, graph(node("Relu"))) + pb(2, b"".join([pb(15, sparse)])))
    assert rules_of(model(graph(node("Relu"))) + training) == ["WG525"]


def test_external_data_without_a_location_is_malformed() -> None:
    tensor = pb(8, "w") + pb(13, pb(1, "offset") + pb(2, "0")) + pb(14, EXTERNAL)
    assert rules_of(model(graph(node("Relu"), initializers=(tensor,)))) == ["WG405"]


def test_large_inline_tensors_are_skipped_while_streaming() -> None:
    data = model(graph(node("MatMul"), initializers=(raw_tensor("big", 3 * 1024 * 1024),
                                                     external_tensor("w", "/abs/w.bin"))))
    result = inspect_all_chunkings(data, chunkings=[4096, 1024 * 1024, (3, 0, 4096, 1, 65_541, 0, 1024 * 1024)])
    assert [i.rule for i in result.issues] == [ONNX_EXTERNAL_DATA_ESCAPE]
    assert result.details["producer_name"] == "pytorch" and result.details["ir_version"] == "8"


@pytest.mark.parametrize(("location", "escapes"), [("a.bin", False), ("sub/dir/a.bin", False), ("a..b.bin", False),
                                                   ("", True), ("a\0b", True), ("/a", True), ("..", True)])
def test_location_rules(location: str, escapes: bool) -> None:
    assert (location_escape(location) is not None) is escapes


# --- operator domains -----------------------------------------------------------------------------------------


def test_custom_domain_fires_with_domain_and_ops() -> None:
    data = model(graph(node("Relu"), node("EvilOp", "com.attacker.ops"), node("Other", "com.attacker.ops")),
                 opsets=(("", 17), ("com.attacker.ops", 1)))
    [issue] = inspect_all_chunkings(data).issues
    assert issue.rule is ONNX_CUSTOM_DOMAIN and issue.severity_override is None  # the rule's medium
    assert dict(issue.evidence) == {"domain": "com.attacker.ops", "operators": "EvilOp,Other"}


def test_onnx_runtime_contrib_domain_is_low() -> None:
    [issue] = inspect_bytes(model(graph(node("FusedMatMul", "com.microsoft")))).issues
    assert issue.rule is ONNX_CUSTOM_DOMAIN and issue.severity_override is Severity.LOW


@pytest.mark.parametrize("domain", ["", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"])
def test_standard_domains_are_near_misses(domain: str) -> None:
    result = inspect_bytes(model(graph(node("Relu", domain))))
    assert result.issues == []
    assert result.details["nodes"] == "1"


def test_calls_of_model_local_functions_are_near_misses() -> None:
    function = pb(1, "Gelu2") + pb(10, "local.fns") + pb(7, node("Erf"))
    data = model(graph(node("Gelu2", "local.fns")), function, opsets=(("", 17), ("local.fns", 1)))
    result = inspect_all_chunkings(data)
    assert result.issues == []
    assert result.details["opset_imports"] == "ai.onnx:17,local.fns:1"


def test_custom_domain_inside_a_local_function_fires() -> None:
    function = pb(1, "F") + pb(10, "local.fns") + pb(7, node("Evil", "com.attacker"))
    assert rules_of(model(graph(node("F", "local.fns")), function)) == ["WG526"]


# --- the walker's bounds (hostile structure fails closed, never raises) ----------------------------------------


def test_field_running_past_its_message_is_malformed() -> None:
    bad_graph = pb(1, node("Relu"))[:-2]  # the node claims two bytes beyond the graph's end
    data = pb(1, 8) + pb(7, bad_graph) + pb(8, pb(2, 17))
    result = inspect_bytes(data)
    assert result.format is Format.ONNX
    assert [i.rule for i in result.issues] == [MALFORMED_FILE]


def test_group_wire_type_is_malformed() -> None:
    data = model(graph(node("Relu")) + pb_varint(1 << 3 | 3))
    assert rules_of(data) == ["WG405"]


def test_nesting_deeper_than_protobuf_allows_is_malformed() -> None:
    body = graph(node("Relu"))
    for _ in range(MAX_MESSAGE_DEPTH // 3 + 1):
        body = graph(node("If", "", "if", subgraph_attribute("then_branch", body)))
    result = inspect_bytes(model(body))
    assert [i.rule for i in result.issues] == [MALFORMED_FILE]
    assert "deeper" in result.issues[0].message


def test_file_ending_inside_the_model_is_malformed() -> None:
    data = model(graph(node("Relu"), initializers=(raw_tensor("w", 100_000),)))
    result = inspect_bytes(data[:-500], size=len(data))  # the stream stops before the size it announced
    assert result.format is Format.ONNX
    assert [i.rule for i in result.issues] == [MALFORMED_FILE]


def test_huge_length_is_rejected_without_allocating() -> None:
    data = model(graph(node("Relu"), initializers=(raw_tensor("w", 100_000),)))  # past the detection head
    data += pb_varint(20 << 3 | 2) + pb_varint(1 << 62) + b"\x00" * 16
    assert [i.rule for i in inspect_bytes(data).issues] == [MALFORMED_FILE]
