"""The sandbox: templates read their context and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from hub.templates import TemplateError
from hub.templates.environment import make_environments
from hub.templates.filters import WorkingCalendar
from hub.templates.rendering import Rendered, compile_template, render_compiled

ENVS = make_environments(WorkingCalendar())
CONTEXT: dict[str, Any] = {
    "case": {"id": "2026-0001234", "title": "도로 파손", "items": ["a"]},
    "recipient": {"name": "홍길동", "role": "citizen"},
    "org": {"name": "구미시", "callcenter": "120", "url": ""},
}


def push(body: str, title: str = "t") -> bytes:
    blocks = f"{{% block title %}}{title}{{% endblock %}}{{% block body %}}{body}{{% endblock %}}"
    return blocks.encode()


def render(body: str, context: dict[str, Any] | None = None) -> Rendered:
    compiled = compile_template(ENVS, "case.received/push.j2", push(body))
    return render_compiled(compiled, CONTEXT if context is None else context)


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ case.__class__ }}",
        "{{ recipient.name.__class__.__base__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__['os'] }}",
        "{{ self._TemplateReference__context }}",
        "{{ case.items.__class__.__subclasses__() }}",
        "{{ (1).__class__.__subclasses__() }}",
        "{{ namespace.__init__.__globals__ }}",
    ],
)
def test_reaching_python_internals_fails_with_a_clear_reason(expression: str) -> None:
    # Given a template that tries to climb out of the sandbox
    # When it renders / Then it fails, naming the sandbox
    with pytest.raises(TemplateError) as info:
        render(expression)
    assert "blocked by the sandbox" in info.value.reason
    assert info.value.template == "case.received/push.j2"


@pytest.mark.parametrize(
    "statement",
    [
        "{{ case.update({'id': 'x'}) }}",
        "{{ case['items'].append('b') }}",
        "{{ case.pop('id') }}",
        "{{ case.clear() }}",
    ],
)
def test_templates_cannot_change_the_data(statement: str) -> None:
    context = {**CONTEXT, "case": {"id": "2026-0001234", "items": ["a"]}}
    with pytest.raises(TemplateError, match="sandbox"):
        render(statement, context)
    assert context["case"] == {"id": "2026-0001234", "items": ["a"]}


@pytest.mark.parametrize(
    "expression",
    [
        "{{ 'a' * 100000000 }}",
        "{{ [1] * 100000000 }}",
        "{{ 10 ** 100000000 }}",
        "{% for i in range(100000000) %}{% endfor %}",
    ],
)
def test_templates_cannot_exhaust_memory_or_time(expression: str) -> None:
    with pytest.raises(TemplateError):
        render(expression + "x")


@pytest.mark.parametrize(
    "statement",
    [
        "{% include 'case.received/sms.j2' %}",
        "{% import 'x.j2' as x %}{{ x }}",
        "{% from 'x.j2' import y %}{{ y }}",
    ],
)
def test_templates_cannot_read_other_files(statement: str) -> None:
    with pytest.raises(TemplateError, match="a template is one file"):
        render(statement)


def test_undefined_variables_are_errors_naming_the_line() -> None:
    with pytest.raises(TemplateError) as info:
        render("line one\n{{ case.departmnet }}")
    assert "departmnet" in info.value.reason
    assert info.value.reason.startswith("line 2:")


def test_undefined_in_a_condition_is_an_error_but_is_defined_works() -> None:
    with pytest.raises(TemplateError):
        render("{% if case.url %}u{% endif %}x")
    assert render("{% if case.url is defined %}u{% endif %}x").body == "x"
    assert render("{{ case.url|default('없음') }}").body == "없음"


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(TemplateError, match=r"line 2: .*") as info:
        compile_template(ENVS, "case.received/push.j2", push("a\n{{ case.id }"))
    assert info.value.template == "case.received/push.j2"


def test_html_is_escaped_in_the_html_part_only() -> None:
    # Given an e-mail template and a title with markup in it
    source = (
        b"{% block subject %}{{ case.title }}{% endblock %}"
        b"{% block text %}{{ case.title }}{% endblock %}"
        b"{% block html %}<p>{{ case.title }}</p>{% endblock %}"
    )
    compiled = compile_template(ENVS, "case.received/email.j2", source)
    context = {**CONTEXT, "case": {"title": "<b>A & B</b>"}}
    # When it renders
    rendered = render_compiled(compiled, context)
    # Then the text part and subject are as written, the HTML part escaped
    assert rendered.subject == "<b>A & B</b>"
    assert rendered.body == "<b>A & B</b>"
    assert rendered.html == "<p>&lt;b&gt;A &amp; B&lt;/b&gt;</p>"


def test_a_filter_error_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="won"):
        render("{{ case.title|won }}")


@pytest.mark.parametrize("filtered", ["kdate", "business_days(3)", "won", "phone", "mask_name"])
def test_a_missing_field_given_to_a_filter_is_named(filtered: str) -> None:
    with pytest.raises(TemplateError, match="no field 'due_at'"):
        render(f"{{{{ case.due_at|{filtered} }}}}")


@pytest.mark.parametrize("opening, closing", [
    ("{% if case %}", "{% endif %}"),
    ("{% for x in case.items %}", "{% endfor %}"),
    ("{{ (", ") }}"),
])
def test_a_template_nested_5000_deep_is_refused_not_a_crash(opening: str,
                                                            closing: str) -> None:
    # Given a template whose statements nest 5,000 levels deep
    body = opening * 5000 + "x" + closing * 5000
    # When it is compiled (at check, start-up, hot reload, or in the studio)
    with pytest.raises(TemplateError) as caught:
        compile_template(ENVS, "case.received/push.j2", push(body))
    # Then it is refused with a reason an editor can act on, in Korean too
    english = caught.value.reason
    assert "nested too deeply" in english
    from hub.templates.korean import in_korean

    assert "너무 깊이" in in_korean(english).message
