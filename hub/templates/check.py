"""Checking a template against its samples.

A template passes when it compiles, when it renders for every recipient of
every sample (:func:`hub.templates.context.sample_recipients`), when its
notices fit the channel's limits, and (SMS) when it has no character CP949
cannot encode written in it. ``templates check`` and the hot reload use the
same function, so what the checker accepts is what goes live.

Beyond rendering, the notice rules of :mod:`hub.templates.notice_rules` (what
the law asks a notice to say, complete e-mail documents) are errors, and its
warnings (details on a lock screen) are reported beside them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.catalogue import EVENT_TYPES
from hub.templates import notice_rules, sizing
from hub.templates.context import context_from_event, sample_recipients
from hub.templates.environment import Environments
from hub.templates.errors import TemplateError
from hub.templates.layout import Sample, TemplateFile, load_sample, sample_files, scan
from hub.templates.rendering import (
    CHANNELS,
    CompiledTemplate,
    Rendered,
    compile_template,
    content_version,
    render_compiled,
)

OrgProfiles = Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class SampleRender:
    sample: str
    role: str
    rendered: Rendered


@dataclass
class CheckResult:
    """What the check found for one template file."""

    template: TemplateFile
    version: str | None = None
    renders: list[SampleRender] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    literal_unsafe: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def max_bytes(self) -> int | None:
        sizes = [r.rendered.byte_length for r in self.renders if r.rendered.byte_length is not None]
        return max(sizes) if sizes else None

    @property
    def kinds(self) -> list[str]:
        return sorted({r.rendered.kind for r in self.renders if r.rendered.kind})

    @property
    def replaced(self) -> int:
        return sum(r.rendered.replaced for r in self.renders)


def load_samples(directory: Path, template: TemplateFile) -> tuple[list[Sample], list[str]]:
    samples: list[Sample] = []
    errors: list[str] = []
    for path in sample_files(directory, template):
        try:
            samples.append(load_sample(directory, path))
        except ValueError as exc:
            errors.append(str(exc))
    return samples, errors


def check_compiled(
    compiled: CompiledTemplate,
    template: TemplateFile,
    samples: list[Sample],
    org_profile: OrgProfiles,
    *,
    require_samples: bool = True,
    contents_required: bool = False,
) -> CheckResult:
    """Render ``compiled`` for every recipient of every sample and collect errors.

    An override is rendered with its own organisation's profile; a default
    template with the profile of each sample's ``data.org``. What a notice of its
    kind must state (:func:`hub.templates.notice_rules.missing_contents`) is an
    error with ``contents_required`` (``templates check``), else a warning.
    """
    result = CheckResult(template, compiled.version, literal_unsafe=compiled.literal_unsafe)
    if compiled.literal_unsafe:
        chars = " ".join(f"{c!r} (U+{ord(c):04X})" for c in compiled.literal_unsafe)
        result.errors.append(f"characters SMS cannot carry are written in the template: {chars}")
    if require_samples and not samples:
        result.errors.append(
            f"no samples: add a CloudEvent JSON file under {template.event_type}/samples/"
        )
    shown: set[str] = set()
    for sample in samples:
        result.warnings.extend(
            f"{sample.path}: {w}" for w in notice_rules.deadlines_off(sample.event)
        )
        org_key = template.org or str(sample.event["data"].get("org", ""))
        profile = org_profile(org_key)
        recipients = sample_recipients(sample.event, template.channel)
        if not recipients:
            result.errors.append(f"{sample.path}: names no recipient for this event type")
        for recipient in recipients:
            context = context_from_event(sample.event, recipient, profile)
            try:
                rendered = render_compiled(compiled, context)
            except TemplateError as exc:
                result.errors.append(f"{sample.path} ({recipient['role']}): {exc.reason}")
                continue
            result.renders.append(SampleRender(sample.path, str(recipient["role"]), rendered))
            shown |= notice_rules.lock_screen_details(sample.event, rendered)
            result.errors.extend(
                e for e in notice_rules.errors(template, rendered) if e not in result.errors
            )
            (result.errors if contents_required else result.warnings).extend(
                f"{sample.path} ({recipient['role']}): {e}"
                for e in notice_rules.missing_contents(template, sample.event, profile, rendered)
            )
        for variant in notice_rules.variants(template, sample.event):
            for recipient in recipients:
                context = context_from_event(variant.event, recipient, profile)
                try:
                    problem = variant.problem(render_compiled(compiled, context))
                except TemplateError as exc:
                    problem = exc.reason
                message = f"with {variant.label}: {problem}" if problem else ""
                if message and message not in result.errors:
                    result.errors.append(message)
    if shown:
        result.warnings.append(notice_rules.lock_screen_warning(shown))
    mixed = _mixed_sms_kinds(result)
    if mixed:
        result.warnings.append(mixed)
    return result


def _mixed_sms_kinds(result: CheckResult) -> str | None:
    """A warning when an SMS template is an SMS (≤ 90 bytes) for some samples and turns
    LMS (longer, dearer, with a subject) for others: the data decides the cost."""
    if result.template.channel != "sms" or set(result.kinds) != {sizing.SMS, sizing.LMS}:
        return None
    longest: dict[str, int] = {}
    for r in result.renders:
        if r.rendered.kind == sizing.LMS and r.rendered.byte_length is not None:
            longest[r.sample] = max(longest.get(r.sample, 0), r.rendered.byte_length)
    turned = ", ".join(f"{Path(sample).name} ({size} bytes)"
                       for sample, size in sorted(longest.items()))
    return (f"an SMS for some samples turns LMS for others (over {sizing.SMS_MAX_BYTES} "
            f"bytes: {turned}): long names or titles make it dearer and add a subject; "
            f"shorten it or make it LMS always")


def check_file(
    envs: Environments,
    directory: Path,
    template: TemplateFile,
    data: bytes,
    org_profile: OrgProfiles,
    *,
    require_samples: bool = True,
    contents_required: bool = False,
) -> tuple[CompiledTemplate | None, CheckResult]:
    """Compile ``data`` as ``template`` and check it against its samples."""
    try:
        compiled = compile_template(envs, template.path, data)
    except TemplateError as exc:
        return None, CheckResult(template, content_version(data), errors=[exc.reason])
    samples, errors = load_samples(directory, template)
    result = check_compiled(
        compiled, template, samples, org_profile, require_samples=require_samples,
        contents_required=contents_required,
    )
    result.errors[:0] = errors + notice_rules.source_errors(data.decode("utf-8"))
    return compiled, result


@dataclass
class Report:
    """``templates check`` over a whole folder."""

    results: list[CheckResult]
    problems: list[str]  # not tied to one template: stray files, missing channels

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.results)


def known_event_types() -> tuple[str, ...]:
    """The event types the hub accepts (the domain catalogue: the event schema)."""
    return EVENT_TYPES


def check_all(directory: Path, envs: Environments, org_profile: OrgProfiles) -> Report:
    """Check every template of ``directory``; also report ``.j2`` files outside
    the layout and event types that lack a channel's template."""
    files, stray = scan(directory)
    problems = [
        f"{path}: not where templates go (<event type>/<channel>.j2 or "
        f"orgs/<org>/<event type>/<channel>.j2); it is never used"
        for path in stray
    ]
    present = {(f.event_type, f.channel) for f in files if f.org is None}
    for event_type in known_event_types():
        for channel in CHANNELS:
            if (event_type, channel) not in present:
                problems.append(
                    f"{event_type}/{channel}.j2: missing (every event type has "
                    f"{', '.join(CHANNELS)} templates)"
                )
    for file in files:
        if file.org and (file.event_type, file.channel) not in present:
            problems.append(
                f"{file.path}: overrides {file.event_type}/{file.channel}.j2, which does not exist"
            )
    results = []
    for file in files:
        data = (directory / file.path).read_bytes()
        results.append(
            check_file(envs, directory, file, data, org_profile, contents_required=True)[1]
        )
    return Report(results, problems)
