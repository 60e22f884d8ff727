"""Channels (sms, email, push, ...) and their providers.

Each channel is a module with a :class:`ChannelSpec`: which recipient field holds
its address, and which providers it has, named by short names mapped to
implementation classes (as kombu maps transport aliases).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from channels.base import Provider


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    address_field: str  # the recipient's field that holds this channel's address
    providers: Mapping[str, str]  # short name -> "module:Class"
    #: The organisation's setting (``[orgs.<id>]``) that holds this channel's sender
    #: (number or from-address), None when the channel has none.
    sender_field: str | None = None
    #: Fields that hold a better address for this channel, taken before
    #: ``address_field`` when a person has them (sms: a mobile number before a
    #: ``phone`` that may be an office landline).
    address_first: tuple[str, ...] = ()


def _spec(name: str) -> ChannelSpec:
    module = importlib.import_module(f"channels.{name}")
    spec: ChannelSpec = module.SPEC
    return spec


CHANNEL_NAMES: tuple[str, ...] = ("sms", "email", "push")


def get_channel(name: str) -> ChannelSpec:
    if name not in CHANNEL_NAMES:
        raise KeyError(f"unknown channel {name!r}; known: {', '.join(CHANNEL_NAMES)}")
    return _spec(name)


def load_provider(channel: str, short_name: str, settings: Mapping[str, Any]) -> Provider:
    """Instantiate the provider ``short_name`` of ``channel`` with its settings."""
    spec = get_channel(channel)
    try:
        target = spec.providers[short_name]
    except KeyError:
        known = ", ".join(sorted(spec.providers))
        raise KeyError(
            f"channel {channel!r} has no provider {short_name!r}; known: {known}"
        ) from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    provider: Provider = cls(settings, channel=channel)
    return provider
