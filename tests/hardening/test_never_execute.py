"""`scan` never loads what it checks: the whole malicious corpus the format tests build (every dangerous pickle
family, torch zips and legacy tars, joblib, numpy object arrays, compressed and nested pickles, Keras Lambda
layers with marshalled code, chat-template injection in GGUF and tokenizer configs), each payload written to
create a canary file, is scanned through the library and through the CLI while a guard fails the test if any
ML framework is imported or any deserializer is called. The canary must not exist afterwards, and a control
shows the corpus is live: unpickling one file really does create it.
"""

from __future__ import annotations

import base64
import bz2
import contextlib
import gzip
import importlib.abc
import json
import lzma
import marshal
import pickle
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from formats import keras_samples, samples
from formats.pickles import Call, G, NewObj, call, dumps, torch_zip
from formats.test_picklefmt import DENIED
from weightgate.cli import main
from weightgate.exitcodes import EXIT_FINDINGS
from weightgate.rules import Severity
from weightgate.scan import ScanOptions, run_scan

FORBIDDEN_MODULES = ("torch", "keras", "tensorflow", "tf_keras", "onnx", "onnxruntime", "joblib", "dill",
                     "cloudpickle", "h5py", "safetensors", "transformers")


class _Guard(importlib.abc.MetaPathFinder):
    """Records (and refuses) every import of an ML framework or deserializer, and every call of a patched
    loading function."""

    def __init__(self) -> None:
        self.touched: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in FORBIDDEN_MODULES:
            self.touched.append(f"import {name}")
            raise ImportError(f"{name} must not be imported while scanning")

    def trap(self, label: str, original: object = None):
        def refuse(*args: object, **kwargs: object) -> object:
            # Python's own import system unmarshals .pyc files: only that caller may go through.
            if callable(original) and sys._getframe(1).f_code.co_filename.startswith("<frozen importlib"):
                return original(*args, **kwargs)
            self.touched.append(label)
            raise AssertionError(f"{label} was called while scanning")

        return refuse


@contextlib.contextmanager
def guarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Guard]:
    import _pickle

    import jinja2
    import numpy

    guard = _Guard()
    traps = [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (pickle, "_load"), (pickle, "_loads"),
             (pickle, "_Unpickler"), (_pickle, "load"), (_pickle, "loads"), (_pickle, "Unpickler"),
             (marshal, "load"), (marshal, "loads"), (numpy, "load"), (numpy.lib.format, "read_array"),
             (jinja2.Template, "render"), (jinja2.Environment, "from_string"), (jinja2.Environment, "compile")]
    for owner, name in traps:
        label = f"{getattr(owner, '__name__', owner)}.{name}"
        monkeypatch.setattr(owner, name, guard.trap(label, getattr(owner, name) if owner is marshal else None))
    for module in [m for m in sys.modules if m.split(".")[0] in FORBIDDEN_MODULES]:
        for name in ("load", "loads", "load_model"):  # already imported by test helpers (e.g. h5py): trap loaders
            if hasattr(sys.modules[module], name):
                monkeypatch.setattr(sys.modules[module], name, guard.trap(f"{module}.{name}"))
        monkeypatch.delitem(sys.modules, module)  # so that an `import` goes through the finder again
    sys.meta_path.insert(0, guard)
    try:
        yield guard
    finally:
        sys.meta_path.remove(guard)


# --- the corpus --------------------------------------------------------------------------------------------------


def _payloads(canary: Path) -> dict[str, object]:
    """Every way a pickle can run the canary command, as assembled opcodes."""
    touch = f"touch {canary}"
    code = f"open({str(canary)!r}, 'w').close()"
    found: dict[str, object] = {
        "os.system": call("os", "system", touch),
        "posix.system": call("posix", "system", touch),
        "builtins.exec": call("builtins", "exec", code),
        "builtins.eval": call("builtins", "eval", code),
        "subprocess.Popen": call("subprocess", "Popen", ["touch", str(canary)]),
        "subprocess.run": call("subprocess", "run", ["touch", str(canary)]),
        "getattr-gadget": Call(call("builtins", "getattr", G("os", "__dict__"), "get"), ("system",)),
        "newobj-popen": NewObj(G("subprocess", "Popen"), (["touch", str(canary)],)),
        "runpy": call("runpy", "_run_code", code, {}),
        "pydoc-locate": Call(call("pydoc", "locate", "os.system"), (touch,)),
    }
    for module, name, _family in DENIED:  # every denied family the pickle tests name, called with the canary
        found.setdefault(f"{module}.{name}", call(module, name, touch))
    return found


def _npy_with_pickle(payload: bytes) -> bytes:
    header = repr({"descr": "|O", "fortran_order": False, "shape": (1,)}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def _keras_lambda(canary: Path) -> dict[str, object]:
    code = base64.b64encode(marshal.dumps(compile(f"lambda x: open({str(canary)!r}, 'w')", "<m>", "eval"))).decode()
    layer = keras_samples.lambda2()
    layer["config"]["function"] = [code, None, None]  # type: ignore[index]
    return keras_samples.legacy_model(layer)


def _template(canary: Path) -> str:
    return ("{{ cycler.__init__.__globals__.os.system('touch " + str(canary) + "') }}"
            "{% for m in messages %}{{ m.content }}{% endfor %}")


def write_corpus(root: Path, canary: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    payloads = _payloads(canary)
    for label, payload in payloads.items():
        for protocol in (0, 2, 4):
            files[f"pickles/{label}.p{protocol}.pkl"] = dumps(payload, protocol)
    system = dumps(payloads["os.system"], 2)
    files |= {
        "torch/model.pt": torch_zip(system),
        "torch/renamed.bin": torch_zip(system, folder="resnet", pickle_name="data.pkl"),
        "torch/legacy.tar": samples.tar_of({"sys_info": system, "pickle": system, "storages": system,
                                            "tensors": system}),
        "joblib/model.joblib": zlib.compress(dumps(payloads["subprocess.Popen"], 4), 3),
        "joblib/model.gz": gzip.compress(system),
        "joblib/model.bz2": bz2.compress(system),
        "joblib/model.xz": lzma.compress(system),
        "numpy/object.npy": _npy_with_pickle(system),
        "numpy/arrays.npz": samples.zip_of({"a.npy": _npy_with_pickle(system)}),
        "nested/deep.zip": samples.zip_of({"inner.tar": samples.tar_of({"x.pkl.gz": gzip.compress(system)})}),
        "keras/model.h5": keras_samples.h5_file(json.dumps(_keras_lambda(canary))),
        "keras/model.keras": samples.zip_of({"config.json": json.dumps(_keras_lambda(canary)).encode(),
                                             "metadata.json": b'{"keras_version": "3.3.3"}'}),
        "templates/tokenizer_config.json": json.dumps({"chat_template": _template(canary)}).encode(),
        "templates/model.gguf": samples.gguf_file(kv=[
            samples.gguf_kv("general.architecture", samples.GGUF_STRING, samples.gguf_string("llama")),
            samples.gguf_kv("tokenizer.chat_template", samples.GGUF_STRING, samples.gguf_string(_template(canary))),
        ]),
    }
    for relative, data in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return files


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    canary = tmp_path / "CANARY"
    root = tmp_path / "corpus"
    return root, canary, write_corpus(root, canary)


# --- the tests ---------------------------------------------------------------------------------------------------


def test_the_corpus_is_live(corpus: tuple[Path, Path, dict[str, bytes]]) -> None:
    """Control: loading one file the usual way really runs its payload (in a child process)."""
    root, canary, _ = corpus
    subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())",
                    str(root / "pickles" / "os.system.p2.pkl")], check=True, capture_output=True)
    assert canary.exists()


def test_library_scan_of_the_corpus_executes_nothing(corpus: tuple[Path, Path, dict[str, bytes]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root, canary, files = corpus
    with guarded(monkeypatch) as guard:
        report = run_scan(ScanOptions(paths=(root,), source_root=root))
    assert guard.touched == []
    assert not canary.exists()
    flagged = {Path(f.file_path).relative_to(root).as_posix() for f in report.active_findings
               if f.severity in (Severity.CRITICAL, Severity.HIGH)}
    missed = sorted(path for path in files if path not in flagged)
    assert missed == [], f"scanned without a critical or high finding: {missed}"


def test_cli_scan_of_the_corpus_executes_nothing(corpus: tuple[Path, Path, dict[str, bytes]], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root, canary, _ = corpus
    with guarded(monkeypatch) as guard:
        code = main(["scan", str(root), "--sarif", str(tmp_path / "r.sarif"), "--bom", str(tmp_path / "r.bom.json"),
                     "--json", str(tmp_path / "r.json"), "-q", "--source-root", str(root)])
    assert code == EXIT_FINDINGS
    assert guard.touched == []
    assert not canary.exists()


def test_the_guard_catches_loading_and_framework_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: the guard is not a no-op."""
    import importlib

    import numpy

    with guarded(monkeypatch) as guard:
        with pytest.raises(AssertionError):
            pickle.loads(b"N.")
        with pytest.raises(AssertionError):
            numpy.load("x.npy")
        with pytest.raises(AssertionError):
            marshal.loads(marshal.dumps(1))
        for name in ("joblib", "torch", "dill"):
            with pytest.raises(ImportError):
                importlib.import_module(name)
    assert guard.touched == ["pickle.loads", "numpy.load", "marshal.loads", "import joblib", "import torch",
                             "import dill"]
