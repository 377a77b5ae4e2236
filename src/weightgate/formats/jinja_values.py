"""What each expression of a parsed Jinja template may evaluate to, found without rendering it.

`{% set u = '_' %}{{ ''[u ~ u ~ 'class' ~ u ~ u] }}` reaches `str.__class__` although no literal in it names a
dunder: the name is built when the template renders. This module propagates constants through the syntax
tree (jinja2's own parser; nothing is compiled or rendered) so that every attribute or subscript name is
known as a set of constant strings, or known to be a number, or data the caller passed in (message fields,
loop variables over them), or else a string the template builds in a way this analysis does not follow.

The analysis is flow-insensitive: a variable's value is the join of everything any `set`, `with`, `for`,
macro parameter or call argument binds to it (and, for variables the serving stack passes in, the caller's
data), iterated to a fixpoint over a bounded number of rounds; a variable still growing after them (a
string built in a loop) becomes "built at render time". Each round walks the tree bottom-up with an explicit
order (Jinja builds long `a + b + c` chains as deep trees, which a recursive walk could not follow). Every
folded string, constant set and product is bounded, so a hostile template cannot make the checker expensive.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from jinja2 import nodes

MAX_STRING_CHARS = 4096  # folded strings are cut here (a name longer than this is no attribute)
MAX_CONSTANTS = 64  # constant values tracked per expression; past it the value is "built at render time"
MAX_ITEMS = 256  # elements of a literal list tracked one by one
MAX_VALUE_DEPTH = 6  # lists of lists tracked this deep
MAX_ROUNDS = 8  # fixpoint rounds before growing variables are widened
MAX_CACHED = 100_000  # iterated values remembered during one evaluation
MAX_EVALUATIONS = 500_000  # node evaluations over all rounds; past it every variable is built at render time
MAX_FORMAT_WIDTH = 4096  # `'%9999999s' % x` must not allocate: wider specs are not folded
SMALL_INT = 2**20  # integer arithmetic is folded only within this range

Scalar = str | int | float | bool | None
# What a value may be besides its listed constants: nothing else, some number, data the caller passed in, or a
# string the template builds in a way not followed here (anything).
Open = Literal["none", "number", "data", "built"]
_OPEN_RANK: dict[Open, int] = {"none": 0, "number": 1, "data": 2, "built": 3}

# Variables transformers, vLLM and llama.cpp pass to chat templates (the caller's data, not built by the template).
CALLER_VARIABLES = frozenset({
    "messages", "tools", "documents", "add_generation_prompt", "bos_token", "eos_token", "unk_token",
    "pad_token", "sep_token", "cls_token", "mask_token", "custom_tools", "tools_in_user_message", "date_string",
    "builtin_tools", "enable_thinking", "continue_final_message", "add_vision_id", "reasoning_effort",
})
LOOP_NUMBERS = frozenset({"index", "index0", "revindex", "revindex0", "length", "depth", "depth0"})
LOOP_BOOLEANS = frozenset({"first", "last"})
NUMBER_FILTERS = frozenset({"length", "count", "int", "float", "abs", "round", "wordcount", "sum", "filesizeformat"})
# Filters that hand back their input transformed without adding template strings to it.
UNARY_STRING_FILTERS: dict[str, Callable[[str], str]] = {
    "lower": str.lower, "upper": str.upper, "title": str.title, "capitalize": str.capitalize, "trim": str.strip,
    "string": str, "safe": str, "reverse": lambda s: s[::-1],
}
CONTAINER_FILTERS = frozenset({"list", "sort", "unique", "select", "reject", "selectattr", "rejectattr",
                               "batch", "slice", "dictsort", "items", "groupby", "map"})
STRING_METHODS: dict[str, Callable[[str], str]] = {
    "lower": str.lower, "upper": str.upper, "strip": str.strip, "lstrip": str.lstrip, "rstrip": str.rstrip,
    "title": str.title, "capitalize": str.capitalize, "swapcase": str.swapcase, "casefold": str.casefold,
}
_FORMAT_SPEC = re.compile(r"%[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")
_BRACE_FIELD = re.compile(r"\{([^{}]*)\}")
_ITERATED = threading.local()  # per evaluation (files are checked in parallel threads)


@dataclass(frozen=True)
class Value:
    """An abstract value: the constants it may be, what else it may be, and what iterating it yields."""

    scalars: frozenset[Scalar] = frozenset()
    open: Open = "built"
    items: tuple[Value, ...] | None = None  # the exact elements of a literal sequence
    elems: Value | None = None  # what iterating yields, when not given by `items` (None: unknown)
    depth: int = 0

    @property
    def strings(self) -> list[str]:
        return sorted(s for s in self.scalars if isinstance(s, str))

    @property
    def built(self) -> bool:
        """May be a string built at render time that this analysis could not follow."""
        return self.open == "built"

    @property
    def exact(self) -> bool:
        return self.open == "none"


NOTHING = Value(open="none", items=())  # no value yet (a variable before the fixpoint reaches it)
BUILT = Value()
DATA = Value(open="data")
NUMBER = Value(open="number", elems=NOTHING)
BOOLEAN = Value(frozenset({True, False}), "none", elems=NOTHING)
CONTAINER = Value(open="none", elems=BUILT)  # a list or mapping whose elements are not followed
UNDEFINED = Value(frozenset({""}), "none")  # an unset variable renders and concatenates as ""


def constant(value: Scalar) -> Value:
    if isinstance(value, str):
        value = value[:MAX_STRING_CHARS]
    return Value(frozenset({value}), "none")


def sequence(items: Sequence[Value]) -> Value:
    depth = max((item.depth for item in items), default=0) + 1
    if depth > MAX_VALUE_DEPTH or len(items) > MAX_ITEMS:
        return Value(open="none", elems=join_all(items) if depth <= MAX_VALUE_DEPTH else BUILT)
    return Value(open="none", items=tuple(items), depth=depth)


def join(a: Value, b: Value) -> Value:
    if a in (NOTHING, b):
        return b
    if b == NOTHING:
        return a
    opened: Open = a.open if _OPEN_RANK[a.open] >= _OPEN_RANK[b.open] else b.open
    items = a.items if a.items == b.items else None
    containers = any(v.items is not None or v.elems is not None for v in (a, b))
    elems = _join_elems(a, b) if items is None and containers else None
    return _bounded(a.scalars | b.scalars, opened, items, elems, max(a.depth, b.depth))


def join_all(values: Iterable[Value]) -> Value:
    result = NOTHING
    for value in values:
        result = join(result, value)
    return result


def _join_elems(a: Value, b: Value) -> Value | None:
    ea, eb = iterated(a), iterated(b)
    if max(ea.depth, eb.depth) >= MAX_VALUE_DEPTH:
        return BUILT
    return join(ea, eb)


def _bounded(scalars: frozenset[Scalar], opened: Open, items: tuple[Value, ...] | None = None,
             elems: Value | None = None, depth: int = 0) -> Value:
    """A value with at most MAX_CONSTANTS constants; past that it is widened (to "built" if any were strings,
    so that a name hidden among many constants is still reported)."""
    if len(scalars) > MAX_CONSTANTS:
        widened: Open = "built" if any(isinstance(s, str) for s in scalars) else "number"
        opened = widened if _OPEN_RANK[widened] > _OPEN_RANK[opened] else opened
        scalars = frozenset()
    return Value(scalars, opened, items, elems, depth)


def iterated(value: Value) -> Value:
    """What `for x in value` binds `x` to."""
    if value == NOTHING:
        return NOTHING
    # A list bound once and looped over in many places is the same object each time: join its items once.
    cache: dict[int, tuple[Value, Value]] = getattr(_ITERATED, "cache", {})
    cached = cache.get(id(value))
    if cached is not None and cached[0] is value:
        return cached[1]
    found = _iterated(value)
    if len(cache) < MAX_CACHED:
        cache[id(value)] = (value, found)  # the entry keeps `value` alive, so its id is not reused meanwhile
    return found


def _iterated(value: Value) -> Value:
    if value.items is not None:
        found = join_all(value.items)
    elif value.elems is not None:
        found = value.elems
    else:
        return DATA if value.open == "data" else BUILT
    chars = {c for s in value.strings for c in s[:MAX_CONSTANTS]}
    return join(found, _bounded(frozenset(chars), "none")) if chars else found


def strings_only(value: Value) -> list[str] | None:
    """The strings `value ~ ''` may render as, when all are known."""
    if not value.exact or value.items is not None or value.elems is not None:
        return None
    return [str(s)[:MAX_STRING_CHARS] for s in value.scalars]


def product(parts: Sequence[Value], build: Callable[[tuple[str, ...]], str] = "".join) -> Value:
    """Every string `build` makes from one rendering of each part (bounded), or a built value."""
    if any(part == NOTHING for part in parts):
        return NOTHING
    choices = [strings_only(part) for part in parts]
    if any(c is None for c in choices):
        return BUILT
    total = 1
    for c in choices:
        total *= len(c or ())
        if total > MAX_CONSTANTS:
            return BUILT
    combos = itertools.product(*[c or () for c in choices])
    return _bounded(frozenset(build(combo)[:MAX_STRING_CHARS] for combo in combos), "none")


def map_strings(value: Value, function: Callable[[str], object], on_data: Open = "data") -> Value:
    """`function` applied to each constant string of `value`; data stays data (`on_data`), the rest is built."""
    if value == NOTHING:
        return NOTHING
    results: set[Scalar] = set()
    for s in value.strings:
        try:
            result = function(s)
        except (ValueError, TypeError, IndexError, KeyError, OverflowError):
            continue
        if not isinstance(result, str | int | float | bool | None):
            return BUILT
        results.add(result[:MAX_STRING_CHARS] if isinstance(result, str) else result)
    opened: Open = "none" if value.exact else on_data if value.open == "data" else "built"
    if value.items is not None or value.elems is not None:
        opened = "built"
    return _bounded(frozenset(results), opened)


def percent_format(template: Value, args: Value) -> Value:
    """`template % args` (and the `format` filter, which is the same) folded when both are known."""
    if template == NOTHING or args == NOTHING:
        return NOTHING
    if not template.strings:
        return _numeric(template, args, lambda x, y: x % y if y else None)
    arg_sets = [list(args.items)] if args.items is not None else [[args]]
    try:
        arguments = [tuple(_choices(a)) for a in arg_sets[0]]
    except _Unknown:
        return BUILT
    if not template.exact:
        return BUILT
    results: set[Scalar] = set()
    for text in template.strings:
        if not _small_format(text):
            return BUILT
        for combo in itertools.islice(itertools.product(*arguments), MAX_CONSTANTS + 1):
            try:
                results.add((text % (combo if len(combo) != 1 else combo[0]))[:MAX_STRING_CHARS])
            except (TypeError, ValueError, OverflowError):
                continue
    return _bounded(frozenset(results), "none")


def brace_format(template: Value, args: Sequence[Value], kwargs: dict[str, Value]) -> Value:
    """`'{}{}'.format(a, b)` folded for plain fields (`{}`, `{0}`, `{name}`) of known arguments."""
    if not template.exact or not template.strings:
        return BUILT
    try:
        positional = [_choices(a) for a in args]
        named = {k: _choices(v) for k, v in kwargs.items()}
    except _Unknown:
        return BUILT
    results: set[Scalar] = set()
    for text in template.strings:
        fields = _BRACE_FIELD.findall(text)
        if any(not (f == "" or f.isdigit() or f.isidentifier()) for f in fields):
            return BUILT  # attribute or index access, conversions and specs are not folded
        for pos_combo in itertools.islice(itertools.product(*positional), MAX_CONSTANTS + 1):
            for named_combo in itertools.islice(itertools.product(*named.values()), MAX_CONSTANTS + 1):
                try:
                    results.add(text.format(*pos_combo, **dict(zip(named, named_combo, strict=True)))
                                [:MAX_STRING_CHARS])
                except (IndexError, KeyError, ValueError):
                    continue
    return _bounded(frozenset(results), "none")


class _Unknown(Exception):
    pass


def _choices(value: Value) -> list[Scalar]:
    if not value.exact or value.items is not None or value.elems is not None or not value.scalars:
        raise _Unknown
    return list(value.scalars)


def _small_format(text: str) -> bool:
    for match in _FORMAT_SPEC.finditer(text):
        width, precision = match.group(1), match.group(2)
        if "*" in (width, precision):
            return False
        if any(part and int(part) > MAX_FORMAT_WIDTH for part in (width, precision)):
            return False
    return True


def _numeric(a: Value, b: Value, op: Callable[[int, int], int | None]) -> Value:
    """Integer arithmetic folded within SMALL_INT; otherwise a number (or built, when a side may be a string)."""
    if a.exact and b.exact and a.scalars and b.scalars and not a.strings and not b.strings \
            and len(a.scalars) * len(b.scalars) <= MAX_CONSTANTS:
        results: set[Scalar] = set()
        for x, y in itertools.product(a.scalars, b.scalars):
            if not (isinstance(x, int) and isinstance(y, int)) or max(abs(x), abs(y)) > SMALL_INT:
                return NUMBER
            try:
                result = op(x, y)
            except (ZeroDivisionError, OverflowError, ValueError):
                continue
            if result is not None and abs(result) <= SMALL_INT:
                results.add(result)
            else:
                return NUMBER
        return _bounded(frozenset(results), "none")
    if a.strings or b.strings or a.open in ("data", "built") or b.open in ("data", "built"):
        return BUILT if (a.strings or b.strings or a.built or b.built) else DATA
    return NUMBER


def add(a: Value, b: Value) -> Value:
    if a == NOTHING or b == NOTHING:
        return NOTHING
    if a.items is not None and b.items is not None:
        return sequence([*a.items, *b.items])
    if a.strings and b.strings and a.exact and b.exact:
        return product([a, b])
    if a.scalars and b.scalars and not a.strings and not b.strings:
        return _numeric(a, b, lambda x, y: x + y)
    if a.open == "data" and b.open == "data" and not a.strings and not b.strings:
        return DATA
    if (a.items is not None or a.elems is not None) and (b.items is not None or b.elems is not None):
        return Value(open="none", elems=join(iterated(a), iterated(b)))
    return _numeric(a, b, lambda x, y: x + y) if not (a.strings or b.strings) else BUILT


def multiply(a: Value, b: Value) -> Value:
    if a == NOTHING or b == NOTHING:
        return NOTHING
    for text, count in ((a, b), (b, a)):
        if text.strings and count.exact and count.scalars and not count.strings:
            times = max((c for c in count.scalars if isinstance(c, int)), default=0)

            def repeat(s: str, n: int = times) -> str:
                return s * max(0, min(n, MAX_STRING_CHARS // max(1, len(s)) + 1))

            return map_strings(text, repeat)
        if text.items is not None or text.elems is not None:
            return Value(open="none", elems=iterated(text))
    return _numeric(a, b, lambda x, y: x * y)


def subscript(container: Value, key: Value) -> Value:
    """`container[key]` for a non-slice key."""
    if container == NOTHING or key == NOTHING:
        return NOTHING
    ints = [k for k in key.scalars if isinstance(k, int) and not isinstance(k, bool)]
    if container.items is not None and key.exact and ints and len(ints) == len(key.scalars):
        picked = [container.items[i] for i in ints if -len(container.items) <= i < len(container.items)]
        return join_all(picked) if picked else UNDEFINED
    if container.strings and container.exact and key.exact and ints and len(ints) == len(key.scalars):
        return map_strings(container, lambda s: "".join(s[i] for i in ints if -len(s) <= i < len(s)))
    if container.open == "data" and not key.built:
        return DATA  # a field of the caller's data
    if container.items is not None or container.elems is not None:
        return iterated(container) if not key.strings else BUILT
    return BUILT


def sliced(container: Value, start: Value | None, stop: Value | None, step: Value | None) -> Value:
    bounds: list[list[int | None]] = []
    for bound in (start, stop, step):
        if bound is None:
            bounds.append([None])
        elif bound.exact and bound.scalars and all(isinstance(b, int) or b is None for b in bound.scalars):
            bounds.append([b if isinstance(b, int) else None for b in bound.scalars])
        else:
            bounds.append([])  # unknown
    if container == NOTHING:
        return NOTHING
    if container.open == "data" and not container.strings:
        return DATA
    if container.items is not None and all(len(b) == 1 for b in bounds) and bounds[2][0] != 0:
        return sequence(list(container.items)[slice(bounds[0][0], bounds[1][0], bounds[2][0])])
    if container.strings and all(bounds) and 0 not in bounds[2]:
        choices = list(itertools.islice(itertools.product(*bounds), MAX_CONSTANTS))
        return _bounded(frozenset(s[slice(*c)] for s in container.strings for c in choices),
                        "none" if container.exact else "built")
    if container.items is not None or container.elems is not None:
        return Value(open="none", elems=iterated(container))
    return BUILT


def joined(items: Value, separator: Value) -> Value:
    """`items|join(separator)` and `separator.join(items)`."""
    if items == NOTHING or separator == NOTHING:
        return NOTHING
    if items.items is not None and len(items.items) <= 32:
        parts: list[Value] = []
        for index, item in enumerate(items.items):
            if index:
                parts.append(separator)
            parts.append(item)
        return product(parts) if parts else constant("")
    if items.exact and items.strings and items.items is None and items.elems is None:  # a string joins its chars
        return product([separator]) if len(items.strings) == 1 and len(items.strings[0]) <= 1 else BUILT
    if items.open == "data" and separator.exact:
        return DATA if all(not _has_unsafe(s) for s in separator.strings) else BUILT
    return BUILT


def replaced(text: Value, old: Value, new: Value) -> Value:
    if text == NOTHING or old == NOTHING or new == NOTHING:
        return NOTHING
    if not (text.exact and old.exact and new.exact):
        return BUILT
    try:
        olds, news = _choices(old), _choices(new)
    except _Unknown:
        return BUILT
    if len(text.strings) * len(olds) * len(news) > MAX_CONSTANTS:
        return BUILT
    return _bounded(frozenset(s.replace(str(o), str(n))[:MAX_STRING_CHARS]
                              for s in text.strings for o in olds for n in news), "none")


def _has_unsafe(text: str) -> bool:
    return "_" in text


def first_or_last(value: Value, last: bool) -> Value:
    if value == NOTHING:
        return NOTHING
    if value.items is not None:
        return (value.items[-1] if last else value.items[0]) if value.items else UNDEFINED
    if value.elems is not None:
        return value.elems
    if value.strings:
        return map_strings(value, lambda s: s[-1] if last else s[0])
    return DATA if value.open == "data" else BUILT


def listed(value: Value) -> Value:
    if value == NOTHING:
        return NOTHING
    if value.items is not None:
        return value
    if value.strings and value.exact and len(value.strings) == 1:
        return sequence([constant(c) for c in value.strings[0][:MAX_ITEMS]])
    return Value(open="none", elems=iterated(value))


def reversed_value(value: Value) -> Value:
    if value.items is not None:
        return sequence(list(reversed(value.items)))
    return map_strings(value, UNARY_STRING_FILTERS["reverse"])


# --- evaluating a template ---------------------------------------------------------------------------------------


@dataclass
class _State:
    """One round's view: the variables' values (from the previous round) and each node's value (this round)."""

    env: dict[str, Value]
    macros: dict[str, Value]
    values: dict[int, Value]

    def of(self, node: nodes.Node | None) -> Value:
        return NOTHING if node is None else self.values.get(id(node), BUILT)

    def args(self, node: nodes.Call | nodes.Filter) -> tuple[list[Value], dict[str, Value]]:
        return [self.of(a) for a in node.args], {str(k.key): self.of(k.value) for k in node.kwargs}


@dataclass(frozen=True)
class TemplateValues:
    """The outcome of the analysis: each expression node's value (by `id`)."""

    values: dict[int, Value]

    def of(self, node: nodes.Node) -> Value:
        return self.values.get(id(node), BUILT)


def evaluate(tree: nodes.Template, preorder: Sequence[nodes.Node]) -> TemplateValues:
    _ITERATED.cache = {}
    try:
        return _evaluate(tree, preorder)
    finally:
        _ITERATED.cache = {}


def _evaluate(tree: nodes.Template, preorder: Sequence[nodes.Node]) -> TemplateValues:
    """Values of every node of `tree`; `preorder` lists its nodes in source order, parents first.

    Each round walks the nodes in source order, children before parents, and binds a variable as soon as the
    statement that sets it is evaluated, so a chain of `set`s converges in one round rather than one round per
    link. A template whose analysis would take more than MAX_EVALUATIONS node evaluations is not followed
    further: every variable is then built at render time, which flags each name it could build."""
    order = _source_postorder(tree, len(preorder))
    bindings = _Bindings(order)
    defined = _defined_before_use(tree, preorder)
    initial = {name: DATA if name in CALLER_VARIABLES else NOTHING if name in defined else UNDEFINED
               for name in bindings.names}
    env, macros = dict(initial), {name: NOTHING for name in bindings.macro_names}
    evaluations = 0
    for round_number in range(MAX_ROUNDS * 2 + 1):
        evaluations += len(order)
        if evaluations > MAX_EVALUATIONS:
            break
        state = _State(env, dict(macros), {})
        new_env = bindings.run_round(state, initial)
        new_macros = state.macros
        if new_env == env and new_macros == macros:
            return TemplateValues(state.values)
        if round_number >= MAX_ROUNDS:  # still growing: whatever changes is built at render time
            new_env = {k: v if env.get(k) == v else BUILT for k, v in new_env.items()}
            new_macros = {k: v if macros.get(k) == v else BUILT for k, v in new_macros.items()}
        env, macros = new_env, new_macros
    state = _State({k: BUILT for k in env}, {k: BUILT for k in macros}, {})
    for node in order:
        state.values[id(node)] = _value(node, state)
    return TemplateValues(state.values)


def _source_postorder(tree: nodes.Template, size: int) -> list[nodes.Node]:
    """The nodes of `tree` in source order with each node after its children (iterative: Jinja builds long
    `a ~ b ~ c` chains as deep trees)."""
    order: list[nodes.Node] = []
    stack: list[tuple[nodes.Node, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(node.iter_child_nodes())))
    assert len(order) == size, "the post-order must cover the nodes the caller walks"
    return order


def _defined_before_use(tree: nodes.Template, preorder: Sequence[nodes.Node]) -> set[str]:
    """Variables first set at the top level before anything reads them: they are never unset when read (the
    others may render as "" first, as `{% set u = u ~ '_' %}` does)."""
    top_level = {id(statement) for statement in tree.body}
    loaded: set[str] = set()
    defined: set[str] = set()
    for node in preorder:
        if isinstance(node, nodes.Name) and node.ctx == "load":
            loaded.add(node.name)
        elif isinstance(node, nodes.Assign) and id(node) in top_level and isinstance(node.target, nodes.Name):
            name = node.target.name
            if name not in loaded and not any(n.name == name for n in node.node.find_all(nodes.Name)):
                defined.add(name)
    return defined


class _Bindings:
    """Every place a template gives a variable a value, collected once from the tree."""

    def __init__(self, order: Sequence[nodes.Node]) -> None:
        self.order = order
        self.statements = [n for n in order if isinstance(n, nodes.Assign | nodes.AssignBlock | nodes.For
                                                         | nodes.With | nodes.Macro | nodes.CallBlock)]
        self.binding_ids = {id(n) for n in self.statements}
        self.macro_defs = {m.name: m for m in order if isinstance(m, nodes.Macro)}
        self.macro_names = set(self.macro_defs)
        self.calls = [c for c in order if isinstance(c, nodes.Call) and isinstance(c.node, nodes.Name)
                      and c.node.name in self.macro_names]
        self.call_ids = {id(c) for c in self.calls}
        callees = {id(c.node) for c in self.calls}
        # A macro passed around as a value can be called with anything: its parameters are then unknown.
        self.escaping = {n.name for n in order if isinstance(n, nodes.Name) and n.name in self.macro_names
                         and n.ctx == "load" and id(n) not in callees}
        self.names: set[str] = {"varargs", "kwargs"} if self.macro_defs else set()
        for statement in self.statements:
            self.names.update(_target_names(statement))

    def run_round(self, state: _State, initial: dict[str, Value]) -> dict[str, Value]:
        """Evaluate every node once, binding variables as their statements are reached; the variables' values
        for the next round (what this round bound, on top of their initial values).

        A read sees the previous round's value joined with what this round has bound so far: a chain of `set`s
        converges in one round, a loop that sets what it read keeps growing until the fixpoint, and what a
        round read before a variable was bound (an unset loop variable) does not stick to the next round."""
        previous, macros = state.env, state.macros
        bound: dict[str, Value] = {}

        def bind(name: str, value: Value) -> None:
            bound[name] = join(bound[name] if name in bound else initial.get(name, UNDEFINED), value)
            previous_value = previous.get(name, NOTHING)
            state.env[name] = join(previous_value, bound[name])

        state.env = dict(previous)
        for escaped in self.escaping:
            for escaped_param in self.macro_defs[escaped].args:
                bind(escaped_param.name, BUILT)
        for node in self.order:
            state.values[id(node)] = _value(node, state)
            if id(node) in self.binding_ids:
                _bind_statement(node, state, bind, macros)
            elif id(node) in self.call_ids:
                assert isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name)
                macro = self.macro_defs[node.node.name]
                params = [a.name for a in macro.args]
                positional, named = state.args(node)
                for param, value in zip(params, positional, strict=False):
                    bind(param, value)
                bind("varargs", Value(open="none", elems=join_all(positional[len(params):])))
                for key, value in named.items():
                    bind(key if key in params else "kwargs", value if key in params else CONTAINER)
        return {name: bound.get(name, initial.get(name, UNDEFINED)) for name in previous.keys() | bound.keys()}


def _target_names(statement: nodes.Node) -> Iterable[str]:
    if isinstance(statement, nodes.Macro):
        return [a.name for a in statement.args]
    if isinstance(statement, nodes.CallBlock):
        return [a.name for a in statement.args]
    targets = statement.targets if isinstance(statement, nodes.With) else [getattr(statement, "target", None)]
    names: list[str] = []
    for target in targets:
        for name_node in (target.find_all(nodes.Name) if isinstance(target, nodes.Tuple) else [target]):
            if isinstance(name_node, nodes.Name):
                names.append(name_node.name)
        if isinstance(target, nodes.NSRef):
            names.append(f"{target.name}.{target.attr}")
    if isinstance(statement, nodes.Assign) and isinstance(statement.target, nodes.Name) \
            and isinstance(statement.node, nodes.Call) and isinstance(statement.node.node, nodes.Name) \
            and statement.node.node.name == "namespace":
        names += [f"{statement.target.name}.{k.key}" for k in statement.node.kwargs]
    return names


def _bind_statement(statement: nodes.Node, state: _State, bind: Callable[[str, Value], None],
                    macros: dict[str, Value]) -> None:
    if isinstance(statement, nodes.Assign):
        _bind_target(statement.target, state.of(statement.node), bind)
        call = statement.node
        if isinstance(statement.target, nodes.Name) and isinstance(call, nodes.Call) \
                and isinstance(call.node, nodes.Name) and call.node.name == "namespace":
            for keyword in call.kwargs:
                bind(f"{statement.target.name}.{keyword.key}", state.of(keyword.value))
    elif isinstance(statement, nodes.AssignBlock):
        value = body_value(statement.body, state)
        chain: list[nodes.Filter] = []
        block_filter: nodes.Node | None = statement.filter
        while isinstance(block_filter, nodes.Filter):
            chain.append(block_filter)
            block_filter = block_filter.node
        for applied in reversed(chain):
            value = filter_value(applied.name, value, *state.args(applied))
        _bind_target(statement.target, value, bind)
    elif isinstance(statement, nodes.For):
        _bind_target(statement.target, iterated(state.of(statement.iter)), bind)
    elif isinstance(statement, nodes.With):
        for target, bound in zip(statement.targets, statement.values, strict=False):
            _bind_target(target, state.of(bound), bind)
    elif isinstance(statement, nodes.Macro):
        macros[statement.name] = body_value(statement.body, state)
        for param, default in zip(statement.args[len(statement.args) - len(statement.defaults):],
                                  statement.defaults, strict=True):
            bind(param.name, state.of(default))
    elif isinstance(statement, nodes.CallBlock):
        for param in statement.args:
            bind(param.name, BUILT)  # what the macro passes to `caller(...)` is not followed


def _bind_target(target: nodes.Node, value: Value, bind: Callable[[str, Value], None]) -> None:
    if isinstance(target, nodes.Name):
        bind(target.name, value)
    elif isinstance(target, nodes.NSRef):
        bind(f"{target.name}.{target.attr}", value)
    elif isinstance(target, nodes.Tuple):
        if value.items is not None and len(value.items) == len(target.items):
            parts: Sequence[Value] = value.items
        else:
            parts = [iterated(value)] * len(target.items)
        for item, part in zip(target.items, parts, strict=True):
            _bind_target(item, part, bind)


def body_value(body: Sequence[nodes.Node], state: _State) -> Value:
    """What a macro or `{% set %}` block renders: folded when it is only output, else built."""
    parts: list[Value] = []
    for statement in body:
        if not isinstance(statement, nodes.Output):
            return BUILT
        parts += [state.of(n) for n in statement.nodes]
    return product(parts) if parts else constant("")


def _value(node: nodes.Node, state: _State) -> Value:
    of = state.of
    if isinstance(node, nodes.Const):
        value = node.value
        return constant(value) if isinstance(value, str | int | float | bool | None) else BUILT
    if isinstance(node, nodes.TemplateData):
        return constant(node.data)
    if isinstance(node, nodes.Name):
        if node.name == "loop":
            return BUILT
        return state.env.get(node.name, DATA)
    if isinstance(node, nodes.List | nodes.Tuple):
        return sequence([of(item) for item in node.items])
    if isinstance(node, nodes.Dict):
        return Value(open="none", elems=join_all(of(pair.key) for pair in node.items))
    if isinstance(node, nodes.Pair):
        return of(node.value)
    if isinstance(node, nodes.Keyword):
        return of(node.value)
    if isinstance(node, nodes.Getattr):
        return _attribute(node, state)
    if isinstance(node, nodes.Getitem):
        if isinstance(node.arg, nodes.Slice):
            s = node.arg
            return sliced(of(node.node), *(of(b) if b is not None else None for b in (s.start, s.stop, s.step)))
        return subscript(of(node.node), of(node.arg))
    if isinstance(node, nodes.Concat):
        return product([of(part) for part in node.nodes])
    if isinstance(node, nodes.Output):
        return product([of(part) for part in node.nodes])
    if isinstance(node, nodes.Add):
        return add(of(node.left), of(node.right))
    if isinstance(node, nodes.Mul):
        return multiply(of(node.left), of(node.right))
    if isinstance(node, nodes.Mod):
        return percent_format(of(node.left), of(node.right))
    if isinstance(node, nodes.Sub):
        return _numeric(of(node.left), of(node.right), lambda x, y: x - y)
    if isinstance(node, nodes.Neg | nodes.Pos):
        sign = -1 if isinstance(node, nodes.Neg) else 1
        return _numeric(of(node.node), constant(sign), lambda x, y: x * y)
    if isinstance(node, nodes.Div | nodes.FloorDiv | nodes.Pow):
        return NUMBER
    if isinstance(node, nodes.Not | nodes.Compare | nodes.Test):
        return BOOLEAN
    if isinstance(node, nodes.And | nodes.Or):
        return join(of(node.left), of(node.right))
    if isinstance(node, nodes.CondExpr):
        return join(of(node.expr1), of(node.expr2) if node.expr2 is not None else UNDEFINED)
    if isinstance(node, nodes.Filter):
        return filter_value(node.name, of(node.node) if node.node is not None else BUILT, *state.args(node))
    if isinstance(node, nodes.Call):
        return _call(node, state)
    if isinstance(node, nodes.MarkSafe | nodes.MarkSafeIfAutoescape):
        return of(node.expr)
    return BUILT


def _attribute(node: nodes.Getattr, state: _State) -> Value:
    owner = node.node
    if isinstance(owner, nodes.Name):
        if owner.name == "loop":
            return NUMBER if node.attr in LOOP_NUMBERS else BOOLEAN if node.attr in LOOP_BOOLEANS else BUILT
        field = f"{owner.name}.{node.attr}"
        if field in state.env:
            return state.env[field]
    value = state.of(owner)
    if value == NOTHING:
        return NOTHING
    return DATA if value.open == "data" else BUILT


def _call(node: nodes.Call, state: _State) -> Value:
    args, kwargs = state.args(node)
    callee = node.node
    if isinstance(callee, nodes.Name):
        if callee.name in state.macros:
            return state.macros[callee.name]
        if callee.name == "range":
            return Value(open="none", elems=NUMBER)
        if callee.name == "dict":
            return Value(open="none", elems=join_all(constant(k) for k in kwargs))
        if callee.name in ("namespace", "raise_exception"):
            return CONTAINER if callee.name == "namespace" else UNDEFINED
        if callee.name == "strftime_now":
            return DATA
        return BUILT
    if not isinstance(callee, nodes.Getattr):
        return BUILT
    owner = state.of(callee.node)
    if isinstance(callee.node, nodes.Name) and callee.node.name == "loop" and callee.attr == "cycle":
        return join_all(args)
    return method_value(callee.attr, owner, args, kwargs)


def method_value(method: str, owner: Value, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """A string (or caller data) method call: `'{}'.format(...)`, `sep.join(...)`, `s.replace(a, b)`, ..."""
    if owner == NOTHING:
        return NOTHING
    if method == "format":
        return brace_format(owner, args, kwargs)
    if method == "join" and args:
        return joined(args[0], owner)
    if method == "replace" and len(args) >= 2:
        return replaced(owner, args[0], args[1])
    if method in STRING_METHODS and not args:
        return map_strings(owner, STRING_METHODS[method])
    if method in ("startswith", "endswith", "isdigit", "isalpha", "isspace", "islower", "isupper"):
        return BOOLEAN
    if method in ("count", "find", "rfind", "index", "rindex"):
        return NUMBER
    if method in ("split", "rsplit", "splitlines", "items", "keys", "values"):
        return Value(open="none", elems=DATA if owner.open == "data" and not owner.strings else BUILT)
    return DATA if owner.open == "data" and not owner.strings else BUILT


def filter_value(name: str, value: Value, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """What `value|name(*args, **kwargs)` may be."""
    if name in NUMBER_FILTERS:
        return NUMBER
    if name == "reverse":
        return reversed_value(value)
    if name in UNARY_STRING_FILTERS:
        if value.items is not None or value.elems is not None:
            return BUILT  # the text of a list
        return map_strings(value, UNARY_STRING_FILTERS[name])
    if name in ("e", "escape", "forceescape"):
        from markupsafe import escape

        return map_strings(value, lambda s: str(escape(s)))
    if name in ("first", "last"):
        return first_or_last(value, name == "last")
    if name == "list":
        return listed(value)
    if name == "join":
        if "attribute" in kwargs or len(args) > 1:
            return BUILT
        return joined(value, args[0] if args else kwargs.get("d", constant("")))
    if name == "replace":
        return replaced(value, args[0], args[1]) if len(args) >= 2 and not kwargs else BUILT
    if name == "format":
        return percent_format(value, sequence(args)) if not kwargs else BUILT
    if name in ("default", "d"):
        return join(value, args[0] if args else kwargs.get("default_value", constant("")))
    if name in ("sort", "unique", "select", "reject", "selectattr", "rejectattr"):
        return Value(open="none", elems=iterated(value))
    if name in CONTAINER_FILTERS:
        return Value(open="none", elems=DATA if value.open == "data" else BUILT)
    if value.open == "data" and not value.strings and name in ("tojson", "indent", "center", "truncate",
                                                               "wordwrap", "urlencode"):
        return DATA
    return BUILT
