"""The incident record and the known-good ledger, both in DynamoDB.

Incidents are stored whole as JSON under their id (the record is a public contract; DynamoDB attributes
beside it exist for queries). The ledger holds one row per (target, version): ``good`` or ``bad``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .aws import AWS_ERRORS, error_code
from .model import Incident, Trigger, iso, utcnow

VersionStatus = Literal["good", "bad"]


@dataclass
class IncidentStore:
    dynamodb: Any
    table: str

    def put(self, incident: Incident) -> None:
        self.dynamodb.update_item(**self.update(incident)["Update"])

    def update(self, incident: Incident) -> dict[str, Any]:
        """Writing the record, as an item of a transaction. UpdateItem, not PutItem: the ``joined`` set that triage
        adds beside the record must survive."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": {"incident_id": {"S": incident.incident_id}},
                "UpdateExpression": "SET started_at = :s, #a = :a, #r = :r",
                "ExpressionAttributeNames": {"#a": "action", "#r": "record"},
                "ExpressionAttributeValues": {
                    ":s": {"S": incident.started_at},
                    ":a": {"S": incident.action or "open"},
                    ":r": {"S": json.dumps(incident.to_dict(), sort_keys=True)},
                },
            }
        }

    def join(self, incident_id: str, trigger: Trigger) -> None:
        """Another trigger for the deployment this incident handles joins it (one incident, one message; the
        verify step checks every alarm that joined). Atomic, and safe before or after the record is written."""
        entry = json.dumps({"kind": trigger.kind, "name": trigger.name, "time": trigger.time}, sort_keys=True)
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"incident_id": {"S": incident_id}},
            UpdateExpression="ADD joined :t",
            ExpressionAttributeValues={":t": {"SS": [entry]}},
        )

    @staticmethod
    def _incident(item: dict[str, Any]) -> Incident:
        incident = Incident.from_dict(json.loads(item["record"]["S"]))
        joined = [json.loads(raw) for raw in item.get("joined", {}).get("SS", [])]
        incident.joined = sorted(joined, key=lambda e: (e.get("time", ""), e.get("name", "")))
        return incident

    def get(self, incident_id: str) -> Incident | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"incident_id": {"S": incident_id}}, ConsistentRead=True
        ).get("Item")
        return self._incident(item) if item and "record" in item else None

    def list(self, limit: int = 50) -> list[Incident]:
        """Newest first."""
        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table):
            items.extend(page.get("Items", []))
        incidents = [self._incident(item) for item in items if "record" in item]
        incidents.sort(key=lambda i: i.started_at, reverse=True)
        return incidents[:limit]


@dataclass
class LedgerEntry:
    target: str
    version: str
    status: VersionStatus
    recorded_at: str
    reason: str


@dataclass
class Deployment:
    version: str
    previous_version: str
    started_at: str
    actor: str


@dataclass
class Restore:
    incident_id: str
    version: str
    restored_at: str


@dataclass
class BadArtifact:
    """An artifact an incident rolled back: bad in every account and region (DESIGN.md)."""

    artifact: str
    incident_id: str
    target: str  # where it was rolled back
    version: str  # as that target's kind names it
    recorded_at: str


ARTIFACT_PREFIX = "artifact#"  # ledger rows keyed by the artifact, not by a target


@dataclass
class Ledger:
    dynamodb: Any
    table: str
    # One decision's view (triage): a target's rows are read once, in one consistent Query, and what the decision
    # asks of them next (its last restore, its latest deployment, its known-good and bad versions) is answered from
    # that read; a write through this ledger forgets the target. Off by default, for a ledger kept across
    # invocations (Track's): it reads afresh every time.
    snapshot: bool = False
    _rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False, compare=False)

    def _items(self, target: str) -> list[dict[str, Any]]:
        if self.snapshot and target in self._rows:
            return self._rows[target]
        items: list[dict[str, Any]] = []
        for page in self.dynamodb.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="#t = :t",
            ExpressionAttributeNames={"#t": "target"},
            ExpressionAttributeValues={":t": {"S": target}},
            ConsistentRead=True,
        ):
            items.extend(page.get("Items", []))
        if self.snapshot:
            self._rows[target] = items
        return items

    def _row(self, target: str, version: str) -> dict[str, Any] | None:
        if self.snapshot:
            return next((i for i in self._items(target) if i["version"]["S"] == version), None)
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=self.table, Key={"target": {"S": target}, "version": {"S": version}}, ConsistentRead=True
        ).get("Item")
        return item

    def record(self, target: str, version: str, status: VersionStatus, reason: str) -> bool:
        """Mark ``version`` of ``target``; False when it was not written. Bad always wins: "good" is written only
        where the version is not marked bad, in the same conditional write (a deployment's success that Track reads
        late, or while an incident marks the version bad, never clears the mark)."""
        self._rows.pop(target, None)
        guard: dict[str, Any] = {}
        if status != "bad":
            guard = {
                "ConditionExpression": "attribute_not_exists(#s) OR #s <> :bad",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":bad": {"S": "bad"}},
            }
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "target": {"S": target},
                    "version": {"S": version},
                    "status": {"S": status},
                    "recorded_at": {"S": iso(utcnow())},
                    "reason": {"S": reason},
                },
                **guard,
            )
        except AWS_ERRORS as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def targets(self) -> list[str]:
        """Every target the ledger knows (a deployment watched, a version marked), sorted."""
        found: set[str] = set()
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table, ProjectionExpression="#t", ExpressionAttributeNames={"#t": "target"}
        ):
            found.update(i["target"]["S"] for i in page.get("Items", []) if i["target"]["S"].startswith("arn:"))
        return sorted(found)

    def entries(self, target: str) -> list[LedgerEntry]:
        items = self._items(target)
        return [
            LedgerEntry(
                target=i["target"]["S"],
                version=i["version"]["S"],
                status="bad" if i["status"]["S"] == "bad" else "good",
                recorded_at=i["recorded_at"]["S"],
                reason=i.get("reason", {}).get("S", ""),
            )
            for i in items
            if not i["version"]["S"].startswith("#")
        ]

    def record_restore(self, target: str, version: str, incident_id: str, restored_at: str) -> None:
        """The last time rollbackctl put this target back, and on what (one row per target)."""
        self._rows.pop(target, None)
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "target": {"S": target},
                "version": {"S": "#restored"},
                "status": {"S": "good"},
                "recorded_at": {"S": restored_at},
                "reason": {"S": incident_id},
                "restored_version": {"S": version},
            },
        )

    def record_deployment(self, target: str, version: str, started_at: str, actor: str) -> Deployment | None:
        """A deployment began on the target; returns the one it replaced (one row per target)."""
        previous = self.latest_deployment(target)
        self._rows.pop(target, None)
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "target": {"S": target},
                "version": {"S": "#deployment"},
                "status": {"S": "deploying"},
                "recorded_at": {"S": started_at},
                "reason": {"S": actor},
                "deployed_version": {"S": version},
                "previous_version": {"S": previous.version if previous else ""},
            },
        )
        return previous

    def latest_deployment(self, target: str) -> Deployment | None:
        item = self._row(target, "#deployment")
        if not item:
            return None
        return Deployment(
            item["deployed_version"]["S"], item["previous_version"]["S"], item["recorded_at"]["S"], item["reason"]["S"]
        )

    def last_restore(self, target: str) -> Restore | None:
        item = self._row(target, "#restored")
        if not item:
            return None
        return Restore(item["reason"]["S"], item["restored_version"]["S"], item["recorded_at"]["S"])

    def known_good(self, target: str, current: str) -> LedgerEntry | None:
        """The most recently recorded good version other than ``current``; never a bad one."""
        good = [e for e in self.entries(target) if e.status == "good" and e.version != current]
        return max(good, key=lambda e: e.recorded_at) if good else None

    def mark_artifact_bad(self, artifact: str, incident_id: str, target: str, version: str) -> bool:
        """The artifact is bad everywhere, marked by this incident; the first incident to mark it stays the one named.
        True when this incident marked it."""
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "target": {"S": f"{ARTIFACT_PREFIX}{artifact}"},
                    "version": {"S": "#bad"},
                    "status": {"S": "bad"},
                    "recorded_at": {"S": iso(utcnow())},
                    "reason": {"S": incident_id},
                    "marked_target": {"S": target},
                    "marked_version": {"S": version},
                },
                ConditionExpression="attribute_not_exists(#t)",
                ExpressionAttributeNames={"#t": "target"},
            )
        except AWS_ERRORS as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def bad_artifact(self, artifact: str) -> BadArtifact | None:
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"target": {"S": f"{ARTIFACT_PREFIX}{artifact}"}, "version": {"S": "#bad"}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return BadArtifact(
            artifact,
            item["reason"]["S"],
            item.get("marked_target", {}).get("S", ""),
            item.get("marked_version", {}).get("S", ""),
            item["recorded_at"]["S"],
        )

    def is_bad(self, target: str, version: str) -> bool:
        return any(e.version == version and e.status == "bad" for e in self.entries(target))
