"""Personal data in the ledger: masked for display, keyed hash for look-ups.

The ledger never needs the raw address to do its job. It keeps:

* a **masked** form for operators (``홍*동``, ``010-****-5678``, ``h***@example.kr``,
  ``abcd***`` for push tokens), the common Korean practice (not a legal format);
* an **HMAC-SHA256** of the normalised address under a secret key, so an operator who
  has a citizen's number can find that citizen's notices ("was this citizen told?")
  without the ledger holding the number. Without the key the hash cannot be reversed
  by trying all 10^8 mobile numbers, which a plain SHA-256 would allow.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

log = logging.getLogger(__name__)

#: Development default for ``ledger.hash_key``. Never use it in production: set
#: ``MINWON__LEDGER__HASH_KEY`` (a long random secret) in the environment.
DEV_HASH_KEY = b"minwon-hub-dev-only-hash-key"

_NON_DIGITS = re.compile(r"\D+")


def normalise_address(address: str) -> str:
    """The canonical form that is hashed: phone numbers as bare domestic digits
    (``+82 10-1234-5678`` and ``010 1234 5678`` both give ``01012345678``), e-mail
    lower-cased, anything else stripped."""
    text = address.strip()
    if "@" in text:
        return text.lower()
    digits = _NON_DIGITS.sub("", text)
    if digits and len(digits) >= 7 and re.fullmatch(r"[\d\s()+.\-]+", text):
        if text.startswith("+82") or (digits.startswith("82") and text.startswith("+")):
            digits = "0" + digits[2:]
        return digits
    return text


def address_hash(address: str, key: bytes) -> str:
    """Hex HMAC-SHA256 of the normalised address under ``key``."""
    return hmac.new(key, normalise_address(address).encode(), hashlib.sha256).hexdigest()


def mask_name(name: str | None) -> str:
    """``홍길동`` → ``홍*동``, ``김철`` → ``김*``, ``남궁민수`` → ``남**수``."""
    if not name:
        return ""
    text = name.strip()
    if len(text) <= 1:
        return "*"
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


def mask_phone(phone: str) -> str:
    """``010-1234-5678`` → ``010-****-5678``; ``054-480-0000`` → ``054-***-0000``;
    keeps the first group and the last four digits, masks the middle."""
    digits = normalise_address(phone)
    if not digits.isdigit() or len(digits) < 7:
        return "*" * len(phone)
    head_len = 2 if digits.startswith("02") else 3
    head, middle, tail = digits[:head_len], digits[head_len:-4], digits[-4:]
    return f"{head}-{'*' * len(middle)}-{tail}"


def mask_email(email: str) -> str:
    """``hong@example.kr`` → ``h***@example.kr``."""
    local, _, domain = email.strip().partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_token(token: str) -> str:
    """A push token: its first four characters, then ``***``."""
    text = token.strip()
    return f"{text[:4]}***" if len(text) > 8 else "***"


def mask_address(address: str) -> str:
    """Mask an address of any channel by its shape."""
    if not address:
        return ""
    if "@" in address and not address.startswith("sim:"):
        return mask_email(address)
    normal = normalise_address(address)
    if normal.isdigit():
        return mask_phone(address)
    return mask_token(address)


def mask_recipient(name: str | None, address: str) -> str:
    """What the ledger stores and ``trace`` shows: ``홍*동 <010-****-5678>``."""
    masked = mask_address(address)
    who = mask_name(name)
    if who and masked:
        return f"{who} <{masked}>"
    return who or masked
