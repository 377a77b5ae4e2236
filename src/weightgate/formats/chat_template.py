"""Chat templates (GGUF `tokenizer.chat_template`, `chat_template` in tokenizer configs) checked as code.

A chat template is Jinja that serving stacks render on every request; rendered outside a sandbox (as
llama-cpp-python did, CVE-2024-34359) a template that reaches Python object internals runs arbitrary code.
The template is *parsed* with Jinja2's own parser (the engine Hugging Face renders with) and never
rendered or compiled; the syntax tree is then searched for the constructs server-side template injection
is built from. Real templates use loops, conditions, message fields, string methods and `namespace()`;
none of them needs anything reported here.

Templates saved as their own files (`chat_template.jinja`, `additional_chat_templates/*.jinja`) reach the
checker through the text inspector, which does not know file names: any text within MAX_TEMPLATE_FILE_BYTES
that contains Jinja syntax is parsed, and the verdict is recorded in its facts (`jinja_text_details`). Only
files whose path makes them templates turn that verdict into findings (`template_file_issues`, called by
checks/chat_templates.py), so a README quoting `{{ }}` is never judged as one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from weightgate.formats import Format
from weightgate.formats.base import Issue
from weightgate.rules import TEMPLATE_INJECTION, TEMPLATE_UNCHECKED, Rule

if TYPE_CHECKING:
    from weightgate.formats.jinja_values import TemplateValues, Value

# Real templates are under 20 KB; parsing is linear, and this keeps a hostile one from costing seconds.
MAX_TEMPLATE_CHECK_CHARS = 256 * 1024
MAX_TEMPLATE_DETAIL_CHARS = 64 * 1024  # what the facts (and so the ML-BOM) keep of each template
MAX_ISSUES_PER_TEMPLATE = 20
MAX_SHOWN_CHARS = 80
# A template file is checked whole or not at all. A character is at least one byte, so a file within this
# bound always fits MAX_TEMPLATE_CHECK_CHARS; a larger one fails closed (WG536).
MAX_TEMPLATE_FILE_BYTES = MAX_TEMPLATE_CHECK_CHARS
# Jinja's default delimiters (transformers and vLLM render with them): text without any renders as itself.
JINJA_DELIMITERS = (b"{{", b"{%", b"{#")
# Facts the text inspector records for text with Jinja syntax (and only for such text).
JINJA_DETAIL = "jinja_syntax"
JINJA_ISSUES_DETAIL = "jinja_issues"  # the template verdict, as JSON, when it has issues

# Attributes that lead from any object to code or frames. Everything starting with "_" is covered by the
# prefix rule; these are the public names Jinja's sandbox also refuses (jinja2.sandbox UNSAFE_*), plus
# `mro` and the string formatters, which reach attributes through a format spec ("{0.__class__}").
UNSAFE_ATTRIBUTES = frozenset({
    "mro", "format", "format_map",
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_code", "ag_frame", "ag_await",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code",
    "func_globals", "func_code", "im_func", "im_self", "im_class",
})
# Globals of Jinja (cycler, joiner, lipsum, namespace, and `self`, the template reference) and of Flask
# (config, request, url_for, ...) whose `__init__.__globals__` or attributes are the classic SSTI entry points.
# `namespace` is allowed only as a plain call: `{% set ns = namespace(found=false) %}` is in most templates.
ENTRY_GLOBALS = frozenset({
    "cycler", "joiner", "lipsum", "namespace", "self", "config", "request", "url_for", "get_flashed_messages",
})
CALLABLE_GLOBALS = frozenset({"namespace"})
# Filters whose `attribute=` argument (or, for map/select/reject, a first argument naming the `attr` filter)
# looks attributes up by a name given in the template.
ATTRIBUTE_FILTERS = frozenset({"map", "select", "reject", "selectattr", "rejectattr", "sort", "groupby", "sum",
                               "unique", "min", "max"})
STRING_FORMATTERS = frozenset({"format", "format_map"})
# Filters whose attribute argument may also be given by position (jinja2.filters signatures).
ATTRIBUTE_POSITIONS = {"selectattr": 0, "rejectattr": 0, "groupby": 0, "sum": 0, "sort": 2, "unique": 1,
                       "min": 1, "max": 1}
# Methods that change a list, dict or set in place: the ImmutableSandboxedEnvironment transformers renders
# with refuses them (jinja2.sandbox._mutable_spec), so no working chat template calls them.
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "sort", "reverse", "update", "setdefault",
    "add", "discard", "difference_update", "intersection_update", "symmetric_difference_update", "appendleft",
    "extendleft", "popleft", "rotate",
})




@dataclass(frozen=True)
class _Hit:
    line: int
    construct: str
    message: str


def template_issues(name: str, text: str) -> list[Issue]:
    """Issues for one chat template: SSTI constructs (WG535), or why it could not be checked (WG536).
    `name` may be empty when the caller does not know it (a template file, whose path names it)."""
    label, named = _label(name), _named(name)
    if len(text) > MAX_TEMPLATE_CHECK_CHARS:
        return [Issue(TEMPLATE_UNCHECKED, f"{label} has {len(text)} characters, over the "
                      f"{MAX_TEMPLATE_CHECK_CHARS}-character limit of the checker", evidence=named)]
    try:
        tree = _parse(text)
    except _Unparseable as exc:
        return [Issue(TEMPLATE_UNCHECKED, f"{label} does not parse as Jinja: {exc}", evidence=named)]
    by_line: dict[int, dict[str, _Hit]] = {}
    for hit in _hits(tree):
        by_line.setdefault(hit.line, {}).setdefault(hit.construct, hit)  # each construct once per line
    issues = [_line_issue(name, line, list(hits.values())) for line, hits in sorted(by_line.items())]
    if len(issues) > MAX_ISSUES_PER_TEMPLATE:
        more = len(issues) - MAX_ISSUES_PER_TEMPLATE
        summary = Issue(TEMPLATE_INJECTION, f"{label}: unsafe constructs on {more} more lines not listed",
                        evidence=named)
        issues = [*issues[:MAX_ISSUES_PER_TEMPLATE], summary]
    return issues


def _line_issue(name: str, line: int, hits: list[_Hit]) -> Issue:
    """One issue per template line: a payload such as `cycler.__init__.__globals__` is one finding."""
    constructs = ",".join(h.construct for h in hits)
    return Issue(TEMPLATE_INJECTION, f"{_label(name)} line {line}: " + "; ".join(h.message for h in hits),
                 evidence=(*_named(name), ("line", str(line)), ("constructs", constructs)))


def _label(name: str) -> str:
    return f"chat template {name}" if name else "chat template"


def _named(name: str) -> tuple[tuple[str, str], ...]:
    return (("template", name),) if name else ()


def template_details(name: str, text: str) -> dict[str, str]:
    """The facts recorded for a template (bounded), under the same names the GGUF inspector uses."""
    details = {name: text[:MAX_TEMPLATE_DETAIL_CHARS]}
    if len(text) > MAX_TEMPLATE_DETAIL_CHARS:
        details[name + ".truncated"] = "true"
    return details


# --- templates saved as their own files -----------------------------------------------------------------------


def jinja_text_details(data: bytes) -> dict[str, str]:
    """Facts for a text file of at most MAX_TEMPLATE_FILE_BYTES (valid UTF-8): nothing unless it contains Jinja
    syntax; then the template verdict, kept for checks that know from the path whether it is a template."""
    if not any(delimiter in data for delimiter in JINJA_DELIMITERS):
        return {}
    details = {JINJA_DETAIL: "true"}
    issues = template_issues("", data.decode("utf-8", errors="replace"))
    if issues:
        details[JINJA_ISSUES_DETAIL] = json.dumps(
            [{"rule": i.rule.id, "message": i.message, "evidence": [list(pair) for pair in i.evidence]}
             for i in issues])
    return details


def template_file_issues(name: str, fmt: Format, size: int, details: Mapping[str, str]) -> list[Issue]:
    """Issues for a file that is a chat template by its path, from the facts its bytes produced."""
    if fmt is Format.EMPTY:
        return []
    if fmt is not Format.TEXT:
        reason = details.get("not_text")  # why the text inspector gave up on bytes that started as text
        why = (f"holds {fmt.value}, not plain text" if fmt is not Format.UNKNOWN
               else f"is not UTF-8 text ({reason})" if reason else "is not UTF-8 text")
        return [Issue(TEMPLATE_UNCHECKED, f"chat template {name} {why}, so it was not parsed as Jinja; a loader "
                      "renders the file as a template all the same", evidence=(("template", name),))]
    if size > MAX_TEMPLATE_FILE_BYTES:
        return [Issue(TEMPLATE_UNCHECKED, f"chat template {name} has {size} bytes, over the "
                      f"{MAX_TEMPLATE_FILE_BYTES}-byte limit of the checker", evidence=(("template", name),))]
    if JINJA_DETAIL not in details:
        return []  # no Jinja syntax at all: the template renders as its own text
    return _recorded_issues(name, details.get(JINJA_ISSUES_DETAIL, "[]"))


def _recorded_issues(name: str, recorded: str) -> list[Issue]:
    """The verdict `jinja_text_details` recorded, as issues naming the template. Anything unreadable (only
    a bug could produce it) fails closed."""
    rules: dict[str, Rule] = {TEMPLATE_INJECTION.id: TEMPLATE_INJECTION, TEMPLATE_UNCHECKED.id: TEMPLATE_UNCHECKED}
    try:
        return [Issue(rules[entry["rule"]], str(entry["message"]),
                      evidence=(("template", name), *((str(k), str(v)) for k, v in entry["evidence"])))
                for entry in json.loads(recorded)]
    except (ValueError, TypeError, KeyError):
        return [Issue(TEMPLATE_UNCHECKED, f"chat template {name}: the recorded check result is unreadable",
                      evidence=(("template", name),))]


class _Unparseable(Exception):
    pass


def _parse(text: str) -> object:
    # Imported here: only files that carry a template pay for Jinja, and the pre-commit path stays light.
    try:
        import jinja2
        from jinja2 import nodes
        from jinja2.ext import Extension, loopcontrols
    except ImportError:  # an install without the dependency must not pass templates unchecked
        raise _Unparseable("jinja2 is not installed, so the template cannot be parsed") from None

    class GenerationTag(Extension):
        """Parses Hugging Face's `{% generation %}...{% endgeneration %}` block (transformers registers it
        when it renders); the body is kept so it is checked like the rest."""

        tags = {"generation"}  # noqa: RUF012  (Jinja's own class attribute)

        def parse(self, parser: jinja2.parser.Parser) -> list[nodes.Node]:
            next(parser.stream)
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    env = jinja2.Environment(extensions=[loopcontrols, GenerationTag], autoescape=False)  # noqa: S701
    try:
        return env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise _Unparseable(f"{exc.message} (line {exc.lineno})") from None
    except RecursionError:
        raise _Unparseable("nests too deeply") from None


def _hits(tree: object) -> Iterator[_Hit]:
    from jinja2 import nodes

    from weightgate.formats.jinja_values import evaluate

    assert isinstance(tree, nodes.Template)
    # Iterative throughout: Jinja builds long `a + b + c ...` chains as deep trees without recursing, so a
    # recursive walk here could exhaust the Python stack on a template that parsed fine.
    order: list[tuple[nodes.Node, nodes.Node | None]] = []
    stack: list[tuple[nodes.Node, nodes.Node | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        order.append((node, parent))
        stack.extend(reversed([(child, node) for child in node.iter_child_nodes()]))  # source order
    values = evaluate(tree, [node for node, _ in order])
    for node, parent in order:
        yield from _node_hits(node, parent, values)


def _node_hits(node: object, parent: object, values: TemplateValues) -> Iterator[_Hit]:
    from jinja2 import nodes

    assert isinstance(node, nodes.Node)
    line = node.lineno
    if isinstance(node, nodes.Getattr | nodes.NSRef) and node.attr in STRING_FORMATTERS:
        yield _Hit(line, node.attr, f"uses `.{node.attr}`, which reaches attributes through format fields")
    elif isinstance(node, nodes.Getattr | nodes.NSRef) and _unsafe_name(node.attr):
        yield _Hit(line, node.attr, f"reaches `.{_shown(node.attr)}` (object internals)")
    elif isinstance(node, nodes.Getattr) and node.attr in MUTATING_METHODS and isinstance(parent, nodes.Call) \
            and parent.node is node:
        yield _Hit(line, f".{node.attr}()", f"calls `.{node.attr}()`, which changes the caller's data in place "
                   "(the sandbox transformers renders with refuses it)")
    elif isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Slice):
        yield from _name_hits(line, values.of(node.arg), "[{}]", "a subscript")
    elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in ENTRY_GLOBALS:
        plain_call = isinstance(parent, nodes.Call) and parent.node is node and node.name in CALLABLE_GLOBALS
        if not plain_call:
            yield _Hit(line, node.name, f"uses the global `{node.name}`, a classic template-injection entry point")
    elif isinstance(node, nodes.Filter):
        yield from _filter_hits(node, values)
    elif isinstance(node, nodes.Import | nodes.FromImport | nodes.Include | nodes.Extends):
        tag = {"FromImport": "from-import"}.get(type(node).__name__, type(node).__name__.lower())
        yield _Hit(line, tag, f"uses `{{% {tag} %}}`, which loads other templates")
    elif isinstance(node, nodes.Keyword) and node.key.startswith("_"):
        yield _Hit(line, node.key, f"passes the keyword `{_shown(node.key)}` (builds dunder names)")


def _name_hits(line: int, name: Value, shape: str, how: str) -> Iterator[_Hit]:
    """Hits for a name used to look something up: each unsafe constant it may be, or that it is built at
    render time in a way the checker does not follow (and so may be any name)."""
    for text in name.strings:
        if _unsafe_name(text):
            shown = shape.format(repr(_shown(text)))
            yield _Hit(line, text, f"reaches `{shown}` (object internals through {how})")
    if name.built:
        yield _Hit(line, shape.format("?"), f"looks up a name built at render time through {how} (it may name "
                   "object internals)")


def _filter_hits(node: object, values: TemplateValues) -> Iterator[_Hit]:
    from jinja2 import nodes

    assert isinstance(node, nodes.Filter)
    line = node.lineno
    if node.name == "attr":
        yield _Hit(line, "|attr", "uses the `attr` filter, which reads any attribute by name")
        if node.args:
            yield from _name_hits(line, values.of(node.args[0]), "|attr({})", "the `attr` filter")
        return
    if node.name == "format" and node.node is not None \
            and any("%c" in text for text in values.of(node.node).strings):
        yield _Hit(line, "|format %c", "builds characters from their codes with `%c`")
    if node.name not in ATTRIBUTE_FILTERS:
        return
    if node.name in ("map", "select", "reject") and node.args and "attr" in values.of(node.args[0]).strings:
        yield _Hit(line, f"|{node.name}('attr')", f"applies the `attr` filter through `{node.name}`")
    named = [k.value for k in node.kwargs if k.key == "attribute"]
    position = ATTRIBUTE_POSITIONS.get(node.name)
    if position is not None and len(node.args) > position:
        named.append(node.args[position])
    for argument in named:
        path = values.of(argument)
        for text in path.strings:
            if any(_unsafe_name(part) for part in text.split(".")):
                yield _Hit(line, text, f"`{node.name}` reaches the attribute {_shown(text)!r}")
        if path.built or path.open == "data":
            yield _Hit(line, f"|{node.name}(attribute=?)", f"`{node.name}` looks up an attribute whose name is "
                       "built at render time")


def _unsafe_name(name: str) -> bool:
    return name.startswith("_") or name in UNSAFE_ATTRIBUTES


def _shown(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"
