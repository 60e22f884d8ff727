"""The shared provider suite: every provider of every channel must pass it.

A channel's test module subclasses :class:`ProviderContract` and supplies a
``case`` fixture parametrised over its providers (FastStream's way of running one
suite against every broker)::

    @pytest.fixture(params=CASES["sms"])
    def case(request): return request.getfixturevalue(request.param)

    class TestSmsProviders(ProviderContract): ...
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from channels.base import (
    CredentialsError,
    PermanentError,
    Receipt,
    SendError,
    TransientError,
)
from tests.providers.fakes import Tripwire
from tests.providers.fixtures import ProviderCase

SIMULATED: dict[str, dict[str, str]] = {
    "sms": {
        "ok": "010-0000-0000",
        "permanent": "010-0000-2000",
        "transient": "010-0000-3000",
        "transient-once": "010-0000-1001",
    },
    "email": {
        "ok": "success@simulator.invalid",
        "permanent": "permanent@simulator.invalid",
        "transient": "transient@simulator.invalid",
        "transient-once": "transient-1@simulator.invalid",
    },
    "push": {
        "ok": "sim:success",
        "permanent": "sim:permanent",
        "transient": "sim:transient",
        "transient-once": "sim:transient-1",
    },
}


class ProviderContract:
    """Outcomes every provider must report the same way."""

    def test_success_returns_a_receipt_with_the_providers_message_id(
        self, case: ProviderCase
    ) -> None:
        # Given a working provider and a real (non-simulated) recipient
        provider = case.provider("ok")
        message = case.message("ok")
        # When the notice is sent
        receipt = provider.send(message)
        # Then the receipt names the provider and carries the id the server gave
        assert isinstance(receipt, Receipt)
        assert receipt.provider == case.name
        assert receipt.message_id
        assert case.delivered(receipt)

    def test_throttling_or_a_busy_server_is_transient(self, case: ProviderCase) -> None:
        # Given a provider whose server answers "busy" (5xx / 429 / throttled / 4xx SMTP)
        provider = case.provider("transient")
        # When / Then the failure is transient, with the provider's code kept
        with pytest.raises(TransientError) as caught:
            provider.send(case.message("transient"))
        assert caught.value.provider == case.name
        assert caught.value.code
        assert not caught.value.permanent

    def test_a_refused_recipient_or_message_is_permanent(self, case: ProviderCase) -> None:
        # Given a recipient (or sender) the provider's server refuses for good
        provider = case.provider("ok")
        # When / Then the failure is permanent, but not a credentials problem
        with pytest.raises(PermanentError) as caught:
            provider.send(case.message("permanent"))
        assert not isinstance(caught.value, CredentialsError)
        assert caught.value.permanent
        assert caught.value.provider == case.name
        assert caught.value.code

    def test_rejected_credentials_are_a_credentials_error(self, case: ProviderCase) -> None:
        # Given a provider configured with a key its server does not accept
        provider = case.provider("credentials")
        # When / Then the failure says so
        with pytest.raises(CredentialsError) as caught:
            provider.send(case.message("ok"))
        assert caught.value.permanent
        assert caught.value.provider == case.name

    def test_a_network_failure_is_transient(self, case: ProviderCase, tripwire: Tripwire) -> None:
        # Given a provider aimed at a port that closes every connection at once
        provider = case.provider_at(tripwire.port)
        # When / Then the failure is transient
        with pytest.raises(TransientError):
            provider.send(case.message("ok"))
        assert tripwire.connections >= 1

    @pytest.mark.parametrize(
        ("outcome", "expected"),
        [
            ("ok", None),
            ("permanent", PermanentError),
            ("transient", TransientError),
        ],
    )
    def test_simulated_recipients_never_reach_the_network(
        self,
        case: ProviderCase,
        tripwire: Tripwire,
        outcome: str,
        expected: type[SendError] | None,
    ) -> None:
        # Given a provider aimed at a tripwire, and a reserved simulated recipient
        provider = case.provider_at(tripwire.port)
        message = case.message("ok", to=SIMULATED[case.channel][outcome])
        # When it is sent
        if expected is None:
            receipt = provider.send(message)
            assert receipt.provider == case.name
            assert receipt.detail.get("simulated") is True
        else:
            with pytest.raises(expected) as caught:
                provider.send(message)
            assert caught.value.code in ("SIM-PERMANENT", "SIM-TRANSIENT")
        # Then nothing connected to the network
        assert tripwire.connections == 0

    def test_simulated_transient_n_times_then_succeeds(
        self, case: ProviderCase, tripwire: Tripwire
    ) -> None:
        provider = case.provider_at(tripwire.port)
        message = case.message("ok", to=SIMULATED[case.channel]["transient-once"])
        with pytest.raises(TransientError):
            provider.send(message)
        assert provider.send(message).detail.get("simulated") is True
        assert tripwire.connections == 0

    def test_a_lookup_finds_what_was_accepted_or_the_provider_declares_it_has_none(
        self, case: ProviderCase
    ) -> None:
        # Given a message a worker sent before it died (its receipt never recorded)
        message = case.message("ok")
        receipt = case.provider("ok").send(message)
        since = datetime.now(UTC) - timedelta(minutes=1)
        # When the sweeper asks a fresh provider (another process) about the notice
        fresh = case.provider("ok")
        found = fresh.lookup(message.notification_id, since)
        if not type(fresh).supports_lookup:
            # Then a provider without a look-up says so in data and cannot tell
            assert found is None
            return
        # Then the provider's answer settles it, with the same message id
        assert found is not None and found.accepted
        assert found.provider == case.name
        assert found.message_id == receipt.message_id
        # And a notice never sent is not taken for one
        other = fresh.lookup(str(uuid.uuid4()), since)
        assert other is None or not other.accepted
