"""WG535/WG536: chat templates are code. Classic SSTI payloads fire; real-world templates do not.

Payloads follow the public Jinja SSTI write-ups and the GGUF chat-template attack on llama-cpp-python
(CVE-2024-34359 / GHSA-56xg-wfcc-g829), which rendered `tokenizer.chat_template` without a sandbox.
"""

from __future__ import annotations

import json

import pytest

from weightgate.formats import Format, jinja_values
from weightgate.formats.base import Issue
from weightgate.formats.chat_template import (
    JINJA_DETAIL,
    JINJA_ISSUES_DETAIL,
    MAX_TEMPLATE_CHECK_CHARS,
    MAX_TEMPLATE_FILE_BYTES,
    template_file_issues,
    template_issues,
)
from weightgate.rules import TEMPLATE_INJECTION, TEMPLATE_UNCHECKED

from .feeding import inspect_all_chunkings, inspect_bytes
from .samples import GGUF_STRING, gguf_file, gguf_kv, gguf_string

# --- real-world templates (near misses: none of them may fire) ---------------------------------------------

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>'"
    " + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' "
    "+ message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 "
    "== 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt "
    "%}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
# Tool calling, namespace(), string methods, slices and raise_exception, as in Llama 3.1 / Qwen 2.5 / Qwen 3.
TOOLS = """{{- bos_token }}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{%- if tools is not none %}
    {{- "Tools:\\n" }}
    {%- for t in tools %}{{- t | tojson(indent=4) }}{{- "\\n\\n" }}{%- endfor %}
{%- endif %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string
        and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
                {{- '{"name": "' + tool_call.name + '", "arguments": ' + tool_call.arguments | tojson + '}' }}
            {%- endfor %}
        {%- endif %}
        {%- generation %}{{- content }}{%- endgeneration %}
    {%- elif loop.index0 > 0 and messages[loop.index0 - 1].role != "tool" %}
        {{- raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif %}
    {%- if loop.last and message.role == "tool" %}{% break %}{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content']"
    " | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}"
    "{% endif %}"
)


@pytest.mark.parametrize("template", [CHATML, LLAMA3, TOOLS, GEMMA], ids=["chatml", "llama3", "tools", "gemma"])
def test_real_world_templates_pass(template: str) -> None:
    assert template_issues("chat_template", template) == []


# --- payloads ------------------------------------------------------------------------------------------------

PAYLOADS = [
    ("mro-subclasses", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
    ("cycler-globals", "{{ cycler.__init__.__globals__.os.popen('id').read() }}", "__globals__"),
    ("joiner", "{{ joiner.__init__.__globals__ }}", "joiner"),
    ("lipsum", "{{ lipsum.__globals__['os'].popen('id').read() }}", "lipsum"),
    ("namespace-internals", "{{ namespace.__init__.__globals__ }}", "namespace"),
    ("self", "{{ self._TemplateReference__context }}", "self"),
    ("flask-config", "{{ config.items() }}", "config"),
    ("request", "{{ request.application }}", "request"),
    ("url-for", "{{ url_for.__globals__ }}", "url_for"),
    ("attr-filter", "{{ x|attr('__class__') }}", "|attr"),
    ("subscript", "{{ x['__class__'] }}", "__class__"),
    ("built-subscript", "{{ x['__cla' ~ 'ss__'] }}", "__class__"),
    ("repeated-underscores", "{% set u = '_' * 2 %}{{ x[u ~ 'class' ~ u] }}", "__class__"),
    ("format-method", "{{ '{0.__class__}'.format(x) }}", "format"),
    ("format-map", "{{ s.format_map(x) }}", "format_map"),
    ("char-codes", "{{ '%c%c'|format(95, 95) }}", "|format %c"),
    ("map-attribute", "{{ xs|map(attribute='__class__')|list }}", "__class__"),
    ("map-attr-filter", "{{ xs|map('attr', 'y')|list }}", "|map('attr')"),
    ("dunder-keyword", "{{ dict(__class__=1) }}", "__class__"),
    ("namespace-attr", "{% set ns = namespace() %}{% set ns.__dict__ = 1 %}", "__dict__"),
    ("frame", "{{ gen.gi_frame.f_globals }}", "gi_frame"),
    ("include", "{% include 'other.j2' %}", "include"),
    ("import", "{% import 'macros.j2' as m %}", "import"),
    ("from-import", "{% from 'macros.j2' import m %}", "from-import"),
    ("extends", "{% extends 'base.j2' %}", "extends"),
]


@pytest.mark.parametrize(("name", "template", "construct"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_ssti_payloads_fire(name: str, template: str, construct: str) -> None:
    [issue] = template_issues("chat_template", template)
    assert issue.rule is TEMPLATE_INJECTION
    assert construct in dict(issue.evidence)["constructs"].split(",")


def test_loop_variables_named_like_flask_helpers_are_not_globals() -> None:
    assert template_issues("t", "{% for g in groups %}{{ g.name }}{% endfor %}{{ session_id }}") == []


def test_namespace_call_is_allowed_but_its_internals_are_not() -> None:
    assert template_issues("t", "{% set ns = namespace(a=1) %}{{ ns.a }}") == []
    assert template_issues("t", "{% set n = namespace %}")  # passed around instead of called


def test_one_issue_per_line_naming_template_line_and_constructs() -> None:
    issues = template_issues("chat_template.tool_use", "hello\n{{ cycler.__init__.__globals__ }}\n{{ x|attr('y') }}")
    assert [dict(i.evidence)["line"] for i in issues] == ["2", "3"]
    assert issues[0].message.startswith("chat template chat_template.tool_use line 2:")
    assert dict(issues[0].evidence)["constructs"] == "__globals__,__init__,cycler"


def test_constructs_on_many_lines_are_capped() -> None:
    issues = template_issues("t", "\n".join("{{ x.__class__ }}" for _ in range(30)))
    assert len(issues) == 21 and "10 more lines" in issues[-1].message


@pytest.mark.parametrize(
    ("template", "expected"),
    [("{% for m in messages %}", "does not parse"), ("{{ x }", "does not parse"),
     ("{% do x.append(1) %}", "does not parse"),  # the `do` extension is not enabled by Hugging Face either
     ("x" * (MAX_TEMPLATE_CHECK_CHARS + 1), "limit")],
)
def test_unparseable_or_oversized_template_fails_closed(template: str, expected: str) -> None:
    [issue] = template_issues("chat_template", template)
    assert issue.rule is TEMPLATE_UNCHECKED and expected in issue.message


def test_deep_expression_chains_do_not_break_the_checker() -> None:
    chain = "{{ " + " ~ ".join(["'a'"] * 20_000) + " }}"
    assert template_issues("t", chain) == []
    nested = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    assert [i.rule for i in template_issues("t", nested)] == [TEMPLATE_UNCHECKED]


# --- where templates come from: GGUF metadata and tokenizer_config.json ---------------------------------------


def _gguf_with_template(key: str, template: str) -> bytes:
    return gguf_file(kv=[gguf_kv("general.architecture", GGUF_STRING, gguf_string("llama")),
                         gguf_kv(key, GGUF_STRING, gguf_string(template))])


def test_gguf_template_injection_is_reported_and_recorded() -> None:
    payload = "{{ cycler.__init__.__globals__.os.popen('touch /tmp/pwned').read() }}"
    result = inspect_all_chunkings(_gguf_with_template("tokenizer.chat_template", payload))
    assert result.format is Format.GGUF
    assert {i.rule for i in result.issues} == {TEMPLATE_INJECTION}
    assert "tokenizer.chat_template" in result.issues[0].message
    assert result.details["chat_template"] == payload  # the template is a fact for the ML-BOM


def test_gguf_named_template_is_checked_too() -> None:
    result = inspect_bytes(_gguf_with_template("tokenizer.chat_template.tool_use", "{{ x|attr('y') }}"))
    assert [i.rule for i in result.issues] == [TEMPLATE_INJECTION]


def test_gguf_real_template_passes() -> None:
    result = inspect_all_chunkings(_gguf_with_template("tokenizer.chat_template", LLAMA3))
    assert result.issues == []
    assert result.details["has_chat_template"] == "true"


def test_gguf_template_longer_than_the_recorded_fact_is_still_checked_whole() -> None:
    payload = "x" * 70_000 + "{{ ''.__class__ }}"  # past the 64 KiB kept in the facts
    result = inspect_bytes(_gguf_with_template("tokenizer.chat_template", payload))
    assert [i.rule for i in result.issues] == [TEMPLATE_INJECTION]
    assert result.details["chat_template.truncated"] == "true"


def _json(value: object) -> bytes:
    return json.dumps(value, indent=2).encode()


def test_tokenizer_config_template_is_checked_and_recorded() -> None:
    config = {"bos_token": "<s>", "chat_template": "{{ lipsum.__globals__ }}", "model_max_length": 4096}
    result = inspect_all_chunkings(_json(config))
    assert result.format is Format.JSON
    assert {i.rule for i in result.issues} == {TEMPLATE_INJECTION}
    assert result.details["chat_template"] == config["chat_template"]


def test_tokenizer_config_named_templates() -> None:
    config = {"chat_template": [{"name": "default", "template": CHATML},
                                {"name": "tool_use", "template": "{% include 'x' %}"}]}
    result = inspect_bytes(_json(config))
    assert [dict(i.evidence)["template"] for i in result.issues] == ["chat_template.tool_use"]
    assert result.details["chat_template"] == CHATML
    assert "chat_template.tool_use" in result.details


def test_tokenizer_config_with_real_template_passes() -> None:
    result = inspect_bytes(_json({"chat_template": TOOLS, "eos_token": "<|im_end|>"}))
    assert result.issues == []
    assert result.details["has_chat_template"] == "true"


@pytest.mark.parametrize("value", [{"default": "{{ x }}"}, 42, [{"name": "a"}]])
def test_tokenizer_config_template_of_unknown_shape_fails_closed(value: object) -> None:
    result = inspect_bytes(_json({"chat_template": value}))
    assert [i.rule for i in result.issues] == [TEMPLATE_UNCHECKED]


def test_json_without_template_has_no_template_facts() -> None:
    result = inspect_bytes(_json({"architectures": ["LlamaForCausalLM"], "template": "{{ x.__class__ }}"}))
    assert result.issues == []
    assert "has_chat_template" not in result.details


# --- templates saved as their own files (chat_template.jinja): text inspected without its name -------------


def test_text_with_jinja_syntax_records_the_template_verdict_but_no_issue() -> None:
    payload = "{{ ''.__class__.__mro__[1].__subclasses__() }}\n"
    result = inspect_all_chunkings(payload.encode())
    assert result.format is Format.TEXT
    assert result.issues == []  # the inspector cannot know it is a template; checks/chat_templates.py judges
    assert result.details[JINJA_DETAIL] == "true"
    [recorded] = json.loads(result.details[JINJA_ISSUES_DETAIL])
    assert recorded["rule"] == TEMPLATE_INJECTION.id and "__subclasses__" in recorded["message"]


@pytest.mark.parametrize("template", [CHATML, LLAMA3, TOOLS], ids=["chatml", "llama3", "tools"])
def test_real_template_text_records_a_clean_verdict(template: str) -> None:
    details = inspect_all_chunkings(template.encode()).details
    assert details[JINJA_DETAIL] == "true" and JINJA_ISSUES_DETAIL not in details


@pytest.mark.parametrize(
    "data",
    [b"# A model card\n\nNo template syntax, only {braces} and } {.\n",
     b"x" * (MAX_TEMPLATE_FILE_BYTES - 20) + b"{{ x.__class__ }}" + b"x" * 10],  # too long to keep
    ids=["no-jinja-syntax", "over-the-bound"],
)
def test_text_without_a_checkable_template_records_nothing(data: bytes) -> None:
    assert inspect_all_chunkings(data, chunkings=[7, 4096]).details == {"encoding": "utf-8"}


def test_a_file_just_within_the_bound_is_kept_and_checked() -> None:
    data = b"{{ x.__class__ }}" + b"x" * (MAX_TEMPLATE_FILE_BYTES - 17)
    assert JINJA_ISSUES_DETAIL in inspect_all_chunkings(data, chunkings=[7, 4096]).details


def _file_issues(data: bytes, name: str = "chat_template") -> list[Issue]:
    result = inspect_bytes(data)
    return template_file_issues(name, result.format, len(data), result.details)


def test_template_file_verdict_names_the_template() -> None:
    [issue] = _file_issues(b"hello\n{{ cycler.__init__.__globals__ }}", "chat_template.tool_use")
    assert issue.rule is TEMPLATE_INJECTION and issue.message.startswith("chat template line 2:")
    assert dict(issue.evidence) == {"template": "chat_template.tool_use", "line": "2",
                                    "constructs": "__globals__,__init__,cycler"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", []), (b"You are a helpful assistant.\n", []), (LLAMA3.encode(), []),
     (b"{% for m in messages %}", ["does not parse"]),
     (b"{{ x }}\xff\xfe", ["not UTF-8 text"]),
     (b"{{ x }}" * 20_000 + b"\xff", ["not UTF-8 text (invalid UTF-8 near offset 140000)"]),  # after the head
     (b'{"role": "{{ x.__class__ }}"}', ["holds json"]),  # content detection says JSON: never parsed as Jinja
     (b"x" * (MAX_TEMPLATE_FILE_BYTES + 1), ["over the"])],
    ids=["empty", "literal-text", "llama3", "unparseable", "not-utf8", "not-utf8-late", "json-content", "oversize"],
)
def test_template_file_fails_closed_when_it_was_not_parsed(data: bytes, expected: list[str]) -> None:
    issues = _file_issues(data)
    assert [i.rule for i in issues] == [TEMPLATE_UNCHECKED] * len(expected)
    assert all(fragment in i.message for fragment, i in zip(expected, issues, strict=True))


def test_unreadable_recorded_verdict_fails_closed() -> None:
    details = {JINJA_DETAIL: "true", JINJA_ISSUES_DETAIL: '[{"rule": "WG999"}]'}
    [issue] = template_file_issues("chat_template", Format.TEXT, 10, details)
    assert issue.rule is TEMPLATE_UNCHECKED and "unreadable" in issue.message


# --- names built at render time (constant propagation over the syntax tree) -------------------------------------

BUILT_NAMES = [
    ("set-underscores", "{% set u='_' %}{{ ''[u~u~'class'~u~u] }}", "__class__"),
    ("join-filter", "{{ x[['_','_','cl','ass','_','_']|join] }}", "__class__"),
    ("format-filter", "{{ x['%s%sclass%s%s'|format('_','_','_','_')] }}", "__class__"),
    ("percent-codes", "{{ x['%c%cclass%c%c' % (95,95,95,95)] }}", "__class__"),
    ("replace-filter", "{{ x['XXclassXX'|replace('X','_')] }}", "__class__"),
    ("replace-method", "{{ x['XXclassXX'.replace('X','_')] }}", "__class__"),
    ("lower", "{{ x['__CLASS__'|lower] }}", "__class__"),
    ("reverse", "{{ x['__ssalc__'|reverse] }}", "__class__"),
    ("slice", "{{ x['a__class__b'[1:-1]] }}", "__class__"),
    ("first", "{{ x[['__class__', 'a']|first] }}", "__class__"),
    ("macro-output", "{% macro u() %}_{% endmacro %}{{ x[u()~u()~'class'~u()~u()] }}", "__class__"),
    ("macro-argument", "{% macro g(o, n) %}{{ o[n] }}{% endmacro %}{{ g(x, '__class__') }}", "__class__"),
    ("with", "{% with n = '__globals__' %}{{ x[n] }}{% endwith %}", "__globals__"),
    ("set-block", "{% set n | lower %}__CLASS__{% endset %}{{ x[n] }}", "__class__"),
    ("for-constant-list", "{% for n in ['mro', 'x'] %}{{ x[n] }}{% endfor %}", "mro"),
    ("namespace-loop", "{% set ns = namespace(s='') %}{% for c in ['_','_','class','_','_'] %}"
     "{% set ns.s = ns.s ~ c %}{% endfor %}{{ x[ns.s] }}", "[?]"),
    ("macro-passed-around", "{% macro m(n) %}{{ x[n] }}{% endmacro %}{% set f = m %}{{ f('__class__') }}", "[?]"),
    ("varargs", "{% macro m() %}{{ x[varargs[0]] }}{% endmacro %}{{ m('__class__') }}", "[?]"),
    ("attr-of-built-name", "{{ x|attr(a ~ b) }}", "|attr(?)"),
    ("selectattr-position", "{{ xs|selectattr('__class__')|list }}", "__class__"),
    ("mutating-call", "{% set l = [] %}{% set _ = l.append(1) %}", ".append()"),
]


@pytest.mark.parametrize(("name", "template", "construct"), BUILT_NAMES, ids=[c[0] for c in BUILT_NAMES])
def test_names_built_at_render_time_fire(name: str, template: str, construct: str) -> None:
    issues = template_issues("chat_template", template)
    assert [i.rule for i in issues] == [TEMPLATE_INJECTION]
    assert construct in dict(issues[0].evidence)["constructs"].split(",")
    if construct == "[?]":
        assert "name built at render time" in issues[0].message


@pytest.mark.parametrize("template", [
    # Dunder words in output are text, not lookups (a GGUF template quoting Python once tripped the checker).
    "{{ '__init__ is a python method' }} __init__ {{ message['content'] }}",
    "{% set note = '__class__' %}{{ note }}",
    # Keys read from the caller's data, or numbers, are not names the template builds.
    "{% for m in messages %}{{ messages[loop.index0 - 1]['role'] }}{{ m['content'] }}{% endfor %}",
    "{% set roles = {'user': 'U'} %}{% for m in messages %}{{ roles[m['role']] }}{% endfor %}",
    "{% for t in tools %}{% for k, v in t.parameters.properties|items %}{{ t.parameters.properties[k] }}"
    "{% endfor %}{% endfor %}",
    "{% set i = 0 %}{{ messages[i] }}{{ messages[-1] }}",
], ids=["output-text", "printed-constant", "index-arithmetic", "data-key", "data-loop-key", "int-variable"])
def test_names_that_are_not_built_do_not_fire(template: str) -> None:
    assert template_issues("chat_template", template) == []


def test_gguf_template_quoting_dunder_text_passes() -> None:
    template = LLAMA3 + "{{ 'Call super().__init__() first.' }}"
    assert inspect_bytes(_gguf_with_template("tokenizer.chat_template", template)).issues == []


def test_a_long_chain_of_sets_is_followed_to_the_exact_name() -> None:
    # Each `set` is bound as the round reaches it, so 2,000 links converge instead of being widened after
    # MAX_ROUNDS rounds (which would only say "built at render time").
    chain = "{% set v0 = '_' %}" + "".join(f"{{% set v{i} = v{i - 1} %}}" for i in range(1, 2000))
    issues = template_issues("chat_template", chain + "{{ x[v1999 ~ v1999 ~ 'class' ~ v1999 ~ v1999] }}")
    assert [i.rule for i in issues] == [TEMPLATE_INJECTION]
    assert "__class__" in dict(issues[0].evidence)["constructs"].split(",")


def test_a_loop_that_grows_what_it_reads_is_still_widened() -> None:
    template = ("{% set s = '' %}{% for c in ['_', 'c'] %}{% set s = s ~ c %}{% endfor %}"
                "{{ x[s] }}")
    issues = template_issues("chat_template", template)
    assert [i.rule for i in issues] == [TEMPLATE_INJECTION]
    assert "name built at render time" in issues[0].message


def test_past_the_evaluation_budget_every_variable_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    template = "{% set k = 'role' %}{% for m in messages %}{{ m[k] }}{% endfor %}"
    assert template_issues("chat_template", template) == []
    monkeypatch.setattr(jinja_values, "MAX_EVALUATIONS", 5)  # a hostile template's cost, in miniature
    issues = template_issues("chat_template", template)
    assert [i.rule for i in issues] == [TEMPLATE_INJECTION]
    assert "name built at render time" in issues[0].message
