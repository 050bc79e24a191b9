"""Verify: after the bake, did the rollback fix it? The alarms that fired are read again.

All back to OK: a short "recovered" follow-up, and the incident is closed (``recovered_at``). Any still in
ALARM: an escalation (severity critical) that says the rollback did not fix it. Anything else (no data, an
alarm deleted, the check itself failing): "not verified", so on-call looks rather than assumes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import accounts
from .aws import Clients
from .config import Settings
from .custody import Custody, ForgedInput
from .model import Incident, iso, utcnow
from .notify import Kind, Notifier, alarms_of
from .store import IncidentStore

OUTCOME: dict[str, Kind] = {"recovered": "recovered", "still_alarming": "escalated", "unverified": "unverified"}


def alarm_states(cloudwatch: Any, names: list[str]) -> dict[str, str]:
    """Each alarm's state now; an alarm that no longer exists reads as MISSING."""
    states = {name: "MISSING" for name in names}
    for start in range(0, len(names), 100):
        described = cloudwatch.describe_alarms(
            AlarmNames=names[start : start + 100], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for alarm in described.get("MetricAlarms", []) + described.get("CompositeAlarms", []):
            states[alarm["AlarmName"]] = alarm["StateValue"]
    return states


def judge(states: dict[str, str]) -> str:
    if any(state == "ALARM" for state in states.values()):
        return "still_alarming"
    if states and all(state == "OK" for state in states.values()):
        return "recovered"
    return "unverified"


def verify(
    payload: dict[str, Any],
    clients: Clients,
    settings: Settings,
    notifier: Notifier,
    execution: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> Incident:
    """``payload`` is the notify step's output (plus ``verify_error`` when this step failed before)."""
    store = IncidentStore(clients.dynamodb, settings.incident_table)
    incident = store.get(str(payload.get("incident_id", "")))
    if incident is None:
        raise ForgedInput(f"no incident {str(payload.get('incident_id', ''))[:80]!r} was recorded: nothing to verify")
    # What is checked is the stored record, and only if it still carries this execution's seal.
    Custody(clients.dynamodb, settings.claims_table).check_record(incident, execution)
    bake = int((payload.get("verify") or {}).get("bake_seconds", 0))
    if incident.verification is None:
        checked = now()
        error = payload.get("verify_error")
        if error is not None:
            cause = error.get("Error", "Error") if isinstance(error, dict) else str(error)
            status, states = "unverified", {name: "UNKNOWN" for name in alarms_of(incident)}
            extra = {"error": f"the verify step failed: {str(cause)[:300]}"}
        else:
            # the alarms are where the event came from: the target's account and region
            cloudwatch = accounts.for_incident(clients, settings, incident).cloudwatch
            states = alarm_states(cloudwatch, alarms_of(incident))
            status, extra = judge(states), {}
        incident.verification = {
            "status": status,
            "checked_at": iso(checked),
            "bake_seconds": bake,
            "alarms": states,
            **extra,
        }
        if status == "recovered":
            incident.recovered_at = incident.closed_at = iso(checked)
        store.put(incident)
    notifier.send(incident, OUTCOME[incident.verification["status"]], now)
    store.put(incident)
    return incident
