"""A small pickle assembler for tests: opcode-level pickles of every protocol, benign and hostile.

The pickle module only writes globals it can import (torch is not installed here) and never writes the shapes
attackers use, so test pickles are assembled from opcodes, the way fickling builds its test cases. A value is
plain data (None, bool, int, float, str, bytes, tuple, list, dict) or one of the nodes below; `dumps` writes it
with the opcodes the pickle module uses for that protocol, memoizing strings and globals like it does (so
protocol 4 and 5 pickles name globals through memoized strings, STACK_GLOBAL and BINGET).
"""

from __future__ import annotations

import math
import struct
import zipfile
from dataclasses import dataclass

from .samples import zip_of


@dataclass(frozen=True)
class G:
    """A global: GLOBAL or STACK_GLOBAL of module.name."""

    module: str
    name: str


@dataclass(frozen=True)
class Call:
    """REDUCE: func(*args)."""

    func: object
    args: tuple[object, ...] = ()


@dataclass(frozen=True)
class NewObj:
    """NEWOBJ: cls.__new__(cls, *args)."""

    cls: object
    args: tuple[object, ...] = ()


@dataclass(frozen=True)
class Build:
    """BUILD: obj.__setstate__(state)."""

    obj: object
    state: object


@dataclass(frozen=True)
class PersistentId:
    pid: object


@dataclass(frozen=True)
class OrderedDictOf:
    items: tuple[tuple[object, object], ...] = ()


@dataclass(frozen=True)
class Raw:
    """Opcodes inserted verbatim."""

    data: bytes


class _Emitter:
    def __init__(self, protocol: int) -> None:
        self.p = protocol
        self.out = bytearray()
        self.memo_size = 0
        self.strings: dict[str, int] = {}

    def emit(self, value: object) -> None:
        if isinstance(value, Raw):
            self.out += value.data
        elif value is None:
            self.out += b"N"
        elif isinstance(value, bool):
            self.out += (b"\x88" if value else b"\x89") if self.p >= 2 else (b"I01\n" if value else b"I00\n")
        elif isinstance(value, int):
            self._int(value)
        elif isinstance(value, float):
            self.out += b"G" + struct.pack(">d", value) if self.p >= 1 else f"F{value!r}\n".encode()
        elif isinstance(value, str):
            self._str(value)
        elif isinstance(value, bytes):
            self._bytes(value)
        elif isinstance(value, tuple):
            self._tuple(value)
        elif isinstance(value, list):
            self._list(value)
        elif isinstance(value, dict):
            self._dict(list(value.items()))
        elif isinstance(value, (set, frozenset)):
            self._set(value)
        else:
            self._node(value)

    def _node(self, value: object) -> None:
        if isinstance(value, G):
            self._global(value)
        elif isinstance(value, Call):
            self.emit(value.func)
            self.emit(value.args)
            self.out += b"R"
            self.memoize()
        elif isinstance(value, NewObj):
            self.emit(value.cls)
            self.emit(value.args)
            self.out += b"\x81"
            self.memoize()
        elif isinstance(value, Build):
            self.emit(value.obj)
            self.emit(value.state)
            self.out += b"b"
        elif isinstance(value, PersistentId):
            if self.p == 0:
                self.out += b"P" + str(value.pid).encode() + b"\n"
            else:
                self.emit(value.pid)
                self.out += b"Q"
        elif isinstance(value, OrderedDictOf):
            self.emit(Call(G("collections", "OrderedDict"), ()))
            self._setitems(list(value.items))
        else:
            raise TypeError(f"cannot assemble {value!r}")

    def memoize(self) -> int:
        index = self.memo_size
        self.memo_size += 1
        if self.p == 0:
            self.out += f"p{index}\n".encode()
        elif self.p >= 4:
            self.out += b"\x94"
        elif index < 256:
            self.out += b"q" + bytes([index])
        else:
            self.out += b"r" + struct.pack("<I", index)
        return index

    def get(self, index: int) -> None:
        if self.p == 0:
            self.out += f"g{index}\n".encode()
        elif index < 256:
            self.out += b"h" + bytes([index])
        else:
            self.out += b"j" + struct.pack("<I", index)

    def _int(self, value: int) -> None:
        if self.p == 0:
            self.out += f"I{value}\n".encode()
        elif 0 <= value < 256:
            self.out += b"K" + bytes([value])
        elif 0 <= value < 65536:
            self.out += b"M" + struct.pack("<H", value)
        elif -(2**31) <= value < 2**31:
            self.out += b"J" + struct.pack("<i", value)
        elif self.p >= 2:
            raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            self.out += b"\x8a" + bytes([len(raw)]) + raw
        else:
            self.out += f"L{value}L\n".encode()

    def _str(self, value: str) -> None:
        if value in self.strings:
            self.get(self.strings[value])
            return
        raw = value.encode("utf-8", "surrogatepass")
        if self.p == 0:
            self.out += b"V" + value.encode("raw-unicode-escape") + b"\n"
        elif self.p >= 4 and len(raw) < 256:
            self.out += b"\x8c" + bytes([len(raw)]) + raw
        else:
            self.out += b"X" + struct.pack("<I", len(raw)) + raw
        self.strings[value] = self.memoize()

    def _bytes(self, value: bytes) -> None:
        if self.p < 3:  # what the pickle module writes: _codecs.encode(text, "latin1")
            self.emit(Call(G("_codecs", "encode"), (value.decode("latin-1"), "latin1")))
        elif len(value) < 256:
            self.out += b"C" + bytes([len(value)]) + value
        else:
            self.out += b"B" + struct.pack("<I", len(value)) + value

    def _tuple(self, items: tuple[object, ...]) -> None:
        if not items:
            self.out += b")" if self.p >= 1 else b"(t"
            return
        if self.p >= 2 and len(items) <= 3:
            for item in items:
                self.emit(item)
            self.out += bytes([0x84 + len(items)])
            return
        self.out += b"("
        for item in items:
            self.emit(item)
        self.out += b"t"

    def _list(self, items: list[object]) -> None:
        if self.p == 0:
            self.out += b"(l"
            for item in items:
                self.emit(item)
                self.out += b"a"
            return
        self.out += b"]"
        if items:
            self.out += b"("
            for item in items:
                self.emit(item)
            self.out += b"e"

    def _set(self, value: set[object] | frozenset[object]) -> None:
        items = sorted(value, key=repr)
        if self.p < 4:  # what the pickle module writes: builtins.set([...]), named the Python 2 way below 3
            self.emit(Call(G("__builtin__" if self.p < 3 else "builtins", type(value).__name__), (items,)))
            return
        if isinstance(value, frozenset):
            self.out += b"("
            for item in items:
                self.emit(item)
            self.out += b"\x91"  # FROZENSET
            return
        self.out += b"\x8f"  # EMPTY_SET
        if items:
            self.out += b"("
            for item in items:
                self.emit(item)
            self.out += b"\x90"  # ADDITEMS

    def _dict(self, pairs: list[tuple[object, object]]) -> None:
        self.out += b"(d" if self.p == 0 else b"}"
        self._setitems(pairs)

    def _setitems(self, pairs: list[tuple[object, object]]) -> None:
        if self.p == 0:
            for key, item in pairs:
                self.emit(key)
                self.emit(item)
                self.out += b"s"
            return
        if pairs:
            self.out += b"("
            for key, item in pairs:
                self.emit(key)
                self.emit(item)
            self.out += b"u"

    def _global(self, value: G) -> None:
        if self.p >= 4:
            self._str(value.module)
            self._str(value.name)
            self.out += b"\x93"
        else:
            self.out += b"c" + value.module.encode() + b"\n" + value.name.encode() + b"\n"
        self.memoize()


def dumps(value: object, protocol: int = 2, frame: bool = True) -> bytes:
    """The pickle of `value` as the pickle module would write it for `protocol` (FRAMEd from protocol 4)."""
    emitter = _Emitter(protocol)
    emitter.emit(value)
    body = bytes(emitter.out) + b"."
    if protocol >= 4 and frame:
        body = b"\x95" + struct.pack("<Q", len(body)) + body
    return (b"\x80" + bytes([protocol]) if protocol >= 2 else b"") + body


# --- what torch.save writes ---------------------------------------------------------------------------------


def torch_tensor(key: str, shape: tuple[int, ...] = (2, 2), storage: str = "FloatStorage", v3: bool = False) -> object:
    """A tensor as torch.save pickles it: _rebuild_tensor_v2 (or v3) over a storage named by persistent id."""
    numel = math.prod(shape)
    stride = tuple(math.prod(shape[i + 1 :]) for i in range(len(shape)))
    pid = PersistentId(("storage", G("torch", storage), key, "cpu", numel))
    if v3:
        args = (pid, 0, shape, stride, False, OrderedDictOf(), G("torch", "float32"), {})
        return Call(G("torch._utils", "_rebuild_tensor_v3"), args)
    return Call(G("torch._utils", "_rebuild_tensor_v2"), (pid, 0, shape, stride, False, OrderedDictOf()))


def torch_state_dict(layers: int = 3) -> object:
    """A model's state_dict: an OrderedDict of tensors (one a Parameter, one v3 with a dtype), with the
    `_metadata` attribute torch sets through BUILD."""
    items: list[tuple[object, object]] = []
    for i in range(layers):
        items.append((f"layers.{i}.weight", torch_tensor(str(2 * i))))
        items.append((f"layers.{i}.bias", torch_tensor(str(2 * i + 1), (2,), storage="HalfStorage")))
    items.append(("head.weight", Call(G("torch._utils", "_rebuild_parameter"),
                                      (torch_tensor("p", v3=True), True, OrderedDictOf()))))
    items.append(("step", Call(G("torch._utils", "_rebuild_tensor_v2"),
                               (PersistentId(("storage", G("torch", "LongStorage"), "s", "cpu", 1)), 0, (), (),
                                False, OrderedDictOf()))))
    metadata = OrderedDictOf((("", {"version": 1}), *((f"layers.{i}", {"version": 1}) for i in range(layers))))
    return Build(OrderedDictOf(tuple(items)), {"_metadata": metadata})


def torch_checkpoint(value: object = None, protocol: int = 2) -> object:
    """A training checkpoint: state dict plus plain metadata, the shape most `.pt` files have."""
    return {"model": torch_state_dict() if value is None else value, "epoch": 3, "lr": 0.001,
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0, 1]}]},
            "classes": {"a", "b"} if protocol >= 1 else ["a", "b"], "name": "résumé", "blob": b"\x00\x01"}


def torch_zip(data_pkl: bytes, folder: str = "archive", pickle_name: str = "data.pkl",
              compression: int = zipfile.ZIP_STORED) -> bytes:
    """The layout torch.save writes, with the given data.pkl (renamable, for the relocation cases)."""
    return zip_of({
        f"{folder}/{pickle_name}": data_pkl,
        f"{folder}/byteorder": b"little",
        f"{folder}/data/0": struct.pack("<4f", 1, 2, 3, 4),
        f"{folder}/version": b"3\n",
        f"{folder}/.data/serialization_id": b"1234567890",
    }, compression)


def call(module: str, name: str, *args: object) -> Call:
    return Call(G(module, name), args)
