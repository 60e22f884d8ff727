"""The e-mail channel."""

from channels import ChannelSpec

SPEC = ChannelSpec(
    name="email",
    address_field="email",
    sender_field="email_from",
    providers={
        "outbox": "channels.outbox:OutboxProvider",
        "latency": "channels.latency:LatencyProvider",  # benchmarks, fault tests
        "ses": "channels.email.ses:SesEmail",
        "smtp": "channels.email.smtp:SmtpEmail",
    },
)
