"""What each provider puts on the wire, checked where it lands: the contract-checking
HTTP fakes (NHN, SENS, 알림톡), moto_server (SNS, SES v2) and aiosmtpd (SMTP)."""

from __future__ import annotations

import email.policy
import json
import ssl
import threading
from typing import Any

import pytest

from channels.base import CredentialsError, PermanentError, TransientError
from channels.email.smtp import SmtpEmail
from channels.results import NoticeConfigurationError
from tests.providers.fakes import SENDER, AlimtalkFake, NhnSmsFake, SensFake
from tests.providers.fixtures import (
    AwsWorld,
    Certificate,
    ProviderCase,
    SmtpServer,
    start_smtp,
)

pytest_plugins = ("tests.providers.fixtures",)
pytestmark = pytest.mark.integration

SHORT = "[구미시] 민원이 접수되었습니다."  # 30 CP949 bytes
LONG = "[구미시] " + "민원 처리 결과를 알려 드립니다. " * 6  # well over 90 bytes


# --------------------------------------------------------------------------- NHN Cloud SMS


@pytest.mark.parametrize(
    ("body", "kind", "endpoint"),
    [
        (SHORT, None, "sms"),
        (LONG, None, "mms"),
        (SHORT, "LMS", "mms"),
        ("가" * 45, None, "sms"),  # exactly 90 bytes
        ("가" * 45 + "a", None, "mms"),  # 91 bytes
        ("똠" * 45, None, "sms"),  # outside KS X 1001 but 2 bytes in CP949
    ],
)
def test_nhn_picks_the_sms_or_lms_endpoint_by_kind_or_cp949_length(
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake, body: str, kind: str | None, endpoint: str
) -> None:
    message = nhn_case.message(body=body, kind=kind)
    receipt = nhn_case.provider().send(message)
    request = nhn_fake.accepted[str(receipt.message_id)]
    assert request.path.endswith(f"/sender/{endpoint}")
    assert request.body["body"] == body
    assert request.body["recipientList"] == [
        {"recipientNo": "01012345678", "recipientGroupingKey": message.notification_id}
    ]
    assert request.body["senderGroupingKey"] == message.notification_id
    assert request.body["sendNo"] == SENDER.replace("-", "")
    if endpoint == "mms":
        assert request.body["title"]


def test_nhn_lms_title_is_the_subject_cut_to_40_bytes(
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake
) -> None:
    message = nhn_case.message(body=LONG, subject="민원 처리 결과 안내 " * 5)
    receipt = nhn_case.provider().send(message)
    title = nhn_fake.accepted[str(receipt.message_id)].body["title"]
    assert title.startswith("민원 처리 결과 안내")
    assert len(title.encode("cp949")) <= 40


def test_nhn_falls_back_to_its_own_sender_number(
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake
) -> None:
    provider = nhn_case.provider(sender="1588-0000")
    receipt = provider.send(nhn_case.message(sender=None))
    assert nhn_fake.accepted[str(receipt.message_id)].body["sendNo"] == "15880000"


def test_nhn_without_any_sender_number_is_a_configuration_error(nhn_case: ProviderCase) -> None:
    # Our configuration, not the recipient: a credentials-class error, so a chain
    # fails over to a provider that has a sender number of its own.
    with pytest.raises(CredentialsError) as caught:
        nhn_case.provider().send(nhn_case.message(sender=None))
    assert caught.value.code == "NO-SENDER"


def test_nhn_reuses_one_keep_alive_connection(
    nhn_case: ProviderCase, nhn_fake: NhnSmsFake
) -> None:
    provider = nhn_case.provider()
    for _ in range(5):
        provider.send(nhn_case.message())
    assert len(nhn_fake.requests) == 5
    assert len({request.peer for request in nhn_fake.requests}) == 1


# --------------------------------------------------------------------------- SENS


@pytest.mark.parametrize(("body", "kind"), [(SHORT, "SMS"), (LONG, "LMS")])
def test_sens_signs_each_request_and_sends_sms_or_lms_by_length(
    sens_case: ProviderCase, sens_fake: SensFake, body: str, kind: str
) -> None:
    receipt = sens_case.provider().send(sens_case.message(body=body, subject="민원 안내"))
    request = sens_fake.accepted[str(receipt.message_id)]
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["x-ncp-apigw-signature-v2"] == sens_fake.signature(
        request.path, headers["x-ncp-apigw-timestamp"]
    )
    assert request.body["type"] == kind
    assert request.body["content"] == body
    assert request.body["from"] == SENDER.replace("-", "")
    assert request.body["messages"] == [{"to": "01012345678"}]
    assert ("subject" in request.body) is (kind == "LMS")


# --------------------------------------------------------------------------- 알림톡


def test_alimtalk_sends_template_code_parameters_and_an_lms_fallback(
    alimtalk_case: ProviderCase, alimtalk_fake: AlimtalkFake
) -> None:
    message = alimtalk_case.message(body=LONG, subject="민원 접수 안내")
    receipt = alimtalk_case.provider().send(message)
    body = alimtalk_fake.accepted[str(receipt.message_id)].body
    assert body["senderKey"] == alimtalk_fake.sender_key
    assert body["templateCode"] == "MW-RECEIVED"
    (recipient,) = body["recipientList"]
    assert recipient["templateParameter"] == {"민원번호": "2026-0001234"}
    assert recipient["resendParameter"] == {
        "isResend": True,
        "resendType": "LMS",
        "resendTitle": "민원 접수 안내",
        "resendContent": LONG,
        "resendSendNo": SENDER.replace("-", ""),
    }
    assert receipt.detail["template_code"] == "MW-RECEIVED"


def test_alimtalk_template_code_from_the_message_wins_over_settings(
    alimtalk_case: ProviderCase, alimtalk_fake: AlimtalkFake
) -> None:
    message = alimtalk_case.message(extra={"alimtalk": {"template_code": "MW-PLAIN"}})
    receipt = alimtalk_case.provider().send(message)
    body = alimtalk_fake.accepted[str(receipt.message_id)].body
    assert body["templateCode"] == "MW-PLAIN"
    assert body["recipientList"][0]["resendParameter"]["resendType"] == "SMS"


def test_alimtalk_does_not_accept_a_notice_without_a_template(
    alimtalk_case: ProviderCase,
) -> None:
    provider = alimtalk_case.provider()
    message = alimtalk_case.message(template="case.answered", event_type="case.answered")
    assert provider.accepts(message) is False
    with pytest.raises(PermanentError) as caught:
        provider.send(message)
    assert caught.value.code == "NO-TEMPLATE"


def test_alimtalk_unknown_template_code_fails_over_as_our_configuration(
    alimtalk_case: ProviderCase,
) -> None:
    message = alimtalk_case.message(extra={"alimtalk": {"template_code": "NOT-REVIEWED"}})
    with pytest.raises(NoticeConfigurationError) as caught:
        alimtalk_case.provider().send(message)
    assert caught.value.code == "-3003"


# --------------------------------------------------------------------------- SNS SMS


def test_sns_sms_publishes_the_number_in_e164(sns_sms_case: ProviderCase, aws: AwsWorld) -> None:
    receipt = sns_sms_case.provider().send(sns_sms_case.message(body=SHORT))
    sms = aws.moto.sms()[str(receipt.message_id)]
    assert sms["phone_number"] == "+821012345678"
    assert sms["message"] == SHORT


# --------------------------------------------------------------------------- SES


def test_ses_sends_korean_subject_and_encoded_display_names(
    ses_case: ProviderCase, aws: AwsWorld
) -> None:
    receipt = ses_case.provider().send(ses_case.message())
    sent = aws.moto.emails()[str(receipt.message_id)]
    assert sent["subject"] == "[구미시] 민원 처리 결과 안내"
    assert "<b>2026-0001234</b>" in sent["body"]
    assert sent["source"].isascii() and sent["source"].endswith("<minwon@gumi.go.kr>")
    header = email.policy.default.header_factory("From", sent["source"])
    assert header.addresses[0].display_name == "구미시 민원실"
    (to,) = sent["destinations"]["ToAddresses"]
    assert email.policy.default.header_factory("To", to).addresses[0].display_name == "홍길동"


def test_ses_invalid_recipient_address_is_permanent_without_a_call(
    ses_case: ProviderCase,
) -> None:
    with pytest.raises(PermanentError) as caught:
        ses_case.provider().send(ses_case.message(to="not an address"))
    assert caught.value.code == "INVALID-ADDRESS"


# --------------------------------------------------------------------------- SMTP


def _check_received(server: SmtpServer, message_id: str) -> None:
    received = server.recorder.by_message_id(message_id)
    assert received is not None
    msg = received.message
    # Headers travel as ASCII (RFC 2047 encoded-words) and decode to the Korean text.
    head = received.raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert msg["Subject"] == "[구미시] 민원 처리 결과 안내"
    assert msg["From"].addresses[0].display_name == "구미시 민원실"
    assert msg["From"].addresses[0].addr_spec == "minwon@gumi.go.kr"
    assert msg["To"].addresses[0].display_name == "홍길동"
    assert msg.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in msg.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "처리가 끝났습니다" in parts["text/plain"]
    assert "<b>2026-0001234</b>" in parts["text/html"]
    assert received.mail_from == "minwon@gumi.go.kr"
    assert received.rcpt_tos == ["hong@example.kr"]


def test_smtp_sends_multipart_alternative_with_korean_headers(
    smtp_case: ProviderCase, smtp_server: SmtpServer
) -> None:
    receipt = smtp_case.provider().send(smtp_case.message())
    _check_received(smtp_server, str(receipt.message_id))


def test_smtp_text_only_notice_is_a_single_part(
    smtp_case: ProviderCase, smtp_server: SmtpServer
) -> None:
    receipt = smtp_case.provider().send(smtp_case.message(html=None))
    received = smtp_server.recorder.by_message_id(str(receipt.message_id))
    assert received is not None
    assert received.message.get_content_type() == "text/plain"


def test_smtp_utf8_address_goes_out_with_smtputf8(
    smtp_case: ProviderCase, smtp_server: SmtpServer
) -> None:
    receipt = smtp_case.provider().send(smtp_case.message(to="홍길동@example.kr"))
    received = smtp_server.recorder.by_message_id(str(receipt.message_id))
    assert received is not None
    assert received.rcpt_tos == ["홍길동@example.kr"]
    assert received.message["Subject"] == "[구미시] 민원 처리 결과 안내"


def _tls_server(cert: Certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert_file, cert.key_file)
    return context


def test_smtp_starttls_then_login(smtp_case: ProviderCase, tls_cert: Certificate) -> None:
    server = start_smtp(
        tls_context=_tls_server(tls_cert), require_starttls=True, auth_require_tls=True
    )
    try:
        provider = smtp_case.provider(
            security="starttls", port=server.port, host="localhost", ca_file=str(tls_cert.cert_file)
        )
        receipt = provider.send(smtp_case.message())
        _check_received(server, str(receipt.message_id))
    finally:
        provider.close()
        server.controller.stop()


def test_smtp_implicit_tls(smtp_case: ProviderCase, tls_cert: Certificate) -> None:
    server = start_smtp(ssl_context=_tls_server(tls_cert))
    try:
        provider = smtp_case.provider(
            security="tls", port=server.port, host="localhost", ca_file=str(tls_cert.cert_file)
        )
        receipt = provider.send(smtp_case.message())
        _check_received(server, str(receipt.message_id))
    finally:
        provider.close()
        server.controller.stop()


def test_smtp_untrusted_certificate_is_transient(
    smtp_case: ProviderCase, tls_cert: Certificate
) -> None:
    server = start_smtp(ssl_context=_tls_server(tls_cert))
    try:
        provider = smtp_case.provider(security="tls", port=server.port, host="localhost")
        with pytest.raises(TransientError):
            provider.send(smtp_case.message())
        assert server.recorder.received == []
    finally:
        server.controller.stop()


def test_smtp_pool_reuses_connections_across_threads(
    smtp_case: ProviderCase, smtp_server: SmtpServer
) -> None:
    provider = smtp_case.provider(pool_size=2)
    assert isinstance(provider, SmtpEmail)
    errors: list[BaseException] = []

    def send_some() -> None:
        try:
            for _ in range(5):
                provider.send(smtp_case.message())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(smtp_server.recorder.received) == 20
    assert provider.pool.opened <= 2
    assert len({r.peer for r in smtp_server.recorder.received}) <= 2


def test_smtp_reconnects_when_the_server_dropped_a_pooled_connection(
    smtp_case: ProviderCase,
) -> None:
    first = start_smtp()
    provider = smtp_case.provider(port=first.port)
    assert isinstance(provider, SmtpEmail)
    provider.send(smtp_case.message())
    first.controller.stop()  # the pooled connection is now dead
    second = start_smtp(port=first.port)
    try:
        receipt = provider.send(smtp_case.message())
        assert second.recorder.by_message_id(str(receipt.message_id)) is not None
        assert provider.pool.opened == 2
    finally:
        second.controller.stop()


# --------------------------------------------------------------------------- SNS push


def test_push_publishes_one_document_for_fcm_and_apns(
    sns_push_case: ProviderCase, aws: AwsWorld
) -> None:
    message = sns_push_case.message(extra={"url": "https://example.go.kr/minwon/2026-0001234"})
    receipt = sns_push_case.provider().send(message)
    document = json.loads(aws.moto.push()[str(receipt.message_id)])
    assert document["default"] == "민원(2026-0001234)이 접수되었습니다."
    gcm: dict[str, Any] = json.loads(document["GCM"])
    assert gcm["notification"] == {"title": "민원 접수", "body": document["default"]}
    assert gcm["data"]["case_id"] == "2026-0001234"
    assert gcm["data"]["url"].endswith("2026-0001234")
    apns = json.loads(document["APNS"])
    assert apns["aps"]["alert"]["title"] == "민원 접수"


def test_push_registers_a_raw_device_token_once(
    sns_push_case: ProviderCase, aws: AwsWorld
) -> None:
    provider = sns_push_case.provider(platform_application_arn=aws.platform_application)
    first = provider.send(sns_push_case.message(to="raw-device-token-1"))
    second = provider.send(sns_push_case.message(to="raw-device-token-1"))
    endpoints = [
        e for e in aws.moto.data()["sns"]["PlatformEndpoint"] if e["token"] == "raw-device-token-1"
    ]
    assert len(endpoints) == 1
    assert {first.message_id, second.message_id} <= set(endpoints[0]["messages"])


def test_push_raw_token_without_an_application_is_permanent(
    sns_push_case: ProviderCase,
) -> None:
    with pytest.raises(PermanentError) as caught:
        sns_push_case.provider().send(sns_push_case.message(to="raw-device-token-2"))
    assert caught.value.code == "INVALID-TOKEN"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_server_requiring_a_login_refuses_an_anonymous_provider(
    smtp_case: ProviderCase,
) -> None:
    server = start_smtp(auth_required=True)
    try:
        provider = smtp_case.provider(port=server.port, username="")
        with pytest.raises(CredentialsError) as caught:
            provider.send(smtp_case.message())
        assert caught.value.code == "530"
        logged_in = smtp_case.provider(port=server.port)
        assert logged_in.send(smtp_case.message()).message_id
        assert server.recorder.received[0].rcpt_tos == ["hong@example.kr"]
    finally:
        server.controller.stop()
