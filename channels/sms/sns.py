"""SMS through Amazon SNS ``Publish(PhoneNumber=...)``.

The number goes out in E.164 (``010-1234-5678`` → ``+821012345678``, parsed with
``phonenumbers`` for region ``KR``). SNS chooses the segmenting itself, so ``kind``
does not pick an endpoint here and LMS subjects are not sent. Korean carriers do
not show alphanumeric sender IDs; set ``origination_number`` when the account has
a number of its own.

Outcomes: ``InvalidParameter`` (not a phone number), ``OptedOut`` → permanent;
``Throttled``, 5xx, timeouts → transient; ``AuthorizationError``,
``InvalidClientTokenId``, 401/403 → credentials.
"""

from __future__ import annotations

from typing import Any, ClassVar

import phonenumbers

from channels.awsapi import AwsProvider
from channels.base import Message, Receipt


def e164(phone: str, region: str = "KR") -> str:
    """``phone`` in E.164, or unchanged when it does not parse (SNS then refuses
    it, permanently)."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class SnsSms(AwsProvider):
    """Settings: the AWS ones (see :mod:`channels.awsapi`), plus ``sms_type``
    (``Transactional``, the default, or ``Promotional``), ``origination_number``
    and ``default_region`` for parsing national numbers (``KR``)."""

    name: ClassVar[str] = "sns"
    service: ClassVar[str] = "sns"

    def deliver(self, message: Message) -> Receipt:
        attributes: dict[str, Any] = {
            "AWS.SNS.SMS.SMSType": {
                "DataType": "String",
                "StringValue": str(self.settings.get("sms_type", "Transactional")),
            }
        }
        origination = self.settings.get("origination_number")
        if origination:
            attributes["AWS.MM.SMS.OriginationNumber"] = {
                "DataType": "String",
                "StringValue": str(origination),
            }
        answer = self.call(
            "publish",
            PhoneNumber=e164(message.to, str(self.settings.get("default_region", "KR"))),
            Message=message.body,
            MessageAttributes=attributes,
        )
        return Receipt(self.name, answer.get("MessageId"))
