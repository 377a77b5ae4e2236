"""Legacy Keras samples: tf.keras-style configs and `.h5` files, generated in code.

The Lambda bytecode is real `marshal` output of a compiled lambda, base64'd as Keras does, and is never
loaded. `.h5` files are written by h5py (a test dependency); without h5py the bytes are laid out the way the
scanner reads them (a superblock, the attribute name, the JSON), which tests the scanner only.
"""

from __future__ import annotations

import base64
import io
import marshal
from typing import Any

from .samples import hdf5_file

try:
    import h5py
    import numpy as np
except ImportError:  # pragma: no cover - h5py is in the test extra
    h5py = None

EVIL_CODE = base64.b64encode(marshal.dumps(compile("lambda x: __import__('os').system('id')", "<m>", "eval"))).decode()


def lambda2(name: str = "lambda_1") -> dict[str, Any]:
    """A Keras 2 (tf.keras) Lambda: function = [base64 marshalled code, defaults, closure]."""
    return {"class_name": "Lambda", "config": {"name": name, "trainable": True, "dtype": "float32",
                                               "function": [EVIL_CODE, None, None], "function_type": "lambda",
                                               "module": "__main__", "output_shape": None, "arguments": {}}}


def legacy_model(*layers: dict[str, Any]) -> dict[str, Any]:
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "input_1"}}, *layers]}}


def h5_file(model_config: bytes | str | None, weights: int = 64) -> bytes:
    """A legacy Keras .h5: root attributes keras_version, backend, model_config; a weights group."""
    if h5py is None:  # the layout the scanner reads: superblock, attribute name, JSON (no real HDF5 objects)
        attribute = b"" if model_config is None else b"model_config\0\0\0\0" + (
            model_config.encode() if isinstance(model_config, str) else model_config)
        return hdf5_file() + b"\x01" * 64 + attribute + b"\0" * weights
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        if model_config is not None:
            f.attrs["model_config"] = model_config
        f.create_group("model_weights").create_dataset("dense/kernel:0", data=np.arange(weights, dtype=np.float32))
    return buf.getvalue()
