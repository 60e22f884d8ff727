"""The router without a broker: route() and handle() turn one event body into the
publishes it calls for: jobs to hub.notify, or the body itself to hub.rejected."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.confirms import ConfirmingPublisher
from hub.consumer import ConsumingLoop, Settlement, Stage
from hub.events import EventRejected
from hub.jobs import ATTEMPT, NOT_BEFORE, REASON, Job, notification_id
from hub.ledger import Ledger, open_ledger
from hub.router import REASON_CODE, REJECTED_AT, Router
from hub.rules import load_rules, parse_rules
from hub.topology import NOTIFY_EXCHANGE, REJECTED_QUEUE
from hub.transport import PROFILES

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"sms": "phone", "email": "email", "push": "push_token"}
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def sample(event_type: str, event_id: str, name: str = "full.json") -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (ROOT / "templates" / event_type / "samples" / name).read_text("utf-8"))
    event["id"] = event_id
    return event


def encode(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def make_router(sink: Ledger | None = None, max_event_bytes: int = 256 * 1024) -> Router:
    return Router(load_rules(), FIELDS, max_event_bytes=max_event_bytes, sink=sink,
                  clock=lambda: NOW)


def test_a_valid_event_becomes_one_job_per_recipient_and_channel() -> None:
    # Given a received case whose citizen asked for sms and e-mail
    event = sample("case.received", "ev-router-1")
    event["data"]["citizen"] = {"name": "홍길동", "phone": "010-1234-5678",
                                "email": "hong@example.kr", "channels": ["sms", "email"]}
    # When it is routed
    publishes = make_router().route(encode(event))
    # Then one publish per channel goes to hub.notify, keyed by channel, first attempt
    assert [(p.exchange, p.routing_key) for p in publishes] == [
        (NOTIFY_EXCHANGE, "sms"), (NOTIFY_EXCHANGE, "email")]
    for p in publishes:
        assert p.headers == {ATTEMPT: 1}
        assert p.mandatory is True
        job = Job.decode(p.body)
        assert p.message_id == job.notification_id == notification_id(
            "ev-router-1", "citizen", p.routing_key)
        assert (job.event_id, job.channel, job.event_type) == (
            "ev-router-1", p.routing_key, "case.received")
    assert [Job.decode(p.body).recipient.address for p in publishes] == [
        "010-1234-5678", "hong@example.kr"]


def test_routing_the_same_event_twice_gives_the_same_jobs() -> None:
    body = encode(sample("case.assigned", "ev-router-2"))
    router = make_router()
    first, second = router.route(body), router.route(body)
    assert [p.message_id for p in first] == [p.message_id for p in second]
    assert [p.body for p in first] == [p.body for p in second]


def test_a_rule_delay_sets_not_before() -> None:
    # Given the packaged rules: the survey waits one hour
    body = encode(sample("survey.requested", "ev-router-3"))
    # When a survey request is routed at 06:00 UTC
    publishes = make_router().route(body)
    # Then each job carries "not before 07:00 UTC"
    assert publishes
    for p in publishes:
        assert p.headers == {ATTEMPT: 1, NOT_BEFORE: "2026-11-24T07:00:00+00:00"}


def test_an_event_without_recipients_routes_to_nothing() -> None:
    # Given rules that tell nobody of a received case
    rules = parse_rules({"recipients": {"officer": "case.officer"}, "rules": [
        {"event": "case.answered", "recipient": "officer", "channels": ["push"]}]})
    router = Router(rules, FIELDS, max_event_bytes=10_000, clock=lambda: NOW)
    settlement = router.handle(encode(sample("case.received", "ev-router-4")), {}, 5, False)
    # Then the event is acked with nothing to publish (and nothing rejected)
    assert settlement.delivery_tag == 5
    assert settlement.publishes == [] and not settlement.reject


def test_a_routed_event_is_noted_in_the_ledger() -> None:
    ledger = open_ledger("memory://", hash_key=b"k")
    event = sample("case.answered", "ev-router-5")
    make_router(ledger).route(encode(event))
    story = ledger.case_story(event["data"]["case"]["id"])
    assert [(e.id, e.status) for e in story.events] == [("ev-router-5", "routed")]


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (b'{"specversion": "1.0", "id": ', "bad_json", "not JSON"),
        (b'{"id": "\xff"}', "not_utf8", "not UTF-8"),
        (b"[1, 2]", "not_an_object", "must be a JSON object"),
        (b'{"id": "ev-bad-1", "type": "case.closed"}', "unknown_type", "type: 'case.closed'"),
        (b'{"id": "ev-bad-2", "type": "case.received"}', "invalid", "(event): must contain"),
        (b"x" * 2000, "too_large", "over the limit of 1000"),
    ],
)
def test_an_invalid_event_is_rejected_as_it_came(body: bytes, code: str, reason: str) -> None:
    # Given a router whose events are at most 1000 bytes
    router = make_router(max_event_bytes=1000)
    # When a bad body arrives with headers of its own
    headers = {"traceparent": "00-abc-def-01", "x-hub-attempt": 3}
    settlement = router.handle(body, headers, 8, False)
    # Then exactly one publish takes it, unchanged, to hub.rejected with the reason
    assert settlement.delivery_tag == 8 and not settlement.reject
    (publish,) = settlement.publishes
    assert (publish.exchange, publish.routing_key) == ("", REJECTED_QUEUE)
    assert publish.body == body
    assert publish.headers[REASON_CODE] == code
    assert reason in publish.headers[REASON]
    assert publish.headers[REJECTED_AT] == NOW.isoformat()
    # And the upstream headers are kept, the hub's own dropped
    assert publish.headers["traceparent"] == "00-abc-def-01"
    assert "x-hub-attempt" not in publish.headers
    assert publish.content_type == "application/octet-stream"


@pytest.mark.parametrize(
    ("body", "message_id"),
    [
        (b'{"id": "ev-bad-3", "type": "case.closed"}', "ev-bad-3"),
        (b'{"id": 12, "type": "case.closed"}', None),
        (b"[1]", None),
        (b"{", None),
    ],
)
def test_a_rejection_carries_the_event_id_when_there_is_one(body: bytes,
                                                            message_id: str | None) -> None:
    (publish,) = make_router().handle(body, {}, 1, False).publishes
    assert publish.message_id == message_id


class RecordingSink:
    def __init__(self) -> None:
        self.noted: list[tuple[dict[str, Any], str, str | None]] = []

    def record_event(self, event: Mapping[str, Any], *, status: str = "routed",
                     reason: str | None = None) -> None:
        self.noted.append((dict(event), status, reason))


@pytest.mark.parametrize(
    ("body", "noted"),
    [
        (b'{"id": "ev-bad-4", "type": "case.received"}',
         [({"id": "ev-bad-4"}, "rejected",
           "structured mode: (event): must contain ['data', 'source', 'specversion'] "
           "properties")]),
        (b"{", []),  # no id to note it by
    ],
)
def test_a_rejection_is_noted_with_its_reason(body: bytes, noted: list[Any]) -> None:
    sink = RecordingSink()
    Router(load_rules(), FIELDS, max_event_bytes=1000, sink=sink, clock=lambda: NOW).handle(
        body, {}, 1, False)
    assert sink.noted == noted


def test_a_long_reason_is_cut_to_1000_characters() -> None:
    router = make_router()
    publish = router.rejection(b"{}", {}, EventRejected("invalid", "x" * 5000))
    assert len(publish.headers[REASON]) == 1000


def test_route_raises_what_handle_rejects() -> None:
    with pytest.raises(EventRejected) as info:
        make_router().route(b"[]")
    assert info.value.code == "not_an_object"


# -- acks of the consuming loop that runs the router -----------------------------------------
class FakeChannel:
    """Records what the loop asks of the broker."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bool]] = []

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        self.calls.append(("ack", tag, multiple))

    def basic_reject(self, tag: int, requeue: bool = True) -> None:
        self.calls.append(("reject", tag, requeue))


def settle(*settlements: Settlement) -> list[tuple[str, int, bool]]:
    channel = FakeChannel()
    loop = ConsumingLoop(None, PROFILES["amqp"], make_router())  # type: ignore[arg-type]
    loop.channel = channel
    loop.publisher = ConfirmingPublisher(None, channel, confirms=False)
    for s in settlements:
        loop.settle(s)
    loop._apply_settlements()
    return channel.calls


@pytest.mark.parametrize(
    ("settlements", "calls"),
    [
        ([Settlement(1), Settlement(2), Settlement(3)], [("ack", 3, True)]),
        ([Settlement(2), Settlement(3)], []),  # 1 is not settled yet: nothing acked
        ([Settlement(1), Settlement(2, reject=True), Settlement(3)],
         [("reject", 2, False), ("ack", 3, True)]),
    ],
)
def test_settled_deliveries_are_acked_together(settlements: list[Settlement],
                                               calls: list[tuple[str, int, bool]]) -> None:
    assert settle(*settlements) == calls


def test_a_rejected_delivery_is_never_acked() -> None:
    # Given deliveries 1 and 2 settled, and 3 (the last) rejected
    calls = settle(Settlement(1), Settlement(2), Settlement(3, reject=True))
    # Then 3 is rejected, and the acks stop below it
    assert ("reject", 3, False) in calls
    assert [c for c in calls if c[0] == "ack" and c[1] >= 3] == []
    assert ("ack", 2, True) in calls


# -- poison: what used to stop the router (issue 10) -----------------------------------------
def poison(event_type: str = "case.received", **changes: Any) -> dict[str, Any]:
    event = sample(event_type, "ev-poison")
    for path, value in changes.items():
        node = event
        *parents, last = path.split("__")
        for key in parents:
            node = node[key]
        node[last] = value
    return event


def deep(levels: int) -> bytes:
    return b'{"id": "ev-deep", "data": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (deep(5000), "too_deep"),  # RecursionError in the JSON decoder
        (deep(100), "too_deep"),  # decodes, but deeper than any event
        (b'{"id": "ev-num", "n": ' + b"9" * 5000 + b"}", "bad_number"),  # over int's limit
        (b'{"id": "ev-num", "n": ' + b"9" * 4000 + b"}", "bad_number"),  # under it, still absurd
        (b'{"id": "ev-num", "n": 1e999}', "bad_number"),  # infinity
        (b'{"id": "ev-num", "n": NaN}', "bad_number"),
        (json.dumps(poison(data__case__title="\ud800")).encode(), "bad_text"),
        (json.dumps(poison(data__citizen__name="a\u0000b")).encode(), "bad_text"),
        (json.dumps({"\udfff": 1}).encode(), "bad_text"),  # a key, too
        (json.dumps(poison(data__case__id="2026\u00000001")).encode(), "bad_text"),
        (json.dumps(poison(data__case__id="2026\n0001")).encode(), "bad_text"),
        (json.dumps(poison(id="ev\u0007x")).encode(), "bad_text"),
        (json.dumps(poison(subject="s\u0085")).encode(), "bad_text"),
    ],
)
def test_poison_is_rejected_with_its_reason_code(body: bytes, code: str) -> None:
    # Given an event built to break the decoder, the validator or the job encoder
    # When the router handles it
    settlement = make_router().handle(body, {}, 5, False)
    # Then it is settled by one publish to hub.rejected with its reason code
    (publish,) = settlement.publishes
    assert publish.routing_key == REJECTED_QUEUE and not settlement.reject
    assert publish.headers[REASON_CODE] == code
    # And every header and the message id can be written to the wire as UTF-8
    for value in [*publish.headers.values(), publish.message_id or ""]:
        str(value).encode("utf-8")


def test_a_valid_surrogate_pair_and_free_text_control_characters_still_route() -> None:
    event = poison(data__case__title="😀 도로\t파손\n신고")
    body = json.dumps(event).encode()  # ensure_ascii: the emoji as a \ud83d\ude00 pair
    assert b"\\ud83d\\ude00" in body
    assert make_router().route(body)


class Exploding(Router):
    def route(self, body: bytes) -> list[Any]:
        raise KeyError("bug")


def test_an_unexpected_error_parks_the_event_with_code_internal() -> None:
    # Given a router with a bug, run by a consuming loop
    router = Exploding(load_rules(), FIELDS, max_event_bytes=1000, clock=lambda: NOW)
    loop = ConsumingLoop(None, PROFILES["amqp"], router)  # type: ignore[arg-type]
    # When a delivery arrives
    loop._dispatch(b'{"id": "ev-x"}', {"traceparent": "t"}, 9, False)
    # Then it is settled (not raised) by a publish to hub.rejected with code internal
    settlement = loop._done.get_nowait()
    (publish,) = settlement.publishes
    assert settlement.delivery_tag == 9
    assert publish.routing_key == REJECTED_QUEUE
    assert publish.headers[REASON_CODE] == "internal"
    assert publish.message_id == "ev-x"


class Hopeless(Exploding):
    def on_error(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
                 exc: BaseException) -> Settlement:
        raise RuntimeError("the error path fails too")


def test_when_even_on_error_fails_the_delivery_is_rejected_not_lost() -> None:
    loop = ConsumingLoop(None, PROFILES["amqp"],  # type: ignore[arg-type]
                         Hopeless(load_rules(), FIELDS, max_event_bytes=1000))
    loop._dispatch(b"{}", {}, 4, False)
    settlement = loop._done.get_nowait()
    assert (settlement.delivery_tag, settlement.reject, settlement.requeue) == (4, True, False)


def test_a_stage_without_its_own_on_error_rejects_to_the_dead_letter_target() -> None:
    class Bare(Stage):
        queue_name = "hub.test"

        def handle(self, body: bytes, headers: dict[str, Any], delivery_tag: int,
                   redelivered: bool) -> Settlement | None:
            raise ValueError("bug")

    loop = ConsumingLoop(None, PROFILES["amqp"], Bare())  # type: ignore[arg-type]
    loop._dispatch(b"x", {}, 3, False)
    settlement = loop._done.get_nowait()
    assert (settlement.delivery_tag, settlement.reject, settlement.requeue,
            settlement.publishes) == (3, True, False, [])


class LeakyBug(Router):
    def route(self, body: bytes, headers: Mapping[str, Any] | None = None,
              content_type: str | None = None) -> list[Any]:
        raise KeyError(json.loads(body)["data"]["citizen"]["name"])


def test_the_log_of_an_unexpected_error_masks_what_its_message_quotes(
        caplog: pytest.LogCaptureFixture) -> None:
    # Given a router bug whose exception message holds the citizen's name
    event = sample("case.received", "ev-leak")
    event["data"]["citizen"] = {"name": "홍길동", "phone": "010-1234-5678"}
    loop = ConsumingLoop(None, PROFILES["amqp"],  # type: ignore[arg-type]
                         LeakyBug(load_rules(), FIELDS, max_event_bytes=256 * 1024))
    # When the loop settles that delivery
    loop._dispatch(encode(event), {}, 1, False)
    # Then the log has the traceback, with the name masked
    assert "KeyError: '홍*동'" in caplog.text and "Traceback" in caplog.text
    assert "홍길동" not in caplog.text
