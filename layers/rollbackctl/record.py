"""Record the incident and send its one message: the end of every execution, caught failures included.

The record step (RecordAndNotify, and RecordFailure after any failed step) writes the incident, releases the
target's lock and tells on-call through the Notifier.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import accounts, events, kinds
from .aws import AWS_ERRORS, Clients, error_code
from .claims import Claims, trigger_claim
from .config import Settings
from .custody import Custody, ForgedInput, digest
from .kinds import RestoreIncomplete
from .locks import Locks
from .model import Incident, Trigger, incident_id_for, iso, utcnow
from .notify import Notifier, alarms_of
from .store import IncidentStore

RECORDED_NOW = "recorded_now"  # the record step's own answer to its handler; never handed on to the next state


def _failure_reason(error: dict[str, Any]) -> str:
    name = str(error.get("Error", "Error"))
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause) if isinstance(cause, str) else cause
        message = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    except ValueError:
        message = cause
    return f"{name}: {str(message)[:1000]}"


def incident_from_failure(
    incident: Incident, error: dict[str, Any], target_state: Callable[[Incident], str | None] | None = None
) -> Incident:
    """The incident a failed step was working on, with the error, telling the truth about the target: read back
    (``target_state``) before anything is written. Restored (a step after the change failed, or one died after its
    change went through): ``rolled_back``, the failure said; otherwise ``failed``, with what the read-back showed."""
    why = _failure_reason(error)
    incident.error = {"error": str(error.get("Error", "")), "cause": str(error.get("Cause", ""))[:4000]}
    state = target_state(incident) if target_state is not None else "state of the target unknown"
    if state is None:  # restored
        incident.restored_at = incident.restored_at or iso(utcnow())
        incident.record_step("restore", "done", "read back after the failure: the target is restored")
        incident.conclude(
            "rolled_back", f"{incident.reason}; the target reads back as restored, then the workflow failed: {why}"
        )
        return incident
    incident.decision = "refuse"
    incident.conclude("failed", f"the workflow failed and was paged; {state}: {why}")
    return incident


def target_state(clients: Clients, settings: Settings) -> Callable[[Incident], str | None]:
    """How a failed incident's target reads back: None when it is restored (its kind's read-back says done); else
    what is known of it, in words."""

    def read(incident: Incident) -> str | None:
        plan = incident.plan
        if incident.decision != "act" or plan is None:
            return "nothing was changed (no decision to act)"
        try:
            state = kinds.of(plan.kind).read_back(accounts.for_incident(clients, settings, incident), plan)
        except RestoreIncomplete as exc:
            return f"the target is not restored ({str(exc)[:300]})"
        except AWS_ERRORS as exc:
            return f"state of the target unknown (reading it back failed: {error_code(exc) or type(exc).__name__})"
        return None if state == "done" else f"the target is not restored yet (its read-back says {state})"

    return read


def _untrusted(payload: dict[str, Any], error: dict[str, Any], forged: str, execution: str | None) -> Incident:
    """A failure whose input carries no seal of this execution (Triage itself failed on the raw event, or the input
    was forged or altered): a new incident that treats the input as data only. Nothing in it names the record,
    the owner or the target, so no record is overwritten and no lock released."""
    started = utcnow()
    try:
        trigger = events.parse(payload).trigger()
    except events.InvalidEvent:
        trigger = Trigger(kind="unknown", name=events.describe(payload)[:300], id="", state="", time=iso(started))
    # Never the id triage gives the same trigger: this incident must not overwrite that one's record.
    incident = Incident(
        incident_id_for(trigger, started, salt=f"unsealed|{execution}"), trigger, iso(started), owner=execution or ""
    )
    incident_from_failure(incident, error)
    if forged:
        incident.reason += f"; its input was not trusted ({forged[:300]})"
    return incident


def _committed(payload: dict[str, Any], clients: Clients, settings: Settings, execution: str | None) -> Incident | None:
    """Triage ended (a timeout, a crash) after it committed its decision and before it returned, so the failure's
    input is the raw event again. The trigger's claim names the incident this execution opened; its stored record,
    still matching its seal, is what this execution decided: the failure is recorded on it (one incident per
    event, its lock released), not on a new one. None when there is no such record."""
    if execution is None:
        return None
    try:
        trigger = events.parse(payload).trigger()
    except events.InvalidEvent:
        return None
    holder = Claims(clients.dynamodb, settings.claims_table).holder(trigger_claim(trigger))
    if holder.owner != execution:
        return None
    incident = IncidentStore(clients.dynamodb, settings.incident_table).get(holder.incident_id)
    if incident is None:  # only a decision to act is recorded with its claims
        return None
    try:
        Custody(clients.dynamodb, settings.claims_table).check_record(incident, execution)
    except ForgedInput:
        return None
    return incident


def finish(
    payload: dict[str, Any],
    clients: Clients,
    settings: Settings,
    notifier: Notifier,
    execution: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """Record the incident and send its one message. ``payload["error"]`` marks a caught failure.

    The payload must be what this execution's previous step sealed (custody); a failure with an unsealed payload is
    recorded as a new failed incident that trusts nothing in it, and anything else unsealed is refused (ForgedInput).

    Returns the incident record, plus ``verify``: {"needed", "bake_seconds"}; needed when the verify step should
    check, after the bake, whether the alarms that fired are back to OK (a rollback carried out, on alarms).

    A failure that cannot be recorded (the incident store itself failing) is paged all the same (fail closed: the
    message is then the incident's only record)."""
    payload = dict(payload)
    error = payload.pop("error", None)
    if error is not None and not isinstance(error, dict):
        error = {"Error": str(error)}
    progress = _Progress()
    try:
        return _finish(payload, error, clients, settings, notifier, execution, now, progress)
    except AWS_ERRORS as exc:
        if error is None or progress.recorded:
            raise  # RecordAndNotify: the workflow's RecordFailure records and pages it; recorded: the page failed
        return _unrecorded(payload, error, exc, notifier, execution, now)


@dataclass
class _Progress:
    recorded: bool = False  # the incident store took the record


def _unrecorded(
    payload: dict[str, Any],
    error: dict[str, Any],
    exc: Exception,
    notifier: Notifier,
    execution: str | None,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    """Page a failure the incident store could not take: what the payload names, as data only (its seal could not
    be read, so nothing in it is trusted, read back or acted on), the error, and that it is not recorded."""
    try:
        incident = Incident.from_dict(payload) if "incident_id" in payload else None
    except (KeyError, TypeError, ValueError, AttributeError):
        incident = None
    if incident is None:
        incident = _untrusted(payload, error, "", execution)
    else:
        incident_from_failure(incident, error)
    incident.reason += (
        f"; NOT RECORDED: the incident store failed ({error_code(exc) or type(exc).__name__}), so this message is the "
        "incident's only record and nothing in it could be checked against its seal"
    )
    notifier.send(incident, "incident", now)
    out = incident.to_dict()
    out["verify"] = {"needed": False, "bake_seconds": notifier.channels.verify_bake_seconds}
    return out


def _finish(
    payload: dict[str, Any],
    error: dict[str, Any] | None,
    clients: Clients,
    settings: Settings,
    notifier: Notifier,
    execution: str | None,
    now: Callable[[], datetime],
    progress: _Progress,
) -> dict[str, Any]:
    custody = Custody(clients.dynamodb, settings.claims_table)
    incident: Incident | None = None
    before, forged = "", ""
    if "incident_id" in payload:
        try:
            incident = Incident.from_dict(payload)
            replay = custody.check(incident, "record", execution)
        except ForgedInput as exc:
            incident, forged = None, str(exc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            incident, forged = None, f"not an incident record ({type(exc).__name__})"
        else:
            if replay is not None:  # a retry of a record step that already ran: what it returned
                return replay.output
            before = digest(incident)
    if incident is None and error is not None and not forged:
        incident = _committed(payload, clients, settings, execution)
        before = digest(incident) if incident is not None else ""
    if incident is None:
        if error is None:
            raise ForgedInput(forged or "the input is not an incident decided by triage")
        incident = _untrusted(payload, error, forged, execution)
    elif error is not None:
        incident_from_failure(incident, error, target_state(clients, settings))
    store = IncidentStore(clients.dynamodb, settings.incident_table)
    earlier = store.get(incident.incident_id)
    # the first time a record step records it: its message was never sent (every record step sends one, or tries)
    first = earlier is None or not any(n.get("kind", "incident") == "incident" for n in earlier.notifications)
    if earlier is not None:  # the triggers that joined it so far; on a retry, what was already sent
        incident.joined, incident.notifications = earlier.joined, earlier.notifications
        # what a later step wrote (the verification after the bake) stays: a late retry of this one never undoes it
        for later in ("verification", "recovered_at", "closed_at"):
            if getattr(incident, later) is None:
                setattr(incident, later, getattr(earlier, later))
    store.put(incident)  # recorded even if the message cannot be sent
    progress.recorded = True
    if before and incident.target:  # only a sealed incident's owner holds (and releases) a lock
        Locks(clients.dynamodb, settings.claims_table).unlock(incident.target, incident.owner)
    if notifier.wants(incident):
        notifier.send(incident, "incident", now)
        store.put(incident)
    out = incident.to_dict()
    out["verify"] = {
        "needed": incident.action == "rolled_back" and bool(alarms_of(incident)),
        "bake_seconds": notifier.channels.verify_bake_seconds,
    }
    if before:
        custody.reseal(before, "record", incident, out)
    # Not part of what a retry replays (resealed above): whether this call recorded it first (metrics count once).
    return {**out, RECORDED_NOW: first}
