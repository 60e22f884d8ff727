"""The shared provider suite (tests/providers/contract.py) run against every
provider of every channel, each talking its real protocol to a local server."""

from __future__ import annotations

import pytest

from tests.providers.contract import ProviderContract
from tests.providers.fixtures import CASES, ProviderCase

pytest_plugins = ("tests.providers.fixtures",)
pytestmark = pytest.mark.integration


@pytest.fixture(params=CASES["sms"])
def sms_provider(request: pytest.FixtureRequest) -> ProviderCase:
    case: ProviderCase = request.getfixturevalue(request.param)
    return case


@pytest.fixture(params=CASES["email"])
def email_provider(request: pytest.FixtureRequest) -> ProviderCase:
    case: ProviderCase = request.getfixturevalue(request.param)
    return case


@pytest.fixture(params=CASES["push"])
def push_provider(request: pytest.FixtureRequest) -> ProviderCase:
    case: ProviderCase = request.getfixturevalue(request.param)
    return case


class TestSmsProviders(ProviderContract):
    @pytest.fixture
    def case(self, sms_provider: ProviderCase) -> ProviderCase:
        return sms_provider


class TestEmailProviders(ProviderContract):
    @pytest.fixture
    def case(self, email_provider: ProviderCase) -> ProviderCase:
        return email_provider


class TestPushProviders(ProviderContract):
    @pytest.fixture
    def case(self, push_provider: ProviderCase) -> ProviderCase:
        return push_provider
