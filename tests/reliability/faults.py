"""The fault-injection suite: publish events while something breaks, then count.

Each fault runs on a fresh RabbitMQ vhost with the hub as production runs it: a
``minwon-hub router`` process and ``Settings.workers`` ``minwon-hub worker --channel
sms|email|push`` processes per channel (:class:`bench.procs.HubProcesses`), sharing one
ledger (a SQLite file; with ``Settings.ledger = "postgres"`` a database of its own on the
PostgreSQL server, dropped afterwards), the sweeper at ``Settings.sweep_after`` seconds,
with the latency provider (:mod:`channels.latency`) on every channel. The provider
writes a line per accepted send; that record is the truth the suite counts against:

* **delivered**: notification ids with at least one line;
* **sent twice**: ids with more than one line (must be 0);
* **parked**: jobs on ``hub.dead``, by ``x-hub-reason-code``;
* **rejected**: events on ``hub.rejected``, by ``x-hub-reason-code``;
* **lost**: expected ids neither delivered nor parked (must be 0).

Faults (:data:`FAULTS`):

``kill``       a worker process is SIGKILLed every ``interval`` s and restarted
``connections`` ``rabbitmqctl close_all_connections --vhost`` (the hub's and the publisher's)
``broker``     ``rabbitmqctl stop_app`` then ``start_app``: **every vhost of the broker**
               (only when allowed: see :func:`broker_restart_allowed`)
``provider``   the provider fails transiently (``TransientError``) for ``outage`` s
``poison``     bad JSON, invalid UTF-8, wrong schema, a 5 MB body and data that breaks
               the e-mail template, mixed in with good events
``duplicates`` every event published twice (some three times, one copy with a
               changed body): each notice must still go out once
``runaway``    an organisation's SMS template loops without end for some cases: those
               notices are parked with ``template_budget``, the others flow
``ledger``     the ledger's database (a private PostgreSQL started for the run with
               ``initdb``/``pg_ctl`` on a free port) is stopped for ``outage`` s mid-stream

The poison set includes what once stopped the router: 5,000-deep nesting, a 5,000-digit
number, a lone surrogate in a title and a NUL in a case id.

The publisher behaves like a careful upstream system: an event whose confirm failed
(connection closed, broker down) is published again, so an event may reach the hub
more than once; the ledger must keep that from becoming a second notice.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs
from channels.latency import read_records
from hub.jobs import notification_id
from hub.producer import PikaProducer
from hub.topology import Topology
from hub.transport import connect
from tests.conftest import AMQP_ROOT, VHost, rabbitmqctl
from tests.private_postgres import PrivatePostgres

FAULTS: tuple[str, ...] = ("kill", "connections", "broker", "provider", "poison", "duplicates",
                           "runaway", "ledger")
CHANNELS: tuple[str, ...] = ("sms", "email", "push")
TIERS = ("1s", "3s", "8s")
ORG_TOML = """[orgs.gumi]
name = "구미시"
callcenter = "054-480-2114"
internal_unit = "민원여권과"
internal_phone = "054-480-6000"
url = "https://www.gumi.go.kr"
sms_sender = "0544802114"
email_from = "minwon@gumi.example.kr"
"""


def broker_restart_allowed() -> bool:
    """``stop_app`` stops the broker for every vhost, so other tests running at the same
    time would fail: only when ``MINWON_FAULT_BROKER_RESTART=1`` (CI, standalone)."""
    return os.environ.get("MINWON_FAULT_BROKER_RESTART", "") == "1"


# -- events ---------------------------------------------------------------------------
def good_event(run: str, seq: int, *, title: str = "도로 파손 신고") -> dict[str, Any]:
    """Event ``seq``: every third goes to the citizen by SMS, e-mail and push, the
    others by SMS only."""
    channels = list(CHANNELS) if seq % 3 == 0 else ["sms"]
    case_id = f"F-{seq:07d}"
    return {
        "specversion": "1.0", "id": f"{run}-{seq:07d}", "source": "/gumi/fault-suite",
        "type": "case.received", "time": "2026-11-24T15:00:00.000+09:00", "subject": case_id,
        "datacontenttype": "application/json",
        "data": {
            "org": "gumi",
            "case": {"id": case_id, "title": title, "kind": "기타",
                     "received_at": "2026-11-24T14:55:00+09:00",
                     "department": "도로철도과",
                     "officer": {"name": "김담당", "phone": "054-480-0000"}},
            "citizen": {"name": "홍길동", "phone": f"010-{seq % 10000:04d}-{seq % 9973:04d}",
                        "email": f"c{seq}@example.kr", "push_token": f"tok-{seq}",
                        "channels": channels},
        },
    }


def expected_ids(event: dict[str, Any]) -> dict[str, str]:
    """notification id -> channel of every notice ``event`` calls for."""
    return {notification_id(event["id"], "citizen", c): c
            for c in event["data"]["citizen"]["channels"]}


def template_breaker(run: str, seq: int) -> dict[str, Any]:
    """Valid by the schema, but its received_at (year 1, +14:00) cannot be shown in
    Korean time: the e-mail template fails (parked, template_error); SMS goes out."""
    event = good_event(run, seq)
    event["data"]["citizen"]["channels"] = ["sms", "email"]
    event["data"]["case"]["received_at"] = "0001-01-01T00:00:00+14:00"
    return event


def poison_bodies(run: str, n: int) -> list[tuple[bytes, str]]:
    """(body, expected reason code on hub.rejected), one of each kind per five."""
    kinds = [
        (b'{"specversion": "1.0", "id": "broken', "bad_json"),
        (b'{"id": "\xff\xfe\xfa", "type": "case.received"}', "not_utf8"),
        (json.dumps({"specversion": "1.0", "id": f"{run}-schema-{{i}}", "source": "/x",
                     "type": "case.received", "data": {"org": "gumi"}}).encode(), "invalid"),
        (json.dumps({"specversion": "1.0", "id": f"{run}-unknown-{{i}}", "source": "/x",
                     "type": "case.exploded", "data": {"org": "gumi"}}).encode(),
         "unknown_type"),
    ]
    surrogate = good_event(run, 0, title="\ud800")  # json.dumps writes it as "\ud800"
    surrogate["id"] = f"{run}-surrogate-{{i}}"
    nul = good_event(run, 0)
    nul["id"] = f"{run}-nul-{{i}}"
    nul["data"]["case"]["id"] = "F-\u0000-{i}"
    kinds += [
        (b'{"id": "' + run.encode() + b'-deep-{i}", "data": ' + b"[" * 5000 + b"]" * 5000
         + b"}", "too_deep"),
        (b'{"id": "' + run.encode() + b'-digits-{i}", "n": ' + b"9" * 5000 + b"}",
         "bad_number"),
        (json.dumps(surrogate).encode(), "bad_text"),
        (json.dumps(nul).encode(), "bad_text"),
    ]
    out = []
    for i in range(n):
        body, code = kinds[i % len(kinds)]
        out.append((body.replace(b"{i}", str(i).encode()), code))
    return out


#: An organisation's SMS template that loops without end for cases titled "무한 …".
RUNAWAY_SMS = """{% block body %}
{% if '무한' in case.title %}{% for a in range(100000) %}{% for b in range(100000) %}
{% endfor %}{% endfor %}{% endif %}
[{{ org.name }}] {{ recipient.name }}님, 민원({{ case.id }})이 접수되었습니다.
{% endblock %}
"""


def runaway_event(run: str, seq: int) -> dict[str, Any]:
    """An SMS-only event whose case title sends :data:`RUNAWAY_SMS` into its loop."""
    event = good_event(run, seq, title="무한 반복 민원")
    event["data"]["citizen"]["channels"] = ["sms"]
    return event


def huge_event(run: str, seq: int) -> bytes:
    """A 5 MB body (a schema-valid event with a huge title)."""
    event = good_event(run, seq, title="가" * (5 * 1024 * 1024 // 3))
    return json.dumps(event, ensure_ascii=False).encode()


# -- the report -----------------------------------------------------------------------
@dataclass
class FaultReport:
    fault: str
    events: int = 0  # distinct good event ids published
    publishes: int = 0  # messages published, counting duplicates, poison, re-publishes
    expected: int = 0  # notices the good events call for
    delivered: int = 0
    lost: int = 0
    sent_twice: int = 0
    parked: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    parked_expected: int = 0  # notices meant to be parked (template breakers)
    rejected_expected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    recovery: float | None = None  # seconds until deliveries ran again (cluster suite)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        def fmt(c: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "-"

        return (f"{self.fault:<12} {self.events:>7} {self.publishes:>9} {self.expected:>8} "
                f"{self.delivered:>9} {self.lost:>5} {self.sent_twice:>6}  "
                f"parked: {fmt(self.parked)}; rejected: {fmt(self.rejected)}")

    @staticmethod
    def header() -> str:
        return (f"{'fault':<12} {'events':>7} {'published':>9} {'notices':>8} "
                f"{'delivered':>9} {'lost':>5} {'twice':>6}  parked / rejected (reason: count)")

    def as_dict(self) -> dict[str, Any]:
        return {"fault": self.fault, "events": self.events, "publishes": self.publishes,
                "notices_expected": self.expected, "delivered": self.delivered,
                "lost": self.lost, "sent_twice": self.sent_twice, "parked": dict(self.parked),
                "rejected": dict(self.rejected), "seconds": round(self.seconds, 1),
                "recovery_seconds": self.recovery,
                "notes": self.notes}


def summarize(reports: list[FaultReport], seconds: float, *, recovery: bool = False,
              json_path: Path | None = None) -> int:
    """Print the table of a suite run (and write it as JSON); 1 when any fault lost or
    sent a notice twice, else 0."""
    print(FaultReport.header() + ("  recovery" if recovery else ""))
    print("-" * (110 if recovery else 100))
    for report in reports:
        tail = ""
        if recovery:
            tail = "  -" if report.recovery is None else f"  {report.recovery:.1f} s"
        print(report.line() + tail)
        for note in report.notes:
            print(f"{'':<12} note: {note}")
    bad = [r.fault for r in reports if r.lost or r.sent_twice]
    print(f"\n{len(reports)} faults in {seconds:.0f} s; "
          + ("nothing lost, nothing sent twice" if not bad else f"FAILED: {', '.join(bad)}"))
    if json_path is not None:
        json_path.write_text(json.dumps([r.as_dict() for r in reports], indent=2,
                                        ensure_ascii=False) + "\n", "utf-8")
    return 1 if bad else 0


# -- the test bed -----------------------------------------------------------------------
class Bed:
    """One fault's hub: vhost, configuration, processes, publisher, record."""

    def __init__(self, fault: str, *, workdir: Path, outage_flag: bool = False,
                 ledger_url: str | None = None, templates: Path | None = None) -> None:
        self.fault = fault
        self.settings = _settings
        self.database: str | None = None
        if ledger_url is None and self.settings.ledger == "postgres":
            self.database = f"fault_{fault}_{uuid.uuid4().hex[:8]}"
            _pg_admin(f'CREATE DATABASE "{self.database}"')
            ledger_url = f"{PG_SERVER}/{self.database}"
        self.ledger_url = ledger_url or f"sqlite:///{workdir / 'ledger.db'}"
        self.templates = templates
        self.vhost = VHost(f"fault-{fault}-{uuid.uuid4().hex[:8]}")
        self.workdir = workdir
        self.record = workdir / "record"
        self.flag = workdir / "provider-down"
        self.config = workdir / "minwon.toml"
        self.hub: procs.HubProcesses | None = None
        self.run_id = f"{fault}-{uuid.uuid4().hex[:6]}"
        self.expected: dict[str, str] = {}
        self.events: set[str] = set()
        self.publishes = 0
        self._producer: PikaProducer | None = None
        self.notes: list[str] = []

    # -- set-up ---------------------------------------------------------------------
    def write_config(self) -> None:
        lines = [
            "[broker]", f'url = "{self.vhost.url}"', "prefetch = 128", "heartbeat = 10",
            "[worker]", "concurrency = 64", "shutdown_timeout = 10",
            "[retry]", f"tiers = {json.dumps(list(TIERS))}", "max_attempts = 12",
            "quick_retries = 1", "quick_wait = 0.05",
            "[ledger]", f'url = "{self.ledger_url}"',
            # the hash key is a secret: in the environment (bench.procs passes it)
            f"sweep_after = {self.settings.sweep_after}",
            "[policy]", 'quiet_hours = ""',
            "[logging]", 'level = "WARNING"',
            "[providers.latency]", "latency_ms = 5", f'record = "{self.record}"',
            f'fail_flag = "{self.flag}"',
        ]
        if self.templates is not None:
            lines += ["[templates]", f'dir = "{self.templates}"', 'source = "folder"']
        for channel in CHANNELS:
            lines += [f"[channels.{channel}]", 'providers = ["latency"]', "reset_after = 2"]
        self.config.write_text("\n".join(lines) + "\n" + ORG_TOML, "utf-8")

    def start(self) -> None:
        self.vhost.create()
        self.write_config()
        with connect(self.vhost.url) as conn:
            Topology.build(CHANNELS, list(TIERS)).declare(conn.channel())
        self.hub = procs.HubProcesses(self.config, self.workdir, CHANNELS, router=True)
        self.hub.start()
        for _ in range(self.settings.workers - 1):
            for channel in CHANNELS:
                self.hub.spawn(channel)
        self.wait_consumers()

    def wait_consumers(self, timeout: float = 180.0) -> None:  # slow on a busy machine
        queues = ["hub.router", *(f"hub.notify.{c}" for c in CHANNELS)]
        deadline = time.monotonic() + timeout
        while True:
            try:
                if all(self.depth(q)[1] >= 1 for q in queues):
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"hub consumers not up after {timeout}s")
            time.sleep(0.2)

    def close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close()
        if self.hub is not None:
            self.hub.stop()
        self.vhost.delete()
        if self.database is not None:
            with contextlib.suppress(Exception):
                _pg_admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    # -- broker ---------------------------------------------------------------------
    def depth(self, queue: str) -> tuple[int, int]:
        with connect(self.vhost.url) as conn:
            _, count, consumers = conn.channel().queue_declare(queue, passive=True)
            return int(count), int(consumers)

    def drain(self, queue: str) -> list[tuple[bytes, dict[str, Any]]]:
        out = []
        with connect(self.vhost.url) as conn:
            channel = conn.channel()
            while True:
                message = channel.basic_get(queue, no_ack=True)
                if message is None:
                    break
                body = message.body if isinstance(message.body, bytes) else \
                    message.body.encode()
                out.append((body, dict(message.headers or {})))
        return out

    # -- publishing -----------------------------------------------------------------
    def publish(self, items: list[dict[str, Any] | bytes], *, count_good: bool = True,
                deadline: float = 180.0) -> None:
        """Publish until every item is confirmed; re-publish what failed (a careful
        upstream system). Good events are remembered with the notices they call for."""
        if count_good:
            for item in items:
                if isinstance(item, dict):
                    self.events.add(item["id"])
                    self.expected.update(expected_ids(item))
        pending = list(items)
        give_up = time.monotonic() + deadline
        while pending:
            if time.monotonic() > give_up:
                raise TimeoutError(f"{len(pending)} events unconfirmed after {deadline}s")
            try:
                if self._producer is None:
                    self._producer = self.open_producer()
                result = self._producer.publish_batch(pending)
            except Exception as exc:  # broker down or connection closed: try again
                self._drop_producer()
                self.note(f"publisher: {type(exc).__name__} while publishing; retried")
                time.sleep(0.5)
                continue
            self.publishes += result.published
            if not result.failed:
                return
            # Publish again exactly what was not confirmed (matched by event id; a body
            # without an id is matched to the first such body).
            unconfirmed = Counter(eid for eid, _ in result.failed)
            retry = []
            for item in pending:
                key = _id_of(item)
                if unconfirmed[key] > 0:
                    unconfirmed[key] -= 1
                    retry.append(item)
            pending = retry
            self.note("publisher: unconfirmed events published again")
            self._drop_producer()
            time.sleep(0.3)

    def open_producer(self) -> PikaProducer:
        return PikaProducer(self.vhost.url, timeout=20)

    def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                producer.close()

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def publish_paced(self, items: list[dict[str, Any] | bytes], rate: float,
                      batch: int = 50, on_tick: Callable[[float], None] | None = None) -> None:
        """Publish ``items`` at about ``rate`` a second, in batches."""
        started = time.monotonic()
        for i in range(0, len(items), batch):
            due = started + i / rate
            while time.monotonic() < due:
                time.sleep(max(0.0, min(0.02, due - time.monotonic())))
            self.publish(items[i:i + batch])
            if on_tick is not None:
                on_tick(time.monotonic() - started)

    # -- counting ---------------------------------------------------------------------
    def delivered(self) -> Counter[str]:
        return Counter(r.notification_id for r in read_records(self.record))

    def settle(self, *, timeout: float = 180.0, idle: float = 45.0) -> None:
        """Wait until every expected notice is delivered or parked, or until nothing
        has moved for ``idle`` seconds."""
        deadline = time.monotonic() + timeout
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            done = len(set(self.delivered()) & set(self.expected))
            try:
                parked = self.depth("hub.dead")[0]
            except Exception:  # broker still coming back
                parked = 0
            if done + parked >= len(self.expected):
                return
            if done + parked != last:
                last, last_change = done + parked, time.monotonic()
            elif time.monotonic() - last_change > idle:
                return
            if self.hub is not None:
                self.hub.check_alive()
            time.sleep(0.5)

    def stale_claims(self) -> Counter[str]:
        """Claims the sweepers resolved (from the processes' logs): by new status."""
        found: Counter[str] = Counter()
        for log in self.workdir.glob("*.log"):
            for line in log.read_text("utf-8", "replace").splitlines():
                if "stale claim resolved" not in line:
                    continue
                try:
                    found[str(json.loads(line).get("resolved", "?"))] += 1
                except ValueError:
                    found["?"] += 1
        return found

    def report(self, started: float) -> FaultReport:
        time.sleep(1.0)  # let the last acks and parks land
        sends = self.delivered()
        dead = self.drain("hub.dead")
        rejected = self.drain("hub.rejected")
        parked_ids: set[str] = set()
        parked: Counter[str] = Counter()
        for body, headers in dead:
            parked[str(headers.get("x-hub-reason-code", "?"))] += 1
            with contextlib.suppress(Exception):
                parked_ids.add(json.loads(body)["notification_id"])
        report = FaultReport(self.fault)
        report.events = len(self.events)
        report.publishes = self.publishes
        report.expected = len(self.expected)
        report.delivered = len(set(sends) & set(self.expected))
        report.lost = len(set(self.expected) - set(sends) - parked_ids)
        report.sent_twice = sum(1 for n in sends.values() if n > 1)
        report.parked = parked
        report.rejected = Counter(str(h.get("x-hub-reason-code", "?")) for _, h in rejected)
        report.seconds = time.monotonic() - started
        report.notes = list(self.notes)
        stale = self.stale_claims()
        if stale:
            report.notes.append(
                f"{sum(stale.values())} claims left by killed workers resolved by the "
                f"sweeper: {stale.get('sent', 0)} settled from the provider's record, "
                f"{stale.get('retrying', 0)} sent again")
        strays = set(sends) - set(self.expected)
        if strays:
            report.notes.append(f"{len(strays)} sends not expected")
        return report


def _id_of(item: dict[str, Any] | bytes) -> str | None:
    if isinstance(item, dict):
        value = item.get("id")
        return value if isinstance(value, str) else None
    try:
        value = json.loads(item).get("id")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


# -- the faults --------------------------------------------------------------------------
@dataclass
class Settings:
    events: int = 2000
    rate: float = 400.0  # good events a second
    kills: int = 4
    outage: float = 30.0
    seed: int = 7
    ledger: str = "sqlite"  # or "postgres": a database of its own on PG_SERVER
    workers: int = 1  # worker processes per channel
    sweep_after: float = 3.0  # seconds before the sweeper takes a claim for stale


#: The PostgreSQL server of ``ledger="postgres"`` runs (trust auth, as in CI).
PG_SERVER = os.environ.get("MINWON_TEST_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
_settings = Settings()  # the running fault's (set by :func:`run`)


def _pg_admin(statement: str) -> None:
    """One statement outside a transaction (CREATE / DROP DATABASE)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


@contextlib.contextmanager
def bed(fault: str, *, ledger_url: str | None = None,
        templates: Callable[[Path], Path] | None = None) -> Iterator[Bed]:
    """A started test bed; ``templates`` makes its templates folder in the work dir."""
    tmp = Path(tempfile.mkdtemp(prefix=f"minwon-fault-{fault}-"))
    b = Bed(fault, workdir=tmp, ledger_url=ledger_url,
            templates=templates(tmp) if templates is not None else None)
    try:
        b.start()
        yield b
    finally:
        b.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _good(b: Bed, n: int, start: int = 0) -> list[dict[str, Any] | bytes]:
    return [good_event(b.run_id, i) for i in range(start, start + n)]


def fault_kill(s: Settings) -> FaultReport:
    """SIGKILL a worker every so often while events flow; a supervisor restarts it."""
    started = time.monotonic()
    with bed("kill") as b:
        assert b.hub is not None
        hub = b.hub
        period = max(1.0, s.events / s.rate / (s.kills + 1))
        rng = random.Random(s.seed)
        kills = 0
        next_kill = period

        def tick(elapsed: float) -> None:
            nonlocal kills, next_kill
            if kills < s.kills and elapsed >= next_kill:
                channel = "sms" if kills % 2 == 0 else rng.choice(CHANNELS)
                victim = hub.by_name(f"worker-{channel}")
                os.kill(victim.pid, signal.SIGKILL)
                victim.popen.wait(10)
                hub.procs.remove(victim)
                hub.spawn(channel)
                kills += 1
                next_kill += period

        b.publish_paced(_good(b, s.events), s.rate, on_tick=tick)
        while kills < s.kills:  # publishing was quicker than planned: kill anyway
            tick(next_kill)
            time.sleep(0.5)
        b.settle()
        report = b.report(started)
    report.notes.append(f"{kills} workers SIGKILLed and restarted")
    return report


def fault_connections(s: Settings) -> FaultReport:
    """``rabbitmqctl close_all_connections --vhost``, three times while events flow."""
    started = time.monotonic()
    with bed("connections") as b:
        closes = 0
        period = max(1.0, s.events / s.rate / 4)

        def tick(elapsed: float) -> None:
            nonlocal closes
            if closes < 3 and elapsed >= period * (closes + 1):
                rabbitmqctl("close_all_connections", "--vhost", b.vhost.name,
                            "fault suite: closing every connection")
                closes += 1

        b.publish_paced(_good(b, s.events), s.rate, on_tick=tick)
        while closes < 3:
            tick(period * (closes + 1))
        b.settle()
        report = b.report(started)
    report.notes.append(f"all connections of the vhost closed {closes} times")
    return report


def fault_broker(s: Settings) -> FaultReport:
    """``rabbitmqctl stop_app`` for a few seconds, then ``start_app``, mid-stream."""
    started = time.monotonic()
    with bed("broker") as b:
        items = _good(b, s.events)
        half = len(items) // 2
        b.publish_paced(items[:half], s.rate)
        down = threading.Event()

        def restart() -> None:
            try:
                rabbitmqctl("stop_app")
                down.set()
                time.sleep(3)
            finally:
                restart_broker()

        thread = threading.Thread(target=restart, daemon=True)
        thread.start()
        down.wait(60)
        b.publish_paced(items[half:], s.rate)  # retries until the broker is back
        thread.join(120)
        b.wait_consumers(timeout=90)
        b.settle()
        report = b.report(started)
    report.notes.append("broker stopped (stop_app) for 3 s and started again")
    return report


def restart_broker() -> None:
    """``start_app`` and wait until the broker answers (always leaves it running)."""
    for _ in range(3):
        try:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup")
            return
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            time.sleep(2)
    raise RuntimeError("RabbitMQ did not come back after start_app")


def fault_provider(s: Settings) -> FaultReport:
    """The provider raises TransientError for ``outage`` seconds while events flow."""
    started = time.monotonic()
    with bed("provider") as b:
        items = _good(b, s.events)
        third = len(items) // 3
        b.publish_paced(items[:third], s.rate)
        b.flag.touch()
        down_at = time.monotonic()
        b.publish_paced(items[third:], max(1.0, (len(items) - third) / max(1.0, s.outage)))
        remaining = s.outage - (time.monotonic() - down_at)
        if remaining > 0:
            time.sleep(remaining)
        b.flag.unlink()
        b.settle(timeout=180 + s.outage)
        report = b.report(started)
    report.notes.append(f"provider down {s.outage:.0f} s (TransientError on every send)")
    return report


def fault_poison(s: Settings) -> FaultReport:
    """Poison mixed in: bad JSON, invalid UTF-8, wrong schema, unknown type, 5 MB, and
    events whose e-mail template fails."""
    started = time.monotonic()
    with bed("poison") as b:
        good = _good(b, s.events)
        n_poison = max(8, s.events // 50)
        poison = poison_bodies(b.run_id, n_poison)
        breakers = [template_breaker(b.run_id, s.events + i) for i in range(max(2, n_poison // 4))]
        huge = [huge_event(b.run_id, s.events + 1000 + i) for i in range(2)]
        mixed: list[dict[str, Any] | bytes] = []
        step = max(1, len(good) // (len(poison) + len(breakers) + len(huge)))
        extras: list[dict[str, Any] | bytes] = [p for p, _ in poison]
        extras += breakers
        extras += huge
        random.Random(s.seed).shuffle(extras)
        for i, event in enumerate(good):
            mixed.append(event)
            if i % step == 0 and extras:
                mixed.append(extras.pop())
        mixed.extend(extras)
        b.publish_paced(mixed, s.rate)
        b.settle()
        report = b.report(started)
        report.parked_expected = len(breakers)
        report.rejected_expected = Counter(code for _, code in poison)
        report.rejected_expected["too_large"] += len(huge)
        # the breakers' SMS is expected and delivered; their e-mail is parked
        report.notes.append(f"{n_poison} poison + {len(huge)} x 5 MB + {len(breakers)} "
                            "template breakers mixed in")
    return report


def fault_duplicates(s: Settings) -> FaultReport:
    """Every event published twice, a tenth three times, some copies with a changed
    body (same id): one notice each all the same."""
    started = time.monotonic()
    with bed("duplicates") as b:
        good = _good(b, s.events)
        stream: list[dict[str, Any] | bytes] = []
        for i, event in enumerate(good):
            stream.append(event)
            if i >= 10:
                stream.append(good[i - 10])  # the copy arrives later, interleaved
            if i % 10 == 0:
                changed = json.loads(json.dumps(event))
                changed["data"]["case"]["title"] = "제목이 바뀐 사본"
                stream.append(changed)
        stream.extend(good[-10:])
        b.publish_paced(stream, s.rate * 2)
        b.settle()
        report = b.report(started)
    report.notes.append("each event published 2-3 times")
    return report


def _templates_with_runaway_override(workdir: Path) -> Path:
    folder = workdir / "templates"
    shutil.copytree(Path(__file__).resolve().parents[2] / "templates", folder)
    override = folder / "orgs" / "gumi" / "case.received" / "sms.j2"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text(RUNAWAY_SMS, "utf-8")
    return folder


def fault_runaway(s: Settings) -> FaultReport:
    """An org's SMS template loops without end for some cases (1 in 100): each such
    render stops itself within its budget and the notice is parked with
    ``template_budget``; the channel's other notices keep flowing."""
    started = time.monotonic()
    with bed("runaway", templates=_templates_with_runaway_override) as b:
        good = _good(b, s.events)
        n_runaway = max(4, s.events // 100)
        runaway = [runaway_event(b.run_id, s.events + 3 * i + 1) for i in range(n_runaway)]
        mixed: list[dict[str, Any] | bytes] = []
        step = max(1, len(good) // n_runaway)
        for i, event in enumerate(good):
            mixed.append(event)
            if i % step == 0 and runaway:
                mixed.append(runaway.pop())
        mixed.extend(runaway)
        b.publish_paced(mixed, s.rate)
        b.settle()
        report = b.report(started)
        report.parked_expected = n_runaway
    report.notes.append(f"{n_runaway} notices sent into an endless template loop")
    return report


def fault_ledger(s: Settings) -> FaultReport:
    """The ledger's database (a private PostgreSQL) stops for ``outage`` seconds while
    events flow, then comes back: notices wait and retry, none lost or sent twice."""
    started = time.monotonic()
    pg = PrivatePostgres()
    try:
        pg.start()
        with bed("ledger", ledger_url=pg.url()) as b:
            items = _good(b, s.events)
            third = len(items) // 3
            b.publish_paced(items[:third], s.rate)
            pg.stop()
            down_at = time.monotonic()
            b.publish_paced(items[third:], max(1.0, (len(items) - third) / max(1.0, s.outage)))
            remaining = s.outage - (time.monotonic() - down_at)
            if remaining > 0:
                time.sleep(remaining)
            pg.start()
            b.settle(timeout=180 + s.outage)
            waiting = _still_queued(b)
            report = b.report(started)
            if report.lost:  # tell stuck from lost: where the missing notices still are
                report.notes.append("not settled when the run ended: "
                                    f"{waiting or 'nothing queued'}")
    finally:
        pg.close()
    report.notes.append(f"ledger database (private PostgreSQL on port {pg.port}) stopped "
                        f"{s.outage:.0f} s")
    return report


def _still_queued(b: Bed) -> str:
    """Messages still on the channel and retry queues (ready + unacked), by queue."""
    counts = []
    for queue in [*(f"hub.notify.{c}" for c in CHANNELS), *(f"hub.retry.{t}" for t in TIERS)]:
        with contextlib.suppress(Exception):
            ready = b.depth(queue)[0]
            if ready:
                counts.append(f"{queue} {ready} ready")
    return ", ".join(counts)


RUNNERS: dict[str, Callable[[Settings], FaultReport]] = {
    "kill": fault_kill,
    "connections": fault_connections,
    "broker": fault_broker,
    "provider": fault_provider,
    "poison": fault_poison,
    "duplicates": fault_duplicates,
    "runaway": fault_runaway,
    "ledger": fault_ledger,
}


def run(fault: str, settings: Settings) -> FaultReport:
    global _settings
    _settings = settings
    return RUNNERS[fault](settings)


__all__ = ["AMQP_ROOT", "FAULTS", "FaultReport", "Settings", "broker_restart_allowed", "run"]
