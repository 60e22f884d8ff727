"""Local stand-ins for the providers' HTTP APIs, checking every request against the
documented contract (docs/domain.md, NHN Cloud and Naver Cloud API guides).

Each fake is a threaded :class:`http.server.ThreadingHTTPServer` on a free loopback
port. It answers the documented success and error bodies, records what it accepted,
and lists every breach of the contract in ``violations`` (the fixtures assert it
is empty after each test): a wrong path, a missing header, a bad signature, a
missing JSON field, an SMS endpoint given a body longer than 90 CP949 bytes.

The answers are the documented ones, codes and HTTP statuses included (NHN Cloud's
``TOAST-DOCS/SMS`` and ``TOAST-DOCS/Alimtalk`` error-code tables, the Ncloud API
gateway's error table), so a test proves behaviour against the provider's protocol
rather than against our own assumptions. Recipients and senders that make a fake
answer an error (not simulated recipients: those must never reach a server at all):

* :data:`PHONE_INVALID` → the recipient is refused (NHN -2019, AlimTalk -4019, SENS 400);
* :data:`PHONE_BUSY` → NHN -2021 (failed insert queue), AlimTalk -9999, SENS 429/410;
* :data:`SENDER_UNREGISTERED` → NHN -2312, SENS 400 naming ``from``;
* AlimTalk template ``MW-PENDING`` is registered but not approved (-3005).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PHONE_OK = "010-1234-5678"
PHONE_INVALID = "010-9999-0400"
PHONE_BUSY = "010-9999-0503"
SENDER = "054-480-2114"
SENDER_UNREGISTERED = "02-999-9999"
REGISTERED_SENDERS = frozenset({"0544802114", "15880000"})

SMS_MAX_BYTES = 90
LMS_MAX_BYTES = 2000
LMS_SUBJECT_MAX_BYTES = 40


def cp949_len(text: str) -> int:
    return len(text.encode("cp949", errors="replace"))


def is_digits(value: Any) -> bool:
    return isinstance(value, str) and value.isdigit()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    peer: tuple[str, int] = ("", 0)  # the client's address: one per TCP connection

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeServer:
    """Base: serve ``handle`` on a free loopback port from a daemon thread."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.accepted: dict[str, Recorded] = {}  # message id -> request
        self.violations: list[str] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the providers pool connections

            def do_GET(self) -> None:
                self.do_POST("GET")

            def do_POST(self, method: str = "POST") -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw.decode("utf-8")) if raw else None
                except (UnicodeDecodeError, ValueError):
                    body = raw
                recorded = Recorded(
                    method, self.path, dict(self.headers.items()), body, self.client_address[:2]
                )
                with fake._lock:
                    fake.requests.append(recorded)
                answer = fake.handle(recorded)
                if isinstance(answer.body, bytes):
                    payload, content_type = answer.body, "text/xml"
                else:
                    payload = json.dumps(answer.body, ensure_ascii=False).encode("utf-8")
                    content_type = "application/json;charset=UTF-8"
                self.send_response(answer.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def accept(self, message_id: str, recorded: Recorded) -> None:
        with self._lock:
            self.accepted[message_id] = recorded

    def handle(self, request: Recorded) -> Answer:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _header(code: int, message: str, ok: bool) -> dict[str, Any]:
    return {"isSuccessful": ok, "resultCode": code, "resultMessage": message}


def _failure(code: int, message: str, status: int = 200) -> Answer:
    """An NHN Cloud refusal: ``header.isSuccessful`` false with the documented code and
    API response message (``en/error-code.md``)."""
    return Answer(status, {"header": _header(code, message, False)})


def _kst_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 9 * 3600))


class NhnSmsFake(FakeServer):
    """NHN Cloud SMS v3.0: ``POST /sms/v3.0/appKeys/{appKey}/sender/{sms|mms}``, the
    list APIs ``GET`` on the same paths, and ``GET .../sendNos``.

    ``accepted_messages`` holds every message it took, as the list API reports it.
    Set ``monthly_limit_reached`` to answer -2052 to every send."""

    def __init__(self, app_key: str = "nhn-app-key", secret_key: str = "nhn-secret") -> None:
        self.app_key = app_key
        self.secret_key = secret_key
        self.registered_senders = set(REGISTERED_SENDERS)
        self.monthly_limit_reached = False
        self.request_failed = False  # answer body.data.statusCode "3" (request failed)
        self.listed: list[dict[str, Any]] = []
        super().__init__()

    def handle(self, request: Recorded) -> Answer:
        prefix = f"/sms/v3.0/appKeys/{self.app_key}/"
        route = request.route
        if not route.startswith("/sms/v3.0/appKeys/"):
            self.violation(f"unexpected path {request.path}")
            return _failure(-9998, "Not exist API.", 404)
        if not route.startswith(prefix):
            return _failure(-1000, "Invalid appKey.")
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            self.violation("Content-Type is not application/json")
        if request.headers.get("X-Secret-Key") != self.secret_key:
            # The published table has no code for a wrong secret key: HTTP 401 only.
            return Answer(401, {"header": _header(401, "Unauthorized", False)})
        endpoint = route[len(prefix):]
        if request.method == "GET":
            if endpoint == "sendNos":
                return self._send_numbers()
            if endpoint in ("sender/sms", "sender/mms"):
                return self._list(request, endpoint)
            self.violation(f"unknown GET {endpoint}")
            return _failure(-9998, "Not exist API.", 404)
        if endpoint not in ("sender/sms", "sender/mms"):
            self.violation(f"unknown endpoint {endpoint}")
            return _failure(-9998, "Not exist API.", 404)
        return self._send(request, endpoint)

    def _send(self, request: Recorded, endpoint: str) -> Answer:
        body = request.body
        if not isinstance(body, dict):
            self.violation("body is not a JSON object")
            return _failure(-9997, "Invalid API parameters.", 400)
        for key in ("body", "sendNo", "recipientList"):
            if key not in body:
                self.violation(f"missing field {key}")
        text = str(body.get("body", ""))
        if endpoint == "sender/sms" and cp949_len(text) > SMS_MAX_BYTES:
            self.violation(f"SMS endpoint given {cp949_len(text)} bytes (> 90)")
        if endpoint == "sender/mms":
            title = body.get("title")
            if not title:
                self.violation("LMS without a title")
            elif cp949_len(str(title)) > LMS_SUBJECT_MAX_BYTES:
                self.violation("LMS title longer than 40 bytes")
            if cp949_len(text) > LMS_MAX_BYTES:
                self.violation("LMS body longer than 2,000 bytes")
        if not is_digits(body.get("sendNo")):
            self.violation(f"sendNo is not digits: {body.get('sendNo')!r}")
        grouping = body.get("senderGroupingKey")
        if not grouping or len(str(grouping)) > 100:
            self.violation("senderGroupingKey (the notification id) is missing or too long")
        recipients = body.get("recipientList") or []
        if len(recipients) != 1 or not is_digits(recipients[0].get("recipientNo")):
            self.violation("recipientList must hold one recipientNo of digits")
            return _failure(-2019, "RecipientNo is invalid.")
        number = recipients[0]["recipientNo"]
        if self.monthly_limit_reached:
            return _failure(-2052, "Blocked due to exceeding the monthly message sending limit.")
        if body.get("sendNo") not in self.registered_senders:
            return _failure(-2312, "Not regist sendno.")
        if number == PHONE_BUSY.replace("-", ""):
            return _failure(-2021, "System error. Failed insert queue.")
        request_id = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:11]
        result_code, result_message = 0, "SUCCESS"
        if number == PHONE_INVALID.replace("-", ""):
            result_code, result_message = -2019, "RecipientNo is invalid."
        elif self.request_failed:
            pass
        else:
            self.accept(request_id, request)
            with self._lock:
                self.listed.append({
                    "requestId": request_id, "requestDate": _kst_now() + ".0",
                    "recipientNo": number, "sendNo": body.get("sendNo"),
                    "msgStatus": "3", "msgStatusName": "successful", "recipientSeq": 1,
                    "messageType": "SMS" if endpoint == "sender/sms" else "LMS",
                    "senderGroupingKey": grouping,
                    "recipientGroupingKey": recipients[0].get("recipientGroupingKey"),
                })
        return Answer(
            200,
            {
                "header": _header(0, "SUCCESS", True),
                "body": {
                    "data": {
                        "requestId": request_id,
                        "statusCode": "3" if self.request_failed else "2",
                        "senderGroupingKey": grouping,
                        "sendResultList": [
                            {
                                "recipientNo": number,
                                "resultCode": result_code,
                                "resultMessage": result_message,
                                "recipientSeq": 1,
                                "recipientGroupingKey": recipients[0].get("recipientGroupingKey"),
                            }
                        ],
                    }
                },
            },
        )

    def _list(self, request: Recorded, endpoint: str) -> Answer:
        query = request.query
        if not query.get("requestId") and not (
            query.get("startRequestDate") and query.get("endRequestDate")
        ):
            return _failure(-2011, "RequestId or start/endRequestDate is required.")
        for key in ("startRequestDate", "endRequestDate"):
            if key in query and not _is_date(query[key], "%Y-%m-%d %H:%M:%S"):
                self.violation(f"{key} {query[key]!r} is not yyyy-MM-dd HH:mm:ss")
                return _failure(-2000, "Date format error.")
        kind = "SMS" if endpoint == "sender/sms" else "LMS"
        with self._lock:
            found = [
                m for m in self.listed
                if m["messageType"] == kind
                and query["startRequestDate"] <= m["requestDate"][:19] <= query["endRequestDate"]
                and all(m.get(k) == query[k] for k in ("senderGroupingKey",
                                                        "recipientGroupingKey") if k in query)
            ]
        return Answer(200, {
            "header": _header(0, "SUCCESS", True),
            "body": {"pageNum": 1, "pageSize": 15, "totalCount": len(found), "data": found},
        })

    def _send_numbers(self) -> Answer:
        data = [
            {"serviceId": 71191, "sendNo": n, "useYn": "Y", "blockYn": "N", "blockReason": None}
            for n in sorted(self.registered_senders)
        ]
        return Answer(200, {
            "header": _header(0, "SUCCESS", True),
            "body": {"pageNum": 1, "pageSize": 15, "totalCount": len(data), "data": data},
        })


def _is_date(value: str, fmt: str) -> bool:
    try:
        time.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _gateway_error(status: int, code: str, message: str, details: str = "") -> Answer:
    """An Ncloud API Gateway error (``api-call-lgc-errorhandling``)."""
    error: dict[str, str] = {"errorCode": code, "message": message}
    if details:
        error["details"] = details
    return Answer(status, {"error": error})


class SensFake(FakeServer):
    """Naver Cloud SENS v2: ``/sms/v2/services/{serviceId}/messages`` (send, list by
    ``requestId`` or request time) with the signature recomputed from the documented
    string. Set ``quota_exceeded`` to answer the gateway's 429/400 to every call, or
    ``answer_200`` to answer a send with 200 and ``statusCode "200"`` (not accepted)."""

    def __init__(
        self,
        service_id: str = "ncp:sms:kr:123456789:minwon",
        access_key: str = "sens-access",
        secret_key: str = "sens-secret",
    ) -> None:
        self.service_id = service_id
        self.access_key = access_key
        self.secret_key = secret_key
        self.registered_senders = set(REGISTERED_SENDERS)
        self.quota_exceeded = False
        self.answer_200 = False
        self.by_request: dict[str, dict[str, Any]] = {}
        super().__init__()

    def signature(self, path: str, timestamp: str, method: str = "POST") -> str:
        text = f"{method} {path}\n{timestamp}\n{self.access_key}"
        mac = hmac.new(self.secret_key.encode(), text.encode(), hashlib.sha256)
        return base64.b64encode(mac.digest()).decode()

    def _auth_failed(self) -> Answer:
        return _gateway_error(401, "200", "Authentication Failed",
                              "Invalid authentication information.")

    def handle(self, request: Recorded) -> Answer:
        route = request.route
        if not (route.startswith("/sms/v2/services/") and route.endswith("/messages")):
            self.violation(f"unexpected path {request.path}")
            return _gateway_error(404, "300", "Not Found Exception")
        headers = {k.lower(): v for k, v in request.headers.items()}
        timestamp = headers.get("x-ncp-apigw-timestamp", "")
        for name in (
            "x-ncp-apigw-timestamp",
            "x-ncp-iam-access-key",
            "x-ncp-apigw-signature-v2",
        ):
            if name not in headers:
                self.violation(f"missing header {name}")
                return self._auth_failed()
        if not timestamp.isdigit() or abs(int(timestamp) - time.time() * 1000) > 300_000:
            self.violation(f"timestamp {timestamp!r} is not the current epoch milliseconds")
            return self._auth_failed()
        if headers["x-ncp-iam-access-key"] != self.access_key:
            return self._auth_failed()
        if headers["x-ncp-apigw-signature-v2"] != self.signature(
            request.path, timestamp, request.method
        ):
            return self._auth_failed()
        if route != f"/sms/v2/services/{self.service_id}/messages":
            return _gateway_error(404, "300", "Not Found Exception")  # wrong serviceId
        if self.quota_exceeded:
            return _gateway_error(429, "400", "Quota Exceeded")
        if request.method == "GET":
            return self._list(request)
        return self._send(request)

    def _send(self, request: Recorded) -> Answer:
        body = request.body
        if not isinstance(body, dict):
            self.violation("body is not a JSON object")
            return _gateway_error(400, "100", "Bad Request Exception")
        for key in ("type", "from", "content", "messages"):
            if key not in body:
                self.violation(f"missing field {key}")
        kind = str(body.get("type", "")).upper()
        content = str(body.get("content", ""))
        if kind not in ("SMS", "LMS"):
            self.violation(f"type {kind!r}")
        if kind == "SMS" and cp949_len(content) > SMS_MAX_BYTES:
            self.violation(f"SMS given {cp949_len(content)} bytes (> 90)")
        if kind == "SMS" and "subject" in body:
            self.violation("subject on an SMS")
        if kind == "LMS" and cp949_len(str(body.get("subject", ""))) > LMS_SUBJECT_MAX_BYTES:
            self.violation("LMS subject longer than 40 bytes")
        if body.get("contentType", "COMM") not in ("COMM", "AD"):
            self.violation(f"contentType {body.get('contentType')!r}")
        if not is_digits(body.get("from")):
            self.violation(f"from is not digits: {body.get('from')!r}")
        messages = body.get("messages") or []
        if len(messages) != 1 or not is_digits(messages[0].get("to")):
            self.violation("messages must hold one 'to' of digits")
            return Answer(400, {"status": 400, "errorMessage": "Invalid 'to' number."})
        number = messages[0]["to"]
        if body.get("from") not in self.registered_senders:
            return Answer(400, {"status": 400,
                                "errorMessage": "The 'from' number is not registered."})
        if number == PHONE_BUSY.replace("-", ""):
            return _gateway_error(429, "410", "Throttle Limited")
        if number == PHONE_INVALID.replace("-", ""):
            return Answer(400, {"status": 400, "errorMessage": "Invalid 'to' number."})
        request_id = "RSSA-" + uuid.uuid4().hex
        request_time = time.strftime("%Y-%m-%dT%H:%M:%S.000")
        if self.answer_200:
            return Answer(200, {"requestId": request_id, "requestTime": request_time,
                                "statusCode": "200", "statusName": "processing"})
        self.accept(request_id, request)
        with self._lock:
            self.by_request[request_id] = {
                "requestId": request_id, "messageId": str(uuid.uuid4()),
                "requestTime": request_time, "contentType": body.get("contentType", "COMM"),
                "type": kind, "countryCode": body.get("countryCode", "82"),
                "from": body.get("from"), "to": number, "status": "COMPLETED",
                "statusCode": "0", "statusName": "success",
            }
        return Answer(
            202,
            {
                "requestId": request_id,
                "requestTime": request_time,
                "statusCode": "202",
                "statusName": "success",
            },
        )

    def _list(self, request: Recorded) -> Answer:
        query = request.query
        if "requestId" in query:
            with self._lock:
                found = [self.by_request[query["requestId"]]] if query[
                    "requestId"] in self.by_request else []
        elif "requestStartTime" in query and "requestEndTime" in query:
            with self._lock:
                found = list(self.by_request.values())
        else:
            return Answer(400, {"status": 400, "errorMessage": "requestId is required."})
        return Answer(200, {"statusCode": "202", "statusName": "success",
                            "pageIndex": 0, "pageSize": 100, "itemCount": len(found),
                            "hasMore": False, "messages": found})


class AlimtalkFake(FakeServer):
    """NHN Cloud AlimTalk v2.3: ``/alimtalk/v2.3/appkeys/{appkey}/messages`` (send,
    list), ``.../senders/{senderKey}`` and its templates. ``templates`` maps each
    registered template code to its ``#{variables}``; codes in ``pending`` are
    registered but not approved. ``X-NC-API-IDEMPOTENCY-KEY`` is remembered for 10
    minutes, as documented (-1005)."""

    def __init__(
        self,
        app_key: str = "alimtalk-app-key",
        secret_key: str = "alimtalk-secret",
        sender_key: str = "a" * 40,
        templates: dict[str, list[str]] | None = None,
    ) -> None:
        self.app_key = app_key
        self.secret_key = secret_key
        self.sender_key = sender_key
        self.templates = templates or {
            "MW-RECEIVED": ["민원번호"], "MW-PLAIN": [], "MW-PENDING": [],
        }
        self.pending = {"MW-PENDING"}
        self.idempotency: dict[str, float] = {}
        self.listed: list[dict[str, Any]] = []
        super().__init__()

    def handle(self, request: Recorded) -> Answer:
        base = f"/alimtalk/v2.3/appkeys/{self.app_key}"
        route = request.route
        if not route.startswith("/alimtalk/v2.3/appkeys/"):
            self.violation(f"unexpected path {request.path}")
            return _failure(-9998, "Not exist API", 404)
        if not route.startswith(base + "/"):
            return _failure(-1000, "Invalid appKey.")
        if request.headers.get("X-Secret-Key") != self.secret_key:
            return _failure(-1001, "Invalid secretKey.")
        rest = route[len(base):]
        if request.method == "GET":
            if rest == "/messages":
                return self._list(request)
            if rest.startswith("/senders/"):
                return self._sender(rest)
            self.violation(f"unknown GET {rest}")
            return _failure(-9998, "Not exist API", 404)
        if rest != "/messages":
            self.violation(f"unknown endpoint {rest}")
            return _failure(-9998, "Not exist API", 404)
        return self._send(request)

    def _send(self, request: Recorded) -> Answer:
        body = request.body
        if not isinstance(body, dict):
            self.violation("body is not a JSON object")
            return _failure(-9997, "Client Error.", 400)
        key = request.headers.get("X-NC-API-IDEMPOTENCY-KEY")
        if not key:
            self.violation("no X-NC-API-IDEMPOTENCY-KEY header")
        now = time.monotonic()
        with self._lock:
            if key and now - self.idempotency.get(key, -1e9) < 600:
                return _failure(-1005, "The same 'X-NC-API-IDEMPOTENCY-KEY' was used "
                                "within the last 10 minute.")
        if body.get("senderKey") != self.sender_key:
            return _failure(-2017, "Not exist plus friend.")
        code = body.get("templateCode")
        if code not in self.templates:
            return _failure(-3003, "Template does not exist.")
        if code in self.pending:
            return _failure(-3005, "Please check template status.")
        recipients = body.get("recipientList") or []
        if len(recipients) != 1 or not is_digits(recipients[0].get("recipientNo")):
            self.violation("recipientList must hold one recipientNo of digits")
            return _failure(-9997, "Client Error.", 400)
        recipient = recipients[0]
        if not recipient.get("recipientGroupingKey"):
            self.violation("recipientGroupingKey (the notification id) is missing")
        params = recipient.get("templateParameter") or {}
        missing = [v for v in self.templates[code] if v not in params]
        if missing:
            return _failure(-3049, "The template parameter is not matched to template.")
        resend = recipient.get("resendParameter")
        if resend is not None:
            if resend.get("isResend") is not True:
                self.violation("resendParameter.isResend is not true")
            kind = resend.get("resendType")
            content = str(resend.get("resendContent", ""))
            if kind not in ("SMS", "LMS"):
                self.violation(f"resendType {kind!r}")
            if kind == "SMS" and cp949_len(content) > SMS_MAX_BYTES:
                self.violation("resendType SMS with more than 90 bytes")
            if kind == "LMS" and not resend.get("resendTitle"):
                self.violation("LMS fallback without resendTitle")
            if not is_digits(resend.get("resendSendNo")):
                self.violation("resendSendNo is not digits")
        number = recipient["recipientNo"]
        if number == PHONE_BUSY.replace("-", ""):
            return _failure(-9999, "System error. Please inquire at support@toast.com.", 500)
        if key:
            with self._lock:
                self.idempotency[key] = now
        request_id = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:8]
        result_code, result_message = 0, "SUCCESS"
        if number == PHONE_INVALID.replace("-", ""):
            result_code, result_message = -4019, "Invalid recipient number."
        else:
            self.accept(request_id, request)
            with self._lock:
                self.listed.append({
                    "requestId": request_id, "recipientSeq": 1, "templateCode": code,
                    "senderKey": self.sender_key, "recipientNo": number,
                    "requestDate": _kst_now()[:16], "messageStatus": "COMPLETED",
                    "resendStatus": "RSC01", "resultCode": "MRC01",
                    "senderGroupingKey": body.get("senderGroupingKey"),
                    "recipientGroupingKey": recipient.get("recipientGroupingKey"),
                })
        return Answer(
            200,
            {
                "header": _header(0, "SUCCESS", True),
                "message": {
                    "requestId": request_id,
                    "senderGroupingKey": body.get("senderGroupingKey"),
                    "sendResults": [
                        {
                            "recipientSeq": 1,
                            "recipientNo": number,
                            "resultCode": result_code,
                            "resultMessage": result_message,
                            "recipientGroupingKey": recipient.get("recipientGroupingKey"),
                        }
                    ],
                },
            },
        )

    def _list(self, request: Recorded) -> Answer:
        query = request.query
        if not query.get("requestId") and not (
            query.get("startRequestDate") and query.get("endRequestDate")
        ):
            return _failure(-4103, "RequestId or startRequestDate/endRequestDate is invalid.")
        for key in ("startRequestDate", "endRequestDate"):
            if key in query and not _is_date(query[key], "%Y-%m-%d %H:%M"):
                self.violation(f"{key} {query[key]!r} is not yyyy-MM-dd HH:mm")
                return _failure(-2027, "The 'requestDate' has invalid format.")
        with self._lock:
            found = [
                m for m in self.listed
                if query["startRequestDate"] <= m["requestDate"] <= query["endRequestDate"]
                and all(m.get(k) == query[k] for k in ("senderGroupingKey",
                                                        "recipientGroupingKey") if k in query)
            ]
        return Answer(200, {"header": _header(0, "SUCCESS", True),
                            "messageSearchResultResponse": {"messages": found,
                                                            "totalCount": len(found)}})

    def _sender(self, rest: str) -> Answer:
        parts = rest.split("/")  # ["", "senders", key, ("templates", code)?]
        if len(parts) < 3 or parts[2] != self.sender_key:
            return _failure(-2017, "Not exist plus friend.")
        if len(parts) == 3:
            return Answer(200, {"header": _header(0, "SUCCESS", True), "sender": {
                "plusFriendId": "@구미시청", "senderKey": self.sender_key,
                "status": "YSC03", "kakaoStatus": "A", "kakaoProfileStatus": "A",
                "block": False, "dormant": False,
                "alimtalk": {"isResend": True, "resendSendNo": "0544802114"},
            }})
        code = parts[4] if len(parts) > 4 else ""
        if code not in self.templates:
            return _failure(-3003, "Template does not exist.")
        status = "TSC02" if code in self.pending else "TSC03"
        return Answer(200, {"header": _header(0, "SUCCESS", True),
                            "templates": {"templateCode": code, "status": status}})


class AwsErrorFake(FakeServer):
    """Answers every AWS call with a throttling error, in the protocol of the
    service the request was signed for (SNS: query/XML, SES v2: REST-JSON)."""

    def handle(self, request: Recorded) -> Answer:
        auth = request.headers.get("Authorization", "")
        if "/sns/" in auth:
            return Answer(429, _SNS_THROTTLED)
        return Answer(
            429,
            {"message": "Maximum sending rate exceeded."},
            {"x-amzn-ErrorType": "TooManyRequestsException"},
        )


_SNS_THROTTLED = (
    b'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
    b"<Error><Type>Sender</Type><Code>Throttled</Code>"
    b"<Message>Rate exceeded</Message></Error>"
    b"<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


class Tripwire:
    """A TCP listener that counts connections and closes them at once: a provider
    pointed at it must never connect when the recipient is simulated."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def refused_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port
