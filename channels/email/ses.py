"""E-mail through Amazon SES, API v2 ``SendEmail`` with simple content.

SES builds the MIME message itself from a UTF-8 subject, text and HTML part; the
from- and to-addresses carry their Korean display names as RFC 2047 encoded-words
(SES requires non-ASCII display names encoded so) and their domains in Punycode
(SES takes 7-bit ASCII addresses only: ``민원@구미시.kr`` cannot go, ``minwon@구미시.kr``
goes as ``minwon@xn--...``). An address whose *local part* is not ASCII is not
accepted (:meth:`SesEmail.accepts`): the chain hands it to a provider that speaks
SMTPUTF8. The from-address must be a verified SES identity (the address or its
domain).

Every message carries the tag ``notification_id``; SES offers no search of sent mail
by tag (message insights are asynchronous export jobs), so the accepted message id is
also appended to a local :class:`~channels.sentrecord.SentRecord`, which
:meth:`SesEmail.lookup` reads.

Outcomes: :data:`~channels.awsapi.SES_CODES`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import formataddr
from typing import Any, ClassVar

import idna

from channels.awsapi import SES_CODES, AwsProvider
from channels.base import (
    CredentialsError,
    LookupResult,
    Message,
    PermanentError,
    Receipt,
    SendError,
)
from channels.email.mime import address
from channels.results import CodeTable
from channels.sentrecord import SentRecord


def ascii_address(addr_spec: str, *, provider: str) -> str:
    """``addr_spec`` with its domain in Punycode (IDNA 2008, UTS #46 mapping)."""
    local, _, domain = addr_spec.rpartition("@")
    if domain.isascii():
        return addr_spec
    try:
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise PermanentError(
            "the address's domain is not a valid internationalised domain name",
            provider=provider, code="INVALID-ADDRESS",
        ) from exc
    return f"{local}@{encoded}"


def header_address(display_name: str | None, addr_spec: str) -> str:
    """``"홍길동" <hong@example.kr>`` with the name as an RFC 2047 encoded-word."""
    return formataddr((display_name or "", addr_spec), charset="utf-8")


class SesEmail(AwsProvider):
    """Settings: the AWS ones (see :mod:`channels.awsapi`; secret:
    ``MINWON__PROVIDERS__SES__AWS_SECRET_ACCESS_KEY``), plus ``sender`` /
    ``sender_name`` (fallback from-address and display name),
    ``configuration_set`` (an SES configuration set for delivery events) and
    ``record_dir`` (local record of accepted message ids, default ``records``)."""

    name: ClassVar[str] = "ses"
    service: ClassVar[str] = "sesv2"
    codes: ClassVar[CodeTable] = SES_CODES
    supports_lookup: ClassVar[bool] = True

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self.record = SentRecord.for_provider(self.settings, self.name)

    def accepts(self, message: Message) -> bool:
        """SES takes ASCII local parts only (RFC 6532 addresses go by SMTP)."""
        return message.to.rpartition("@")[0].isascii()

    def deliver(self, message: Message) -> Receipt:
        sender = self.sender_for(message, "from-address")
        # Validate both addresses locally: a malformed one is permanent, no call needed.
        from_addr = address(None, str(sender), provider=self.name)
        to_addr = address(None, message.to, provider=self.name)
        if not to_addr.username.isascii():
            raise PermanentError(
                "SES cannot send to a non-ASCII local part", provider=self.name,
                code="SMTPUTF8",
            )
        body: dict[str, Any] = {"Text": {"Data": message.body, "Charset": "UTF-8"}}
        if message.html:
            body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
        params: dict[str, Any] = {
            "FromEmailAddress": header_address(
                message.sender_name or self.settings.get("sender_name"),
                ascii_address(from_addr.addr_spec, provider=self.name),
            ),
            "Destination": {
                "ToAddresses": [header_address(
                    message.recipient_name, ascii_address(to_addr.addr_spec, provider=self.name)
                )]
            },
            "Content": {
                "Simple": {
                    "Subject": {"Data": message.subject or "", "Charset": "UTF-8"},
                    "Body": body,
                }
            },
            "EmailTags": [{"Name": "notification_id", "Value": message.notification_id}],
        }
        configuration_set = self.settings.get("configuration_set")
        if configuration_set:
            params["ConfigurationSetName"] = str(configuration_set)
        answer = self.call("send_email", **params)
        message_id = answer.get("MessageId")
        if message_id:
            self.record.add(message.notification_id, str(message_id))
        return Receipt(self.name, message_id)

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        """The SES message id recorded for ``notification_id``, or None (cannot tell)."""
        message_id = self.record.find(notification_id, sent_after)
        if message_id is None:
            return None
        return LookupResult(True, self.name, message_id, {"source": "local record"})

    def check(self, senders: Sequence[str]) -> str:
        """``providers check``: ``GetAccount`` (sending enabled, sandbox) and each
        from-address's identity (verified)."""
        notes: list[str] = []
        try:
            account: Mapping[str, Any] | None = self.call("get_account")
        except CredentialsError as exc:
            return exc.reason
        except SendError as exc:  # the account's status is unknown; identities still tell
            account = None
            notes.append(f"GetAccount unanswered: {exc.code}")
        if account is not None:
            if not account.get("SendingEnabled", True):
                return "sending is disabled for the account (paused or suspended)"
            if account.get("EnforcementStatus") not in (None, "HEALTHY"):
                return f"account enforcement status {account.get('EnforcementStatus')}"
        for sender in senders:
            problem = self._identity_problem(sender)
            if problem:
                return problem
        if account is not None and not account.get("ProductionAccessEnabled", False):
            return (f"the account is in the SES sandbox in {self.region}: only verified "
                    "recipients receive mail")
        return f"OK (region {self.region}" + "".join(f"; {n}" for n in notes) + ")"

    def _identity_problem(self, sender: str) -> str | None:
        addr = ascii_address(sender.strip(), provider=self.name)
        domain = addr.rpartition("@")[2]
        for identity in (addr, domain):
            try:
                found = self.call("get_email_identity", EmailIdentity=identity)
            except SendError as exc:
                if isinstance(exc, CredentialsError) and exc.code != "NotFoundException":
                    raise  # our keys, not the identity
                continue
            if found.get("VerifiedForSendingStatus") or found.get(
                "VerificationStatus"
            ) == "SUCCESS":
                return None
        return f"from-address {sender} is not a verified SES identity in {self.region}"
