"""SMS sizing by CP949 bytes and the substitution of characters CP949 cannot encode."""

from __future__ import annotations

import pytest

from hub.templates import sizing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("abc 123", 7),
        ("홍길동", 6),
        # outside KS X 1001 but in CP949: 2 bytes each, as carriers count them
        ("똠", 2),
        ("햏", 2),
        ("뷁", 2),
        ("똠햏뷁", 6),
        ("[구미시] 민원", 13),
        ("\n", 1),
        ("￦", 2),  # full-width won sign is in KS X 1001
        ("①※★", 6),
        # what CP949 cannot encode counts as the 2 bytes of its substitute
        ("😀", 2),
        ("₩", 2),
        ("–", 2),
    ],
)
def test_cp949_length(text: str, expected: int) -> None:
    assert sizing.cp949_length(text) == expected


def test_euc_kr_would_overcount_the_syllables_carriers_take_as_two_bytes() -> None:
    # The trap docs/domain.md warns of: Python's euc_kr writes 똠 as an 8-byte sequence
    assert len("똠".encode("euc_kr")) == 8
    assert sizing.cp949_length("똠") == 2


@pytest.mark.parametrize(
    ("text", "unsafe"),
    [
        ("홍길동 똠 햏 뷁 ①", []),
        ("요금 ₩1,000", ["₩"]),
        ("09:00–18:00", ["–"]),
        ("감사합니다 😀😀 👍", ["😀", "👍"]),
        ("a\u00a0b", ["\u00a0"]),
    ],
)
def test_unsafe_chars_lists_each_unencodable_character_once(text: str, unsafe: list[str]) -> None:
    assert sizing.unsafe_chars(text) == unsafe


@pytest.mark.parametrize(
    ("text", "safe", "replaced"),
    [
        ("요금 ₩1,000", "요금 ￦1,000", 1),
        ("09:00–18:00", "09:00-18:00", 1),
        ("A—B", "A―B", 1),
        ("감사합니다😀", "감사합니다", 1),
        ("👍🏻 좋아요", " 좋아요", 2),  # emoji and its skin-tone modifier
        ("❤️ 사랑", " 사랑", 2),  # heart + variation selector
        ("a\u00a0b", "a b", 1),
        ("• 항목", "· 항목", 1),
        ("«인용»", "≪인용≫", 2),
        ("ｱ", "ア", 1),  # half-width katakana: NFKC gives an encodable form
        ("\U00020000", "?", 1),  # a rare CJK ideograph: the default substitute
        ("똠햏 ①", "똠햏 ①", 0),
    ],
)
def test_make_safe_replaces_by_the_documented_table(text: str, safe: str, replaced: int) -> None:
    result, count = sizing.make_safe(text)
    assert (result, count) == (safe, replaced)
    assert sizing.is_encodable(result)


def test_every_documented_substitute_is_itself_encodable() -> None:
    for char, substitute in sizing.SUBSTITUTES.items():
        assert not sizing.is_encodable(char), f"{char!r} needs no substitute"
        assert sizing.is_encodable(substitute), f"substitute of {char!r} is not CP949"


@pytest.mark.parametrize(
    ("body", "kind", "length"),
    [
        ("가" * 45, "SMS", 90),  # exactly 90 bytes
        ("가" * 44 + "ab", "SMS", 90),
        ("가" * 45 + "a", "LMS", 91),
        ("똠" * 45, "SMS", 90),  # would be 360 bytes if counted with euc_kr
        ("가" * 1000, "LMS", 2000),
    ],
)
def test_sms_kind_by_bytes(body: str, kind: str, length: int) -> None:
    assert sizing.sms_kind(body) == sizing.Sizing(kind, length)


def test_a_body_over_the_lms_limit_is_an_error() -> None:
    with pytest.raises(ValueError, match="2001 bytes"):
        sizing.sms_kind("가" * 1000 + "a")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("짧은 제목", 40, "짧은 제목"),
        ("가" * 25, 40, "가" * 19 + ".."),
        ("가나다라", 7, "가나.."),
    ],
)
def test_truncate_bytes(text: str, limit: int, expected: str) -> None:
    result = sizing.truncate_bytes(text, limit)
    assert result == expected
    assert sizing.cp949_length(result) <= limit
