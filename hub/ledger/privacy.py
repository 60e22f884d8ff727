"""Personal data in the ledger: masked for display, keyed hash for look-ups.

The ledger never needs the raw address to do its job. It keeps:

* a **masked** form for operators (``홍*동 <010-****-5678>``, ``h***@example.kr``,
  ``abcd***`` for push tokens) by the rules of :mod:`hub.masking`;
* an **HMAC-SHA256** of the normalised address under a secret key, so an operator who
  has a citizen's number can find that citizen's notices ("was this citizen told?")
  without the ledger holding the number. Without the key the hash cannot be reversed
  by trying all 10^8 mobile numbers, which a plain SHA-256 would allow.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from hub.masking import mask_address, mask_name

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


def mask_recipient(name: str | None, address: str, channel: str | None = None) -> str:
    """What the ledger stores and ``trace`` shows: ``홍*동 <010-****-5678>`` (rules
    from :mod:`hub.masking`, the single home of masking)."""
    masked = mask_address(channel, address) or ""
    who = mask_name(name) or ""
    if who and masked:
        return f"{who} <{masked}>"
    return who or masked
