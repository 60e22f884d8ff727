"""Fixtures of the provider suite: the servers each provider talks to, and one
:class:`ProviderCase` per provider describing how to make it succeed, fail
transiently, fail permanently and have its credentials rejected.

Load with ``pytest_plugins = ("tests.providers.fixtures",)`` in a test module.

* ``moto`` — a ``moto_server`` subprocess on a free loopback port (SNS, SES v2),
  with a verified SES domain, an SNS platform application and two endpoints
  (enabled, disabled);
* ``moto_auth`` — a second one with IAM authentication enforced from the first
  request (``INITIAL_NO_AUTH_ACTION_COUNT=0``): our test keys are rejected there
  as a real AWS would reject a revoked key;
* ``aws_throttle`` — an HTTP server answering every AWS call with throttling;
* ``smtp_server`` — an ``aiosmtpd`` controller that records what it received,
  requires a login, and refuses ``bounce@``/greylists ``greylist@`` recipients;
* ``nhn_fake`` / ``sens_fake`` / ``alimtalk_fake`` — see :mod:`tests.providers.fakes`;
* ``tripwire`` — a TCP listener that counts connections.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from channels import load_provider
from channels.base import Message, Provider, Receipt
from tests.providers.fakes import (
    PHONE_BUSY,
    PHONE_INVALID,
    PHONE_OK,
    SENDER,
    AlimtalkFake,
    AwsErrorFake,
    NhnSmsFake,
    SensFake,
    Tripwire,
)

REGION = "ap-northeast-2"
AWS_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SES_DOMAIN = "gumi.go.kr"
FROM_ADDRESS = f"minwon@{SES_DOMAIN}"
SMTP_USER = "hub"
SMTP_PASSWORD = "s3cret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- moto


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen[bytes]

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, **AWS_KEYS)

    def data(self) -> dict[str, Any]:
        """Everything moto holds (``/moto-api/data.json``)."""
        answer: dict[str, Any] = requests.get(f"{self.url}/moto-api/data.json", timeout=5).json()
        return answer

    def sms(self) -> dict[str, dict[str, Any]]:
        return {m["message_id"]: m for m in self.data()["sns"]["SMS"]}

    def emails(self) -> dict[str, dict[str, Any]]:
        return {m["id"]: m for m in self.data()["ses"]["Message"]}

    def push(self) -> dict[str, str]:
        """message id -> published JSON document, over every platform endpoint."""
        out: dict[str, str] = {}
        for endpoint in self.data()["sns"]["PlatformEndpoint"]:
            out.update(endpoint.get("messages") or {})
        return out


def _start_moto(extra_env: dict[str, str]) -> MotoServer:
    port = free_port()
    env = {**os.environ, **extra_env}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return MotoServer(f"http://127.0.0.1:{port}", process)


def _wait_ready(server: MotoServer, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("moto_server exited at start")
        try:
            if requests.get(f"{server.url}/moto-api/", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError("moto_server did not start in time")


@dataclass
class AwsWorld:
    moto: MotoServer
    moto_auth: MotoServer
    platform_application: str
    endpoint: str  # enabled platform endpoint ARN
    disabled_endpoint: str


@pytest.fixture(scope="session")
def aws() -> Iterator[AwsWorld]:
    """Two moto servers (open, and with authentication enforced), set up for the hub."""
    servers = [_start_moto({}), _start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})]
    try:
        deadline = time.monotonic() + 30
        for server in servers:
            _wait_ready(server, deadline)
        moto = servers[0]
        moto.client("sesv2").create_email_identity(EmailIdentity=SES_DOMAIN)
        sns = moto.client("sns")
        app = sns.create_platform_application(
            Name="minwon-app", Platform="GCM", Attributes={"PlatformCredential": "fcm-key"}
        )["PlatformApplicationArn"]
        enabled = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="device-ok")
        disabled = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="device-gone")
        sns.set_endpoint_attributes(
            EndpointArn=disabled["EndpointArn"], Attributes={"Enabled": "false"}
        )
        yield AwsWorld(moto, servers[1], app, enabled["EndpointArn"], disabled["EndpointArn"])
    finally:
        for server in servers:
            server.process.terminate()
        for server in servers:
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()


@pytest.fixture(scope="session")
def moto(aws: AwsWorld) -> MotoServer:
    return aws.moto


@pytest.fixture(scope="session")
def aws_throttle() -> Iterator[AwsErrorFake]:
    server = AwsErrorFake()
    yield server
    server.close()


# --------------------------------------------------------------------------- HTTP fakes


@pytest.fixture
def nhn_fake() -> Iterator[NhnSmsFake]:
    server = NhnSmsFake()
    yield server
    server.close()
    assert server.violations == [], server.violations


@pytest.fixture
def sens_fake() -> Iterator[SensFake]:
    server = SensFake()
    yield server
    server.close()
    assert server.violations == [], server.violations


@pytest.fixture
def alimtalk_fake() -> Iterator[AlimtalkFake]:
    server = AlimtalkFake()
    yield server
    server.close()
    assert server.violations == [], server.violations


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    server = Tripwire()
    yield server
    server.close()


# --------------------------------------------------------------------------- SMTP


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    peer: Any


class SmtpRecorder:
    """aiosmtpd handler: refuses ``bounce@`` (550), greylists ``greylist@`` (451),
    records every message it takes."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        local = address.split("@", 1)[0].lower()
        if local == "bounce":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local == "greylist":
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), raw, parsed, session.peer)
        )
        return "250 2.0.0 Ok: queued"

    def by_message_id(self, message_id: str) -> Received | None:
        for item in self.received:
            if str(item.message["Message-ID"]).strip("<>") == message_id:
                return item
        return None


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: SmtpRecorder
    controller: Any


def start_smtp(**kwargs: Any) -> SmtpServer:
    from aiosmtpd.controller import Controller

    recorder = SmtpRecorder()
    port = int(kwargs.pop("port", 0)) or free_port()
    options: dict[str, Any] = {
        "authenticator": _authenticator,
        "auth_require_tls": False,
        "enable_SMTPUTF8": True,
        **kwargs,
    }
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return SmtpServer("127.0.0.1", port, recorder, controller)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_smtp()
    yield server
    server.controller.stop()


@dataclass
class Certificate:
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for localhost / 127.0.0.1 (the CA file is itself)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


# --------------------------------------------------------------------------- cases


@dataclass
class ProviderCase:
    """How to drive one provider through the shared suite.

    Scenarios: ``ok``, ``transient``, ``permanent``, ``credentials``. ``settings``
    makes a working provider; ``overrides[scenario]`` changes settings (a throttling
    endpoint, a wrong key); ``addresses[scenario]`` and ``message_overrides[scenario]``
    change the message. ``point_at(port)`` are the settings that aim the provider
    at another loopback port (tripwire, a dead port).
    """

    name: str
    channel: str
    settings: dict[str, Any]
    addresses: dict[str, str]
    point_at: Callable[[int], dict[str, Any]]
    delivered: Callable[[Receipt], bool]
    defaults: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    message_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    opened: list[Provider] = field(default_factory=list)

    def provider(self, scenario: str = "ok", **settings: Any) -> Provider:
        merged = {**self.settings, **self.overrides.get(scenario, {}), **settings}
        provider = load_provider(self.channel, self.name, merged)
        self.opened.append(provider)
        return provider

    def provider_at(self, port: int) -> Provider:
        return self.provider("ok", **self.point_at(port))

    def message(self, scenario: str = "ok", **fields: Any) -> Message:
        values: dict[str, Any] = {
            "notification_id": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "event_type": "case.received",
            "case_id": "2026-0001234",
            "org": "gumi",
            "channel": self.channel,
            "to": self.addresses.get(scenario, self.addresses["ok"]),
            "template": "case.received",
            "template_version": "1",
        }
        values.update(self.defaults)
        values.update(self.message_overrides.get(scenario, {}))
        values.update(fields)
        return Message(**values)

    def close(self) -> None:
        for provider in self.opened:
            provider.close()


SMS_BODY = "[구미시] 민원이 접수되었습니다. 접수번호 2026-0001234"
SMS_DEFAULTS: dict[str, Any] = {"body": SMS_BODY, "sender": SENDER}
PHONES = {"ok": PHONE_OK, "transient": PHONE_BUSY, "permanent": PHONE_INVALID}


def _http_at(port: int) -> dict[str, Any]:
    return {"base_url": f"http://127.0.0.1:{port}", "connect_timeout": 1, "read_timeout": 2}


def _aws_at(port: int) -> dict[str, Any]:
    return {"endpoint_url": f"http://127.0.0.1:{port}", "connect_timeout": 1, "read_timeout": 2}


def _smtp_at(port: int) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "timeout": 2}


@pytest.fixture
def nhn_case(nhn_fake: NhnSmsFake) -> Iterator[ProviderCase]:
    case = ProviderCase(
        name="nhn",
        channel="sms",
        settings={
            "app_key": nhn_fake.app_key,
            "secret_key": nhn_fake.secret_key,
            **_http_at(0),
            "base_url": nhn_fake.url,
        },
        addresses=PHONES,
        point_at=_http_at,
        delivered=lambda r: r.message_id in nhn_fake.accepted,
        defaults=SMS_DEFAULTS,
        overrides={"credentials": {"secret_key": "revoked"}},
    )
    yield case
    case.close()


@pytest.fixture
def sens_case(sens_fake: SensFake, tmp_path: Path) -> Iterator[ProviderCase]:
    case = ProviderCase(
        name="sens",
        channel="sms",
        settings={
            "service_id": sens_fake.service_id,
            "access_key": sens_fake.access_key,
            "secret_key": sens_fake.secret_key,
            **_http_at(0),
            "base_url": sens_fake.url,
            "record_dir": str(tmp_path / "records"),
        },
        addresses=PHONES,
        point_at=_http_at,
        delivered=lambda r: r.message_id in sens_fake.accepted,
        defaults=SMS_DEFAULTS,
        overrides={"credentials": {"secret_key": "revoked"}},
    )
    yield case
    case.close()


@pytest.fixture
def alimtalk_case(alimtalk_fake: AlimtalkFake) -> Iterator[ProviderCase]:
    case = ProviderCase(
        name="alimtalk",
        channel="sms",
        settings={
            "app_key": alimtalk_fake.app_key,
            "secret_key": alimtalk_fake.secret_key,
            "sender_key": alimtalk_fake.sender_key,
            "templates": {"case.received": "MW-RECEIVED"},
            **_http_at(0),
            "base_url": alimtalk_fake.url,
        },
        addresses=PHONES,
        point_at=_http_at,
        delivered=lambda r: r.message_id in alimtalk_fake.accepted,
        defaults={
            **SMS_DEFAULTS,
            "extra": {"alimtalk": {"parameters": {"민원번호": "2026-0001234"}}},
        },
        overrides={"credentials": {"secret_key": "revoked"}},
    )
    yield case
    case.close()


@pytest.fixture
def sns_sms_case(aws: AwsWorld, aws_throttle: AwsErrorFake) -> Iterator[ProviderCase]:
    case = ProviderCase(
        name="sns",
        channel="sms",
        settings={"region": REGION, **AWS_KEYS, **_aws_at(0), "endpoint_url": aws.moto.url},
        addresses={"ok": PHONE_OK, "permanent": "not-a-phone-number"},
        point_at=_aws_at,
        delivered=lambda r: r.message_id in aws.moto.sms(),
        defaults=SMS_DEFAULTS,
        overrides={
            "transient": {"endpoint_url": aws_throttle.url},
            "credentials": {"endpoint_url": aws.moto_auth.url},
        },
    )
    yield case
    case.close()


EMAIL_DEFAULTS: dict[str, Any] = {
    "subject": "[구미시] 민원 처리 결과 안내",
    "body": "홍길동님, 신청하신 민원(2026-0001234)의 처리가 끝났습니다.",
    "html": "<p>홍길동님, 신청하신 민원(<b>2026-0001234</b>)의 처리가 끝났습니다.</p>",
    "sender": FROM_ADDRESS,
    "sender_name": "구미시 민원실",
    "recipient_name": "홍길동",
}


@pytest.fixture
def ses_case(
    aws: AwsWorld, aws_throttle: AwsErrorFake, tmp_path: Path
) -> Iterator[ProviderCase]:
    case = ProviderCase(
        name="ses",
        channel="email",
        settings={"region": REGION, **AWS_KEYS, **_aws_at(0), "endpoint_url": aws.moto.url,
                  "record_dir": str(tmp_path / "records")},
        # A malformed address is refused before the call (SES would refuse it too).
        addresses={"ok": "hong@example.kr", "permanent": "hong@"},
        point_at=_aws_at,
        delivered=lambda r: r.message_id in aws.moto.emails(),
        defaults=EMAIL_DEFAULTS,
        overrides={
            "transient": {"endpoint_url": aws_throttle.url},
            "credentials": {"endpoint_url": aws.moto_auth.url},
        },
    )
    yield case
    case.close()


@pytest.fixture
def smtp_case(smtp_server: SmtpServer, tmp_path: Path) -> Iterator[ProviderCase]:
    recorder = smtp_server.recorder
    case = ProviderCase(
        name="smtp",
        channel="email",
        settings={
            "security": "none",
            "username": SMTP_USER,
            "password": SMTP_PASSWORD,
            **_smtp_at(smtp_server.port),
            "record_dir": str(tmp_path / "records"),
        },
        addresses={
            "ok": "hong@example.kr",
            "transient": "greylist@example.kr",
            "permanent": "bounce@example.kr",
        },
        point_at=_smtp_at,
        delivered=lambda r: r.message_id is not None
        and recorder.by_message_id(r.message_id) is not None,
        defaults=EMAIL_DEFAULTS,
        overrides={"credentials": {"password": "wrong"}},
    )
    yield case
    case.close()


PUSH_DEFAULTS: dict[str, Any] = {
    "subject": "민원 접수",
    "body": "민원(2026-0001234)이 접수되었습니다.",
}


@pytest.fixture
def sns_push_case(aws: AwsWorld, aws_throttle: AwsErrorFake) -> Iterator[ProviderCase]:
    case = ProviderCase(
        name="sns",
        channel="push",
        settings={"region": REGION, **AWS_KEYS, **_aws_at(0), "endpoint_url": aws.moto.url},
        addresses={"ok": aws.endpoint, "permanent": aws.disabled_endpoint},
        point_at=_aws_at,
        delivered=lambda r: r.message_id in aws.moto.push(),
        defaults=PUSH_DEFAULTS,
        overrides={
            "transient": {"endpoint_url": aws_throttle.url},
            "credentials": {"endpoint_url": aws.moto_auth.url},
        },
    )
    yield case
    case.close()


#: Every provider of every channel, by the fixture that drives it.
CASES: dict[str, list[str]] = {
    "sms": ["nhn_case", "sens_case", "sns_sms_case", "alimtalk_case"],
    "email": ["ses_case", "smtp_case"],
    "push": ["sns_push_case"],
}
