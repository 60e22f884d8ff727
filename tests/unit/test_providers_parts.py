"""The providers' pieces that need no server: sizing, number formats, the SENS
signature, error classification, the MIME message, the push document, the SMTP
pool."""

from __future__ import annotations

import email
import email.policy
import json
import smtplib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from channels.awsapi import classify_client_error
from channels.base import CredentialsError, Message, PermanentError, TransientError
from channels.email.mime import build_email
from channels.email.smtp import SmtpPool, error_for_reply
from channels.httpapi import digits, error_for_status, scrub
from channels.push.sns import push_payload
from channels.sms.nhn import nhn_error
from channels.sms.sens import sens_signature
from channels.sms.sizing import lms_subject, message_kind
from channels.sms.sns import e164


def msg(**fields: Any) -> Message:
    values: dict[str, Any] = {
        "notification_id": "n-1",
        "event_id": "e-1",
        "event_type": "case.answered",
        "case_id": "2026-0001234",
        "org": "gumi",
        "channel": "sms",
        "to": "010-1234-5678",
        "body": "접수되었습니다.",
        **fields,
    }
    return Message(**values)


# --------------------------------------------------------------------------- sizing


@pytest.mark.parametrize(
    ("body", "kind", "expected"),
    [
        ("가" * 45, None, "SMS"),  # 90 bytes
        ("가" * 45 + "1", None, "LMS"),  # 91 bytes
        ("a" * 90, None, "SMS"),
        ("똠" * 45, None, "SMS"),  # CP949, not euc_kr's 8-byte escapes
        ("짧은 글", "LMS", "LMS"),  # the template system's decision wins
        ("짧은 글", "MMS", "LMS"),
        ("가" * 60, "SMS", "SMS"),
        ("짧은 글", "sms", "SMS"),
    ],
)
def test_message_kind(body: str, kind: str | None, expected: str) -> None:
    assert message_kind(msg(body=body, kind=kind)) == expected


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("민원 처리 결과", "본문", "민원 처리 결과"),
        (None, "[구미시] 민원 결과\n둘째 줄", "[구미시] 민원 결과"),
        ("가" * 30, "본문", "가" * 19 + ".."),  # 40 bytes at most
    ],
)
def test_lms_subject(subject: str | None, body: str, expected: str) -> None:
    assert lms_subject(msg(subject=subject, body=body)) == expected


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("010-1234-5678", "01012345678"),
        ("01012345678", "01012345678"),
        ("+82 10-1234-5678", "01012345678"),
        ("054-480-2114", "0544802114"),
        ("1588-0000", "15880000"),
    ],
)
def test_digits_for_korean_providers(phone: str, expected: str) -> None:
    assert digits(phone) == expected


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("010-1234-5678", "+821012345678"),
        ("+82 10 1234 5678", "+821012345678"),
        ("+1 206 555 0100", "+12065550100"),
        ("not-a-phone", "not-a-phone"),  # left for SNS to refuse
    ],
)
def test_e164_for_sns(phone: str, expected: str) -> None:
    assert e164(phone) == expected


def test_sens_signature_matches_the_documented_construction() -> None:
    # Base64(HMAC-SHA256(secret, "POST {path}\n{timestamp}\n{accessKey}"))
    assert (
        sens_signature(
            "sens-secret",
            "POST",
            "/sms/v2/services/ncp:sms:kr:1:svc/messages",
            "1700000000000",
            "sens-access",
        )
        == "UdzAJuqqQqTMEi9x4RiReEg4zz5HpSGDhqO1oNKrWtk="
    )


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, PermanentError),
        (404, PermanentError),
        (401, CredentialsError),
        (403, CredentialsError),
        (408, TransientError),
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
    ],
)
def test_http_status_classification(status: int, expected: type) -> None:
    error = error_for_status(status, provider="p", code=None, message="m")
    assert type(error) is expected
    assert error.code == str(status)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (-1000, CredentialsError),  # invalid appKey
        (-1004, CredentialsError),  # invalid secretKey
        (-9999, TransientError),
        (-2008, PermanentError),
        ("garbage", PermanentError),
    ],
)
def test_nhn_result_codes(code: Any, expected: type) -> None:
    assert type(nhn_error("nhn", code, "m")) is expected


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "msg"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Publish",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("Throttled", 429, TransientError),
        ("Throttling", 400, TransientError),
        ("TooManyRequestsException", 429, TransientError),
        ("InternalError", 500, TransientError),
        ("Whatever", 502, TransientError),
        ("InvalidParameter", 400, PermanentError),
        ("EndpointDisabled", 400, PermanentError),
        ("MessageRejected", 400, PermanentError),
        ("NotFound", 404, PermanentError),
        ("InvalidClientTokenId", 403, CredentialsError),
        ("AuthorizationError", 403, CredentialsError),
        ("SignatureDoesNotMatch", 403, CredentialsError),
        ("AccountSuspendedException", 400, CredentialsError),
        ("PlatformApplicationDisabled", 400, CredentialsError),
        ("403", 403, CredentialsError),
    ],
)
def test_aws_error_classification(code: str, status: int, expected: type) -> None:
    error = classify_client_error(client_error(code, status), "sns")
    assert type(error) is expected
    assert error.code == code
    assert error.provider == "sns"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (421, TransientError),
        (450, TransientError),
        (451, TransientError),
        (452, TransientError),
        (530, CredentialsError),
        (535, CredentialsError),
        (550, PermanentError),
        (553, PermanentError),
        (554, PermanentError),
    ],
)
def test_smtp_reply_classification(code: int, expected: type) -> None:
    assert type(error_for_reply(code, b"text", "smtp")) is expected


def test_provider_messages_are_scrubbed_of_personal_data() -> None:
    text = scrub("Invalid recipient 010-1234-5678 <hong@example.kr>" + "x" * 1000)
    assert "1234-5678" not in text and "hong@" not in text
    assert len(text) <= 300


# --------------------------------------------------------------------------- MIME


def test_email_headers_are_rfc2047_and_decode_back_to_korean() -> None:
    mime = build_email(
        msg(
            channel="email",
            to="hong@example.kr",
            subject="[구미시] 민원 처리 결과 안내",
            body="본문",
            html="<p>본문</p>",
            recipient_name="홍길동",
        ),
        sender="minwon@gumi.go.kr",
        sender_name="구미시 민원실",
        provider="smtp",
    )
    raw = mime.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "[구미시] 민원 처리 결과 안내"
    assert parsed["From"].addresses[0].display_name == "구미시 민원실"
    assert parsed["To"].addresses[0].display_name == "홍길동"
    assert parsed["X-Minwon-Notification-Id"] == "n-1"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    "address", ["not an address", "no-at-sign", "a@", "@example.kr", "홍 길동@example.kr"]
)
def test_an_invalid_address_is_permanent(address: str) -> None:
    with pytest.raises(PermanentError) as caught:
        build_email(msg(to=address), sender="minwon@gumi.go.kr", sender_name=None, provider="ses")
    assert caught.value.code == "INVALID-ADDRESS"


def test_utf8_local_part_makes_an_smtputf8_message() -> None:
    mime = build_email(
        msg(to="홍길동@example.kr", subject="안내"),
        sender="minwon@gumi.go.kr",
        sender_name=None,
        provider="smtp",
    )
    assert getattr(mime.policy, "utf8", False) is True
    assert "홍길동@example.kr" in mime.as_string()


# --------------------------------------------------------------------------- push document


def test_push_document_carries_every_platform() -> None:
    document = json.loads(push_payload(msg(subject="민원 답변", body="답변이 등록되었습니다.")))
    assert set(document) == {"default", "GCM", "APNS", "APNS_SANDBOX"}
    gcm = json.loads(document["GCM"])
    assert gcm["notification"] == {"title": "민원 답변", "body": "답변이 등록되었습니다."}
    assert gcm["data"] == {
        "notification_id": "n-1",
        "event_type": "case.answered",
        "case_id": "2026-0001234",
    }
    assert json.loads(document["APNS"])["aps"]["alert"]["title"] == "민원 답변"


# --------------------------------------------------------------------------- SMTP pool


class FakeConn:
    def __init__(self) -> None:
        self.quit_called = False

    def quit(self) -> None:
        self.quit_called = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_pool(size: int = 2, max_idle: float = 30.0) -> tuple[SmtpPool, list[FakeConn], Clock]:
    made: list[FakeConn] = []
    clock = Clock()

    def connect() -> smtplib.SMTP:
        conn = FakeConn()
        made.append(conn)
        return conn  # type: ignore[return-value]

    return SmtpPool(connect, size=size, max_idle=max_idle, clock=clock), made, clock


def test_pool_reuses_an_idle_connection() -> None:
    pool, made, _ = make_pool()
    with pool.connection() as (first, reused_first):
        pass
    with pool.connection() as (second, reused_second):
        pass
    assert first is second
    assert (reused_first, reused_second) == (False, True)
    assert len(made) == 1


def test_pool_drops_a_connection_idle_too_long() -> None:
    pool, made, clock = make_pool(max_idle=30)
    with pool.connection():
        pass
    clock.now += 31
    with pool.connection() as (_, reused):
        pass
    assert reused is False
    assert len(made) == 2
    assert made[0].quit_called


def test_pool_closes_a_connection_whose_send_failed() -> None:
    pool, made, _ = make_pool()
    with pytest.raises(smtplib.SMTPServerDisconnected), pool.connection():
        raise smtplib.SMTPServerDisconnected("gone")
    assert made[0].quit_called
    with pool.connection() as (_, reused):
        pass
    assert reused is False
