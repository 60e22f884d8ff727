"""Building the e-mail itself: multipart/alternative, Korean headers done right.

:func:`build_email` makes an :class:`email.message.EmailMessage` with a text part
and, when the notice has one, an HTML part (``multipart/alternative``, text first
so that plain readers show it). Headers go through the standard library's header
registry: a Korean subject and Korean display names come out as RFC 2047
encoded-words (``=?utf-8?b?...?=``); an address whose local part is not ASCII
makes the message an RFC 6532 one (``SMTPUTF8`` policy), which the SMTP provider
sends only to a server that announces ``SMTPUTF8``.
"""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from channels.base import Message, PermanentError

_SPECIALS = frozenset('()<>[]:;@\\,"')


def address(display_name: str | None, addr_spec: str, *, provider: str) -> Address:
    """An :class:`Address`, or :class:`PermanentError` when ``addr_spec`` is no address.

    A local part in UTF-8 (RFC 6532, ``홍길동@example.kr``) is accepted; the header
    registry's parser takes only ASCII ones, so such an address is built from its
    parts after a check of its own."""
    spec = addr_spec.strip()
    local, at, domain = spec.rpartition("@")
    invalid = PermanentError("not an e-mail address", provider=provider, code="INVALID-ADDRESS")
    if not at or not local or not domain or any(c.isspace() for c in spec):
        raise invalid
    try:
        if not local.isascii():
            if any(c in _SPECIALS for c in local):
                raise invalid
            return Address(display_name=display_name or "", username=local, domain=domain)
        result = Address(display_name=display_name or "", addr_spec=spec)
    except (ValueError, IndexError, TypeError) as exc:
        raise invalid from exc
    if not result.username or not result.domain:
        raise invalid
    return result


def needs_smtputf8(*addresses: Address) -> bool:
    return any(not a.addr_spec.isascii() for a in addresses)


def build_email(
    message: Message, *, sender: str, sender_name: str | None, provider: str
) -> EmailMessage:
    """The MIME message for ``message``; its ``Message-ID`` is the receipt's id."""
    from_addr = address(sender_name, sender, provider=provider)
    to_addr = address(message.recipient_name, message.to, provider=provider)
    policy = email.policy.SMTPUTF8 if needs_smtputf8(from_addr, to_addr) else email.policy.SMTP
    msg = EmailMessage(policy=policy)
    msg["From"] = from_addr
    msg["To"] = to_addr
    msg["Subject"] = message.subject or ""
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=from_addr.domain)
    msg["X-Minwon-Notification-Id"] = message.notification_id
    if message.event_type:
        msg["X-Minwon-Event-Type"] = message.event_type
    msg.set_content(message.body, charset="utf-8")
    if message.html:
        msg.add_alternative(message.html, subtype="html", charset="utf-8")
    return msg
