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
  ``callcenter``, ``internal_unit``, ``internal_phone``, ``url``, ``sms_sender``,
  ``email_from``, ``key``) as :class:`OrgFacts`: a template that uses one of
  :data:`NEEDED_ORG_FACTS` the profile lacks raises :class:`MissingFact`, so
  the notice is parked with ``missing_fact`` instead of going out with a hole;
* every other top-level key of ``data`` (``transfer``, ``answer``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hub.catalogue import CHANNEL_NAMES, address_field, people_in_event, recipient_roles
from hub.templates.errors import MissingFact

if TYPE_CHECKING:
    from hub.rules import Rules

#: Keys the hub sets itself; a data key of the same name does not replace them.
RESERVED = ("event", "case", "citizen", "recipient", "org")

#: Facts of an organisation's profile (``[orgs.<key>]``) a notice may need, and
#: what each is. A template that uses one the profile lacks fails with
#: MissingFact; nothing stands in for it.
NEEDED_ORG_FACTS: dict[str, str] = {
    "name": "the organisation's name (citizens see it)",
    "callcenter": "the public call centre's number (민원콜센터)",
    "internal_unit": "the unit staff ask about complaints (e.g. 민원여권과)",
    "internal_phone": "the internal contact's number, for notices to staff",
}


class OrgFacts(dict[str, Any]):
    """An organisation's profile as templates see it: reading a needed fact the
    profile does not give (absent or empty) raises :class:`MissingFact`."""

    def __getitem__(self, key: str) -> Any:
        if key in NEEDED_ORG_FACTS and dict.get(self, key) in (None, ""):
            org = dict.get(self, "key") or "?"
            raise MissingFact(
                f"the notice needs org.{key}, {NEEDED_ORG_FACTS[key]}, and the profile of "
                f"organisation '{org}' has none: set [orgs.{org}] {key}"
            )
        return dict.__getitem__(self, key)


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
    context["org"] = OrgFacts(org_profile)
    return context


def sample_recipients(
    event: Mapping[str, Any], channel: str, rules: Rules | None = None
) -> list[dict[str, Any]]:
    """The recipients a sample event's notices go to on ``channel`` (one per
    role the rules tell of its type, the first person of it), as the recipient
    mappings the worker builds. Roles, their paths and address fields come from
    the domain catalogue (:mod:`hub.catalogue`)."""
    roles = recipient_roles(rules).get(str(event.get("type", "")))
    field = address_field(channel) if channel in CHANNEL_NAMES else "address"
    found: dict[str, dict[str, Any]] = {}
    for role, person in people_in_event(event, rules):
        if role in found or (roles is not None and role not in roles):
            continue
        recipient = {key: value for key, value in person.items() if key != "channels"}
        recipient["role"] = role
        recipient.setdefault("name", None)
        if field in person:
            recipient["address"] = person[field]
        found[role] = recipient
    return list(found.values())
