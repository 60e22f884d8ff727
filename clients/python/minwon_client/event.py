"""A typed builder of case events::

    from minwon_client import CaseEvent

    event = CaseEvent.received(
        org="gumi",
        case={"id": "2026-0001234", "title": "도로 파손 신고", "department": "도로철도과",
              "officer": {"name": "김담당", "phone": "054-480-0000"}},
        citizen={"name": "홍길동", "phone": "010-1234-5678", "channels": ["sms"]},
    ).validate()

One class method per event type, with the payload that type requires as a keyword
(``CaseEvent.extended(..., extension={"reason": ..., "new_due_at": ...})``);
:meth:`CaseEvent.create` builds any type of the schema by name. ``id`` defaults to a
new UUID (the idempotency key: keep it if you publish again), ``source`` to ``/<org>``,
``time`` to now, ``subject`` to the case id. Datetimes anywhere must carry a time zone.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, NotRequired, TypedDict

from minwon_client.schema import validate

STRUCTURED = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"


class Person(TypedDict):
    name: str
    phone: NotRequired[str]
    email: NotRequired[str]
    push_token: NotRequired[str]


class Citizen(Person):
    channels: NotRequired[list[Literal["sms", "email", "push", "alimtalk"]]]


class Case(TypedDict):
    id: str
    title: str
    department: str
    officer: Person
    kind: NotRequired[Literal["질의", "건의", "고충", "기타"]]
    received_at: NotRequired[str | datetime]
    due_at: NotRequired[str | datetime]
    url: NotRequired[str]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone (use e.g. ZoneInfo('Asia/Seoul'))")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


@dataclass(frozen=True)
class CaseEvent:
    """One case event (CloudEvents 1.0). Build it with a class method, not directly."""

    type: str
    id: str
    source: str
    data: dict[str, Any]
    time: str | None = None
    subject: str | None = None

    # -- any type ----------------------------------------------------------------------------
    @classmethod
    def create(cls, event_type: str, *, org: str, case: Case,
               citizen: Citizen | None = None, id: str | None = None,
               source: str | None = None, time: datetime | str | None = None,
               subject: str | None = None, **payload: Any) -> CaseEvent:
        """An event of ``event_type`` whose ``data`` is org, case, citizen and ``payload``."""
        data: dict[str, Any] = {"org": org, "case": case}
        if citizen is not None:
            data["citizen"] = citizen
        data.update(payload)
        # through JSON once: datetimes become RFC 3339 text, the caller's dicts are not shared
        data = json.loads(json.dumps(data, ensure_ascii=False, default=_json_default))
        when = datetime.now(UTC) if time is None else time
        return cls(
            type=event_type,
            id=id or str(uuid.uuid4()),
            source=source or f"/{org}",
            data=data,
            time=_json_default(when) if isinstance(when, datetime) else when,
            subject=subject or (case.get("id") if isinstance(case, dict) else None),
        )

    # -- one per event type -------------------------------------------------------------------
    @classmethod
    def received(cls, *, org: str, case: Case, citizen: Citizen, **common: Any) -> CaseEvent:
        """접수: the case is received."""
        return cls.create("case.received", org=org, case=case, citizen=citizen, **common)

    @classmethod
    def transferred(cls, *, org: str, case: Case, citizen: Citizen, transfer: dict[str, Any],
                    **common: Any) -> CaseEvent:
        """이송: moved to another agency (``transfer``: ``to_agency``, ``reason``)."""
        return cls.create("case.transferred", org=org, case=case, citizen=citizen,
                          transfer=transfer, **common)

    @classmethod
    def assigned(cls, *, org: str, case: Case, citizen: Citizen, **common: Any) -> CaseEvent:
        """처리부서 지정: a department and officer are assigned."""
        return cls.create("case.assigned", org=org, case=case, citizen=citizen, **common)

    @classmethod
    def supplement_requested(cls, *, org: str, case: Case, citizen: Citizen,
                             supplement: dict[str, Any], **common: Any) -> CaseEvent:
        """보완요구: more documents needed (``supplement``: ``items``, ``due_at``)."""
        return cls.create("case.supplement_requested", org=org, case=case, citizen=citizen,
                          supplement=supplement, **common)

    @classmethod
    def extended(cls, *, org: str, case: Case, citizen: Citizen, extension: dict[str, Any],
                 **common: Any) -> CaseEvent:
        """처리기간 연장 (``extension``: ``reason``, ``new_due_at``)."""
        return cls.create("case.extended", org=org, case=case, citizen=citizen,
                          extension=extension, **common)

    @classmethod
    def progress(cls, *, org: str, case: Case, citizen: Citizen, progress: dict[str, Any],
                 **common: Any) -> CaseEvent:
        """진행상황 통지 (``progress``: ``note``, ``stage``)."""
        return cls.create("case.progress", org=org, case=case, citizen=citizen,
                          progress=progress, **common)

    @classmethod
    def answered(cls, *, org: str, case: Case, citizen: Citizen, answer: dict[str, Any],
                 **common: Any) -> CaseEvent:
        """처리결과 통지 (``answer``: ``summary``, ``outcome``, ...)."""
        return cls.create("case.answered", org=org, case=case, citizen=citizen,
                          answer=answer, **common)

    @classmethod
    def survey_requested(cls, *, org: str, case: Case, citizen: Citizen,
                         survey: dict[str, Any], **common: Any) -> CaseEvent:
        """만족도 조사 (``survey``: ``url``, ``until``)."""
        return cls.create("survey.requested", org=org, case=case, citizen=citizen,
                          survey=survey, **common)

    @classmethod
    def due_soon(cls, *, org: str, case: Case, reminder: dict[str, Any],
                 **common: Any) -> CaseEvent:
        """처리기한 임박, to the officer (``reminder``: ``days_left``; ``case.due_at``)."""
        return cls.create("case.due_soon", org=org, case=case, reminder=reminder, **common)

    @classmethod
    def praised(cls, *, org: str, case: Case, praise: dict[str, Any],
                **common: Any) -> CaseEvent:
        """칭찬민원, to the praised employee (``praise``: ``employee``, ``summary``)."""
        return cls.create("case.praised", org=org, case=case, praise=praise, **common)

    @classmethod
    def flagged(cls, *, org: str, case: Case, flag: dict[str, Any],
                **common: Any) -> CaseEvent:
        """특이민원, to the supervisors (``flag``: ``reason``, ``supervisors``)."""
        return cls.create("case.flagged", org=org, case=case, flag=flag, **common)

    @classmethod
    def overdue(cls, *, org: str, case: Case, overdue: dict[str, Any],
                **common: Any) -> CaseEvent:
        """처리기한 경과, to the department head (``overdue``: ``head``; ``case.due_at``)."""
        return cls.create("case.overdue", org=org, case=case, overdue=overdue, **common)

    # -- out ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The structured-mode CloudEvent."""
        event: dict[str, Any] = {"specversion": "1.0", "id": self.id, "source": self.source,
                                 "type": self.type}
        if self.time is not None:
            event["time"] = self.time
        if self.subject is not None:
            event["subject"] = self.subject
        event["datacontenttype"] = DATA_CONTENT_TYPE
        event["data"] = self.data
        return event

    def validate(self) -> CaseEvent:
        """This event, if it meets the contract; else raise :class:`InvalidEvent`."""
        validate(self.to_dict())
        return self

    def structured(self) -> tuple[bytes, dict[str, Any], str]:
        """(body, headers, content type) in structured mode."""
        body = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return body.encode(), {}, STRUCTURED

    def binary(self) -> tuple[bytes, dict[str, Any], str]:
        """(body, headers, content type) in binary mode: ``ce-*`` headers, data as body."""
        headers = {f"ce-{k}": v for k, v in self.to_dict().items()
                   if k not in ("data", "datacontenttype")}
        body = json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))
        return body.encode(), headers, DATA_CONTENT_TYPE
