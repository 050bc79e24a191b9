"""Where AWS is changed: put traffic back on the known-good version. Nothing slow happens here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .aws import Clients
from .config import Settings
from .model import Incident, iso, parse_time, utcnow
from .store import IncidentStore, Ledger
from .triage import describe_plan, read_kill_switch_safely


class RestoreIncomplete(RuntimeError):
    """The mutating call returned, but reading the target back shows traffic is not where it should be."""


def restore(
    incident: Incident,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    now: Callable[[], datetime] = utcnow,
) -> Incident:
    plan = incident.plan
    if incident.decision != "act" or plan is None or incident.target is None:
        raise ValueError(f"incident {incident.incident_id} has no plan to execute (decision {incident.decision})")
    # Checked again right before the only mutating call: a kill switch set after triage still holds.
    kill_on, kill_why = read_kill_switch_safely(read_kill_switch)
    if kill_on:
        incident.decision = "refuse"
        incident.conclude("refused", f"{kill_why}: no change made; would have had to {describe_plan(plan)}")
        return incident

    # Audit first: the record says what is about to change before it changes.
    store = IncidentStore(clients.dynamodb, settings.incident_table)
    store.put(incident)
    clients.lambda_.update_alias(
        FunctionName=plan.function_name,
        Name=plan.alias,
        FunctionVersion=plan.to_version,
        RoutingConfig={"AdditionalVersionWeights": {}},
        RevisionId=plan.revision_id,
    )
    alias = clients.lambda_.get_alias(FunctionName=plan.function_name, Name=plan.alias)
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if str(alias["FunctionVersion"]) != plan.to_version or weights:
        raise RestoreIncomplete(
            f"alias {plan.function_name}:{plan.alias} reads back as version {alias['FunctionVersion']} "
            f"with routing {weights}, expected {plan.to_version} alone"
        )
    restored = now()
    incident.restored_at = iso(restored)
    incident.time_to_restore_ms = max(0, int((restored - parse_time(incident.started_at)).total_seconds() * 1000))
    incident.conclude("rolled_back", f"{incident.reason}; done")

    ledger = Ledger(clients.dynamodb, settings.ledger_table)
    ledger.record(incident.target, plan.from_version, "bad", f"rolled back by {incident.incident_id}")
    ledger.record(incident.target, plan.to_version, "good", f"restored by {incident.incident_id}")
    return incident


def verify_target_state(clients: Clients, incident: Incident) -> dict[str, Any]:
    """What the target looks like now (for tests, the CLI and the demo)."""
    plan = incident.plan
    if plan is None:
        return {}
    alias = clients.lambda_.get_alias(FunctionName=plan.function_name, Name=plan.alias)
    return {"FunctionVersion": alias["FunctionVersion"], "RoutingConfig": alias.get("RoutingConfig") or {}}
