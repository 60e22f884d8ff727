"""What the editor shows while an editor types: the template checked against every
sample (the same :func:`hub.templates.check.check_compiled` that guards publishing
and the workers' reload), each sample's notice as the recipient gets it, the SMS byte
counter by CP949, the characters SMS cannot carry (with their line and column), the
fields a template may use, and every problem in Korean."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.templates import sizing
from hub.templates.check import check_compiled, load_samples
from hub.templates.context import context_from_event, sample_recipients
from hub.templates.environment import Environments
from hub.templates.errors import TemplateError
from hub.templates.korean import Problem, in_korean
from hub.templates.layout import TemplateFile, parse_path
from hub.templates.rendering import compile_template

#: The Korean filters, one click away in the editor: (label, what is inserted, help).
FILTERS: tuple[tuple[str, str, str], ...] = (
    ("조사", "|josa('을/를')", "받침에 맞는 조사: 민원을, 답변를→답변을"),
    ("날짜", "|kdate", "2026년 11월 24일(화)"),
    ("날짜·시각", "|kdatetime", "2026년 11월 24일(화) 오후 3시 5분"),
    ("이름 마스킹", "|mask_name", "홍길동 → 홍*동"),
    ("전화번호 마스킹", "|mask_phone", "010-1234-5678 → 010-****-5678"),
    ("전화번호", "|phone", "01012345678 → 010-1234-5678"),
    ("금액", "|won", "1000 → 1,000원"),
    ("영업일", "|business_days(3)|kdate", "주말·공휴일을 빼고 3일 뒤"),
    ("기본값", "|default('')", "없을 수도 있는 필드"),
)

MAX_SOURCE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Unsafe:
    char: str
    codepoint: str
    line: int
    column: int


@dataclass
class PreviewResult:
    ok: bool
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # publishable, but look
    renders: list[dict[str, Any]] = field(default_factory=list)
    unsafe: list[Unsafe] = field(default_factory=list)
    version: str | None = None

    @property
    def counter(self) -> dict[str, Any] | None:
        """The byte counter: the longest SMS body of the samples."""
        sizes = [r for r in self.renders if r.get("bytes") is not None]
        if not sizes:
            return None
        top = max(sizes, key=lambda r: int(r["bytes"]))
        return {"bytes": top["bytes"], "kind": top["kind"],
                "text": f"{top['bytes']}바이트 · {top['kind']}",
                "sms_max": sizing.SMS_MAX_BYTES, "lms_max": sizing.LMS_MAX_BYTES}

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "version": self.version,
            "problems": [{"text": str(p), "message": p.message, "line": p.line,
                          "sample": p.sample, "english": p.english} for p in self.problems],
            "warnings": [{"text": str(p), "english": p.english} for p in self.warnings],
            "renders": self.renders,
            "unsafe": [u.__dict__ for u in self.unsafe],
            "counter": self.counter,
        }


def unsafe_positions(source: str, channel: str) -> list[Unsafe]:
    """Where the SMS template's characters CP949 cannot encode are (not in comments)."""
    if channel != "sms":
        return []
    found: list[Unsafe] = []
    for number, line in enumerate(source.split("\n"), start=1):
        for col, char in enumerate(line, start=1):
            if not sizing.is_encodable(char):
                found.append(Unsafe(char, f"U+{ord(char):04X}", number, col))
                if len(found) >= 50:
                    return found
    return found


class Previewer:
    """Checks and renders a template source from the editor (nothing is stored)."""

    def __init__(self, directory: Path, envs: Environments,
                 org_profile: Callable[[str], Mapping[str, Any]]) -> None:
        self.directory = directory
        self.envs = envs
        self.org_profile = org_profile

    def template_file(self, path: str) -> TemplateFile:
        parsed = parse_path(path)
        if parsed is None:
            raise ValueError(path)
        return parsed

    def preview(self, path: str, source: str) -> PreviewResult:
        file = self.template_file(path)
        data = source.encode("utf-8", "surrogatepass")
        if len(data) > MAX_SOURCE_BYTES:
            return PreviewResult(False, [Problem(
                f"템플릿이 너무 깁니다 ({len(data):,}바이트, 최대 {MAX_SOURCE_BYTES:,}바이트)")])
        try:
            compiled = compile_template(self.envs, path, data)
        except TemplateError as exc:
            return PreviewResult(False, [in_korean(exc.reason)],
                                 unsafe=unsafe_positions(source, file.channel))
        except RecursionError:  # Jinja's parser recurses per nesting level
            return PreviewResult(False, [Problem(
                "태그나 괄호가 너무 깊게 겹쳐 있습니다. 겹친 {% if %} 등을 줄여 주세요")])
        samples, sample_errors = load_samples(self.directory, file)
        result = check_compiled(compiled, file, samples, self.org_profile)
        result.errors[:0] = sample_errors
        renders = [
            {
                "sample": r.sample.rsplit("/", 1)[-1], "role": r.role,
                "channel": r.rendered.channel, "subject": r.rendered.subject,
                "body": r.rendered.body, "html": r.rendered.html, "kind": r.rendered.kind,
                "bytes": r.rendered.byte_length, "replaced": r.rendered.replaced,
            }
            for r in result.renders
        ]
        return PreviewResult(result.ok, [in_korean(e) for e in result.errors],
                             [in_korean(w) for w in result.warnings], renders,
                             unsafe_positions(source, file.channel), compiled.version)

    def fields(self, path: str) -> list[str]:
        """The variables a template may use, from its samples' contexts
        (``case.id``, ``recipient.name``, ``org.callcenter``, ``answer.summary`` ...)."""
        file = self.template_file(path)
        samples, _ = load_samples(self.directory, file)
        names: dict[str, None] = {}
        for sample in samples:
            org_key = file.org or str(sample.event["data"].get("org", ""))
            for recipient in sample_recipients(sample.event, file.channel)[:1]:
                context = context_from_event(sample.event, recipient,
                                             self.org_profile(org_key))
                for name in _flatten(context):
                    names.setdefault(name, None)
        return sorted(names)


def _flatten(value: Mapping[str, Any], prefix: str = "", depth: int = 0) -> Iterator[str]:
    for key, item in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            continue
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and depth < 2:
            yield from _flatten(item, name + ".", depth + 1)
        elif not isinstance(item, list):
            yield name
