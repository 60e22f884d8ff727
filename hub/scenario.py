"""Sample case events: one citizen's complaint from receipt to survey, an officer's
due-date reminder, a praise notice, and two citizens whose phones fail on purpose
(simulated recipients), so a demo or a test shows retries and the parking lot."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")


def _case(case_id: str, title: str, received: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": case_id,
        "title": title,
        "kind": "기타",
        "received_at": received.isoformat(),
        "due_at": (received + timedelta(days=3)).replace(hour=18, minute=0).isoformat(),
        "department": "도로철도과",
        "officer": {
            "name": "김담당",
            "phone": "054-480-0000",
            "email": "officer.kim@gumi.example.kr",
            "push_token": "sim:success",
        },
        "url": f"https://minwon.gumi.example.kr/cases/{case_id}",
        **extra,
    }


def _event(eid: str, etype: str, when: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": eid,
        "source": "/gumi/yescall",
        "type": etype,
        "time": when.isoformat(),
        "subject": data["case"]["id"],
        "datacontenttype": "application/json",
        "data": data,
    }


def demo_events(now: datetime | None = None, *, prefix: str = "demo") -> list[dict[str, Any]]:
    now = (now or datetime.now(KST)).astimezone(KST).replace(microsecond=0)
    received = now - timedelta(days=2)
    case = _case("2026-0001234", "도로 파손 신고", received)
    citizen = {
        "name": "홍길동",
        "phone": "010-1234-5678",
        "email": "hong@example.kr",
        "channels": ["sms", "email"],
    }
    base = {"org": "gumi", "case": case, "citizen": citizen}
    events = [
        _event(f"{prefix}-0001", "case.received", received, base),
        _event(f"{prefix}-0002", "case.assigned", received + timedelta(hours=2), base),
        _event(
            f"{prefix}-0003",
            "case.progress",
            now - timedelta(hours=3),
            {**base, "progress": {"stage": "현장 확인", "note": "담당자가 현장을 확인했습니다."}},
        ),
        _event(
            f"{prefix}-0004",
            "case.answered",
            now - timedelta(minutes=5),
            {
                **base,
                "answer": {
                    "outcome": "accepted",
                    "summary": "파손된 도로를 11월 24일까지 보수하겠습니다.",
                    "answered_at": (now - timedelta(minutes=5)).isoformat(),
                },
            },
        ),
        _event(
            f"{prefix}-0005",
            "survey.requested",
            now,
            {**base, "survey": {"url": "https://minwon.gumi.example.kr/survey/2026-0001234"}},
        ),
    ]
    other = _case("2026-0001300", "가로등 고장", now - timedelta(days=5))
    events.append(
        _event(
            f"{prefix}-0006",
            "case.due_soon",
            now,
            {"org": "gumi", "case": other, "reminder": {"days_left": 1}},
        )
    )
    praised = _case(
        "2026-0001301", "친절한 민원 응대 칭찬", now - timedelta(days=1), department="민원여권과"
    )
    events.append(
        _event(
            f"{prefix}-0007",
            "case.praised",
            now,
            {
                "org": "gumi",
                "case": praised,
                "praise": {
                    "employee": {
                        "name": "이친절",
                        "email": "lee@gumi.example.kr",
                        "push_token": "sim:success",
                        "department": "민원여권과",
                    },
                    "summary": "민원 처리 과정에서 친절하게 안내해 주셨습니다.",
                },
            },
        )
    )
    flaky = _case("2026-0001400", "불법 주차 신고", now - timedelta(hours=1))
    events.append(
        _event(
            f"{prefix}-0008",
            "case.received",
            now,
            {
                "org": "gumi",
                "case": flaky,
                "citizen": {"name": "박재시", "phone": "010-0000-1002", "channels": ["sms"]},
            },
        )
    )
    broken = _case("2026-0001401", "소음 민원", now - timedelta(hours=1))
    events.append(
        _event(
            f"{prefix}-0009",
            "case.received",
            now,
            {
                "org": "gumi",
                "case": broken,
                "citizen": {"name": "최없음", "phone": "010-0000-2000", "channels": ["sms"]},
            },
        )
    )
    return events
