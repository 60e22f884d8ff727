"""Status events on ``minwon.notifications``: every outcome of every notice.

Upstream systems bind a queue to ``minwon.notifications`` (routing keys
``notification.sent``, ``notification.failed``, ``notification.dead``,
``notification.skipped``, ``notification.deferred``) to show a citizen's notice
history. Each is a CloudEvent; ``id`` is derived from (notice, status, attempt), so
a consumer can drop the rare duplicate. The recipient is masked. Schema:
docs/architecture.md, "Status events".
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hub.consumer import Publish
from hub.jobs import Job
from hub.masking import mask_address, mask_name
from hub.topology import STATUS_EXCHANGE

SOURCE = "/minwon-hub"
_NS = uuid.UUID("8a1d2f00-3c0e-4f5b-8c21-737461747573")


def status_event(
    job: Job,
    status: str,
    *,
    attempt: int,
    provider: str | None = None,
    provider_message_id: str | None = None,
    reason: str | None = None,
    template_version: str | None = None,
    retry_at: str | None = None,
    now: datetime | None = None,
) -> Publish:
    now = now or datetime.now(UTC)
    data: dict[str, Any] = {
        "notification_id": job.notification_id,
        "event_id": job.event_id,
        "event_type": job.event_type,
        "case_id": job.case_id,
        "org": job.org,
        "channel": job.channel,
        "recipient": {
            "role": job.recipient.role,
            "name": mask_name(job.recipient.name),
            "address": mask_address(job.channel, job.recipient.address),
        },
        "status": status,
        "attempt": attempt,
        "provider": provider,
        "provider_message_id": provider_message_id,
        "reason": reason,
        "template": job.template,
        "template_version": template_version,
        "retry_at": retry_at,
    }
    # (a notice may be deferred more than once in one attempt: each deferral is its own)
    key = f"{job.notification_id}|{status}|{attempt}"
    if status == "deferred":
        key += f"|{retry_at}"
    event_id = str(uuid.uuid5(_NS, key))
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": f"{SOURCE}/{job.channel}",
        "type": f"notification.{status}",
        "time": now.isoformat(timespec="milliseconds"),
        "subject": job.case_id,
        "datacontenttype": "application/json",
        "data": data,
    }
    return Publish(
        exchange=STATUS_EXCHANGE,
        routing_key=f"notification.{status}",
        body=json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode(),
        message_id=event_id,
        mandatory=False,  # nobody may be listening; that is fine
        content_type="application/cloudevents+json",
    )
