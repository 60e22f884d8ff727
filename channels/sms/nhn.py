"""NHN Cloud SMS API v3.0.

``POST {base_url}/sms/v3.0/appKeys/{app_key}/sender/sms`` for SMS and
``.../sender/mms`` (with a ``title``) for LMS, header ``X-Secret-Key``, body
``{"body", "sendNo", "senderGroupingKey", "recipientList": [{"recipientNo",
"recipientGroupingKey"}]}``. The answer is ``{"header": {"isSuccessful",
"resultCode", "resultMessage"}, "body": {"data": {"requestId", "statusCode",
"senderGroupingKey", "sendResultList": [{"recipientNo", "resultCode",
"resultMessage", "recipientSeq", "recipientGroupingKey"}]}}}``; ``statusCode`` is
1 (requesting), 2 (request completed) or 3 (request failed).

Both grouping keys are the notification id, so :meth:`NhnCloudSms.lookup` finds a
message the worker sent before it died: ``GET .../sender/sms`` and ``.../sender/mms``
with ``senderGroupingKey`` and a request-date range.

Outcomes: :data:`NHN_SMS_CODES` (the published result-code table) decides every
``resultCode``, in the header and per recipient; HTTP 401/403 → credentials;
HTTP 429/5xx and timeouts → transient.

Host: ``https://sms.api.nhncloudservice.com`` (NHN's documented domain since
2026-02-27; the old ``https://api-sms.cloud.toast.com`` still works through
``base_url``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import requests

from channels.base import LookupResult, Message, Receipt, TransientError
from channels.httpapi import HttpProvider, digits, error_for_status, scrub
from channels.results import CREDENTIALS, PERMANENT, SENT, TRANSIENT, CodeTable
from channels.sms.sizing import SMS, lms_subject, message_kind

KST = ZoneInfo("Asia/Seoul")
DEFAULT_BASE_URL = "https://sms.api.nhncloudservice.com"
OLD_BASE_URL = "https://api-sms.cloud.toast.com"

#: NHN Cloud SMS API v3.0 result codes (header and per recipient).
NHN_SMS_CODES = CodeTable(
    "NHN Cloud SMS v3.0",
    "TOAST-DOCS/SMS `en/error-code.md` (\"API Result Code\"), commit 4af1fe8, 2026-06-23",
    [
        (0, SENT, "Successful"),
        (4, CREDENTIALS, "Parameter validation failed (our request's shape)"),
        (-1000, CREDENTIALS, "Invalid appkey"),
        (-1001, CREDENTIALS, "Not exist appkey"),
        (-1002, CREDENTIALS, "Terminated appkey"),
        (-1003, CREDENTIALS, "Member not included in the project"),
        (-1004, CREDENTIALS, "Not allowed IP"),
        (-1005, CREDENTIALS, "Invalid search condition (look-ups)"),
        (-1006, CREDENTIALS, "Invalid delivery message format (messageType)"),
        (-1007, CREDENTIALS, "Invalid member"),
        (-1008, CREDENTIALS, "Blocked project"),
        (-2000, CREDENTIALS, "Invalid date format"),
        (-2001, PERMANENT, "Recipient is missing"),
        (-2002, CREDENTIALS, "Name of attached file is invalid"),
        (-2003, CREDENTIALS, "Extension of attached file is not jpg or jpeg"),
        (-2004, CREDENTIALS, "The attachment has expired or does not exist"),
        (-2005, CREDENTIALS, "Attached file is sized 300KB or more"),
        (-2006, CREDENTIALS, "Delivery type in template setting is not consistent"),
        (-2008, CREDENTIALS, "Request ID (requestId) is invalid (look-ups)"),
        (-2009, TRANSIENT, "Attached file is not properly uploaded due to server error"),
        (-2010, TRANSIENT, "Upload type of attachment is invalid (server error)"),
        (-2011, CREDENTIALS, "Required query parameters are missing (look-ups)"),
        (-2012, CREDENTIALS, "Detailed query parameter is invalid (look-ups)"),
        (-2014, PERMANENT, "Title or body is missing"),
        (-2015, PERMANENT, "Title or body exceed maximum byte"),
        (-2016, CREDENTIALS, "The number of recipients is over 1,000"),
        (-2017, TRANSIENT, "Failed to create excel"),
        (-2018, PERMANENT, "Recipient number is missing"),
        (-2019, PERMANENT, "Recipient number is invalid"),
        (-2021, TRANSIENT, "System error (failed in saving queue)"),
        (-2022, CREDENTIALS, "Request date and time is set earlier than the current time"),
        (-2023, PERMANENT, "Title or body includes characters that are not allowed (emojis)"),
        (-2024, PERMANENT, "International delivery is sent with LMS/MMS"),
        (-2044, PERMANENT, "Request is sent to unavailable country"),
        (-2045, CREDENTIALS, "International sending is blocked (by our service settings)"),
        (-2046, CREDENTIALS, "Sent to blocked country (by our service settings)"),
        (-2047, CREDENTIALS, "Exceeded the block limit"),
        (-2048, PERMANENT, "Exceeded the international message body limit"),
        (-2050, TRANSIENT, "Failed to convert to international delivery (not ready)"),
        (-2051, CREDENTIALS, "Blocked by conversion-rate based sending blocking"),
        (-2052, CREDENTIALS, "Monthly message sending limit of the organization exceeded"),
        (-2053, CREDENTIALS, "Blocked by the daily send limit by country"),
        (-4000, CREDENTIALS, "Query range is more than a month (look-ups)"),
        (-8000, CREDENTIALS, "Authentication message lacks its authentication statement"),
        (-2100, CREDENTIALS, "Template ID is missing"),
        (-2107, CREDENTIALS, "Invalid Template ID"),
        (-2110, CREDENTIALS, "Not exist Template"),
        (-2111, CREDENTIALS, "Invalid Template parameter"),
        (-2312, CREDENTIALS, "Sender number is missing or unregistered"),
        (-2313, CREDENTIALS, "Blocked Sender number"),
        (-6000, CREDENTIALS, "Call rejection (080) is not used"),
        (-6001, PERMANENT, "Refused recipient number (080 call rejection)"),
        (-6003, CREDENTIALS, "Body does not include guide message on call rejection"),
        (-6004, CREDENTIALS, "Call rejection numbers are empty or unsubscribed"),
        (-7000, TRANSIENT, "Internal tag error (failed to call API)"),
        (-9995, CREDENTIALS, "Invalid API version"),
        (-9996, CREDENTIALS, "Invalid content type. Only application/JSON"),
        (-9997, CREDENTIALS, "Invalid JSON type"),
        (-9998, CREDENTIALS, "Not exist API"),
        (-9999, TRANSIENT, "System error (unexpected error)"),
    ],
)

#: ``body.data.statusCode`` of a send answer (API v3.0 guide, "Send Short SMS").
REQUEST_FAILED = "3"
#: ``msgStatus`` values of a listed message (API v3.0 guide, "List Delivery of Short SMS"):
#: 1 requesting, 2 processing, 3 successful, 5 duplicate delivery, 7 waiting for
#: resending → the provider holds the message; 0 failed, 4 cancelled, 6 failed (ad
#: restricted) → it does not.
ACCEPTED_STATUSES = frozenset({"1", "2", "3", "5", "7"})


def nhn_error(table: CodeTable, provider: str, code: Any, message: Any) -> Exception | None:
    """The error an NHN Cloud ``resultCode`` means under ``table`` (None: accepted)."""
    return table.error(provider, code, scrub(message or ""))


def nhn_header(
    table: CodeTable, provider: str, response: requests.Response, body: Mapping[str, Any]
) -> None:
    """Raise for an HTTP failure or a ``header`` whose ``resultCode`` is not a success."""
    header = body.get("header") if isinstance(body.get("header"), Mapping) else None
    if response.status_code >= 400:
        code = header.get("resultCode") if header else None
        if code is not None and table.row(code) is not None and response.status_code < 500:
            error = nhn_error(table, provider, code, header.get("resultMessage") if header else "")
            if error is not None:
                raise error
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
        error = nhn_error(table, provider, header.get("resultCode"), header.get("resultMessage"))
        if error is not None:
            raise error


def kst_range(sent_after: datetime, *, fmt: str, days: int = 30) -> tuple[str, str]:
    """A request-date range for NHN's list APIs (Korea time): from ``sent_after`` less
    five minutes of clock skew to a minute from now, at most ``days`` long."""
    now = datetime.now(KST)
    if sent_after.tzinfo is None:  # the ledger's times are UTC
        sent_after = sent_after.replace(tzinfo=UTC)
    start = sent_after.astimezone(KST) - timedelta(minutes=5)
    start = max(start, now - timedelta(days=days) + timedelta(minutes=2))
    end = now + timedelta(minutes=1)
    return start.strftime(fmt), end.strftime(fmt)


class NhnCloudSms(HttpProvider):
    """SMS and LMS through NHN Cloud SMS v3.0.

    Settings: ``app_key``, ``secret_key`` (secret: ``MINWON__PROVIDERS__NHN__SECRET_KEY``),
    ``sender`` (fallback sender number when the organisation has none), and the
    common ``base_url``, ``pool_size``, ``connect_timeout``, ``read_timeout``.
    """

    name: ClassVar[str] = "nhn"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    supports_lookup: ClassVar[bool] = True
    codes: ClassVar[CodeTable] = NHN_SMS_CODES

    def _auth(self) -> tuple[str, dict[str, str]]:
        return self.require("app_key"), {"X-Secret-Key": self.require("secret_key")}

    def deliver(self, message: Message) -> Receipt:
        app_key, headers = self._auth()
        sender = self.sender_for(message, "sender number")
        kind = message_kind(message)
        payload: dict[str, Any] = {
            "body": message.body,
            "sendNo": digits(str(sender)),
            "senderGroupingKey": message.notification_id,
            "recipientList": [
                {"recipientNo": digits(message.to), "recipientGroupingKey": message.notification_id}
            ],
        }
        if kind == SMS:
            path = f"/sms/v3.0/appKeys/{app_key}/sender/sms"
        else:
            path = f"/sms/v3.0/appKeys/{app_key}/sender/mms"
            payload["title"] = lms_subject(message)
        response = self.post_json(path, payload, headers)
        body = self.json_body(response)
        nhn_header(self.codes, self.name, response, body)
        data = (body.get("body") or {}).get("data") or {}
        results = data.get("sendResultList") or []
        result = results[0] if results else {}
        error = nhn_error(self.codes, self.name, result.get("resultCode", 0),
                          result.get("resultMessage"))
        if error is not None:
            raise error
        if str(data.get("statusCode", "")) == REQUEST_FAILED:
            raise TransientError(
                "request failed (body.data.statusCode 3)", provider=self.name, code="STATUS-3"
            )
        request_id = data.get("requestId")
        return Receipt(
            self.name,
            str(request_id) if request_id else None,
            {"kind": kind, "recipient_seq": result.get("recipientSeq")},
        )

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        """The message sent for ``notification_id`` (``senderGroupingKey``), SMS or LMS."""
        app_key, headers = self._auth()
        start, end = kst_range(sent_after, fmt="%Y-%m-%d %H:%M:%S")
        seen: list[Mapping[str, Any]] = []
        for endpoint in ("sms", "mms"):
            response = self.get_json(
                f"/sms/v3.0/appKeys/{app_key}/sender/{endpoint}",
                {
                    "senderGroupingKey": notification_id,
                    "startRequestDate": start,
                    "endRequestDate": end,
                    "pageSize": 100,
                },
                headers,
            )
            body = self.json_body(response)
            nhn_header(self.codes, self.name, response, body)
            for item in (body.get("body") or {}).get("data") or []:
                if isinstance(item, Mapping) and item.get("senderGroupingKey") == notification_id:
                    seen.append(item)
        for item in seen:
            if str(item.get("msgStatus")) in ACCEPTED_STATUSES:
                return LookupResult(
                    True,
                    self.name,
                    str(item.get("requestId") or "") or None,
                    {"msg_status": item.get("msgStatus"), "request_date": item.get("requestDate")},
                )
        return LookupResult(False, self.name, None, {"failed": len(seen)})

    def check(self, senders: Sequence[str]) -> str:
        """``providers check``: are ``senders`` registered, in use and not blocked?"""
        app_key, headers = self._auth()
        response = self.get_json(
            f"/sms/v3.0/appKeys/{app_key}/sendNos", {"pageSize": 1000}, headers
        )
        body = self.json_body(response)
        nhn_header(self.codes, self.name, response, body)
        numbers = {
            str(item.get("sendNo")): item
            for item in (body.get("body") or {}).get("data") or []
            if isinstance(item, Mapping)
        }
        return sender_numbers_problem(numbers, senders) or (
            f"OK ({len(numbers)} registered sender numbers)"
        )


def sender_numbers_problem(
    registered: Mapping[str, Mapping[str, Any]], senders: Sequence[str]
) -> str | None:
    """What is wrong with ``senders`` given NHN's registered numbers, or None."""
    for sender in senders:
        number = digits(sender)
        item = registered.get(number)
        if item is None:
            return f"sender number {number} is not registered (-2312 unregistered sender)"
        if item.get("blockYn") == "Y":
            return f"sender number {number} is blocked (-2313): {item.get('blockReason') or ''}"
        if item.get("useYn") == "N":
            return f"sender number {number} is registered but not in use"
    return None
