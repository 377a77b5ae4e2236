"""safetensors: the 8-byte header length and the JSON header, checked the way a strict loader should.

Only the header is kept (bounded by MAX_HEADER_BYTES and by the file size); tensor bytes are counted, not
stored. Duplicate JSON keys are rejected because two parsers may pick different values for the same tensor.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Issue
from weightgate.rules import MALFORMED_FILE

LENGTH_BYTES = 8
MAX_HEADER_BYTES = 100 * 1024 * 1024
MAX_ISSUES = 20
MAX_NAME_CHARS = 100
METADATA_KEY = "__metadata__"
# Bits per element, from the safetensors Dtype enum (F4 and F6 pack several elements per byte).
DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64,
    "F64": 64, "I64": 64, "U64": 64,
}


class SafetensorsInspector:
    """Keeps the length prefix and header; counts everything after them."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._prefix = bytearray()
        self._header_length: int | None = None
        self._problem: str | None = None
        self._total = 0

    def feed(self, chunk: memoryview) -> None:
        self._total += len(chunk)
        view = chunk
        while view and self._problem is None:
            wanted = LENGTH_BYTES + (self._header_length or 0)
            missing = wanted - len(self._prefix)
            if missing <= 0:
                return
            self._prefix += view[:missing]
            view = view[missing:]
            if self._header_length is None and len(self._prefix) == LENGTH_BYTES:
                self._read_length()

    def _read_length(self) -> None:
        length = int.from_bytes(self._prefix, "little")
        if length > MAX_HEADER_BYTES:
            self._problem = f"header length {length} is over the {MAX_HEADER_BYTES}-byte limit"
        elif self._size >= 0 and length > self._size - LENGTH_BYTES:
            self._problem = f"header length {length} runs past the end of the {self._size}-byte file"
        else:
            self._header_length = length

    def finish(self) -> Inspection:
        inspection = Inspection(Format.SAFETENSORS)
        if self._problem is not None:
            return _with_problems(inspection, [self._problem])
        if self._header_length is None:
            return _with_problems(inspection, ["file is shorter than the 8-byte header length"])
        header_bytes = bytes(self._prefix[LENGTH_BYTES:])
        if len(header_bytes) < self._header_length:
            return _with_problems(
                inspection, [f"file ends inside the header ({len(header_bytes)} of {self._header_length} bytes)"]
            )
        inspection.details["header_bytes"] = str(self._header_length)
        data_length = self._total - LENGTH_BYTES - self._header_length
        return _with_problems(inspection, check_header(header_bytes, data_length, inspection.details))


@dataclass(frozen=True)
class _Span:
    name: str
    begin: int
    end: int


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def check_header(raw: bytes, data_length: int, details: dict[str, str]) -> list[str]:
    """Problems with a safetensors header (empty when it is valid); fills `details` as it goes."""
    header, problem = _parse_json(raw)
    if header is None:
        return [problem or "header is not a JSON object"]
    problems = _metadata_problems(header.pop(METADATA_KEY, {}), details)
    spans: list[_Span] = []
    for name, entry in header.items():
        span_or_problem = _tensor_span(name, entry, data_length)
        if isinstance(span_or_problem, str):
            problems.append(span_or_problem)
        else:
            spans.append(span_or_problem)
    details["tensors"] = str(len(header))
    details["dtypes"] = ",".join(sorted({str(e.get("dtype")) for e in header.values() if isinstance(e, dict)}))
    if len(spans) == len(header):  # a layout check over broken entries would only repeat their problems
        problems.extend(_layout_problems(spans, data_length))
    return problems


def _parse_json(raw: bytes) -> tuple[dict[str, object] | None, str | None]:
    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except UnicodeDecodeError as exc:
        return None, f"header is not valid UTF-8 (byte {exc.start})"
    except _DuplicateKey as exc:
        return None, f"header has duplicate key {_label(exc.key)}"
    except json.JSONDecodeError as exc:
        return None, f"header is not valid JSON: {exc.msg} at byte {exc.pos}"
    except RecursionError:
        return None, "header JSON nests too deeply to parse"
    if not isinstance(value, dict):
        return None, "header JSON is not an object"
    return value, None


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _metadata_problems(metadata: object, details: dict[str, str]) -> list[str]:
    if not isinstance(metadata, dict):
        return [f"{METADATA_KEY} is {type(metadata).__name__}, not an object of strings"]
    for key, value in metadata.items():
        if not isinstance(value, str):
            return [f"{METADATA_KEY} value for {_label(key)} is {type(value).__name__}, not a string"]
    if isinstance(metadata.get("format"), str):
        details["metadata_format"] = metadata["format"][:MAX_NAME_CHARS]
    return []


def _tensor_span(name: str, entry: object, data_length: int) -> _Span | str:
    """The tensor's byte span in the data section, or what is wrong with its entry."""
    label = f"tensor {_label(name)}"
    if not isinstance(entry, dict):
        return f"{label}: entry is {type(entry).__name__}, not an object"
    missing = [key for key in ("dtype", "shape", "data_offsets") if key not in entry]
    if missing:
        return f"{label}: missing {', '.join(missing)}"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        return f"{label}: unknown dtype {str(dtype)[:MAX_NAME_CHARS]!r}"
    if not isinstance(shape, list) or not all(_is_count(n) for n in shape):
        return f"{label}: shape {str(shape)[:MAX_NAME_CHARS]} is not a list of non-negative integers"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(n) for n in offsets)):
        return f"{label}: data_offsets {str(offsets)[:MAX_NAME_CHARS]} is not [begin, end] of non-negative integers"
    begin, end = offsets
    return _sized_span(label, name, dtype, shape, begin, end, data_length)


def _sized_span(label: str, name: str, dtype: str, shape: list[int], begin: int, end: int,
                data_length: int) -> _Span | str:
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if begin > end:
        return f"{label}: data_offsets begin {begin} is after end {end}"
    if bits % 8:
        return f"{label}: {math.prod(shape)} {dtype} elements do not fill a whole number of bytes"
    if end - begin != bits // 8:
        return f"{label}: data_offsets span {end - begin} bytes but shape {shape} of {dtype} needs {bits // 8}"
    if end > data_length:
        return f"{label}: data_offsets end {end} is beyond the {data_length}-byte data section"
    return _Span(name, begin, end)


def _layout_problems(spans: list[_Span], data_length: int) -> list[str]:
    """Tensors must tile the data section exactly: no overlap, no gap, nothing left over."""
    problems: list[str] = []
    cursor = 0
    for span in sorted(spans, key=lambda s: (s.begin, s.end)):
        if span.begin < cursor:
            problems.append(
                f"tensor {_label(span.name)} at bytes {span.begin}-{span.end} overlaps data ending at {cursor}"
            )
        elif span.begin > cursor:
            problems.append(f"gap: bytes {cursor}-{span.begin} of the data section belong to no tensor")
        cursor = max(cursor, span.end)
    if cursor < data_length:
        problems.append(f"gap: bytes {cursor}-{data_length} at the end of the data section belong to no tensor")
    return problems


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _label(name: str) -> str:
    return repr(name[:MAX_NAME_CHARS] + ("..." if len(name) > MAX_NAME_CHARS else ""))


def _with_problems(inspection: Inspection, problems: list[str]) -> Inspection:
    shown = problems[:MAX_ISSUES]
    if len(problems) > MAX_ISSUES:
        shown.append(f"... and {len(problems) - MAX_ISSUES} more header problems")
    inspection.issues.extend(Issue(MALFORMED_FILE, f"safetensors {p}") for p in shown)
    return inspection
