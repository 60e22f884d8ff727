"""Providers' documented answers, end to end against fakes that give them: what fails
over, what is retried, what parks, what is read as already accepted, and the
look-ups that settle a stale claim without a second send."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from channels.base import CredentialsError, LookupResult, PermanentError, TransientError
from channels.chain import CLOSED, ProviderChain
from channels.results import NoticeConfigurationError
from hub.jobs import Job, Recipient
from hub.ledger import ClaimState, NoticeRecord, Sweeper, open_ledger
from tests.providers.fakes import (
    PHONE_BUSY,
    PHONE_INVALID,
    SENDER,
    AlimtalkFake,
    NhnSmsFake,
    SensFake,
    Tripwire,
)
from tests.providers.fixtures import FROM_ADDRESS, AwsWorld, ProviderCase, SmtpServer

pytest_plugins = ("tests.providers.fixtures",)
pytestmark = pytest.mark.integration


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def channel() -> str:
    return f"sms-{uuid.uuid4().hex[:6]}"


def a_minute_ago() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


# --------------------------------------------------------------------------- failover


def test_an_unregistered_sender_at_nhn_fails_over_to_sens_and_the_citizen_gets_one_sms(
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake, sens_case: ProviderCase, sens_fake: SensFake
) -> None:
    # Given NHN, where the organisation's sender number is not registered (-2312)
    nhn_fake.registered_senders.discard(SENDER.replace("-", ""))
    name = channel()
    chain = ProviderChain(name, [nhn_case.provider(), sens_case.provider()])
    # When a notice is sent
    receipt = chain.send(nhn_case.message())
    # Then SENS delivered it, NHN delivered nothing, and the alert counter rose
    assert receipt.provider == "sens"
    assert len(sens_fake.accepted) == 1 and nhn_fake.accepted == {}
    assert sample("minwon_provider_credentials_rejected_total", channel=name,
                  provider="nhn") == 1


@pytest.mark.parametrize("limit", ["monthly"])
def test_nhn_monthly_limit_is_our_account_and_fails_over(
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake, sens_case: ProviderCase, sens_fake: SensFake,
    limit: str,
) -> None:
    nhn_fake.monthly_limit_reached = True
    with pytest.raises(CredentialsError) as caught:
        nhn_case.provider().send(nhn_case.message())
    assert caught.value.code == "-2052"
    chain = ProviderChain(channel(), [nhn_case.provider(), sens_case.provider()])
    assert chain.send(nhn_case.message()).provider == "sens"


def test_an_unapproved_alimtalk_template_falls_back_to_sms_without_opening_the_breaker(
    alimtalk_case: ProviderCase, alimtalk_fake: AlimtalkFake,
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake,
) -> None:
    # Given 알림톡 first, with a template Kakao has not approved (-3005), then NHN SMS
    chain = ProviderChain(channel(), [alimtalk_case.provider(), nhn_case.provider()],
                          failure_threshold=2)
    for _ in range(3):
        message = alimtalk_case.message(extra={"alimtalk": {"template_code": "MW-PENDING"}})
        # When notices are sent
        receipt = chain.send(message)
        # Then each went out by SMS, and 알림톡 stays in rotation for other templates
        assert receipt.provider == "nhn"
    assert len(nhn_fake.accepted) == 3 and alimtalk_fake.accepted == {}
    assert chain.states()["alimtalk"] == CLOSED
    assert chain.send(alimtalk_case.message()).provider == "alimtalk"


def test_alimtalk_parameters_not_matching_the_template_fall_back_to_sms(
    alimtalk_case: ProviderCase, nhn_case: ProviderCase
) -> None:
    chain = ProviderChain(channel(), [alimtalk_case.provider(), nhn_case.provider()])
    message = alimtalk_case.message(extra={"alimtalk": {"parameters": {}}})
    with pytest.raises(NoticeConfigurationError):
        alimtalk_case.provider().send(message)
    assert chain.send(message).provider == "nhn"


def test_nhn_2021_failed_insert_queue_is_retried_not_parked(
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake
) -> None:
    provider = nhn_case.provider()
    with pytest.raises(TransientError) as caught:
        provider.send(nhn_case.message("transient"))
    assert caught.value.code == "-2021"
    # the retry, once NHN's queue takes messages again, is delivered
    receipt = provider.send(nhn_case.message())
    assert receipt.message_id in nhn_fake.accepted


def test_nhn_request_status_3_is_not_taken_for_acceptance(
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake
) -> None:
    nhn_fake.request_failed = True
    with pytest.raises(TransientError) as caught:
        nhn_case.provider().send(nhn_case.message())
    assert caught.value.code == "STATUS-3"


def test_an_invalid_recipient_stops_the_chain_with_its_reason(
    nhn_case: ProviderCase, sens_case: ProviderCase, sens_fake: SensFake
) -> None:
    chain = ProviderChain(channel(), [nhn_case.provider(), sens_case.provider()])
    with pytest.raises(PermanentError) as caught:
        chain.send(nhn_case.message("permanent"))
    assert not isinstance(caught.value, CredentialsError)
    assert caught.value.reason.startswith("nhn -2019: ")
    assert "Recipient number is invalid" in caught.value.reason
    assert "9999" not in caught.value.reason.split(":", 1)[1]  # the number is masked
    assert sens_fake.requests == []


def test_sens_unregistered_sender_quota_and_wrong_service_id_fail_over(
    sens_case: ProviderCase, sens_fake: SensFake, nhn_case: ProviderCase
) -> None:
    sens_fake.registered_senders.clear()
    with pytest.raises(CredentialsError):
        sens_case.provider().send(sens_case.message())
    sens_fake.registered_senders.add(SENDER.replace("-", ""))
    with pytest.raises(CredentialsError) as caught:
        sens_case.provider(service_id="ncp:sms:kr:1:typo").send(sens_case.message())
    assert caught.value.code == "404/300"
    sens_fake.quota_exceeded = True
    with pytest.raises(CredentialsError) as caught:
        sens_case.provider().send(sens_case.message())
    assert caught.value.code == "429/400"
    chain = ProviderChain(channel(), [sens_case.provider(), nhn_case.provider()])
    assert chain.send(sens_case.message()).provider == "nhn"


def test_sens_accepts_only_202(sens_case: ProviderCase, sens_fake: SensFake) -> None:
    sens_fake.answer_200 = True
    with pytest.raises(TransientError):
        sens_case.provider().send(sens_case.message())


def test_sens_throttling_is_transient(sens_case: ProviderCase) -> None:
    with pytest.raises(TransientError) as caught:
        sens_case.provider().send(sens_case.message(to=PHONE_BUSY))
    assert caught.value.code == "429/410"


def test_ses_unverified_from_address_is_our_configuration_and_fails_over_to_smtp(
    ses_case: ProviderCase, smtp_case: ProviderCase, smtp_server: SmtpServer
) -> None:
    message = ses_case.message(sender="minwon@unverified.example")
    with pytest.raises(CredentialsError) as caught:
        ses_case.provider().send(message)
    assert caught.value.code == "MessageRejected"
    chain = ProviderChain(f"email-{uuid.uuid4().hex[:6]}",
                          [ses_case.provider(), smtp_case.provider()])
    receipt = chain.send(message)
    assert receipt.provider == "smtp"
    assert smtp_server.recorder.by_message_id(str(receipt.message_id)) is not None


def test_ses_sends_international_domains_in_punycode(
    ses_case: ProviderCase, aws: AwsWorld
) -> None:
    receipt = ses_case.provider().send(ses_case.message(to="hong@구미시.kr"))
    sent = aws.moto.emails()[str(receipt.message_id)]
    assert "xn--2e0bx9yh9e.kr" in str(sent["destinations"])


def test_ses_passes_a_non_ascii_local_part_to_the_next_provider(
    ses_case: ProviderCase, smtp_case: ProviderCase
) -> None:
    message = ses_case.message(to="홍길동@example.kr")
    assert ses_case.provider().accepts(message) is False
    chain = ProviderChain(f"email-{uuid.uuid4().hex[:6]}",
                          [ses_case.provider(), smtp_case.provider()])
    assert chain.send(message).provider == "smtp"


def test_sns_sms_uses_its_own_region_and_counts_multi_segment_bodies(
    sns_sms_case: ProviderCase,
) -> None:
    provider = sns_sms_case.provider()
    assert provider.region == "ap-northeast-1"  # type: ignore[attr-defined]
    before = sample("minwon_sms_multipart_total", provider="sns")
    receipt = provider.send(sns_sms_case.message(body="가" * 71))
    assert receipt.detail["segments"] == 2
    assert sample("minwon_sms_multipart_total", provider="sns") == before + 1
    assert provider.send(sns_sms_case.message(body="가" * 70)).detail["segments"] == 1


# --------------------------------------------------------------------------- idempotency


def test_alimtalk_sends_the_notification_id_as_idempotency_key_and_reads_1005_as_accepted(
    alimtalk_case: ProviderCase, alimtalk_fake: AlimtalkFake
) -> None:
    provider = alimtalk_case.provider()
    message = alimtalk_case.message()
    first = provider.send(message)
    request = alimtalk_fake.accepted[str(first.message_id)]
    assert request.headers["X-NC-API-IDEMPOTENCY-KEY"] == message.notification_id
    assert request.body["senderGroupingKey"] == message.notification_id
    assert request.body["recipientList"][0]["recipientGroupingKey"] == message.notification_id
    # a second attempt of the same notice (a retry after a lost answer) is not sent again
    again = provider.send(message)
    assert again.detail.get("duplicate") is True
    assert again.message_id == first.message_id  # found by the look-up
    assert len(alimtalk_fake.accepted) == 1


def test_sens_lookup_trusts_its_record_when_sens_cannot_be_asked(
    sens_case: ProviderCase, tripwire: Tripwire
) -> None:
    message = sens_case.message()
    receipt = sens_case.provider().send(message)
    unreachable = sens_case.provider_at(tripwire.port)
    found = unreachable.lookup(message.notification_id, a_minute_ago())
    assert found is not None and found.accepted and found.message_id == receipt.message_id


# --------------------------------------------------------------------------- look-ups


@pytest.mark.parametrize("case_name", ["nhn_case", "alimtalk_case", "sens_case",
                                       "ses_case", "smtp_case"])
def test_the_sweeper_settles_a_stale_claim_from_the_providers_answer_without_a_second_send(
    request: pytest.FixtureRequest, case_name: str, tmp_path: Path
) -> None:
    case: ProviderCase = request.getfixturevalue(case_name)
    now = [datetime.now(UTC)]
    ledger = open_ledger(f"sqlite:///{tmp_path}/ledger.db", hash_key=b"k",
                         clock=lambda: now[0])
    try:
        # Given a worker that claimed a notice, had the provider accept it, and died
        job = stale_job(case.channel, case.addresses["ok"])
        ledger.claim(job, 1)
        message = case.message(notification_id=job.notification_id)
        chain = ProviderChain(f"{case.channel}-{uuid.uuid4().hex[:6]}", [case.provider()])
        receipt = chain.send(message)
        # When the sweeper of the replacement worker finds the claim stale
        fresh = ProviderChain(f"{case.channel}-{uuid.uuid4().hex[:6]}", [case.provider()])
        asked: list[str] = []

        def settle(notice: NoticeRecord) -> LookupResult | None:  # as Hub._lookup asks
            asked.append(notice.id)
            since = (notice.claimed_at or now[0]) - timedelta(minutes=5)
            return fresh.lookup(notice.id, since)

        now[0] += timedelta(seconds=600)
        stale = Sweeper(ledger, timeout_s=300, lookup=settle).run_once(now[0])
        # Then the provider's answer settles it as sent: the next delivery sends nothing
        assert asked == [job.notification_id]
        assert [s.resolved for s in stale] == ["sent"]
        assert ledger.claim(job, 2).state is ClaimState.DONE
        assert receipt.message_id
        notice = ledger.notice(job.notification_id)
        assert notice is not None and notice.provider_message_id
    finally:
        ledger.close()


def stale_job(channel: str, address: str) -> Job:
    event_id = f"ev-{uuid.uuid4().hex[:8]}"
    return Job(
        notification_id=str(uuid.uuid4()), event_id=event_id, event_type="case.received",
        case_id="2026-0001234", org="gumi", channel=channel, template="case.received",
        critical=False, recipient=Recipient("citizen", "citizen", "홍길동", address),
        event={"id": event_id, "type": "case.received", "source": "/gumi/yescall"},
        data={"org": "gumi", "case": {"id": "2026-0001234"}},
    )


@pytest.mark.parametrize("case_name", ["nhn_case", "alimtalk_case"])
def test_nhn_lookups_search_by_grouping_key_and_a_kst_date_range(
    request: pytest.FixtureRequest, case_name: str
) -> None:
    case: ProviderCase = request.getfixturevalue(case_name)
    fake = request.getfixturevalue(case_name.replace("_case", "_fake"))
    message = case.message(body="가" * 60) if case_name == "nhn_case" else case.message()
    case.provider().send(message)  # an LMS for NHN: found on the mms list
    assert case.provider().lookup(message.notification_id, a_minute_ago()).accepted  # type: ignore[union-attr]
    queried = [r for r in fake.requests if r.method == "GET"]
    assert queried and all("startRequestDate" in r.query for r in queried)
    # a never-sent notice: NHN can tell it took none
    nothing = case.provider().lookup(str(uuid.uuid4()), a_minute_ago())
    assert nothing is not None and not nothing.accepted


def test_a_chain_settles_a_stale_claim_from_whichever_provider_took_it(
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake, sens_case: ProviderCase, sens_fake: SensFake
) -> None:
    # Given NHN refused our sender (failover) and SENS took the notice
    nhn_fake.registered_senders.clear()
    chain = ProviderChain(channel(), [nhn_case.provider(), sens_case.provider()])
    message = nhn_case.message()
    chain.send(message)
    # When the sweeper asks a new chain (after the worker died)
    fresh = ProviderChain(channel(), [nhn_case.provider(), sens_case.provider()])
    found = fresh.lookup(message.notification_id, a_minute_ago())
    # Then SENS's record settles it: no second send
    assert found is not None and found.accepted and found.provider == "sens"
    assert len(sens_fake.accepted) == 1


def test_providers_without_a_lookup_declare_it(sns_sms_case: ProviderCase) -> None:
    assert type(sns_sms_case.provider()).supports_lookup is False


def test_invalid_recipient_at_alimtalk_stops_the_chain(
    alimtalk_case: ProviderCase, nhn_case: ProviderCase, nhn_fake: NhnSmsFake
) -> None:
    chain = ProviderChain(channel(), [alimtalk_case.provider(), nhn_case.provider()])
    with pytest.raises(PermanentError) as caught:
        chain.send(alimtalk_case.message(to=PHONE_INVALID))
    assert caught.value.code == "-4019"
    assert nhn_fake.requests == []


def test_ses_from_address_fixture_is_verified(ses_case: ProviderCase) -> None:
    assert ses_case.provider().send(ses_case.message(sender=FROM_ADDRESS)).message_id
