"""The SMS channel (SMS / LMS by CP949 byte length)."""

from channels import ChannelSpec

SPEC = ChannelSpec(
    name="sms",
    address_field="phone",
    address_first=("mobile",),  # officers give an office phone and a mobile
    sender_field="sms_sender",
    providers={
        "outbox": "channels.outbox:OutboxProvider",
        "latency": "channels.latency:LatencyProvider",  # benchmarks, fault tests
        "nhn": "channels.sms.nhn:NhnCloudSms",
        "sens": "channels.sms.sens:NaverSens",
        "sns": "channels.sms.sns:SnsSms",
        "alimtalk": "channels.sms.alimtalk:NhnAlimtalk",
    },
)
