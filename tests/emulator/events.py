"""What the emulator puts on the default bus, caught the way a user would: an EventBridge rule to an SQS queue."""

from __future__ import annotations

import json
import time
from typing import Any

ECS_DEPLOYMENT = {"source": ["aws.ecs"], "detail-type": ["ECS Deployment State Change"]}


def catch(aws: Any, name: str, pattern: dict[str, Any]) -> str:
    """A queue that receives every event on the default bus matching ``pattern``; returns its URL."""
    sqs, events = aws.client("sqs"), aws.client("events")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": name, "Arn": arn}])
    return url


def received(aws: Any, url: str, count: int, timeout: float) -> list[dict[str, Any]]:
    """The events that reach the queue within ``timeout`` seconds (stops early once ``count`` arrived)."""
    sqs, found = aws.client("sqs"), []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        time.sleep(0.05)
    return found
