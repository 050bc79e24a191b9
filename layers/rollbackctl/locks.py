"""The target's lock and the rate cap: plain conditional writes in the claims table.

A per-target lock with a lease keeps two different deployments of one target from being acted on at once; a
worker that dies leaves a lease that simply expires. The rate cap counts rollbacks per fixed window. Neither
needs Powertools' idempotency utility, so the steps that only release locks (record, verify) and restore do not
import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .aws import AWS_ERRORS, error_code
from .model import iso, utcnow

CLAIM_TTL_SECONDS = 24 * 60 * 60  # EventBridge retries a delivery for up to 24 hours
LOCK_LEASE_SECONDS = 15 * 60


@dataclass
class Holder:
    owner: str
    incident_id: str


def lock_key(target: str) -> dict[str, dict[str, str]]:
    return {"id": {"S": f"lock#{target}"}}


class Locks:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def lock_holder(self, target: str, owner: str, now: datetime | None = None) -> Holder | None:
        """Who else holds the target's lock right now (an incident in progress on it), if anyone."""
        now = now or utcnow()
        item = self.dynamodb.get_item(TableName=self.table, Key=lock_key(target), ConsistentRead=True).get("Item")
        if not item or item.get("owner", {}).get("S") == owner or item.get("lease_until", {}).get("S", "") < iso(now):
            return None
        return Holder(item.get("owner", {}).get("S", "?"), item.get("incident_id", {}).get("S", "?"))

    def lock(
        self,
        target: str,
        owner: str,
        incident_id: str,
        now: datetime | None = None,
        seal: dict[str, Any] | None = None,
    ) -> Holder | None:
        """Take the target's lock (or renew our own). None on success; else who holds it.

        ``seal`` (custody.seal_item) is written in the same transaction: a decision to act is sealed exactly
        when its lock is taken, and never without it."""
        now = now or utcnow()
        lock = {
            "TableName": self.table,
            "Item": {
                **lock_key(target),
                "owner": {"S": owner},
                "incident_id": {"S": incident_id},
                "lease_until": {"S": iso(now + timedelta(seconds=LOCK_LEASE_SECONDS))},
                "expiration": {"N": str(int((now + timedelta(seconds=CLAIM_TTL_SECONDS)).timestamp()))},
            },
            "ConditionExpression": "attribute_not_exists(id) OR lease_until < :now OR #o = :me",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":now": {"S": iso(now)}, ":me": {"S": owner}},
        }
        try:
            if seal is None:
                self.dynamodb.put_item(**lock)
            else:
                self.dynamodb.transact_write_items(
                    TransactItems=[{"Put": lock}, {"Put": {"TableName": self.table, "Item": seal}}]
                )
        except AWS_ERRORS as exc:
            if error_code(exc) not in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise
            item = self.dynamodb.get_item(TableName=self.table, Key=lock_key(target), ConsistentRead=True).get(
                "Item", {}
            )
            return Holder(item.get("owner", {}).get("S", "?"), item.get("incident_id", {}).get("S", "?"))
        return None

    def take_rate_slot(
        self,
        cap: int,
        window_seconds: int,
        incident_id: str,
        now: datetime | None = None,
        account: str = "",
        global_cap: int | None = None,
    ) -> str:
        """One of ``cap`` automatic rollbacks allowed in ``account`` in the current fixed window and, in the same
        transaction, one of ``global_cap`` across every account. '' when the slots were taken; else which cap is
        full: ``account`` or ``global`` (nothing counted then)."""
        now = now or utcnow()
        bucket = int(now.timestamp()) // window_seconds * window_seconds
        caps = [(f"rate#{account}#{bucket}", cap, "account")]
        if global_cap is not None:
            caps.append((f"rate#{bucket}", global_cap, "global"))
        updates = [
            {
                "TableName": self.table,
                "Key": {"id": {"S": key}},
                "UpdateExpression": "ADD #n :one SET expiration = :exp, last_incident = :inc",
                "ConditionExpression": "attribute_not_exists(#n) OR #n < :cap",
                "ExpressionAttributeNames": {"#n": "count"},
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":cap": {"N": str(limit)},
                    ":exp": {"N": str(bucket + window_seconds + CLAIM_TTL_SECONDS)},
                    ":inc": {"S": incident_id},
                },
            }
            for key, limit, _ in caps
        ]
        try:
            self.dynamodb.transact_write_items(TransactItems=[{"Update": update} for update in updates])
        except AWS_ERRORS as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            for (_, _, which), reason in zip(caps, reasons, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    return which
            return caps[0][2]
        return ""

    def unlock(self, target: str, owner: str) -> None:
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key=lock_key(target),
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except AWS_ERRORS as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
