"""Failover between real providers: the first one down (connection refused, revoked
key), the second one used; the circuit breaker taking a failing provider out of
rotation and trying it again later, on a clock the test controls."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from channels.base import Message, PermanentError, TransientError
from channels.chain import CLOSED, OPEN, ProviderChain, build_chain
from hub.config import DEFAULTS, Config, deep_merge
from tests.providers.fakes import NhnSmsFake, SensFake, Tripwire, refused_port
from tests.providers.fixtures import ProviderCase, SmtpServer

pytest_plugins = ("tests.providers.fixtures",)
pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_first_sms_provider_refusing_connections_fails_over_to_the_second(
    nhn_case: ProviderCase, sens_case: ProviderCase, sens_fake: SensFake
) -> None:
    # Given a chain whose first provider's host refuses connections
    channel = f"sms-{uuid.uuid4().hex[:6]}"
    chain = ProviderChain(
        channel, [nhn_case.provider_at(refused_port()), sens_case.provider()]
    )
    # When a notice is sent
    receipt = chain.send(sens_case.message())
    # Then the second provider delivered it, and the first one's failure was measured
    assert receipt.provider == "sens"
    assert receipt.message_id in sens_fake.accepted
    assert sample(
        "minwon_provider_call_duration_seconds_count",
        channel=channel,
        provider="nhn",
        outcome="transient",
    ) == 1
    assert sample(
        "minwon_provider_call_duration_seconds_count",
        channel=channel,
        provider="sens",
        outcome="sent",
    ) == 1


def test_ses_with_a_revoked_key_fails_over_to_smtp_and_raises_the_alert_metric(
    ses_case: ProviderCase, smtp_case: ProviderCase, smtp_server: SmtpServer
) -> None:
    channel = f"email-{uuid.uuid4().hex[:6]}"
    chain = ProviderChain(channel, [ses_case.provider("credentials"), smtp_case.provider()])
    receipt = chain.send(smtp_case.message())
    assert receipt.provider == "smtp"
    assert smtp_server.recorder.by_message_id(str(receipt.message_id)) is not None
    assert sample(
        "minwon_provider_credentials_rejected_total", channel=channel, provider="ses"
    ) == 1


def test_a_permanent_answer_stops_the_chain(
    nhn_case: ProviderCase, sens_case: ProviderCase, sens_fake: SensFake
) -> None:
    chain = ProviderChain(
        f"sms-{uuid.uuid4().hex[:6]}", [nhn_case.provider(), sens_case.provider()]
    )
    with pytest.raises(PermanentError) as caught:
        chain.send(nhn_case.message("permanent"))
    assert caught.value.provider == "nhn"
    assert sens_fake.requests == []


def test_every_provider_down_raises_the_last_transient_error(
    nhn_case: ProviderCase, sens_case: ProviderCase
) -> None:
    chain = ProviderChain(
        f"sms-{uuid.uuid4().hex[:6]}",
        [nhn_case.provider_at(refused_port()), sens_case.provider_at(refused_port())],
    )
    with pytest.raises(TransientError) as caught:
        chain.send(nhn_case.message())
    assert caught.value.provider == "sens"
    assert caught.value.code == "CONNECTION"


def test_circuit_breaker_opens_then_half_opens_with_a_single_trial(
    nhn_case: ProviderCase,
    nhn_fake: NhnSmsFake,
    sens_case: ProviderCase,
    sens_fake: SensFake,
    tripwire: Tripwire,
) -> None:
    # Given NHN pointing at a host that drops every connection, behind a breaker
    # that opens after 2 failures for 30 s of a clock the test holds
    clock = Clock()
    channel = f"sms-{uuid.uuid4().hex[:6]}"
    nhn = nhn_case.provider_at(tripwire.port)
    chain = ProviderChain(
        channel,
        [nhn, sens_case.provider()],
        failure_threshold=2,
        reset_after=30.0,
        clock=clock,
    )
    up = {"channel": channel, "provider": "nhn"}
    assert sample("minwon_provider_available", **up) == 1

    # When two notices fail over, NHN's breaker opens
    for _ in range(2):
        assert chain.send(nhn_case.message()).provider == "sens"
    assert tripwire.connections == 2
    assert chain.states()["nhn"] == OPEN
    assert sample("minwon_provider_available", **up) == 0

    # Then while open NHN is not called at all
    clock.now += 29
    for _ in range(3):
        assert chain.send(nhn_case.message()).provider == "sens"
    assert tripwire.connections == 2

    # After reset_after one trial goes to NHN; it fails, so the breaker opens again
    clock.now += 2
    assert chain.send(nhn_case.message()).provider == "sens"
    assert tripwire.connections == 3
    assert chain.states()["nhn"] == OPEN
    assert chain.send(nhn_case.message()).provider == "sens"
    assert tripwire.connections == 3

    # NHN comes back; the next trial succeeds and closes the breaker
    nhn.base_url = nhn_fake.url  # type: ignore[attr-defined]
    clock.now += 31
    receipt = chain.send(nhn_case.message())
    assert receipt.provider == "nhn"
    assert chain.states()["nhn"] == CLOSED
    assert sample("minwon_provider_available", **up) == 1
    assert chain.send(nhn_case.message()).provider == "nhn"
    assert len(sens_fake.accepted) == 7


def test_build_chain_reads_the_order_and_each_providers_settings(
    nhn_fake: NhnSmsFake, sens_fake: SensFake, tmp_path: Path
) -> None:
    # Given configuration naming a dead NHN account first and SENS second, with a
    # second table of the same implementation under another name
    config = Config(
        deep_merge(
            DEFAULTS,
            {
                "channels": {
                    "sms": {
                        "providers": ["nhn_dead", "sens"],
                        "failure_threshold": 3,
                        "reset_after": 12.5,
                    }
                },
                "providers": {
                    "nhn_dead": {
                        "type": "nhn",
                        "app_key": nhn_fake.app_key,
                        "secret_key": nhn_fake.secret_key,
                        "base_url": f"http://127.0.0.1:{refused_port()}",
                    },
                    "sens": {
                        "service_id": sens_fake.service_id,
                        "access_key": sens_fake.access_key,
                        "secret_key": sens_fake.secret_key,
                        "base_url": sens_fake.url,
                        "sender": "15880000",
                        "record_dir": str(tmp_path / "records"),
                    },
                },
            },
        )
    )
    chain = build_chain("sms", config)
    try:
        assert chain.names == ["nhn_dead", "sens"]
        assert chain.links[0].breaker.threshold == 3
        assert chain.links[0].breaker.reset_after == 12.5
        receipt = chain.send(
            _message("010-1234-5678", body="[구미시] 접수되었습니다.", sender=None)
        )
        assert receipt.provider == "sens"
        assert sens_fake.accepted[str(receipt.message_id)].body["from"] == "15880000"
    finally:
        chain.close()


def _message(to: str, **fields: Any) -> Message:
    values: dict[str, Any] = {
        "notification_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "event_type": "case.received",
        "case_id": "2026-0001234",
        "org": "gumi",
        "channel": "sms",
        "to": to,
        **fields,
    }
    return Message(**values)
