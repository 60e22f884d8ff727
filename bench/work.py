"""The hub's work per event and per notice, for the peers that do it in another
framework (:mod:`bench.celery_equal`, :mod:`bench.pikapeer`): built from the hub's
own parts (:class:`hub.app.Hub` as the factory: ledger, template store, policy,
provider chain, rules), so a peer does exactly the calls the hub does.

* :meth:`Work.route`: one event in, the jobs to publish (the hub's
  :meth:`~hub.router.Router.route`, which notes the event in the ledger);
* :meth:`Work.notice`: one job in, for a notice that is sent: ``ledger.claim``, the
  delivery policy, the render, the provider chain with its in-process retries,
  ``ledger.record(..., "sent")``; returns the status event to publish.

Whoever changes the ledger's or the worker's calls keeps this module in step (it is
the peers' copy of the hub's per-notice calls: same calls, same order).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from channels import get_channel
from channels.base import JobContext, Message
from hub.consumer import Publish
from hub.jobs import Job
from hub.ledger import ClaimState
from hub.status import status_event
from hub.templates.context import context_from_event


class Work:
    def __init__(self, config: Any = None) -> None:
        from hub.app import Hub
        from hub.config import load_config
        from hub.retry import RetryPolicy

        self.config = config if config is not None else load_config()
        self.hub = Hub(self.config)
        self.ledger = self.hub.ledger
        self.store = self.hub.store
        self.policy = self.hub.policy
        self.retry = RetryPolicy.from_config(self.config, self.hub.topology)
        self._router = self.hub.router()
        self._senders: dict[str, Any] = {}
        self._lock = threading.Lock()

    def route(self, body: bytes) -> list[Publish]:
        publishes: list[Publish] = self._router.route(body)
        return publishes

    def sender(self, channel: str) -> Any:
        with self._lock:
            if channel not in self._senders:
                from hub.app import build_sender

                self._senders[channel] = build_sender(channel, self.config)
            return self._senders[channel]

    def notice(self, body: bytes | str) -> list[Publish]:
        job = Job.decode(body)
        channel = job.channel
        attempt = 1
        claim = self.ledger.claim(job, attempt)
        if claim.state is not ClaimState.NEW:
            return []
        # the claim's fence token, where the ledger has one (issue 11): the worker passes
        # it to every record of this claim
        token = getattr(claim, "token", None)
        fence: dict[str, Any] = {"token": token} if token else {}
        now = datetime.now(UTC)
        if self.policy is not None:
            decision = self.policy.decide(job, now)
            if decision.action != "send":
                self.ledger.record(job, "skipped", attempt=attempt, reason=decision.reason,
                                   **fence)
                return [status_event(job, "skipped", attempt=attempt, reason=decision.reason)]
            self.policy.acquire(job.org, channel)
        org = self.config.org(job.org)
        context = context_from_event({**job.event, "data": job.data},
                                     job.recipient.as_context(get_channel(channel).address_field),
                                     org)
        rendered = self.store.render(job.template, channel, job.org, context)
        spec = get_channel(channel)
        message = Message(
            notification_id=job.notification_id, event_id=job.event_id,
            event_type=job.event_type, case_id=job.case_id, org=job.org, channel=channel,
            to=job.recipient.address, body=rendered.body, subject=rendered.subject,
            html=rendered.html, kind=rendered.kind,
            sender=org.get(spec.sender_field) if spec.sender_field else None,
            sender_name=org.get("email_from_name") or org.get("name"),
            recipient_name=job.recipient.name, template=rendered.template,
            template_version=rendered.version, attempt=attempt,
        )
        provider = self.sender(channel)
        message = provider.prepare(message, JobContext(data=job.data, org=org))
        receipt = self.retry.call(lambda: provider.send(message))
        self.ledger.record(job, "sent", attempt=attempt, provider=receipt.provider,
                           message_id=receipt.message_id, template_version=rendered.version,
                           **fence)
        return [status_event(job, "sent", attempt=attempt, provider=receipt.provider,
                             provider_message_id=receipt.message_id,
                             template_version=rendered.version)]
