"""Simulated recipients: reserved addresses every provider answers without the network.

Operators smoke-test a production hub with these, and tests exercise retries and the
parking lot with them. A reserved address is recognised by the channel's address alone:

================================  =====================  ==================================
outcome                           phone (sms, 알림톡)      e-mail (push token)
================================  =====================  ==================================
accepted                          ``010-0000-0000``      ``success@simulator.invalid``
                                                         (``sim:success``)
transient N times, then accepted  ``010-0000-100N``      ``transient-N@simulator.invalid``
                                  (N = 1..9)             (``sim:transient-N``)
always transient                  ``010-0000-3000``      ``transient@simulator.invalid``
                                                         (``sim:transient``)
permanent                         ``010-0000-2000``      ``permanent@simulator.invalid``
                                                         (``sim:permanent``)
================================  =====================  ==================================

``.invalid`` is reserved by RFC 2606 and ``010-0000-xxxx`` is never assigned, so no real
citizen can be reached by mistake. "N times" is counted per notification and process.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass

from channels.base import Message, PermanentError, Receipt, TransientError

SIM_DOMAIN = "simulator.invalid"


@dataclass(frozen=True, slots=True)
class Simulated:
    outcome: str  # "ok" | "transient" | "permanent"
    times: int = 0  # for "transient": how many calls fail before success (0 = always)


_PHONES = {
    "01000000000": Simulated("ok"),
    "01000003000": Simulated("transient"),
    "01000002000": Simulated("permanent"),
}
_TRANSIENT_N = re.compile(r"^(?:0100000100([1-9]))$")
_WORD = re.compile(r"^(success|permanent|transient)(?:-([1-9]))?$")


def classify(address: str) -> Simulated | None:
    """The simulated outcome for ``address``, or None for a real recipient."""
    digits = re.sub(r"\D", "", address)
    if address.startswith("010-0000-") or digits.startswith("010000"):
        if digits in _PHONES:
            return _PHONES[digits]
        m = _TRANSIENT_N.match(digits)
        if m:
            return Simulated("transient", int(m.group(1)))
        return None
    local = None
    if address.lower().endswith("@" + SIM_DOMAIN):
        local = address.rsplit("@", 1)[0].lower()
    elif address.startswith("sim:"):
        local = address[4:].lower()
    if local is None:
        return None
    m = _WORD.match(local)
    if not m:
        return None
    word, n = m.group(1), m.group(2)
    if word == "success":
        return Simulated("ok")
    if word == "permanent":
        return Simulated("permanent")
    return Simulated("transient", int(n) if n else 0)


class Simulator:
    """Answers reserved addresses; thread-safe. One per provider instance."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def answer(self, message: Message) -> Receipt | None:
        """A receipt for a simulated success, an error for a simulated failure,
        or None when ``message.to`` is a real recipient."""
        sim = classify(message.to)
        if sim is None:
            return None
        if sim.outcome == "permanent":
            raise PermanentError(
                "simulated permanent failure", provider=self.provider, code="SIM-PERMANENT"
            )
        if sim.outcome == "transient":
            with self._lock:
                self._calls[message.notification_id] += 1
                calls = self._calls[message.notification_id]
            if sim.times == 0 or calls <= sim.times:
                raise TransientError(
                    f"simulated transient failure ({calls})",
                    provider=self.provider,
                    code="SIM-TRANSIENT",
                )
        return Receipt(self.provider, f"sim-{message.notification_id}", {"simulated": True})
