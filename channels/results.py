"""Result-code tables: what each provider API's documented answer means for a notice.

Every API we call publishes its own codes. Each provider module keeps one
:class:`CodeTable` built from its provider's published table (the ``source`` names
the document and the version read), and every row maps one documented code to one
of four outcomes:

``sent``
    the provider accepted the message (or had already accepted it: AlimTalk's -1005,
    a repeated idempotency key);
``transient``
    not now: the same request may succeed later (system error, queue full, busy);
``permanent``
    about the recipient or the content, so the *next provider would refuse it too*
    (an invalid number, a body with characters no carrier takes): the chain stops
    and the notice is parked with its reason;
``credentials``
    about *our* account or configuration at this provider (a wrong key, an
    unregistered or blocked sender number, a monthly limit, a blocked project, an
    unapproved 알림톡 template): the next provider would deliver it, so the chain
    fails over and ``minwon_provider_credentials_rejected_total`` raises an alert.

The rule behind the split: **stop the chain only when the next provider would refuse
the same recipient or content.** A code a table does not list is treated as transient
(retried through the delay tiers, failing over meanwhile) and logged with its text.

``python -m channels.results`` prints every table as Markdown (docs/providers.md
carries that output; a unit test keeps the two in step).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from channels.base import CredentialsError, PermanentError, SendError, TransientError


class Outcome(enum.StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    CREDENTIALS = "credentials"


SENT = Outcome.SENT
TRANSIENT = Outcome.TRANSIENT
PERMANENT = Outcome.PERMANENT
CREDENTIALS = Outcome.CREDENTIALS


class NoticeConfigurationError(CredentialsError):
    """Our configuration for *this notice* is refused (an 알림톡 template not approved,
    not registered, or not matching its parameters): the chain fails over and the alert
    counter rises, but the provider's circuit breaker is left alone: the provider is
    up and other notices' templates may be fine."""

    trips_breaker: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class Row:
    code: str
    outcome: Outcome
    meaning: str  # the documented meaning, in the document's words
    notice_scoped: bool = False  # a configuration error of this notice (its template)


class CodeTable:
    """One API's documented result codes and what each means for a notice."""

    def __init__(
        self,
        api: str,
        source: str,
        rows: Iterable[tuple[int | str, Outcome, str] | Row],
        *,
        unknown: Outcome = TRANSIENT,
        unlisted: str | None = None,
    ) -> None:
        self.api = api
        self.source = source
        self.unknown = unknown
        self.unlisted = unlisted or f"Codes not listed: {unknown}."
        self._rows: dict[str, Row] = {}
        for item in rows:
            row = item if isinstance(item, Row) else Row(str(item[0]), item[1], item[2])
            if row.code in self._rows:
                raise ValueError(f"{api}: code {row.code} listed twice")
            self._rows[row.code] = row

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    def row(self, code: object) -> Row | None:
        return self._rows.get(_key(code))

    def outcome(self, code: object) -> Outcome:
        row = self.row(code)
        return row.outcome if row is not None else self.unknown

    def error(self, provider: str, code: object, message: str) -> SendError | None:
        """The :class:`SendError` ``code`` means (None when it means sent), with the
        provider's own message and the documented meaning for operators."""
        row = self.row(code)
        outcome = row.outcome if row is not None else self.unknown
        if outcome == SENT:
            return None
        meaning = row.meaning if row is not None else "code not in the published table"
        text = f"{message} ({meaning})" if message and message != meaning else meaning
        label = _key(code) or None
        if outcome == TRANSIENT:
            return TransientError(text, provider=provider, code=label)
        if outcome == CREDENTIALS:
            cls = NoticeConfigurationError if row is not None and row.notice_scoped else (
                CredentialsError
            )
            return cls(text, provider=provider, code=label)
        return PermanentError(text, provider=provider, code=label)

    def markdown(self) -> str:
        lines = [
            f"**{self.api}** — source: {self.source}. {self.unlisted}",
            "",
            "| code | documented meaning | outcome |",
            "|---|---|---|",
        ]
        for row in self:
            outcome = str(row.outcome)
            if row.notice_scoped:
                outcome += " (this notice's template; breaker untouched)"
            meaning = row.meaning.replace("|", "\\|")
            lines.append(f"| `{row.code}` | {meaning} | {outcome} |")
        return "\n".join(lines)


def _key(code: object) -> str:
    if code is None:
        return ""
    if isinstance(code, bool):
        return str(int(code))
    if isinstance(code, int):
        return str(code)
    text = str(code).strip()
    try:
        return str(int(text))
    except ValueError:
        return text


def all_tables() -> list[CodeTable]:
    """Every provider API's table, in the order docs/providers.md shows them."""
    from channels.awsapi import SES_CODES, SNS_CODES
    from channels.sms.alimtalk import ALIMTALK_CODES
    from channels.sms.nhn import NHN_SMS_CODES
    from channels.sms.sens import SENS_CODES

    return [NHN_SMS_CODES, ALIMTALK_CODES, SENS_CODES, SNS_CODES, SES_CODES]


def markdown() -> str:
    return "\n\n".join(table.markdown() for table in all_tables()) + "\n"


if __name__ == "__main__":  # pragma: no cover - documentation helper
    print(markdown(), end="")
