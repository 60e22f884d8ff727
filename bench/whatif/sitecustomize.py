"""What-if patches for ``python -m bench.experiments`` (never used in production).

Loaded by Python at start-up in the hub processes of an experiment (this folder is put
first on their ``PYTHONPATH``); ``BENCH_WHATIF`` names the patches, comma-separated:

``noblockeddrain``  py-amqp calls ``drain_events(timeout=0)`` before *every* publish when
                    the broker supports ``connection.blocked``; turn that capability off.
``nostatus``        the channel worker publishes no status events.
``classic``         classic durable queues instead of quorum queues.
``switch``          ``sys.setswitchinterval(0.0005)`` (GIL hand-over every 0.5 ms, not 5 ms).
"""

from __future__ import annotations

import os
from typing import Any

_WHATIF = {p.strip() for p in os.environ.get("BENCH_WHATIF", "").split(",") if p.strip()}

if "noblockeddrain" in _WHATIF:
    import amqp.connection

    amqp.connection.Connection.negotiate_capabilities = {
        **amqp.connection.NEGOTIATE_CAPABILITIES, "connection.blocked": False}

if "nostatus" in _WHATIF:
    import hub.outcomes
    from hub.topology import STATUS_EXCHANGE

    _publishes = hub.outcomes.Recorder.publishes

    def _without_status(self: Any, outcome: Any, job: Any, headers: Any) -> Any:
        return [p for p in _publishes(self, outcome, job, headers)
                if p.exchange != STATUS_EXCHANGE]

    setattr(hub.outcomes.Recorder, "publishes", _without_status)  # noqa: B010

if "classic" in _WHATIF:
    import dataclasses

    import hub.transport

    hub.transport.PROFILES["amqp"] = dataclasses.replace(hub.transport.PROFILES["amqp"],
                                                          quorum=False)

if "switch" in _WHATIF:
    import sys

    sys.setswitchinterval(0.0005)
