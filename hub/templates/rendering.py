"""Compiling one template file and rendering a notice from it.

A template file holds Jinja blocks, one per part of the notice:

========  ===========================  =================
channel   required blocks              optional blocks
========  ===========================  =================
sms       ``body``                     ``subject`` (LMS only)
email     ``subject``, ``text``        ``html``
push      ``title``, ``body``
========  ===========================  =================

Each block is rendered on its own from the compiled template (compiled once per
version of the file). Text outside blocks (``{% set %}``, ``{% macro %}``) is
run first, so blocks may use what it defines.

The policy on what is sent:

* every part is stripped; in bodies trailing spaces on a line are dropped and
  several blank lines in a row become one; subjects and titles become one line;
* SMS: characters CP949 cannot encode are replaced (:mod:`hub.templates.sizing`);
  the kind is SMS up to 90 bytes, LMS up to 2,000; a longer body is an error;
  the subject is used for LMS only and cut to 40 bytes (ending in ``..``);
* e-mail ``html`` is autoescaped; subject and text are not.
"""

from __future__ import annotations

import hashlib
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Template, TemplateSyntaxError, nodes
from jinja2.sandbox import SecurityError
from jinja2.utils import concat

from channels import CHANNEL_NAMES
from hub.masking import mask_known
from hub.templates import budget, sizing
from hub.templates.environment import Environments, NoticeSandbox
from hub.templates.errors import TemplateBudgetError, TemplateError

CHANNELS = CHANNEL_NAMES  # the channel specs are the catalogue (channels/)
REQUIRED_BLOCKS: dict[str, tuple[str, ...]] = {
    "sms": ("body",),
    "email": ("subject", "text"),
    "push": ("title", "body"),
}
OPTIONAL_BLOCKS: dict[str, tuple[str, ...]] = {
    "sms": ("subject",),
    "email": ("html",),
    "push": (),
}

_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Rendered:
    """A rendered notice, ready for a provider."""

    channel: str
    subject: str | None  # e-mail subject, push title, LMS subject; None otherwise
    body: str  # SMS body, e-mail text part, push body
    html: str | None  # e-mail HTML part
    kind: str | None  # "SMS" | "LMS" for the sms channel, else None
    byte_length: int | None  # CP949 bytes of the body for sms, else None
    template: str  # relative path, e.g. "case.received/sms.j2"
    version: str  # first 12 hex digits of the sha256 of the file's bytes
    replaced: int = 0  # characters CP949 cannot encode, replaced (sms only)


def content_version(data: bytes) -> str:
    """The template version: the first 12 hex digits of the sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()[:12]


@dataclass(frozen=True)
class CompiledTemplate:
    """One version of one template file, compiled."""

    path: str  # relative to the templates folder
    channel: str
    version: str
    plain: Template
    html: Template | None
    run_root: bool  # the file has statements outside blocks
    blocks: frozenset[str]
    literal_unsafe: tuple[str, ...]  # characters CP949 cannot encode, in an sms file


def _has_top_level_statements(env: NoticeSandbox, source: str, path: str) -> bool:
    tree = env.parse(source, name=path, filename=path)
    for node in tree.body:
        if isinstance(node, nodes.Block):
            continue
        if isinstance(node, nodes.Output) and all(
            isinstance(child, nodes.TemplateData) and not child.data.strip() for child in node.nodes
        ):
            continue
        return True
    return False


def _compile(env: NoticeSandbox, source: str, path: str) -> Template:
    code = env.compile(source, name=path, filename=path)
    return env.template_class.from_code(env, code, env.make_globals(None), None)


NESTED_TOO_DEEPLY = ("statements nested too deeply (if/for inside one another hundreds of "
                     "levels); write them one after another")


def compile_template(envs: Environments, path: str, data: bytes) -> CompiledTemplate:
    """Compile the file at ``path`` (relative, ``.../<channel>.j2``) from its bytes.

    Raises TemplateError when it is not UTF-8, does not compile, or lacks a
    required block / has an unknown one.
    """
    channel = path.rsplit("/", 1)[-1].removesuffix(".j2")
    if channel not in CHANNELS:
        raise TemplateError(
            f"unknown channel {channel!r}; files are sms.j2, email.j2, push.j2", path
        )
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(
            f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", path
        ) from None
    try:
        plain = _compile(envs.plain, source, path)
        run_root = _has_top_level_statements(envs.plain, source, path)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {exc.message}", path) from None
    except RecursionError:  # Jinja's parser and code generator recurse per nesting level
        raise TemplateError(NESTED_TOO_DEEPLY, path) from None
    blocks = frozenset(plain.blocks)
    missing = [b for b in REQUIRED_BLOCKS[channel] if b not in blocks]
    if missing:
        raise TemplateError(
            f"missing block {', '.join(missing)}; a {channel} template has "
            f"{_describe_blocks(channel)}",
            path,
        )
    unknown = sorted(blocks - set(REQUIRED_BLOCKS[channel]) - set(OPTIONAL_BLOCKS[channel]))
    if unknown:
        raise TemplateError(
            f"unknown block {', '.join(unknown)}; a {channel} template has "
            f"{_describe_blocks(channel)}",
            path,
        )
    try:
        html = _compile(envs.html, source, path) if "html" in blocks else None
    except RecursionError:
        raise TemplateError(NESTED_TOO_DEEPLY, path) from None
    literal_unsafe: tuple[str, ...] = ()
    if channel == "sms":
        literal_unsafe = tuple(sizing.unsafe_chars(_COMMENT.sub("", source)))
    return CompiledTemplate(
        path=path,
        channel=channel,
        version=content_version(data),
        plain=plain,
        html=html,
        run_root=run_root,
        blocks=blocks,
        literal_unsafe=literal_unsafe,
    )


def _describe_blocks(channel: str) -> str:
    text = " and ".join(REQUIRED_BLOCKS[channel])
    if OPTIONAL_BLOCKS[channel]:
        text += f" (and optionally {' and '.join(OPTIONAL_BLOCKS[channel])})"
    return text


def _template_line(exc: BaseException, compiled: CompiledTemplate) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == compiled.path and frame.lineno is not None:
            line = compiled.plain.get_corresponding_lineno(frame.lineno)
    return line


def _describe(exc: Exception) -> str:
    if isinstance(exc, SecurityError):
        return (
            f"blocked by the sandbox: {exc} (templates may not reach Python internals "
            "or change data)"
        )
    name = type(exc).__name__
    message = str(exc) or name
    if "no loader" in message:
        return "include, import and extends are not available: a template is one file"
    if name == "UndefinedError":
        return _explain_undefined(message)
    if name == "ValueError":
        return message
    return f"{name}: {message}"


_NO_ATTRIBUTE = re.compile(r"^'(?:dict|list|str|int) object' has no attribute '(.+)'$")
_UNDEFINED = re.compile(r"^'(.+)' is undefined$")


def _explain_undefined(message: str) -> str:
    """Jinja's undefined-variable messages, said the way an editor can act on."""
    found = _NO_ATTRIBUTE.match(message)
    if found:
        return (
            f"no field '{found.group(1)}' here (misspelt? if the field is optional, "
            f"write {{% if ... is defined %}} or |default('...'))"
        )
    found = _UNDEFINED.match(message)
    if found:
        return (
            f"unknown variable '{found.group(1)}' (templates see event, case, citizen, "
            "recipient, org and the event's other data fields)"
        )
    return message


def _render_block(
    template: Template, run_root: bool, block: str, context: Mapping[str, Any]
) -> str:
    ctx = template.new_context(dict(context))
    if run_root:
        for _ in template.root_render_func(ctx):
            pass
    return concat(template.blocks[block](ctx))


def _tidy_body(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_compiled(compiled: CompiledTemplate, context: Mapping[str, Any],
                    limits: budget.Limits = budget.DEFAULT_LIMITS) -> Rendered:
    """Render ``compiled`` with ``context`` into what is sent, within ``limits``.
    Raises TemplateError (TemplateBudgetError when over budget)."""
    with budget.spending(limits) as spent:
        try:
            parts = {
                block: _render_block(compiled.plain, compiled.run_root, block, context)
                for block in compiled.blocks
                if block != "html"
            }
            html = None
            if compiled.html is not None:
                html = _render_block(compiled.html, compiled.run_root, "html", context).strip()
        except TemplateError as exc:  # a fact the notice needs is missing: keep its kind
            line = _template_line(exc, compiled)
            where = f"line {line}: " if line else ""
            raise type(exc)(where + exc.reason, compiled.path) from None
        except Exception as exc:  # anything a template or a filter raises
            line = _template_line(exc, compiled)
            where = f"line {line}: " if line else ""
            exceeded = spent.exceeded  # kept even if a filter turned it into another error
            if exceeded is None and isinstance(exc, RecursionError):
                exceeded = "macros or loops call themselves too deep (재귀 호출이 너무 깊습니다)"
            if exceeded is not None:
                raise TemplateBudgetError(
                    f"{where}over the template budget: {exceeded}", compiled.path
                ) from None
            # Masked at the source: Python's and Jinja's messages quote values (a dict
            # key, an unparsable date), and this reason travels to headers, status
            # events, the ledger and logs.
            reason = mask_known(_describe(exc), context)
            raise TemplateError(where + reason, compiled.path) from None
    channel = compiled.channel
    if channel == "sms":
        return _sms(compiled, parts)
    if channel == "email":
        body = _tidy_body(parts["text"])
        subject = _one_line(parts["subject"])
        if not subject:
            raise TemplateError("the e-mail subject is empty", compiled.path)
        if not body:
            raise TemplateError("the e-mail text is empty", compiled.path)
        return Rendered(
            channel, subject, body, html or None, None, None, compiled.path, compiled.version
        )
    title = _one_line(parts["title"])
    body = _tidy_body(parts["body"])
    if not body:
        raise TemplateError("the push body is empty", compiled.path)
    return Rendered(channel, title or None, body, None, None, None, compiled.path, compiled.version)


def _sms(compiled: CompiledTemplate, parts: Mapping[str, str]) -> Rendered:
    body, replaced = sizing.make_safe(_tidy_body(parts["body"]))
    if not body:
        raise TemplateError("the SMS body is empty", compiled.path)
    try:
        size = sizing.sms_kind(body)
    except ValueError as exc:
        raise TemplateError(str(exc), compiled.path) from None
    subject: str | None = None
    if size.kind == sizing.LMS and "subject" in parts:
        subject, more = sizing.make_safe(_one_line(parts["subject"]))
        replaced += more
        subject = sizing.truncate_bytes(subject, sizing.LMS_SUBJECT_MAX_BYTES) or None
    return Rendered(
        "sms",
        subject,
        body,
        None,
        size.kind,
        size.byte_length,
        compiled.path,
        compiled.version,
        replaced,
    )
