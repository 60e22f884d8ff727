"""Configuration: one typed schema, a TOML file, then ``MINWON__SECTION__KEY`` overrides.

The file is ``$MINWON_CONFIG``, else ``./minwon.toml`` when present, else none.
Every key can be overridden from the environment with double underscores between
levels (``MINWON__BROKER__URL``, ``MINWON__PROVIDERS__OUTBOX__DIR``). Values from
the environment are read as TOML values when they parse as one (``8``, ``true``,
``["sms", "email"]``) and as plain strings otherwise.

Every section and key is declared below, with its type, default and description
(pydantic models). A load refuses, one line per problem naming the key and where its
value came from (the file, or the environment variable):

* an unknown section or key, with the nearest known name ("did you mean ...?");
* a value of the wrong type or out of range;
* a secret written in the file (secrets come from the environment only);
* in production (``[hub] environment = "production"``): a chain with the ``outbox`` or
  ``latency`` provider, simulated recipients, the development (or a short)
  ``ledger.hash_key``, a provider in a chain without its required settings, an
  in-memory broker or ledger, and a password inside a URL in the file.

**Adding a key** is one line in its section's model: ``name: type = Field(default,
description="...")`` (with ``json_schema_extra=SECRET`` for a secret). A new section
is a model and one line in :class:`Settings`; a new provider's settings a model
(subclass :class:`ProviderSettings`) and one entry in :data:`PROVIDER_SETTINGS`.
"""

from __future__ import annotations

import copy
import difflib
import os
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

ENV_PREFIX = "MINWON__"
ROOT = Path(__file__).resolve().parent.parent
#: The local RabbitMQ, default vhost ``/`` written as the URI spec has it (``%2F``).
DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/%2F"
Environment = Literal["development", "production"]
PRODUCTION: Environment = "production"
DEVELOPMENT: Environment = "development"
#: Shortest ``ledger.hash_key`` production accepts (characters).
MIN_HASH_KEY = 16
#: The placeholder of deploy/'s example secrets: refused in production.
PLACEHOLDER = "CHANGE-ME"
#: Providers that never reach a citizen: refused in a production chain.
TEST_PROVIDERS = frozenset({"outbox", "latency"})

#: ``json_schema_extra`` of a secret: refused in the file, masked by ``config check``.
SECRET: dict[str, Any] = {"secret": True}
#: ``json_schema_extra`` of a provider setting that a production chain cannot do without.
REQUIRED: dict[str, Any] = {"required": True}
REQUIRED_SECRET: dict[str, Any] = {"secret": True, "required": True}


class ConfigError(ValueError):
    """Configuration mistakes, one line each (``problems``); ``str()`` is the first
    with a count of the others."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = len(problems) - 1
        suffix = f" (and {more} more: run `minwon-hub config check`)" if more else ""
        super().__init__(problems[0] + suffix)


def _text(value: Any) -> Any:
    """A secret or name read from the environment as a TOML integer (digits only)
    is the text the operator wrote. Floats and booleans would not round-trip."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or isinstance(value, str | bytes):
        return value
    raise ValueError(f"must be text, not {type(value).__name__}: quote it")


Text = Annotated[str, BeforeValidator(_text)]


def _url_list(value: Any) -> Any:
    """``broker.url``: one URL, a list (failover, tried in order) or kombu's
    ``;``-separated string; kept as one ``;``-separated string (what
    :mod:`hub.brokerurl` reads)."""
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ValueError("a list of URLs must hold strings only")
        return ";".join(v.strip() for v in value)
    return value


def _check_broker_url(value: Any) -> Any:
    if isinstance(value, str) and value and not value.startswith("memory://"):
        from hub.brokerurl import parse_urls

        parse_urls(value)  # raises ValueError with the reason
    return value


def _check_rate(value: Any) -> Any:
    from hub.policy import parse_rate

    parse_rate(value)
    return value


def _check_duration(value: Any) -> Any:
    from hub.topology import parse_duration

    parse_duration(value)
    return value


def _check_quiet_hours(value: Any) -> Any:
    from hub.policy import QuietHours

    if isinstance(value, str):
        QuietHours.parse(value)
    return value


def _check_timezone(value: Any) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if isinstance(value, str) and value:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Seoul)") from None
    return value


def _check_ledger_url(value: Any) -> Any:
    from hub.ledger import LEDGERS

    if isinstance(value, str):
        scheme = value.partition("://")[0].partition("+")[0].lower()
        if "://" not in value or scheme not in LEDGERS:
            raise ValueError(f"not a ledger URL (use {', '.join(sorted(LEDGERS))}://...)")
    return value


def _check_rate_store(value: Any) -> Any:
    """Empty, or a Redis URL redis-py will take (checked here, not when a worker starts)."""
    from urllib.parse import urlsplit

    if isinstance(value, str) and value:
        parts = urlsplit(value)
        if not value.startswith(("redis://", "rediss://", "unix://")) \
                or not (parts.netloc if parts.scheme != "unix" else parts.path):
            raise ValueError("not a Redis URL (use redis://host:6379/0, rediss:// or unix://)")
        try:
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise ValueError("the port of the Redis URL is not a number") from None
    return value


LedgerUrl = Annotated[str, AfterValidator(_check_ledger_url)]
RateStoreUrl = Annotated[str, AfterValidator(_check_rate_store)]
Rate = Annotated[int | float | str | dict[str, int | float | str], AfterValidator(_check_rate)]
Duration = Annotated[str | int | float, AfterValidator(_check_duration)]
QuietHoursText = Annotated[str, AfterValidator(_check_quiet_hours)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]

BrokerUrl = Annotated[str, BeforeValidator(_check_broker_url), BeforeValidator(_url_list)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# -- the sections ---------------------------------------------------------------------------
class HubSection(Section):
    environment: Environment = Field(
        DEVELOPMENT, description="production refuses test providers, simulated recipients "
        "and the development hash key (the default of the container image and deploy/)")


class BrokerSection(Section):
    url: BrokerUrl = Field(
        "", description="RabbitMQ URI (vhost percent-encoded: amqp://h:5672/%2F), or a list "
        "of them for failover; empty: demo in memory, other commands the local RabbitMQ")
    heartbeat: float = Field(30, ge=0, description="AMQP heartbeat, seconds (0: off)")
    prefetch: int = Field(256, ge=1, le=65535, description="unacked deliveries per consumer")
    connect_timeout: float = Field(10, gt=0, description="seconds to open a connection")
    management_url: str = Field(
        "", description="management API (status, dlq); empty: http://<amqp host>:15672")


class RouterSection(Section):
    rules: str = Field("", description="routing rules file; empty: the packaged hub/rules.toml")
    max_event_bytes: int = Field(256 * 1024, ge=1, description="larger events are rejected")


class WorkerSection(Section):
    concurrency: int = Field(128, ge=1, description="sends in flight per worker "
                             "(bounded by broker.prefetch)")
    shutdown_timeout: float = Field(30, ge=0, description="seconds to finish in-flight work")


class RetrySection(Section):
    tiers: list[Duration] = Field(["10s", "1m", "10m", "1h"], min_length=1,
                             description="delay tiers (durations: 500ms, 10s, 1m, 1h)")
    max_attempts: int = Field(6, ge=1, description="attempts before a notice is parked")
    quick_retries: int = Field(2, ge=0, description="in-process retries before a delay tier")
    quick_wait: float = Field(0.2, ge=0, description="seconds, doubled each quick retry")


class ChannelSection(Section):
    providers: list[str] = Field(min_length=1, description="provider chain, tried in order")
    failure_threshold: int = Field(5, ge=1, description="consecutive failures that open "
                                   "a provider's circuit breaker")
    reset_after: float = Field(30.0, gt=0, description="seconds a provider stays out of "
                               "rotation before one trial send")


class TemplatesSection(Section):
    # the shipped templates: the checkout's templates/ (hub/notice_templates links to it),
    # or their copy inside an installed wheel
    dir: str = Field(str(Path(__file__).resolve().parent / "notice_templates"),
                     description="template folder (relative: to the configuration file)")
    reload_interval: float = Field(2.0, ge=0, description="seconds between reload checks "
                                   "(0: no hot reload)")
    source: Literal["database", "folder"] = Field(
        "database", description="database: published versions in the ledger's database "
        "(알림 스튜디오) replace the folder's files; folder: the folder alone")


class StudioSection(Section):
    """알림 스튜디오 (minwon-hub studio)."""

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8080, ge=0, le=65535, description="port to listen on")
    secret_key: Text = Field("", description="signs session cookies: "
                             "MINWON__STUDIO__SECRET_KEY (empty: a random key per start, "
                             "everyone signs in again after a restart)",
                             json_schema_extra=SECRET)
    secure_cookies: bool = Field(False, description="true when served over HTTPS "
                                 "(cookies marked Secure)")
    session_minutes: int = Field(480, ge=1, description="a session expires this long "
                                 "after sign-in")
    login_attempts: int = Field(5, ge=1, description="failed sign-ins allowed per user "
                                "name and address ...")
    login_window: float = Field(300, gt=0, description="... within this many seconds")
    test_sends_per_hour: int = Field(10, ge=0, description='"send a test to me", per user')
    proxy_user_header: str = Field("", description='e.g. "X-Remote-User": trust a reverse '
                                   "proxy's SSO")


class LedgerSection(Section):
    url: LedgerUrl = Field("sqlite:///minwon-ledger.db", description="sqlite:///path or "
                     "postgresql+psycopg://user@host/db")
    hash_key: Text = Field("", description="key of the address hash: "
                           "MINWON__LEDGER__HASH_KEY", json_schema_extra=SECRET)
    store_raw_address: bool = Field(False, description="keep raw addresses (off: masked "
                                    "and hashed only)")
    retention_days: int = Field(400, ge=1, description="access records kept ≥ 1 year "
                                "(안전성 확보조치 기준 §8)")
    sweep_after: float = Field(300, gt=0, description="seconds before a claim left in "
                               "'sending' is taken as stale")


class MetricsSection(Section):
    port: int = Field(9108, ge=0, le=65535, description="/metrics, /healthz, /readyz "
                      "(0: not served)")
    addr: str = Field("0.0.0.0", description="address to listen on")


class HealthSection(Section):
    stall_after: float = Field(60.0, gt=0, description="/readyz fails when messages wait "
                               "and no ack was sent for this many seconds")
    ledger_timeout: float = Field(2.0, gt=0, description="/readyz fails when the ledger "
                                  "does not answer within this many seconds")


class PolicySection(Section):
    quiet_hours: QuietHoursText = Field("21:00-08:00", description="no non-urgent notices in this "
                             "window (empty: none)")
    timezone: TimeZone = Field("Asia/Seoul", description="time zone of quiet hours")
    rate_limits: dict[str, Rate] = Field(
        {}, description='per org and channel, e.g. "gumi.sms" = 50, "*.email" = "3000/m"')
    max_rate_wait: float = Field(1.0, ge=0, description="seconds a send may wait for "
                                 "its rate limit before it is deferred")
    rate_store: RateStoreUrl = Field("", description='"redis://host:6379/0": rate limits shared by '
                            "every replica (hub.shared_rates); empty: each process keeps "
                            "its own buckets (one replica per channel)")


class CalendarSection(Section):
    extra_holidays: list[date] = Field([], description="임시공휴일 (ISO dates), beside "
                                       "holidays.KR")


class OrgProfile(Section):
    name: str | None = Field(None, description="the organisation's name in notices")
    callcenter: str | None = Field(None, description="the public call centre's number "
                                   "(민원콜센터)")
    internal_unit: str | None = Field(None, description="the unit staff ask about "
                                      "complaints (e.g. 민원여권과)")
    internal_phone: str | None = Field(None, description="the internal contact's number, "
                                       "for notices to staff")
    url: str | None = Field(None, description="web site in notices")
    sms_sender: Text | None = Field(None, description="registered sender number "
                                    "(전기통신사업법 §84의2)")
    email_from: str | None = Field(None, description="from-address of e-mails")
    email_from_name: str | None = Field(None, description="display name of e-mails")
    timezone: TimeZone | None = Field(None, description="time zone (default policy.timezone)")
    quiet_hours: QuietHoursText | None = Field(None, description="this organisation's "
                                               "quiet hours (empty: none)")


class LoggingSection(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="log level")
    format: Literal["json", "text"] = Field("json", description="json lines or text")


def _default_channels() -> dict[str, ChannelSection]:
    from channels import CHANNEL_NAMES  # the channel catalogue

    return {name: ChannelSection(providers=["outbox"]) for name in CHANNEL_NAMES}


class Settings(Section):
    """Every section of the configuration."""

    hub: HubSection = HubSection()
    broker: BrokerSection = BrokerSection()
    router: RouterSection = RouterSection()
    worker: WorkerSection = WorkerSection()
    retry: RetrySection = RetrySection()
    channels: dict[str, ChannelSection] = Field(default_factory=_default_channels)
    # Each table is checked against PROVIDER_SETTINGS by its type (see _check_providers).
    providers: dict[str, dict[str, Any]] = Field(default_factory=lambda: {
        "outbox": {"dir": "outbox"}})
    templates: TemplatesSection = TemplatesSection()
    studio: StudioSection = StudioSection()
    ledger: LedgerSection = LedgerSection()
    metrics: MetricsSection = MetricsSection()
    health: HealthSection = HealthSection()
    policy: PolicySection = PolicySection()
    calendar: CalendarSection = CalendarSection()
    orgs: dict[str, OrgProfile] = Field(default_factory=dict)
    logging: LoggingSection = LoggingSection()


# -- provider settings ([providers.<name>], chosen by `type`, default the table's name) ---
class ProviderSettings(Section):
    type: str | None = Field(None, description="implementation (default: the table's name)")
    sender: Text | None = Field(None, description="fallback sender number / from-address")
    simulated_recipients: bool | None = Field(
        None, description="answer the reserved test recipients without the network "
        "(default: on in development, off in production)")


class OutboxSettings(ProviderSettings):
    dir: str = Field("outbox", description="folder of the JSON lines files")


class LatencySettings(ProviderSettings):
    latency_ms: float | None = Field(None, ge=0, description="time each send takes")
    fail_flag: str | None = Field(None, description="while this file exists, sends fail")
    record: str | None = Field(None, description="file of sent notification ids")


class HttpSettings(ProviderSettings):
    base_url: str | None = Field(None, description="API address (default: the provider's "
                                 "documented host, e.g. https://sms.api.nhncloudservice.com; "
                                 "the old *.cloud.toast.com hosts still work here; tests: a "
                                 "local server)")
    pool_size: int | None = Field(None, ge=1, description="keep-alive connections (128)")
    connect_timeout: float | None = Field(None, gt=0, description="seconds (3)")
    read_timeout: float | None = Field(None, gt=0, description="seconds (10)")


class NhnSettings(HttpSettings):
    app_key: Text | None = Field(None, description="NHN Cloud app key",
                                 json_schema_extra=REQUIRED)
    secret_key: Text | None = Field(None, description="X-Secret-Key",
                                    json_schema_extra=REQUIRED_SECRET)


class RecordSettings(ProviderSettings):
    record_dir: str | None = Field(None, description="local record of accepted message ids "
                                   "for look-ups after a worker died (records)")


class SensSettings(HttpSettings, RecordSettings):
    service_id: str | None = Field(None, description="SENS service id (ncp:sms:kr:…)",
                                   json_schema_extra=REQUIRED)
    access_key: Text | None = Field(None, description="access key id",
                                    json_schema_extra=REQUIRED)
    secret_key: Text | None = Field(None, description="signing secret",
                                    json_schema_extra=REQUIRED_SECRET)
    country_code: Text | None = Field(None, description="country code (82)")


class AlimtalkSettings(NhnSettings):
    sender_key: Text | None = Field(None, description="the Kakao channel's 발신 키",
                                    json_schema_extra=REQUIRED)
    templates: dict[str, str] | None = Field(None, description="template or event type → "
                                             "Kakao template code")
    resend: bool | None = Field(None, description="SMS/LMS fallback (대체발송), default on")


class AwsSettings(ProviderSettings):
    region: str | None = Field(None, description="AWS region (ap-northeast-2)")
    endpoint_url: str | None = Field(None, description="another endpoint (tests: moto)")
    aws_access_key_id: Text | None = Field(None, description="access key; leave out for "
                                           "an instance role")
    aws_secret_access_key: Text | None = Field(None, description="secret access key",
                                               json_schema_extra=SECRET)
    aws_session_token: Text | None = Field(None, description="temporary credentials",
                                           json_schema_extra=SECRET)
    pool_size: int | None = Field(None, ge=1, description="connection pool (128)")
    connect_timeout: float | None = Field(None, gt=0, description="seconds (3)")
    read_timeout: float | None = Field(None, gt=0, description="seconds (10)")
    max_attempts: int | None = Field(None, ge=1, description="botocore attempts (1)")


class SnsSettings(AwsSettings):
    sms_type: Literal["Transactional", "Promotional"] | None = Field(
        None, description="SMS type (Transactional)")
    origination_number: Text | None = Field(None, description="origination number")
    default_region: str | None = Field(None, description="region of national numbers (KR)")
    platform_application_arn: str | None = Field(None, description="push: accept raw "
                                                 "device tokens for this application")
    sms_region: str | None = Field(None, description="region SMS go out from "
                                   "(ap-northeast-1: Seoul does not send SMS)")


class SesSettings(AwsSettings, RecordSettings):
    sender_name: str | None = Field(None, description="fallback display name")
    configuration_set: str | None = Field(None, description="SES configuration set")


def _smtp_security(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() == "plain":
        raise ValueError("plain SMTP (no TLS) is written 'none'; one of starttls, tls, none")
    return value.strip().lower() if isinstance(value, str) else value


SmtpSecurity = Annotated[Literal["starttls", "tls", "none"], BeforeValidator(_smtp_security)]


class SmtpSettings(RecordSettings):
    host: str | None = Field(None, description="relay host (localhost)")
    port: int | None = Field(None, ge=1, le=65535, description="587 / 465 / 25 by security")
    security: SmtpSecurity | None = Field(
        None, description="starttls (default), tls (implicit) or none (plain: local relays)")
    username: Text | None = Field(None, description="AUTH user, after TLS is up")
    password: Text | None = Field(None, description="AUTH password",
                                  json_schema_extra=SECRET)
    ca_file: str | None = Field(None, description="extra CA bundle")
    verify: bool | None = Field(None, description="check the server certificate (true)")
    timeout: float | None = Field(None, gt=0, description="seconds (10)")
    pool_size: int | None = Field(None, ge=1, description="connections open at once (4)")
    max_idle: float | None = Field(None, ge=0, description="seconds an idle connection "
                                   "is kept (30)")
    local_hostname: str | None = Field(None, description="name sent in EHLO")
    sender_name: str | None = Field(None, description="fallback display name")


#: Provider implementation short name → its settings. Every short name of every
#: channel's ``SPEC.providers`` has an entry (a test checks it).
PROVIDER_SETTINGS: dict[str, type[ProviderSettings]] = {
    "outbox": OutboxSettings,
    "latency": LatencySettings,
    "nhn": NhnSettings,
    "sens": SensSettings,
    "alimtalk": AlimtalkSettings,
    "sns": SnsSettings,
    "ses": SesSettings,
    "smtp": SmtpSettings,
}


#: Defaults of the sections that are tables of named tables ([channels.*], [providers.*]).
_TABLE_DEFAULTS: dict[str, Any] = Settings().model_dump(include={"channels", "providers"})


# -- loading -------------------------------------------------------------------------------
Origins = dict[tuple[str, ...], str]
Path_ = tuple[str, ...]


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into a copy of ``base``; tables merge, other values replace."""
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def env_name(path: Path_) -> str:
    """The environment variable of a key: ``("ledger", "hash_key")`` →
    ``MINWON__LEDGER__HASH_KEY``."""
    return ENV_PREFIX + "__".join(p.upper() for p in path)


def env_overrides(environ: Mapping[str, str], origins: Origins | None = None) -> dict[str, Any]:
    """The nested table that ``MINWON__A__B=v`` variables describe (``origins`` gets
    each key's variable name)."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError([f"{name}: {part!r} is both a value and a table"])
        if isinstance(node.get(path[-1]), dict):
            raise ConfigError([f"{name}: {path[-1]!r} is both a value and a table"])
        node[path[-1]] = _parse_env_value(raw)
        if origins is not None:
            _mark(origins, tuple(path), node[path[-1]], name)
    return tree


def _mark(origins: Origins, path: Path_, value: Any, origin: str) -> None:
    origins[path] = origin
    if isinstance(value, Mapping):
        for key, child in value.items():
            _mark(origins, (*path, str(key)), child, origin)


def _origin(origins: Origins, path: Path_) -> str:
    for end in range(len(path), 0, -1):
        found = origins.get(path[:end])
        if found:
            return found
    return "the defaults"


def _show(path: Path_) -> str:
    return ".".join(path)


def _value(value: Any, *, secret: bool = False) -> str:
    if secret:
        return "'***'"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "known: " + ", ".join(sorted(known)) if known else "no keys allowed here"


def _field_extra(model: type[BaseModel], key: str) -> dict[str, Any]:
    extra = model.model_fields[key].json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _is_secret(model: type[BaseModel], key: str) -> bool:
    return key in model.model_fields and bool(_field_extra(model, key).get("secret"))


def _provider_model(name: str, table: Mapping[str, Any]) -> type[ProviderSettings] | None:
    kind = table.get("type") or name
    return PROVIDER_SETTINGS.get(str(kind))


def _submodel(model: type[BaseModel], key: str) -> tuple[type[BaseModel] | None, bool]:
    """(model of ``key``'s value, whether it is a table of such models keyed by name)."""
    annotation = model.model_fields[key].annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args: tuple[Any, ...] = tuple(getattr(annotation, "__args__", ()))
    value = args[-1] if len(args) == 2 else None
    if isinstance(value, type) and issubclass(value, BaseModel):
        return value, True
    return None, False


class _Checker:
    """Walks the merged data against the schema before pydantic types it: unknown keys
    (with the nearest name), secrets in the file, provider tables by type."""

    def __init__(self, origins: Origins, source: Path | None) -> None:
        self.origins = origins
        self.source = str(source) if source else None
        self.problems: list[str] = []

    def where(self, path: Path_) -> str:
        return _origin(self.origins, path)

    def keys(self, data: Mapping[str, Any], model: type[BaseModel], path: Path_) -> None:
        known = list(model.model_fields)
        for key, value in data.items():
            here = (*path, str(key))
            if key not in model.model_fields:
                what = "section" if not path else "key"
                self.problems.append(
                    f"unknown {what} {_show(here)} ({self.where(here)}): "
                    f"{_suggest(str(key), known)}")
                continue
            if _is_secret(model, key) and value not in (None, "") \
                    and self.source is not None and self.where(here) == self.source:
                self.problems.append(
                    f"{_show(here)} is a secret and must not be written in {self.source}: "
                    f"remove it and set {env_name(here)} in the environment")
            if path == () and key == "providers":
                self.providers(value, here)
                continue
            sub, keyed = _submodel(model, key)
            if sub is None or not isinstance(value, Mapping):
                continue
            if keyed:
                if path == () and key == "channels":
                    self.channel_names(value, here)
                for name, table in value.items():
                    if isinstance(table, Mapping):
                        self.keys(table, sub, (*here, str(name)))
            else:
                self.keys(value, sub, here)

    def channel_names(self, tables: Mapping[str, Any], path: Path_) -> None:
        from channels import CHANNEL_NAMES

        for name in tables:
            if name not in CHANNEL_NAMES:
                here = (*path, str(name))
                self.problems.append(
                    f"unknown channel {_show(here)} ({self.where(here)}): "
                    f"{_suggest(str(name), list(CHANNEL_NAMES))}")

    def providers(self, tables: Any, path: Path_) -> None:
        if not isinstance(tables, Mapping):
            return  # pydantic reports the type
        for name, table in tables.items():
            here = (*path, str(name))
            if not isinstance(table, Mapping):
                self.problems.append(f"{_show(here)} ({self.where(here)}) must be a table")
                continue
            model = _provider_model(str(name), table)
            if model is None:
                kind = str(table.get("type") or name)
                at = (*here, "type") if table.get("type") else here
                hint = _suggest(kind, list(PROVIDER_SETTINGS))
                self.problems.append(
                    f"{_show(at)} ({self.where(at)}): no provider type {kind!r} ({hint}); "
                    "a table with another name sets type = \"<provider>\"")
                continue
            self.keys(table, model, here)


def _type_problems(exc: ValidationError, origins: Origins, prefix: Path_,
                   model: type[BaseModel]) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        path = (*prefix, *loc)
        secret = _secret_path(model, loc)
        if error["type"] == "missing":
            problems.append(f"{_show(path)} is required ({_origin(origins, path[:-1])})")
            continue
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append(
            f"{_show(path)} = {_value(error.get('input'), secret=secret)} "
            f"({_origin(origins, path)}): {message}")
    return problems


def _secret_path(model: type[BaseModel], loc: Path_) -> bool:
    current: type[BaseModel] | None = model
    rest = list(loc)
    while rest and current is not None:
        key = rest.pop(0)
        if key not in current.model_fields:
            return False
        if not rest:
            return _is_secret(current, key)
        sub, keyed = _submodel(current, key)
        if keyed and rest:
            rest.pop(0)
        current = sub
    return False


def validate(data: Mapping[str, Any], origins: Origins | None = None,
             source: Path | None = None) -> dict[str, Any]:
    """The effective configuration of ``data`` (defaults filled in, values typed), or
    :class:`ConfigError` listing every problem."""
    origins = origins or {}
    # Tables of named tables merge with their defaults key by key, as sections do.
    data = deep_merge(_TABLE_DEFAULTS, data)
    checker = _Checker(origins, source)
    checker.keys(data, Settings, ())
    if checker.problems:
        raise ConfigError(checker.problems)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_type_problems(exc, origins, (), Settings)) from None
    effective = settings.model_dump(mode="python", exclude_none=True)
    production = settings.hub.environment == PRODUCTION
    problems: list[str] = []
    tables: dict[str, dict[str, Any]] = {}
    for name, table in settings.providers.items():
        model = _provider_model(name, table)
        assert model is not None  # the checker refused unknown types
        try:
            typed = model.model_validate(table)
        except ValidationError as exc:
            problems += _type_problems(exc, origins, ("providers", name), model)
            continue
        if typed.simulated_recipients is None:
            typed.simulated_recipients = not production
        elif typed.simulated_recipients and production:
            here = ("providers", name, "simulated_recipients")
            problems.append(f"{_show(here)} = true ({_origin(origins, here)}): simulated "
                            "recipients are refused in production")
        tables[name] = typed.model_dump(mode="python", exclude_none=True)
    effective["providers"] = tables
    problems += _chain_problems(settings, tables, origins, production)
    if production:
        problems += _production_problems(settings, origins, source)
    if problems:
        raise ConfigError(problems)
    return effective


def _chain_problems(settings: Settings, tables: Mapping[str, Mapping[str, Any]],
                    origins: Origins, production: bool) -> list[str]:
    from channels import get_channel

    problems = []
    for channel, section in settings.channels.items():
        offered = list(get_channel(channel).providers)
        here = ("channels", channel, "providers")
        where = _origin(origins, here)
        for name in section.providers:
            kind = str(tables.get(name, {}).get("type") or name)
            if kind not in offered:
                known = offered + [n for n in tables if n not in offered]
                problems.append(f"{_show(here)} ({where}): {channel} has no provider {name!r} "
                                f"({_suggest(name, known)})")
                continue
            if production and kind in TEST_PROVIDERS:
                problems.append(
                    f"{_show(here)} ({where}): the {kind!r} provider never reaches a citizen "
                    "and is refused in production ([hub] environment = \"production\")")
                continue
            if production:
                model = PROVIDER_SETTINGS[kind]
                for key in model.model_fields:
                    if _field_extra(model, key).get("required") \
                            and tables.get(name, {}).get(key) in (None, ""):
                        path = ("providers", name, key)
                        how = env_name(path) if _is_secret(model, key) else _show(path)
                        problems.append(f"{_show(path)} is required by the {channel} chain "
                                        f"({where}): set {how}")
    return problems


def _placeholders(data: Mapping[str, Any], path: Path_ = ()) -> list[Path_]:
    """Keys still holding a deployment file's placeholder (``CHANGE-ME``)."""
    found: list[Path_] = []
    for key, value in data.items():
        here = (*path, str(key))
        if isinstance(value, Mapping):
            found += _placeholders(value, here)
        elif isinstance(value, str) and PLACEHOLDER in value.upper():
            found.append(here)
    return found


def _production_problems(settings: Settings, origins: Origins,
                         source: Path | None) -> list[str]:
    from hub.ledger.privacy import DEV_HASH_KEY

    problems = [f"{_show(path)} ({_origin(origins, path)}) still holds the placeholder "
                f"{PLACEHOLDER}: set the real value"
                for path in _placeholders(settings.model_dump(exclude={"providers"}))
                + [("providers", *p) for p in _placeholders(settings.providers)]]
    key = settings.ledger.hash_key
    here = ("ledger", "hash_key")
    if not key:
        problems.append(f"{_show(here)} is not set ({_origin(origins, here)}): production "
                        f"refuses the development key; set {env_name(here)} "
                        f"(≥ {MIN_HASH_KEY} random characters)")
    elif key.encode() == DEV_HASH_KEY or len(key) < MIN_HASH_KEY:
        problems.append(f"{_show(here)} ({_origin(origins, here)}) is the development key "
                        f"or shorter than {MIN_HASH_KEY} characters: production refuses it")
    if settings.broker.url.startswith("memory://"):
        problems.append(f"broker.url ({_origin(origins, ('broker', 'url'))}): the in-memory "
                        "broker is refused in production")
    if settings.ledger.url.startswith(("memory:", "null:")):
        problems.append(f"ledger.url ({_origin(origins, ('ledger', 'url'))}): a ledger that "
                        "keeps nothing durable is refused in production")
    for path, url in ((("broker", "url"), settings.broker.url),
                      (("ledger", "url"), settings.ledger.url),
                      (("policy", "rate_store"), settings.policy.rate_store)):
        if source is not None and _origin(origins, path) == str(source) \
                and _has_password(url):
            problems.append(f"{_show(path)} carries a password in {source}: production "
                            f"takes it from the environment ({env_name(path)})")
    return problems


def _has_password(url: str) -> bool:
    from urllib.parse import urlsplit

    for one in url.split(";"):
        try:
            if urlsplit(one.strip()).password:
                return True
        except ValueError:
            continue
    return False


#: The effective configuration without a file or environment.
DEFAULTS: dict[str, Any] = validate({})


class Config:
    """Read-only view of the validated configuration: ``cfg["broker"]["url"]`` or
    ``cfg.get("providers", "outbox", "dir")``. Building one validates ``data``
    (:class:`ConfigError` on any problem)."""

    def __init__(self, data: Mapping[str, Any] | None = None, source: Path | None = None,
                 *, origins: Origins | None = None) -> None:
        self.origins: Origins = dict(origins or {})
        if origins is None:
            _mark(self.origins, (), data or {}, "the configuration given")
        self.source = source
        self.data = validate(data or {}, self.origins, source)

    def __getitem__(self, section: str) -> Any:
        return self.data[section]

    def get(self, *path: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def with_overrides(self, extra: Mapping[str, Any]) -> Config:
        origins = dict(self.origins)
        for key, value in extra.items():
            _mark(origins, (str(key),), value, "overrides")
        return Config(deep_merge(self.data, extra), self.source, origins=origins)

    # Convenience accessors used all over the hub.
    @property
    def broker_url(self) -> str:
        return str(self.data["broker"]["url"] or "")

    @property
    def production(self) -> bool:
        return bool(self.data["hub"]["environment"] == PRODUCTION)

    def org(self, key: str) -> dict[str, Any]:
        """The organisation's profile (``[orgs.<key>]``, unset keys left out) with its
        ``key``. Nothing stands in for what is not configured: an organisation without
        a profile raises OrgNotConfigured (the worker parks its notices with
        ``org_not_configured``), and a template that needs a fact the profile lacks
        fails with ``missing_fact`` (:class:`hub.templates.context.OrgFacts`)."""
        orgs = self.data.get("orgs") or {}
        if key not in orgs:
            from hub.templates.errors import OrgNotConfigured

            raise OrgNotConfigured(
                f"organisation '{key}' is not configured: add [orgs.{key}] with name, "
                "callcenter, internal_unit and internal_phone"
            )
        profile = {name: value for name, value in dict(orgs[key]).items() if value is not None}
        profile["key"] = key
        profile.setdefault("url", "")
        return profile

    def masked(self) -> dict[str, Any]:
        """The effective configuration with secrets and URL passwords masked (what
        ``config check`` prints)."""
        return _mask(self.data, Settings, ())


def _mask(data: Mapping[str, Any], model: type[BaseModel] | None, path: Path_) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        secret = model is not None and _is_secret(model, key)
        if secret and value not in (None, ""):
            out[key] = "***"
        elif isinstance(value, str) and "://" in value and _has_password(value):
            from hub.brokerurl import mask_password

            out[key] = mask_password(value)
        elif isinstance(value, Mapping):
            sub: type[BaseModel] | None = None
            keyed = False
            if model is not None and key in model.model_fields:
                sub, keyed = _submodel(model, key)
            if path == () and key == "providers":
                out[key] = {n: _mask(t, _provider_model(n, t), (*path, key, n))
                            for n, t in value.items()}
            elif keyed:
                out[key] = {n: _mask(t, sub, (*path, key, n)) if isinstance(t, Mapping) else t
                            for n, t in value.items()}
            else:
                out[key] = _mask(value, sub, (*path, key))
        else:
            out[key] = value
    return out


#: Keys that name a file or folder: a relative one written in the configuration file is
#: relative to that file's folder (as a reader of the file would take it), not to
#: wherever the hub happens to be started. The environment's stay relative to the
#: working directory.
FILE_RELATIVE: tuple[tuple[str, ...], ...] = (
    ("templates", "dir"),
    ("router", "rules"),
    ("providers", "outbox", "dir"),
)


def _relative_to_file(data: dict[str, Any], source: Path) -> None:
    for path in FILE_RELATIVE:
        node: Any = data
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        value = node.get(path[-1]) if isinstance(node, dict) else None
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            node[path[-1]] = str(source.resolve().parent / Path(value).expanduser())


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Defaults, then the TOML file, then the environment, checked against the schema.
    Raises :class:`ConfigError` (a ``ValueError``) naming each problem and where it
    came from, ``FileNotFoundError`` for a missing file."""
    environ = os.environ if environ is None else environ
    chosen: Path | None = None
    if path:
        chosen = Path(path)
    elif environ.get("MINWON_CONFIG"):
        chosen = Path(environ["MINWON_CONFIG"])
    elif Path("minwon.toml").is_file():
        chosen = Path("minwon.toml")
    data: dict[str, Any] = {}
    origins: Origins = {}
    if chosen is not None:
        if not chosen.is_file():
            raise FileNotFoundError(f"configuration file {chosen} does not exist")
        try:
            with chosen.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{chosen}: not valid TOML: {exc}"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{chosen}: cannot read it: {exc}"]) from None
        _relative_to_file(data, chosen)
        _mark(origins, (), data, str(chosen))
        origins.pop((), None)
        # A secret written in the file is refused even when the environment overrides it.
        file_check = _Checker(dict(origins), chosen)
        file_check.keys(data, Settings, ())
        secrets = [p for p in file_check.problems if " is a secret and " in p]
        if secrets:
            raise ConfigError(secrets)
    data = deep_merge(data, env_overrides(environ, origins))
    return Config(data, chosen, origins=origins)
