"""The provider interface: what every SMS, e-mail, push or 알림톡 provider fills in.

A provider is a small class, named in its channel's ``PROVIDERS`` mapping
(``'nhn': 'channels.sms.nhn:NhnCloudSms'``), that turns one rendered
:class:`Message` into a :class:`Receipt`, or raises a :class:`SendError` saying
whether the failure is *transient* (try again later) or *permanent* (never).

Contract for implementers:

* ``send`` is called from many worker threads at once: it must be thread-safe and
  should reuse connections (one HTTP session or boto3 client per provider instance).
* ``send`` must classify every failure: timeouts, 5xx, throttling are
  :class:`TransientError`; invalid or unregistered recipients are :class:`PermanentError`;
  rejected credentials are :class:`CredentialsError` (permanent, and alert-worthy).
* The provider's own code and message are kept on the error for operators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered notice, ready for a provider."""

    notification_id: str
    event_id: str
    event_type: str
    case_id: str | None
    org: str
    channel: str
    to: str
    body: str
    subject: str | None = None
    html: str | None = None
    kind: str | None = None  # "SMS" / "LMS" for the sms channel
    sender: str | None = None  # the organisation's sender number or from-address
    sender_name: str | None = None
    recipient_name: str | None = None
    template: str = ""
    template_version: str = ""
    attempt: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a provider answered when it accepted a message."""

    provider: str
    message_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class SendError(Exception):
    """A provider refused or failed a send. ``permanent`` decides retry or park."""

    permanent: ClassVar[bool] = False

    def __init__(
        self, message: str, *, provider: str = "", code: str | int | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.code = None if code is None else str(code)
        self.message = message

    @property
    def reason(self) -> str:
        """One line for operators: ``provider code: message``."""
        head = " ".join(p for p in (self.provider, self.code) if p)
        return f"{head}: {self.message}" if head else self.message


class TransientError(SendError):
    """Worth retrying: timeout, 5xx, throttling, provider busy."""

    permanent = False


class PermanentError(SendError):
    """Never worth retrying: invalid or unregistered recipient, rejected content."""

    permanent = True


class CredentialsError(PermanentError):
    """The provider rejected our credentials; raises an alert-worthy metric."""


class Provider:
    """Base class of every provider. Subclasses set ``name`` and fill in ``deliver``.

    ``settings`` is the ``[providers.<name>]`` table of the configuration, with
    secrets already merged in from the environment.
    """

    name: ClassVar[str] = "base"

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        from channels.simulation import Simulator  # (simulation imports this module)

        self.settings = dict(settings)
        self.channel = channel
        self.simulator = Simulator(self.name)

    def accepts(self, message: Message) -> bool:
        """Whether this provider can carry ``message`` at all (알림톡, for one, needs a
        Kakao template code for the notice). A provider chain skips a provider that
        answers False. True by default."""
        return True

    def send(self, message: Message) -> Receipt:
        """Send one message or raise :class:`SendError`. Thread-safe.

        Reserved simulated recipients (:mod:`channels.simulation`) are answered here,
        without the network; every other message goes to :meth:`deliver`."""
        simulated = self.simulator.answer(message)
        if simulated is not None:
            return simulated
        return self.deliver(message)

    def deliver(self, message: Message) -> Receipt:  # pragma: no cover - interface
        """Hand one message to the provider: what a subclass fills in."""
        raise NotImplementedError

    def sender_for(self, message: Message, what: str = "sender number") -> str:
        """The organisation's sender (number or from-address), else the provider's own
        ``sender`` setting. None is our configuration's fault, not the recipient's: a
        :class:`CredentialsError`, so the chain fails over."""
        sender = message.sender or self.settings.get("sender")
        if not sender:
            raise CredentialsError(
                f"no {what} for this organisation", provider=self.name, code="NO-SENDER"
            )
        return str(sender)

    def lookup(self, notification_id: str) -> Receipt | None:
        """What the provider knows of a message sent for ``notification_id``: its receipt
        if it accepted one, None if it did not or cannot tell (the default). The ledger's
        sweeper asks this before resending a notice whose worker died mid-send."""
        return None

    def close(self) -> None:
        """Release connections. Does nothing by default."""
