"""Every delivery the router stage is handed is settled exactly once, whatever its bytes:
run through the consuming loop's dispatch (which turns a raising stage into
``on_error``) and its settlement path, against a channel that encodes each publish the
way the wire would (AMQP field tables, UTF-8 short strings)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from amqp.serialization import dumps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.confirms import ConfirmingPublisher
from hub.consumer import ConsumingLoop
from hub.router import Router
from hub.rules import load_rules
from hub.topology import NOTIFY_EXCHANGE, REJECTED_QUEUE
from hub.transport import PROFILES

FUZZ = settings(max_examples=200, deadline=timedelta(seconds=2),
                suppress_health_check=[HealthCheck.too_slow])
FIELDS = {"sms": "phone", "email": "email", "push": "push_token"}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=30,
)
#: Bodies built to break a stage: deep nests, long numbers, lone surrogates, NULs.
poison = st.sampled_from([
    b"[" * 5000 + b"]" * 5000,
    b'{"id": "p", "n": ' + b"7" * 5000 + b"}",
    b'{"id": "\\ud800", "type": "case.received"}',
    b'{"id": "a\\u0000b", "type": "case.received"}',
    b'{"id": 1e999}',
    b"",
])


class WireChannel:
    """Encodes what the loop publishes as the broker connection would, and records
    every ack and reject."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []
        self.acks: list[tuple[int, bool]] = []
        self.rejects: list[int] = []

    def prepare_message(self, body: bytes, priority: Any, content_type: str,
                        content_encoding: str, headers: dict[str, Any],
                        properties: dict[str, Any]) -> dict[str, Any]:
        return {"body": body, "headers": headers, **properties}

    def basic_publish(self, message: dict[str, Any], *, exchange: str, routing_key: str,
                      mandatory: bool) -> None:
        dumps("sF", [message.get("message_id", ""), message["headers"]])  # raises if unfit
        self.published.append((exchange, routing_key, message["headers"]))

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        self.acks.append((tag, multiple))

    def basic_reject(self, tag: int, requeue: bool = True) -> None:
        assert not requeue
        self.rejects.append(tag)


def run(bodies: list[bytes]) -> tuple[WireChannel, Counter[int]]:
    router = Router(load_rules(), FIELDS, max_event_bytes=64 * 1024)
    loop = ConsumingLoop(None, PROFILES["amqp"], router)  # type: ignore[arg-type]
    channel = WireChannel()
    loop.channel = channel
    loop.publisher = ConfirmingPublisher(None, channel, confirms=False)
    for tag, body in enumerate(bodies, start=1):
        loop._dispatch(body, {"traceparent": "t"}, tag, False)
        loop._apply_settlements()
    settled: Counter[int] = Counter()
    acked_upto = 0
    for tag, multiple in channel.acks:
        assert multiple and tag > acked_upto
        settled.update(t for t in range(acked_upto + 1, tag + 1) if t not in channel.rejects)
        acked_upto = tag
    settled.update(channel.rejects)
    # Acks never pass over an unsettled tag; the last ones may wait for the next ack.
    settled.update(t for t in range(acked_upto + 1, len(bodies) + 1)
                   if t in loop._settled and t not in channel.rejects)
    return channel, settled


def assert_each_settled_once(bodies: list[bytes]) -> None:
    channel, settled = run(bodies)
    assert settled == Counter(range(1, len(bodies) + 1))
    # And settled by the router's own decision: routed, or rejected with a reason code
    # that names what is wrong with the input (not "internal", not a bare reject).
    assert channel.rejects == []
    for exchange, key, headers in channel.published:
        assert (exchange, key) == ("", REJECTED_QUEUE) or exchange == NOTIFY_EXCHANGE
        if key == REJECTED_QUEUE:
            assert headers["x-hub-reason-code"] not in ("", "internal")


@FUZZ
@given(st.lists(st.binary(max_size=200) | poison, min_size=1, max_size=8))
def test_arbitrary_bytes_are_each_settled_exactly_once(bodies: list[bytes]) -> None:
    assert_each_settled_once(bodies)


@FUZZ
@given(st.lists(json_values, min_size=1, max_size=8))
def test_arbitrary_json_is_each_settled_exactly_once(docs: list[Any]) -> None:
    assert_each_settled_once([json.dumps(d).encode() for d in docs])
