"""Structured logging with personal data masked.

``setup_logging(level, fmt)`` installs one handler on the root logger (stderr by
default) that

* masks every record before it is written, whoever logged it: the message text
  (phone numbers and e-mail addresses anywhere in it, names and addresses in mapping
  arguments by their keys) and every ``extra`` field (by its key: ``name``, ``phone``,
  ``email``, ``push_token``, ``to``, secrets ...; free text otherwise), tracebacks too;
* writes one JSON object per line (``fmt="json"``: ``ts``, ``level``, ``logger``,
  ``msg``, then the extra fields, then ``exc`` when there is a traceback) or a readable
  line (``fmt="text"``: time, level, logger, message, ``key=value`` extras).

Calling it again replaces the handler it installed before (handlers installed by
others stay). Masking rules live in :mod:`hub.masking`.

Usage::

    log = logging.getLogger("hub.worker")
    log.info("sent", extra={"notification_id": nid, "to": "010-1234-5678"})
    # {"ts": "...", "level": "INFO", "logger": "hub.worker", "msg": "sent",
    #  "notification_id": "...", "to": "010-****-5678"}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Mapping
from typing import IO, Any, Literal

from hub.masking import mask_data, mask_field, mask_text

__all__ = [
    "JsonFormatter",
    "MaskingFilter",
    "TextFormatter",
    "setup_logging",
    "setup_logging_from_config",
]

Format = Literal["json", "text"]
FORMATS: tuple[str, ...] = ("json", "text")

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("x", logging.INFO, __file__, 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}
_MASKED_FLAG = "_minwon_masked"
_HANDLER_FLAG = "_minwon_handler"

# Chatty libraries kept at WARNING unless the hub logs at DEBUG.
QUIET_LOGGERS: tuple[str, ...] = ("pika", "kombu", "amqp", "botocore", "boto3", "urllib3")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller passed with ``extra=`` (in the order they were set)."""
    return {
        k: v
        for k, v in record.__dict__.items()
        if k not in _STANDARD_ATTRS and not k.startswith("_minwon_")
    }


def _mask_args(args: Any) -> Any:
    if isinstance(args, Mapping):
        return mask_data(args)
    if isinstance(args, tuple):
        return tuple(mask_data(a) for a in args)
    return mask_data(args)


class MaskingFilter(logging.Filter):
    """Masks a record in place (message, arguments, extra fields); never drops one.

    Attach it to a handler, not a logger: handler filters see records propagated
    from every logger below the root.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MASKED_FLAG, False):
            return True
        try:
            if record.args:
                record.args = _mask_args(record.args)
            try:
                message = record.getMessage()
            except Exception:  # a bad format string must not lose the record
                message = f"{record.msg!s} {record.args!r}"
            record.msg = mask_text(message)
            record.args = None
            for key, value in extra_fields(record).items():
                setattr(record, key, mask_field(key, value))
        except Exception:  # never let masking break logging; never leak either
            record.msg = "<log record could not be masked>"
            record.args = None
        setattr(record, _MASKED_FLAG, True)
        return True


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; expects records already masked by
    :class:`MaskingFilter` but masks tracebacks itself."""

    def format(self, record: logging.LogRecord) -> str:
        ts = dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
        out: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = mask_text(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exc"] = mask_text(record.exc_text)
        if record.stack_info:
            out["stack"] = mask_text(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=_json_default)


class TextFormatter(logging.Formatter):
    """``2026-11-24 15:00:00,123 INFO    hub.worker: sent key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = extra_fields(record)
        if extras:
            tail = " ".join(f"{k}={_render(v)}" for k, v in extras.items())
            head, sep, rest = line.partition("\n")
            line = f"{head} {tail}{sep}{rest}"
        return line

    def formatException(self, ei: Any) -> str:
        return mask_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return mask_text(super().formatStack(stack_info))


def _render(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def setup_logging(
    level: str | int = "INFO",
    fmt: Format | str = "json",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send every log record through the masking filter to ``stream`` (stderr) in
    ``fmt`` (``json`` or ``text``) at ``level``; returns the handler installed.

    Raises ``ValueError`` for an unknown format or level name."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; known: {', '.join(FORMATS)}")
    numeric = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _HANDLER_FLAG, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_FLAG, False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_LOGGERS:
        quiet = logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
        logging.getLogger(name).setLevel(quiet)
    logging.captureWarnings(True)
    return handler


def setup_logging_from_config(cfg: Any, stream: IO[str] | None = None) -> logging.Handler:
    """``setup_logging`` with ``[logging] level`` and ``format`` of a :class:`hub.config.Config`."""
    return setup_logging(
        cfg.get("logging", "level", default="INFO"),
        cfg.get("logging", "format", default="json"),
        stream=stream,
    )
