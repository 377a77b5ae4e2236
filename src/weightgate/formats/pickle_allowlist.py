"""Which globals a pickle may reference: a fixed allowlist, what a policy adds, and a deny set nothing lifts.

A pickle is acceptable only when every global it names is allowlisted. The built-in list is what PyTorch's
weights-only unpickler accepts for plain state dicts (`_get_allowed_globals()` in
pytorch/pytorch torch/_weights_only_unpickler.py: collections.OrderedDict/Counter, the `torch._utils._rebuild_*`
functions, `torch._tensor._rebuild_from_type_v2`, the storage and tensor classes, dtypes, torch.Size,
torch.device, `_codecs.encode`, builtins set/bytearray/complex), plus the plain-data builtins and the numpy
reconstructors that numpy's own pickles of arrays, dtypes and scalars name (protocols 2-5), plus what plain
protocol 0-2 pickles of ordinary objects name (`copyreg._reconstructor` with its `object` base), and joblib's
`NumpyArrayWrapper`, whose array data the walker steps over exactly as joblib.load reads it. Library classes
beyond that come in curated profiles (`pickle_profiles`), switched on by the policy.

TorchScript archives (`torch.jit.save`) name list builders under `torch.jit._pickle`; they are identity
functions in Python and list constructors in TorchScript's own unpickler, so they are judged by what they do:
allowed in pickles inside zip archives, where torch.jit.save writes them, and not denied anywhere.

The deny set is for callables that run code, load code or other pickles, reach the operating system, the
network or native code, or serve as gadgets (getattr, attrgetter, partial). A policy can never allowlist them,
not by name and not by allowlisting their module wholesale: `torch.*` still leaves `torch.load` denied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from weightgate.formats.base import Issue
from weightgate.rules import PICKLE_GLOBAL_NOT_ALLOWLISTED

TORCH_REBUILD_FUNCTIONS = (
    "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
    "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor",
    "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy",
    "_rebuild_device_tensor_from_cpu_tensor", "_rebuild_nested_tensor",
)
TORCH_SCALAR_TYPES = (
    "Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
    "ComplexFloat", "ComplexDouble", "QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4",
)
TORCH_DTYPES = (
    "float32", "float64", "float16", "bfloat16", "complex32", "complex64", "complex128", "uint8", "int8",
    "int16", "int32", "int64", "bool", "quint8", "qint8", "qint32", "quint4x2", "quint2x4", "float8_e5m2",
    "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2", "uint16",
    "uint32", "uint64", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
    *(f"uint{bits}" for bits in range(1, 8)), *(f"int{bits}" for bits in range(1, 8)),
)
TORCH_QSCHEMES = (
    "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
    "per_channel_affine_float_qparams",
)
NUMPY_CORE_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
# torch/jit/_pickle.py: `build_intlist(data): return data` and its siblings; `restore_type_tag(value, type_str)`
# returns value; `build_tensor_from_id(data)` returns data when it is an int (else None). torch.jit.load's C++
# unpickler builds the typed list (or tags its type) from the one argument and calls nothing else.
TORCHSCRIPT_PICKLE_HELPERS: frozenset[str] = frozenset(
    f"torch.jit._pickle.{name}" for name in (
        "build_intlist", "build_doublelist", "build_boollist", "build_tensorlist", "build_complexlist",
        "build_tensor_from_id", "restore_type_tag",
    )
)

ALLOWED_GLOBALS: frozenset[str] = frozenset({
    "collections.OrderedDict", "collections.Counter",
    "torch._tensor._rebuild_from_type_v2", "torch.serialization._get_layout",
    "torch.nn.parameter.Parameter", "torch.Size", "torch.Tensor", "torch.device",
    "torch.storage.UntypedStorage", "torch.storage.TypedStorage", "torch.UntypedStorage", "torch.TypedStorage",
    *(f"torch._utils.{name}" for name in TORCH_REBUILD_FUNCTIONS),
    *(f"torch.{kind}Storage" for kind in TORCH_SCALAR_TYPES),
    *(f"torch.cuda.{kind}Storage" for kind in TORCH_SCALAR_TYPES),
    *(f"torch.{kind}Tensor" for kind in TORCH_SCALAR_TYPES),
    *(f"torch.cuda.{kind}Tensor" for kind in TORCH_SCALAR_TYPES),
    *(f"torch.{dtype}" for dtype in TORCH_DTYPES),
    *(f"torch.{scheme}" for scheme in TORCH_QSCHEMES),
    # numpy pickles bytes (and arrays under protocol 2) through _codecs.encode(text, "latin1").
    "_codecs.encode",
    *(f"builtins.{name}" for name in (
        "set", "frozenset", "dict", "list", "tuple", "int", "float", "complex", "bool", "bytearray", "bytes",
        "slice", "str", "range",
    )),
    *(f"{module}.{name}" for module in NUMPY_CORE_MODULES for name in ("_reconstruct", "scalar")),
    # protocol 5 pickles of arrays: numpy.core.numeric._frombuffer(buffer, dtype, shape, order)
    "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
    "numpy.ndarray", "numpy.dtype",
    # A dict whose default_factory is another global, judged on its own; unpickling fills it with SETITEMS and
    # never calls the factory.
    "collections.defaultdict",
    # Protocol 0-2 pickles of any plain class instance: _reconstructor(cls, base, state) is object.__new__(cls)
    # for base `object`, else base.__new__(cls, state) and base.__init__; cls and base are globals of the same
    # stream, judged on their own, so it reaches no constructor the allowlist does not already allow.
    # Python 2 writes them as copy_reg._reconstructor and __builtin__.object; the walker maps those names as
    # the unpickler does (_compat_pickle, protocols 0-2).
    "copyreg._reconstructor", "builtins.object",
    # joblib.load reads the array data after a wrapper's BUILD; the walker steps over exactly those bytes
    # (joblib_arrays), and the class's __init__ only stores attributes. Not NDArrayWrapper or ZNDArrayWrapper
    # (joblib < 0.10): they read another file whose name the pickle gives.
    "joblib.numpy_pickle.NumpyArrayWrapper",
})

# Deny families: (family, what it can do). Entries are module prefixes (the module and everything below it)
# or exact dotted names; `denied_family` also denies dangerous attribute names under any module.
_DENIED_PREFIXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("code execution", (
        "builtins.eval", "builtins.exec", "builtins.execfile", "builtins.compile", "builtins.breakpoint",
        "builtins.input", "builtins.globals", "builtins.locals", "builtins.vars", "builtins.help",
        "code", "codeop", "types.CodeType", "types.FunctionType", "types.LambdaType", "types.MethodType",
        "timeit", "trace", "pdb", "bdb", "cProfile", "profile", "doctest",
    )),
    ("imports and code loading", (
        "builtins.__import__", "importlib", "imp", "pkgutil", "runpy", "zipimport", "marshal", "pip",
        "setuptools", "distutils", "site", "torch.jit", "torch.hub", "torch.package", "torch._C", "torch.ops",
        "torch.utils.cpp_extension", "torch.compile", "torch._dynamo", "torch._inductor", "torch.distributed",
        "torch.library", "torch.cuda.jiterator",
    )),
    ("nested deserialization", (
        "pickle", "_pickle", "cPickle", "pickletools", "copyreg.add_extension", "shelve", "dill", "cloudpickle",
        "joblib.load", "joblib.numpy_pickle.load", "torch.load", "torch.serialization.load", "numpy.load",
        "numpy.lib.npyio.load", "numpy.lib.format.read_array", "pandas.read_pickle", "yaml.load",
        "yaml.unsafe_load", "yaml.full_load", "jsonpickle", "keras.models.load_model", "xmlrpc",
    )),
    ("processes and the operating system", (
        "os", "posix", "nt", "subprocess", "_posixsubprocess", "pty", "sys", "signal", "multiprocessing",
        "asyncio", "platform", "commands", "ctypes", "_ctypes", "cffi", "resource", "gc", "atexit",
    )),
    ("files and the network", (
        "builtins.open", "io.open", "io.FileIO", "_io", "shutil", "tempfile", "glob", "fileinput", "socket",
        "ssl", "select", "selectors", "requests", "urllib", "urllib3", "http", "httpx", "aiohttp", "ftplib",
        "smtplib", "telnetlib", "poplib", "imaplib", "webbrowser", "zipfile", "tarfile",
    )),
    ("attribute access gadgets", (
        "builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.hasattr", "operator.attrgetter",
        "operator.methodcaller", "operator.itemgetter", "_operator", "functools.partial",
        "functools.partialmethod", "functools.reduce", "inspect", "builtins.type",
    )),
)
# Attribute names that mean the same thing under whatever module they are reached through.
_DENIED_ATTRIBUTES: dict[str, str] = {
    **dict.fromkeys(("eval", "exec", "execfile", "compile"), "code execution"),
    **dict.fromkeys(("__import__", "import_module"), "imports and code loading"),
    **dict.fromkeys(("load", "loads", "load_model", "read_pickle", "unsafe_load", "full_load"),
                    "nested deserialization"),
    **dict.fromkeys(("system", "popen", "Popen", "spawn", "spawnl", "spawnv", "execv", "execve", "execl",
                     "execlp", "execvp", "fork", "check_output", "check_call", "getstatusoutput"),
                    "processes and the operating system"),
    **dict.fromkeys(("getattr", "setattr", "delattr", "attrgetter", "methodcaller"), "attribute access gadgets"),
}
_DUNDER = re.compile(r"__\w+__")
_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def denied_family(name: str) -> str | None:
    """The deny family of a dotted global name, or None when it is not denied."""
    if name in TORCHSCRIPT_PICKLE_HELPERS:
        return None  # identity functions under the denied torch.jit: judged by what they do
    for family, prefixes in _DENIED_PREFIXES:
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            return family
    parts = name.split(".")
    for part in parts[1:]:
        if part in _DENIED_ATTRIBUTES:
            return _DENIED_ATTRIBUTES[part]
        if _DUNDER.fullmatch(part):
            return "object internals (dunder attributes)"
    return None


def is_allowlisted(name: str, extra: Iterable[str] = (), in_zip: bool = False) -> bool:
    """True when `name` is on the built-in allowlist or matches a policy entry, and is not denied. `in_zip`:
    the pickle is a zip member, where TorchScript's list builders belong."""
    if denied_family(name) is not None:
        return False
    if in_zip and name in TORCHSCRIPT_PICKLE_HELPERS:
        return True
    return name in ALLOWED_GLOBALS or any(_matches(pattern, name) for pattern in extra)


def _matches(pattern: str, name: str) -> bool:
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1])
    return name == pattern


def policy_entry_problem(pattern: str) -> str | None:
    """Why a policy `pickle.allow_globals` entry is unusable, or None when it is fine."""
    whole_module = pattern.endswith(".*")
    bare = pattern[:-2] if whole_module else pattern
    if not _NAME.fullmatch(bare) or (not whole_module and "." not in bare):
        return "must be a dotted name `module.name` or a whole module `module.*`"
    if whole_module:
        denied = any(bare == prefix or bare.startswith(prefix + ".")
                     for _, prefixes in _DENIED_PREFIXES for prefix in prefixes)
        return "names a module in the deny set; it can never be allowlisted" if denied else None
    family = denied_family(bare)
    return f"is in the deny set ({family}) and can never be allowlisted" if family else None


def allowed_by_policy(issue: Issue, extra: Sequence[str]) -> bool:
    """True when `issue` reports one named pickle global that the policy's `pickle.allow_globals` covers.
    Unnamed imports and calls carry no global and stay reported whatever the policy says."""
    if not extra or issue.rule is not PICKLE_GLOBAL_NOT_ALLOWLISTED:
        return False
    names = [value for key, value in issue.evidence if key == "global"]
    return len(names) == 1 and is_allowlisted(names[0], extra)
