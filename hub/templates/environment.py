"""The sandboxed Jinja2 environments templates are compiled in.

* :class:`NoticeSandbox` is an ``ImmutableSandboxedEnvironment``: a template can
  read the context but not call methods that change it, nor reach Python
  internals (``__class__``, ``__globals__``, ``mro`` ...): such access raises
  ``jinja2.sandbox.SecurityError``, reported as a :class:`TemplateError` with a
  clear reason. Repeating a string or list (``*``) and powers (``**``) are
  bounded so that a template cannot exhaust memory.
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

import re
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined
from jinja2.ext import Extension
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

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


class NoticeSandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox with bounded ``*`` and ``**``."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_POWER:
            raise SecurityError(f"power with an exponent above {MAX_POWER} is not allowed")
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
        return super().call_binop(context, operator, left, right)


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
            extensions=[LineTags],
        )
        env.filters.update(make_filters(calendar))
        envs.append(env)
    return Environments(plain=envs[0], html=envs[1])
