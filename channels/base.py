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

Hooks a provider may fill in (each does nothing by default):

* :meth:`Provider.prepare` adds what only this provider needs to the rendered
  message (알림톡 ``#{variables}``, a push notification's link) from the notice's
  :class:`JobContext`. The worker calls it once per notice, through the chain, and
  knows no channel or provider by name.
* :meth:`Provider.lookup` answers the ledger's sweeper: did the provider accept a
  message for this notification id (sent at or after ``sent_after``)? Capability as
  data: a provider that can tell sets ``supports_lookup = True``; the sweeper then
  settles a claim left by a dead worker from the answer instead of sending again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from channels.simulation import Simulator


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

    def with_extra(self, **values: Any) -> Message:
        """A copy with ``values`` added to ``extra`` (what :meth:`Provider.prepare`
        returns)."""
        return replace(self, extra={**self.extra, **values})


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a provider answered when it accepted a message."""

    provider: str
    message_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobContext:
    """What :meth:`Provider.prepare` may read beyond the rendered message: the event's
    ``data`` (``case`` with its title, officer, link, ...) and the organisation's
    settings (``[orgs.<id>]``: name, callcenter, senders)."""

    data: Mapping[str, Any] = field(default_factory=dict)
    org: Mapping[str, Any] = field(default_factory=dict)

    @property
    def case(self) -> Mapping[str, Any]:
        case = self.data.get("case")
        return case if isinstance(case, Mapping) else {}


@dataclass(frozen=True, slots=True)
class LookupResult:
    """A provider's answer about one notification id (:meth:`Provider.lookup`).

    ``accepted`` True: the provider took a message for it (the notice is sent; the
    receipt's message id goes to the ledger). False: the provider is sure it took
    none since ``sent_after`` (sending again is safe). "Cannot tell" is ``None``,
    not a result."""

    accepted: bool
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
    #: Whether :meth:`lookup` can answer (capability as data: the sweeper reads it).
    supports_lookup: ClassVar[bool] = False

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        from channels.simulation import Simulator  # (simulation imports this module)

        self.settings = dict(settings)
        self.channel = channel
        # Reserved test recipients: answered here unless the configuration turned them
        # off (``simulated_recipients``; hub.config turns them off in production).
        self.simulator: Simulator | None = (
            Simulator(self.name) if self.settings.get("simulated_recipients", True) else None)

    def accepts(self, message: Message) -> bool:
        """Whether this provider can carry ``message`` at all (알림톡, for one, needs a
        Kakao template code for the notice). A provider chain skips a provider that
        answers False. True by default."""
        return True

    def send(self, message: Message) -> Receipt:
        """Send one message or raise :class:`SendError`. Thread-safe.

        Reserved simulated recipients (:mod:`channels.simulation`) are answered here,
        without the network; every other message goes to :meth:`deliver`."""
        simulated = self.simulator.answer(message) if self.simulator is not None else None
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

    def prepare(self, message: Message, context: JobContext) -> Message:
        """Add what this provider needs beyond the rendered text, from the notice's
        ``context`` (usually into ``message.extra`` under the provider's own key, so
        that the providers of a chain do not overwrite each other). Returns the
        message unchanged by default. Pure: no I/O, called once per notice."""
        return message

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        """What the provider knows of a message for ``notification_id`` accepted at or
        after ``sent_after`` (the claim's time, minus clock skew): a
        :class:`LookupResult`, or None when it cannot tell (the default). The ledger's
        sweeper asks this before resending a notice whose worker died mid-send; set
        ``supports_lookup = True`` when you fill it in. Raising means "cannot tell"."""
        return None

    def close(self) -> None:
        """Release connections. Does nothing by default."""
