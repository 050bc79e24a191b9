"""The target's lock and the rate cap: conditional writes in the claims table, made in triage's one transaction.

A per-target lock with a lease keeps two different deployments of one target from being acted on at once; a
worker that dies leaves a lease that simply expires. The rate cap counts rollbacks per fixed window. Triage writes
them together with its claims and its sealed decision (``write_together``): all of it, or none.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .aws import AWS_ERRORS, error_code
from .model import iso, utcnow

CLAIM_TTL_SECONDS = 24 * 60 * 60  # EventBridge retries a delivery for up to 24 hours
LOCK_LEASE_SECONDS = 15 * 60
CONFLICT_RETRIES = 3  # a transaction cancelled by a concurrent one on the same items is tried again this often


@dataclass
class Holder:
    owner: str
    incident_id: str


def lock_key(target: str) -> dict[str, dict[str, str]]:
    return {"id": {"S": f"lock#{target}"}}


def holder_of(item: dict[str, Any] | None, owner: str, now: datetime) -> Holder | None:
    """Who holds a lock item, unless it is ``owner`` or the lease ran out (then nobody)."""
    if not item or item.get("owner", {}).get("S") == owner or item.get("lease_until", {}).get("S", "") < iso(now):
        return None
    return Holder(item.get("owner", {}).get("S", "?"), item.get("incident_id", {}).get("S", "?"))


def window_start(window_seconds: int, now: datetime) -> int:
    """The rate cap's current fixed window, as the Unix time it began."""
    return int(now.timestamp()) // window_seconds * window_seconds


def rate_keys(window_seconds: int, account: str, now: datetime) -> tuple[str, str]:
    """The claims-table ids counting the current window's rollbacks: in ``account``, and across every account."""
    bucket = window_start(window_seconds, now)
    return f"rate#{account}#{bucket}", f"rate#{bucket}"


def write_together(dynamodb: Any, items: list[dict[str, Any]]) -> list[str] | None:
    """Write ``items`` in one TransactWriteItems: None when written, else each item's cancellation reason code
    (``ConditionalCheckFailed`` for the one whose condition failed, ``None`` for the others). A transaction that
    lost a race to another one on the same items (``TransactionConflict``) is tried again."""
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            dynamodb.transact_write_items(TransactItems=items)
            return None
        except AWS_ERRORS as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            codes = [str(reason.get("Code") or "None") for reason in reasons]
            if "ConditionalCheckFailed" in codes or attempt == CONFLICT_RETRIES:
                return codes + ["None"] * (len(items) - len(codes))
            # jitter, not a secret: the standard generator is right here
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311  # nosec B311
    raise AssertionError("unreachable")


class Locks:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def lock_holder(self, target: str, owner: str, now: datetime | None = None) -> Holder | None:
        """Who else holds the target's lock right now (an incident in progress on it), if anyone."""
        item = self.dynamodb.get_item(TableName=self.table, Key=lock_key(target), ConsistentRead=True).get("Item")
        return holder_of(item, owner, now or utcnow())

    def lock_put(self, target: str, owner: str, incident_id: str, now: datetime | None = None) -> dict[str, Any]:
        """Taking the target's lock (or renewing our own), as an item of a transaction: a decision to act is sealed
        exactly when its lock is taken, and never without it."""
        now = now or utcnow()
        return {
            "Put": {
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
        }

    def rate_slots(
        self,
        cap: int,
        window_seconds: int,
        incident_id: str,
        now: datetime | None = None,
        account: str = "",
        global_cap: int | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Taking one of ``cap`` automatic rollbacks allowed in ``account`` in the current fixed window and one of
        ``global_cap`` across every account, as items of a transaction, each named by its cap (``account``,
        ``global``): when one's condition fails, that cap is full and nothing is counted."""
        now = now or utcnow()
        bucket = window_start(window_seconds, now)
        account_key, global_key = rate_keys(window_seconds, account, now)
        caps = [(account_key, cap, "account")]
        if global_cap is not None:
            caps.append((global_key, global_cap, "global"))
        return [
            (
                which,
                {
                    "Update": {
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
                },
            )
            for key, limit, which in caps
        ]

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
