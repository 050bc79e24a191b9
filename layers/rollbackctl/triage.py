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
from .claims import Claims
from .config import Settings
from .controls import read_kill_switch_safely
from .custody import Custody, seal_item
from .locks import Holder, Locks
from .model import Incident, PipelineRef, Plan, Trigger, incident_id_for, iso, parse_time, short_version, utcnow
from .plans import Refusal
from .store import IncidentStore, Ledger

describe_plan = plans.describe


def _ignore(incident: Incident, reason: str) -> Incident:
    incident.decision = "ignore"
    incident.conclude("ignored", reason)
    return incident


def _refuse(incident: Incident, reason: str) -> Incident:
    incident.decision = "refuse"
    incident.conclude("refused", reason)
    return incident


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


MANAGED_TAG = "rollback:managed"


def triage(
    event: Any,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    claims: Claims,
    owner: str,
    now: Callable[[], datetime] = utcnow,
) -> Incident:
    """Decide, then seal the decision for this execution (custody): the later steps act only on what is sealed.
    A decision to act is sealed together with the target's lock; a duplicate is not sealed (it ends there)."""
    incident = _decide(event, clients, settings, read_kill_switch, claims, owner, now)
    if incident.decision not in ("act", "duplicate"):
        Custody(clients.dynamodb, settings.claims_table).seal(incident)
    return incident


def _decide(
    event: Any,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    claims: Claims,
    owner: str,
    now: Callable[[], datetime],
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
        incident = Incident(incident_id_for(trigger, started), trigger, iso(started), owner=owner)
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
    if settings.target_opt_in == "tag" and tags.get(MANAGED_TAG, "").strip().lower() != "true":
        # Only the target's own tag enrols it: whoever may tag an alarm must not move traffic they could not.
        return _ignore(
            incident,
            f"{target} is not enrolled: the stack runs with TargetOptIn=tag and the target itself does not carry "
            f"the tag {MANAGED_TAG}=true (an alarm's tags cannot enrol a target); nothing was changed",
        )
    mode, mode_source = targets.effective_mode(settings.mode, alarm_tags, tags)
    incident.mode = mode
    if mode == "off":
        return _ignore(incident, f"rollback is off for {target} ({mode_source})")
    incident.pipeline = pipelines.from_tags(("alarm", alarm_tags), ("target", tags))

    ledger = Ledger(clients.dynamodb, settings.ledger_table)
    if isinstance(signal, events.ManualRollback):
        try:
            plan = _plan_manual(signal, clients, ledger)
        except Refusal as exc:
            return _refuse(incident, str(exc))
        incident.plan, incident.from_version, incident.to_version = plan, plan.from_version, plan.to_version
        forced = " (--force: the known-good rule was overridden)" if signal.force and signal.to_version else ""
        asked = f"rollback asked for by {signal.by} ({signal.why}){forced}"
        return _guard_and_act(incident, plan, asked, mode, mode_source, read_kill_switch, settings, clients)
    incidents = IncidentStore(clients.dynamodb, settings.incident_table)
    judged = _judge_by_history(signal, incident, clients, ledger, settings, now, incidents)
    if judged is not None:
        return judged
    locks = Locks(clients.dynamodb, settings.claims_table)
    holder = locks.lock_holder(target, owner)
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
    asked = f"{trigger.kind} {trigger.name} fired"
    return _guard_and_act(incident, plan, asked, mode, mode_source, read_kill_switch, settings, clients)


def _guard_and_act(
    incident: Incident,
    plan: Plan,
    asked: str,
    mode: str,
    mode_source: str,
    read_kill_switch: Callable[[], str],
    settings: Settings,
    clients: Clients,
) -> Incident:
    """The last guards, the same for an alarm, a deployment event and a rollback asked for by hand: the kill
    switch, dry run, the rate cap, then the target's lock (taken with the sealed decision)."""
    kill_on, kill_why = read_kill_switch_safely(read_kill_switch)
    if kill_on:
        return _refuse(incident, f"{kill_why}: no change made; would have had to {describe_plan(plan)}")
    if mode == "dry-run":
        incident.decision = "dry_run"
        incident.conclude("dry_run", f"dry run ({mode_source}): {asked}: would {describe_plan(plan)}")
        return incident
    locks = Locks(clients.dynamodb, settings.claims_table)
    if not locks.take_rate_slot(settings.rate_cap_count, settings.rate_cap_window_seconds, incident.incident_id):
        return _refuse(
            incident,
            f"rate cap reached: {settings.rate_cap_count} rollbacks already in this "
            f"{settings.rate_cap_window_seconds // 60}-minute window across the account; "
            f"paging instead of acting; would have had to {describe_plan(plan)}",
        )
    assert incident.target is not None
    incident.decision = "act"
    incident.reason = f"{asked}: {describe_plan(plan)}"
    holder = locks.lock(incident.target, incident.owner, incident.incident_id, seal=seal_item(incident))
    if holder is not None:
        return _refuse(
            incident,
            f"incident {holder.incident_id} is acting on {incident.target} right now (it holds "
            "the target's lock); rollbackctl acts on one deployment of a target at a time",
        )
    return incident


def _plan_manual(signal: events.ManualRollback, clients: Clients, ledger: Ledger) -> Plan:
    """An operator's rollback: the known-good rules of an alarm, or an explicit version of the target's own
    function or task-definition family (never $LATEST), known-good unless --force."""
    target = signal.target
    if not signal.to_version:
        return plans.plan_for(clients, target, ledger, target.split(":")[3], target.split(":")[4])
    plan = plans.plan_to_version(clients, target, signal.to_version)
    good = any(e.version == plan.to_version and e.status == "good" for e in ledger.entries(target))
    if not signal.force and (not good or ledger.is_bad(target, plan.to_version)):
        raise Refusal(
            f"{short_version(plan.to_version)} is not known-good for {target}; "
            "rollbackctl rollback --to VERSION --force overrides the known-good rule"
        )
    return plan
