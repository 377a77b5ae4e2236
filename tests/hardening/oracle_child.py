"""The child process of the differential tests: the real loaders, with everything that could run code refused.

Run as `python -I oracle_child.py`; it reads requests from stdin (one byte of kind, four bytes of length, the
input) and answers each with four bytes of length and a JSON object. It sets its own address-space limit and a
per-request alarm, so a loader that runs away ends its request, not the test run.

- pickle: the C unpickler (`pickle.Unpickler`) with `find_class` and `persistent_load` overridden. They never
  import anything: they record what was asked and hand back an inert stand-in, so the load goes on and asks for
  every later global too. Nothing but the stand-in's empty methods is ever called.
- zip, tar: `zipfile` and `tarfile` member names and sizes (member data is never extracted).
- npy: `numpy.load(allow_pickle=False)`; safetensors: `safetensors.safe_open` on a temporary file, which parses
  and validates the header and offsets without converting a tensor.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import resource
import signal
import struct
import sys
import tarfile
import tempfile
import zipfile

ADDRESS_SPACE_BYTES = 2 * 1024**3
REQUEST_SECONDS = 10
MAX_ERROR_CHARS = 200


class _Inert:
    """What find_class hands back instead of a real global: calling, instantiating or building it does nothing."""

    def __new__(cls, *args: object, **kwargs: object) -> _Inert:
        return object.__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass


class _RecordingUnpickler(pickle.Unpickler):
    def __init__(self, stream: io.BytesIO) -> None:
        super().__init__(stream)
        self.asked: list[list[str]] = []
        self.persistent_ids = 0

    def find_class(self, module: str, name: str) -> type:
        self.asked.append([module, name])
        return _Inert

    def persistent_load(self, pid: object) -> object:
        self.persistent_ids += 1
        return _Inert()


def _pickle(data: bytes) -> dict[str, object]:
    stream = io.BytesIO(data)
    unpickler = _RecordingUnpickler(stream)
    answer: dict[str, object] = {"ok": False}
    try:
        value = unpickler.load()
        answer = {"ok": True, "consumed": stream.tell(), "value": _shown(value)}
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        answer["error"] = _describe(error)
    answer["globals"] = unpickler.asked
    answer["persistent_ids"] = unpickler.persistent_ids
    return answer


def _shown(value: object) -> str:
    """The repr of a scalar the load returned (what the argument readers are compared on), else its type."""
    if isinstance(value, (int, float, str, bytes)) or value is None:
        try:
            return repr(value)[:MAX_ERROR_CHARS]
        except ValueError:  # an int past sys.get_int_max_str_digits(), which the loader keeps at its default
            return "<int too long to show>"
    return type(value).__name__


def _zip(data: bytes) -> dict[str, object]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    return {"ok": True, "names": [i.filename for i in infos], "sizes": [i.file_size for i in infos]}


def _tar(data: bytes) -> dict[str, object]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        members = archive.getmembers()
    return {"ok": True, "names": [m.name for m in members], "sizes": [m.size for m in members]}


def _npy(data: bytes) -> dict[str, object]:
    import numpy as np

    array = np.load(io.BytesIO(data), allow_pickle=False)
    return {"ok": True, "dtype": str(array.dtype), "shape": list(array.shape)}


def _safetensors(data: bytes) -> dict[str, object]:
    from safetensors import safe_open

    with tempfile.NamedTemporaryFile(suffix=".safetensors") as file:
        file.write(data)
        file.flush()
        with safe_open(file.name, framework="numpy") as opened:
            keys = list(opened.keys())
    return {"ok": True, "keys": keys}


HANDLERS = {b"p": _pickle, b"z": _zip, b"t": _tar, b"n": _npy, b"s": _safetensors}


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


def _expired(signum: int, frame: object) -> None:
    raise TimeoutError(f"loader still running after {REQUEST_SECONDS} s")


def _answer(kind: bytes, data: bytes) -> dict[str, object]:
    signal.alarm(REQUEST_SECONDS)
    try:
        return HANDLERS[kind](data)
    except Exception as error:
        return {"ok": False, "error": _describe(error)}
    except (MemoryError, RecursionError) as error:
        return {"ok": False, "error": _describe(error)}
    finally:
        signal.alarm(0)


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    signal.signal(signal.SIGALRM, _expired)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = requests.read(5)
        if len(header) < 5:
            return
        kind, length = header[:1], struct.unpack("<I", header[1:])[0]
        reply = json.dumps(_answer(kind, requests.read(length))).encode()
        replies.write(struct.pack("<I", len(reply)) + reply)
        replies.flush()


if __name__ == "__main__":
    os.environ.pop("PYTHONPATH", None)
    main()
