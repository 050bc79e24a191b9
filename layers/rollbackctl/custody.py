"""Chain of custody: a step acts only on what its own execution's triage decided.

The workflow hands each step the incident as JSON. Whoever may invoke a function directly could hand Restore
any plan, Contain any pipeline, Notify any record. So Triage *seals* its decision: a digest of the incident is
written to the claims table (where only the controller's functions write), keyed by the incident id, with the
execution that owns it. Restore, Contain, the record step and Verify *check* their input against the seal with a
consistent read before doing anything, and a step that changes the incident *reseals* it with its output.

The seal also makes a retried step idempotent: it keeps the input digest and the output of the step that last
resealed, so the same step handed the same input again (a Step Functions retry after a lost response, a redrive)
returns that output instead of acting twice.

Not covered by the digest (later steps add them and they change nothing in AWS): the diagnosis, the
notifications, the alarms that joined, the verification, the error of a caught failure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .model import Incident, utcnow

SEAL_TTL_SECONDS = 24 * 60 * 60 + 3600  # outlives the claims (EventBridge retries for 24 hours) and the bake
UNSEALED = ("diagnosis", "notifications", "joined", "verification", "recovered_at", "closed_at", "error")


class ForgedInput(RuntimeError):
    """The input was not produced for this execution by the controller's own previous step: nothing is done."""


def digest(incident: Incident | dict[str, Any]) -> str:
    data = incident.to_dict() if isinstance(incident, Incident) else dict(incident)
    sealed = {k: v for k, v in data.items() if k not in UNSEALED}
    canonical = json.dumps(sealed, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def key(incident_id: str) -> dict[str, dict[str, str]]:
    return {"id": {"S": f"custody#{incident_id}"}}


def seal_item(incident: Incident) -> dict[str, Any]:
    """The seal of a triage decision, as a DynamoDB item (Triage writes it, with the target's lock when acting)."""
    expires = int((utcnow() + timedelta(seconds=SEAL_TTL_SECONDS)).timestamp())
    return {
        **key(incident.incident_id),
        "owner": {"S": incident.owner},
        "digest": {"S": digest(incident)},
        "step": {"S": "triage"},
        "expiration": {"N": str(expires)},
    }


@dataclass
class Replay:
    """The step already ran on exactly this input: its recorded output, to return instead of acting again."""

    output: dict[str, Any]


@dataclass
class Custody:
    dynamodb: Any
    table: str

    def seal_put(self, incident: Incident) -> dict[str, Any]:
        """Triage's decision, as an item of triage's one transaction: written once per incident (a second triage of
        the same incident id by another execution fails its condition: ForgedInput)."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": seal_item(incident),
                "ConditionExpression": "attribute_not_exists(id) OR #o = :me",
                "ExpressionAttributeNames": {"#o": "owner"},
                "ExpressionAttributeValues": {":me": {"S": incident.owner}},
            }
        }

    def _read(self, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The items under ``keys``, read consistently in one call (BatchGetItem), by id."""
        found: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(5):
            response = self.dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table, []):
                found[item["id"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise ForgedInput("the seal could not be read (DynamoDB left keys unprocessed): nothing was done")

    def check(
        self, incident: Incident, step: str, execution: str | None = None, lock: dict[str, Any] | None = None
    ) -> Replay | None:
        """None when ``incident`` is exactly what the previous step sealed for its owner (the execution, when
        the workflow says which one it is) and, with ``lock`` (the target lock's key), the owner holds the
        target's lock; a Replay when ``step`` already ran on this input; else ForgedInput."""
        if execution is not None and incident.owner != execution:
            raise ForgedInput(f"incident {incident.incident_id} belongs to another execution")
        items = self._read([key(incident.incident_id)] + ([lock] if lock else []))
        item = items.get(key(incident.incident_id)["id"]["S"])
        if not item:
            raise ForgedInput(f"incident {incident.incident_id[:80]!r} was not decided by triage (no seal)")
        if item.get("owner", {}).get("S") != incident.owner:
            raise ForgedInput(f"incident {incident.incident_id} is sealed by another execution")
        found = digest(incident)
        if item.get("digest", {}).get("S") != found:
            # Not the latest sealed state. A retry of the step that sealed it (same step, same input) gets that
            # step's recorded output; anything else was not produced by the controller for this execution. (A step
            # whose output equals its input, such as a read-back still under way, simply runs again.)
            if item.get("step", {}).get("S") == step and item.get("input", {}).get("S") == found:
                return Replay(json.loads(item["output"]["S"]))
            raise ForgedInput(f"incident {incident.incident_id} is not what the controller's previous step produced")
        if lock is not None and items.get(lock["id"]["S"], {}).get("owner", {}).get("S") != incident.owner:
            raise ForgedInput(f"incident {incident.incident_id} does not hold the lock of {incident.target}")
        return None

    def check_record(self, incident: Incident, execution: str | None = None) -> None:
        """A stored record (read back from the incident table) still carries its owner's seal."""
        if execution is not None and incident.owner != execution:
            raise ForgedInput(f"incident {incident.incident_id} belongs to another execution")
        item = self._read([key(incident.incident_id)]).get(key(incident.incident_id)["id"]["S"], {})
        if item.get("owner", {}).get("S") != incident.owner or item.get("digest", {}).get("S") != digest(incident):
            raise ForgedInput(f"incident {incident.incident_id} record does not match its seal")

    def reseal(self, before: str, step: str, incident: Incident, output: dict[str, Any] | None = None) -> None:
        """After ``step`` changed the incident: the new digest, and what to replay (``output``, by default the
        incident) if the same step is handed the same input again."""
        recorded = json.dumps(incident.to_dict() if output is None else output, sort_keys=True, default=str)
        self.dynamodb.update_item(
            TableName=self.table,
            Key=key(incident.incident_id),
            UpdateExpression="SET #d = :after, step = :step, #i = :before, #out = :output",
            ConditionExpression="#o = :me AND (#d = :before OR (step = :step AND #i = :before))",
            ExpressionAttributeNames={"#d": "digest", "#i": "input", "#out": "output", "#o": "owner"},
            ExpressionAttributeValues={
                ":after": {"S": digest(incident)},
                ":before": {"S": before},
                ":step": {"S": step},
                ":output": {"S": recorded},
                ":me": {"S": incident.owner},
            },
        )


def handed(event: Any) -> tuple[Any, str | None]:
    """What the workflow hands a step: ``{"incident": ..., "execution": $$.Execution.Id}``. A bare payload
    (``sam local invoke``, ``rollbackctl invoke``) names no execution; the seal's owner is checked all the same."""
    if isinstance(event, dict) and set(event) == {"incident", "execution"}:
        return event["incident"], str(event["execution"])
    return event, None
