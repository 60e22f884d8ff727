"""The domain catalogue: every fact of the domain read from its one source.

* **Event types** and what each carries in ``data``: the event JSON Schema
  (``hub/schemas/event.schema.json``, read through :mod:`minwon_client.schema`, the
  light client that ships it): the ``type`` enum, and one ``if``/``then`` branch per
  type that requires more than the common fields.
* **Recipient roles**, where each is found in an event and who is told of each event
  type: the rules (``hub/rules.toml``, or the file ``router.rules`` names).
* **Channels** and their address fields: the channel specs (``channels/<name>``).

Everything else (the router's checks, the template checker and preview, the
template context) derives from these. Adding an event type means a schema entry, its
rules, its templates and their samples; no code. See docs/domain.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from channels import CHANNEL_NAMES, get_channel
from minwon_client import schema as contract

if TYPE_CHECKING:
    from hub.rules import Rules

__all__ = [
    "CHANNEL_NAMES",
    "EVENT_TYPES",
    "address_field",
    "address_fields",
    "address_of",
    "event_schema",
    "payload_fields",
    "people",
    "recipient_roles",
    "schema_text",
]


#: Every event type the hub accepts, in the schema's order.
EVENT_TYPES: tuple[str, ...] = contract.EVENT_TYPES


def schema_text() -> str:
    """The event schema as published (the file upstream systems validate against)."""
    return contract.schema_text("event")


def event_schema() -> dict[str, Any]:
    """The event JSON Schema, as a fresh dict (callers may change it)."""
    return contract.event_schema()


type_branches = contract.type_branches


@cache
def payload_fields(event_type: str) -> tuple[str, ...]:
    """The keys ``data`` must hold for ``event_type``: the common ones, then the type's."""
    schema = event_schema()
    required: list[str] = list(schema["properties"]["data"].get("required", ()))
    for branch in type_branches(schema, event_type):
        for key in branch.get("properties", {}).get("data", {}).get("required", ()):
            if key not in required:
                required.append(key)
    return tuple(required)


def address_field(channel: str) -> str:
    """The recipient field that holds ``channel``'s address (its spec's ``address_field``)."""
    return get_channel(channel).address_field


def address_of(person: Mapping[str, Any], channel: str, field: str) -> str:
    """The address of ``person`` on ``channel``: the first of the channel's
    ``address_first`` fields the person has (sms: ``mobile``), else ``field``."""
    try:
        first = get_channel(channel).address_first
    except KeyError:
        first = ()
    for name in (*first, field):
        if person.get(name):
            return str(person[name])
    return ""


def address_fields(channels: tuple[str, ...] | None = None) -> dict[str, str]:
    """Channel name → address field, for ``channels`` (default: every known channel)."""
    return {name: address_field(name) for name in (channels or CHANNEL_NAMES)}


def _rules(rules: Rules | None) -> Rules:
    if rules is not None:
        return rules
    from hub.rules import load_rules  # the rules module checks event types against us

    return load_rules()


def recipient_roles(rules: Rules | None = None) -> dict[str, tuple[str, ...]]:
    """Event type → the roles told of it, in rule order (from the rules)."""
    loaded = _rules(rules)
    roles: dict[str, tuple[str, ...]] = {}
    for event_type in EVENT_TYPES:
        seen: list[str] = []
        for rule in loaded.for_event(event_type):
            if rule.recipient not in seen:
                seen.append(rule.recipient)
        roles[event_type] = tuple(seen)
    return roles


def people(
    data: Mapping[str, Any], role: str, path: str
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The people of ``role`` found at the dotted ``path`` of ``data``, as (key, fields).

    A mapping is one person (key = the role); a list gives one per element
    (key = ``role:index``), so each gets its own notification id."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return
        node = node[part]
    if isinstance(node, Mapping):
        yield role, node
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, Mapping):
                yield f"{role}:{i}", item


def people_in_event(
    event: Mapping[str, Any], rules: Rules | None = None
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every person an event names, as (role, fields), for every role of the rules."""
    data: Mapping[str, Any] = event.get("data") or {}
    for role, path in _rules(rules).recipients.items():
        for _key, person in people(data, role, path):
            yield role, person
