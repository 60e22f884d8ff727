"""Push notifications through Amazon SNS mobile push (platform endpoints).

The recipient's ``push_token`` is the SNS platform endpoint ARN of the device
(``arn:aws:sns:<region>:<account>:endpoint/GCM/<app>/<id>``), which the app's
back end registers with ``CreatePlatformEndpoint``. When ``platform_application_arn``
is set, a raw device token is accepted too: the provider registers it
(``CreatePlatformEndpoint`` is idempotent for a token) and remembers the ARN.

One ``Publish(TargetArn=..., MessageStructure="json")`` carries the notice for
every platform: FCM (``GCM``), APNs (``APNS`` and ``APNS_SANDBOX``) and the default
text. The title is the notice's subject; ``data`` carries the notification id, the
event type, the case id and the case URL for the app to open.

Why SNS rather than FCM HTTP v1 directly: see docs/providers.md (one AWS account
already serves SMS and e-mail, SNS fans out to FCM and APNs alike, and the tests
can run it end to end against ``moto_server``; FCM needs Google OAuth service
account tokens that no local server can stand in for).

Outcomes: ``EndpointDisabled`` (FCM/APNs said the token is gone), ``NotFound``,
``InvalidParameter`` → permanent; ``PlatformApplicationDisabled`` (FCM/APNs
rejected the platform credentials), ``AuthorizationError`` → credentials;
throttling, 5xx, timeouts → transient.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from channels.awsapi import AwsProvider
from channels.base import JobContext, Message, PermanentError, Receipt, SendError

_MAX_CACHED_ENDPOINTS = 100_000


def push_payload(message: Message) -> str:
    """The ``MessageStructure="json"`` document for every platform."""
    title = message.subject or ""
    data = {
        "notification_id": message.notification_id,
        "event_type": message.event_type,
        "case_id": message.case_id or "",
    }
    url = message.extra.get("url") if message.extra else None
    if url:
        data["url"] = str(url)
    gcm = {"notification": {"title": title, "body": message.body}, "data": data}
    apns = {"aps": {"alert": {"title": title, "body": message.body}, "sound": "default"}, **data}
    return json.dumps(
        {
            "default": message.body,
            "GCM": json.dumps(gcm, ensure_ascii=False),
            "APNS": json.dumps(apns, ensure_ascii=False),
            "APNS_SANDBOX": json.dumps(apns, ensure_ascii=False),
        },
        ensure_ascii=False,
    )


class SnsPush(AwsProvider):
    """Settings: the AWS ones (see :mod:`channels.awsapi`), plus
    ``platform_application_arn`` (optional: accept raw device tokens)."""

    name: ClassVar[str] = "sns"
    service: ClassVar[str] = "sns"

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self._endpoints: dict[str, str] = {}
        self._lock = threading.Lock()

    def prepare(self, message: Message, context: JobContext) -> Message:
        """The case's link (the app opens the case when the notification is tapped)."""
        url = context.case.get("url")
        if not url or (message.extra and message.extra.get("url")):
            return message
        return message.with_extra(url=str(url))

    def endpoint_arn(self, token: str) -> str:
        """The endpoint ARN for ``token`` (an ARN already, or a registered raw token)."""
        if token.startswith("arn:"):
            return token
        application = self.settings.get("platform_application_arn")
        if not application:
            raise PermanentError(
                "push token is not an SNS endpoint ARN", provider=self.name, code="INVALID-TOKEN"
            )
        with self._lock:
            cached = self._endpoints.get(token)
        if cached:
            return cached
        answer = self.call(
            "create_platform_endpoint", PlatformApplicationArn=str(application), Token=token
        )
        arn = str(answer["EndpointArn"])
        with self._lock:
            if len(self._endpoints) >= _MAX_CACHED_ENDPOINTS:
                self._endpoints.clear()
            self._endpoints[token] = arn
        return arn

    def deliver(self, message: Message) -> Receipt:
        answer = self.call(
            "publish",
            TargetArn=self.endpoint_arn(message.to),
            Message=push_payload(message),
            MessageStructure="json",
        )
        return Receipt(self.name, answer.get("MessageId"))

    def check(self, senders: Sequence[str]) -> str:
        """``providers check``: the platform application (enabled) or, without one,
        that the keys may list platform applications."""
        application = self.settings.get("platform_application_arn")
        try:
            if application:
                found = self.call("get_platform_application_attributes",
                                  PlatformApplicationArn=str(application))
                if (found.get("Attributes") or {}).get("Enabled") == "false":
                    return "platform application is disabled (FCM/APNs refused its credentials)"
            else:
                self.call("list_platform_applications")
        except SendError as exc:
            return exc.reason
        return f"OK (region {self.region})"
