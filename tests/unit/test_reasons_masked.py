"""Reasons carry no personal data: a template that fails on each kind of personal field
(a citizen's name, phone and e-mail, an officer's name and phone) parks its notice, and
the raw value appears nowhere an operator or a subscriber can read: the x-hub-reason
header on hub.dead, the status event on minwon.notifications, the ledger's history,
``trace`` (text and JSON), and the JSON log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.events import parse_event
from hub.jobs import ATTEMPT, REASON, REASON_CODE, Job
from hub.ledger import Ledger, open_ledger
from hub.logs import setup_logging
from hub.retry import RetryPolicy
from hub.router import OTHER_SOURCE, Router
from hub.rules import load_rules
from hub.templates import TemplateStore
from hub.trace import render_json, render_text, trace
from hub.worker import ChannelWorker
from tests.unit.test_worker import TOPOLOGY, FakeSender

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"sms": "phone", "email": "email", "push": "push_token"}
CITIZEN = {"name": "홍길동", "phone": "010-9876-5432", "email": "gildong.hong@example.kr",
           "channels": ["sms"]}
OFFICER = {"name": "김담당", "phone": "054-480-1234"}

#: Each personal field, and ways a template can fail on it that quote the value.
FIELD_EXPRESSIONS = {
    "citizen name": "recipient.name",
    "citizen phone": "recipient.phone",
    "citizen e-mail": "citizen.email",
    "officer name": "case.officer.name",
    "officer phone": "case.officer.phone",
}
FAILURES = {
    "missing key": "{{{{ {{'a': 1}}[{0}] }}}}",
    "unparsable date": "{{{{ {0}|kdate }}}}",
    "not a number": "{{{{ {0}|won }}}}",
}


def raw_value(field: str) -> str:
    return {"citizen name": CITIZEN["name"], "citizen phone": CITIZEN["phone"],
            "citizen e-mail": CITIZEN["email"], "officer name": OFFICER["name"],
            "officer phone": OFFICER["phone"]}[field]


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
@pytest.mark.parametrize("field", FIELD_EXPRESSIONS.keys())
def test_a_template_failing_on_personal_data_leaks_it_nowhere(
        tmp_path: Path, log_stream: io.StringIO, field: str, failure: str) -> None:
    # Given an sms template that fails on one personal field
    folder = tmp_path / "templates" / "case.received"
    folder.mkdir(parents=True)
    (folder / "sms.j2").write_text(
        "{% block body %}[{{ org.name }}] " + failure.format(FIELD_EXPRESSIONS[field])
        + "{% endblock %}", "utf-8")
    raw = raw_value(field)
    event = json.loads((ROOT / "templates/case.received/samples/full.json").read_text("utf-8"))
    event["id"] = f"ev-mask-{abs(hash((field, failure)))}"
    event["data"]["citizen"] = dict(CITIZEN)
    event["data"]["case"]["officer"] = dict(OFFICER)
    case_id = event["data"]["case"]["id"]
    ledger: Ledger = open_ledger("memory://", hash_key=b"k")
    # When the router routes the event and the worker processes its sms notice
    router = Router(load_rules(), FIELDS, max_event_bytes=256 * 1024, sink=ledger)
    (job_publish,) = router.route(json.dumps(event, ensure_ascii=False).encode())
    job = Job.decode(job_publish.body)
    with TemplateStore(tmp_path / "templates", reload_interval=0) as store:
        worker = ChannelWorker(
            "sms", address_field="phone", sender=FakeSender(), store=store, ledger=ledger,
            retry=RetryPolicy(TOPOLOGY.tiers, 3, 0, 0.0), topology=TOPOLOGY,
            orgs=lambda key: {"key": key, "name": "구미시"},
            clock=lambda: datetime(2026, 11, 24, 5, 0, tzinfo=UTC))
        settlement = worker.process(job, {ATTEMPT: 1}, 1, 1)
    # Then the notice is parked as a template error
    dead = next(p for p in settlement.publishes if p.routing_key == "hub.dead")
    assert dead.headers[REASON_CODE] == "template_error"
    # And the raw value is in none of the places an operator or a subscriber reads
    places: dict[str, Any] = {
        "x-hub-reason": dead.headers[REASON],
        "headers": json.dumps(dead.headers, ensure_ascii=False, default=str),
        "status events": [p.body.decode() for p in settlement.publishes
                          if p.exchange == "minwon.notifications"],
        "ledger history": [h.reason for n in ledger.case_story(case_id).notices
                           for h in n.history],
        "trace": render_text(trace(ledger, case_id)),
        "trace --json": render_json(trace(ledger, case_id)),
        "log": log_stream.getvalue(),
    }
    for place, text in places.items():
        assert raw not in json.dumps(text, ensure_ascii=False), f"{raw} in {place}"
    # And the reason still says what went wrong, with the value masked
    assert dead.headers[REASON].startswith("template error: case.received/sms.j2: line 1")


def test_the_source_metric_label_is_bounded() -> None:
    router = Router(load_rules(), FIELDS, max_event_bytes=256 * 1024)
    labels = [router._source_label(f"/upstream/{i}") for i in range(200)]
    assert len(set(labels)) <= 51 and labels[-1] == OTHER_SOURCE
    assert router._source_label("/upstream/0") == "/upstream/0"  # known ones keep theirs
    assert router._source_label("/citizen/010-1234-5678")  == OTHER_SOURCE


def test_a_source_holding_a_phone_number_is_masked_in_its_label() -> None:
    router = Router(load_rules(), FIELDS, max_event_bytes=256 * 1024)
    assert router._source_label("/callback/010-1234-5678") == "/callback/010-****-5678"


def test_rejection_reasons_name_fields_not_values() -> None:
    # Given an event whose citizen phone is malformed (the schema refuses it)
    event = json.loads((ROOT / "templates/case.received/samples/full.json").read_text("utf-8"))
    event["data"]["citizen"]["phone"] = "홍길동 010-9876-5432"
    with pytest.raises(Exception) as info:
        parse_event(json.dumps(event, ensure_ascii=False).encode())
    # Then the reason names the field, and quotes no value
    assert "citizen.phone" in str(info.value)
    assert "010-9876-5432" not in str(info.value) and "홍길동" not in str(info.value)
