"""Exactly one action per deployment.

EventBridge delivers at least once (and retries for up to 24 hours); alarms re-fire; several alarms can
guard one deployment. Every execution claims two keys, and only the first claimant of both acts:
- the trigger: the alarm and the timestamp of its transition (or the deployment / execution id of a
  deployment event) -- a redelivery, with the same or a new event id, is the same trigger;
- the deployment: the target and the version that arrived on it.

A claim is a conditional Put in the claims table. The trigger is claimed first, in one write, so that a redelivery
or a duplicate stops there (in an alarm storm, most events do); the deployment is claimed in the same DynamoDB
transaction as the decision's seal (and, for a decision to act, the rate cap's slots, the target's lock and the
record; ``triage``): a decision is recorded with its claim, or not at all. The claimant is the workflow execution,
so a Step Functions retry of the same execution still owns its claims. (Powertools' idempotency utility writes its
record in two calls of its own, which cannot join a transaction.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .aws import AWS_ERRORS, error_code
from .locks import CLAIM_TTL_SECONDS, Holder
from .model import Trigger, utcnow

PREFIX = "claim#"


@dataclass(frozen=True)
class Claim:
    key: str  # what is claimed: trigger#KIND#ID#STATE#TIME or deployment#TARGET#VERSION
    what: str  # the same in words, for a duplicate's reason
    joins: bool = False  # a duplicate of it is another trigger for the same deployment: it joins that incident


def trigger_claim(trigger: Trigger) -> Claim:
    """The claim on what fired: the same transition, redelivered or under a new event id, is the same claim."""
    return Claim(
        f"trigger#{trigger.kind}#{trigger.id}#{trigger.state}#{trigger.time}",
        f"{trigger.kind} {trigger.name} -> {trigger.state} at {trigger.time}",
    )


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

    def claim(self, claim: Claim, owner: str, incident_id: str) -> Holder | None:
        """Claim ``claim`` now, in one conditional write: None when ``owner`` holds it (now, or from an earlier
        try); else who does (DynamoDB returns the item that failed the condition)."""
        put = self.put(claim, owner, incident_id)["Put"]
        try:
            self.dynamodb.put_item(**put, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except AWS_ERRORS as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            item = getattr(exc, "response", {}).get("Item")
            if not item:
                return self.holder(claim)
            return Holder(item.get("owner", {}).get("S", "?"), item.get("incident_id", {}).get("S", "?"))
        return None
