"""The push channel (mobile app notifications)."""

from channels import ChannelSpec

SPEC = ChannelSpec(
    name="push",
    address_field="push_token",
    providers={
        "outbox": "channels.outbox:OutboxProvider",
        "latency": "channels.latency:LatencyProvider",  # benchmarks, fault tests
        "sns": "channels.push.sns:SnsPush",
    },
)
