"""Where the decision is made: act, ignore, dry-run or refuse, always with a reason.

Triage reads AWS but never changes it. Its output (an Incident with a Plan when the decision is "act")
is what the restore step executes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import events, targets
from .aws import Clients, error_code
from .config import Settings
from .model import Incident, Plan, Trigger, incident_id_for, iso, utcnow
from .store import Ledger

KILL_SWITCH_ON = "on"


class Refusal(Exception):
    """The controller will not act, and says exactly why."""


def _ignore(incident: Incident, reason: str) -> Incident:
    incident.decision = "ignore"
    incident.conclude("ignored", reason)
    return incident


def _refuse(incident: Incident, reason: str) -> Incident:
    incident.decision = "refuse"
    incident.conclude("refused", reason)
    return incident


def plan_lambda_alias(target: str, lambda_client: Any, ledger: Ledger) -> Plan:
    """The known-good rule for a Lambda alias (DESIGN.md). Raises Refusal when there is none."""
    match = targets.LAMBDA_ALIAS_ARN.match(target)
    if match is None:
        raise Refusal(f"{target} is not a Lambda alias ARN")
    function, alias_name = match["function"], match["alias"]
    try:
        alias = lambda_client.get_alias(FunctionName=function, Name=alias_name)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise Refusal(f"alias {function}:{alias_name} does not exist; nothing to roll back") from exc
        raise
    stable = str(alias["FunctionVersion"])
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if weights:
        canary = sorted(weights, key=lambda v: (len(v), v))[-1]
        if ledger.is_bad(target, stable):
            raise Refusal(
                f"alias {function}:{alias_name} is mid-canary from {stable} to {canary}, but the ledger marks "
                f"version {stable} bad; rollbackctl never rolls back into a known-bad version"
            )
        return Plan("lambda-alias", function, alias_name, canary, stable, alias["RevisionId"], "canary")
    good = ledger.known_good(target, stable)
    if good is None:
        raise Refusal(
            f"alias {function}:{alias_name} serves version {stable} with no canary routing, and the ledger "
            "holds no known-good version to return to; rollbackctl never guesses a version"
        )
    return Plan("lambda-alias", function, alias_name, stable, good.version, alias["RevisionId"], "repoint")


def describe_plan(plan: Plan) -> str:
    if plan.strategy == "canary":
        return (
            f"remove the canary routing of alias {plan.function_name}:{plan.alias} so version "
            f"{plan.from_version} gets no traffic and stable version {plan.to_version} gets all of it"
        )
    return (
        f"point alias {plan.function_name}:{plan.alias} back from version {plan.from_version} to "
        f"known-good version {plan.to_version}"
    )


def read_kill_switch_safely(read: Callable[[], str]) -> tuple[bool, str]:
    """(on, why). An unreadable kill switch counts as on: safety over cleverness."""
    try:
        value = read().strip().lower()
    except Exception as exc:
        return True, f"the kill switch could not be read ({type(exc).__name__}: {exc})"
    return value == KILL_SWITCH_ON, f"the kill switch is {value!r}"


def triage(
    event: Any,
    clients: Clients,
    settings: Settings,
    read_kill_switch: Callable[[], str],
    now: Callable[[], datetime] = utcnow,
) -> Incident:
    started = now()
    try:
        alarm = events.parse(event)
    except events.InvalidEvent as exc:
        raw_id = event.get("id") if isinstance(event, dict) else None
        event_id = raw_id if isinstance(raw_id, str) else ""
        trigger = Trigger(
            kind="unknown",
            name=events.describe(event)[:300],
            id=event_id[:128],
            state="",
            time=iso(started),
            event_id=event_id[:128],
        )
        incident = Incident(incident_id_for(trigger, started), trigger, iso(started))
        return _ignore(incident, f"malformed or unsupported event, nothing changed: {exc}")

    trigger = alarm.trigger()
    incident = Incident(incident_id_for(trigger, started), trigger, iso(started))
    if alarm.state != "ALARM":
        return _ignore(
            incident, f"alarm {alarm.name} moved to {alarm.state}; rollbackctl acts only on a transition into ALARM"
        )
    try:
        resolution = targets.resolve(alarm, clients.cloudwatch)
    except targets.InvalidTarget as exc:
        return _ignore(incident, f"alarm {alarm.name}: {exc}")
    if not resolution.targets:
        return _ignore(
            incident,
            f"alarm {alarm.name} guards no target: it has no {targets.TARGET_TAG} tag and "
            "its metrics name no Lambda alias or ECS service",
        )
    target = resolution.targets[0]
    incident.target = target
    if targets.kind_of(target) != "lambda-alias":
        return _refuse(
            incident,
            f"alarm {alarm.name} guards {target}; this version of rollbackctl rolls back "
            "Lambda aliases only, so nothing was changed",
        )

    function_arn = target.rsplit(":", 1)[0]
    try:
        target_tags = clients.lambda_.list_tags(Resource=function_arn).get("Tags", {})
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return _refuse(incident, f"alarm {alarm.name} guards {target}, which does not exist")
        raise
    mode, mode_source = targets.effective_mode(settings.mode, resolution.alarm_tags, target_tags)
    incident.mode = mode
    if mode == "off":
        return _ignore(incident, f"rollback is off for {target} ({mode_source})")

    ledger = Ledger(clients.dynamodb, settings.ledger_table)
    try:
        plan = plan_lambda_alias(target, clients.lambda_, ledger)
    except Refusal as exc:
        return _refuse(incident, str(exc))
    incident.plan, incident.from_version, incident.to_version = plan, plan.from_version, plan.to_version

    kill_on, kill_why = read_kill_switch_safely(read_kill_switch)
    if kill_on:
        return _refuse(incident, f"{kill_why}: no change made; would have had to {describe_plan(plan)}")
    if mode == "dry-run":
        incident.decision = "dry_run"
        incident.conclude("dry_run", f"dry run ({mode_source}): would {describe_plan(plan)}")
        return incident
    incident.decision = "act"
    incident.reason = f"alarm {alarm.name} fired: {describe_plan(plan)}"
    return incident
