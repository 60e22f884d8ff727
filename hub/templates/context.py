"""The template context: THE single function that builds it.

Both the channel worker (from a job) and the checker/preview (from a sample
CloudEvent) call :func:`context_from_event`, so a template sees the same
variables in production as in its samples:

* ``event``: the CloudEvents envelope without ``data`` (``id``, ``type``,
  ``source``, ``time``, ``subject``, ...);
* ``case``: ``data.case``;
* ``citizen``: ``data.citizen``, or None for notices to staff that carry none;
* ``recipient``: whoever this notice goes to: ``name``, ``role`` and the
  address for its channel (``phone``, ``email`` or ``push_token``);
* ``org``: the organisation's profile from configuration (``name``,
  ``callcenter``, ``url``, ``sms_sender``, ``email_from``, ``key``);
* every other top-level key of ``data`` (``transfer``, ``answer``, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: Keys the hub sets itself; a data key of the same name does not replace them.
RESERVED = ("event", "case", "citizen", "recipient", "org")

#: The channel's address field in a recipient (mirrors channels.<name>.SPEC).
ADDRESS_FIELDS: dict[str, str] = {"sms": "phone", "email": "email", "push": "push_token"}


def context_from_event(
    event: Mapping[str, Any],
    recipient: Mapping[str, Any],
    org_profile: Mapping[str, Any],
) -> dict[str, Any]:
    """The variables a template is rendered with.

    ``event`` is a CloudEvent (with ``data``), or its envelope with the data
    given under ``data`` all the same. ``recipient`` has at least ``name`` and
    ``role`` and the channel's address field. ``org_profile`` is the
    organisation's configured profile (``hub.config.Config.org(key)``).
    """
    data: Mapping[str, Any] = event.get("data") or {}
    context: dict[str, Any] = {key: value for key, value in data.items() if key not in RESERVED}
    context["event"] = {key: value for key, value in event.items() if key != "data"}
    context["case"] = data.get("case")
    context["citizen"] = data.get("citizen")
    context["recipient"] = dict(recipient)
    context["org"] = dict(org_profile)
    return context


#: Who is told of each event type (DOMAIN.md); the checker renders each
#: template once per sample for each of these recipients.
RECIPIENT_ROLES: dict[str, tuple[str, ...]] = {
    "case.received": ("citizen",),
    "case.transferred": ("citizen",),
    "case.assigned": ("citizen", "officer"),
    "case.supplement_requested": ("citizen",),
    "case.extended": ("citizen",),
    "case.progress": ("citizen",),
    "case.answered": ("citizen",),
    "survey.requested": ("citizen",),
    "case.due_soon": ("officer",),
    "case.praised": ("employee",),
    "case.flagged": ("supervisors",),
}


def people_in_event(event: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every person an event names, as (role, fields): the citizen, the case's
    officer, the praised employee, the supervisors of a flag."""
    data: Mapping[str, Any] = event.get("data") or {}
    citizen = data.get("citizen")
    if isinstance(citizen, Mapping):
        yield "citizen", citizen
    case = data.get("case")
    if isinstance(case, Mapping) and isinstance(case.get("officer"), Mapping):
        yield "officer", case["officer"]
    praise = data.get("praise")
    if isinstance(praise, Mapping) and isinstance(praise.get("employee"), Mapping):
        yield "employee", praise["employee"]
    flag = data.get("flag")
    if isinstance(flag, Mapping):
        for supervisor in flag.get("supervisors") or ():
            if isinstance(supervisor, Mapping):
                yield "supervisors", supervisor


def sample_recipients(event: Mapping[str, Any], channel: str) -> list[dict[str, Any]]:
    """The recipients a sample event's notices go to on ``channel`` (one per
    role, the first person of it), as the recipient mappings the worker builds."""
    roles = RECIPIENT_ROLES.get(str(event.get("type", "")))
    address_field = ADDRESS_FIELDS.get(channel, "address")
    found: dict[str, dict[str, Any]] = {}
    for role, person in people_in_event(event):
        if role in found or (roles is not None and role not in roles):
            continue
        recipient = {key: value for key, value in person.items() if key != "channels"}
        recipient["role"] = role
        recipient.setdefault("name", None)
        if address_field in person:
            recipient["address"] = person[address_field]
        found[role] = recipient
    return list(found.values())
