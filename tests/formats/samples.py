"""Builders for real bytes of every format weightgate detects, generated in code (no binary fixtures).

Each builder returns the complete file content. Where a format's library is not a test dependency
(ONNX, TensorFlow, SentencePiece, GGUF, 7z, zstd), the bytes are written by hand from the format's spec.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import tarfile
import zipfile

import numpy as np
import safetensors.numpy

PLAIN_DATA = {"weights": [1, 2.5, "x"], "bias": None, "shape": (2, 3)}


# --- containers -------------------------------------------------------------------------------------------


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def torch_zip(folder: str = "archive") -> bytes:
    """The layout torch.save writes: <folder>/data.pkl, byteorder, version, data/<storage>."""
    return zip_of(
        {
            f"{folder}/data.pkl": pickle.dumps({"layer.weight": "storage 0"}, protocol=2),
            f"{folder}/byteorder": b"little",
            f"{folder}/data/0": struct.pack("<4f", 1, 2, 3, 4),
            f"{folder}/version": b"3\n",
            f"{folder}/.data/serialization_id": b"0123456789",
        }
    )


def keras_v3_zip() -> bytes:
    return zip_of(
        {
            "metadata.json": json.dumps({"keras_version": "3.3.3"}).encode(),
            "config.json": json.dumps({"class_name": "Sequential", "config": {}}).encode(),
            "model.weights.h5": hdf5_file(),
        }
    )


def tar_of(members: dict[str, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def torch_tar() -> bytes:
    """torch's legacy (<= 1.5 `_legacy_save` with tarfile) layout."""
    return tar_of(
        {
            "sys_info": pickle.dumps({"little_endian": True}, protocol=2),
            "pickle": pickle.dumps({"w": "storage"}, protocol=2),
            "storages": pickle.dumps(1, protocol=2) + struct.pack("<4f", 1, 2, 3, 4),
            "tensors": pickle.dumps(0, protocol=2),
        }
    )


# --- numpy and safetensors --------------------------------------------------------------------------------


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=np.arange(6, dtype=np.int32), b=np.ones((2, 2)))
    return buf.getvalue()


def safetensors_file() -> bytes:
    tensors = {"w": np.zeros((2, 3), np.float32), "b": np.arange(3, dtype=np.int64)}
    return bytes(safetensors.numpy.save(tensors, metadata={"format": "np"}))


def safetensors_raw(header: dict[str, object] | bytes, data: bytes, length: int | None = None) -> bytes:
    """A safetensors file from an explicit header, for malformed cases the library would refuse to write."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


# --- GGUF -------------------------------------------------------------------------------------------------

GGUF_UINT32, GGUF_FLOAT32, GGUF_STRING, GGUF_ARRAY = 4, 6, 8, 9
CHAT_TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"


def gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_kv(key: str, value_type: int, payload: bytes) -> bytes:
    return gguf_string(key) + struct.pack("<I", value_type) + payload


def gguf_file(tensor_count: int = 1, kv: list[bytes] | None = None, kv_count: int | None = None) -> bytes:
    """GGUF v3: header, metadata, one tensor info, alignment padding and the tensor's data."""
    kv = GGUF_DEFAULT_KV if kv is None else kv
    header = b"GGUF" + struct.pack("<IQQ", 3, tensor_count, len(kv) if kv_count is None else kv_count)
    tensor_info = gguf_string("w") + struct.pack("<IQIQ", 1, 4, 0, 0)  # 1 dim of 4, F32, offset 0
    body = header + b"".join(kv) + tensor_info
    return body + bytes(-len(body) % 32) + struct.pack("<4f", 1, 2, 3, 4)


GGUF_DEFAULT_KV = [
    gguf_kv("general.architecture", GGUF_STRING, gguf_string("llama")),
    gguf_kv("general.alignment", GGUF_UINT32, struct.pack("<I", 32)),
    gguf_kv("tokenizer.ggml.tokens", GGUF_ARRAY,
            struct.pack("<IQ", GGUF_STRING, 3) + b"".join(gguf_string(t) for t in ("<s>", "</s>", "hi"))),
    gguf_kv("tokenizer.ggml.scores", GGUF_ARRAY, struct.pack("<IQ3f", GGUF_FLOAT32, 3, 0, 0, -1)),
    gguf_kv("tokenizer.chat_template", GGUF_STRING, gguf_string(CHAT_TEMPLATE)),
]


# --- protobuf formats (a tiny encoder: varint, length-delimited and fixed32 fields) --------------------------


def pb_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def pb(number: int, value: int | str | bytes) -> bytes:
    if isinstance(value, int):
        return pb_varint(number << 3) + pb_varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return pb_varint(number << 3 | 2) + pb_varint(len(raw)) + raw


def pb_float(number: int, value: float) -> bytes:
    return pb_varint(number << 3 | 5) + struct.pack("<f", value)


def onnx_model() -> bytes:
    """ModelProto: ir_version, producer, a one-node graph (Relu), opset_import ai.onnx 17."""
    node = pb(1, "x") + pb(2, "y") + pb(3, "relu0") + pb(4, "Relu")
    value_info = pb(1, "x") + pb(2, pb(1, pb(1, 1)))  # name, type.tensor_type.elem_type = FLOAT
    graph = pb(1, node) + pb(2, "g") + pb(11, value_info) + pb(12, pb(1, "y"))
    return pb(1, 8) + pb(2, "pytorch") + pb(3, "2.1.0") + pb(7, graph) + pb(8, pb(1, "") + pb(2, 17))


def saved_model() -> bytes:
    """SavedModel: schema version 1 and one MetaGraphDef tagged 'serve'."""
    meta_info = pb(4, "serve") + pb(5, "2.15.0")  # tags, tensorflow_version
    graph_def = pb(1, pb(1, "x") + pb(2, "Placeholder"))  # GraphDef.node
    return pb(1, 1) + pb(2, pb(1, meta_info) + pb(2, graph_def))


def sentencepiece_model() -> bytes:
    """ModelProto: pieces (piece, score, type), trainer_spec, normalizer_spec."""
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3), ("\u2581the", -1.5, 1), ("s", -2.0, 1)]
    body = b"".join(pb(1, pb(1, text) + pb_float(2, score) + pb(3, kind)) for text, score, kind in pieces)
    trainer = pb(1, "corpus.txt") + pb(3, 8000)  # input, vocab_size... as in sentencepiece_model.proto
    normalizer = pb(1, "nmt_nfkc") + pb(3, 1)
    return body + pb(2, trainer) + pb(3, normalizer)


# --- HDF5 -------------------------------------------------------------------------------------------------


try:
    import h5py
except ImportError:
    h5py = None
HDF5_WRITER = "h5py" if h5py else "hand-written-superblock"


def hdf5_file(userblock: int = 0) -> bytes:
    """An HDF5 file: written by h5py when installed, else a hand-written version-0 superblock."""
    if h5py is None:
        return bytes(userblock) + _hdf5_superblock_v0()
    buf = io.BytesIO()
    with h5py.File(buf, "w", userblock_size=userblock or 0) as f:
        f.create_dataset("w", data=np.ones(4))
    return buf.getvalue()


def _hdf5_superblock_v0() -> bytes:
    undefined = b"\xff" * 8
    fixed = b"\x89HDF\r\n\x1a\n" + bytes([0, 0, 0, 0, 0, 8, 8, 0]) + struct.pack("<HHI", 4, 16, 0)
    addresses = struct.pack("<Q", 0) + undefined + struct.pack("<Q", 96 + 40) + undefined
    root_entry = struct.pack("<QQII", 0, 96, 1, 0) + bytes(16)  # link name offset, header address, cache type
    return fixed + addresses + root_entry


# --- pickles ----------------------------------------------------------------------------------------------


def joblib_pickle() -> bytes:
    """What joblib.dump writes for a numpy array: a pickle naming joblib.numpy_pickle.NumpyArrayWrapper."""
    module, name = b"joblib.numpy_pickle", b"NumpyArrayWrapper"
    return (
        b"\x80\x04"
        + b"\x8c" + bytes([len(module)]) + module + b"\x94"
        + b"\x8c" + bytes([len(name)]) + name + b"\x94"
        + b"\x93\x94)\x81\x94."  # STACK_GLOBAL, MEMOIZE, EMPTY_TUPLE, NEWOBJ, MEMOIZE, STOP
    )


# --- legacy PyTorch tar checkpoints (torch <= 0.3 `_save` through tarfile) ----------------------------------


def _storage_record(key: str, storage_class: str, protocol: int = 2) -> bytes:
    """The pickle of one `(key, location, storage_type)` record: the storage class is a GLOBAL, which the
    pickle module can only write for importable classes, so the opcodes are written by hand."""
    def text(value: str) -> bytes:
        raw = value.encode()
        return b"X" + struct.pack("<I", len(raw)) + raw

    return (b"\x80" + bytes([protocol]) + text(key) + text("cpu") + b"ctorch\n" + storage_class.encode() + b"\n"
            + b"\x87.")  # TUPLE3, STOP


def legacy_torch_tar() -> bytes:
    """The layout torch's legacy tar loader reads: `storages` and `tensors` interleave record pickles with
    raw data (element counts, bytes, tensor geometry), `pickle` refers to tensors by persistent id."""
    floats = struct.pack("<4f", 1, 2, 3, 4)
    storages = (pickle.dumps(1, protocol=2) + _storage_record("0", "FloatStorage") + struct.pack("<q", 4) + floats
                + pickle.dumps([], protocol=2))  # storage views
    tensor_record = (b"\x80\x02X\x01\x00\x00\x00tX\x01\x00\x00\x000ctorch\nFloatTensor\n\x87.")
    geometry = struct.pack("<ii", 1, 0) + struct.pack("<q", 4) + struct.pack("<q", 1) + struct.pack("<q", 0)
    tensors = pickle.dumps(1, protocol=2) + tensor_record + geometry
    root = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01X\x01\x00\x00\x00tq\x02Qs."  # {"w": persistent_load("t")}
    return tar_of({
        "sys_info": pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
        "pickle": root,
        "storages": storages,
        "tensors": tensors,
    })
