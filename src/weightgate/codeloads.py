"""Model loads in Python source, read with `ast` (the code is never imported or run).

Facts only: where application code loads a model, through which API, from what (a hub id, a URL, a local path,
the result of a download, or something a static read cannot know), at which revision, and with which switches
(`trust_remote_code`, `weights_only`, `safe_mode`). What the policy and the manifest say about them is judged in
`checks/code_loads.py`.

The static read follows what a reader of the file could follow without running it: import aliases
(`from transformers import AutoModel as M`, `import tensorflow as tf`, `importlib.import_module("torch")`,
`getattr(transformers, "AutoModel")`), names bound to callables (`load = torch.load`), keyword and positional
arguments (`**{"revision": ...}` too), and strings built from constants: f-strings, `+`, `%`, `str.format`,
`"/".join`, `os.path.join`, `pathlib.Path` and `/`, module-level constants and dicts of them, and names bound
once in the same function. Anything else is *unresolved*, which is itself a fact.
"""

from __future__ import annotations

import ast
import enum
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

# Bounds: a generated or hostile .py file must not exhaust the gate (findings, not exceptions).
MAX_SOURCE_BYTES = 4 * 1024 * 1024
MAX_AST_NODES = 1_000_000
MAX_RESOLVE_DEPTH = 24  # names through names, nested concatenations: deeper is reported as unresolved
MAX_RESOLVED_CHARS = 4096
MAX_LOADS_PER_FILE = 1000

UNKNOWN_PART = "…"  # stands for a part of a string the static read cannot know
URL_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
# A Hugging Face repo id: `name` or `namespace/name` (transformers tries a local folder first, then the hub).
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


class ApiKind(str, enum.Enum):
    HUB = "hub"  # names a Hugging Face repo (or a local folder): from_pretrained, pipeline, hf_hub_download, ...
    TORCH_HUB = "torch-hub"  # torch.hub.load: a GitHub repo whose hubconf.py is imported
    URL_PICKLE = "url-pickle"  # torch.hub.load_state_dict_from_url: a URL, unpickled
    PICKLE = "pickle"  # torch.load, joblib.load, pickle.load(s), ...: unpickles what it is given
    SAVED_MODEL = "saved-model"  # keras load_model, tf.saved_model.load: a path that may be remote


@dataclass(frozen=True)
class LoadApi:
    name: str  # as shown in messages
    kind: ApiKind
    target_position: int | None  # the positional argument naming what is loaded
    target_keywords: tuple[str, ...]
    revision_position: int | None = None
    downloads: bool = False  # the call itself fetches files (its result is a download)


def _apis() -> dict[str, LoadApi]:
    hub_download = LoadApi("hf_hub_download", ApiKind.HUB, 0, ("repo_id",), downloads=True)
    snapshot = LoadApi("snapshot_download", ApiKind.HUB, 0, ("repo_id",), downloads=True)
    pipeline = LoadApi("pipeline", ApiKind.HUB, 1, ("model",), revision_position=8)
    sentence = LoadApi("SentenceTransformer", ApiKind.HUB, 0, ("model_name_or_path",))
    cross = LoadApi("CrossEncoder", ApiKind.HUB, 0, ("model_name_or_path", "model_name"))
    torch_load = LoadApi("torch.load", ApiKind.PICKLE, 0, ("f",))
    keras_load = LoadApi("keras load_model", ApiKind.SAVED_MODEL, 0, ("filepath",))
    saved_model = LoadApi("tf.saved_model.load", ApiKind.SAVED_MODEL, 0, ("export_dir",))
    table = {
        "huggingface_hub.hf_hub_download": hub_download,
        "huggingface_hub.file_download.hf_hub_download": hub_download,
        "huggingface_hub.snapshot_download": snapshot,
        "huggingface_hub._snapshot_download.snapshot_download": snapshot,
        "modelscope.snapshot_download": snapshot,
        "transformers.pipeline": pipeline,
        "transformers.pipelines.pipeline": pipeline,
        "sentence_transformers.SentenceTransformer": sentence,
        "sentence_transformers.SentenceTransformer.SentenceTransformer": sentence,
        "sentence_transformers.CrossEncoder": cross,
        "sentence_transformers.cross_encoder.CrossEncoder": cross,
        "torch.hub.load": LoadApi("torch.hub.load", ApiKind.TORCH_HUB, 0, ("repo_or_dir",)),
        "torch.hub.load_state_dict_from_url": LoadApi("torch.hub.load_state_dict_from_url", ApiKind.URL_PICKLE,
                                                      0, ("url",), downloads=True),
        "torch.load": torch_load,
        "torch.serialization.load": torch_load,
        "joblib.load": LoadApi("joblib.load", ApiKind.PICKLE, 0, ("filename",)),
        "pickle.load": LoadApi("pickle.load", ApiKind.PICKLE, 0, ("file",)),
        "pickle.loads": LoadApi("pickle.loads", ApiKind.PICKLE, 0, ("data",)),
        "_pickle.load": LoadApi("pickle.load", ApiKind.PICKLE, 0, ("file",)),
        "dill.load": LoadApi("dill.load", ApiKind.PICKLE, 0, ("file",)),
        "dill.loads": LoadApi("dill.loads", ApiKind.PICKLE, 0, ("str",)),
        "cloudpickle.load": LoadApi("cloudpickle.load", ApiKind.PICKLE, 0, ("file",)),
        "cloudpickle.loads": LoadApi("cloudpickle.loads", ApiKind.PICKLE, 0, ("data",)),
        "pandas.read_pickle": LoadApi("pandas.read_pickle", ApiKind.PICKLE, 0, ("filepath_or_buffer",)),
        "tensorflow.saved_model.load": saved_model,
        "tensorflow.compat.v2.saved_model.load": saved_model,
    }
    for prefix in ("keras.saving", "keras.models", "tensorflow.keras.models", "tensorflow.keras.saving",
                   "tf_keras.models", "tf_keras.saving"):
        table[f"{prefix}.load_model"] = keras_load
    return table


LOAD_APIS = _apis()
FROM_PRETRAINED = LoadApi("from_pretrained", ApiKind.HUB, 0, ("pretrained_model_name_or_path",))

# Calls whose result holds bytes fetched at run time (besides the download APIs above).
DOWNLOAD_CALLS = frozenset({
    "urllib.request.urlopen", "urllib.request.urlretrieve", "requests.get", "requests.request", "httpx.get",
    "keras.utils.get_file", "tensorflow.keras.utils.get_file", "tf_keras.utils.get_file", "wget.download",
    "gdown.download", "fsspec.open", "smart_open.open", "torch.hub.download_url_to_file",
})
# Calls that pass their first argument through (open a path, wrap bytes): what they return is what it was.
PASS_THROUGH_CALLS = frozenset({
    "open", "io.open", "io.BytesIO", "gzip.open", "bz2.open", "lzma.open", "str", "os.fspath", "builtins.open",
})
PATH_JOIN_CALLS = frozenset({"os.path.join", "posixpath.join", "pathlib.Path", "pathlib.PurePath",
                             "pathlib.PosixPath", "pathlib.PurePosixPath"})


class TargetKind(str, enum.Enum):
    HUB_ID = "hub-id"
    URL = "url"
    LOCAL = "local"
    DOWNLOAD = "download"
    DEFAULT = "default"  # nothing named: the API picks a model itself (pipeline's task default)
    UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class Resolved:
    """A value as far as a static read gets: its text with unknown parts as UNKNOWN_PART, or the download
    call it came from."""

    text: str
    complete: bool
    download: str | None = None


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    text: str = ""  # the hub id, URL or path (with UNKNOWN_PART where unknown); the download call for DOWNLOAD
    complete: bool = True


@dataclass(frozen=True)
class ModelLoad:
    """One call that loads a model, as read from the source."""

    api: LoadApi
    line: int
    column: int  # 1-based
    target: Target
    revision: Resolved | None  # None: no revision argument at all
    revision_given: bool
    trust_remote_code: bool | None  # None: not given; True also when given but not a constant
    trust_remote_code_constant: bool = True
    unsafe_switch: str | None = None  # "weights_only=False" / "safe_mode=False" when switched off
    weights_only: bool | None = None
    torch_hub_source: str | None = None  # torch.hub.load's `source` (github by default)
    endpoint: str | None = None  # hf_hub_download(endpoint=...): the hub the call talks to


@dataclass(frozen=True)
class SourceScan:
    """What one Python file came to: its model loads, or why it could not be read."""

    loads: tuple[ModelLoad, ...] = ()
    unreadable: str | None = None
    unreadable_line: int = 1
    truncated: bool = False  # more than MAX_LOADS_PER_FILE loads: the rest were not listed


def scan_source(source: bytes) -> SourceScan:
    """The model loads in one Python file. Never raises on hostile input: size, syntax, encoding and nesting
    problems come back as `unreadable`."""
    if len(source) > MAX_SOURCE_BYTES:
        return SourceScan(unreadable=f"larger than {MAX_SOURCE_BYTES} bytes: not parsed")
    try:
        # ast.parse on bytes honours the PEP 263 coding line, as the interpreter would.
        tree = ast.parse(source, type_comments=False)
    except SyntaxError as exc:
        line = exc.lineno or 1
        return SourceScan(unreadable=f"not valid Python for this interpreter: {exc.msg}", unreadable_line=line)
    except (ValueError, RecursionError, MemoryError) as exc:
        return SourceScan(unreadable=f"cannot be parsed: {type(exc).__name__}")
    try:
        return _scan_tree(tree)
    except RecursionError:  # the walk is iterative; a nesting the resolver bound missed still ends here
        return SourceScan(unreadable="nested too deeply to read")


# --- scopes -------------------------------------------------------------------------------------------------

_AMBIGUOUS: ast.expr = ast.Constant(value=None)  # marks a name bound to different things, or a parameter


@dataclass
class _Scope:
    names: dict[str, ast.expr] = field(default_factory=dict)
    parent: _Scope | None = None

    def lookup(self, name: str) -> ast.expr | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return None

    def bind(self, name: str, value: ast.expr) -> None:
        old = self.names.get(name)
        if old is None:
            self.names[name] = value
        elif old is not value and ast.dump(old) != ast.dump(value):
            self.names[name] = _AMBIGUOUS


def _own_statements(body: Sequence[ast.AST]) -> Iterator[ast.AST]:
    """Every node of a scope's body that does not belong to a nested function, class or lambda."""
    pending = list(body)
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        pending.extend(ast.iter_child_nodes(node))


def _collect_bindings(scope: _Scope, body: Sequence[ast.AST], imports: dict[str, str], stars: list[str]) -> None:
    for node in _own_statements(body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    imports[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name == "*":
                    stars.append(node.module)
                else:
                    imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                _bind_target(scope, target, node.value)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and isinstance(node.target, ast.Name) and node.value:
            scope.bind(node.target.id, node.value)
        elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor) and isinstance(node.target, ast.Name):
            scope.bind(node.target.id, _AMBIGUOUS)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    _bind_target(scope, item.optional_vars, item.context_expr)


def _bind_target(scope: _Scope, target: ast.expr, value: ast.expr) -> None:
    if isinstance(target, ast.Name):
        scope.bind(target.id, value)
    elif isinstance(target, ast.Tuple | ast.List):
        # `path, headers = urlretrieve(url)`: each name holds part of the value; only "it is a download" carries.
        for element in target.elts:
            if isinstance(element, ast.Name):
                scope.bind(element.id, ast.Call(func=ast.Name(id="__unpacked__"), args=[value], keywords=[]))


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> Iterator[str]:
    args = node.args
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None:
            yield arg.arg


# --- the walk -----------------------------------------------------------------------------------------------

def _scan_tree(tree: ast.Module) -> SourceScan:
    imports: dict[str, str] = {}
    stars: list[str] = []
    module = _Scope()
    _collect_bindings(module, tree.body, imports, stars)
    reader = _Reader(imports, tuple(stars))
    reader.hub_endpoint = _hub_endpoint(tree, reader, module)
    loads: list[ModelLoad] = []
    pending: list[tuple[ast.AST, _Scope]] = [(tree, module)]
    seen = 0
    while pending:
        node, scope = pending.pop()
        seen += 1
        if seen > MAX_AST_NODES:
            return SourceScan(tuple(loads), unreadable=f"more than {MAX_AST_NODES} syntax nodes: read in part")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = _Scope(parent=scope)
            for name in _parameters(node):
                inner.bind(name, _AMBIGUOUS)
            body = node.body if isinstance(node.body, list) else [node.body]
            _collect_bindings(inner, body, imports, stars)
            scope = inner
        if isinstance(node, ast.Call):
            found = reader.model_load(node, scope)
            if found is not None:
                loads.append(found)
                if len(loads) >= MAX_LOADS_PER_FILE:
                    return SourceScan(tuple(loads), truncated=True)
        pending.extend((child, scope) for child in ast.iter_child_nodes(node))
    return SourceScan(tuple(sorted(loads, key=lambda m: (m.line, m.column))))


def _hub_endpoint(tree: ast.Module, reader: _Reader, module: _Scope) -> str | None:
    """`os.environ["HF_ENDPOINT"] = "https://hub.internal"` at module level: where this file's hub ids go (set
    before any load runs; `setdefault` is not counted, since the environment may already say otherwise)."""
    found: str | None = None
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Subscript) and reader.qualified_name(target.value, module) == "os.environ":
                key, value = reader.value(target.slice, module), reader.value(node.value, module)
                if key is not None and key.text == "HF_ENDPOINT":
                    found = value.text if value is not None and value.complete else None
    return found


class _Reader:
    """Resolves callees and argument values against the file's imports and bindings."""

    def __init__(self, imports: dict[str, str], stars: tuple[str, ...]) -> None:
        self.imports = imports
        self.stars = stars
        self.hub_endpoint: str | None = None  # HF_ENDPOINT as the file sets it

    # callees

    def qualified_name(self, node: ast.expr, scope: _Scope, depth: int = 0) -> str | None:
        if depth > MAX_RESOLVE_DEPTH:
            return None
        if isinstance(node, ast.Name):
            return self._name(node.id, scope, depth)
        if isinstance(node, ast.Attribute):
            base = self.qualified_name(node.value, scope, depth + 1)
            return f"{base or '?'}.{node.attr}"
        if isinstance(node, ast.Call):
            return self._dynamic_module(node, scope, depth)
        return None

    def _name(self, name: str, scope: _Scope, depth: int) -> str:
        bound = scope.lookup(name)
        if bound is not None and bound is not _AMBIGUOUS and isinstance(bound, ast.Name | ast.Attribute | ast.Call):
            resolved = self.qualified_name(bound, scope, depth + 1)
            if resolved is not None and not resolved.startswith("?"):
                return resolved
        if name in self.imports:
            return self.imports[name]
        for module in self.stars:
            if f"{module}.{name}" in LOAD_APIS:
                return f"{module}.{name}"
        return name

    def _dynamic_module(self, call: ast.Call, scope: _Scope, depth: int) -> str | None:
        """`importlib.import_module("torch")`, `__import__("torch")`, `getattr(transformers, "AutoModel")`."""
        func = self.qualified_name(call.func, scope, depth + 1)
        args = call.args
        if func in ("importlib.import_module", "__import__") and args:
            name = self.value(args[0], scope, depth + 1)
            return name.text if name and name.complete else None
        if func == "getattr" and len(args) >= 2:
            attr = self.value(args[1], scope, depth + 1)
            base = self.qualified_name(args[0], scope, depth + 1)
            if attr and attr.complete and base:
                return f"{base}.{attr.text}"
        return None

    # values

    def value(self, node: ast.expr, scope: _Scope, depth: int = 0) -> Resolved | None:
        """The string (or download) a value resolves to; None when nothing about it is known."""
        if depth > MAX_RESOLVE_DEPTH:
            return None
        if isinstance(node, ast.Constant):
            return Resolved(node.value[:MAX_RESOLVED_CHARS], True) if isinstance(node.value, str) else None
        if isinstance(node, ast.Name):
            bound = scope.lookup(node.id)
            return None if bound is None or bound is _AMBIGUOUS else self.value(bound, scope, depth + 1)
        if isinstance(node, ast.JoinedStr):
            return self._joined([self._part(v, scope, depth) for v in node.values])
        if isinstance(node, ast.BinOp):
            return self._binop(node, scope, depth)
        if isinstance(node, ast.Call):
            return self._call_value(node, scope, depth)
        if isinstance(node, ast.Attribute):  # `requests.get(url).content`: still the downloaded bytes
            inner = self.value(node.value, scope, depth + 1)
            return inner if inner is not None and inner.download else None
        if isinstance(node, ast.Subscript):
            return self._subscript(node, scope, depth)
        return None

    def _part(self, node: ast.expr, scope: _Scope, depth: int) -> Resolved | None:
        if isinstance(node, ast.FormattedValue):
            if node.format_spec is not None:
                return None
            return self.value(node.value, scope, depth + 1)
        return self.value(node, scope, depth + 1)

    @staticmethod
    def _joined(parts: Sequence[Resolved | None], separator: str = "") -> Resolved:
        download = next((p.download for p in parts if p is not None and p.download), None)
        texts = [UNKNOWN_PART if p is None or p.download else p.text for p in parts]
        complete = all(p is not None and p.complete and not p.download for p in parts)
        return Resolved(separator.join(texts)[:MAX_RESOLVED_CHARS], complete, download)

    def _binop(self, node: ast.BinOp, scope: _Scope, depth: int) -> Resolved | None:
        left, right = self.value(node.left, scope, depth + 1), self.value(node.right, scope, depth + 1)
        if isinstance(node.op, ast.Add) and (left is not None or right is not None):
            return self._joined([left, right])
        if isinstance(node.op, ast.Div) and (left is not None or right is not None):  # pathlib: base / "name"
            joined = self._joined([left, right], "/")
            return Resolved(joined.text.replace("//", "/") if "://" not in joined.text else joined.text,
                            joined.complete, joined.download)
        if isinstance(node.op, ast.Mod) and left is not None and left.complete:
            values = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
            pieces = left.text.split("%s")
            if len(pieces) != len(values) + 1:
                return None
            parts: list[Resolved | None] = []
            for piece, value in zip(pieces, [*values, None], strict=True):
                parts.append(Resolved(piece, True))
                if value is not None:
                    parts.append(self.value(value, scope, depth + 1))
            return self._joined(parts)
        return None

    def _call_value(self, call: ast.Call, scope: _Scope, depth: int) -> Resolved | None:
        if isinstance(call.func, ast.Name) and call.func.id == "__unpacked__":
            inner = self.value(call.args[0], scope, depth + 1)
            return inner if inner is not None and inner.download else None
        func = self.qualified_name(call.func, scope, depth + 1) or ""
        api = LOAD_APIS.get(func)
        if func in DOWNLOAD_CALLS or (api is not None and api.downloads):
            return Resolved("", False, func)
        args = [self.value(a, scope, depth + 1) for a in call.args[:16]]
        if func in PASS_THROUGH_CALLS or func.endswith(".BytesIO"):
            return args[0] if args else None
        if func in PATH_JOIN_CALLS or func in ("Path", "PurePath"):
            return self._joined(args, "/") if args else None
        if isinstance(call.func, ast.Attribute):
            base = self.value(call.func.value, scope, depth + 1)
            if base is not None and base.complete and call.func.attr == "format":
                return self._format(base.text, call, scope, depth)
            if base is not None and base.complete and call.func.attr == "join" and len(call.args) == 1:
                items = call.args[0]
                if isinstance(items, ast.List | ast.Tuple):
                    return self._joined([self.value(e, scope, depth + 1) for e in items.elts], base.text)
        return None

    def _format(self, template: str, call: ast.Call, scope: _Scope, depth: int) -> Resolved | None:
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        parts: list[Resolved | None] = []
        position = 0
        try:
            fields = list(string.Formatter().parse(template))
        except ValueError:
            return None
        for literal, name, _spec, _conversion in fields:
            parts.append(Resolved(literal, True))
            if name is None:
                continue
            node: ast.expr | None = None
            if name == "":
                node = call.args[position] if position < len(call.args) else None
                position += 1
            elif name.isdigit():
                node = call.args[int(name)] if int(name) < len(call.args) else None
            else:
                node = keywords.get(name)
            parts.append(self.value(node, scope, depth + 1) if node is not None else None)
        return self._joined(parts)

    def _subscript(self, node: ast.Subscript, scope: _Scope, depth: int) -> Resolved | None:
        container = self._literal(node.value, scope, depth)
        key = node.slice
        if isinstance(container, ast.Dict):
            wanted = self.value(key, scope, depth + 1)
            for k, v in zip(container.keys, container.values, strict=True):
                if k is not None and wanted is not None and wanted.complete:
                    found = self.value(k, scope, depth + 1)
                    if found is not None and found.text == wanted.text:
                        return self.value(v, scope, depth + 1)
            return None
        if isinstance(container, ast.List | ast.Tuple) and isinstance(key, ast.Constant) \
                and isinstance(key.value, int) and -len(container.elts) <= key.value < len(container.elts):
            return self.value(container.elts[key.value], scope, depth + 1)
        inner = self.value(node.value, scope, depth + 1)  # `urlretrieve(url)[0]`
        return inner if inner is not None and inner.download else None

    def _literal(self, node: ast.expr, scope: _Scope, depth: int) -> ast.expr | None:
        for _ in range(MAX_RESOLVE_DEPTH - depth):
            if not isinstance(node, ast.Name):
                return node
            bound = scope.lookup(node.id)
            if bound is None or bound is _AMBIGUOUS:
                return None
            node = bound
        return None

    def flag(self, node: ast.expr, scope: _Scope) -> bool | None:
        """A boolean argument's value; None when it is not a constant the read can follow."""
        for _ in range(MAX_RESOLVE_DEPTH):
            if isinstance(node, ast.Constant) and isinstance(node.value, bool):
                return node.value
            if not isinstance(node, ast.Name):
                return None
            bound = scope.lookup(node.id)
            if bound is None or bound is _AMBIGUOUS:
                return None
            node = bound
        return None

    # arguments

    def keywords(self, call: ast.Call, scope: _Scope) -> tuple[dict[str, ast.expr], bool]:
        """Keyword arguments, with `**{...}` and `**CONSTANT_DICT` spread out; and whether some arguments are
        unknown (`**kwargs`, `*args`, a dict with computed keys), so that a missing one may be there after all."""
        found: dict[str, ast.expr] = {}
        unknown = any(isinstance(a, ast.Starred) for a in call.args)
        for keyword in call.keywords:
            if keyword.arg is not None:
                found[keyword.arg] = keyword.value
                continue
            spread = self._literal(keyword.value, scope, 0)
            if not isinstance(spread, ast.Dict):
                unknown = True
                continue
            for k, v in zip(spread.keys, spread.values, strict=True):
                key = self.value(k, scope) if k is not None else None
                if key is not None and key.complete:
                    found[key.text] = v
                else:
                    unknown = True
        return found, unknown

    # loads

    def model_load(self, call: ast.Call, scope: _Scope) -> ModelLoad | None:
        func = self.qualified_name(call.func, scope)
        if func is None:
            return None
        api = LOAD_APIS.get(func)
        if api is None and func.rsplit(".", 1)[-1] == "from_pretrained":
            api = FROM_PRETRAINED
        if api is None:
            return None
        keywords, unknown_arguments = self.keywords(call, scope)
        target_node = _argument(call, keywords, api.target_position, api.target_keywords)
        revision_node = _argument(call, keywords, api.revision_position, ("revision",))
        trust = keywords.get("trust_remote_code")
        trust_value = self.flag(trust, scope) if trust is not None else None
        unsafe = self._unsafe_switch(api, keywords, scope)
        source = keywords.get("source")
        endpoint = keywords.get("endpoint")
        weights_only_node = keywords.get("weights_only")
        return ModelLoad(
            api=api, line=call.lineno, column=call.col_offset + 1,
            target=self._target(api, target_node, scope, unknown_arguments),
            revision=self.value(revision_node, scope) if revision_node is not None else None,
            # `f(**options)`: a revision may be among them, but not one the scan can read.
            revision_given=revision_node is not None or unknown_arguments,
            # A switch that is not a constant may be on: counted as on, and said so.
            trust_remote_code=None if trust is None else (trust_value is not False),
            trust_remote_code_constant=trust is None or trust_value is not None,
            unsafe_switch=unsafe,
            weights_only=self.flag(weights_only_node, scope) if weights_only_node is not None else None,
            torch_hub_source=_text(self.value(source, scope)) if source is not None else None,
            endpoint=_text(self.value(endpoint, scope)) if endpoint is not None else self.hub_endpoint,
        )

    def _unsafe_switch(self, api: LoadApi, keywords: dict[str, ast.expr], scope: _Scope) -> str | None:
        for name in ("weights_only", "safe_mode"):
            node = keywords.get(name)
            if node is not None and api.kind in (ApiKind.PICKLE, ApiKind.URL_PICKLE, ApiKind.SAVED_MODEL) \
                    and self.flag(node, scope) is False:
                return f"{name}=False"
        return None

    def _target(self, api: LoadApi, node: ast.expr | None, scope: _Scope, unknown_arguments: bool) -> Target:
        if node is None:
            default = api.name == "pipeline" and not unknown_arguments
            return Target(TargetKind.DEFAULT if default else TargetKind.UNRESOLVED)
        value = self.value(node, scope)
        if value is None:
            return Target(TargetKind.UNRESOLVED)
        if value.download:
            return Target(TargetKind.DOWNLOAD, value.download)
        return Target(classify(value.text, value.complete), value.text, value.complete)


def classify(text: str, complete: bool) -> TargetKind:
    """What a (possibly partly known) string names: a URL, a local path, a hub id, or unknown."""
    scheme = URL_SCHEME.match(text)
    if scheme is not None:
        return TargetKind.LOCAL if scheme.group(1).lower() == "file" else TargetKind.URL
    if text.startswith(("/", "./", "../", "~")) or text in (".", "..") or WINDOWS_DRIVE.match(text) or "\\" in text:
        return TargetKind.LOCAL
    if not complete:
        return TargetKind.UNRESOLVED
    if HUB_ID.match(text):
        return TargetKind.HUB_ID
    return TargetKind.LOCAL  # a relative path of several folders: no hub id has two slashes


def _argument(call: ast.Call, keywords: dict[str, ast.expr], position: int | None,
              names: tuple[str, ...]) -> ast.expr | None:
    for name in names:
        if name in keywords:
            return keywords[name]
    if position is not None and position < len(call.args) and not any(
            isinstance(a, ast.Starred) for a in call.args[:position + 1]):
        return call.args[position]
    return None


def _text(value: Resolved | None) -> str | None:
    return value.text if value is not None and value.complete else None
