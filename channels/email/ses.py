"""E-mail through Amazon SES, API v2 ``SendEmail`` with simple content.

SES builds the MIME message itself from a UTF-8 subject, text and HTML part; the
from- and to-addresses carry their Korean display names as RFC 2047 encoded-words
(SES requires non-ASCII display names encoded so). The from-address must be a
verified SES identity (an address or its domain).

Outcomes: ``MessageRejected``, ``MailFromDomainNotVerifiedException``,
``BadRequestException`` → permanent; ``TooManyRequestsException``,
``LimitExceededException``, 5xx, timeouts → transient; ``AccountSuspendedException``,
``SendingPausedException``, ``InvalidClientTokenId``, 401/403 → credentials (the
account cannot send; the chain fails over and an alert fires).
"""

from __future__ import annotations

from email.utils import formataddr
from typing import Any, ClassVar

from channels.awsapi import AwsProvider
from channels.base import Message, Receipt
from channels.email.mime import address


def header_address(display_name: str | None, addr_spec: str) -> str:
    """``"홍길동" <hong@example.kr>`` with the name as an RFC 2047 encoded-word."""
    return formataddr((display_name or "", addr_spec), charset="utf-8")


class SesEmail(AwsProvider):
    """Settings: the AWS ones (see :mod:`channels.awsapi`; secret:
    ``MINWON__PROVIDERS__SES__AWS_SECRET_ACCESS_KEY``), plus ``sender`` /
    ``sender_name`` (fallback from-address and display name) and
    ``configuration_set`` (an SES configuration set for delivery events)."""

    name: ClassVar[str] = "ses"
    service: ClassVar[str] = "sesv2"

    def deliver(self, message: Message) -> Receipt:
        sender = self.sender_for(message, "from-address")
        # Validate both addresses locally: a malformed one is permanent, no call needed.
        from_addr = address(None, str(sender), provider=self.name)
        to_addr = address(None, message.to, provider=self.name)
        body: dict[str, Any] = {"Text": {"Data": message.body, "Charset": "UTF-8"}}
        if message.html:
            body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
        params: dict[str, Any] = {
            "FromEmailAddress": header_address(
                message.sender_name or self.settings.get("sender_name"), from_addr.addr_spec
            ),
            "Destination": {
                "ToAddresses": [header_address(message.recipient_name, to_addr.addr_spec)]
            },
            "Content": {
                "Simple": {
                    "Subject": {"Data": message.subject or "", "Charset": "UTF-8"},
                    "Body": body,
                }
            },
            "EmailTags": [{"Name": "notification_id", "Value": message.notification_id}],
        }
        configuration_set = self.settings.get("configuration_set")
        if configuration_set:
            params["ConfigurationSetName"] = str(configuration_set)
        answer = self.call("send_email", **params)
        return Receipt(self.name, answer.get("MessageId"))
