"""The routing rules: for each event type, who is told, by which channels, how.

Loaded once from a TOML file (``hub/rules.toml`` unless ``router.rules`` names
another) and checked at load time, so a broken rules file stops the router at start,
never in the middle of traffic.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hub.catalogue import CHANNEL_NAMES, EVENT_TYPES, address_of, people
from hub.events import CaseEvent
from hub.jobs import Job, Recipient, notification_id
from hub.topology import parse_duration


class RulesError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    event: str
    recipient: str
    channels: tuple[str, ...]
    template: str
    critical: bool = False
    quiet_hours: bool = True
    required: bool = False
    delay: float = 0.0


@dataclass(frozen=True)
class Rules:
    recipients: Mapping[str, str]
    by_event: Mapping[str, tuple[Rule, ...]]

    def for_event(self, event_type: str) -> tuple[Rule, ...]:
        return self.by_event.get(event_type, ())

    def jobs(
        self, event: CaseEvent, address_fields: Mapping[str, str]
    ) -> Iterator[tuple[Job, Rule]]:
        """Every notification job the event calls for, one per (recipient, channel).

        ``address_fields`` maps each channel the hub runs to its recipient field.
        """
        envelope = event.envelope()
        case_id = event.case_id
        for rule in self.for_event(event.type):
            for key, person in people(event.data, rule.recipient, self.recipients[rule.recipient]):
                allowed = rule.channels
                listed = person.get("channels")
                if rule.recipient == "citizen" and isinstance(listed, list) and listed:
                    allowed = tuple(c for c in rule.channels if c in listed)
                for channel in allowed:
                    field = address_fields.get(channel)
                    if field is None:  # a channel this hub does not run
                        continue
                    address = address_of(person, channel, field)
                    fields = {k: v for k, v in person.items() if k != "channels"}
                    recipient = Recipient(
                        role=rule.recipient,
                        key=key,
                        name=person.get("name"),
                        address=address,
                        fields=fields,
                    )
                    job = Job(
                        notification_id=notification_id(event.id, key, channel),
                        event_id=event.id,
                        event_type=event.type,
                        case_id=case_id,
                        org=event.org,
                        channel=channel,
                        template=rule.template,
                        critical=rule.critical,
                        required=rule.required,
                        recipient=recipient,
                        event=envelope,
                        data=event.data,
                        rule=rule.name,
                        quiet_hours=rule.quiet_hours,
                    )
                    yield job, rule


def parse_rules(raw: Mapping[str, Any], *, source: str = "rules") -> Rules:
    recipients = dict(raw.get("recipients", {}))
    if not recipients:
        raise RulesError(f"{source}: [recipients] is missing or empty")
    by_event: dict[str, list[Rule]] = defaultdict(list)
    for role, path in recipients.items():
        if not isinstance(path, str) or not path or any(not p for p in path.split(".")):
            raise RulesError(f"{source}: [recipients] {role} must be a dotted path into data, "
                             f"like \"case.officer\" (got {path!r})")
    for i, entry in enumerate(raw.get("rules", []), 1):
        where = f"{source}: rule {i}"
        event = entry.get("event")
        if event not in EVENT_TYPES:
            raise RulesError(f"{where}: unknown event type {event!r} (the event schema lists "
                             f"{', '.join(EVENT_TYPES)})")
        recipient = entry.get("recipient")
        if recipient not in recipients:
            raise RulesError(f"{where}: recipient {recipient!r} is not in [recipients]")
        channels = entry.get("channels")
        if (
            not isinstance(channels, list)
            or not channels
            or not all(isinstance(c, str) for c in channels)
        ):
            raise RulesError(f"{where}: channels must be a non-empty list of channel names")
        unknown_channels = [c for c in channels if c not in CHANNEL_NAMES]
        if unknown_channels:
            raise RulesError(f"{where}: unknown channels {unknown_channels}; "
                             f"known: {', '.join(CHANNEL_NAMES)}")
        try:
            delay = parse_duration(entry.get("delay", 0))
        except ValueError as exc:
            raise RulesError(f"{where}: {exc}") from None
        unknown = set(entry) - {
            "event",
            "recipient",
            "channels",
            "template",
            "critical",
            "required",
            "quiet_hours",
            "delay",
            "name",
        }
        if unknown:
            raise RulesError(f"{where}: unknown keys {sorted(unknown)}")
        by_event[event].append(
            Rule(
                name=str(entry.get("name") or f"{event}:{recipient}"),
                event=event,
                recipient=recipient,
                channels=tuple(channels),
                template=str(entry.get("template") or event),
                critical=bool(entry.get("critical", False)),
                required=bool(entry.get("required", False)),
                quiet_hours=bool(entry.get("quiet_hours", True)),
                delay=delay,
            )
        )
    return Rules(recipients, {k: tuple(v) for k, v in by_event.items()})


def load_rules(path: str | Path | None = None) -> Rules:
    """The rules at ``path``, or the packaged defaults."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise RulesError(f"rules file {p} does not exist")
        return parse_rules(tomllib.loads(p.read_text("utf-8")), source=str(p))
    text = resources.files("hub").joinpath("rules.toml").read_text("utf-8")
    return parse_rules(tomllib.loads(text), source="hub/rules.toml")
