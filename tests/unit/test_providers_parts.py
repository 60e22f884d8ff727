"""The providers' pieces that need no server: sizing, number formats, the SENS
signature, error classification, the MIME message, the push document, the SMTP
pool."""

from __future__ import annotations

import email
import email.policy
import json
import smtplib
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from channels.awsapi import SES_CODES, SNS_CODES, classify_client_error
from channels.base import CredentialsError, Message, PermanentError, TransientError
from channels.email.mime import build_email
from channels.email.ses import ascii_address
from channels.email.smtp import SmtpPool, error_for_reply
from channels.httpapi import digits, error_for_status, scrub
from channels.push.sns import push_payload
from channels.results import CodeTable, NoticeConfigurationError, all_tables
from channels.results import markdown as results_markdown
from channels.sms.alimtalk import ALIMTALK_CODES
from channels.sms.nhn import NHN_SMS_CODES
from channels.sms.sens import sens_error, sens_signature
from channels.sms.sizing import lms_subject, message_kind
from channels.sms.sns import e164, segments


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
        (-1000, CredentialsError),  # invalid appkey
        (-1004, CredentialsError),  # not allowed IP (not a wrong secret)
        (-1008, CredentialsError),  # blocked project: our account
        (-2312, CredentialsError),  # unregistered sender number: our account
        (-2313, CredentialsError),  # blocked sender number
        (-2052, CredentialsError),  # monthly sending limit
        (-1005, CredentialsError),  # invalid search condition: our request, not "busy"
        (-9997, CredentialsError),  # invalid JSON: our request
        (-9998, CredentialsError),  # API does not exist: our configuration
        (-9999, TransientError),
        (-2021, TransientError),  # failed insert queue
        (-2019, PermanentError),  # invalid recipient number
        (-2023, PermanentError),  # characters no carrier takes
        (-2008, CredentialsError),  # invalid requestId (look-ups)
        ("garbage", TransientError),  # not in the table: retried, never silently parked
        (-12345, TransientError),
    ],
)
def test_nhn_sms_result_codes(code: Any, expected: type) -> None:
    assert type(NHN_SMS_CODES.error("nhn", code, "m")) is expected
    assert NHN_SMS_CODES.error("nhn", 0, "SUCCESS") is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (-1005, None),  # duplicate idempotency key: already accepted
        (-3003, NoticeConfigurationError),  # template missing: falls through to SMS
        (-3005, NoticeConfigurationError),  # template not approved
        (-3010, NoticeConfigurationError),  # content does not match the template
        (-3049, NoticeConfigurationError),  # parameters do not match
        (-1003, CredentialsError),  # fallback sender number invalid
        (-1006, CredentialsError),
        (-1014, CredentialsError),
        (-1027, CredentialsError),  # profile blocked
        (-2017, CredentialsError),
        (-2502, CredentialsError),
        (-4004, CredentialsError),
        (-4005, CredentialsError),
        (-4019, PermanentError),  # invalid recipient: SMS would refuse it too
        (-5000, PermanentError),
        (-9999, TransientError),
        (-7000, TransientError),
    ],
)
def test_alimtalk_result_codes(code: int, expected: type | None) -> None:
    error = ALIMTALK_CODES.error("alimtalk", code, "m")
    assert (None if error is None else type(error)) is expected


def test_alimtalk_template_errors_leave_the_breaker_alone_but_account_errors_trip_it() -> None:
    assert not getattr(ALIMTALK_CODES.error("alimtalk", -3005, "m"), "trips_breaker", True)
    assert getattr(ALIMTALK_CODES.error("alimtalk", -1000, "m"), "trips_breaker", True)


def test_the_two_nhn_apis_differ_where_their_published_tables_differ() -> None:
    # -1005 is "invalid search condition" for SMS, "duplicate idempotency key" for 알림톡
    assert NHN_SMS_CODES.outcome(-1005) == "credentials"
    assert ALIMTALK_CODES.outcome(-1005) == "sent"
    # -2019 is an invalid recipient for SMS, a too-long template body for 알림톡
    assert NHN_SMS_CODES.outcome(-2019) == "permanent"
    assert ALIMTALK_CODES.outcome(-2019) == "credentials"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": {"errorCode": "200", "message": "Authentication Failed"}},
         CredentialsError),
        (404, {"error": {"errorCode": "300", "message": "Not Found Exception"}},
         CredentialsError),  # wrong serviceId: our configuration
        (429, {"error": {"errorCode": "400", "message": "Quota Exceeded"}}, CredentialsError),
        (429, {"error": {"errorCode": "410", "message": "Throttle Limited"}}, TransientError),
        (429, {}, TransientError),
        (400, {"status": 400, "errorMessage": "The 'from' number is not registered."},
         CredentialsError),
        (400, {"status": 400, "errorMessage": "Invalid 'to' number."}, PermanentError),
        (413, {"error": {"errorCode": "430", "message": "Request Entity Too Large"}},
         PermanentError),
        (503, {"error": {"errorCode": "500", "message": "Endpoint Error"}}, TransientError),
        (500, {}, TransientError),
        (405, {}, CredentialsError),  # an unlisted 4xx: our request
    ],
)
def test_sens_answers(status: int, body: dict[str, Any], expected: type) -> None:
    assert type(sens_error("sens", status, body, "reason")) is expected


def test_every_table_cites_its_source_and_gives_every_code_a_meaning() -> None:
    for table in all_tables():
        assert table.source and len(table) > 5
        assert all(row.meaning for row in table)


def test_docs_carry_the_result_code_tables_as_the_code_has_them() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "providers.md").read_text("utf-8")
    assert results_markdown() in docs, "run: python -m channels.results, paste into docs"


def client_error(code: str, status: int, message: str = "msg") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message},
         "ResponseMetadata": {"HTTPStatusCode": status}},
        "Publish",
    )


@pytest.mark.parametrize(
    ("code", "status", "table", "expected"),
    [
        ("Throttled", 429, SNS_CODES, TransientError),
        ("Throttling", 400, SNS_CODES, TransientError),
        ("TooManyRequestsException", 429, SES_CODES, TransientError),
        ("InternalError", 500, SNS_CODES, TransientError),
        ("Whatever", 502, SNS_CODES, TransientError),
        ("Whatever", 400, SNS_CODES, TransientError),  # unlisted: never silently parked
        ("InvalidParameter", 400, SNS_CODES, PermanentError),
        ("EndpointDisabled", 400, SNS_CODES, PermanentError),
        ("MessageRejected", 400, SES_CODES, PermanentError),
        ("NotFound", 404, SNS_CODES, PermanentError),
        ("NotFoundException", 404, SES_CODES, CredentialsError),  # configuration set
        ("MailFromDomainNotVerifiedException", 400, SES_CODES, CredentialsError),
        ("LimitExceededException", 400, SES_CODES, CredentialsError),
        ("InvalidClientTokenId", 403, SNS_CODES, CredentialsError),
        ("AuthorizationError", 403, SNS_CODES, CredentialsError),
        ("SignatureDoesNotMatch", 403, SES_CODES, CredentialsError),
        ("AccountSuspendedException", 400, SES_CODES, CredentialsError),
        ("PlatformApplicationDisabled", 400, SNS_CODES, CredentialsError),
        ("403", 403, SNS_CODES, CredentialsError),
    ],
)
def test_aws_error_classification(
    code: str, status: int, table: CodeTable, expected: type
) -> None:
    error = classify_client_error(client_error(code, status), "sns", table)
    assert type(error) is expected
    assert error.code == code
    assert error.provider == "sns"


def test_ses_unverified_identity_is_our_configuration_not_the_recipient() -> None:
    error = classify_client_error(
        client_error("MessageRejected", 400,
                     "Email address is not verified. The following identities failed "
                     "the check in region AP-NORTHEAST-2: minwon@gumi.go.kr"),
        "ses", SES_CODES,
    )
    assert type(error) is CredentialsError
    assert error.code == "MessageRejected"


def test_sns_segments_count_ucs2_for_korean_and_gsm_for_ascii() -> None:
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("가" * 70) == 1
    assert segments("가" * 71) == 2  # 67 a segment once split
    assert segments("가" * 134) == 2
    assert segments("가" * 135) == 3


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("minwon@gumi.go.kr", "minwon@gumi.go.kr"),
        ("minwon@구미시.kr", "minwon@xn--2e0bx9yh9e.kr"),
        ("minwon@서울.한국", "minwon@xn--2i4bq6h.xn--3e0b707e"),
    ],
)
def test_ses_addresses_go_with_punycode_domains(address: str, expected: str) -> None:
    assert ascii_address(address, provider="ses") == expected


def test_ses_rejects_an_invalid_international_domain_before_calling() -> None:
    with pytest.raises(PermanentError):
        ascii_address("minwon@☃.kr", provider="ses")


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
