"""Naver Cloud Platform SENS, SMS API v2.

``POST {base_url}/sms/v2/services/{service_id}/messages`` with the headers
``x-ncp-apigw-timestamp`` (milliseconds since the epoch), ``x-ncp-iam-access-key``
and ``x-ncp-apigw-signature-v2``: the Base64 HMAC-SHA256, keyed with the secret
key, of ``"{METHOD} {path and query}\\n{timestamp}\\n{access_key}"``. Body ``{"type":
"SMS"|"LMS", "contentType": "COMM", "countryCode": "82", "from", "subject"?,
"content", "messages": [{"to"}]}``; the answer is 202 with ``{"requestId",
"statusCode": "202", "statusName": "success"}``: only 202 means accepted.

SENS takes no key of ours with a message, so the request id of every accepted
message goes to a local :class:`~channels.sentrecord.SentRecord`, and
:meth:`NaverSens.lookup` asks SENS about that request id
(``GET .../messages?requestId=``).

Outcomes: :data:`SENS_CODES`, by HTTP status and the API gateway's ``errorCode``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import requests

from channels.base import (
    CredentialsError,
    LookupResult,
    Message,
    Receipt,
    SendError,
    TransientError,
)
from channels.httpapi import HttpProvider, digits, scrub
from channels.results import CREDENTIALS, PERMANENT, SENT, TRANSIENT, CodeTable
from channels.sentrecord import SentRecord
from channels.sms.sizing import LMS, lms_subject, message_kind

DEFAULT_BASE_URL = "https://sens.apigw.ntruss.com"
KST = ZoneInfo("Asia/Seoul")

#: SENS answers by HTTP status; the API gateway adds ``error.errorCode``. Keys are
#: ``status/errorCode``, ``status`` alone, and ``400 from`` for a 400 whose message
#: names the sender number (``from``), which SENS refuses when it is not registered.
SENS_CODES = CodeTable(
    "Naver Cloud SENS SMS v2",
    "Ncloud API docs: SENS SMS API (`ai-application-service-sens-smsv2`, send: 202, 400, "
    "401, 403, 404, 429, 500) and API Gateway error handling (`api-call-lgc-errorhandling`)",
    [
        ("202", SENT, "Accepted (요청 완료); body statusCode \"202\""),
        ("400/100", CREDENTIALS, "Bad Request Exception (protocol, encoding: our request)"),
        ("400 from", CREDENTIALS, "Bad Request naming the `from` number: unregistered sender"),
        ("400", PERMANENT, "Bad Request about the message (recipient, content)"),
        ("401/200", CREDENTIALS, "Authentication Failed"),
        ("401/210", CREDENTIALS, "Permission Denied"),
        ("401", CREDENTIALS, "Unauthorized"),
        ("403", CREDENTIALS, "Forbidden"),
        ("404/300", CREDENTIALS, "Not Found (wrong path or serviceId)"),
        ("404", CREDENTIALS, "Not Found (wrong path or serviceId)"),
        ("413/430", PERMANENT, "Request Entity Too Large"),
        ("429/400", CREDENTIALS, "Quota Exceeded (our account's quota)"),
        ("429/410", TRANSIENT, "Throttle Limited"),
        ("429/420", TRANSIENT, "Rate Limited"),
        ("429", TRANSIENT, "Too Many Requests"),
        ("500/900", TRANSIENT, "Unexpected Error"),
        ("500", TRANSIENT, "Internal Server Error"),
        ("503/500", TRANSIENT, "Endpoint Error"),
        ("504/510", TRANSIENT, "Endpoint Timeout"),
    ],
    unlisted="Statuses not listed: 5xx, 408, 425, 429 transient; other 4xx credentials "
    "(our request).",
)

_SENDER_WORDS = re.compile(r"\bfrom\b|발신|calling ?number|sender", re.IGNORECASE)


def sens_signature(secret_key: str, method: str, path: str, timestamp: str, access_key: str) -> str:
    """The ``x-ncp-apigw-signature-v2`` header value (path with its query string)."""
    text = f"{method} {path}\n{timestamp}\n{access_key}"
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sens_error(provider: str, status: int, body: Mapping[str, Any], reason: str) -> SendError:
    """The error a non-202 SENS answer means (:data:`SENS_CODES`)."""
    raw_error = body.get("error")
    error: Mapping[str, Any] = raw_error if isinstance(raw_error, Mapping) else {}
    gateway_code = error.get("errorCode")
    text = str(error.get("message") or body.get("errorMessage") or body.get("statusName")
               or reason or "")
    details = error.get("details")
    if details:
        text = f"{text}: {details}"
    keys = [f"{status}/{gateway_code}"] if gateway_code is not None else []
    if status == 400 and _SENDER_WORDS.search(text):
        keys.append("400 from")
    keys.append(str(status))
    for key in keys:
        if SENS_CODES.row(key) is not None:
            found = SENS_CODES.error(provider, key, scrub(text))
            if found is not None:
                return found
    if status >= 500 or status in (408, 425, 429):
        return TransientError(scrub(text), provider=provider, code=status)
    return CredentialsError(scrub(text) or "unexpected HTTP status", provider=provider,
                            code=status)  # an unlisted 4xx: our request


class NaverSens(HttpProvider):
    """SMS and LMS through Naver Cloud SENS v2.

    Settings: ``service_id``, ``access_key``, ``secret_key`` (secret:
    ``MINWON__PROVIDERS__SENS__SECRET_KEY``), ``sender`` (fallback sender number),
    ``country_code`` (default ``82``), ``record_dir`` (the local record of accepted
    request ids, default ``records``), and the common ``base_url``, ``pool_size``,
    ``connect_timeout``, ``read_timeout``.
    """

    name: ClassVar[str] = "sens"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    supports_lookup: ClassVar[bool] = True
    codes: ClassVar[CodeTable] = SENS_CODES

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self.record = SentRecord.for_provider(self.settings, self.name)

    def _signed(self, method: str, path: str) -> dict[str, str]:
        access_key = self.require("access_key")
        secret_key = self.require("secret_key")
        timestamp = str(int(time.time() * 1000))
        return {
            "x-ncp-apigw-timestamp": timestamp,
            "x-ncp-iam-access-key": access_key,
            "x-ncp-apigw-signature-v2": sens_signature(
                secret_key, method, path, timestamp, access_key
            ),
        }

    def _get(self, path: str, query: Mapping[str, Any]) -> requests.Response:
        full = f"{path}?{urlencode(query)}" if query else path
        return self._request("GET", full, self._signed("GET", full))

    def deliver(self, message: Message) -> Receipt:
        service_id = self.require("service_id")
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
        response = self.post_json(path, payload, self._signed("POST", path))
        body = self.json_body(response)
        if response.status_code != 202 or str(body.get("statusCode", "202")) != "202":
            if response.status_code < 300:
                raise TransientError(
                    f"unexpected answer: HTTP {response.status_code}, statusCode "
                    f"{body.get('statusCode')!r} {scrub(body.get('statusName'))!r}",
                    provider=self.name,
                    code=body.get("statusCode") or response.status_code,
                )
            raise sens_error(self.name, response.status_code, body, response.reason)
        request_id = body.get("requestId")
        if request_id:
            self.record.add(message.notification_id, str(request_id))
        return Receipt(self.name, str(request_id) if request_id else None, {"kind": kind})

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        """The request id recorded for ``notification_id``, confirmed by SENS."""
        request_id = self.record.find(notification_id, sent_after)
        if request_id is None:
            return None  # SENS cannot be searched by our id: cannot tell
        # SENS answered 202 for it: the message was accepted whatever the list says now;
        # SENS's own view of it is added for operators when it answers.
        detail: dict[str, Any] = {"source": "local record"}
        try:
            service_id = self.require("service_id")
            response = self._get(f"/sms/v2/services/{service_id}/messages",
                                 {"requestId": request_id})
        except SendError as exc:
            detail["sens"] = exc.reason
            return LookupResult(True, self.name, request_id, detail)
        body = self.json_body(response)
        detail["status_code"] = response.status_code
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        if response.status_code == 200 and messages:
            first = messages[0] if isinstance(messages[0], Mapping) else {}
            detail.update(status=first.get("status"), status_name=first.get("statusName"))
        return LookupResult(True, self.name, request_id, detail)

    def check(self, senders: Sequence[str]) -> str:
        """``providers check``: a signed GET of the last minute's messages."""
        service_id = self.require("service_id")
        now = datetime.now(KST)
        response = self._get(
            f"/sms/v2/services/{service_id}/messages",
            {
                "requestStartTime": (now - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S"),
                "requestEndTime": now.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
        if response.status_code == 200:
            note = " (SENS lists no sender numbers: they are checked on the first send)"
            return "OK" + (note if senders else "")
        error = sens_error(self.name, response.status_code, self.json_body(response),
                           response.reason)
        return error.reason
