"""Masking of personal data: the single home of the rules, used by logs, the ledger's
operator views, templates (the ``mask`` filter) and the admin tools.

Contract:

* ``mask_name("홍길동") == "홍*동"``, ``mask_name("김철") == "김*"``,
  ``mask_name("남궁민수") == "남궁*수"`` (two-syllable surnames are kept whole).
* ``mask_phone("010-1234-5678") == "010-****-5678"``; the last four digits and the
  area / carrier prefix stay, every digit between them becomes ``*``; separators are
  normalised to ``-``.
* ``mask_email("hong@example.kr") == "h***@example.kr"``.
* ``mask_token("abcdefghijklmnop") == "abcd***"`` (push tokens, secrets shown by prefix).
* ``mask_address(channel_or_field, value)`` picks the rule for an address by channel
  (``sms``, ``email``, ``push``) or recipient field (``phone``, ``email``, ``push_token``,
  ``name``); an unknown kind is guessed from the value's shape.
* ``mask_text(text)`` finds phone numbers and e-mail addresses anywhere in free text.
  Names cannot be found in free text; they are masked where they sit in known fields,
  which ``mask_data`` does for nested mappings, sequences and dataclasses.
* ``mask_known(text, data)`` masks free text that may quote values of ``data`` (an
  error message about a notice): every personal value of ``data`` (names too) found in
  ``text`` becomes its mask, then ``mask_text`` applies.

Every function returns its input unchanged when it is ``None`` or empty, and never
raises on odd input (a masking bug must not lose a log line).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "mask_address",
    "mask_data",
    "mask_email",
    "mask_field",
    "mask_known",
    "mask_name",
    "mask_phone",
    "mask_secret",
    "mask_text",
    "mask_token",
    "personal_values",
]

MASK = "*"

# Two-syllable Korean surnames (복성). 남궁민수 -> 남궁*수, not 남**수.
COMPOUND_SURNAMES = frozenset(
    {
        "남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방",
        "어금", "망절", "소봉", "장곡", "강전", "탁정", "동박", "황목",
    }
)  # fmt: skip

# Fields whose value is a person's name, an address of a channel, or a secret.
NAME_FIELDS = frozenset(
    {
        "name", "full_name", "citizen_name", "officer_name", "recipient_name",
        "employee_name", "supervisor_name", "sender_name",
    }
)  # fmt: skip
PHONE_FIELDS = frozenset({"phone", "mobile", "tel", "phone_number", "recipient_no", "recipientno"})
EMAIL_FIELDS = frozenset({"email", "email_address", "mail"})
TOKEN_FIELDS = frozenset({"push_token", "device_token", "endpoint_arn"})
ADDRESS_FIELDS = frozenset({"to", "address", "recipient_address", "destination"})
SECRET_FIELDS = frozenset(
    {
        "password", "passwd", "secret", "secret_key", "app_key", "appkey", "api_key",
        "apikey", "access_key", "token", "authorization", "x-secret-key",
        "x-ncp-iam-access-key", "aws_secret_access_key",
    }
)  # fmt: skip
# Containers whose ``name`` is an organisation's, not a person's.
NON_PERSON_CONTAINERS = frozenset({"org", "orgs", "organisation", "organization", "provider"})

_CHANNEL_KIND = {
    "sms": "phone",
    "phone": "phone",
    "alimtalk": "phone",
    "kakao": "phone",
    "email": "email",
    "push": "token",
    "push_token": "token",
    "name": "name",
}

# A Korean phone number in free text: +82 or 0, then a mobile, Seoul, regional,
# 070/050x/080 prefix, then 3-4 and 4 digits with optional separators. Bounded so that
# case ids (2026-0001234), times and uuids are not taken for numbers.
_PHONE_RE = re.compile(
    r"(?<![0-9A-Za-z])"
    r"(?P<prefix>(?:\+82[-. ]?0?|0)(?:1[016789]|2|[3-6][1-5]|70|50[2-8]?|80))"
    r"(?P<sep1>[-. )]?)(?P<mid>\d{3,4})(?P<sep2>[-. ]?)(?P<last>\d{4})"
    r"(?![0-9])"
)
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])(?P<local>[A-Za-z0-9._%+-]+)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
_HANGUL_RE = re.compile(r"^[\uac00-\ud7a3]+$")


def mask_name(name: str | None) -> str | None:
    """홍길동 → 홍*동, 김철 → 김*, 남궁민수 → 남궁*수, 김수한무 → 김**무;
    other scripts: John Smith → J********h. One character stays as it is."""
    if not name or not isinstance(name, str):
        return name
    name = name.strip()
    n = len(name)
    if n <= 1:
        return name
    if n == 2:
        return name[0] + MASK
    head = 1
    if _HANGUL_RE.match(name) and n >= 4 and name[:2] in COMPOUND_SURNAMES:
        head = 2
    return name[:head] + MASK * (n - head - 1) + name[-1]


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def mask_phone(phone: str | None) -> str | None:
    """010-1234-5678 / 01012345678 / +82 10-1234-5678 → 010-****-5678;
    02-123-4567 → 02-***-4567. A value too short to be a number is masked but its
    last two digits."""
    if not phone or not isinstance(phone, str):
        return phone
    digits = _digits(phone)
    if digits.startswith("82") and phone.lstrip().startswith("+"):
        digits = "0" + digits[2:].lstrip("0")
    if len(digits) < 8:
        keep = digits[-2:] if len(digits) > 2 else ""
        return MASK * max(len(digits) - len(keep), 1) + keep
    last = digits[-4:]
    rest = digits[:-4]
    if rest.startswith("02"):
        prefix = "02"
    elif rest.startswith("050") and len(rest) >= 7:
        prefix = rest[:4]
    elif rest.startswith("0"):
        prefix = rest[:3]
    else:  # not a Korean number: keep nothing but the last four
        prefix = ""
    middle = rest[len(prefix) :]
    if not prefix:
        return MASK * len(middle) + "-" + last
    return f"{prefix}-{MASK * len(middle)}-{last}"


def mask_email(email: str | None) -> str | None:
    """hong@example.kr → h***@example.kr (the domain stays: it tells which provider)."""
    if not email or not isinstance(email, str):
        return email
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return mask_token(email)
    if not local:
        return "***@" + domain
    return f"{local[0]}***@{domain}"


def mask_token(token: str | None, keep: int = 4) -> str | None:
    """A push token or other opaque identifier: its first ``keep`` characters, then ***.
    Tokens of ``2 * keep`` characters or fewer are masked whole."""
    if not token or not isinstance(token, str):
        return token
    if len(token) <= 2 * keep:
        return "***"
    return token[:keep] + "***"


def mask_secret(value: Any) -> Any:
    """A secret never shows, whatever its shape (empty values stay empty)."""
    if value in (None, ""):
        return value
    return "***"


def _guess_kind(value: str) -> str:
    if "@" in value:
        return "email"
    digits = _digits(value)
    if len(digits) >= 8 and len(digits) >= len(value.replace(" ", "")) - 4:
        return "phone"
    return "token"


def mask_address(channel_or_field: str | None, value: str | None) -> str | None:
    """Mask ``value`` as the address of a channel (``sms``, ``email``, ``push``) or
    recipient field (``phone``, ``email``, ``push_token``, ``name``); an unknown kind is
    guessed from the value (``@`` → e-mail, mostly digits → phone, else a token)."""
    if not value or not isinstance(value, str):
        return value
    kind = _CHANNEL_KIND.get((channel_or_field or "").lower()) or _guess_kind(value)
    if kind == "phone":
        return mask_phone(value)
    if kind == "email":
        return mask_email(value)
    if kind == "name":
        return mask_name(value)
    return mask_token(value)


def _phone_sub(match: re.Match[str]) -> str:
    prefix, mid = match.group("prefix"), match.group("mid")
    sep1 = match.group("sep1") or "-"
    sep2 = match.group("sep2") or "-"
    return f"{prefix}{sep1}{MASK * len(mid)}{sep2}{match.group('last')}"


def _email_sub(match: re.Match[str]) -> str:
    return f"{match.group('local')[0]}***@{match.group('domain')}"


def mask_text(text: str) -> str:
    """Mask every phone number and e-mail address found in ``text``."""
    if not text or not isinstance(text, str):
        return text
    if "@" in text:
        text = _EMAIL_RE.sub(_email_sub, text)
    if any(ch.isdigit() for ch in text):
        text = _PHONE_RE.sub(_phone_sub, text)
    return text


def mask_field(key: str, value: Any, parent: str | None = None) -> Any:
    """Mask ``value`` by the rule for the field ``key`` (see ``mask_data``)."""
    k = key.lower()
    if not isinstance(value, str):
        if k in SECRET_FIELDS and not isinstance(value, Mapping | list | tuple):
            return mask_secret(value)
        return mask_data(value, parent=k)
    if k in SECRET_FIELDS:
        return mask_secret(value)
    if k in NAME_FIELDS:
        return value if parent in NON_PERSON_CONTAINERS else mask_name(value)
    if k in PHONE_FIELDS:
        return mask_phone(value)
    if k in EMAIL_FIELDS:
        return mask_email(value)
    if k in TOKEN_FIELDS:
        return mask_token(value)
    if k in ADDRESS_FIELDS:
        return mask_address(None, value)
    return mask_text(value)


def mask_data(value: Any, parent: str | None = None) -> Any:
    """A copy of ``value`` with personal data masked: mappings by their keys (names,
    phones, e-mails, push tokens, addresses, secrets), strings by :func:`mask_text`,
    sequences item by item, dataclasses as their fields. Other values come back as
    they are. ``parent`` is the key the value sits under (``org`` names are not
    people's)."""
    try:
        if isinstance(value, str):
            return mask_text(value)
        if isinstance(value, Mapping):
            return {k: mask_field(str(k), v, parent) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [mask_data(v, parent) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return mask_data(dataclasses.asdict(value), parent)
        if isinstance(value, bytes | bytearray):
            return mask_text(bytes(value).decode("utf-8", "replace"))
    except Exception:  # masking must never lose a log line; it must not leak either
        return "<unmaskable>"
    return value


def personal_values(data: Any, parent: str | None = None) -> dict[str, str]:
    """Every string of nested ``data`` that masking changes (names, phones, e-mails,
    tokens, addresses, secrets by their field; phones and e-mails inside free text),
    mapped to its masked form."""
    found: dict[str, str] = {}
    stack: list[tuple[Any, str | None]] = [(data, parent)]
    while stack:
        node, above = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(value, str):
                    masked = mask_field(str(key), value, above)
                    if value and isinstance(masked, str) and masked != value:
                        found[value] = masked
                elif isinstance(value, Mapping | list | tuple):
                    stack.append((value, str(key).lower()))
        elif isinstance(node, list | tuple):
            stack.extend((item, above) for item in node)
    return found


def mask_known(text: str, data: Any) -> str:
    """``text`` (an error message) with every personal value of ``data`` it quotes
    replaced by that value's mask, longest first, then phones and e-mails masked
    wherever they are (:func:`mask_text`)."""
    if not text or not isinstance(text, str):
        return text
    try:
        values = personal_values(data)
        for raw in sorted(values, key=len, reverse=True):
            if raw in text:
                text = text.replace(raw, values[raw])
        return mask_text(text)
    except Exception:  # masking must never lose a message; it must not leak either
        return "<unmaskable>"
