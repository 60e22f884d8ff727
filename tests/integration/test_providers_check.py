"""``minwon-hub providers check`` against the local peers: every provider OK when
configured right, and each misconfiguration named in its own line."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from hub.cli import main
from tests.providers.fakes import SENDER_UNREGISTERED, AlimtalkFake, NhnSmsFake, SensFake
from tests.providers.fixtures import (
    AWS_KEYS,
    FROM_ADDRESS,
    REGION,
    SMTP_PASSWORD,
    SMTP_USER,
    AwsWorld,
    SmtpServer,
)

pytest_plugins = ("tests.providers.fixtures",)
pytestmark = pytest.mark.integration


def toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value, ensure_ascii=False)


def write_config(path: Path, tables: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {toml(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def good(
    tmp_path: Path, nhn_fake: NhnSmsFake, sens_fake: SensFake, alimtalk_fake: AlimtalkFake,
    aws: AwsWorld, smtp_server: SmtpServer,
) -> dict[str, dict[str, Any]]:
    aws_settings = {"region": REGION, **AWS_KEYS, "endpoint_url": aws.moto.url}
    return {
        "channels.sms": {"providers": ["alimtalk", "nhn", "sens", "sns"]},
        "channels.email": {"providers": ["ses", "smtp"]},
        "channels.push": {"providers": ["push"]},
        "providers.nhn": {"app_key": nhn_fake.app_key, "secret_key": nhn_fake.secret_key,
                          "base_url": nhn_fake.url},
        "providers.sens": {"service_id": sens_fake.service_id,
                           "access_key": sens_fake.access_key,
                           "secret_key": sens_fake.secret_key, "base_url": sens_fake.url,
                           "record_dir": str(tmp_path / "records")},
        "providers.alimtalk": {"app_key": alimtalk_fake.app_key,
                               "secret_key": alimtalk_fake.secret_key,
                               "sender_key": alimtalk_fake.sender_key,
                               "templates": {"case.received": "MW-RECEIVED"},
                               "base_url": alimtalk_fake.url},
        "providers.sns": dict(aws_settings),
        "providers.push": {"type": "sns", **aws_settings,
                           "platform_application_arn": aws.platform_application},
        "providers.ses": {**aws_settings, "record_dir": str(tmp_path / "records")},
        "providers.smtp": {"host": smtp_server.host, "port": smtp_server.port,
                           "security": "none", "username": SMTP_USER,
                           "password": SMTP_PASSWORD, "record_dir": str(tmp_path / "records")},
        "orgs.gumi": {"sms_sender": "054-480-2114", "email_from": FROM_ADDRESS},
    }


SECRETS = ("secret_key", "password", "aws_secret_access_key")


def run(
    tmp_path: Path, tables: dict[str, dict[str, Any]], *args: str,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, list[str]]:
    """``minwon-hub providers check`` as an operator runs it: settings in the file,
    secrets in the environment (``MINWON__PROVIDERS__<NAME>__<KEY>``)."""
    in_file: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        in_file[name] = {k: v for k, v in table.items() if k not in SECRETS}
        for key in SECRETS:
            if key in table and name.startswith("providers."):
                provider = name.split(".", 1)[1].upper()
                monkeypatch.setenv(f"MINWON__PROVIDERS__{provider}__{key.upper()}",
                                   json.dumps(table[key]))
    config = write_config(tmp_path / "minwon.toml", in_file)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--config", str(config), "providers", "check", *args])
    return code, out.getvalue().splitlines()


def test_every_provider_configured_right_is_ok(
    tmp_path: Path, good: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, lines = run(tmp_path, good, monkeypatch=monkeypatch)
    assert code == 0, lines
    assert [line.split(":", 1)[0] for line in lines] == [
        "sms/alimtalk", "sms/nhn", "sms/sens", "sms/sns", "email/ses", "email/smtp",
        "push/push",
    ]
    assert all(line.split(": ", 1)[1].startswith("OK") for line in lines), lines


def test_each_misconfiguration_is_named_in_one_line(
    tmp_path: Path, good: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    good["providers.nhn"]["app_key"] = "typo"
    good["providers.sens"]["secret_key"] = "revoked"
    good["providers.alimtalk"]["templates"] = {"case.received": "MW-PENDING"}
    good["providers.sns"]["sms_region"] = "ap-northeast-2"
    good["providers.ses"]["sender"] = "minwon@unverified.example"
    good["providers.smtp"]["password"] = "wrong"
    code, lines = run(tmp_path, good, monkeypatch=monkeypatch)
    by_name = dict(line.split(": ", 1) for line in lines)
    assert code == 1
    assert by_name["sms/nhn"].startswith("nhn -1000: ")
    assert by_name["sms/sens"].startswith("sens 401/200: Authentication Failed")
    assert by_name["sms/alimtalk"] == "templates not approved or missing: MW-PENDING"
    assert by_name["sms/sns"].startswith("region ap-northeast-2 does not send SMS")
    assert by_name["email/ses"] == (
        f"from-address minwon@unverified.example is not a verified SES identity in {REGION}"
    )
    assert by_name["email/smtp"].startswith("smtp 535")
    assert by_name["push/push"].startswith("OK")


def test_an_unregistered_sender_number_and_a_wrong_service_id_are_named(
    tmp_path: Path, good: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    good["orgs.gumi"]["sms_sender"] = SENDER_UNREGISTERED
    good["providers.sens"]["service_id"] = "ncp:sms:kr:1:typo"
    code, lines = run(tmp_path, good, "--channel", "sms", monkeypatch=monkeypatch)
    by_name = dict(line.split(": ", 1) for line in lines)
    assert code == 1
    assert by_name["sms/nhn"] == (
        "sender number 029999999 is not registered (-2312 unregistered sender)"
    )
    assert by_name["sms/sens"].startswith("sens 404/300: ")
    assert set(by_name) == {"sms/alimtalk", "sms/nhn", "sms/sens", "sms/sns"}


def test_a_missing_setting_and_an_unknown_channel(
    tmp_path: Path, good: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    del good["providers.nhn"]["secret_key"]
    code, lines = run(tmp_path, good, "--channel", "sms", monkeypatch=monkeypatch)
    assert "sms/nhn: nhn CONFIG: setting providers.nhn.secret_key is missing" in lines
    code, lines = run(tmp_path, good, "--channel", "fax", monkeypatch=monkeypatch)
    assert code == 2 and lines == []
