"""SMS sizing by CP949 bytes, and the substitution of characters CP949 cannot encode.

Korean carriers and SMS providers count message length in the bytes of the
Korean code page: Hangul syllables take 2 bytes, ASCII 1 byte. We count with
Python's ``cp949`` codec, never ``euc_kr``: the latter silently writes the 8,822
modern syllables outside KS X 1001 (똠, 햏, 뷁, ...) as 8-byte ``&#...;``-like
sequences instead of failing, while carriers take them as 2 bytes (CP949).

Limits (NHN Cloud SMS v3.0, Naver Cloud SENS):

* SMS: body up to 90 bytes, no subject;
* LMS: body up to 2,000 bytes, subject up to 40 bytes.

A character CP949 cannot encode (emoji, ``₩``, ``–``) would make the send fail
or reach the phone as ``?``; :func:`make_safe` replaces it by the substitute in
:data:`SUBSTITUTES` (see docs/templates.ko.md for the same table in Korean).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

SMS_MAX_BYTES = 90
LMS_MAX_BYTES = 2000
LMS_SUBJECT_MAX_BYTES = 40

SMS = "SMS"
LMS = "LMS"

#: Replacement of characters CP949 cannot encode. Keys are single characters.
#: An empty value removes the character (joiners and variation selectors that
#: only glue emoji together).
SUBSTITUTES: dict[str, str] = {
    "\u20a9": "\uffe6",  # ₩ WON SIGN -> ￦ FULLWIDTH WON SIGN (in KS X 1001)
    "\u2010": "-",  # ‐ hyphen
    "\u2011": "-",  # ‑ non-breaking hyphen
    "\u2012": "-",  # ‒ figure dash
    "\u2013": "-",  # – en dash
    "\u2014": "\u2015",  # — em dash -> ― horizontal bar (in KS X 1001)
    "\u2212": "-",  # − minus sign
    "\u00a0": " ",  # no-break space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u2022": "\u00b7",  # • bullet -> · middle dot
    "\u2027": "\u00b7",  # ‧ hyphenation point -> ·
    "\u30fb": "\u00b7",  # ・ katakana middle dot -> ·
    "\u00ab": "\u226a",  # « -> ≪
    "\u00bb": "\u226b",  # » -> ≫
    "\u2713": "v",  # ✓ check mark
    "\u2714": "v",  # ✔ heavy check mark
    "\u301c": "~",  # 〜 wave dash
    "\u00a3": "GBP",  # £
    "\u00a5": "JPY",  # ¥
    "\u200b": "",  # zero width space
    "\u200c": "",  # zero width non-joiner
    "\u200d": "",  # zero width joiner (emoji sequences)
    "\u2060": "",  # word joiner
    "\ufeff": "",  # byte order mark
    "\ufe0e": "",  # variation selector-15 (text style)
    "\ufe0f": "",  # variation selector-16 (emoji style)
}

#: What replaces an emoji or pictograph CP949 cannot encode: nothing (removed).
EMOJI_SUBSTITUTE = ""
#: What replaces any other character CP949 cannot encode, when neither the table
#: nor Unicode compatibility normalisation (NFKC) gives an encodable text.
DEFAULT_SUBSTITUTE = "?"


def is_encodable(char: str) -> bool:
    """True when CP949 can encode ``char`` (a string of any length)."""
    try:
        char.encode("cp949")
    except UnicodeEncodeError:
        return False
    return True


def cp949_length(text: str) -> int:
    """Bytes ``text`` takes in CP949, counting each unencodable character as 2
    bytes (what it would take once substituted by a full-width symbol)."""
    try:
        return len(text.encode("cp949"))
    except UnicodeEncodeError:
        return sum(len(c.encode("cp949")) if is_encodable(c) else 2 for c in text)


def unsafe_chars(text: str) -> list[str]:
    """The distinct characters of ``text`` CP949 cannot encode, in order of appearance."""
    if is_encodable(text):
        return []
    seen: dict[str, None] = {}
    for char in text:
        if char not in seen and not is_encodable(char):
            seen[char] = None
    return list(seen)


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return (
        0x1F000 <= code <= 0x1FAFF
        or 0x2600 <= code <= 0x27BF
        or 0x1F1E6 <= code <= 0x1F1FF
        or unicodedata.category(char) == "So"
    )


def substitute(char: str) -> str:
    """The documented replacement of one unencodable character."""
    if char in SUBSTITUTES:
        return SUBSTITUTES[char]
    normal = unicodedata.normalize("NFKC", char)
    if normal != char and is_encodable(normal):
        return normal
    if _is_emoji(char):
        return EMOJI_SUBSTITUTE
    return DEFAULT_SUBSTITUTE


def make_safe(text: str) -> tuple[str, int]:
    """``text`` with every character CP949 cannot encode replaced, and how many
    characters were replaced (occurrences, not distinct characters)."""
    if is_encodable(text):
        return text, 0
    out: list[str] = []
    replaced = 0
    for char in text:
        if is_encodable(char):
            out.append(char)
        else:
            out.append(substitute(char))
            replaced += 1
    return "".join(out), replaced


@dataclass(frozen=True)
class Sizing:
    """What an SMS body becomes: its kind and byte length."""

    kind: str  # SMS | LMS
    byte_length: int


def sms_kind(body: str) -> Sizing:
    """SMS when the body fits in 90 CP949 bytes, else LMS.

    Raises ValueError when the body exceeds the LMS limit of 2,000 bytes.
    """
    length = cp949_length(body)
    if length <= SMS_MAX_BYTES:
        return Sizing(SMS, length)
    if length <= LMS_MAX_BYTES:
        return Sizing(LMS, length)
    raise ValueError(f"SMS body is {length} bytes; LMS allows at most {LMS_MAX_BYTES}")


def truncate_bytes(text: str, limit: int, ellipsis: str = "..") -> str:
    """``text`` cut so that it takes at most ``limit`` CP949 bytes, ending in
    ``ellipsis`` when cut."""
    if cp949_length(text) <= limit:
        return text
    budget = limit - cp949_length(ellipsis)
    out: list[str] = []
    used = 0
    for char in text:
        size = cp949_length(char)
        if used + size > budget:
            break
        out.append(char)
        used += size
    return "".join(out).rstrip() + ellipsis
