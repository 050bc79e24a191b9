"""Record the incident and send its one message: the end of every execution, caught failures included.

The record step (RecordAndNotify, and RecordFailure after any failed step) writes the incident, releases the
target's lock and tells on-call through the Notifier.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import events
from .aws import Clients
from .claims import Claims
from .config import Settings
from .model import Incident, Trigger, incident_id_for, iso, utcnow
from .notify import Notifier, alarms_of
from .store import IncidentStore


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
    payload: dict[str, Any],
    clients: Clients,
    settings: Settings,
    notifier: Notifier,
    now: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """Record the incident and send its one message. ``payload["error"]`` marks a caught failure.

    Returns the incident record, plus ``verify``: {"needed", "bake_seconds"}; needed when the verify step should
    check, after the bake, whether the alarms that fired are back to OK (a rollback carried out, on alarms)."""
    payload = dict(payload)
    error = payload.pop("error", None)
    if error is not None:
        incident = incident_from_failure(payload, error if isinstance(error, dict) else {"Error": str(error)}, now)
    else:
        incident = Incident.from_dict(payload)
    store = IncidentStore(clients.dynamodb, settings.incident_table)
    earlier = store.get(incident.incident_id)
    if earlier is not None:  # the triggers that joined it so far; on a retry, what was already sent
        incident.joined, incident.notifications = earlier.joined, earlier.notifications
    store.put(incident)  # recorded even if the message cannot be sent
    if incident.target and incident.owner:
        Claims(clients.dynamodb, settings.claims_table).unlock(incident.target, incident.owner)
    if notifier.wants(incident):
        notifier.send(incident, "incident", now)
        store.put(incident)
    out = incident.to_dict()
    out["verify"] = {
        "needed": incident.action == "rolled_back" and bool(alarms_of(incident)),
        "bake_seconds": notifier.channels.verify_bake_seconds,
    }
    return out
