"""The render budget: a template that runs away stops itself, inside the sandbox, with
a TemplateBudgetError (code ``template_budget``) naming the limit in English and Korean;
ordinary templates are not affected."""

from __future__ import annotations

import resource
from typing import Any

import pytest

from hub.templates import TemplateBudgetError, TemplateError
from hub.templates.budget import Limits
from hub.templates.environment import make_environments
from hub.templates.filters import WorkingCalendar
from hub.templates.rendering import Rendered, compile_template, render_compiled

ENVS = make_environments(WorkingCalendar())
CONTEXT: dict[str, Any] = {
    "case": {"id": "2026-0001234", "title": "도로 파손", "items": list(range(5000)),
             "due_at": "2026-11-30T18:00:00+09:00"},
    "recipient": {"name": "홍길동", "role": "citizen", "phone": "010-1234-5678"},
    "org": {"name": "구미시"},
}


def render(body: str, limits: Limits | None = None) -> Rendered:
    source = f"{{% block title %}}t{{% endblock %}}{{% block body %}}{body}{{% endblock %}}"
    compiled = compile_template(ENVS, "case.received/push.j2", source.encode())
    if limits is None:
        return render_compiled(compiled, CONTEXT)
    return render_compiled(compiled, CONTEXT, limits)


def peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


RUNAWAY = {
    # loops: nested ranges, nested data, a loop with no body at all
    "nested range": "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}"
                    "{% endfor %}",
    "silent nested range": "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}"
                           "{% endfor %}",
    "nested data": "{% for a in case['items'] %}{% for b in case['items'] %}{% endfor %}"
                   "{% endfor %}",
    "huge range": "{{ range(10 ** 12)|list|length }}",
    "recursive loop": "{% for i in range(3) recursive %}{{ loop([1, 2]) }}{% endfor %}",
    "recursive macro": "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}",
    # string growth: a namespace doubled, a macro argument doubled, captured output
    "namespace doubling": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
                          "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "namespace plus": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
                      "{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "macro doubling": "{% macro d(x, n) %}{{ d(x ~ x, n - 1) if n else x|length }}"
                      "{% endmacro %}{{ d('ab', 60) }}",
    "captured output": "{% set x %}{% for i in range(9000) %}{{ 'y' * 9000 }}{% endfor %}"
                       "{% endset %}{{ x|length }}",
    "captured literal": "{% set x %}{% for i in range(9000) %}" + "L" * 5000 +
                        "{% endfor %}{% endset %}{{ x|length }}",
    "integer squaring": "{% set ns = namespace(n=3) %}{% for i in range(60) %}"
                        "{% set ns.n = ns.n * ns.n %}{% endfor %}",
    "tower of powers": "{{ ((2 ** 100) ** 100) ** 100 }}",
    # one call that would build a gigabyte: widths and formats
    "format filter": "{{ '%0999999999d'|format(1) }}",
    "percent": "{{ '%0999999999d' % 1 }}",
    "percent star": "{{ '%*d' % (999999999, 1) }}",
    "precision": "{{ '%.999999999f' % 1.5 }}",
    "center filter": "{{ 'x'|center(999999999) }}",
    "center method": "{{ 'x'.center(999999999) }}",
    "ljust": "{{ 'x'.ljust(999999999) }}",
    "zfill": "{{ '1'.zfill(999999999) }}",
    "expandtabs": "{{ ('\t' * 1000).expandtabs(999999) }}",
    "str.format width": "{{ '{:>999999999}'.format(1) }}",
    "str.format nested width": "{{ '{:>{}}'.format(1, 999999999) }}",
    "indent": "{{ 'x'|indent(999999999) }}",
    "tojson indent": "{{ {'a': [1, 2]}|tojson(indent=999999999) }}",
    "replace": "{{ ('a' * 10000)|replace('a', 'a' * 10000) }}",
    "replace method": "{{ ('a' * 10000).replace('a', 'a' * 10000) }}",
    "join": "{{ (['a' * 10000] * 10000)|join }}",
    "join method": "{{ ''.join(['a' * 10000] * 10000) }}",
    "business days": "{{ case.due_at|business_days(100000000) }}",
    "batch padding": "{{ [1]|batch(999999999, 'x')|list|length }}",
    "slice count": "{{ [1]|slice(999999999)|list|length }}",
    "wordwrap": "{{ ('a' * 10000)|wordwrap(1, true, 'x' * 10000) }}",
    # time: each step cheap enough, too many of them
    "slow steps": "{% for i in range(9999) %}{{ case['items']|sort|length }}{% endfor %}",
}


@pytest.mark.parametrize("source", RUNAWAY.values(), ids=RUNAWAY.keys())
def test_a_runaway_template_stops_itself_with_template_budget(source: str) -> None:
    # Given a template built to run away (time, loop steps, or one gigantic value)
    # When a notice is rendered with it
    with pytest.raises(TemplateBudgetError) as info:
        render(source)
    # Then it stops with the budget's code and a reason for editors (Korean included)
    error = info.value
    assert error.code == "template_budget"
    assert "over the template budget" in error.reason
    assert any("\uac00" <= ch <= "\ud7a3" for ch in error.reason)  # Hangul
    assert error.template == "case.received/push.j2"
    # And no render got near building a gigabyte
    assert peak_mib() < 1024


def test_the_wall_and_cpu_clocks_stop_a_render() -> None:
    # Given a budget of 20 ms and a loop whose steps each take a while
    tight = Limits(cpu_seconds=0.02, wall_seconds=0.5, iterations=1_000_000)
    with pytest.raises(TemplateBudgetError, match=r"took over (20|500) ms"):
        render("{% for i in range(999999) %}{{ case['items']|sort|length }}{% endfor %}",
               tight)


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("{{ 'x'|center(5) }}|", "x  |"),
        ("{{ '%05d' % 42 }} {{ '%-4s|' % 'ab' }}", "00042 ab  |"),
        ("{{ '%s님 %d건'|format(recipient.name, 3) }}", "홍길동님 3건"),
        ("{{ '{}님 {:>3}'.format(recipient.name, 7) }}", "홍길동님   7"),
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
        ("{% for i in case['items'][:3] %}{{ loop.index }}/{{ loop.length }} {% endfor %}",
         "1/3 2/3 3/3"),
        ("{% for i in [] %}x{% else %}none{% endfor %}", "none"),
        ("{{ ['a', 'b']|join(', ') }} {{ 'a-b'|replace('-', '+') }}", "a, b a+b"),
        ("{{ [1, 2, 3]|batch(2, 0)|list }} {{ [1, 2, 3]|slice(2)|list }}",
         "[[1, 2], [3, 0]] [[1, 2], [3]]"),
        ("{{ 'ab cd'|wordwrap(2) }}", "ab\ncd"),
        ("{{ ('a\t' * 300).expandtabs(8)|length }}", "2400"),
        ("{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 7 % 3 }}", "1024 ababab 1"),
        ("{% macro hi(n) %}{{ n }}님{% endmacro %}{{ hi(recipient.name) }}", "홍길동님"),
    ],
)
def test_ordinary_templates_render_as_before(source: str, body: str) -> None:
    assert render(source).body == body


def test_a_long_but_bounded_loop_is_fine() -> None:
    assert render("{% for i in case['items'] %}{% endfor %}done").body == "done"


def test_the_budget_is_per_render() -> None:
    # Two renders of 6,000 loop steps each: each within its own budget of 10,000
    source = "{% for i in range(6000) %}{% endfor %}ok"
    assert render(source).body == render(source).body == "ok"


def test_the_attr_format_escape_is_refused() -> None:
    # CVE-2025-27516: str.format reached through |attr escaped the sandbox (jinja2 < 3.1.6)
    with pytest.raises(TemplateError) as info:
        render("{{ '{0.__init__.__globals__}'|attr('format')(cycler(1)) }}")
    assert "blocked by the sandbox" in info.value.reason
    assert "__globals__" not in render("{{ 'x' }}").body


def test_lipsum_is_not_offered() -> None:
    with pytest.raises(TemplateError, match="lipsum"):
        render("{{ lipsum(100000) }}")
