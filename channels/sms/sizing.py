"""What an SMS provider needs to know about a message's size.

The template system decides ``Message.kind`` ("SMS" / "LMS") from CP949 bytes; a
provider still picks its endpoint from ``kind``, or, when a caller left it out,
from the body's CP949 byte length (90 bytes at most for SMS).
"""

from __future__ import annotations

from channels.base import Message
from hub.templates.sizing import (
    LMS,
    LMS_SUBJECT_MAX_BYTES,
    SMS,
    SMS_MAX_BYTES,
    cp949_length,
    truncate_bytes,
)

__all__ = ["LMS", "SMS", "lms_subject", "message_kind"]


def message_kind(message: Message) -> str:
    """``SMS`` or ``LMS`` (an ``MMS`` kind is sent as LMS: the hub attaches no image)."""
    kind = (message.kind or "").upper()
    if kind == SMS:
        return SMS
    if kind in (LMS, "MMS"):
        return LMS
    return SMS if cp949_length(message.body) <= SMS_MAX_BYTES else LMS


def lms_subject(message: Message) -> str:
    """The LMS subject: the message's subject, else its first line, cut to 40 bytes."""
    subject = (message.subject or "").strip()
    if not subject:
        subject = message.body.strip().splitlines()[0] if message.body.strip() else ""
    return truncate_bytes(subject, LMS_SUBJECT_MAX_BYTES)
