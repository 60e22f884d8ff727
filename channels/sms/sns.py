"""SMS through Amazon SNS ``Publish(PhoneNumber=...)``.

The number goes out in E.164 (``010-1234-5678`` → ``+821012345678``, parsed with
``phonenumbers`` for region ``KR``). Korean carriers do not show alphanumeric
sender IDs; set ``origination_number`` when the account has a number of its own.

**Region.** SNS sends SMS from a list of regions that does not include Seoul
(``ap-northeast-2``): the client of this provider uses its own ``sms_region``
setting, default Tokyo (``ap-northeast-1``), which sends SMS to Korea, whatever the
``region`` of the other AWS providers.

**Segments.** SNS has no LMS: a body that is not GSM 7-bit text (any Hangul) goes as
UCS-2, 70 characters in one segment, 67 a segment once split; every segment is
billed and may arrive apart. A body longer than one segment is sent, and a warning
(length and segment count only: no text) is logged and counted in
``minwon_sms_multipart_total``; the receipt carries ``segments``.

Outcomes: :data:`~channels.awsapi.SNS_CODES`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import phonenumbers

from channels.awsapi import AwsProvider
from channels.base import CredentialsError, Message, Receipt, SendError
from hub import metrics

log = logging.getLogger(__name__)

#: SNS's SMS region used when ``sms_region`` is not set: Tokyo sends SMS to Korea.
DEFAULT_SMS_REGION = "ap-northeast-1"
#: Regions where SNS supports SMS messaging (SNS Developer Guide, "Supported Regions
#: and countries"); Seoul is not among them.
SMS_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-northeast-1", "ap-northeast-3", "ca-central-1", "ca-west-1", "eu-central-1",
    "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2",
    "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "sa-east-1",
    "us-gov-west-1",
})

_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def segments(text: str) -> int:
    """How many SMS segments ``text`` takes: GSM 7-bit 160 (153 when split), else UCS-2
    70 (67 when split), counting UTF-16 code units."""
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in text):
        units = sum(2 if c in _GSM7_EXTENDED else 1 for c in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    if units <= single:
        return 1
    return -(-units // part)


def e164(phone: str, region: str = "KR") -> str:
    """``phone`` in E.164, or unchanged when it does not parse (SNS then refuses
    it, permanently)."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class SnsSms(AwsProvider):
    """Settings: the AWS ones (see :mod:`channels.awsapi`), plus ``sms_region`` (the
    region SMS go out from, default ``ap-northeast-1``), ``sms_type``
    (``Transactional``, the default, or ``Promotional``), ``origination_number``
    and ``default_region`` for parsing national numbers (``KR``)."""

    name: ClassVar[str] = "sns"
    service: ClassVar[str] = "sns"

    def region_setting(self) -> str:
        return str(self.settings.get("sms_region") or DEFAULT_SMS_REGION)

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
        parts = segments(message.body)
        if parts > 1:
            metrics.child(metrics.SMS_MULTIPART, self.name).inc()
            log.warning(
                "SMS body exceeds one SNS segment; sent as a multi-part SMS",
                extra={"notification_id": message.notification_id, "provider": self.name,
                       "length": len(message.body), "segments": parts},
            )
        answer = self.call(
            "publish",
            PhoneNumber=e164(message.to, str(self.settings.get("default_region", "KR"))),
            Message=message.body,
            MessageAttributes=attributes,
        )
        return Receipt(self.name, answer.get("MessageId"), {"segments": parts})

    def check(self, senders: Sequence[str]) -> str:
        """``providers check``: the SMS region, ``GetSMSAttributes``, the SMS sandbox."""
        if self.region not in SMS_REGIONS:
            return (f"region {self.region} does not send SMS through SNS "
                    f"(set sms_region, e.g. {DEFAULT_SMS_REGION})")
        try:
            attributes = self.call("get_sms_attributes").get("attributes") or {}
        except SendError as exc:
            return exc.reason
        try:
            sandbox = self.call("get_sms_sandbox_account_status").get("IsInSandbox")
        except CredentialsError as exc:
            return exc.reason
        except SendError as exc:
            sandbox, note = None, f"; sandbox status unanswered: {exc.code}"
        else:
            note = ""
        if sandbox:
            return (f"the account is in the SMS sandbox in {self.region}: only verified "
                    "numbers receive SMS")
        default_type = attributes.get("DefaultSMSType")
        kind = f", default type {default_type}" if default_type else ""
        return f"OK (region {self.region}{kind}{note})"
