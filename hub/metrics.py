"""Prometheus metrics of the hub. Labels never carry personal data: only event
types, sources (system URIs), channels, providers, outcomes, tiers, reasons (codes),
queue names and template names."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_E2E_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

EVENTS_RECEIVED = Counter(
    "minwon_events_received_total", "Case events taken by the router.", ["type", "source"]
)
EVENTS_REJECTED = Counter(
    "minwon_events_rejected_total",
    "Case events rejected to hub.rejected, by reason code.",
    ["reason"],
)
NOTICES_ROUTED = Counter(
    "minwon_notices_routed_total", "Notification jobs published by the router.", ["channel"]
)
NOTICES = Counter(
    "minwon_notices_total",
    "Notices settled by channel workers, by outcome "
    "(sent, retried, deferred, dead, skipped, duplicate).",
    ["channel", "provider", "outcome"],
)
RETRIES = Counter(
    "minwon_retries_total", "Notices sent to a delay tier for a retry.", ["channel", "tier"]
)
PARKED = Counter(
    "minwon_parked_total", "Notices parked on hub.dead, by reason code.", ["channel", "reason"]
)
IN_FLIGHT = Gauge("minwon_sends_in_flight", "Sends in progress in this worker.", ["channel"])
PROVIDER_LATENCY = Histogram(
    "minwon_provider_call_duration_seconds",
    "Time a provider call took, by outcome.",
    ["channel", "provider", "outcome"],
    buckets=_LATENCY_BUCKETS,
)
END_TO_END = Histogram(
    "minwon_end_to_end_seconds",
    "From the case event's time to the provider accepting the notice.",
    ["channel"],
    buckets=_E2E_BUCKETS,
)
TEMPLATE_ERRORS = Counter(
    "minwon_template_errors_total",
    "Notices that failed to render.",
    ["event_type", "channel"],
)
TEMPLATE_RELOAD_FAILURES = Counter(
    "minwon_template_reload_failures_total",
    "Template edits refused (did not compile or failed their samples); the last good "
    "version stays in service.",
    ["template"],
)
TEMPLATE_BROKEN = Gauge(
    "minwon_template_broken",
    "1 while the template's current file is refused and its last good version serves.",
    ["template"],
)
UNSAFE_CHARS = Counter(
    "minwon_unsafe_chars_replaced_total",
    "Characters CP949 cannot encode, replaced before sending.",
    ["channel"],
)
PROVIDER_CREDENTIALS_REJECTED = Counter(
    "minwon_provider_credentials_rejected_total",
    "Sends refused because the provider rejected our credentials.",
    ["channel", "provider"],
)
PROVIDER_UP = Gauge(
    "minwon_provider_available",
    "1 while the provider is in rotation, 0 while its circuit breaker is open.",
    ["channel", "provider"],
)
SENT_RECORD_FAILURES = Counter(
    "minwon_sent_record_failures_total",
    "Accepted messages whose id could not be written to the provider's local record "
    "(record_dir not writable): a worker dying then causes a resend.",
)
SMS_MULTIPART = Counter(
    "minwon_sms_multipart_total",
    "SMS sent through a provider without LMS (SNS) whose body took more than one segment.",
    ["provider"],
)
QUEUE_MESSAGES = Gauge("minwon_queue_messages", "Messages ready in a hub queue.", ["queue"])
QUEUE_CONSUMERS = Gauge("minwon_queue_consumers", "Consumers of a hub queue.", ["queue"])
LEDGER_FLUSH = Histogram(
    "minwon_ledger_flush_duration_seconds",
    "Time one batched ledger write took.",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
)

LEDGER_BATCH_SIZE = Histogram(
    "minwon_ledger_batch_size",
    "Ledger writes (claims, records, events) committed in one transaction.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
LEDGER_STALE_CLAIMS = Counter(
    "minwon_ledger_stale_claims_total",
    "Claims left in 'sending' (worker died?) that the sweeper resolved, by the status "
    "given (retrying, or sent when settled from the provider).",
    ["channel", "resolved"],
)
LEDGER_STALE_RESENDS = Counter(
    "minwon_ledger_stale_resends_total",
    "Stale claims sent again although the provider could not say whether it had "
    "accepted the first send (no look-up): each may reach the citizen twice.",
    ["channel"],
)
LEDGER_FENCED = Counter(
    "minwon_ledger_fenced_total",
    "Records refused because the worker's claim had passed on (stale), by status.",
    ["channel", "status"],
)
LEDGER_UP = Gauge(
    "minwon_ledger_up",
    "1 while this worker's ledger answers; 0 while it is down and the worker has "
    "stopped taking work.",
    ["channel"],
)
LEDGER_UNRECORDED = Gauge(
    "minwon_ledger_unrecorded_sends",
    "Notices the provider accepted whose 'sent' record is waiting for the ledger.",
    ["channel"],
)
PUBLISH_RETURNED = Counter(
    "minwon_publish_returned_total",
    "Mandatory publishes the broker returned (no queue bound) or nacked; the delivery "
    "that asked for them is held and the publish retried, never acked.",
    ["exchange"],
)
SETTLEMENTS_HELD = Gauge(
    "minwon_settlements_held",
    "Deliveries held unacked because a publish they need was returned or nacked.",
    ["queue"],
)

RATE_STORE_ERRORS = Counter(
    "minwon_rate_store_errors_total",
    "Rate-limit look-ups the shared store (Redis) did not answer; the notice was deferred.",
)


BUILD_INFO = Gauge(
    "minwon_build_info",
    "Always 1; the labels say which build runs (version, source revision, Python).",
    ["version", "revision", "python"],
)


def _build_labels() -> tuple[str, str, str]:
    try:
        version = metadata.version("minwon-hub")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        from hub import __version__ as version
    revision = os.environ.get("MINWON_REVISION", "") or "unknown"
    return version, revision[:40], platform.python_version()


BUILD_INFO.labels(*_build_labels()).set(1)


_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, cached: ``labels()`` costs microseconds per call, and
    the hot path asks for the same few children millions of times."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve /metrics on ``addr:port`` from a daemon thread."""
    start_http_server(port, addr=addr)

STUDIO_TEST_SENDS = Counter(
    "minwon_studio_test_sends_total",
    "Test notices sent from the studio to the signed-in editor's own address (not "
    "counted in minwon_notices_total).",
    ["channel", "outcome"],
)
