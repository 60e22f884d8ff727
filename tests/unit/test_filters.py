"""Korean date, time, masking, phone, amount and working-day filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from hub.templates.filters import (
    SEOUL,
    WorkingCalendar,
    business_days_filter,
    deadline,
    deadline_day,
    josa,
    kdate,
    kdatetime,
    ktime,
    make_filters,
    mask_name,
    mask_phone,
    phone,
    quote,
    won,
)

# ------------------------------------------------------------------ dates and times


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T15:00:00+09:00", "2026년 11월 24일(화)"),
        # 15:30 UTC on the 24th is 00:30 KST on the 25th
        ("2026-11-24T15:30:00Z", "2026년 11월 25일(수)"),
        ("2026-11-24T14:59:59+00:00", "2026년 11월 24일(화)"),
        # 23:30 KST on the 24th is still the 24th, though UTC says the 24th 14:30
        ("2026-11-24T23:30:00+09:00", "2026년 11월 24일(화)"),
        # New York evening of 31 Dec is already New Year's Day in Seoul
        ("2026-12-31T20:00:00-05:00", "2027년 1월 1일(금)"),
        (datetime(2026, 11, 24, 15, 30, tzinfo=UTC), "2026년 11월 25일(수)"),
        (date(2026, 11, 24), "2026년 11월 24일(화)"),
        ("2026-11-24", "2026년 11월 24일(화)"),
        # naive values are taken as Seoul time
        (datetime(2026, 11, 24, 23, 59), "2026년 11월 24일(화)"),
    ],
)
def test_kdate_gives_the_day_in_seoul(value: object, expected: str) -> None:
    assert kdate(value) == expected


@pytest.mark.parametrize(
    ("style", "expected"),
    [("long", "2026년 3월 2일(월)"), ("official", "2026. 3. 2."), ("short", "3월 2일(월)")],
)
def test_kdate_styles(style: str, expected: str) -> None:
    assert kdate("2026-03-02T10:00:00+09:00", style) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T15:00:00+09:00", "오후 3시"),
        ("2026-11-24T15:05:00+09:00", "오후 3시 5분"),
        ("2026-11-24T06:05:00Z", "오후 3시 5분"),
        ("2026-11-24T09:12:00+09:00", "오전 9시 12분"),
        ("2026-11-24T00:00:00+09:00", "오전 12시"),
        ("2026-11-24T12:00:00+09:00", "오후 12시"),
        # 15:00 UTC is midnight in Seoul
        ("2026-11-24T15:00:00Z", "오전 12시"),
    ],
)
def test_ktime_uses_korean_am_pm_in_seoul(value: str, expected: str) -> None:
    assert ktime(value) == expected


def test_ktime_official_style_is_24_hour() -> None:
    assert ktime("2026-11-24T06:05:00Z", "official") == "15:05"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T15:00:00+09:00", "2026년 11월 24일(화) 오후 3시"),
        ("2026-11-24T15:05:00+09:00", "2026년 11월 24일(화) 오후 3시 5분"),
        ("2026-11-24T15:05:00Z", "2026년 11월 25일(수) 오전 12시 5분"),
        ("2026-11-24T14:59:00Z", "2026년 11월 24일(화) 오후 11시 59분"),
        (
            datetime(2026, 11, 24, 15, 5, tzinfo=timezone(timedelta(hours=9))),
            "2026년 11월 24일(화) 오후 3시 5분",
        ),
    ],
)
def test_kdatetime_joins_date_and_time_in_seoul(value: object, expected: str) -> None:
    assert kdatetime(value) == expected


def test_kdatetime_official_style() -> None:
    assert kdatetime("2026-11-24T06:05:00Z", "official") == "2026. 11. 24. 15:05"


@pytest.mark.parametrize("value", ["not a date", "2026-13-45", 12345, None])
def test_date_filters_reject_what_is_not_a_date(value: object) -> None:
    with pytest.raises(ValueError):
        kdate(value)


def test_date_filter_errors_do_not_echo_the_value() -> None:
    with pytest.raises(ValueError) as info:
        kdate("홍길동 010-1234-5678")
    assert "홍길동" not in str(info.value)


def test_unknown_style_is_an_error() -> None:
    with pytest.raises(ValueError, match="style"):
        kdate("2026-11-24", "fancy")


# ------------------------------------------------------------------ people


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("홍길동", "홍*동"),
        ("김철", "김*"),
        ("남궁민수", "남궁*수"),
        ("김수한무", "김**무"),
        ("황보석", "황*석"),
        ("이", "이"),
    ],
)
def test_mask_name(name: str, expected: str) -> None:
    assert mask_name(name) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("010-1234-5678", "010-****-5678"),
        ("01012345678", "010-****-5678"),
        ("02-123-4567", "02-***-4567"),
        ("+82 10-1234-5678", "010-****-5678"),
    ],
)
def test_mask_phone(number: str, expected: str) -> None:
    assert mask_phone(number) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("01012345678", "010-1234-5678"),
        ("010-1234-5678", "010-1234-5678"),
        ("010 1234 5678", "010-1234-5678"),
        ("+821012345678", "010-1234-5678"),
        ("021234567", "02-123-4567"),
        ("0212345678", "02-1234-5678"),
        ("0544802114", "054-480-2114"),
        ("054-480-2114", "054-480-2114"),
        ("15881234", "1588-1234"),
        ("07012345678", "070-1234-5678"),
        ("120", "120"),  # short numbers stay
        ("내선 1234", "내선 1234"),  # not a number: as given
        ("", ""),
    ],
)
def test_phone_formats_korean_numbers(number: str, expected: str) -> None:
    assert phone(number) == expected


# ------------------------------------------------------------------ money


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (1000, "1,000원"),
        (0, "0원"),
        ("1234567", "1,234,567원"),
        ("1,000", "1,000원"),
        (-5000, "-5,000원"),
        (1234.5, "1,234.5원"),
    ],
)
def test_won(amount: object, expected: str) -> None:
    assert won(amount) == expected


@pytest.mark.parametrize("amount", ["천원", True, None])
def test_won_rejects_what_is_not_an_amount(amount: object) -> None:
    with pytest.raises(ValueError):
        won(amount)


# ------------------------------------------------------------------ working days


@pytest.mark.parametrize(
    ("start", "days", "expected", "why"),
    [
        (date(2026, 11, 23), 1, date(2026, 11, 24), "Monday + 1 = Tuesday"),
        (date(2026, 11, 27), 1, date(2026, 11, 30), "Friday + 1 skips the weekend"),
        (date(2026, 11, 24), 5, date(2026, 12, 1), "a working week"),
        (date(2026, 2, 13), 1, date(2026, 2, 19), "설날 2026 (16-18 Feb) is skipped"),
        (date(2026, 2, 12), 7, date(2026, 2, 26), "7 working days across 설날"),
        (date(2027, 2, 5), 1, date(2027, 2, 10), "설날 2027 and its 대체공휴일 on 9 Feb"),
        (date(2026, 2, 27), 1, date(2026, 3, 3), "삼일절 on a Sunday: substitute Monday 2 Mar"),
        (date(2026, 10, 2), 1, date(2026, 10, 6), "개천절 on a Saturday: substitute 5 Oct"),
        (date(2026, 9, 23), 1, date(2026, 9, 28), "추석 2026"),
        (date(2026, 11, 24), 0, date(2026, 11, 24), "zero days: the day itself"),
        (date(2026, 2, 19), -1, date(2026, 2, 13), "backwards across 설날"),
    ],
)
def test_working_calendar_skips_weekends_and_korean_holidays(
    start: date, days: int, expected: date, why: str
) -> None:
    assert WorkingCalendar().add(start, days) == expected, why


def test_extra_holidays_from_configuration_are_skipped() -> None:
    # Given an ad-hoc holiday (임시공휴일) on Wednesday 25 Nov 2026
    calendar = WorkingCalendar([date(2026, 11, 25), "2026-11-26"])
    # When one and two working days are added to Tuesday 24 Nov
    # Then the 25th and 26th (strings are ISO dates) do not count
    assert calendar.add(date(2026, 11, 24), 1) == date(2026, 11, 27)
    assert not calendar.is_working_day(date(2026, 11, 26))


def test_business_days_keeps_the_time_of_day_in_seoul() -> None:
    add = business_days_filter(WorkingCalendar())
    # Friday 13 Feb 2026 23:30 UTC is Saturday 14 Feb 08:30 in Seoul
    result = add("2026-02-13T23:30:00Z", 1)
    assert result == datetime(2026, 2, 19, 8, 30, tzinfo=SEOUL)
    assert kdatetime(result) == "2026년 2월 19일(목) 오전 8시 30분"


def test_business_days_on_a_date_returns_a_date() -> None:
    add = business_days_filter(WorkingCalendar())
    assert add(date(2026, 12, 24), 1) == date(2026, 12, 28)


def test_the_filters_have_the_names_templates_use() -> None:
    assert set(make_filters(WorkingCalendar())) == {
        "josa",
        "kdate",
        "kdatetime",
        "ktime",
        "mask_name",
        "mask_phone",
        "phone",
        "won",
        "business_days",
        "outcome",
        "deadline",
        "deadline_day",
        "quote",
    }


# --------------------------------------------------------------------------- deadlines


@pytest.mark.parametrize(
    ("value", "style", "expected"),
    [
        ("2026-12-31T15:00:00Z", "long", "2026년 12월 31일(목) 24:00"),
        ("2027-01-01T00:00:00+09:00", "compact", "12. 31.(목) 24:00"),
        ("2027-01-01T00:00:00+09:00", "official", "2026. 12. 31. 24:00"),
        ("2026-12-04T18:00:00+09:00", "compact", "12. 4.(금) 18:00"),
        ("2026-12-04T18:00:00+09:00", "long", "2026년 12월 4일(금) 오후 6시"),
        ("2026-12-04T00:00:01+09:00", "compact", "12. 4.(금) 00:00"),
    ],
)
def test_a_deadline_at_midnight_is_the_previous_day_24_00(
    value: str, style: str, expected: str
) -> None:
    assert deadline(value, style) == expected


def test_deadline_day_is_the_day_the_deadline_ends_on() -> None:
    assert deadline_day("2026-12-31T15:00:00Z") == "2026년 12월 31일(목)"
    assert deadline_day("2026-12-31T15:00:00Z", "compact") == "12. 31.(목)"
    assert deadline_day("2026-12-31T14:59:00Z", "short") == "12월 31일(목)"


def test_compact_dates_for_sms() -> None:
    assert kdate("2026-12-04T18:00:00+09:00", "compact") == "12. 4.(금)"
    assert kdatetime("2026-12-04T09:05:00Z", "compact") == "12. 4.(금) 18:05"
    with pytest.raises(ValueError, match="unknown style"):
        deadline("2026-12-04T18:00:00+09:00", "short")


def test_quote_puts_a_title_in_corner_brackets_and_josa_reads_through_them() -> None:
    assert josa(quote("도로 파손 신고"), "을/를") == "「도로 파손 신고」를"
    assert josa(quote("가로등 고장"), "을/를") == "「가로등 고장」을"
