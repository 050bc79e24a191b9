"""Where AWS is changed: put traffic back on the known-good version, then stop the pipeline shipping it.

Nothing slow happens here. The change is whatever the target's kind does (``kinds``); every change is read back
before the incident says it is done. A change that takes time (a rollback deployment, a stack rolling back) is
read back by the workflow: Restore returns with ``restoring`` set, and the workflow waits and calls this step
again until the read-back shows the change finished, within ``RestoreTimeoutSeconds``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from . import accounts, kinds, pipelines
from .aws import AWS_ERRORS, Clients, error_code
from .config import Settings
from .controls import read_kill_switch_safely
from .custody import Custody, digest
from .kinds import Refusal, RestoreIncomplete
from .locks import lock_key
from .model import Incident, Plan, iso, parse_time, utcnow
from .store import Ledger

__all__ = ["RestoreIncomplete", "RestoreTimedOut", "restore"]

MAX_DECISIONS = 3  # a conflicting change is re-read and re-decided at most this often


class RestoreTimedOut(RuntimeError):
    """The change was made, but the read-back did not show it finished within RestoreTimeoutSeconds."""


def restore(
    incident: Incident,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    execution: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> Incident:
    """Execute the plan sealed by this execution's triage (nothing else), read it back, reseal the outcome."""
    plan = incident.plan
    if incident.decision != "act" or plan is None or incident.target is None:
        raise ValueError(f"incident {incident.incident_id} has no plan to execute (decision {incident.decision})")
    custody = Custody(clients.dynamodb, settings.claims_table)
    # One consistent read: the plan is what triage sealed for this execution, which still holds the target's lock.
    replay = custody.check(incident, "restore", execution, lock=lock_key(incident.target))
    if replay is not None:  # a retry of a restore that already ran: its outcome, not a second change
        return Incident.from_dict(replay.output)
    before = digest(incident)
    acting = accounts.for_incident(clients, settings, incident)  # the target's own account and region
    if incident.restoring:
        _read_again(incident, plan, acting, settings, read_kill_switch, now)
    else:
        _restore(incident, plan, acting, settings, read_kill_switch, now)
    custody.reseal(before, "restore", incident)
    return incident


def _refused(incident: Incident, reason: str) -> None:
    incident.decision = "refuse"
    incident.conclude("refused", reason)


def _restore(
    incident: Incident,
    plan: Plan,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    now: Callable[[], datetime],
) -> None:
    kind = kinds.of(plan.kind)
    # Checked again right before the mutating calls: a kill switch set after triage still holds.
    kill_on, kill_why = read_kill_switch_safely(read_kill_switch, accounts.member_kill_switch(clients))
    if kill_on:
        _refused(incident, f"{kill_why}: no change made; would have had to {kind.describe(plan)}")
        return

    # Audit first: the record already says what is about to change (triage wrote it with the decision).
    ledger = Ledger(clients.dynamodb, settings.ledger_table)
    started = ""
    for attempt in range(1, MAX_DECISIONS + 1):
        try:
            started = kind.apply(clients, plan) or ""
            break
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in kind.gone:
                _refused(
                    incident, f"{plan.target} disappeared before it could be restored ({code}); nothing was changed"
                )
                return
            if code not in kind.conflict or attempt == MAX_DECISIONS:
                raise
            # Someone changed the target since triage read it: read it again and decide again.
            target = kinds.parse(plan.target)
            assert target is not None
            try:
                plan = kind.plan(clients, target, ledger)
                kind.restorable(clients, plan)
            except Refusal as refusal:
                _refused(incident, f"{target.name} changed while rollbackctl was acting; decided again: {refusal}")
                return
            incident.plan, incident.from_version, incident.to_version = plan, plan.from_version, plan.to_version
            incident.record_step("restore", "skipped", f"{target.name} changed since triage ({code}); decided again")
    state = kind.read_back(clients, plan)
    if state == "next":  # its first step finished at once: the next follows now (the kill switch was just read)
        started = kind.apply(clients, plan) or started
        state = kind.read_back(clients, plan)
    if state != "done":
        since = now()
        until = since + timedelta(seconds=settings.restore_timeout_seconds)
        incident.restoring = {"since": iso(since), "until": iso(until), "poll_seconds": kind.poll_seconds}
        note = started or f"{kind.describe(plan)}: under way"
        incident.record_step("restore", "started", f"{note}; read back until it finishes")
        return
    _restored(incident, plan, clients, ledger, now)


def _read_again(
    incident: Incident,
    plan: Plan,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    now: Callable[[], datetime],
) -> None:
    """The workflow's next read-back of a change that takes time: done, its next step, still under way, or out of
    time (RestoreTimeoutSeconds bounds the whole change, every step of it)."""
    assert incident.restoring is not None
    kind = kinds.of(plan.kind)
    state = kind.read_back(clients, plan)
    if state == "done":
        incident.restoring = None
        _restored(incident, plan, clients, Ledger(clients.dynamodb, settings.ledger_table), now)
        return
    if state == "next":
        # Another mutating call: the kill switch holds here as before the first one.
        kill_on, kill_why = read_kill_switch_safely(read_kill_switch, accounts.member_kill_switch(clients))
        if kill_on:
            raise RestoreIncomplete(
                f"{kill_why}: the first step of the change was made, the next was not; a human must finish or undo "
                f"it: {kind.describe(plan)}"
            )
        note = kind.apply(clients, plan) or f"{kind.describe(plan)}: next step under way"
        incident.record_step("restore", "started", f"{note}; read back until it finishes")
        return
    if now() >= parse_time(str(incident.restoring["until"])):
        raise RestoreTimedOut(
            f"{plan.target}: the change started at {incident.restoring['since']} had not finished by "
            f"{incident.restoring['until']} (RestoreTimeoutSeconds={settings.restore_timeout_seconds}); "
            "a human must look at it now"
        )


def _restored(incident: Incident, plan: Plan, clients: Clients, ledger: Ledger, now: Callable[[], datetime]) -> None:
    """Read back as done: the record, the ledger (in the kind's own versions), then the pipeline."""
    assert incident.target is not None
    kind = kinds.of(plan.kind)
    restored = now()
    incident.restored_at = iso(restored)
    incident.time_to_restore_ms = max(0, int((restored - parse_time(incident.started_at)).total_seconds() * 1000))
    incident.record_step("restore", "done", kind.describe(plan))
    incident.conclude("rolled_back", f"{incident.reason}; done")
    versions = kind.versions(plan)
    if versions is not None:  # under the plan's target: the pipeline's, when its stage went back for the target
        bad, good = versions
        ledger.record(plan.target, bad, "bad", f"rolled back by {incident.incident_id}")
        ledger.record(plan.target, good, "good", f"restored by {incident.incident_id}")
        # What the bad version brought with it (a pipeline's source revisions), as the kind names them: bad too.
        for artifact in json.loads(plan.details.get("bad_artifacts") or "[]"):
            ledger.record(plan.target, str(artifact), "bad", f"shipped in {bad}, rolled back by {incident.incident_id}")
    ledger.record_restore(incident.target, plan.to_version, incident.incident_id, incident.restored_at)
    pipelines.stop_in_flight(clients, incident)
