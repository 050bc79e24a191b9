"""The incident record (a public contract, see DESIGN.md) and the values it is built from."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Action = Literal["rolled_back", "ignored", "dry_run", "refused", "failed"]
# What triage decided; "act" is the only decision that leads to a mutating call.
# "duplicate": another execution already owns this trigger or deployment; nothing is recorded again.
Decision = Literal["act", "ignore", "dry_run", "refuse", "duplicate"]

DECISION_TO_ACTION: dict[str, Action] = {
    "ignore": "ignored",
    "dry_run": "dry_run",
    "refuse": "refused",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """Parse the timestamps AWS puts in events: ``2026-01-01T00:00:00Z``, ``...000+0000``."""
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Trigger:
    """What fired: an alarm state change (later: pipeline, deployment, ECS events)."""

    kind: str
    name: str
    id: str
    state: str
    time: str
    reason: str = ""
    event_id: str = ""
    region: str = ""
    account: str = ""
    metric: str = ""  # an alarm's "Namespace MetricName", as its state-change event says what it watched


@dataclass
class Diagnosis:
    category: str = "unclassified"
    summary: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    remediation: str = ""


@dataclass
class Plan:
    """The one traffic change the controller will make, decided at triage time."""

    kind: str  # the target kind: its name in the registry (kinds.KINDS)
    # how the kind goes back, its own word: e.g. "canary", "repoint", "ecs-rolling", "ecs-native", and the shared
    # mechanisms "codedeploy-stop" and "alb-weights" (see the kind's module)
    strategy: str
    target: str
    from_version: str
    to_version: str
    # what the strategy needs to act and read back (strings on the wire: the record is a public contract)
    details: dict[str, str] = field(default_factory=dict)


@dataclass
class PipelineRef:
    """The pipeline that ships the target: from a rollback:pipeline tag, or from the event itself."""

    name: str
    stage: str | None = None
    source: str = ""


def short_version(version: str | None) -> str:
    """Task definition ARNs read as family:revision, target groups by name; Lambda versions as they are."""
    if not version:
        return "-"
    if ":targetgroup/" in version:
        return version.split(":targetgroup/", 1)[-1].split("/", 1)[0]
    return version.rsplit("task-definition/", 1)[-1]


def short_target(target: str | None) -> str:
    """How people say a target (NAME:ALIAS, CLUSTER/SERVICE, ...): the kind's own name for it."""
    from .kinds import short_name  # the kinds import this module: resolved at call time

    return short_name(target)


@dataclass
class Incident:
    incident_id: str
    trigger: Trigger
    started_at: str
    decision: Decision = "ignore"
    target: str | None = None
    action: Action | None = None
    reason: str = ""
    mode: str = "enforce"
    from_version: str | None = None
    to_version: str | None = None
    plan: Plan | None = None
    pipeline: PipelineRef | None = None
    # what was done, in order: {"step", "status" (started | done | skipped | failed), "detail", "at"}
    steps: list[dict[str, str]] = field(default_factory=list)
    diagnosis: Diagnosis = field(default_factory=Diagnosis)
    restored_at: str | None = None
    time_to_restore_ms: int | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, str] | None = None
    # the workflow execution that owns this incident's claims and lock
    owner: str = ""
    # other triggers for the same deployment (more alarms, redeliveries after the restore): one incident
    joined: list[dict[str, str]] = field(default_factory=list)
    # after the bake: {"status" (recovered | still_alarming | unverified), "checked_at", "bake_seconds",
    # "alarms" {name: state}}; a recovered incident is closed
    verification: dict[str, Any] | None = None
    recovered_at: str | None = None
    closed_at: str | None = None
    # while a change that takes time is read back by the workflow: {"since", "until", "poll_seconds"}
    restoring: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        values = dict(data)
        values["trigger"] = Trigger(**values["trigger"])
        values["diagnosis"] = Diagnosis(**(values.get("diagnosis") or {}))
        if values.get("plan"):
            values["plan"] = Plan(**values["plan"])
        if values.get("pipeline"):
            values["pipeline"] = PipelineRef(**values["pipeline"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})

    def conclude(self, action: Action, reason: str) -> None:
        self.action = action
        self.reason = reason

    def record_step(self, step: str, status: Literal["started", "done", "skipped", "failed"], detail: str) -> None:
        self.steps.append({"step": step, "status": status, "detail": detail, "at": iso(utcnow())})


def incident_id_for(trigger: Trigger, started_at: datetime, salt: str = "") -> str:
    """Sortable and readable: the day it started, plus a digest of what fired (and ``salt``, which keeps an
    incident about the same trigger apart from the one triage opened, e.g. a failure whose input was not sealed)."""
    seed = f"{trigger.id}|{trigger.time}|{trigger.event_id}" + (f"|{salt}" if salt else "")
    digest = hashlib.sha256(seed.encode()).hexdigest()[:8]
    return f"inc-{started_at:%Y%m%dT%H%M%S}-{digest}"
