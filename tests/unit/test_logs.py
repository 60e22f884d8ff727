"""hub.logs: one JSON object per line, personal data masked wherever it appears."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from hub.logs import setup_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.usefixtures("restore_root")
def test_json_line_has_fields_and_masked_extras() -> None:
    # Given JSON logging
    out = io.StringIO()
    setup_logging("INFO", "json", stream=out)
    # When a worker logs a send with personal data in extras
    logging.getLogger("hub.worker").info(
        "sent",
        extra={
            "notification_id": "6f1c3e0a-6a57-4d0b-9a39-6d696e776f6e",
            "channel": "sms",
            "to": "010-1234-5678",
            "recipient": {"name": "홍길동", "email": "hong@example.kr"},
            "attempt": 2,
        },
    )
    # Then one JSON object with the standard fields and masked extras
    [line] = _lines(out)
    assert line["level"] == "INFO"
    assert line["logger"] == "hub.worker"
    assert line["msg"] == "sent"
    assert str(line["ts"]).endswith("Z")
    assert line["notification_id"] == "6f1c3e0a-6a57-4d0b-9a39-6d696e776f6e"
    assert line["to"] == "010-****-5678"
    assert line["recipient"] == {"name": "홍*동", "email": "h***@example.kr"}
    assert line["attempt"] == 2


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("sending to %s", ("010-1234-5678",), "sending to 010-****-5678"),
        ("mail %s failed", ("hong@example.kr",), "mail h***@example.kr failed"),
        ("recipient %s", ({"name": "홍길동"},), "recipient {'name': '홍*동'}"),
        ("call 01012345678 now", (), "call 010-****-5678 now"),
        ("attempt %d of %d", (2, 6), "attempt 2 of 6"),
    ],
)
@pytest.mark.usefixtures("restore_root")
def test_message_text_and_arguments_are_masked(
    msg: str, args: tuple[object, ...], expected: str
) -> None:
    out = io.StringIO()
    setup_logging("INFO", "json", stream=out)
    logging.getLogger("any.library").warning(msg, *args)
    assert _lines(out)[0]["msg"] == expected


@pytest.mark.usefixtures("restore_root")
def test_traceback_is_masked() -> None:
    # Given an exception whose message carries a phone number
    out = io.StringIO()
    setup_logging("INFO", "json", stream=out)
    try:
        raise ValueError("provider refused 010-1234-5678")
    except ValueError:
        logging.getLogger("hub").exception("send failed")
    # Then the traceback in the line is masked
    [line] = _lines(out)
    assert "010-****-5678" in str(line["exc"])
    assert "1234" not in str(line["exc"])


@pytest.mark.usefixtures("restore_root")
def test_text_format_masks_too() -> None:
    out = io.StringIO()
    setup_logging("DEBUG", "text", stream=out)
    logging.getLogger("hub.router").info(
        "routed %s", "hong@example.kr", extra={"phone": "01012345678"}
    )
    text = out.getvalue()
    assert "INFO" in text and "hub.router: routed h***@example.kr" in text
    assert "phone=010-****-5678" in text
    assert "hong@" not in text and "01012345678" not in text


@pytest.mark.usefixtures("restore_root")
def test_level_filters_and_setup_replaces_its_own_handler() -> None:
    # Given logging set up twice, at WARNING the second time
    first, second = io.StringIO(), io.StringIO()
    setup_logging("INFO", "json", stream=first)
    setup_logging("WARNING", "json", stream=second)
    # When logging at INFO and ERROR
    log = logging.getLogger("hub")
    log.info("quiet")
    log.error("loud")
    # Then only the second handler writes, and only the ERROR
    assert first.getvalue() == ""
    assert [line["msg"] for line in _lines(second)] == ["loud"]


@pytest.mark.parametrize(("level", "fmt"), [("INFO", "xml"), ("LOUD", "json")])
def test_bad_settings_are_refused(level: str, fmt: str) -> None:
    with pytest.raises(ValueError):
        setup_logging(level, fmt)
