"""Exactly one action per deployment.

EventBridge delivers at least once (and retries for up to 24 hours); alarms re-fire; several alarms can
guard one deployment. Every execution claims two keys, and only the first claimant of both acts:
- the trigger: the alarm and the timestamp of its transition (or the deployment / execution id of a
  deployment event) -- a redelivery, with the same or a new event id, is the same trigger;
- the deployment: the target and the version that arrived on it.

A claim is a conditional Put in the claims table, written in the same DynamoDB transaction as the decision's seal
(and, for a decision to act, the rate cap's slots and the target's lock; ``triage``): a decision is recorded with
its claims, or not at all, in one call. The claimant is the workflow execution, so a Step Functions retry of the
same execution still owns its claims. (Powertools' idempotency utility writes its record in two calls of its own,
which cannot join a transaction.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .locks import CLAIM_TTL_SECONDS, Holder
from .model import utcnow

PREFIX = "claim#"
READ_ATTEMPTS = 5  # a BatchGetItem that leaves keys unprocessed is asked again this often


@dataclass(frozen=True)
class Claim:
    key: str  # what is claimed: trigger#KIND#ID#STATE#TIME or deployment#TARGET#VERSION
    what: str  # the same in words, for a duplicate's reason
    joins: bool = False  # a duplicate of it is another trigger for the same deployment: it joins that incident


def claim_key(claim: Claim) -> dict[str, dict[str, str]]:
    """The claim's item key: a digest, so that a long target and version never exceed a key's size."""
    return {"id": {"S": PREFIX + hashlib.sha256(claim.key.encode()).hexdigest()}}


class Claims:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def put(self, claim: Claim, owner: str, incident_id: str, now: datetime | None = None) -> dict[str, Any]:
        """Claiming ``claim`` for ``owner``, as an item of a transaction (it holds for ``owner``'s retries too)."""
        expires = int(((now or utcnow()) + timedelta(seconds=CLAIM_TTL_SECONDS)).timestamp())
        return {
            "Put": {
                "TableName": self.table,
                "Item": {
                    **claim_key(claim),
                    "claim": {"S": claim.key[:1024]},
                    "owner": {"S": owner},
                    "incident_id": {"S": incident_id},
                    "expiration": {"N": str(expires)},
                },
                "ConditionExpression": "attribute_not_exists(id) OR #o = :me",
                "ExpressionAttributeNames": {"#o": "owner"},
                "ExpressionAttributeValues": {":me": {"S": owner}},
            }
        }

    def holder(self, claim: Claim) -> Holder:
        """Who holds ``claim`` (after a transaction found it taken)."""
        item = self.dynamodb.get_item(TableName=self.table, Key=claim_key(claim), ConsistentRead=True).get("Item", {})
        return Holder(item.get("owner", {}).get("S", "another execution"), item.get("incident_id", {}).get("S", "?"))

    def held(self, claim: Claim, owner: str, lock: dict[str, Any]) -> tuple[Holder | None, dict[str, Any] | None]:
        """In one consistent read: who else holds ``claim`` (None: nobody, or ``owner``), and the item under the lock
        key ``lock`` (the target's lock, for ``locks.holder_of``)."""
        keys = [claim_key(claim), lock]
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        found: dict[str, dict[str, Any]] = {}
        for _ in range(READ_ATTEMPTS):
            response = self.dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table, []):
                found[item["id"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise RuntimeError("the claims table left keys unprocessed: whether this is handled already is unknown")
        claimed = found.get(claim_key(claim)["id"]["S"])
        holder = None
        if claimed and claimed.get("owner", {}).get("S") != owner:
            holder = Holder(claimed.get("owner", {}).get("S", "?"), claimed.get("incident_id", {}).get("S", "?"))
        return holder, found.get(lock["id"]["S"])
