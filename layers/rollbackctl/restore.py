"""Where AWS is changed: put traffic back on the known-good version, then stop the pipeline shipping it.

Nothing slow happens here. Every traffic change is read back before the incident says it is done.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import pipelines, plans
from .aws import AWS_ERRORS, Clients, error_code
from .config import Settings
from .controls import read_kill_switch_safely
from .custody import Custody, digest
from .locks import lock_key
from .model import Incident, Plan, iso, parse_time, short_version, utcnow
from .plans import describe, weighted_forwards
from .store import IncidentStore, Ledger

MAX_DECISIONS = 3  # a conflicting change is re-read and re-decided at most this often
GONE = (
    "ResourceNotFoundException",
    "ServiceNotFoundException",
    "ClusterNotFoundException",
    "DeploymentDoesNotExistException",
    "ListenerNotFound",
    "RuleNotFound",
)


class RestoreIncomplete(RuntimeError):
    """The mutating call returned, but reading the target back shows traffic is not where it should be."""


def _alias(clients: Clients, target: str) -> tuple[str, dict[str, float]]:
    function, name = target.split(":function:", 1)[1].split(":", 1)
    alias = clients.lambda_.get_alias(FunctionName=function, Name=name)
    return str(alias["FunctionVersion"]), (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def _shift_alias(clients: Clients, plan: Plan) -> None:
    clients.lambda_.update_alias(
        FunctionName=plan.details["function_name"],
        Name=plan.details["alias"],
        FunctionVersion=plan.to_version,
        RoutingConfig={"AdditionalVersionWeights": {}},
        RevisionId=plan.details["revision_id"],
    )


def _ecs_primary(clients: Clients, plan: Plan) -> str:
    cluster, service = plan.target.split(":service/", 1)[1].split("/", 1)
    described = clients.ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    if described.get("taskSets"):  # blue/green: the PRIMARY task set serves production traffic
        return str(next((s["taskDefinition"] for s in described["taskSets"] if s.get("status") == "PRIMARY"), ""))
    return str(next((d["taskDefinition"] for d in described.get("deployments", []) if d["status"] == "PRIMARY"), ""))


def _stop_codedeploy(clients: Clients, plan: Plan) -> None:
    try:
        clients.codedeploy.stop_deployment(deploymentId=plan.details["deployment_id"], autoRollbackEnabled=True)
    except AWS_ERRORS as exc:
        # Finished in the meantime: what matters is where traffic is now, which is read back next.
        if error_code(exc) != "DeploymentAlreadyCompletedException":
            raise


def _forward_actions(weights: dict[str, int], bad: str) -> list[dict[str, Any]]:
    groups = [{"TargetGroupArn": g, "Weight": 0 if g == bad else w} for g, w in weights.items()]
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]


def _shift_alb(clients: Clients, plan: Plan) -> None:
    for forward in json.loads(plan.details["forwards"]):
        actions = _forward_actions(forward["weights"], plan.from_version)
        if forward["kind"] == "listener":
            clients.elbv2.modify_listener(ListenerArn=forward["arn"], DefaultActions=actions)
        else:
            clients.elbv2.modify_rule(RuleArn=forward["arn"], Actions=actions)


def shift_traffic(clients: Clients, plan: Plan) -> None:
    if plan.strategy in ("canary", "repoint"):
        _shift_alias(clients, plan)
    elif plan.strategy == "alb-weights":
        _shift_alb(clients, plan)
    elif plan.strategy == "ecs-rolling":
        clients.ecs.update_service(
            cluster=plan.details["cluster"], service=plan.details["service"], taskDefinition=plan.to_version
        )
    else:
        _stop_codedeploy(clients, plan)


def read_back(clients: Clients, plan: Plan) -> None:
    if plan.kind == "lambda-alias":
        version, weights = _alias(clients, plan.target)
        if version != plan.to_version or weights:
            raise RestoreIncomplete(
                f"{plan.target} reads back as version {version} with routing {weights}, "
                f"expected {plan.to_version} alone"
            )
        return
    if plan.strategy == "alb-weights":
        still = weighted_forwards(clients, plan.from_version)
        if still:
            raise RestoreIncomplete(f"{short_version(plan.from_version)} still takes ALB traffic: {still}")
        return
    primary = _ecs_primary(clients, plan)
    if primary != plan.to_version:
        raise RestoreIncomplete(
            f"{plan.target} reads back serving {short_version(primary)}, expected {short_version(plan.to_version)}"
        )


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
    _restore(incident, plan, clients, settings, read_kill_switch, now)
    custody.reseal(before, "restore", incident)
    return incident


def _restore(
    incident: Incident,
    plan: Plan,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    now: Callable[[], datetime],
) -> None:
    assert incident.target is not None
    # Checked again right before the mutating calls: a kill switch set after triage still holds.
    kill_on, kill_why = read_kill_switch_safely(read_kill_switch)
    if kill_on:
        incident.decision = "refuse"
        incident.conclude("refused", f"{kill_why}: no change made; would have had to {describe(plan)}")
        return

    # Audit first: the record says what is about to change before it changes.
    IncidentStore(clients.dynamodb, settings.incident_table).put(incident)
    ledger = Ledger(clients.dynamodb, settings.ledger_table)
    for attempt in range(1, MAX_DECISIONS + 1):
        try:
            shift_traffic(clients, plan)
            break
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in GONE:
                incident.decision = "refuse"
                incident.conclude(
                    "refused", f"{plan.target} disappeared before it could be restored ({code}); nothing was changed"
                )
                return
            if code != "PreconditionFailedException" or attempt == MAX_DECISIONS:
                raise
            # Someone changed the alias since triage read it: read it again and decide again.
            try:
                plan = plans.plan_lambda_alias(clients, plan.target, ledger)
            except plans.Refusal as refusal:
                incident.decision = "refuse"
                incident.conclude(
                    "refused", f"the alias changed while rollbackctl was acting; decided again: {refusal}"
                )
                return
            incident.plan, incident.from_version, incident.to_version = plan, plan.from_version, plan.to_version
            incident.record_step("restore", "skipped", f"the alias changed since triage ({code}); decided again")
    read_back(clients, plan)
    restored = now()
    incident.restored_at = iso(restored)
    incident.time_to_restore_ms = max(0, int((restored - parse_time(incident.started_at)).total_seconds() * 1000))
    incident.record_step("restore", "done", describe(plan))
    incident.conclude("rolled_back", f"{incident.reason}; done")

    ledger.record(incident.target, plan.from_version, "bad", f"rolled back by {incident.incident_id}")
    ledger.record(incident.target, plan.to_version, "good", f"restored by {incident.incident_id}")
    ledger.record_restore(incident.target, plan.to_version, incident.incident_id, incident.restored_at)
    pipelines.stop_in_flight(clients, incident)
