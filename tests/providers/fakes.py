"""Local stand-ins for the providers' HTTP APIs, checking every request against the
documented contract (docs/domain.md, NHN Cloud and Naver Cloud API guides).

Each fake is a threaded :class:`http.server.ThreadingHTTPServer` on a free loopback
port. It answers the documented success and error bodies, records what it accepted,
and lists every breach of the contract in ``violations`` (the fixtures assert it
is empty after each test): a wrong path, a missing header, a bad signature, a
missing JSON field, an SMS endpoint given a body longer than 90 CP949 bytes.

Recipients that make a fake answer an error (not simulated recipients: those must
never reach a server at all):

* :data:`PHONE_INVALID` → the recipient is refused (permanent);
* :data:`PHONE_BUSY` → 503 / 429 (transient).
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

PHONE_OK = "010-1234-5678"
PHONE_INVALID = "010-9999-0400"
PHONE_BUSY = "010-9999-0503"
SENDER = "054-480-2114"

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

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw.decode("utf-8")) if raw else None
                except (UnicodeDecodeError, ValueError):
                    body = raw
                recorded = Recorded(
                    "POST", self.path, dict(self.headers.items()), body, self.client_address[:2]
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


class NhnSmsFake(FakeServer):
    """NHN Cloud SMS v3.0: ``/sms/v3.0/appKeys/{appKey}/sender/{sms|mms}``."""

    def __init__(self, app_key: str = "nhn-app-key", secret_key: str = "nhn-secret") -> None:
        self.app_key = app_key
        self.secret_key = secret_key
        super().__init__()

    def handle(self, request: Recorded) -> Answer:
        prefix = f"/sms/v3.0/appKeys/{self.app_key}/sender/"
        if not request.path.startswith("/sms/v3.0/appKeys/"):
            self.violation(f"unexpected path {request.path}")
            return Answer(404, {"header": _header(-9995, "Invalid request", False)})
        if not request.path.startswith(prefix):
            return Answer(200, {"header": _header(-1000, "Invalid appKey", False)})
        endpoint = request.path[len(prefix) :]
        if endpoint not in ("sms", "mms"):
            self.violation(f"unknown endpoint {endpoint}")
            return Answer(404, {"header": _header(-9995, "Invalid request", False)})
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            self.violation("Content-Type is not application/json")
        if request.headers.get("X-Secret-Key") != self.secret_key:
            return Answer(401, {"header": _header(-1004, "Invalid secretKey", False)})
        body = request.body
        if not isinstance(body, dict):
            self.violation("body is not a JSON object")
            return Answer(400, {"header": _header(-9993, "Binding the requests error", False)})
        for key in ("body", "sendNo", "recipientList"):
            if key not in body:
                self.violation(f"missing field {key}")
        text = str(body.get("body", ""))
        if endpoint == "sms" and cp949_len(text) > SMS_MAX_BYTES:
            self.violation(f"SMS endpoint given {cp949_len(text)} bytes (> 90)")
        if endpoint == "mms":
            title = body.get("title")
            if not title:
                self.violation("LMS without a title")
            elif cp949_len(str(title)) > LMS_SUBJECT_MAX_BYTES:
                self.violation("LMS title longer than 40 bytes")
            if cp949_len(text) > LMS_MAX_BYTES:
                self.violation("LMS body longer than 2,000 bytes")
        if not is_digits(body.get("sendNo")):
            self.violation(f"sendNo is not digits: {body.get('sendNo')!r}")
        recipients = body.get("recipientList") or []
        if len(recipients) != 1 or not is_digits(recipients[0].get("recipientNo")):
            self.violation("recipientList must hold one recipientNo of digits")
            return Answer(400, {"header": _header(-9993, "Binding the requests error", False)})
        number = recipients[0]["recipientNo"]
        if number == PHONE_BUSY.replace("-", ""):
            return Answer(503, {"header": _header(-9999, "Service temporarily unavailable", False)})
        request_id = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:12]
        result_code, result_message = 0, "SUCCESS"
        if number == PHONE_INVALID.replace("-", ""):
            result_code, result_message = -2008, f"Invalid recipient number ({number})"
        else:
            self.accept(request_id, request)
        return Answer(
            200,
            {
                "header": _header(0, "SUCCESS", True),
                "body": {
                    "data": {
                        "requestId": request_id,
                        "statusCode": "2",
                        "senderGroupingKey": body.get("senderGroupingKey"),
                        "sendResultList": [
                            {
                                "recipientNo": number,
                                "resultCode": result_code,
                                "resultMessage": result_message,
                                "recipientSeq": 1,
                                "recipientGroupingKey": None,
                            }
                        ],
                    }
                },
            },
        )


class SensFake(FakeServer):
    """Naver Cloud SENS v2: ``/sms/v2/services/{serviceId}/messages`` with the
    signature recomputed from the documented string."""

    def __init__(
        self,
        service_id: str = "ncp:sms:kr:123456789:minwon",
        access_key: str = "sens-access",
        secret_key: str = "sens-secret",
    ) -> None:
        self.service_id = service_id
        self.access_key = access_key
        self.secret_key = secret_key
        super().__init__()

    def signature(self, path: str, timestamp: str) -> str:
        text = f"POST {path}\n{timestamp}\n{self.access_key}"
        mac = hmac.new(self.secret_key.encode(), text.encode(), hashlib.sha256)
        return base64.b64encode(mac.digest()).decode()

    def _auth_failed(self) -> Answer:
        return Answer(
            401,
            {
                "error": {
                    "errorCode": "200",
                    "message": "Authentication Failed",
                    "details": "Invalid authentication information.",
                }
            },
        )

    def handle(self, request: Recorded) -> Answer:
        path = f"/sms/v2/services/{self.service_id}/messages"
        if request.path != path:
            self.violation(f"unexpected path {request.path}")
            return Answer(404, {"error": {"errorCode": "300", "message": "Not Found"}})
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
        if headers["x-ncp-apigw-signature-v2"] != self.signature(path, timestamp):
            return self._auth_failed()
        body = request.body
        if not isinstance(body, dict):
            self.violation("body is not a JSON object")
            return Answer(400, {"status": 400, "errorMessage": "Bad Request"})
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
            return Answer(400, {"status": 400, "errorMessage": "Bad Request"})
        number = messages[0]["to"]
        if number == PHONE_BUSY.replace("-", ""):
            return Answer(429, {"error": {"errorCode": "429", "message": "Too Many Requests"}})
        if number == PHONE_INVALID.replace("-", ""):
            return Answer(400, {"status": 400, "errorMessage": "Invalid 'to' number"})
        request_id = "RSSA-" + uuid.uuid4().hex
        self.accept(request_id, request)
        return Answer(
            202,
            {
                "requestId": request_id,
                "requestTime": time.strftime("%Y-%m-%dT%H:%M:%S.000"),
                "statusCode": "202",
                "statusName": "success",
            },
        )


class AlimtalkFake(FakeServer):
    """NHN Cloud AlimTalk v2.3: ``/alimtalk/v2.3/appkeys/{appkey}/messages``.
    ``templates`` maps each registered template code to its ``#{variables}``."""

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
        self.templates = templates or {"MW-RECEIVED": ["민원번호"], "MW-PLAIN": []}
        super().__init__()

    def handle(self, request: Recorded) -> Answer:
        path = f"/alimtalk/v2.3/appkeys/{self.app_key}/messages"
        if not request.path.startswith("/alimtalk/v2.3/appkeys/"):
            self.violation(f"unexpected path {request.path}")
            return Answer(404, {"header": _header(-9995, "Invalid request", False)})
        if request.path != path:
            return Answer(200, {"header": _header(-1000, "Invalid appKey", False)})
        if request.headers.get("X-Secret-Key") != self.secret_key:
            return Answer(401, {"header": _header(-1004, "Invalid secretKey", False)})
        body = request.body
        if not isinstance(body, dict):
            self.violation("body is not a JSON object")
            return Answer(400, {"header": _header(-9993, "Binding the requests error", False)})
        if body.get("senderKey") != self.sender_key:
            return Answer(200, {"header": _header(-1006, "Invalid senderKey", False)})
        code = body.get("templateCode")
        if code not in self.templates:
            return Answer(200, {"header": _header(-3012, "Template not found", False)})
        recipients = body.get("recipientList") or []
        if len(recipients) != 1 or not is_digits(recipients[0].get("recipientNo")):
            self.violation("recipientList must hold one recipientNo of digits")
            return Answer(400, {"header": _header(-9993, "Binding the requests error", False)})
        recipient = recipients[0]
        params = recipient.get("templateParameter") or {}
        missing = [v for v in self.templates[code] if v not in params]
        if missing:
            self.violation(f"templateParameter lacks {missing}")
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
            return Answer(500, {"header": _header(-9999, "Internal server error", False)})
        request_id = time.strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:8]
        result_code, result_message = 0, "SUCCESS"
        if number == PHONE_INVALID.replace("-", ""):
            result_code, result_message = -3026, "Invalid recipient number"
        else:
            self.accept(request_id, request)
        return Answer(
            200,
            {
                "header": _header(0, "SUCCESS", True),
                "message": {
                    "requestId": request_id,
                    "senderGroupingKey": None,
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
