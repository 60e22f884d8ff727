"""The sandboxed Jinja2 environments templates are compiled in.

* :class:`NoticeSandbox` is an ``ImmutableSandboxedEnvironment``: a template can
  read the context but not call methods that change it, nor reach Python
  internals (``__class__``, ``__globals__``, ``mro`` ...): such access raises
  ``jinja2.sandbox.SecurityError``, reported as a :class:`TemplateError` with a
  clear reason. Repeating a string or list (``*``) and powers (``**``) are
  bounded so that a template cannot exhaust memory.
* Rendering runs within a budget (:mod:`hub.templates.budget`): every ``for``
  loop step, call, filter, attribute access and intercepted operator spends from
  it and sizes are checked before and after each step, so a runaway template
  stops itself. ``lipsum`` is gone; ``range`` counts against the loop budget.
* Undefined variables are errors (``StrictUndefined``), so a typo or a missing
  field never sends a notice with a hole in it.
* There is no loader: ``{% include %}``, ``{% import %}`` and ``{% extends %}``
  fail. A template is one self-contained file.
* Lines behave as an editor expects (:class:`LineTags`): a line holding only
  tags (``{% if ... %}``) disappears, newline included; a line with text keeps
  its newline even when it ends in a tag (``... {% endif %}``).
* Two environments share the filters: ``plain`` (no escaping) for SMS, push and
  the e-mail's subject and text, ``html`` (autoescape on) for the e-mail's
  ``html`` block only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.ext import Extension
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from hub.templates import budget
from hub.templates.filters import WorkingCalendar, make_filters

#: Largest string or list a template may build with ``*``.
MAX_REPEAT = 10_000
#: Largest exponent ``**`` accepts.
MAX_POWER = 100


_TAGS_ONLY = re.compile(r"^\s*(\{%(?:(?!%\}).)*%\}\s*|\{#(?:(?!#\}).)*#\}\s*)+$")
_ENDS_IN_TAG = re.compile(r"(\{([%#])(?:(?!\2\}).)*?)(?<![-+])\2\}\s*$")


class LineTags(Extension):
    """With ``trim_blocks`` Jinja drops the newline after every block tag, which
    would glue ``text {% endif %}`` to the next line. This keeps that newline
    (``+%}``) when the line holds text besides tags."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        lines = source.split("\n")
        for i, line in enumerate(lines):
            if _ENDS_IN_TAG.search(line) and not _TAGS_ONLY.match(line):
                lines[i] = _ENDS_IN_TAG.sub(r"\1+\2}", line)
        return "\n".join(lines)


class RenderBudget(Extension):
    """What the code of every template calls to spend its render budget (see
    :class:`BudgetedCodeGenerator`)."""

    @staticmethod
    def metered(iterable: Any) -> Any:
        return budget.metered(iterable)

    @staticmethod
    def spend_output(chars: int) -> None:
        spent = budget.current()
        if spent is not None:
            spent.emit(chars)


def _count_output(value: Any) -> Any:
    """``finalize``: every ``{{ expression }}`` output (or captured) spends its length."""
    if isinstance(value, str):
        RenderBudget.spend_output(len(value))
    return value


_METERED = nodes.ExtensionAttribute(RenderBudget.identifier, "metered")


class BudgetedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every ``for`` loop iterating
    ``RenderBudget.metered(...)`` (one budget step per item) and the literal text of
    every output in a loop or macro spending its length (``finalize`` counts the
    expressions). This is
    Jinja's documented extension point for the code a template compiles to
    (``Environment.code_generator_class``); output captured by ``{% set %}`` blocks,
    macros and ``{% filter %}`` counts as well as output sent."""

    _repeated = 0  # > 0 while generating code that can run many times (loops, macros)

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        iterated = node.iter
        if not (isinstance(iterated, nodes.Call) and iterated.node is _METERED):
            node.iter = nodes.Call(_METERED, [iterated], [], None, None, lineno=iterated.lineno)
        self._repeated += 1
        try:
            super().visit_For(node, frame)
        finally:
            self._repeated -= 1

    def visit_Macro(self, node: nodes.Macro, frame: Frame) -> None:
        self._repeated += 1
        try:
            super().visit_Macro(node, frame)
        finally:
            self._repeated -= 1

    def visit_CallBlock(self, node: nodes.CallBlock, frame: Frame) -> None:
        self._repeated += 1
        try:
            super().visit_CallBlock(node, frame)
        finally:
            self._repeated -= 1

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        if not self._repeated:  # literal text that runs once is bounded by the file
            super().visit_Output(node, frame)
            return
        literal = 0
        for child in node.nodes:
            try:
                literal += len(str(child.as_const(frame.eval_ctx)))
            except Exception:  # not a constant: finalize counts it at run time
                continue
        if literal:
            self.writeline(f"environment.extensions[{RenderBudget.identifier!r}]"
                           f".spend_output({literal})")
        super().visit_Output(node, frame)


_STR_METHOD_CHECKS: dict[str, Callable[..., None]] = {
    "center": lambda text, width, *_: budget.check_width(width),
    "ljust": lambda text, width, *_: budget.check_width(width),
    "rjust": lambda text, width, *_: budget.check_width(width),
    "zfill": lambda text, width, *_: budget.check_width(width),
    "expandtabs": lambda text, size=8, *_: budget.check_size(
        len(text) + abs(size) * text.count("\t")),
    "replace": budget.check_replace,
    "join": lambda text, items, *_: budget.check_join(items, text),
}


def _budget_range(*args: int) -> range:
    """``range`` of at most the loop budget's steps (the loop then spends them)."""
    steps = range(*args)
    try:
        count = len(steps)
    except OverflowError:  # more than sys.maxsize items
        count = budget.limits().iterations + 1
    if count > budget.limits().iterations:
        budget.iterations(count)
    return steps


class NoticeSandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox with bounded ``*`` and ``**`` and a render budget."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = BudgetedCodeGenerator

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget.step()
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_POWER:
            raise SecurityError(f"power with an exponent above {MAX_POWER} is not allowed")
        if operator == "**" and isinstance(left, int) and isinstance(right, int | float) \
                and left.bit_length() * abs(right) > budget.limits().int_bits:
            budget.fail("a number too large (숫자가 너무 큽니다)")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > MAX_REPEAT
                ):
                    raise SecurityError(
                        f"repeating a text or list beyond {MAX_REPEAT} items is not allowed"
                    )
            if isinstance(left, int) and isinstance(right, int) and \
                    left.bit_length() + right.bit_length() > budget.limits().int_bits:
                budget.fail("a number too large (숫자가 너무 큽니다)")
        if operator == "%" and isinstance(left, str):
            budget.check_printf(left, right)
        if operator == "+" and isinstance(left, str | list | tuple) \
                and isinstance(right, str | list | tuple):
            budget.check_size(len(left) + len(right))
        return budget.check_value(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        budget.step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            check = _STR_METHOD_CHECKS.get(getattr(__obj, "__name__", ""))
            if check is not None:
                check(owner, *args, **{k: v for k, v in kwargs.items() if k != "_block_vars"})
        for arg in args:
            budget.check_value(arg)
        return budget.check_value(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` as the sandbox wraps it, with its widths checked first."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            budget.check_format(value.__self__)
        return wrapped

    # Attribute and item access cannot loop: they only check what they hand out.
    def getattr(self, obj: Any, attribute: str) -> Any:
        return budget.check_value(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return budget.check_value(super().getitem(obj, argument))


def _check_indent(text: str, width: Any) -> None:
    budget.check_width(width)
    size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    budget.check_size(len(text) + abs(size) * (text.count("\n") + 1))


def _check_wordwrap(text: str, width: Any, wrapstring: Any) -> None:
    lines = len(text) // max(1, width if isinstance(width, int) else 1) + 1
    budget.check_size(len(text) + lines * len(wrapstring if isinstance(wrapstring, str) else "\n"))


#: Checks run before a filter, on its arguments (the value first).
_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": lambda value, width=80, *_: budget.check_width(width),
    "indent": lambda value, width=4, *_, **__: _check_indent(str(value), width),
    "format": lambda value, *args, **kwargs: budget.check_printf(str(value), kwargs or args),
    "replace": lambda value, old, new, count=None: budget.check_replace(
        str(value), old, new, -1 if count is None else count),
    "join": lambda value, d="", attribute=None: budget.check_join(
        list(value) if isinstance(value, list | tuple) else value, d),
    "tojson": lambda value, indent=None: budget.check_width(indent or 0),
    "business_days": lambda value, days, *_: budget.iterations(abs(int(days))),
    # groups padded with fill_with, or that many groups: sizes the filter builds at once
    "batch": lambda value, linecount, *_, **__: budget.check_size(linecount),
    "slice": lambda value, slices, *_, **__: budget.iterations(slices),
    "wordwrap": lambda value, width=79, break_long_words=True, wrapstring=None, *_, **__:
        _check_wordwrap(str(value), width, wrapstring),
}


def _budgeted(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    check = _FILTER_CHECKS.get(name)
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context ...) in __dict__
    def filter_within_budget(*args: Any, **kwargs: Any) -> Any:
        budget.step()
        if check is not None:
            check(*args[offset:], **kwargs)
        return budget.check_value(func(*args, **kwargs))

    return filter_within_budget


@dataclass(frozen=True)
class Environments:
    plain: NoticeSandbox
    html: NoticeSandbox


def make_environments(calendar: WorkingCalendar) -> Environments:
    """The two environments, with every filter of :mod:`hub.templates.filters`."""
    envs = []
    for autoescape in (False, True):
        env = NoticeSandbox(
            undefined=StrictUndefined,
            autoescape=autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,
            cache_size=0,
            extensions=[LineTags, RenderBudget],
            finalize=_count_output,
        )
        env.filters.update(make_filters(calendar))
        env.filters = {name: _budgeted(name, f) for name, f in env.filters.items()}
        env.globals["range"] = _budget_range
        del env.globals["lipsum"]
        envs.append(env)
    return Environments(plain=envs[0], html=envs[1])
