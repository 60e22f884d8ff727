"""The provider hooks of channels.base: ``prepare`` (provider-specific payload from the
notice) and ``lookup`` with ``supports_lookup`` as class data, through a chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

from channels.base import JobContext, LookupResult, Message, Provider, Receipt
from channels.chain import ProviderChain
from channels.push.sns import SnsPush, push_payload
from channels.sms.alimtalk import NhnAlimtalk

SINCE = datetime(2026, 11, 24, tzinfo=UTC)
CASE = {
    "id": "2026-0001234", "title": "가로등 고장", "department": "도로과",
    "officer": {"name": "김담당", "phone": "054-480-1234"},
    "url": "https://minwon.gumi.go.kr/case/2026-0001234",
}
ORG = {"name": "구미시", "callcenter": "054-480-2114"}


def message(**fields: Any) -> Message:
    base: dict[str, Any] = {
        "notification_id": "n-1", "event_id": "e-1", "event_type": "case.received",
        "case_id": "2026-0001234", "org": "gumi", "channel": "sms", "to": "010-1234-5678",
        "body": "접수되었습니다.", "recipient_name": "홍길동",
    }
    base.update(fields)
    return Message(**base)


class Answering(Provider):
    """A provider whose look-up answers from a fixed set (None: cannot tell)."""

    name: ClassVar[str] = "answering"
    supports_lookup: ClassVar[bool] = True

    def __init__(self, known: set[str] | None) -> None:
        super().__init__({}, channel="sms")
        self.known = known

    def send(self, message: Message) -> Receipt:
        return Receipt(self.name, message.notification_id)

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        if self.known is None:
            return None
        found = notification_id in self.known
        return LookupResult(found, self.name, notification_id if found else None)


class Blind(Provider):
    name: ClassVar[str] = "blind"


def test_the_base_provider_prepares_nothing_and_cannot_look_up() -> None:
    # Given a provider that fills in no hook
    provider = Blind({}, channel="sms")
    msg = message()
    # Then prepare returns the message unchanged and the look-up cannot tell
    assert provider.prepare(msg, JobContext({"case": CASE}, ORG)) is msg
    assert Blind.supports_lookup is False
    assert provider.lookup("n-1", SINCE) is None


def test_alimtalk_prepares_the_standard_variables_from_the_notice() -> None:
    provider = NhnAlimtalk({"app_key": "a", "secret_key": "s", "sender_key": "k"},
                           channel="sms")
    # When the 알림톡 provider prepares a notice of a case
    prepared = provider.prepare(message(), JobContext({"case": CASE}, ORG))
    # Then its #{variables} come from the case, the recipient and the organisation
    assert provider.parameters(prepared) == {
        "name": "홍길동", "case_id": "2026-0001234", "case_title": "가로등 고장",
        "department": "도로과", "officer": "김담당", "officer_phone": "054-480-1234",
        "org": "구미시", "callcenter": "054-480-2114", "url": CASE["url"],
    }


def test_alimtalk_keeps_a_template_code_and_parameters_already_given() -> None:
    provider = NhnAlimtalk({}, channel="sms")
    given = message(extra={"alimtalk": {"template_code": "MW-1", "parameters": {"a": "b"}}})
    prepared = provider.prepare(given, JobContext({"case": CASE}, ORG))
    assert prepared.extra["alimtalk"] == {"template_code": "MW-1", "parameters": {"a": "b"}}


def test_alimtalk_prepare_survives_a_case_that_is_not_a_table() -> None:
    provider = NhnAlimtalk({}, channel="sms")
    prepared = provider.prepare(message(recipient_name=None, case_id=None),
                                JobContext({"case": "not a table"}, {}))
    assert provider.parameters(prepared) == {}


def test_push_prepares_the_case_link() -> None:
    provider = SnsPush({"region": "ap-northeast-2"}, channel="push")
    prepared = provider.prepare(message(channel="push"), JobContext({"case": CASE}, ORG))
    gcm = json.loads(json.loads(push_payload(prepared))["GCM"])
    assert gcm["data"]["url"] == "https://minwon.gumi.go.kr/case/2026-0001234"
    # And a notice without a link gets none
    bare = provider.prepare(message(channel="push"), JobContext({}, ORG))
    assert "url" not in bare.extra


def test_a_chain_prepares_for_every_provider_it_may_use() -> None:
    alimtalk = NhnAlimtalk({}, channel="sms")
    chain = ProviderChain("sms", [alimtalk, Blind({}, channel="sms")])
    prepared = chain.prepare(message(), JobContext({"case": CASE}, ORG))
    assert alimtalk.parameters(prepared)["case_title"] == "가로등 고장"


def test_a_chain_look_up_is_sure_only_when_every_provider_can_tell() -> None:
    # Given a chain whose providers can all tell
    sure = ProviderChain("sms", [Answering({"n-1"}), Answering(set())], names=["a", "b"])
    # Then an acceptance anywhere is found, and "not accepted" is an answer
    assert sure.supports_lookup is True
    found = sure.lookup("n-1", SINCE)
    assert found is not None and found.accepted
    missing = sure.lookup("n-2", SINCE)
    assert missing is not None and not missing.accepted
    # Given a chain with one provider that cannot tell
    unsure = ProviderChain("sms", [Answering(set()), Blind({}, channel="sms")],
                           names=["a", "b"])
    # Then "not found" is not an answer (the blind one may have sent it)
    assert unsure.supports_lookup is False
    assert unsure.lookup("n-2", SINCE) is None
    # And a provider whose look-up fails counts as "cannot tell"
    failing = ProviderChain("sms", [Answering(None), Answering(set())], names=["a", "b"])
    assert failing.lookup("n-2", SINCE) is None
