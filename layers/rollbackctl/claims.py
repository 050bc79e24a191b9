"""Exactly one action per deployment.

EventBridge delivers at least once (and retries for up to 24 hours); alarms re-fire; several alarms can
guard one deployment. Every execution claims two keys, and only the first claimant of both acts:

- the trigger: the alarm and the timestamp of its transition (or the deployment / execution id of a
  deployment event) -- a redelivery, with the same or a new event id, is the same trigger;
- the deployment: the target and the version that arrived on it.

Claims are Powertools idempotency records (DynamoDB, conditional writes). The claimant is the workflow
execution, so a Step Functions retry of the same execution still owns its claims. A per-target lock with
a lease keeps two different deployments of one target from being acted on at once; a worker that dies
leaves a lease that simply expires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from .aws import AWS_ERRORS, error_code
from .model import iso, utcnow

CLAIM_TTL_SECONDS = 24 * 60 * 60  # EventBridge retries a delivery for up to 24 hours
LOCK_LEASE_SECONDS = 15 * 60
IN_PROGRESS_RETRIES = 3


@dataclass
class Holder:
    owner: str
    incident_id: str


class Claims:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table
        persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
        config = IdempotencyConfig(
            event_key_jmespath="key", raise_on_no_idempotency_key=True, expires_after_seconds=CLAIM_TTL_SECONDS
        )
        self.config = config

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="claim", persistence_store=persistence, config=config, key_prefix="rollbackctl-claim"
        )
        def _claim(claim: dict[str, str]) -> dict[str, str]:
            return {"owner": claim["owner"], "incident_id": claim["incident_id"]}

        self._claim = _claim

    def register_lambda_context(self, context: Any) -> None:
        """So an in-progress claim expires with the invocation (Powertools' guard for crashed workers)."""
        self.config.register_lambda_context(context)

    def claim(self, key: str, owner: str, incident_id: str) -> Holder | None:
        """None when ``owner`` holds the key (now or from an earlier try); else who does."""
        for attempt in range(IN_PROGRESS_RETRIES + 1):
            try:
                first = self._claim(claim={"key": key, "owner": owner, "incident_id": incident_id})
                break
            except IdempotencyAlreadyInProgressError:
                # The other claimant is between its two writes (milliseconds): ask again to learn its incident.
                if attempt == IN_PROGRESS_RETRIES:
                    return Holder("another execution", "(being claimed right now)")
                time.sleep(0.05 * (attempt + 1))
        return None if first["owner"] == owner else Holder(first["owner"], first["incident_id"])

    def lock_holder(self, target: str, owner: str, now: datetime | None = None) -> Holder | None:
        """Who else holds the target's lock right now (an incident in progress on it), if anyone."""
        now = now or utcnow()
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"id": {"S": f"lock#{target}"}}, ConsistentRead=True
        ).get("Item")
        if not item or item.get("owner", {}).get("S") == owner or item.get("lease_until", {}).get("S", "") < iso(now):
            return None
        return Holder(item.get("owner", {}).get("S", "?"), item.get("incident_id", {}).get("S", "?"))

    def lock(self, target: str, owner: str, incident_id: str, now: datetime | None = None) -> Holder | None:
        """Take the target's lock (or renew our own). None on success; else who holds it."""
        now = now or utcnow()
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "id": {"S": f"lock#{target}"},
                    "owner": {"S": owner},
                    "incident_id": {"S": incident_id},
                    "lease_until": {"S": iso(now + timedelta(seconds=LOCK_LEASE_SECONDS))},
                    "expiration": {"N": str(int((now + timedelta(seconds=CLAIM_TTL_SECONDS)).timestamp()))},
                },
                ConditionExpression="attribute_not_exists(id) OR lease_until < :now OR #o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": {"S": iso(now)}, ":me": {"S": owner}},
            )
        except AWS_ERRORS as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            item = self.dynamodb.get_item(
                TableName=self.table, Key={"id": {"S": f"lock#{target}"}}, ConsistentRead=True
            ).get("Item", {})
            return Holder(item.get("owner", {}).get("S", "?"), item.get("incident_id", {}).get("S", "?"))
        return None

    def take_rate_slot(self, cap: int, window_seconds: int, incident_id: str, now: datetime | None = None) -> bool:
        """One of ``cap`` automatic rollbacks allowed in the current fixed window; False when none is left."""
        now = now or utcnow()
        bucket = int(now.timestamp()) // window_seconds * window_seconds
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"id": {"S": f"rate#{bucket}"}},
                UpdateExpression="ADD #n :one SET expiration = :exp, last_incident = :inc",
                ConditionExpression="attribute_not_exists(#n) OR #n < :cap",
                ExpressionAttributeNames={"#n": "count"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(cap)},
                    ":exp": {"N": str(bucket + window_seconds + CLAIM_TTL_SECONDS)},
                    ":inc": {"S": incident_id},
                },
            )
        except AWS_ERRORS as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def unlock(self, target: str, owner: str) -> None:
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key={"id": {"S": f"lock#{target}"}},
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except AWS_ERRORS as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
