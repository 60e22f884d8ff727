"""NHN Cloud SMS API v3.0.

``POST {base_url}/sms/v3.0/appKeys/{app_key}/sender/sms`` for SMS and
``.../sender/mms`` (with a ``title``) for LMS, header ``X-Secret-Key``, body
``{"body", "sendNo", "recipientList": [{"recipientNo"}]}``. The answer is
``{"header": {"isSuccessful", "resultCode", "resultMessage"}, "body": {"data":
{"requestId", "sendResultList": [{"recipientNo", "resultCode", "resultMessage",
"recipientSeq"}]}}}``.

Outcomes: HTTP 401/403 or an appKey/secret result code → credentials; HTTP
429/5xx, a timeout or the codes in :data:`TRANSIENT_CODES` → transient; a
refused request or a non-zero result for the recipient (invalid or unregistered
number, unregistered sender number) → permanent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from channels.base import (
    CredentialsError,
    Message,
    PermanentError,
    Receipt,
    SendError,
    TransientError,
)
from channels.httpapi import HttpProvider, digits, error_for_status, scrub
from channels.sms.sizing import SMS, lms_subject, message_kind

#: NHN Cloud's common result codes for a bad appKey / secret key / inactive service.
CREDENTIAL_CODES = frozenset({-1000, -1001, -1002, -1004, -5002, -5003})
#: Result codes that say "not now" rather than "never".
TRANSIENT_CODES = frozenset({-1005, -9997, -9998, -9999})


def nhn_error(provider: str, code: Any, message: Any) -> SendError:
    """The error an NHN Cloud ``header.resultCode`` means."""
    try:
        number = int(code)
    except (TypeError, ValueError):
        number = 0
    text = scrub(message or "request refused")
    if number in CREDENTIAL_CODES:
        return CredentialsError(text, provider=provider, code=code)
    if number in TRANSIENT_CODES:
        return TransientError(text, provider=provider, code=code)
    return PermanentError(text, provider=provider, code=code)


def nhn_header(provider: str, response: requests.Response, body: Mapping[str, Any]) -> None:
    """Raise for an HTTP failure or ``header.isSuccessful == false``."""
    header = body.get("header") if isinstance(body.get("header"), Mapping) else None
    if response.status_code >= 400:
        code = header.get("resultCode") if header else None
        message = header.get("resultMessage") if header else response.reason
        raise error_for_status(
            response.status_code, provider=provider, code=code, message=str(message)
        )
    if header is None:
        raise TransientError(
            f"unexpected answer (HTTP {response.status_code}, no header)",
            provider=provider,
            code=response.status_code,
        )
    if not header.get("isSuccessful"):
        raise nhn_error(provider, header.get("resultCode"), header.get("resultMessage"))


class NhnCloudSms(HttpProvider):
    """SMS and LMS through NHN Cloud SMS v3.0.

    Settings: ``app_key``, ``secret_key`` (secret: ``MINWON__PROVIDERS__NHN__SECRET_KEY``),
    ``sender`` (fallback sender number when the organisation has none), and the
    common ``base_url``, ``pool_size``, ``connect_timeout``, ``read_timeout``.
    """

    name: ClassVar[str] = "nhn"
    default_base_url: ClassVar[str] = "https://api-sms.cloud.toast.com"

    def deliver(self, message: Message) -> Receipt:
        app_key = self.require("app_key")
        secret = self.require("secret_key")
        sender = self.sender_for(message, "sender number")
        kind = message_kind(message)
        payload: dict[str, Any] = {
            "body": message.body,
            "sendNo": digits(str(sender)),
            "recipientList": [{"recipientNo": digits(message.to)}],
            "senderGroupingKey": message.notification_id,
        }
        if kind == SMS:
            path = f"/sms/v3.0/appKeys/{app_key}/sender/sms"
        else:
            path = f"/sms/v3.0/appKeys/{app_key}/sender/mms"
            payload["title"] = lms_subject(message)
        response = self.post_json(path, payload, {"X-Secret-Key": secret})
        body = self.json_body(response)
        nhn_header(self.name, response, body)
        data = (body.get("body") or {}).get("data") or {}
        results = data.get("sendResultList") or []
        result = results[0] if results else {}
        code = result.get("resultCode", 0)
        if code not in (0, "0", None):
            raise nhn_error(self.name, code, result.get("resultMessage"))
        request_id = data.get("requestId")
        return Receipt(
            self.name,
            str(request_id) if request_id else None,
            {"kind": kind, "recipient_seq": result.get("recipientSeq")},
        )
