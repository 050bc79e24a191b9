"""Where the decision is made: act, ignore, dry-run or refuse, always with a reason.

Triage reads AWS but never changes it. Its output (an Incident with a Plan when the decision is "act")
is what the restore step executes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import events, pipelines, plans, targets
from .aws import AWS_ERRORS, Clients, error_code
from .claims import Claims, Holder
from .config import Settings
from .model import Incident, PipelineRef, Trigger, incident_id_for, iso, parse_time, short_version, utcnow
from .plans import Refusal
from .store import IncidentStore, Ledger

KILL_SWITCH_ON = "on"
describe_plan = plans.describe


def _ignore(incident: Incident, reason: str) -> Incident:
    incident.decision = "ignore"
    incident.conclude("ignored", reason)
    return incident


def _refuse(incident: Incident, reason: str) -> Incident:
    incident.decision = "refuse"
    incident.conclude("refused", reason)
    return incident


def read_kill_switch_safely(read: Callable[[], str]) -> tuple[bool, str]:
    """(on, why). An unreadable kill switch counts as on: safety over cleverness."""
    try:
        value = read().strip().lower()
    except Exception as exc:
        return True, f"the kill switch could not be read ({type(exc).__name__}: {exc})"
    return value == KILL_SWITCH_ON, f"the kill switch is {value!r}"


def target_tags(clients: Clients, target: str) -> dict[str, str]:
    """Tags on the target resource (the function behind an alias, or the ECS service)."""
    if targets.kind_of(target) == "lambda-alias":
        return dict(clients.lambda_.list_tags(Resource=target.rsplit(":", 1)[0]).get("Tags", {}))
    response = clients.ecs.list_tags_for_resource(resourceArn=target)
    return {t["key"]: t["value"] for t in response.get("tags", [])}


def _target_of_signal(signal: events.Signal, clients: Clients, incident: Incident) -> tuple[str | None, dict[str, str]]:
    """(target, alarm tags) or (None, {}) with the incident already concluded."""
    if isinstance(signal, events.AlarmChange):
        if signal.state != "ALARM":
            _ignore(
                incident,
                f"alarm {signal.name} moved to {signal.state}; rollbackctl acts only on a transition into ALARM",
            )
            return None, {}
        try:
            resolution = targets.resolve(signal, clients.cloudwatch)
        except targets.InvalidTarget as exc:
            _ignore(incident, f"alarm {signal.name}: {exc}")
            return None, {}
        if not resolution.targets:
            _ignore(
                incident,
                f"alarm {signal.name} guards no target: it has no {targets.TARGET_TAG} tag and "
                "its metrics name no Lambda alias or ECS service",
            )
            return None, {}
        return resolution.targets[0], resolution.alarm_tags
    if isinstance(signal, events.EcsDeploymentFailure):
        if signal.event_name != "SERVICE_DEPLOYMENT_FAILED":
            _ignore(incident, f"ECS reported {signal.event_name}; rollbackctl acts on SERVICE_DEPLOYMENT_FAILED")
            return None, {}
        return signal.service_arn, {}
    if isinstance(signal, events.CodeDeployFailure):
        return _target_of_codedeploy(signal, clients, incident), {}
    if isinstance(signal, events.ManualRollback):
        if targets.kind_of(signal.target) is None:
            _refuse(incident, f"{signal.target[:300]} is neither a Lambda alias ARN nor an ECS service ARN")
            return None, {}
        return signal.target, {}
    # A pipeline that failed has stopped itself: record it (diagnosis reads it), change nothing.
    _ignore(
        incident,
        f"pipeline {signal.pipeline} execution {signal.execution_id} {signal.state.lower()}"
        f"{' at ' + signal.stage if signal.stage else ''}"
        f"{'/' + signal.action if signal.action else ''}"
        f"{' (' + signal.error_code + ')' if signal.error_code else ''}: "
        "it has already stopped, so rollbackctl stops nothing; no deployed target to roll back",
    )
    incident.pipeline = PipelineRef(signal.pipeline, signal.stage or None, "the event")
    return None, {}


def _target_of_codedeploy(signal: events.CodeDeployFailure, clients: Clients, incident: Incident) -> str | None:
    try:
        deployment = clients.codedeploy.get_deployment(deploymentId=signal.deployment_id)["deploymentInfo"]
    except AWS_ERRORS as exc:
        if error_code(exc) == "DeploymentDoesNotExistException":
            _refuse(incident, f"CodeDeploy deployment {signal.deployment_id} does not exist")
            return None
        raise
    rollback = deployment.get("rollbackInfo") or {}
    if rollback.get("rollbackDeploymentId"):
        _ignore(
            incident,
            f"CodeDeploy deployment {signal.deployment_id} ended {signal.state} and CodeDeploy "
            f"already rolled it back (deployment {rollback['rollbackDeploymentId']})",
        )
        return None
    region, account = signal.envelope.region, signal.envelope.account
    if deployment.get("computePlatform") == "Lambda":
        found = plans.lambda_target_of(deployment, region, account)
        target = found[0] if found else None
    else:
        target = plans.ecs_target_of(clients, deployment, region, account)
    if target is None:
        _refuse(
            incident,
            f"CodeDeploy deployment {signal.deployment_id} ended {signal.state} without rollback, "
            "and its target could not be read from it; nothing was changed",
        )
    return target


def _duplicate(incident: Incident, holder: Holder, what: str, joins: IncidentStore | None = None) -> Incident:
    """Already handled. A different trigger for the same deployment (``joins``) joins the holder's incident."""
    incident.decision = "duplicate"
    incident.reason = f"duplicate: {what} is already handled by incident {holder.incident_id} ({holder.owner})"
    if joins is not None and holder.incident_id.startswith("inc-"):
        joins.join(holder.incident_id, incident.trigger)
    return incident


def _judge_by_history(
    signal: events.Signal,
    incident: Incident,
    clients: Clients,
    ledger: Ledger,
    settings: Settings,
    now: Callable[[], datetime],
    incidents: IncidentStore,
) -> Incident | None:
    """What the target's history says: part of an incident already handled, a restored version alarming
    again (no loops), an alarm older than the deployment, or a deployment past the watch window."""
    trigger, target = incident.trigger, incident.target or ""
    last = ledger.last_restore(target)
    if last is not None and parse_time(trigger.time) <= parse_time(last.restored_at):
        # Fired before rollbackctl put the target back: part of the incident already handled.
        return _duplicate(
            incident,
            Holder("an earlier execution", last.incident_id),
            f"{trigger.kind} {trigger.name} (it fired before {target} was restored at {last.restored_at})",
            incidents,
        )
    if last is not None and plans.serving(clients, target) == last.version:
        return _refuse(
            incident,
            f"{target} still serves version {short_version(last.version)}, which incident "
            f"{last.incident_id} restored at {last.restored_at}, and it alarms again: the "
            "deployment is not the suspect, so rollbackctl pages a human instead of rolling "
            "back again (no loops)",
        )
    deployment = ledger.latest_deployment(target)
    if isinstance(signal, events.AlarmChange) and deployment is not None:
        began = f"the deployment of {short_version(deployment.version)} began at {deployment.started_at}"
        if parse_time(trigger.time) < parse_time(deployment.started_at):
            return _ignore(
                incident,
                f"alarm {signal.name} went to ALARM at {trigger.time}, before {began}: an alarm "
                "that was already red neither blocks the deployment nor reverts it",
            )
        age = (now() - parse_time(deployment.started_at)).total_seconds()
        if age > settings.watch_window_seconds:
            return _refuse(
                incident,
                f"{began} on {target}, {int(age)} s ago, past the {settings.watch_window_seconds}"
                " s watch window: the deployment is not the suspect any more, so rollbackctl "
                "pages a human instead of rolling back",
            )
    return None


def triage(
    event: Any,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    claims: Claims,
    owner: str,
    now: Callable[[], datetime] = utcnow,
) -> Incident:
    started = now()
    try:
        signal = events.parse(event)
    except events.InvalidEvent as exc:
        raw_id = event.get("id") if isinstance(event, dict) else None
        event_id = raw_id[:128] if isinstance(raw_id, str) else ""
        trigger = Trigger(
            kind="unknown",
            name=events.describe(event)[:300],
            id=event_id,
            state="",
            time=iso(started),
            event_id=event_id,
        )
        incident = Incident(incident_id_for(trigger, started), trigger, iso(started))
        return _ignore(incident, f"malformed or unsupported event, nothing changed: {exc}")

    trigger = signal.trigger()
    incident = Incident(incident_id_for(trigger, started), trigger, iso(started), owner=owner)
    holder = claims.claim(
        f"trigger#{trigger.kind}#{trigger.id}#{trigger.state}#{trigger.time}", owner, incident.incident_id
    )
    if holder is not None:
        return _duplicate(incident, holder, f"{trigger.kind} {trigger.name} -> {trigger.state} at {trigger.time}")
    target, alarm_tags = _target_of_signal(signal, clients, incident)
    if target is None:
        return incident
    incident.target = target
    try:
        tags = target_tags(clients, target)
    except AWS_ERRORS as exc:
        if error_code(exc) in (
            "ResourceNotFoundException",
            "ServiceNotFoundException",
            "ClusterNotFoundException",
            "InvalidParameterException",
        ):
            return _refuse(incident, f"{trigger.kind} {trigger.name} points at {target}, which does not exist")
        raise
    mode, mode_source = targets.effective_mode(settings.mode, alarm_tags, tags)
    incident.mode = mode
    if mode == "off":
        return _ignore(incident, f"rollback is off for {target} ({mode_source})")
    incident.pipeline = pipelines.from_tags(("alarm", alarm_tags), ("target", tags))

    ledger = Ledger(clients.dynamodb, settings.ledger_table)
    if isinstance(signal, events.ManualRollback):
        return _decide_manual(signal, incident, clients, ledger, read_kill_switch, mode, mode_source, claims)
    incidents = IncidentStore(clients.dynamodb, settings.incident_table)
    judged = _judge_by_history(signal, incident, clients, ledger, settings, now, incidents)
    if judged is not None:
        return judged
    holder = claims.lock_holder(target, owner)
    if holder is not None:  # an incident is in progress on this target: this alarm is part of it
        return _duplicate(incident, holder, f"{trigger.kind} {trigger.name} on {target}", incidents)
    region, account = target.split(":")[3], target.split(":")[4]
    try:
        plan = plans.plan_for(clients, target, ledger, region, account)
    except Refusal as exc:
        return _refuse(incident, str(exc))
    incident.plan, incident.from_version, incident.to_version = plan, plan.from_version, plan.to_version
    holder = claims.claim(f"deployment#{plan.target}#{plan.from_version}", owner, incident.incident_id)
    if holder is not None:
        return _duplicate(incident, holder, f"the deployment of {plan.from_version} on {target}", incidents)

    kill_on, kill_why = read_kill_switch_safely(read_kill_switch)
    if kill_on:
        return _refuse(incident, f"{kill_why}: no change made; would have had to {describe_plan(plan)}")
    if mode == "dry-run":
        incident.decision = "dry_run"
        incident.conclude("dry_run", f"dry run ({mode_source}): would {describe_plan(plan)}")
        return incident
    if not claims.take_rate_slot(settings.rate_cap_count, settings.rate_cap_window_seconds, incident.incident_id):
        return _refuse(
            incident,
            f"rate cap reached: {settings.rate_cap_count} automatic rollbacks already in this "
            f"{settings.rate_cap_window_seconds // 60}-minute window across the account; "
            f"paging instead of acting; would have had to {describe_plan(plan)}",
        )
    return _act(incident, claims, f"{trigger.kind} {trigger.name} fired: {describe_plan(plan)}")


def _act(incident: Incident, claims: Claims, reason: str) -> Incident:
    assert incident.target is not None
    holder = claims.lock(incident.target, incident.owner, incident.incident_id)
    if holder is not None:
        return _refuse(
            incident,
            f"incident {holder.incident_id} is acting on {incident.target} right now (it holds "
            "the target's lock); rollbackctl acts on one deployment of a target at a time",
        )
    incident.decision = "act"
    incident.reason = reason
    return incident


def _decide_manual(
    signal: events.ManualRollback,
    incident: Incident,
    clients: Clients,
    ledger: Ledger,
    read_kill_switch: Callable[[], str],
    mode: str,
    mode_source: str,
    claims: Claims,
) -> Incident:
    """Same safety rules as an alarm (mode, kill switch, lock, known-good), except what --force overrides."""
    target = signal.target
    try:
        if signal.to_version:
            plan = plans.plan_to_version(clients, target, signal.to_version)
            good = any(e.version == plan.to_version and e.status == "good" for e in ledger.entries(target))
            if not signal.force and (not good or ledger.is_bad(target, plan.to_version)):
                return _refuse(
                    incident,
                    f"{short_version(plan.to_version)} is not known-good for {target}; "
                    "rollbackctl rollback --to VERSION --force overrides the known-good rule",
                )
        else:
            plan = plans.plan_for(clients, target, ledger, target.split(":")[3], target.split(":")[4])
    except Refusal as exc:
        return _refuse(incident, str(exc))
    incident.plan, incident.from_version, incident.to_version = plan, plan.from_version, plan.to_version
    kill_on, kill_why = read_kill_switch_safely(read_kill_switch)
    if kill_on:
        return _refuse(incident, f"{kill_why}: no change made; would have had to {describe_plan(plan)}")
    forced = " (--force: the known-good rule was overridden)" if signal.force and signal.to_version else ""
    asked = f"rollback asked for by {signal.by} ({signal.why}){forced}"
    if mode == "dry-run":
        incident.decision = "dry_run"
        incident.conclude("dry_run", f"dry run ({mode_source}): {asked}: would {describe_plan(plan)}")
        return incident
    return _act(incident, claims, f"{asked}: {describe_plan(plan)}")
