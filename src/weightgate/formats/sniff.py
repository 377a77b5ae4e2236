"""The one inspector the verify pass feeds every byte of a file to.

It buffers the first HEAD_BYTES, detects the coarse format from them, then hands the head and every later
chunk to that format's family inspector, whose verdict (with the refined format) is the result.
"""

from __future__ import annotations

from typing import NoReturn

from weightgate.formats import Format
from weightgate.formats.base import Inspection, Inspector
from weightgate.formats.detect import HEAD_BYTES, detect_head, inner_format
from weightgate.formats.gguf import GgufInspector
from weightgate.formats.hdf5 import hdf5_facts
from weightgate.formats.headfacts import HeadFactsInspector, no_facts, unknown_facts
from weightgate.formats.jsontext import JsonInspector, TextInspector
from weightgate.formats.numpyfmt import NpyInspector
from weightgate.formats.parquet import ParquetInspector
from weightgate.formats.picklefmt import pickle_facts
from weightgate.formats.protobuf import protobuf_facts
from weightgate.formats.safetensors_header import SafetensorsInspector
from weightgate.formats.tarfmt import TarInspector
from weightgate.formats.zipfmt import ZipInspector


def new_inspector(size: int) -> Inspector:
    """An inspector for one file of `size` bytes (negative when unknown); feed it every byte, in order."""
    return _SniffingInspector(size)


class _SniffingInspector:
    def __init__(self, size: int) -> None:
        self._size = size
        self._head = bytearray()
        self._family: Inspector | None = None

    def feed(self, chunk: memoryview) -> None:
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
        family = family_inspector(detect_head(head, size), size)
        family.feed(memoryview(head))
        self._family = family
        return family

    def finish(self) -> Inspection:
        # A stream that ended inside the head is all there is: detect with its real size.
        family = self._family or self._start(len(self._head))
        return family.finish()


def family_inspector(fmt: Format, size: int) -> Inspector:
    """The inspector for a detected format's family (exhaustive: a new Format must be wired here)."""
    match fmt:
        case Format.ZIP | Format.PYTORCH_ZIP | Format.KERAS_V3 | Format.NUMPY_NPZ:
            return ZipInspector(size)
        case Format.TAR | Format.PYTORCH_TAR:
            return TarInspector(size)
        case Format.SAFETENSORS:
            return SafetensorsInspector(size)
        case Format.GGUF:
            return GgufInspector(size)
        case Format.NUMPY:
            return NpyInspector(size)
        case Format.JSON | Format.JSONL:
            return JsonInspector(size)
        case Format.PARQUET:
            return ParquetInspector(size)
        case Format.TEXT:
            return TextInspector(size)
        case Format.PICKLE | Format.JOBLIB:
            return HeadFactsInspector(fmt, pickle_facts)
        case Format.ONNX | Format.TF_SAVEDMODEL | Format.SENTENCEPIECE:
            return HeadFactsInspector(fmt, protobuf_facts)
        case Format.HDF5:
            return HeadFactsInspector(fmt, hdf5_facts)
        case Format.GZIP | Format.BZIP2 | Format.XZ | Format.SEVEN_ZIP | Format.ZSTD:
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
