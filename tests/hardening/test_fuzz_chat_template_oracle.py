"""Differential oracle for the chat-template checker: Jinja's own sandbox decides what is an attack.

Templates are generated from real chat templates (chat_template_corpus.py) with fragments spliced in: names of
object internals built in every way the checker follows (and some it does not), attribute and subscript
lookups, the `attr` filter, attribute arguments of filters, `str.format` fields and in-place mutations. Each is
rendered in a child process by `jinja2.sandbox.ImmutableSandboxedEnvironment`, set up as transformers sets it
up (`trim_blocks`, `lstrip_blocks`, loop controls, its `raise_exception`), on a typical chat input. Every
template whose rendering the sandbox refuses with `SecurityError` must be flagged WG535 by weightgate (flagging
more is allowed: the checker also refuses what the sandbox lets through but an unsandboxed renderer would not).

The renderer is one child for the whole module: a case costs a pipe round trip, not an interpreter start, and a
render that escaped the sandbox could not touch the test process.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardening.chat_template_corpus import CORPUS
from hardening.fuzzing import bounded
from weightgate.formats.chat_template import template_issues
from weightgate.rules import TEMPLATE_INJECTION

pytestmark = pytest.mark.fuzz

RENDER_TIMEOUT_S = 5
# The child: renders each template it reads (one JSON string a line) and answers with the outcome.
RENDERER = f"""
import json, signal, sys
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

def raise_exception(message):  # as transformers defines it for chat templates
    raise TemplateError(message)

def expired(signum, frame):
    raise TimeoutError

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.globals["raise_exception"] = raise_exception
signal.signal(signal.SIGALRM, expired)
messages = [{{"role": "user", "content": "What is 2 + 2?"}}, {{"role": "assistant", "content": "4."}},
            {{"role": "user", "content": "Thanks!"}}]
for line in sys.stdin:
    signal.alarm({RENDER_TIMEOUT_S})
    try:
        env.from_string(json.loads(line)).render(messages=messages, add_generation_prompt=True, bos_token="<s>",
                                                 eos_token="</s>", tools=None)
        outcome = "ok"
    except SecurityError:
        outcome = "security"
    except TimeoutError:
        outcome = "timeout"
    except Exception:
        outcome = "error"
    finally:
        signal.alarm(0)
    print(json.dumps(outcome), flush=True)
"""


class SandboxRenderer:
    def __init__(self) -> None:
        self._child = subprocess.Popen([sys.executable, "-c", RENDERER], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)

    def render(self, template: str) -> str:
        """"ok", "security" (the sandbox refused), "error" (any other failure) or "timeout"."""
        assert self._child.stdin is not None and self._child.stdout is not None
        self._child.stdin.write(json.dumps(template) + "\n")
        self._child.stdin.flush()
        answer = self._child.stdout.readline()
        assert answer, f"the renderer died (exit {self._child.poll()})"
        return str(json.loads(answer))

    def close(self) -> None:
        assert self._child.stdin is not None
        self._child.stdin.close()
        try:
            self._child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxRenderer]:
    renderer = SandboxRenderer()
    yield renderer
    renderer.close()


# --- fragments ----------------------------------------------------------------------------------------------------

NAMES = ["__class__", "__globals__", "__init__", "__mro__", "__subclasses__", "__builtins__", "__dict__", "_module",
         "mro", "gi_frame", "func_globals", "content", "role", "upper"]
OBJECTS = ["''", "message", "messages", "bos_token", "namespace()", "messages[0]"]
WAYS = ["literal", "concat", "plus", "join", "set", "replace", "lower", "reverse", "percent", "format-filter",
        "slice", "macro", "namespace-loop", "for-list", "first", "with", "str-format", "macro-argument"]
FIXED = [
    "{% set _ = messages.append(1) %}", "{{ messages[0].update({}) }}", "{% set l = [1] %}{{ l.pop() }}",
    "{{ {'a': 1}.setdefault('b', 2) }}", "{{ '{0.__class__}'.format(bos_token) }}", "{{ '{0.upper}'.format('a') }}",
    "{{ ''.__class__.__mro__[1].x }}", "{{ cycler.__init__.__globals__.os }}", "{{ lipsum.__globals__.x }}",
    "{{ message['content']|upper }}", "{{ '__init__ is text, not a lookup' }}", "__class__ in template data",
    "{% set n = 'content' %}{{ message[n] }}", "{{ messages|map(attribute='role')|join(',') }}",
    "{{ messages|selectattr('__class__')|list }}", "{{ (messages|first).role }}",
]
LOOP_START = re.compile(r"\{%-?\s*for message in \w+\s*-?%\}")


def _pieces(name: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(name) + 1) for c in cuts} | {0, len(name)})
    return [name[a:b] for a, b in itertools.pairwise(points) if b > a] or [name]


@st.composite
def built_name(draw: st.DrawFn, name: str, depth: int = 0) -> tuple[str, str, str]:
    """(statements before, an expression that evaluates to `name`, statements after)."""
    way = draw(st.sampled_from(WAYS if depth == 0 else WAYS[:4]))
    pieces = _pieces(name, draw(st.lists(st.integers(0, 30), max_size=4)))
    quoted = [repr(p) for p in pieces]
    suffix = draw(st.integers(0, 99))
    if way == "concat":
        return "", " ~ ".join(quoted), ""
    if way == "plus":
        return "", "(" + " + ".join(quoted) + ")", ""
    if way == "join":
        return "", f"([{', '.join(quoted)}]|join)", ""
    if way in ("set", "with"):
        before, inner, after = draw(built_name(name, depth + 1))
        if way == "set":
            return before + f"{{% set v{suffix} = {inner} %}}", f"v{suffix}", after
        return before + f"{{% with w{suffix} = {inner} %}}", f"w{suffix}", "{% endwith %}" + after
    if way == "replace" and "X" not in name:
        return "", f"({name.replace('_', 'X')!r}|replace('X', '_'))", ""
    if way == "lower" and name.upper().lower() == name:
        return "", f"({name.upper()!r}|lower)", ""
    if way == "reverse":
        return "", f"({name[::-1]!r}|reverse)", ""
    if way == "percent":
        codes = ", ".join(["95"] * name.count("_")) + ","
        return "", f"({name.replace('_', '%c')!r} % ({codes}))" if "_" in name else repr(name), ""
    if way == "format-filter":
        return "", f"({'%s' * len(pieces)!r}|format({', '.join(quoted)}))", ""
    if way == "slice":
        return "", f"({'zz' + name + 'zz'!r}[2:-2])", ""
    if way == "macro":
        return f"{{% macro m{suffix}() %}}{name}{{% endmacro %}}", f"m{suffix}()", ""
    if way == "namespace-loop":
        return (f"{{% set ns{suffix} = namespace(s='') %}}{{% for c in [{', '.join(quoted)}] %}}"
                f"{{% set ns{suffix}.s = ns{suffix}.s ~ c %}}{{% endfor %}}", f"ns{suffix}.s", "")
    if way == "for-list":
        return f"{{% for f{suffix} in [{name!r}] %}}", f"f{suffix}", "{% endfor %}"
    if way == "first":
        return "", f"([{name!r}, 'x']|first)", ""
    if way == "str-format":
        return "", f"({'{}' * len(pieces)!r}.format({', '.join(quoted)}))", ""
    if way == "macro-argument":
        return f"{{% macro g{suffix}(n) %}}{{{{ n }}}}{{% endmacro %}}", f"g{suffix}({name!r})", ""
    return "", repr(name), ""


@st.composite
def fragments(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(FIXED))
    before, name, after = draw(built_name(draw(st.sampled_from(NAMES))))
    obj = draw(st.sampled_from(OBJECTS))
    access = draw(st.sampled_from([
        "{{{{ {o}[{n}]() }}}}", "{{{{ {o}[{n}].y }}}}", "{{{{ ({o}|attr({n})).y }}}}", "{{{{ {o}[{n}] }}}}",
        "{{{{ ([{o}]|map(attribute={n})|first).y }}}}", "{{{{ {n} }}}}",
    ]))
    return before + access.format(o=obj, n=name) + after


@st.composite
def templates(draw: st.DrawFn) -> str:
    base = CORPUS[draw(st.sampled_from(sorted(CORPUS)))]
    for _ in range(draw(st.integers(1, 3))):
        fragment = draw(fragments())
        where = draw(st.integers(0, 2))
        loop = LOOP_START.search(base)
        if where == 0 or loop is None:
            base = fragment + base
        elif where == 1:
            base = base[: loop.end()] + fragment + base[loop.end() :]
        else:
            base += fragment
    return base


def _flagged(template: str) -> bool:
    with bounded():
        issues = template_issues("chat_template", template)
    return any(issue.rule is TEMPLATE_INJECTION for issue in issues)


@given(template=templates())
def test_every_template_the_sandbox_refuses_is_flagged(sandbox: SandboxRenderer, template: str) -> None:
    if sandbox.render(template) == "security":
        assert _flagged(template), f"the sandbox refuses this template, the checker passed it:\n{template}"


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_templates_render_and_pass(sandbox: SandboxRenderer, name: str) -> None:
    assert sandbox.render(CORPUS[name]) == "ok"
    assert template_issues("chat_template", CORPUS[name]) == []


@pytest.mark.parametrize("fragment", [
    "{% set u='_' %}{{ ''[u~u~'class'~u~u].x }}",
    "{% set ns = namespace(s='') %}{% for c in ['_','_','class','_','_'] %}{% set ns.s = ns.s ~ c %}{% endfor %}"
    "{{ bos_token[ns.s].x }}",
    "{{ (bos_token|attr('%c%cclass%c%c' % (95, 95, 95, 95))).x }}",
    "{% macro u() %}_{% endmacro %}{{ ''[u()~u()~'init'~u()~u()]() }}",
    "{% set _ = messages.append(1) %}",
    "{{ '{0.__class__.x}'.format(bos_token) }}",
])
def test_the_oracle_refuses_what_the_checker_must_flag(sandbox: SandboxRenderer, fragment: str) -> None:
    """The oracle is live: these attacks are refused by the sandbox and flagged by weightgate."""
    template = fragment + CORPUS["chatml"]
    assert sandbox.render(template) == "security"
    assert _flagged(template)
