"""Naver Cloud Platform SENS, SMS API v2.

``POST {base_url}/sms/v2/services/{service_id}/messages`` with the headers
``x-ncp-apigw-timestamp`` (milliseconds since the epoch), ``x-ncp-iam-access-key``
and ``x-ncp-apigw-signature-v2``: the Base64 HMAC-SHA256, keyed with the secret
key, of ``"POST {path}\\n{timestamp}\\n{access_key}"``. Body ``{"type": "SMS"|"LMS",
"contentType": "COMM", "countryCode": "82", "from", "subject"?, "content",
"messages": [{"to"}]}``; the answer is 202 with ``{"requestId", "statusCode":
"202", "statusName": "success"}``.

Outcomes: 401/403 → credentials; 429/5xx/timeouts → transient; other 4xx (an
invalid number, an unregistered sender number) → permanent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, ClassVar

from channels.base import Message, Receipt, TransientError
from channels.httpapi import HttpProvider, digits, error_for_status
from channels.sms.sizing import LMS, lms_subject, message_kind


def sens_signature(secret_key: str, method: str, path: str, timestamp: str, access_key: str) -> str:
    """The ``x-ncp-apigw-signature-v2`` header value (path with its query string)."""
    text = f"{method} {path}\n{timestamp}\n{access_key}"
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class NaverSens(HttpProvider):
    """SMS and LMS through Naver Cloud SENS v2.

    Settings: ``service_id``, ``access_key``, ``secret_key`` (secret:
    ``MINWON__PROVIDERS__SENS__SECRET_KEY``), ``sender`` (fallback sender number),
    ``country_code`` (default ``82``), and the common ``base_url``, ``pool_size``,
    ``connect_timeout``, ``read_timeout``.
    """

    name: ClassVar[str] = "sens"
    default_base_url: ClassVar[str] = "https://sens.apigw.ntruss.com"

    def deliver(self, message: Message) -> Receipt:
        service_id = self.require("service_id")
        access_key = self.require("access_key")
        secret_key = self.require("secret_key")
        sender = self.sender_for(message, "sender number")
        kind = message_kind(message)
        payload: dict[str, Any] = {
            "type": kind,
            "contentType": "COMM",
            "countryCode": str(self.settings.get("country_code", "82")),
            "from": digits(str(sender)),
            "content": message.body,
            "messages": [{"to": digits(message.to)}],
        }
        if kind == LMS:
            payload["subject"] = lms_subject(message)
        path = f"/sms/v2/services/{service_id}/messages"
        timestamp = str(int(time.time() * 1000))
        headers = {
            "x-ncp-apigw-timestamp": timestamp,
            "x-ncp-iam-access-key": access_key,
            "x-ncp-apigw-signature-v2": sens_signature(
                secret_key, "POST", path, timestamp, access_key
            ),
        }
        response = self.post_json(path, payload, headers)
        body = self.json_body(response)
        if response.status_code >= 400:
            raw_error = body.get("error")
            error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
            code = error.get("errorCode") or body.get("status") or response.status_code
            text = error.get("message") or body.get("errorMessage") or response.reason
            details = error.get("details")
            raise error_for_status(
                response.status_code,
                provider=self.name,
                code=code,
                message=f"{text}: {details}" if details else str(text),
            )
        if str(body.get("statusCode", response.status_code)) not in ("202", "200"):
            raise TransientError(
                f"unexpected status {body.get('statusCode')!r} {body.get('statusName')!r}",
                provider=self.name,
                code=body.get("statusCode"),
            )
        request_id = body.get("requestId")
        return Receipt(self.name, str(request_id) if request_id else None, {"kind": kind})
