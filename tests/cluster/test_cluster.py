"""The cluster fault suite under pytest: three RabbitMQ nodes, PostgreSQL, two workers per
channel; every fault of :mod:`tests.cluster.faults` while events flow. Nothing lost,
nothing sent twice, every node and replica back at the end.

It starts its own RabbitMQ nodes and PostgreSQL (minutes of set-up), so it runs only
with ``MINWON_CLUSTER_TEST=1``: ``make cluster-test`` (size: ``MINWON_CLUSTER_EVENTS``,
default 1,000 good events per fault; ``python -m tests.cluster`` runs 20,000).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster.faults import FAULTS, FaultReport, Settings, Suite

pytestmark = [
    pytest.mark.integration,
    pytest.mark.cluster,
    pytest.mark.timeout(1200),
    pytest.mark.skipif(os.environ.get("MINWON_CLUSTER_TEST") != "1",
                       reason="starts three RabbitMQ nodes: make cluster-test"),
]

SETTINGS = Settings(
    events=int(os.environ.get("MINWON_CLUSTER_EVENTS", "1000")),
    rate=float(os.environ.get("MINWON_CLUSTER_RATE", "200")),
    down=float(os.environ.get("MINWON_CLUSTER_DOWN", "10")),
    partition=float(os.environ.get("MINWON_CLUSTER_PARTITION", "30")),
)


@pytest.fixture(scope="module")
def suite() -> Iterator[Suite]:
    with Suite(SETTINGS) as s:
        yield s


def test_quorum_queues_are_replicated_on_every_node(suite: Suite) -> None:
    # Given the cluster with the hub's definitions imported
    nodes = sorted(n.erlang_name for n in suite.cluster.nodes)
    assert suite.cluster.running_nodes() == nodes
    # Then every hub queue has a member on each of the three nodes
    members = suite.cluster.queue_members()
    assert set(members) >= {"hub.router", "hub.notify.sms", "hub.dead", "hub.rejected"}
    assert all(m == nodes for m in members.values()), members


@pytest.mark.parametrize("fault", FAULTS)
def test_nothing_lost_or_sent_twice_when(fault: str, suite: Suite) -> None:
    if fault == "partition" and suite.cluster.layout != "netns":
        pytest.skip("a network partition needs the nodes in network namespaces (root)")
    # Given events flowing through the cluster / When the fault strikes
    report = suite.run(fault)
    print(f"\n{FaultReport.header()}  recovery\n{report.line()}  {report.recovery}")
    for note in report.notes:
        print(f"  note: {note}")
    # Then every notice went out exactly once, and the cluster is whole again
    assert report.events >= SETTINGS.events
    assert report.lost == 0, f"{report.lost} notices lost"
    assert report.sent_twice == 0, f"{report.sent_twice} notices sent twice"
    assert report.delivered == report.expected
    suite.cluster.await_running(timeout=120)
