"""File formats weightgate recognises from bytes, and what each one can do when loaded."""

from __future__ import annotations

import enum


class Format(str, enum.Enum):
    """A file's real format, detected from its content. The values are the names used in policies and in
    the manifest's `files[].format`."""

    PICKLE = "pickle"
    PYTORCH_ZIP = "pytorch-zip"
    PYTORCH_TAR = "pytorch-tar"
    JOBLIB = "joblib"
    ZIP = "zip"
    TAR = "tar"
    NUMPY = "numpy"
    NUMPY_NPZ = "numpy-npz"
    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    ONNX = "onnx"
    HDF5 = "hdf5"
    KERAS_V3 = "keras-v3"
    TF_SAVEDMODEL = "tf-savedmodel"
    SENTENCEPIECE = "sentencepiece"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    SEVEN_ZIP = "7z"
    ZSTD = "zstd"
    JSON = "json"
    JSONL = "jsonl"
    PARQUET = "parquet"
    TEXT = "text"
    EMPTY = "empty"
    UNKNOWN = "unknown"

    @property
    def runs_code_on_load(self) -> bool:
        """True when the usual loader of this format can execute arbitrary code from the file."""
        return self in CODE_ON_LOAD


CODE_ON_LOAD = frozenset({Format.PICKLE, Format.PYTORCH_ZIP, Format.PYTORCH_TAR, Format.JOBLIB})

# What a file name claims. Extensions that several formats share (.bin, .pt, .model) claim a family.
EXTENSION_CLAIMS: dict[str, frozenset[Format]] = {
    ".safetensors": frozenset({Format.SAFETENSORS}),
    ".gguf": frozenset({Format.GGUF}),
    ".onnx": frozenset({Format.ONNX}),
    ".npy": frozenset({Format.NUMPY}),
    ".npz": frozenset({Format.NUMPY_NPZ}),
    ".h5": frozenset({Format.HDF5}),
    ".hdf5": frozenset({Format.HDF5}),
    ".keras": frozenset({Format.KERAS_V3}),
    ".json": frozenset({Format.JSON}),
    ".jsonl": frozenset({Format.JSONL}),
    ".parquet": frozenset({Format.PARQUET}),
    # joblib.dump files are pickles, and joblib's and scikit-learn's docs name them .pkl; a compressed pickle is
    # what joblib.dump(compress=...) writes, and it is detected as joblib.
    ".pkl": frozenset({Format.PICKLE, Format.JOBLIB}),
    ".pickle": frozenset({Format.PICKLE, Format.JOBLIB}),
    ".joblib": frozenset({Format.JOBLIB, Format.PICKLE}),
    ".pt": frozenset({Format.PYTORCH_ZIP, Format.PYTORCH_TAR, Format.PICKLE}),
    ".pth": frozenset({Format.PYTORCH_ZIP, Format.PYTORCH_TAR, Format.PICKLE}),
    ".ckpt": frozenset({Format.PYTORCH_ZIP, Format.PYTORCH_TAR, Format.PICKLE}),
    ".pb": frozenset({Format.TF_SAVEDMODEL}),
    ".zip": frozenset({Format.ZIP, Format.PYTORCH_ZIP, Format.KERAS_V3, Format.NUMPY_NPZ}),
    ".tar": frozenset({Format.TAR, Format.PYTORCH_TAR}),
    ".nemo": frozenset({Format.TAR, Format.GZIP}),  # NeMo saves a tar (older versions gzip it)
    ".gz": frozenset({Format.GZIP, Format.JOBLIB}),
    ".bz2": frozenset({Format.BZIP2, Format.JOBLIB}),
    ".xz": frozenset({Format.XZ, Format.JOBLIB}),
    ".7z": frozenset({Format.SEVEN_ZIP}),
    ".zst": frozenset({Format.ZSTD}),
    ".txt": frozenset({Format.TEXT}),
    ".md": frozenset({Format.TEXT}),
}


def claimed_formats(path: str) -> frozenset[Format] | None:
    """Formats a file name claims by its extension, or None when the extension claims nothing."""
    name = path.rsplit("/", 1)[-1].lower()
    if "." not in name:
        return None
    return EXTENSION_CLAIMS.get("." + name.rsplit(".", 1)[-1])
