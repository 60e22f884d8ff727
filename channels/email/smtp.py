"""E-mail through an SMTP relay (the organisation's own mail server, or any
submission service).

``security`` chooses the transport: ``starttls`` (port 587, the default),
``tls`` (implicit TLS, port 465) or ``none`` (plain; local relays and tests).
With ``username`` set, the provider logs in (``AUTH``) after TLS is up.

Connections are pooled: at most ``pool_size`` (default 4) are open at once, shared
by every worker thread; a thread takes an idle one or opens a new one, and gives
it back after the send. An idle connection older than ``max_idle`` seconds is
closed rather than reused, and a connection the server dropped
(``SMTPServerDisconnected`` on a reused connection) is replaced once, at once.

Outcomes: 5xx answers to ``RCPT``/``DATA`` → permanent; 4xx (greylisting, mailbox
busy, 421) and network failures → transient; an authentication failure (535, 530)
→ credentials.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, ClassVar

from channels.base import (
    CredentialsError,
    LookupResult,
    Message,
    PermanentError,
    Provider,
    Receipt,
    SendError,
    TransientError,
)
from channels.email.mime import build_email
from channels.httpapi import scrub
from channels.sentrecord import SentRecord

_AUTH_CODES = frozenset({530, 534, 535, 538})


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def error_for_reply(code: int, text: bytes | str, provider: str) -> SendError:
    """The error an SMTP reply code means."""
    message = scrub(_text(text))
    if code in _AUTH_CODES:
        return CredentialsError(message, provider=provider, code=code)
    if 400 <= code < 500:
        return TransientError(message, provider=provider, code=code)
    if code >= 500:
        return PermanentError(message, provider=provider, code=code)
    return TransientError(message, provider=provider, code=code)


class SmtpPool:
    """A small, thread-safe pool of SMTP connections made by ``connect``."""

    def __init__(
        self,
        connect: Callable[[], smtplib.SMTP],
        size: int = 4,
        max_idle: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[tuple[smtplib.SMTP, float]] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle
        self._clock = clock
        self.opened = 0  # connections opened so far (tests and operators)

    def _take_idle(self) -> smtplib.SMTP | None:
        now = self._clock()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since <= self._max_idle:
                    return conn
                _quit(conn)
        return None

    @contextmanager
    def connection(self) -> Iterator[tuple[smtplib.SMTP, bool]]:
        """Yield ``(connection, reused)``; the connection goes back to the pool when
        the block ends normally and is closed when it raises."""
        with self._slots:
            conn = self._take_idle()
            reused = conn is not None
            if conn is None:
                conn = self._connect()
                with self._lock:
                    self.opened += 1
            try:
                yield conn, reused
            except BaseException:
                _quit(conn)
                raise
            with self._lock:
                self._idle.append((conn, self._clock()))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            _quit(conn)


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        with suppress(OSError):
            conn.close()


class SmtpEmail(Provider):
    """Settings: ``host``, ``port`` (587 / 465 / 25 by ``security``), ``security``
    (``starttls`` | ``tls`` | ``none``), ``username``, ``password`` (secret:
    ``MINWON__PROVIDERS__SMTP__PASSWORD``), ``ca_file`` (extra CA to trust),
    ``verify`` (check the server certificate, default true), ``timeout`` (10 s),
    ``pool_size`` (4), ``max_idle`` (30 s), ``local_hostname``, and ``sender`` /
    ``sender_name`` (fallback from-address and display name)."""

    name: ClassVar[str] = "smtp"
    supports_lookup: ClassVar[bool] = True

    def __init__(self, settings: Mapping[str, Any], *, channel: str) -> None:
        super().__init__(settings, channel=channel)
        self.security = str(self.settings.get("security", "starttls")).lower()
        if self.security not in ("starttls", "tls", "none"):
            raise ValueError(
                f"providers.smtp.security must be starttls, tls or none, not {self.security!r}"
            )
        default_port = {"starttls": 587, "tls": 465, "none": 25}[self.security]
        self.host = str(self.settings.get("host", "localhost"))
        self.port = int(self.settings.get("port", default_port))
        self.timeout = float(self.settings.get("timeout", 10.0))
        self.pool = SmtpPool(
            self._connect,
            size=int(self.settings.get("pool_size", 4)),
            max_idle=float(self.settings.get("max_idle", 30.0)),
        )
        self.record = SentRecord.for_provider(self.settings, self.name)

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.settings.get("ca_file") or None)
        if not self.settings.get("verify", True):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        local = self.settings.get("local_hostname") or None
        conn: smtplib.SMTP
        try:
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=local,
                    timeout=self.timeout,
                    context=self._tls_context(),
                )
            else:
                conn = smtplib.SMTP(
                    self.host, self.port, local_hostname=local, timeout=self.timeout
                )
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(
                f"cannot connect to {self.host}:{self.port}: {type(exc).__name__}",
                provider=self.name, code="CONNECTION",
            ) from exc
        try:
            conn.ehlo()
            if self.security == "starttls":
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            username = self.settings.get("username")
            if username:
                conn.login(str(username), str(self.settings.get("password", "")))
        except smtplib.SMTPAuthenticationError as exc:
            _quit(conn)
            raise CredentialsError(
                scrub(_text(exc.smtp_error)), provider=self.name, code=exc.smtp_code
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            _quit(conn)
            raise TransientError(
                f"server does not support {exc}", provider=self.name, code="UNSUPPORTED"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            _quit(conn)
            raise error_for_reply(exc.smtp_code, exc.smtp_error, self.name) from exc
        except (OSError, smtplib.SMTPException) as exc:
            _quit(conn)
            raise TransientError(
                f"session set-up failed: {type(exc).__name__}",
                provider=self.name,
                code="CONNECTION",
            ) from exc
        return conn

    def deliver(self, message: Message) -> Receipt:
        sender = self.sender_for(message, "from-address")
        mime = build_email(
            message,
            sender=str(sender),
            sender_name=message.sender_name or self.settings.get("sender_name"),
            provider=self.name,
        )
        for attempt in (1, 2):
            try:
                with self.pool.connection() as (conn, reused):
                    try:
                        conn.send_message(mime)
                    except smtplib.SMTPServerDisconnected:
                        if reused and attempt == 1:
                            raise _Stale() from None
                        raise
            except _Stale:
                self.pool.close()  # its idle siblings are most likely stale too
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                raise error_for_reply(code, text, self.name) from exc
            except smtplib.SMTPResponseException as exc:
                raise error_for_reply(exc.smtp_code, exc.smtp_error, self.name) from exc
            except smtplib.SMTPNotSupportedError as exc:
                raise PermanentError(
                    f"server cannot carry this message: {exc}",
                    provider=self.name,
                    code="SMTPUTF8",
                ) from exc
            except (smtplib.SMTPException, OSError) as exc:
                raise TransientError(
                    f"send failed: {type(exc).__name__}", provider=self.name, code="CONNECTION"
                ) from exc
            message_id = str(mime["Message-ID"]).strip("<>")
            self.record.add(message.notification_id, message_id)
            return Receipt(self.name, message_id)
        raise TransientError(  # pragma: no cover - the loop returns or raises
            "connection dropped twice", provider=self.name, code="CONNECTION"
        )

    def lookup(self, notification_id: str, sent_after: datetime) -> LookupResult | None:
        """The Message-ID the server accepted for ``notification_id`` (local record:
        an SMTP server cannot be asked), or None (cannot tell)."""
        message_id = self.record.find(notification_id, sent_after)
        if message_id is None:
            return None
        return LookupResult(True, self.name, message_id, {"source": "local record"})

    def check(self, senders: Sequence[str]) -> str:
        """``providers check``: connect, EHLO, STARTTLS/TLS and AUTH as a send would."""
        try:
            conn = self._connect()
        except SendError as exc:
            return exc.reason
        try:
            features = sorted(conn.esmtp_features)
        finally:
            _quit(conn)
        login = "logged in" if self.settings.get("username") else "no login configured"
        return f"OK ({self.host}:{self.port}, {self.security}, {login}; " \
               f"{'SMTPUTF8' if 'smtputf8' in features else 'no SMTPUTF8'})"

    def close(self) -> None:
        self.pool.close()


class _Stale(Exception):
    """A pooled connection the server had closed; replaced once."""
