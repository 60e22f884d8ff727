"""The ledger contract, run against every ledger: the dict-based MemoryLedger and the
SqlLedger on a SQLite file here; tests/integration/test_ledger_postgres.py runs the same
:class:`LedgerContract` against PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from channels.base import LookupResult
from hub.jobs import Job, Recipient
from hub.ledger import (
    LATE_SENT_REASON,
    STALE_REASON,
    ClaimState,
    Ledger,
    NoticeRecord,
    Sweeper,
    Write,
    open_ledger,
)
from hub.ledger.sweeper import MAY_RESEND_REASON, NOT_SENT_REASON, SETTLED_REASON

KEY = b"test-hash-key"
T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 15:00 KST


class FakeClock:
    """A settable UTC clock; ``advance`` moves it on."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def make_job(
    n: int | str = 1,
    *,
    case_id: str = "2026-0001234",
    channel: str = "sms",
    address: str = "010-1234-5678",
    name: str | None = "홍길동",
    event_id: str = "ev-1",
) -> Job:
    return Job(
        notification_id=f"notice-{n}",
        event_id=event_id,
        event_type="case.answered",
        case_id=case_id,
        org="gumi",
        channel=channel,
        template="case.answered",
        critical=False,
        recipient=Recipient("citizen", "citizen", name, address),
        event={"id": event_id, "type": "case.answered", "source": "/gumi/yescall"},
        data={"org": "gumi", "case": {"id": case_id}},
    )


def make_event(event_id: str = "ev-1", case_id: str = "2026-0001234",
               type_: str = "case.answered") -> dict[str, Any]:
    return {
        "specversion": "1.0", "id": event_id, "source": "/gumi/yescall", "type": type_,
        "time": "2026-11-24T15:00:00+09:00", "subject": case_id,
        "data": {"org": "gumi", "case": {"id": case_id},
                 "citizen": {"name": "홍길동", "phone": "010-1234-5678"}},
    }


LedgerFactory = Callable[..., Ledger]


class LedgerContract:
    """Subclasses provide the ``make_ledger`` fixture: ``make_ledger(clock=..., **kw)``
    opens a fresh, empty ledger (closed by the fixture)."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def ledger(self, make_ledger: LedgerFactory, clock: FakeClock) -> Ledger:
        return make_ledger(clock=clock)

    # -- claims ------------------------------------------------------------------
    def test_first_claim_is_new_and_marks_the_notice_sending(self, ledger: Ledger) -> None:
        # Given a notice the ledger has never seen
        job = make_job()
        # When a worker claims it
        claim = ledger.claim(job, 1)
        # Then it is NEW, and the row says sending, with the owner and claim time
        assert claim.state is ClaimState.NEW
        notice = ledger.notice(job.notification_id)
        assert notice is not None
        assert (notice.status, notice.attempts, notice.owner) == ("sending", 1, claim.token)
        assert claim.token is not None and claim.token.startswith(f"{ledger.owner}/")
        assert notice.claimed_at == T0
        assert [h.status for h in notice.history] == ["sending"]

    def test_second_claim_while_sending_is_busy(self, ledger: Ledger) -> None:
        job = make_job()
        ledger.claim(job, 1)
        # When a redelivered copy is claimed while the first is still sending
        claim = ledger.claim(job, 1)
        # Then it is BUSY and says why
        assert (claim.state, claim.status) == (ClaimState.BUSY, "sending")

    @pytest.mark.parametrize("final", ["sent", "dead", "skipped"])
    def test_claim_of_a_settled_notice_is_done(self, ledger: Ledger, final: str) -> None:
        # Given a notice that was settled
        job = make_job()
        ledger.claim(job, 1)
        ledger.record(job, final, attempt=1, reason="because")
        # When the same job arrives again
        claim = ledger.claim(job, 2)
        # Then the worker acks it without sending
        assert (claim.state, claim.status) == (ClaimState.DONE, final)
        notice = ledger.notice(job.notification_id)
        assert notice is not None and notice.status == final

    @pytest.mark.parametrize("open_status", ["queued", "retrying", "deferred", "failed"])
    def test_claim_of_a_resendable_notice_is_new(self, ledger: Ledger, open_status: str,
                                                 clock: FakeClock) -> None:
        job = make_job()
        ledger.record(job, open_status, attempt=1)
        clock.advance(seconds=5)
        claim = ledger.claim(job, 2)
        assert claim.state is ClaimState.NEW
        notice = ledger.notice(job.notification_id)
        assert notice is not None
        assert (notice.status, notice.attempts, notice.claimed_at) == ("sending", 2, clock.now)

    def test_concurrent_claims_of_one_notice_give_exactly_one_new(self, ledger: Ledger) -> None:
        # Given 32 deliveries of the same job racing in 32 threads
        job = make_job()
        barrier = threading.Barrier(32)
        states: list[ClaimState] = []
        lock = threading.Lock()

        def claim() -> None:
            barrier.wait()
            state = ledger.claim(job, 1).state
            with lock:
                states.append(state)

        threads = [threading.Thread(target=claim) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # Then exactly one may send
        assert states.count(ClaimState.NEW) == 1
        assert states.count(ClaimState.BUSY) == 31

    def test_concurrent_claims_of_different_notices_are_all_new(self, ledger: Ledger) -> None:
        jobs = [make_job(i) for i in range(200)]
        results: dict[str, ClaimState] = {}

        def claim(chunk: list[Job]) -> None:
            for job in chunk:
                results[job.notification_id] = ledger.claim(job, 1).state

        threads = [threading.Thread(target=claim, args=(jobs[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(results.values()) == {ClaimState.NEW}
        assert len(results) == 200

    # -- records and history -----------------------------------------------------
    def test_history_keeps_every_status_in_order(self, ledger: Ledger, clock: FakeClock) -> None:
        # Given a notice that failed once, then went out on its second attempt
        job = make_job()
        ledger.claim(job, 1)
        clock.advance(seconds=1)
        ledger.record(job, "retrying", attempt=1, provider="nhn", reason="nhn 500: busy")
        clock.advance(seconds=10)
        ledger.claim(job, 2)
        clock.advance(seconds=1)
        ledger.record(job, "sent", attempt=2, provider="nhn", message_id="req-42",
                      template_version="v3")
        # Then the history tells the whole story, and the row its end
        notice = ledger.notice(job.notification_id)
        assert notice is not None
        assert [(h.status, h.attempt, h.provider, h.reason) for h in notice.history] == [
            ("sending", 1, None, None),
            ("retrying", 1, "nhn", "nhn 500: busy"),
            ("sending", 2, None, None),
            ("sent", 2, "nhn", None),
        ]
        assert [h.at for h in notice.history] == [
            T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=11),
            T0 + timedelta(seconds=12)]
        assert (notice.status, notice.attempts, notice.provider, notice.provider_message_id,
                notice.template_version) == ("sent", 2, "nhn", "req-42", "v3")
        assert notice.claimed_at is None
        assert notice.created_at == T0 and notice.updated_at == T0 + timedelta(seconds=12)

    def test_a_sent_notice_stays_sent_when_a_late_outcome_arrives(self, ledger: Ledger) -> None:
        # Given a notice sent by one worker
        job = make_job()
        ledger.claim(job, 1)
        ledger.record(job, "sent", attempt=1, provider="outbox", message_id="m-1")
        # When a slow worker, whose claim the sweeper had given up on, reports failure
        ledger.record(job, "retrying", attempt=1, provider="outbox", reason="timeout")
        # Then the notice stays sent (the late outcome is in the history only)
        notice = ledger.notice(job.notification_id)
        assert notice is not None
        assert (notice.status, notice.provider_message_id) == ("sent", "m-1")
        assert [h.status for h in notice.history] == ["sending", "sent", "retrying"]
        assert ledger.claim(job, 2).state is ClaimState.DONE

    def test_record_creates_the_notice_when_missing(self, ledger: Ledger) -> None:
        job = make_job()
        ledger.record(job, "skipped", attempt=1, reason="citizen did not list channel sms")
        notice = ledger.notice(job.notification_id)
        assert notice is not None
        assert (notice.status, notice.event_id, notice.case_id, notice.channel) == (
            "skipped", "ev-1", "2026-0001234", "sms")
        assert notice.history[0].reason == "citizen did not list channel sms"

    def test_requeued_dead_notice_becomes_claimable(self, ledger: Ledger) -> None:
        # Given a parked notice that an operator replays (dlq replay records queued)
        job = make_job()
        ledger.claim(job, 1)
        ledger.record(job, "dead", attempt=1, reason="permanent")
        ledger.record(job, "queued", attempt=1, reason="dlq replay")
        # Then the next delivery claims it
        assert ledger.claim(job, 1).state is ClaimState.NEW

    # -- personal data -------------------------------------------------------------
    @pytest.mark.parametrize(
        ("channel", "name", "address", "masked"),
        [
            ("sms", "홍길동", "010-1234-5678", "홍*동 <010-****-5678>"),
            ("email", "홍길동", "hong@example.kr", "홍*동 <h***@example.kr>"),
            ("push", "김철", "fcm-token-abcdefghijkl", "김* <fcm-***>"),
            ("sms", None, "010-9876-5432", "010-****-5432"),
        ],
    )
    def test_recipient_is_stored_masked_never_raw(
        self, ledger: Ledger, channel: str, name: str | None, address: str, masked: str
    ) -> None:
        job = make_job(channel=channel, name=name, address=address)
        ledger.claim(job, 1)
        notice = ledger.notice(job.notification_id)
        assert notice is not None
        assert notice.recipient_masked == masked
        assert notice.recipient_address is None
        assert address not in repr(notice)
        assert (name or "@@") not in repr(notice)

    def test_raw_address_kept_only_when_configured(self, make_ledger: LedgerFactory) -> None:
        ledger = make_ledger(store_raw_address=True)
        job = make_job()
        ledger.claim(job, 1)
        notice = ledger.notice(job.notification_id)
        assert notice is not None and notice.recipient_address == "010-1234-5678"

    @pytest.mark.parametrize(
        "lookup", ["010-1234-5678", "01012345678", "+82 10-1234-5678", " 010 1234 5678 "]
    )
    def test_notices_are_found_by_the_address_hash(self, ledger: Ledger, lookup: str) -> None:
        # Given notices to two citizens
        ledger.claim(make_job(1, address="010-1234-5678"), 1)
        ledger.claim(make_job(2, address="010-9999-0000"), 1)
        # When an operator looks up one citizen's number, however written
        found = ledger.find_notices(lookup)
        # Then only that citizen's notices come back
        assert [n.id for n in found] == ["notice-1"]

    def test_the_hash_depends_on_the_key(self, make_ledger: LedgerFactory) -> None:
        ledger = make_ledger()
        other = make_ledger(hash_key=b"another key")
        ledger.claim(make_job(1), 1)
        other.claim(make_job(1), 1)
        a, b = ledger.notice("notice-1"), other.notice("notice-1")
        assert a is not None and b is not None
        assert a.recipient_hash != b.recipient_hash
        assert len(a.recipient_hash) == 64

    # -- events and the case story -------------------------------------------------
    def test_case_story_has_events_and_notices_with_history(
        self, ledger: Ledger, clock: FakeClock
    ) -> None:
        ledger.record_event(make_event("ev-1", type_="case.received"))
        clock.advance(seconds=1)
        sms, mail = make_job(1), make_job(2, channel="email", address="hong@example.kr")
        ledger.claim(sms, 1)
        ledger.claim(mail, 1)
        clock.advance(seconds=1)
        ledger.record(sms, "sent", attempt=1, provider="outbox")
        ledger.record_event(make_event("ev-2", type_="case.answered"))
        ledger.record_event(make_event("ev-9", case_id="another-case"))
        ledger.claim(make_job(3, case_id="another-case"), 1)
        ledger.close()  # flushes queued event writes
        story = ledger.case_story("2026-0001234")
        assert [e.id for e in story.events] == ["ev-1", "ev-2"]
        assert [e.type for e in story.events] == ["case.received", "case.answered"]
        assert story.events[0].time == T0 and story.events[0].org == "gumi"
        assert [n.id for n in story.notices] == ["notice-1", "notice-2"]
        assert [h.status for h in story.notices[0].history] == ["sending", "sent"]

    def test_event_status_is_updated_not_duplicated(self, ledger: Ledger) -> None:
        ledger.record_event(make_event("ev-1"))
        ledger.record_event(make_event("ev-1"), status="rejected", reason="bad schema")
        ledger.close()
        story = ledger.case_story("2026-0001234")
        assert [(e.id, e.status, e.reason) for e in story.events] == [
            ("ev-1", "rejected", "bad schema")]

    # -- sweeper ---------------------------------------------------------------------
    def test_sweeper_frees_a_stale_claim_after_the_timeout(
        self, ledger: Ledger, clock: FakeClock
    ) -> None:
        # Given a worker that claimed a notice and died
        job = make_job()
        ledger.claim(job, 1)
        sweeper = Sweeper(ledger, timeout_s=300)
        # When the sweeper runs before the timeout, nothing happens
        assert sweeper.run_once(T0 + timedelta(seconds=299)) == []
        assert ledger.claim(job, 1).state is ClaimState.BUSY
        # When it runs after the timeout
        clock.advance(seconds=301)
        stale = sweeper.run_once(clock.now)
        # Then the claim is marked retrying; nobody could tell whether the provider
        # took it, so the history says it may go out twice; the next delivery sends
        assert [(s.notification_id, s.resolved, s.claimed_at, s.may_resend) for s in stale] \
            == [("notice-1", "retrying", T0, True)]
        notice = ledger.notice(job.notification_id)
        assert notice is not None and notice.status == "retrying"
        assert notice.history[-1].reason == MAY_RESEND_REASON
        assert ledger.claim(job, 2).state is ClaimState.NEW
        assert sweeper.run_once(clock.now) == []

    def test_sweeper_settles_from_the_providers_lookup(
        self, ledger: Ledger, clock: FakeClock
    ) -> None:
        # Given a provider whose look-up says the stale notice was in fact accepted
        job = make_job()
        ledger.claim(job, 1)
        asked: list[str] = []

        def lookup(notice: NoticeRecord) -> LookupResult | None:
            asked.append(notice.id)
            return LookupResult(True, "nhn", "req-7")

        clock.advance(seconds=600)
        stale = Sweeper(ledger, timeout_s=300, lookup=lookup).run_once(clock.now)
        # Then it is settled as sent with the provider's id, and never resent
        assert asked == ["notice-1"]
        assert [(s.resolved, s.may_resend) for s in stale] == [("sent", False)]
        notice = ledger.notice(job.notification_id)
        assert notice is not None
        assert (notice.status, notice.provider, notice.provider_message_id) == (
            "sent", "nhn", "req-7")
        assert notice.history[-1].reason == SETTLED_REASON
        assert ledger.claim(job, 2).state is ClaimState.DONE

    def test_sweeper_resends_without_counting_when_the_provider_has_none(
        self, ledger: Ledger, clock: FakeClock
    ) -> None:
        job = make_job()
        ledger.claim(job, 1)
        clock.advance(seconds=600)
        stale = Sweeper(ledger, 300, lookup=lambda n: LookupResult(False, "nhn")).run_once(
            clock.now)
        assert [(s.resolved, s.may_resend) for s in stale] == [("retrying", False)]
        notice = ledger.notice(job.notification_id)
        assert notice is not None and notice.history[-1].reason == NOT_SENT_REASON

    def test_a_sweeper_may_be_given_its_own_lookup_and_channels(
        self, ledger: Ledger, clock: FakeClock
    ) -> None:
        # Given stale claims on sms and e-mail, and a worker process that sends sms only
        sms, mail = make_job(1), make_job(2, channel="email", address="hong@example.kr")
        ledger.claim(sms, 1)
        ledger.claim(mail, 1)
        clock.advance(seconds=600)
        asked: list[str] = []

        def lookup(notice: NoticeRecord) -> LookupResult | None:
            asked.append(notice.channel)
            return None

        # When its sweeper runs
        stale = Sweeper(ledger, 300, lookup=lookup, channels=["sms"]).run_once(clock.now)
        # Then it asks its own provider about its own channel only
        assert asked == ["sms"]
        assert [(s.notification_id, s.resolved) for s in stale] == [("notice-1", "retrying")]
        notice = ledger.notice("notice-2")
        assert notice is not None and notice.status == "sending"

    # -- fencing ---------------------------------------------------------------------
    def test_a_stale_claims_late_record_is_refused(
        self, ledger: Ledger, clock: FakeClock
    ) -> None:
        # Given worker A's claim, gone stale and moved on by the sweeper, and worker B's
        # claim of the same notice
        job = make_job()
        a = ledger.claim(job, 1)
        clock.advance(seconds=600)
        Sweeper(ledger, 300).run_once(clock.now)
        clock.advance(seconds=1)
        b = ledger.claim(job, 2)
        assert b.state is ClaimState.NEW and a.token and b.token and a.token != b.token
        # When A's late "retrying" arrives
        assert ledger.record(job, "retrying", attempt=1, reason="timeout", token=a.token) \
            is False
        # Then it is refused: B still holds the notice, and no third claim succeeds
        notice = ledger.notice(job.notification_id)
        assert notice is not None and (notice.status, notice.owner) == ("sending", b.token)
        assert ledger.claim(job, 3).state is ClaimState.BUSY
        # And B's own record is taken
        assert ledger.record(job, "sent", attempt=2, provider="nhn", token=b.token) is True
        assert ledger.claim(job, 3).state is ClaimState.DONE
        # And a record by A after that changes nothing either
        assert ledger.record(job, "dead", attempt=1, token=a.token) is False
        notice = ledger.notice(job.notification_id)
        assert notice is not None and notice.status == "sent"
        assert [h.status for h in notice.history] == [
            "sending", "retrying", "sending", "sent"]

    def test_a_late_sent_settles_a_notice_nobody_holds_and_is_kept_otherwise(
        self, ledger: Ledger, clock: FakeClock
    ) -> None:
        one, two = make_job(1), make_job(2)
        a1, a2 = ledger.claim(one, 1), ledger.claim(two, 1)
        clock.advance(seconds=600)
        Sweeper(ledger, 300).run_once(clock.now)
        # Given notice 2 claimed again by B, notice 1 waiting for its retry
        b2 = ledger.claim(two, 2)
        assert b2.state is ClaimState.NEW
        # When A's late "sent" records arrive (the provider did accept them)
        assert ledger.record(one, "sent", attempt=1, provider="nhn", token=a1.token) is True
        assert ledger.record(two, "sent", attempt=1, provider="nhn", token=a2.token) is False
        # Then notice 1 is settled (nobody held it: a resend is avoided)
        first = ledger.notice(one.notification_id)
        assert first is not None and first.status == "sent"
        assert ledger.claim(one, 2).state is ClaimState.DONE
        # And notice 2 stays B's, its history keeping that A's message went out
        second = ledger.notice(two.notification_id)
        assert second is not None and (second.status, second.owner) == ("sending", b2.token)
        assert (second.history[-1].status, second.history[-1].reason) == (
            "sent", LATE_SENT_REASON)

    def test_a_batch_is_claimed_and_recorded_in_one_call(self, ledger: Ledger) -> None:
        # Given a batch with a notice twice and one already sent
        a, b, done = make_job(1), make_job(2), make_job(3)
        ledger.claim(done, 1)
        ledger.record(done, "sent", attempt=1)
        # When it is claimed in one call
        claims = ledger.claim_many([(a, 1), (b, 1), (a, 1), (done, 1)])
        # Then each answer is in order: the repeated notice is claimed once
        assert [c.state for c in claims] == [
            ClaimState.NEW, ClaimState.NEW, ClaimState.BUSY, ClaimState.DONE]
        assert claims[0].token and claims[1].token and claims[0].token != claims[1].token
        # When the outcomes are recorded in one call, one with a token that is not
        # the holder's
        written = ledger.record_many([
            Write(a, "sent", 1, provider="nhn", message_id="m-1", token=claims[0].token),
            Write(b, "retrying", 1, reason="timeout", token="not-the-holder"),
        ])
        # Then the holder's is written and the other refused
        assert written == [True, False]
        first, second = ledger.notice(a.notification_id), ledger.notice(b.notification_id)
        assert first is not None and (first.status, first.provider_message_id) == (
            "sent", "m-1")
        assert second is not None and second.status == "sending"
        assert ledger.record_many([]) == []

    def test_records_of_many_holders_in_one_batch(self, ledger: Ledger) -> None:
        # Given ten claims; when their holders record at once (one batch of the SQL
        # ledger's writer), some with a wrong token
        jobs = [make_job(i) for i in range(10)]
        claims = [ledger.claim(job, 1) for job in jobs]

        def record(i: int) -> bool:
            token = claims[i].token if i % 3 else "someone-else"
            return ledger.record(jobs[i], "sent", attempt=1, token=token)

        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(record, range(10)))
        # Then exactly the right ones are written
        assert results == [bool(i % 3) for i in range(10)]
        statuses = [ledger.notice(job.notification_id) for job in jobs]
        assert [n.status if n else None for n in statuses] == [
            "sent" if i % 3 else "sending" for i in range(10)]

    def test_resolving_a_renewed_claim_does_nothing(self, ledger: Ledger,
                                                    clock: FakeClock) -> None:
        # Given the sweeper's snapshot of a stale claim
        job = make_job()
        ledger.claim(job, 1)
        clock.advance(seconds=600)
        (snapshot,) = ledger.stale_claims(clock.now)
        # When another sweeper resolves it and a worker claims it again meanwhile
        assert ledger.resolve_stale(snapshot, "retrying", reason=STALE_REASON)
        clock.advance(seconds=1)
        assert ledger.claim(job, 2).state is ClaimState.NEW
        # Then resolving the old snapshot leaves the new claim alone
        assert not ledger.resolve_stale(snapshot, "retrying", reason=STALE_REASON)
        notice = ledger.notice(job.notification_id)
        assert notice is not None and notice.status == "sending"

    # -- health ----------------------------------------------------------------------
    def test_an_open_ledger_answers_a_ping(self, ledger: Ledger) -> None:
        # Given an open ledger with a write behind it
        ledger.claim(make_job(1), 1)
        # When it is pinged, Then it answers (no exception) and still holds the write
        ledger.ping()
        assert ledger.notice("notice-1") is not None

    # -- purge -----------------------------------------------------------------------
    def test_purge_deletes_only_what_is_older(self, ledger: Ledger, clock: FakeClock) -> None:
        # Given an old case and a recent one
        old = make_job(1, case_id="old-case", event_id="ev-old")
        ledger.record_event(make_event("ev-old", case_id="old-case"))
        ledger.claim(old, 1)
        ledger.record(old, "sent", attempt=1)
        ledger.record_event(make_event("ev-orphan", case_id="old-case"))
        clock.advance(days=401)
        new = make_job(2, case_id="new-case", event_id="ev-new")
        ledger.record_event(make_event("ev-new", case_id="new-case"))
        ledger.claim(new, 1)
        # When the ledger is purged of what is older than 400 days
        result = ledger.purge(clock.now - timedelta(days=400))
        # Then the old case is gone, history and events with it, the new one stays
        assert (result.notices, result.history, result.events) == (1, 2, 2)
        assert ledger.notice("notice-1") is None
        assert ledger.case_story("old-case").events == []
        story = ledger.case_story("new-case")
        assert [n.id for n in story.notices] == ["notice-2"]
        assert [e.id for e in story.events] == ["ev-new"]


# -- the ledgers under test here -----------------------------------------------------------
class TestMemoryLedger(LedgerContract):
    @pytest.fixture
    def make_ledger(self) -> Iterator[LedgerFactory]:
        opened: list[Ledger] = []

        def make(**kw: Any) -> Ledger:
            kw.setdefault("hash_key", KEY)
            ledger = open_ledger("memory://", **kw)
            opened.append(ledger)
            return ledger

        yield make
        for ledger in opened:
            ledger.close()


class TestSqliteLedger(LedgerContract):
    def test_a_closed_ledger_does_not_answer_a_ping(self, ledger: Ledger) -> None:
        # Given a ledger that answered, When it is closed, Then a ping raises
        ledger.ping()
        ledger.close()
        with pytest.raises(Exception, match="not running"):
            ledger.ping()

    @pytest.fixture
    def make_ledger(self, tmp_path: Path) -> Iterator[LedgerFactory]:
        opened: list[Ledger] = []

        def make(**kw: Any) -> Ledger:
            kw.setdefault("hash_key", KEY)
            ledger = open_ledger(f"sqlite:///{tmp_path}/ledger-{len(opened)}.db", **kw)
            opened.append(ledger)
            return ledger

        yield make
        for ledger in opened:
            ledger.close()
