"""One message per incident: what fired, what changed from which version to which, and why."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import events
from .aws import Clients
from .claims import Claims
from .config import Settings
from .model import Incident, Trigger, incident_id_for, iso, short_target, short_version, utcnow
from .store import IncidentStore

HEADLINE = {
    "rolled_back": "ROLLED BACK",
    "dry_run": "DRY RUN",
    "refused": "REFUSED",
    "failed": "FAILED",
    "ignored": "IGNORED",
}
SEVERITY = {"rolled_back": "high", "dry_run": "info", "refused": "critical", "failed": "critical", "ignored": "info"}
# Ignored incidents (OK transitions, unguarded alarms, malformed events) are recorded, not paged.
NOTIFY_ACTIONS = ("rolled_back", "dry_run", "refused", "failed")
SUBJECT_LIMIT = 99


def subject(incident: Incident) -> str:
    action = incident.action or "failed"
    versions = ""
    if incident.from_version and incident.to_version:
        versions = f" {short_version(incident.from_version)} -> {short_version(incident.to_version)}"
    text = f"[rollbackctl] {HEADLINE[action]}: {short_target(incident.target)}{versions}"
    # SNS subjects: printable ASCII, under 100 characters.
    text = text.encode("ascii", "replace").decode("ascii")
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def body(incident: Incident) -> str:
    t = incident.trigger
    lines = [
        f"{HEADLINE[incident.action or 'failed']}: {short_target(incident.target)}",
        "",
        f"What fired: {t.kind} {t.name} -> {t.state or '?'} at {t.time}",
    ]
    if t.reason:
        lines.append(f"  {t.reason[:500]}")
    lines += [
        f"Target:     {incident.target or '-'}",
        f"Versions:   {short_version(incident.from_version)} -> {short_version(incident.to_version)}",
        f"Action:     {incident.action} ({incident.mode})",
        f"Why:        {incident.reason}",
    ]
    if incident.restored_at:
        lines.append(
            f"Restored:   {incident.restored_at} ({incident.time_to_restore_ms} ms after the workflow started)"
        )
    if incident.pipeline:
        lines.append(
            f"Pipeline:   {incident.pipeline.name}"
            f"{'/' + incident.pipeline.stage if incident.pipeline.stage else ''} ({incident.pipeline.source})"
        )
    for step in incident.steps:
        lines.append(f"  - {step['step']}: {step['status']} - {step['detail']}")
    if incident.diagnosis.summary:
        lines += [
            f"Diagnosis:  [{incident.diagnosis.category}] {incident.diagnosis.summary}",
            f"Fix:        {incident.diagnosis.remediation}",
        ]
    lines += ["", f"Incident {incident.incident_id}: rollbackctl history --json"]
    return "\n".join(lines)


def publish(incident: Incident, sns: Any, topic_arn: str, now: Callable[[], datetime] = utcnow) -> None:
    action = incident.action or "failed"
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=subject(incident),
        Message=body(incident),
        MessageAttributes={
            "severity": {"DataType": "String", "StringValue": SEVERITY[action]},
            "action": {"DataType": "String", "StringValue": action},
            "target": {"DataType": "String", "StringValue": incident.target or "none"},
        },
    )
    incident.notifications.append({"channel": "sns", "message_id": response["MessageId"], "sent_at": iso(now())})


def _failure_reason(error: dict[str, Any]) -> str:
    name = str(error.get("Error", "Error"))
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause) if isinstance(cause, str) else cause
        message = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    except ValueError:
        message = cause
    return f"{name}: {str(message)[:1000]}"


def incident_from_failure(payload: dict[str, Any], error: dict[str, Any], now: Callable[[], datetime]) -> Incident:
    """Rebuild the incident a failed step was working on (or make one from the raw event)."""
    if "incident_id" in payload:
        incident = Incident.from_dict(payload)
    else:
        started = now()
        try:
            trigger = events.parse(payload).trigger()
        except events.InvalidEvent:
            trigger = Trigger(kind="unknown", name=events.describe(payload)[:300], id="", state="", time=iso(started))
        incident = Incident(incident_id_for(trigger, started), trigger, iso(started))
    incident.decision = "refuse"
    incident.conclude(
        "failed", f"the workflow failed and was paged; state of the target unknown: {_failure_reason(error)}"
    )
    incident.error = {"error": str(error.get("Error", "")), "cause": str(error.get("Cause", ""))[:4000]}
    return incident


def finish(
    payload: dict[str, Any], clients: Clients, settings: Settings, now: Callable[[], datetime] = utcnow
) -> Incident:
    """Record the incident and send its one message. ``payload["error"]`` marks a caught failure."""
    payload = dict(payload)
    error = payload.pop("error", None)
    if error is not None:
        incident = incident_from_failure(payload, error if isinstance(error, dict) else {"Error": str(error)}, now)
    else:
        incident = Incident.from_dict(payload)
    store = IncidentStore(clients.dynamodb, settings.incident_table)
    store.put(incident)  # recorded even if the message cannot be sent
    if incident.target and incident.owner:
        Claims(clients.dynamodb, settings.claims_table).unlock(incident.target, incident.owner)
    if incident.action in NOTIFY_ACTIONS and not any(n["channel"] == "sns" for n in incident.notifications):
        publish(incident, clients.sns, settings.topic_arn, now)
        store.put(incident)
    return incident
