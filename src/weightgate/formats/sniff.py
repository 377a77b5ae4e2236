"""The one inspector the verify pass feeds every byte of a file to.

It buffers the first HEAD_BYTES, detects the coarse format from them, then hands the head and every later
chunk to that format's family inspector, whose verdict (with the refined format) is the result. Archive and
compressed-stream inspectors open one of these per member (`members.Nesting`), so nested content is sniffed
and inspected the same way, with depth and expansion bounded.
"""

from __future__ import annotations

from typing import NoReturn

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Inspector, Issue
from weightgate.formats.detect import HEAD_BYTES, detect_head, inner_format
from weightgate.formats.headfacts import HeadFactsInspector, no_facts, unknown_facts
from weightgate.formats.members import CONTAINER_FORMATS, DepthLimitInspector, Nesting
from weightgate.formats.zipend import TailKeeper
from weightgate.rules import MALFORMED_FILE

# Formats not checked for a zip directory at their end: zips find it themselves, and a tar whose last member
# is a zip ends with that zip's directory (inspected as a member), so there it is no hidden archive.
NO_HIDDEN_ZIP_CHECK = frozenset({Format.ZIP, Format.PYTORCH_ZIP, Format.KERAS_V3, Format.NUMPY_NPZ, Format.TAR,
                                 Format.PYTORCH_TAR})


def new_inspector(size: int, nesting: Nesting | None = None) -> Inspector:
    """An inspector for one file of `size` bytes (negative when unknown); feed it every byte, in order.
    `nesting` says where it sits when it inspects an archive member (None: a top-level file)."""
    return _SniffingInspector(size, nesting or Nesting(new_inspector))


class _SniffingInspector:
    def __init__(self, size: int, nesting: Nesting) -> None:
        self._size = size
        self._nesting = nesting
        self._head = bytearray()
        self._family: Inspector | None = None
        # None once nothing will look for a zip directory at the end (see _start and finish).
        self._tail: TailKeeper | None = None if nesting.raw_data else TailKeeper(size)

    def feed(self, chunk: memoryview) -> None:
        if self._tail is not None:
            self._tail.feed(chunk)
        if self._family is not None:
            self._family.feed(chunk)
            return
        taken = chunk[: HEAD_BYTES - len(self._head)]
        self._head += taken
        if len(self._head) == HEAD_BYTES:
            family = self._start(self._size)
            if len(taken) < len(chunk):
                family.feed(chunk[len(taken) :])

    def _start(self, size: int) -> Inspector:
        head = bytes(self._head)
        self._head = bytearray()
        fmt = detect_head(head, size)
        family = family_inspector(fmt, size, self._nesting)
        if fmt in NO_HIDDEN_ZIP_CHECK:
            self._tail = None  # the zip and tar inspectors' verdicts stay in NO_HIDDEN_ZIP_CHECK: no copies kept
        family.feed(memoryview(head))
        self._family = family
        return family

    def finish(self) -> Inspection:
        # A stream that ended inside the head is all there is: detect with its real size.
        family = self._family or self._start(len(self._head))
        inspection = family.finish()
        hidden = None
        if inspection.format not in NO_HIDDEN_ZIP_CHECK and not self._nesting.raw_data:
            if self._tail is None:  # cannot happen (see _start); were it to, say so rather than pass
                inspection.issues.append(Issue(MALFORMED_FILE, (
                    f"{inspection.format.value} file was not checked for a zip central directory at its end")))
            else:
                hidden = self._tail.hidden_directory()
        if hidden is not None:
            inspection.issues.append(Issue(MALFORMED_FILE, (
                f"{inspection.format.value} file ends with a zip central directory ({hidden[1]} bytes at offset "
                f"{hidden[0]}): zip readers that find the archive from its end (zipfile, Keras) open it, and its "
                "members were not inspected")))
        return inspection


def family_inspector(fmt: Format, size: int, nesting: Nesting | None = None) -> Inspector:
    """The inspector for a detected format's family (exhaustive: a new Format must be wired here)."""
    nesting = nesting or Nesting(new_inspector)
    if fmt in CONTAINER_FORMATS and nesting.too_deep:
        return DepthLimitInspector(fmt, nesting)
    # Each family's module is imported when a file of that family turns up: a run over safetensors files
    # never pays for the pickle walker, the zip reader or Jinja.
    match fmt:
        case Format.ZIP | Format.PYTORCH_ZIP | Format.KERAS_V3 | Format.NUMPY_NPZ:
            from weightgate.formats.zipfmt import ZipInspector

            return ZipInspector(nesting, size)
        case Format.TAR | Format.PYTORCH_TAR:
            from weightgate.formats.tarfmt import TarInspector

            return TarInspector(nesting)
        case Format.SAFETENSORS:
            from weightgate.formats.safetensors_header import SafetensorsInspector

            return SafetensorsInspector(size)
        case Format.GGUF:
            from weightgate.formats.gguf import GgufInspector

            return GgufInspector(size)
        case Format.NUMPY:
            from weightgate.formats.numpyfmt import NpyInspector

            return NpyInspector(nesting)
        case Format.JSON | Format.JSONL:
            from weightgate.formats.jsontext import JsonInspector

            return JsonInspector(size)
        case Format.PARQUET:
            from weightgate.formats.parquet import ParquetInspector

            return ParquetInspector(size)
        case Format.TEXT:
            from weightgate.formats.jsontext import TextInspector

            return TextInspector(size)
        case Format.PICKLE | Format.JOBLIB:
            from weightgate.formats.picklefmt import PickleInspector

            return PickleInspector(fmt, nesting)
        case Format.ONNX:
            from weightgate.formats.onnxmodel import OnnxInspector

            return OnnxInspector(size)
        case Format.TF_SAVEDMODEL:
            from weightgate.formats.tfgraph import SavedModelInspector

            return SavedModelInspector(size)
        case Format.SENTENCEPIECE:
            from weightgate.formats.protobuf import protobuf_facts

            return HeadFactsInspector(fmt, protobuf_facts)
        case Format.HDF5:
            from weightgate.formats.hdf5 import Hdf5Inspector

            return Hdf5Inspector(size)
        case Format.GZIP | Format.BZIP2 | Format.XZ:
            from weightgate.formats.compressed import CompressedInspector

            return CompressedInspector(fmt, nesting)
        case Format.SEVEN_ZIP | Format.ZSTD:  # not opened (no stdlib decoder): the format policy judges them
            return HeadFactsInspector(fmt, compressed_facts)
        case Format.EMPTY:
            return HeadFactsInspector(fmt, no_facts)
        case Format.UNKNOWN:
            return HeadFactsInspector(fmt, unknown_facts)
        case _:
            _unreachable(fmt)


def compressed_facts(fmt: Format, head: bytes, total: int) -> Inspection:
    """What the compressed stream starts with (e.g. a tar), when the stdlib can open it."""
    inner = inner_format(head)
    return Inspection(fmt, {"inner_format": inner[1].value} if inner else {})


def _unreachable(value: NoReturn) -> NoReturn:
    raise AssertionError(f"unhandled format {value!r}")
