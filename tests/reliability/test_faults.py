"""Fault injection: while events are published, break something; then nothing may be
lost and nothing sent twice. Size: ``MINWON_FAULT_EVENTS`` good events per fault
(default 2,000; ``python -m tests.reliability --events 20000`` for the full run).

The broker restart (``stop_app``) affects every vhost on the broker: it runs only with
``MINWON_FAULT_BROKER_RESTART=1`` (CI sets it; tests there run one at a time).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from tests.reliability.faults import FaultReport, Settings, broker_restart_allowed, run

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(300)]

SETTINGS = Settings(
    events=int(os.environ.get("MINWON_FAULT_EVENTS", "2000")),
    rate=float(os.environ.get("MINWON_FAULT_RATE", "500")),
    kills=int(os.environ.get("MINWON_FAULT_KILLS", "4")),
    outage=float(os.environ.get("MINWON_FAULT_OUTAGE", "30")),
)


def _run(fault: str) -> FaultReport:
    report = run(fault, SETTINGS)
    print(f"\n{FaultReport.header()}\n{report.line()}")
    for note in report.notes:
        print(f"  note: {note}")
    return report


def _nothing_lost_nothing_twice(report: FaultReport) -> None:
    assert report.events >= SETTINGS.events
    assert report.expected > report.events  # some events fan out to three channels
    assert report.lost == 0, f"{report.lost} notices lost"
    assert report.sent_twice == 0, f"{report.sent_twice} notices sent twice"


@pytest.mark.parametrize("fault", ["kill", "connections", "provider", "duplicates"])
def test_nothing_lost_or_sent_twice_under_fault(fault: str) -> None:
    # Given a hub of separate processes / When events flow while the fault strikes
    report = _run(fault)
    # Then every notice is delivered exactly once, and nothing was parked or rejected
    _nothing_lost_nothing_twice(report)
    assert report.delivered == report.expected
    assert report.parked == Counter()
    assert report.rejected == Counter()


@pytest.mark.skipif(not broker_restart_allowed(),
                    reason="stops RabbitMQ for every vhost: set MINWON_FAULT_BROKER_RESTART=1")
def test_broker_stop_and_start_loses_nothing() -> None:
    report = _run("broker")
    _nothing_lost_nothing_twice(report)
    assert report.delivered == report.expected
    assert report.parked == Counter()


def test_poison_is_rejected_or_parked_with_reasons_and_the_rest_delivered() -> None:
    # Given poison of every kind mixed in with good events
    report = _run("poison")
    # (among them 5,000-deep nesting, a 5,000-digit number, a lone surrogate, a NUL)
    # Then each poison message is on hub.rejected with its reason code
    _nothing_lost_nothing_twice(report)
    assert {"too_deep", "bad_number", "bad_text"} <= set(report.rejected)
    assert report.rejected == report.rejected_expected
    # and the e-mails whose template cannot render are parked as template errors
    assert report.parked == Counter({"template_error": report.parked_expected})
    # and every other notice is delivered
    assert report.delivered == report.expected - report.parked_expected


def test_a_runaway_template_parks_its_notices_and_the_rest_flow() -> None:
    # Given an org's SMS template that loops without end for some cases
    report = _run("runaway")
    # Then those notices are parked with template_budget, and every other is delivered
    _nothing_lost_nothing_twice(report)
    assert report.parked == Counter({"template_budget": report.parked_expected})
    assert report.delivered == report.expected - report.parked_expected
    assert report.rejected == Counter()


def test_the_ledger_database_stopped_loses_nothing() -> None:
    # Given the ledger on a private PostgreSQL / When it stops for the outage, then returns
    report = _run("ledger")
    # Then every notice is delivered once
    _nothing_lost_nothing_twice(report)
    assert report.delivered == report.expected
    assert report.rejected == Counter()
