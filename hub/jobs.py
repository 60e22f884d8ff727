"""The notification job: what the router puts on ``hub.notify.<channel>``.

One job per (event, recipient, channel). Its ``notification_id`` is derived from
those three, so the same event published twice yields the same ids: that is the key
the ledger uses to send each notice once.

Headers of the hub's own (never ``x-death``, which the broker rewrites):

* ``x-hub-attempt``: the attempt this delivery is (1 for the first send).
* ``x-hub-not-before``: ISO time before which the job must not be sent (delays,
  quiet hours); the worker sends it back through a delay tier until then.
* ``x-hub-reason``: why a job was parked on ``hub.dead`` (or an event rejected).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ATTEMPT = "x-hub-attempt"
NOT_BEFORE = "x-hub-not-before"
REASON = "x-hub-reason"
CHANNEL = "x-hub-channel"
FAILED_AT = "x-hub-failed-at"
ORIGIN = "x-hub-origin"  # the queue a parked message came from
REASON_CODE = "x-hub-reason-code"  # the stable code of x-hub-reason (a metric label)
REJECTED_AT = "x-hub-rejected-at"  # when the router rejected an event
DEFERRED_FLAG = "x-hub-deferred"  # the deferral was recorded (status event sent once)
PUBLISH_ID = "x-hub-publish-id"  # matches a returned mandatory publish to its publish

def header_time(value: Any) -> datetime | None:
    """An ISO 8601 time from a header (``x-hub-not-before``) or a CloudEvent's ``time``,
    timezone-aware with the offset it was written with (UTC when it had none); None
    when absent or unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_NAMESPACE = uuid.UUID("6f1c3e0a-6a57-4d0b-9a39-6d696e776f6e")  # fixed: ids must stay stable


def notification_id(event_id: str, recipient_key: str, channel: str) -> str:
    """Stable id of the notice for (event, recipient, channel)."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_id}\x1f{recipient_key}\x1f{channel}"))


@dataclass(frozen=True, slots=True)
class Recipient:
    role: str  # citizen | officer | supervisor | employee | ...
    key: str  # stable within the event: "citizen", "officer", "supervisor:2", ...
    name: str | None
    address: str  # the address for this job's channel
    fields: Mapping[str, Any] = field(default_factory=dict)  # the recipient's own data

    def as_context(self, address_field: str) -> dict[str, Any]:
        ctx = dict(self.fields)
        ctx.update({"name": self.name, "role": self.role, address_field: self.address})
        ctx["address"] = self.address
        return ctx


@dataclass(frozen=True, slots=True)
class Job:
    notification_id: str
    event_id: str
    event_type: str
    case_id: str | None
    org: str
    channel: str
    template: str  # the template folder (event type, unless a rule names another)
    critical: bool
    recipient: Recipient
    event: Mapping[str, Any]  # the CloudEvents envelope without ``data``
    data: Mapping[str, Any]
    rule: str = ""  # the rule's name, for traces
    quiet_hours: bool = True
    required: bool = False  # the law requires this notice: a 수신거부 does not stop it

    def encode(self) -> bytes:
        r = self.recipient
        obj = {
            "notification_id": self.notification_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "case_id": self.case_id,
            "org": self.org,
            "channel": self.channel,
            "template": self.template,
            "critical": self.critical,
            "recipient": {"role": r.role, "key": r.key, "name": r.name, "address": r.address,
                          "fields": r.fields},
            "event": self.event,
            "data": self.data,
            "rule": self.rule,
            "quiet_hours": self.quiet_hours,
            "required": self.required,
        }
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, body: bytes | str) -> Job:
        raw = json.loads(body)
        rec = raw.pop("recipient")
        return cls(recipient=Recipient(**rec), **raw)
