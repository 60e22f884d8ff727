"""Publish case events to minwon-hub from Python with the light client (minwon-client).

    pip install minwon-client          # pika + fastjsonschema; [asyncio] adds aio-pika
    MINWON_BROKER_URL=amqp://user:pass@rabbit:5672/%2F python publish.py [ID_PREFIX]
"""

import os
import sys
import uuid

from minwon_client import CaseEvent, InvalidEvent, PublishError, open_producer

url = os.environ.get("MINWON_BROKER_URL", "amqp://guest:guest@localhost:5672/%2F")
prefix = sys.argv[1] if len(sys.argv) > 1 else f"py-{uuid.uuid4()}"

case = {"id": "2026-0001234", "title": "도로 파손 신고", "department": "도로철도과",
        "officer": {"name": "김담당", "phone": "054-480-0000"}}
citizen = {"name": "홍길동", "phone": "010-0000-0000", "channels": ["sms"]}

received = CaseEvent.received(org="gumi", case=case, citizen=citizen, id=f"{prefix}-received",
                              source="/gumi/yescall")
extended = CaseEvent.extended(org="gumi", case=case, citizen=citizen, id=f"{prefix}-extended",
                              source="/gumi/yescall",
                              extension={"reason": "현장 조사가 더 필요합니다.",
                                         "new_due_at": "2026-12-10T18:00:00+09:00"})
try:
    # validate=True: an event that breaks the contract raises InvalidEvent, unsent
    with open_producer(url, validate=True) as producer:
        producer.publish(received)  # returns once the broker confirmed it
        result = producer.publish_batch([extended])  # many confirms in flight at once
        if not result.ok:
            raise PublishError(f"not confirmed: {result.failed}")
except (InvalidEvent, PublishError) as exc:
    sys.exit(f"error: {exc}")
print(f"published {received.id} {extended.id}")
