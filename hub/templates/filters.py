"""Korean filters for the templates.

Every filter takes what a template has at hand (strings from the event's JSON,
numbers, dates) and returns text a Korean reader expects:

* ``josa``: the particle that fits the word before it (은/는, 이/가, 을/를, 과/와,
  으로/로, 이나/나, 이랑/랑, 아/야);
* ``kdate``, ``kdatetime``, ``ktime``: dates and times in Asia/Seoul, Babel's ``ko``
  locale (``2026년 11월 24일(화) 오후 3시 5분``; compact for SMS ``11. 24.(화) 15:05``);
* ``deadline``, ``deadline_day``: a deadline as offices write it: one stored at
  00:00 is the end of the previous day (``12. 31.(목) 24:00``, never ``1. 1.``);
* ``mask_name``, ``mask_phone``, ``phone``: personal data shown safely, phone
  numbers in their usual groups;
* ``won``: amounts in 원;
* ``business_days``: a date plus N Korean working days (:class:`WorkingCalendar`);
* ``outcome``: an answer's outcome (``answer.outcome``) in the words of a notice.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_lib
import phonenumbers
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Undefined, UndefinedError

from hub import masking

SEOUL = ZoneInfo("Asia/Seoul")
LOCALE = "ko"

# --------------------------------------------------------------------------- josa

#: Particle pairs: (form after a final consonant, form after a vowel).
PARTICLES: dict[str, tuple[str, str]] = {
    "은": ("은", "는"),
    "는": ("은", "는"),
    "이": ("이", "가"),
    "가": ("이", "가"),
    "을": ("을", "를"),
    "를": ("을", "를"),
    "과": ("과", "와"),
    "와": ("과", "와"),
    "으로": ("으로", "로"),
    "로": ("으로", "로"),
    "이나": ("이나", "나"),
    "나": ("이나", "나"),
    "이랑": ("이랑", "랑"),
    "랑": ("이랑", "랑"),
    "아": ("아", "야"),
    "야": ("아", "야"),
}

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL = 8  # index of ㄹ among final consonants

# Final consonant of the Korean reading: None = ends in a vowel, "ㄹ", or "other".
_Final = str | None

# Reading of a digit, and of the unit a run of trailing zeros makes
# (10 십, 100 백, 1000 천, 10^4..10^7 만, 10^8.. 억, 10^12.. 조, 10^16.. 경).
_DIGIT_FINAL: dict[str, _Final] = {
    "0": "other",  # 영
    "1": "ㄹ",  # 일
    "2": None,  # 이
    "3": "other",  # 삼
    "4": None,  # 사
    "5": None,  # 오
    "6": "other",  # 육
    "7": "ㄹ",  # 칠
    "8": "ㄹ",  # 팔
    "9": None,  # 구
}
_ZEROS_FINAL: list[tuple[int, _Final]] = [
    (16, "other"),  # 경
    (12, None),  # 조
    (8, "other"),  # 억
    (4, "other"),  # 만
    (3, "other"),  # 천
    (2, "other"),  # 백
    (1, "other"),  # 십
]
# Letter names as Koreans read acronyms (KT 케이티, URL 유알엘, SMS 에스엠에스).
_LETTER_FINAL: dict[str, _Final] = {
    **dict.fromkeys("ABCDEGHIJKOPQTUVWYZ"),
    "F": None,  # 에프
    "S": None,  # 에스
    "X": None,  # 엑스
    "L": "ㄹ",  # 엘
    "R": "ㄹ",  # 알
    "M": "other",  # 엠
    "N": "other",  # 엔
}
_TRAILING_NOISE = re.compile(r"[\s\"'’”)\]}>»」』〉》】.,!?·…~-]+$")


def _final_of_number(digits: str) -> _Final:
    last = digits[-1]
    if last != "0":
        return _DIGIT_FINAL[last]
    zeros = len(digits) - len(digits.rstrip("0"))
    if zeros == len(digits):  # 0, 00
        return _DIGIT_FINAL["0"]
    for count, final in _ZEROS_FINAL:
        if zeros >= count:
            return final
    return None  # pragma: no cover - zeros >= 1 always matches


def _final_of_latin(word: str) -> _Final:
    """Final sound of a Latin-script word as Korean loanwords write it."""
    letters = re.search(r"[A-Za-z]+$", word)
    assert letters is not None
    token = letters.group(0)
    if token.isupper() or len(token) == 1:
        return _LETTER_FINAL[token[-1].upper()]
    low = token.lower()
    if low.endswith("ng"):
        return "other"  # 링, 뱅킹
    if low.endswith(("le", "l")):
        return "ㄹ"  # 구글, 파일, 메일
    if low.endswith(("m", "me", "n", "ne")):
        return "other"  # 팀, 게임, 폰
    if low.endswith("ck") or (
        low.endswith(("k", "p", "t")) and len(low) > 1 and low[-2] in "aeiou"
    ):
        return "other"  # 북, 컵, 챗, 넷
    return None  # 서버, 코드, 블로그, 테스트, 박스


def final_consonant(word: str) -> _Final | bool:
    """The final consonant of how ``word`` is read: None (a vowel), "ㄹ",
    "other", or False when it cannot be told (Hanja, symbols only)."""
    text = _TRAILING_NOISE.sub("", unicodedata.normalize("NFKC", str(word)))
    if not text:
        return False
    last = text[-1]
    code = ord(last)
    if _HANGUL_FIRST <= code <= _HANGUL_LAST:
        jong = (code - _HANGUL_FIRST) % 28
        if jong == 0:
            return None
        return "ㄹ" if jong == _RIEUL else "other"
    if last.isdigit():
        number = re.search(r"[\d,]+$", text)
        assert number is not None
        return _final_of_number(number.group(0).replace(",", "") or "0")
    if last.isascii() and last.isalpha():
        return _final_of_latin(text)
    if "\u3131" <= last <= "\u314e":  # a lone consonant jamo, e.g. ㅋ
        return "ㄹ" if last == "ㄹ" else "other"
    return False


def josa(word: Any, particle: str) -> str:
    """``word`` followed by the form of ``particle`` that fits it.

    ``particle`` is a pair such as ``"은/는"`` or either form alone (``"를"``).
    After a final ㄹ, 으로/로 takes 로 (서울로). When the reading of the last
    character cannot be told, both forms are shown: ``은(는)``.
    """
    text = str(word)
    key = particle.split("/")[0].strip()
    try:
        with_final, without = PARTICLES[key]
    except KeyError:
        known = ", ".join(f"{a}/{b}" for a, b in dict.fromkeys(PARTICLES.values()))
        raise ValueError(f"josa: unknown particle {particle!r}; known: {known}") from None
    final = final_consonant(text)
    if final is False:
        return f"{text}{with_final}({without})"
    if final is None or (final == "ㄹ" and with_final == "으로"):
        return text + without
    return text + with_final


def quote(value: Any) -> str:
    """A title in the corner brackets Korean notices use: ``「도로 파손 신고」``.
    ``josa`` reads through them: ``{{ case.title|quote|josa('을/를') }}`` gives
    ``「도로 파손 신고」를``."""
    _defined(value)
    return f"「{value}」"


# --------------------------------------------------------------------------- dates


def _defined(value: Any) -> None:
    """Raise the template's undefined-variable error for an undefined value, so
    that a filter given a missing field names the field rather than its type."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the missing field
        raise UndefinedError("a value is undefined")


def to_seoul(value: Any) -> datetime:
    """A datetime in Asia/Seoul from a datetime, a date or an ISO 8601 string.

    An aware value is converted; a naive one is taken as Seoul time already; a
    plain date is midnight in Seoul.
    """
    _defined(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date or time ({len(value)} characters)") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=SEOUL)
        return value.astimezone(SEOUL)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=SEOUL)
    raise ValueError(f"not a date or time: {type(value).__name__}")


def _to_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return to_seoul(value).date()


def _cached(func: Callable[[Any, str], str]) -> Callable[[Any, str], str]:
    """Memoise a formatting filter for hashable inputs (the same dates, numbers
    and phone numbers recur across notices; Babel and phonenumbers are slow)."""
    cached = lru_cache(maxsize=8192)(func)

    @functools.wraps(func)
    def wrapper(value: Any, style: str = "long") -> str:
        try:
            return cached(value, style)
        except TypeError:  # unhashable
            return func(value, style)

    return wrapper


_DATE_PATTERNS = {
    "long": "y년 M월 d일(E)",
    "official": "y. M. d.",
    "short": "M월 d일(E)",
    "compact": "M. d.(E)",
}


@_cached
def kdate(value: Any, style: str = "long") -> str:
    """``2026년 11월 24일(화)``; style ``"official"`` gives ``2026. 11. 24.``,
    ``"short"`` gives ``11월 24일(화)`` and ``"compact"`` (SMS) ``11. 24.(화)``."""
    day = _to_date(value)
    try:
        pattern = _DATE_PATTERNS[style]
    except KeyError:
        raise ValueError(
            f"kdate: unknown style {style!r}; use {', '.join(_DATE_PATTERNS)}"
        ) from None
    return format_date(day, pattern, locale=LOCALE)


@_cached
def ktime(value: Any, style: str = "long") -> str:
    """``오후 3시`` or ``오후 3시 5분``; style ``"official"`` (or ``"compact"``)
    gives ``15:05``."""
    moment = to_seoul(value)
    if style in ("official", "compact"):
        return format_datetime(moment, "HH:mm", tzinfo=SEOUL, locale=LOCALE)
    if style != "long":
        raise ValueError(f"ktime: unknown style {style!r}; use long, official or compact")
    pattern = "aaaa h시" if moment.minute == 0 else "aaaa h시 m분"
    return format_datetime(moment, pattern, tzinfo=SEOUL, locale=LOCALE)


@_cached
def kdatetime(value: Any, style: str = "long") -> str:
    """``2026년 11월 24일(화) 오후 3시 5분``; ``"official"``: ``2026. 11. 24. 15:05``;
    ``"compact"`` (SMS): ``11. 24.(화) 15:05``."""
    if style == "short":
        raise ValueError("kdatetime: unknown style 'short'; use long, official or compact")
    return f"{kdate(value, style)} {ktime(value, style)}"


def deadline_end(value: Any) -> tuple[date, time | None]:
    """The day a deadline ends on, and its time of day (None: the end of the day,
    24:00). A deadline stored at 00:00 Seoul time is the end of the previous day."""
    moment = to_seoul(value)
    if moment.time() == time(0):
        return moment.date() - timedelta(days=1), None
    return moment.date(), moment.time()


@_cached
def deadline_day(value: Any, style: str = "long") -> str:
    """The day a deadline ends on (``kdate`` styles): ``2026-12-31T15:00:00Z``
    (00:00 on 1 January in Seoul) is ``2026년 12월 31일(목)``."""
    _defined(value)
    return kdate(deadline_end(value)[0], style)


@_cached
def deadline(value: Any, style: str = "long") -> str:
    """A deadline with its time: ``2026년 12월 4일(금) 오후 6시``; at 00:00 the end
    of the previous day, ``2026년 12월 31일(목) 24:00``. Styles as ``kdatetime``:
    ``"official"`` ``2026. 12. 31. 24:00``, ``"compact"`` (SMS) ``12. 31.(목) 24:00``."""
    _defined(value)
    day, at = deadline_end(value)
    if style == "short":
        raise ValueError("deadline: unknown style 'short'; use long, official or compact")
    if at is None:
        return f"{kdate(day, style)} 24:00"
    return kdatetime(to_seoul(value), style)


# --------------------------------------------------------------------------- people


def mask_name(value: Any) -> str:
    """홍길동 → 홍*동, 김철 → 김*, 남궁민수 → 남궁*수 (the rules of :mod:`hub.masking`)."""
    return masking.mask_name(str(value)) or ""


_PHONE_CHARS = re.compile(r"[0-9+\-(). ]+")


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value))


def phone(value: Any) -> str:
    """A Korean phone number in its usual groups: 010-1234-5678, 02-123-4567,
    054-480-2114, 1588-1234. A number that cannot be read is returned as given."""
    return _phone(str(value))


@lru_cache(maxsize=8192)
def _phone(value: str) -> str:
    text = value.strip()
    if not _digits(text) or not _PHONE_CHARS.fullmatch(text):
        return text
    try:
        parsed = phonenumbers.parse(text, "KR")
    except phonenumbers.NumberParseException:
        return text
    if parsed.country_code != 82 or not phonenumbers.is_possible_number(parsed):
        return text
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def mask_phone(value: Any) -> str:
    """010-1234-5678 → 010-****-5678, 02-123-4567 → 02-***-4567 (the rules of
    :mod:`hub.masking`)."""
    return masking.mask_phone(str(value)) or ""


# --------------------------------------------------------------------------- money


def won(value: Any) -> str:
    """1000 → ``1,000원``; strings of digits are read as numbers."""
    _defined(value)
    if isinstance(value, bool):
        raise ValueError("won: a number is needed, not true/false")
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise ValueError(f"won: not an amount ({type(value).__name__})") from None
    return f"{format_decimal(amount, locale=LOCALE)}원"


# --------------------------------------------------------------------------- answers

#: ``answer.outcome`` (hub/schemas/event.schema.json) as a notice states it.
OUTCOMES: dict[str, str] = {
    "accepted": "수용",
    "partly_accepted": "일부 수용",
    "refused": "불수용",
    "other": "기타",
}
#: Outcomes whose notice must state the reason and the 구제절차 (법 §27, §35).
NOT_ACCEPTED = ("partly_accepted", "refused", "other")


def outcome(value: Any) -> str:
    """``refused`` → ``불수용`` (:data:`OUTCOMES`)."""
    _defined(value)
    try:
        return OUTCOMES[str(value)]
    except KeyError:
        raise ValueError(
            f"outcome: unknown answer outcome; one of {', '.join(OUTCOMES)}"
        ) from None


# --------------------------------------------------------------------------- working days


class WorkingCalendar:
    """Korean working days: not Saturday or Sunday, not a public or substitute
    holiday of ``holidays.KR``, not one of ``extra`` (임시공휴일 from configuration).

    Thread-safe: each year's holidays are computed once under a lock.
    """

    def __init__(self, extra: Iterable[date | str] = ()) -> None:
        self.extra = frozenset(
            d if isinstance(d, date) else date.fromisoformat(str(d)) for d in extra
        )
        self._years: dict[int, frozenset[date]] = {}
        self._lock = threading.Lock()

    def holidays_of(self, year: int) -> frozenset[date]:
        found = self._years.get(year)
        if found is None:
            with self._lock:
                found = self._years.get(year)
                if found is None:
                    found = frozenset(holidays_lib.country_holidays("KR", years=year))
                    self._years[year] = found
        return found

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.extra and day not in self.holidays_of(day.year)

    def add(self, start: date, days: int) -> date:
        """``start`` plus ``days`` working days (negative: backwards). With 0 the
        start itself is returned, working day or not."""
        step = 1 if days >= 0 else -1
        current = start
        remaining = abs(days)
        while remaining:
            current += timedelta(days=step)
            if self.is_working_day(current):
                remaining -= 1
        return current


def business_days_filter(calendar: WorkingCalendar) -> Callable[[Any, int], date | datetime]:
    """The ``business_days`` filter bound to ``calendar``: a date (or a time, kept
    as a Seoul time of day) plus N working days."""

    def business_days(value: Any, days: int) -> date | datetime:
        _defined(value)
        if isinstance(value, date) and not isinstance(value, datetime):
            return calendar.add(value, int(days))
        moment = to_seoul(value)
        target = calendar.add(moment.date(), int(days))
        return datetime.combine(target, moment.timetz())

    return business_days


def make_filters(calendar: WorkingCalendar) -> dict[str, Callable[..., Any]]:
    """Every filter by the name templates use."""
    return {
        "josa": josa,
        "quote": quote,
        "kdate": kdate,
        "kdatetime": kdatetime,
        "deadline": deadline,
        "deadline_day": deadline_day,
        "ktime": ktime,
        "mask_name": mask_name,
        "mask_phone": mask_phone,
        "phone": phone,
        "won": won,
        "business_days": business_days_filter(calendar),
        "outcome": outcome,
    }
