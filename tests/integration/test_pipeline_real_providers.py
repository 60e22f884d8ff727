"""The whole pipeline with real provider protocols: events through RabbitMQ, the
router and the channel workers, out through SNS (SMS and push) and SES v2 on a
moto_server, and through SMTP to an aiosmtpd server when SES is down."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.config import Config
from hub.topology import DEAD_QUEUE
from tests.conftest import VHost, make_config
from tests.integration.harness import drain, publish, running_hub, wait_for
from tests.providers.fakes import PHONE_INVALID, SENDER, NhnSmsFake, SensFake, refused_port
from tests.providers.fixtures import AWS_KEYS, FROM_ADDRESS, REGION, AwsWorld, SmtpServer

pytest_plugins = ("tests.providers.fixtures",)
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def unique_phone() -> str:
    return f"010-5{random.randint(100, 999)}-{random.randint(1000, 9999)}"


def received_event(citizen: dict[str, Any]) -> dict[str, Any]:
    sample = ROOT / "templates" / "case.received" / "samples" / "full.json"
    event: dict[str, Any] = json.loads(sample.read_text("utf-8"))
    event["id"] = f"real-providers-{uuid.uuid4().hex[:12]}"
    event["data"]["citizen"] = {"name": "홍길동", **citizen}
    return event


def aws_config(tmp_path: Path, url: str, aws: AwsWorld, **sections: Any) -> Config:
    aws_settings = {"region": REGION, **AWS_KEYS, "endpoint_url": aws.moto.url}
    return make_config(
        tmp_path,
        url,
        channels={
            "sms": {"providers": ["sns"]},
            "email": {"providers": ["ses"]},
            "push": {"providers": ["sns"]},
        },
        providers={"sns": aws_settings,
                   "ses": {**aws_settings, "record_dir": str(tmp_path / "records")}},
        orgs={"gumi": {"email_from": FROM_ADDRESS, "email_from_name": "구미시 민원실"}},
        **sections,
    )


def test_sms_email_and_push_reach_sns_and_ses(
    vhost: VHost, tmp_path: Path, aws: AwsWorld
) -> None:
    # Given a hub whose sms and push go to SNS and whose e-mail goes to SES (moto_server)
    phone = unique_phone()
    address = f"hong-{uuid.uuid4().hex[:8]}@example.kr"
    token = f"device-{uuid.uuid4().hex[:8]}"
    endpoint = aws.moto.client("sns").create_platform_endpoint(
        PlatformApplicationArn=aws.platform_application, Token=token
    )["EndpointArn"]
    config = aws_config(tmp_path, vhost.url, aws)
    event = received_event(
        {"phone": phone, "email": address, "push_token": endpoint,
         "channels": ["sms", "email", "push"]}
    )
    e164 = "+82" + phone.replace("-", "")[1:]

    def sms() -> list[dict[str, Any]]:
        return [m for m in aws.moto.sms().values() if m["phone_number"] == e164]

    def mails() -> list[dict[str, Any]]:
        return [
            m for m in aws.moto.emails().values()
            if any(address in to for to in m["destinations"]["ToAddresses"])
        ]

    def pushes() -> list[str]:
        for e in aws.moto.data()["sns"]["PlatformEndpoint"]:
            if e["arn"] == endpoint:
                return list(e["messages"].values())
        return []

    with running_hub(config):
        # When a case.received event is published
        publish(vhost.url, [event])
        # Then the citizen's SMS, e-mail and push each reach the provider once
        wait_for(lambda: bool(sms() and mails() and pushes()), timeout=30,
                 message="the SMS, e-mail and push at moto")
        assert drain(vhost.url, DEAD_QUEUE) == []
    (text,) = sms()
    assert "홍길동님 민원이 접수되었습니다" in text["message"]
    (mail,) = mails()
    assert mail["subject"]
    assert mail["source"].endswith(f"<{FROM_ADDRESS}>")
    (document,) = pushes()
    gcm = json.loads(json.loads(document)["GCM"])
    assert gcm["data"]["case_id"] == "2026-0001234"
    assert gcm["data"]["event_type"] == "case.received"


def test_email_fails_over_from_a_dead_ses_to_smtp_and_refusals_are_parked(
    vhost: VHost, tmp_path: Path, aws: AwsWorld, smtp_server: SmtpServer
) -> None:
    # Given e-mail providers [ses, smtp] where SES's endpoint refuses connections
    config = aws_config(
        tmp_path, vhost.url, aws,
    ).with_overrides(
        {
            "channels": {"email": {"providers": ["ses", "smtp"]}},
            "providers": {
                "ses": {"endpoint_url": f"http://127.0.0.1:{refused_port()}"},
                "smtp": {"host": smtp_server.host, "port": smtp_server.port,
                         "security": "none", "username": "hub", "password": "s3cret",
                         "record_dir": str(tmp_path / "records")},
            },
        }
    )
    good = received_event({"email": "hong@example.kr", "channels": ["email"]})
    bounced = received_event({"email": "bounce@example.kr", "channels": ["email"]})
    with running_hub(config):
        # When two events are published, one to a mailbox the server refuses
        publish(vhost.url, [good, bounced])
        # Then the good one arrives by SMTP, with its Korean headers intact
        wait_for(lambda: len(smtp_server.recorder.received) == 1, timeout=30,
                 message="the e-mail at the SMTP server")
        parked: list[tuple[bytes, dict[str, Any]]] = []

        def some_parked() -> bool:
            parked.extend(drain(vhost.url, DEAD_QUEUE))
            return bool(parked)

        wait_for(some_parked, timeout=30, message="the refused e-mail parked")
    (received,) = smtp_server.recorder.received
    assert received.rcpt_tos == ["hong@example.kr"]
    message = received.message
    assert message["From"].addresses[0].display_name == "구미시 민원실"
    assert message["To"].addresses[0].display_name == "홍길동"
    assert any("\uac00" <= ch <= "\ud7a3" for ch in str(message["Subject"]))
    assert message.get_content_type() in ("multipart/alternative", "text/plain")
    # And the refused one is parked with the SMTP server's permanent answer
    (body, headers), = parked
    assert json.loads(body)["event_id"] == bounced["id"]
    assert headers["x-hub-reason-code"] == "permanent"
    assert "smtp 550" in headers["x-hub-reason"]


def test_sms_unregistered_at_nhn_goes_by_sens_once_and_an_invalid_number_is_parked(
    vhost: VHost, tmp_path: Path, nhn_fake: NhnSmsFake, sens_fake: SensFake
) -> None:
    # Given sms providers [nhn, sens] where NHN has not registered the city's sender
    # number (it answers -2312, as its published table says)
    nhn_fake.registered_senders.clear()
    config = make_config(
        tmp_path, vhost.url,
        channels={"sms": {"providers": ["nhn", "sens"]}},
        providers={
            "nhn": {"app_key": nhn_fake.app_key, "secret_key": nhn_fake.secret_key,
                    "base_url": nhn_fake.url},
            "sens": {"service_id": sens_fake.service_id, "access_key": sens_fake.access_key,
                     "secret_key": sens_fake.secret_key, "base_url": sens_fake.url,
                     "record_dir": str(tmp_path / "records")},
        },
        orgs={"gumi": {"sms_sender": SENDER}},
    )
    good = received_event({"phone": unique_phone(), "channels": ["sms"]})
    invalid = received_event({"phone": PHONE_INVALID, "channels": ["sms"]})
    with running_hub(config):
        # When two events are published, one to a number the carriers refuse
        publish(vhost.url, [good, invalid])
        parked: list[tuple[bytes, dict[str, Any]]] = []

        def some_parked() -> bool:
            parked.extend(drain(vhost.url, DEAD_QUEUE))
            return bool(parked)

        wait_for(lambda: len(sens_fake.accepted) == 1, timeout=30,
                 message="the SMS accepted by SENS")
        wait_for(some_parked, timeout=30, message="the invalid number parked")
    # Then the citizen got one SMS, by SENS; NHN delivered nothing
    assert nhn_fake.accepted == {}
    (request,) = sens_fake.accepted.values()
    assert request.body["from"] == SENDER.replace("-", "")
    # And the invalid number is parked with SENS's answer: NHN's -2312 was about our
    # account (failed over), SENS's refusal is about the recipient (the chain stopped)
    (body, headers), = parked
    assert json.loads(body)["event_id"] == invalid["id"]
    assert headers["x-hub-reason-code"] == "permanent"
    assert headers["x-hub-reason"].startswith("sens 400")
