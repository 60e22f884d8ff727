"""A dict-based ledger for unit tests and the embedded demo (``memory://``).

Same contract as the SQL ledger (the contract tests run against both), kept in one
process under one lock; nothing survives the process.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.jobs import Job
from hub.ledger.base import (
    LATE_SENT_REASON,
    RESENDABLE,
    SENDING,
    SENT,
    SETTLED,
    CaseStory,
    Claim,
    ClaimState,
    EventRecord,
    HistoryEntry,
    Ledger,
    NoticeRecord,
    PurgeResult,
    event_fields,
)
from hub.ledger.privacy import address_hash


class MemoryLedger(Ledger):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lock = threading.Lock()
        self._notices: dict[str, dict[str, Any]] = {}
        self._history: dict[str, list[HistoryEntry]] = {}
        self._events: dict[str, dict[str, Any]] = {}

    def ping(self) -> None:
        if not self._lock.acquire(timeout=5.0):
            raise TimeoutError("the memory ledger is locked")
        self._lock.release()

    def _new_row(self, job: Job, now: datetime) -> dict[str, Any]:
        row = self.notice_fields(job)
        row.update(
            template_version=None,
            provider=None,
            provider_message_id=None,
            status="",
            attempts=0,
            created_at=now,
            updated_at=now,
            claimed_at=None,
            owner=None,
        )
        return row

    def claim(self, job: Job, attempt: int) -> Claim:
        now = self.clock()
        with self._lock:
            row = self._notices.get(job.notification_id)
            if row is not None and row["status"] in SETTLED:
                return Claim(ClaimState.DONE, row["status"])
            if row is not None and row["status"] not in RESENDABLE:
                return Claim(ClaimState.BUSY, row["status"])
            if row is None:
                row = self._notices[job.notification_id] = self._new_row(job, now)
            token = self.new_token()
            row.update(
                status=SENDING,
                attempts=max(row["attempts"], attempt),
                updated_at=now,
                claimed_at=now,
                owner=token,
            )
            self._history.setdefault(job.notification_id, []).append(
                HistoryEntry(SENDING, now, attempt)
            )
            return Claim(ClaimState.NEW, token=token)

    def record(
        self,
        job: Job,
        status: str,
        *,
        attempt: int,
        provider: str | None = None,
        message_id: str | None = None,
        reason: str | None = None,
        template_version: str | None = None,
        token: str | None = None,
    ) -> bool:
        now = self.clock()
        with self._lock:
            row = self._notices.get(job.notification_id)
            if token is not None and row is not None and not (
                (row["status"] == SENDING and row["owner"] == token)
                or (status == SENT and row["status"] in RESENDABLE)
            ):
                if status == SENT:  # a fact all the same: keep it in the history
                    self._history.setdefault(job.notification_id, []).append(
                        HistoryEntry(SENT, now, attempt, LATE_SENT_REASON, provider))
                return False
            if row is None:
                row = self._notices[job.notification_id] = self._new_row(job, now)
            if row["status"] != SENT:
                row["status"] = status
            row["attempts"] = max(row["attempts"], attempt)
            row["updated_at"] = now
            row["provider"] = provider or row["provider"]
            row["provider_message_id"] = message_id or row["provider_message_id"]
            row["template_version"] = template_version or row["template_version"]
            if row["status"] == SENDING:
                row.update(claimed_at=now, owner=token or self.owner)
            else:
                row["claimed_at"] = None
                if token is not None:
                    row["owner"] = token
            self._history.setdefault(job.notification_id, []).append(
                HistoryEntry(status, now, attempt, reason, provider)
            )
            return True

    def record_event(
        self, event: Mapping[str, Any], *, status: str = "routed", reason: str | None = None
    ) -> None:
        now = self.clock()
        fields = event_fields(event)
        if not fields["id"]:
            return
        with self._lock:
            row = self._events.get(fields["id"])
            if row is None:
                row = self._events[fields["id"]] = {**fields, "received_at": now}
            row.update(status=status, reason=reason)

    # -- queries ---------------------------------------------------------------
    def _record(self, row: Mapping[str, Any]) -> NoticeRecord:
        return NoticeRecord(**row, history=tuple(self._history.get(row["id"], ())))

    def notice(self, notification_id: str) -> NoticeRecord | None:
        with self._lock:
            row = self._notices.get(notification_id)
            return None if row is None else self._record(row)

    def case_story(self, case_id: str) -> CaseStory:
        with self._lock:
            events = [EventRecord(**e) for e in self._events.values() if e["case_id"] == case_id]
            notices = [self._record(n) for n in self._notices.values() if n["case_id"] == case_id]
        events.sort(key=lambda e: (e.time or e.received_at, e.received_at))
        notices.sort(key=lambda n: (n.created_at, n.id))
        return CaseStory(case_id, events, notices)

    def find_notices(self, address: str) -> list[NoticeRecord]:
        digest = address_hash(address, self.hash_key)
        with self._lock:
            found = [self._record(n) for n in self._notices.values()
                     if n["recipient_hash"] == digest]
        return sorted(found, key=lambda n: n.created_at, reverse=True)

    def counts_since(self, since: datetime) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            for n in self._notices.values():
                if n["updated_at"] >= since:
                    key = (n["channel"], n["status"])
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def stale_claims(self, before: datetime) -> list[NoticeRecord]:
        with self._lock:
            found = [
                self._record(n)
                for n in self._notices.values()
                if n["status"] == SENDING and n["claimed_at"] is not None
                and n["claimed_at"] < before
            ]
        return sorted(found, key=lambda n: n.claimed_at or n.updated_at)

    def resolve_stale(
        self,
        notice: NoticeRecord,
        status: str,
        *,
        reason: str | None = None,
        provider: str | None = None,
        message_id: str | None = None,
    ) -> bool:
        now = self.clock()
        with self._lock:
            row = self._notices.get(notice.id)
            if row is None or row["status"] != SENDING or row["claimed_at"] != notice.claimed_at \
                    or row["owner"] != notice.owner:
                return False
            row.update(status=status, updated_at=now, claimed_at=None)
            row["provider"] = provider or row["provider"]
            row["provider_message_id"] = message_id or row["provider_message_id"]
            self._history.setdefault(notice.id, []).append(
                HistoryEntry(status, now, row["attempts"], reason, provider)
            )
            return True

    def purge(self, before: datetime) -> PurgeResult:
        with self._lock:
            old = [k for k, n in self._notices.items() if n["updated_at"] < before]
            history = 0
            for key in old:
                del self._notices[key]
                history += len(self._history.pop(key, ()))
            live_events = {n["event_id"] for n in self._notices.values()}
            old_events = [
                k for k, e in self._events.items()
                if e["received_at"] < before and k not in live_events
            ]
            for key in old_events:
                del self._events[key]
        return PurgeResult(notices=len(old), history=history, events=len(old_events))
