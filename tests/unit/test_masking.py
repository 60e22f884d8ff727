"""hub.masking: names, phones, e-mails, tokens and free text come out masked."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hub.masking import (
    mask_address,
    mask_data,
    mask_email,
    mask_field,
    mask_name,
    mask_phone,
    mask_text,
    mask_token,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("홍길동", "홍*동"),
        ("김철", "김*"),
        ("남궁민수", "남궁*수"),
        ("황보관", "황*관"),  # three syllables: a compound surname is not assumed
        ("김수한무", "김**무"),
        ("김담당", "김*당"),
        ("John Smith", "J********h"),
        ("김", "김"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_name(given: str | None, expected: str | None) -> None:
    # Given a name, When masked, Then only its ends (and a compound surname) show
    assert mask_name(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("010-1234-5678", "010-****-5678"),
        ("01012345678", "010-****-5678"),
        ("010 1234 5678", "010-****-5678"),
        ("+82 10-1234-5678", "010-****-5678"),
        ("+821012345678", "010-****-5678"),
        ("011-123-4567", "011-***-4567"),
        ("02-123-4567", "02-***-4567"),
        ("02-1234-5678", "02-****-5678"),
        ("054-480-0000", "054-***-0000"),
        ("0505-123-4567", "0505-***-4567"),
        ("12345", "***45"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_phone(given: str | None, expected: str | None) -> None:
    # Given a phone number in any common shape, When masked, Then the middle is starred
    assert mask_phone(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("hong@example.kr", "h***@example.kr"),
        ("h@example.kr", "h***@example.kr"),
        ("gil.dong+minwon@mail.go.kr", "g***@mail.go.kr"),
        ("", ""),
    ],
)
def test_mask_email(given: str, expected: str) -> None:
    assert mask_email(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("fcm:dGhpcyBpcyBhIHRva2Vu", "fcm:***"),
        ("short", "***"),
    ],
)
def test_mask_token(given: str, expected: str) -> None:
    assert mask_token(given) == expected


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("sms", "010-1234-5678", "010-****-5678"),
        ("phone", "01012345678", "010-****-5678"),
        ("email", "hong@example.kr", "h***@example.kr"),
        ("push", "apns:0123456789abcdef", "apns***"),
        ("push_token", "apns:0123456789abcdef", "apns***"),
        ("name", "홍길동", "홍*동"),
        (None, "hong@example.kr", "h***@example.kr"),
        ("unknown", "010-1234-5678", "010-****-5678"),
        ("unknown", "device-token-abcdef", "devi***"),
    ],
)
def test_mask_address_by_channel_or_field(kind: str | None, value: str, expected: str) -> None:
    # Given an address and its channel or field (or nothing), When masked, Then the
    # channel's rule applies, or the value's shape decides
    assert mask_address(kind, value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("문자 발송 010-1234-5678 완료", "문자 발송 010-****-5678 완료"),
        ("to=01012345678.", "to=010-****-5678."),
        ("tel 054-480-0000, (02)123-4567", "tel 054-***-0000, (02)***-4567"),
        ("+82-10-1234-5678", "+82-10-****-5678"),
        ("mail hong@example.kr!", "mail h***@example.kr!"),
        ("a <hong.gd@mail.go.kr> b", "a <h***@mail.go.kr> b"),
    ],
)
def test_mask_text_finds_numbers_and_emails(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "case 2026-0001234 due 2026-11-26T18:00:00+09:00",
        "event 01JDQ2M5Z8X4T3K9V7W6R5P2N1",
        "notice 6f1c3e0a-6a57-4d0b-9a39-6d696e776f6e",
        "took 0.0123 s, 1000 events/s, port 15672",
        "queue hub.retry.10s depth 12345678",
    ],
)
def test_mask_text_leaves_ids_times_and_numbers_alone(text: str) -> None:
    # Given text with case ids, times, uuids and counters, When masked, Then unchanged
    assert mask_text(text) == text


def test_mask_text_is_idempotent() -> None:
    once = mask_text("010-1234-5678 hong@example.kr")
    assert mask_text(once) == once


def test_mask_data_masks_people_by_field_and_keeps_org_names() -> None:
    # Given an event's data with a citizen, an officer, an org profile and a secret
    data = {
        "org": {"name": "구미시", "callcenter": "054-480-0000"},
        "case": {
            "id": "2026-0001234",
            "title": "도로 파손 신고",
            "officer": {"name": "김담당", "phone": "054-480-1234"},
        },
        "citizen": {
            "name": "홍길동",
            "phone": "010-1234-5678",
            "email": "hong@example.kr",
            "push_token": "fcm:abcdefghijklmnop",
            "channels": ["sms", "email"],
        },
        "flag": {"supervisors": [{"name": "남궁민수", "email": "boss@example.kr"}]},
        "secret_key": "s3cr3t",
        "to": "010-9999-8888",
    }
    # When masked
    out = mask_data(data)
    # Then every personal field is masked, the rest kept, the input untouched
    assert out["org"] == {"name": "구미시", "callcenter": "054-***-0000"}
    assert out["case"]["id"] == "2026-0001234"
    assert out["case"]["title"] == "도로 파손 신고"
    assert out["case"]["officer"] == {"name": "김*당", "phone": "054-***-1234"}
    assert out["citizen"] == {
        "name": "홍*동",
        "phone": "010-****-5678",
        "email": "h***@example.kr",
        "push_token": "fcm:***",
        "channels": ["sms", "email"],
    }
    assert out["flag"]["supervisors"] == [{"name": "남궁*수", "email": "b***@example.kr"}]
    assert out["secret_key"] == "***"
    assert out["to"] == "010-****-8888"
    assert data["citizen"]["name"] == "홍길동"


def test_mask_data_reads_dataclasses() -> None:
    @dataclass
    class Person:
        name: str
        phone: str

    assert mask_data(Person("홍길동", "010-1234-5678")) == {
        "name": "홍*동",
        "phone": "010-****-5678",
    }


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("name", "홍길동", "홍*동"),
        ("Phone", "010-1234-5678", "010-****-5678"),
        ("password", "hunter2", "***"),
        ("token", 12345, "***"),
        ("attempt", 3, 3),
        ("reason", "provider said 010-1234-5678 unknown", "provider said 010-****-5678 unknown"),
    ],
)
def test_mask_field_by_key(key: str, value: object, expected: object) -> None:
    assert mask_field(key, value) == expected


def test_mask_known_masks_the_values_of_the_data_an_error_quotes() -> None:
    from hub.masking import mask_known
    data = {"recipient": {"name": "홍길동", "phone": "010-1234-5678"},
            "org": {"name": "구미시"}, "case": {"officer": {"name": "남궁민수"}}}
    text = "no field '홍길동' here; 남궁민수 called 01012345678; 구미시 stays"
    assert mask_known(text, data) == \
        "no field '홍*동' here; 남궁*수 called 010-****-5678; 구미시 stays"
    assert mask_known("", data) == ""
