"""Which deployed target a signal names (the target-mapping contract in DESIGN.md), through the kinds' registry.

An alarm: a ``rollback:target`` tag wins over metric dimensions; composite and metric-math alarms resolve
through their tag or through the metrics they contain. A deployment event: the service it reports, or the target
of the CodeDeploy deployment it reports. A manual rollback: the ARN the operator named. This module is the one
match on the kind of *signal*; which kind of *target* it names is the registry's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import events, kinds
from .aws import AWS_ERRORS, Clients, error_code
from .events import AlarmChange
from .kinds import Target
from .tags import MODE_TAG, PIPELINE_TAG, TAG_MODES, TARGET_TAG, effective_mode

__all__ = [
    "MODE_TAG",
    "PIPELINE_TAG",
    "TAG_MODES",
    "TARGET_TAG",
    "Concluded",
    "InvalidTarget",
    "Resolution",
    "effective_mode",
    "resolve",
    "resolve_signal",
    "targets_from_event_metrics",
]

# ALARM("name"), ALARM(name), OK(...), INSUFFICIENT_DATA(...) in a composite alarm rule
RULE_CHILD = re.compile(r'\b(?:ALARM|OK|INSUFFICIENT_DATA)\(\s*"?([^")]+?)"?\s*\)')
MAX_COMPOSITE_DEPTH = 3


class InvalidTarget(ValueError):
    """A ``rollback:target`` tag whose value is no target kind's ARN."""


@dataclass
class Resolution:
    targets: list[str] = field(default_factory=list)
    source: str = ""  # "tag", "dimensions", "composite" or "" when nothing is guarded
    alarm_tags: dict[str, str] = field(default_factory=dict)


def checked_target(arn: str) -> str:
    target = kinds.parse(arn)
    if target is None:
        raise InvalidTarget(f"tag {TARGET_TAG}={arn[:300]!r} is not {kinds.labels()}")
    return target.arn


def _dimensions(raw: Any) -> dict[str, str]:
    """Dimensions come as an object in events and as [{Name, Value}] from DescribeAlarms."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(d.get("Name")): str(d.get("Value")) for d in raw if isinstance(d, dict)}
    return {}


def _from_metric(namespace: Any, dimensions: Any, region: str, account: str, clients: Clients | None) -> str | None:
    """The target a metric names: directly (its dimensions), else through AWS when clients are given."""
    space, dims = str(namespace or ""), _dimensions(dimensions)
    target = kinds.from_metric(space, dims, region, account)
    if target is None and clients is not None:
        target = kinds.find(clients, space, dims, region, account)
    return target.arn if target else None


def targets_from_event_metrics(
    metrics: list[dict[str, Any]], region: str, account: str, clients: Clients | None = None
) -> list[str]:
    found: list[str] = []
    for entry in metrics:
        stat = entry.get("metricStat")
        metric = stat.get("metric") if isinstance(stat, dict) else None
        if not isinstance(metric, dict):
            continue  # a metric-math expression, or something malformed: it names no target
        arn = _from_metric(metric.get("namespace"), metric.get("dimensions"), region, account, clients)
        if arn and arn not in found:
            found.append(arn)
    return found


def _tags(cloudwatch: Any, arn: str) -> dict[str, str]:
    try:
        response = cloudwatch.list_tags_for_resource(ResourceARN=arn)
    except AWS_ERRORS as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return {}  # the alarm was deleted since it fired: resolve through its metrics alone
        raise
    return {t["Key"]: t["Value"] for t in response.get("Tags", [])}


def _targets_of_described_alarm(
    cloudwatch: Any, alarm: dict[str, Any], region: str, account: str, depth: int, clients: Clients | None
) -> list[str]:
    tags = _tags(cloudwatch, alarm["AlarmArn"])
    if TARGET_TAG in tags:
        return [checked_target(tags[TARGET_TAG])]
    if "AlarmRule" in alarm:
        return _targets_of_rule(cloudwatch, alarm["AlarmRule"], region, account, depth + 1, clients)
    if alarm.get("Namespace"):
        arn = _from_metric(alarm["Namespace"], alarm.get("Dimensions"), region, account, clients)
        return [arn] if arn else []
    found: list[str] = []
    for query in alarm.get("Metrics", []):
        metric = (query.get("MetricStat") or {}).get("Metric") or {}
        arn = _from_metric(metric.get("Namespace"), metric.get("Dimensions"), region, account, clients)
        if arn and arn not in found:
            found.append(arn)
    return found


def of_described_alarm(
    cloudwatch: Any, alarm: dict[str, Any], clients: Clients | None = None
) -> tuple[list[str], dict[str, str]]:
    """The targets an alarm as DescribeAlarms returns it guards, and its tags (InvalidTarget for a tag that names no
    valid target): what ``status`` and ``lint`` read, by the rules triage resolves a firing alarm with."""
    parts = str(alarm["AlarmArn"]).split(":")
    region, account = parts[3], parts[4]
    return _targets_of_described_alarm(cloudwatch, alarm, region, account, 1, clients), _tags(
        cloudwatch, alarm["AlarmArn"]
    )


def _targets_of_rule(
    cloudwatch: Any, rule: str, region: str, account: str, depth: int, clients: Clients | None
) -> list[str]:
    if depth > MAX_COMPOSITE_DEPTH:
        return []
    names = [n.rsplit(":alarm:", 1)[-1] for n in RULE_CHILD.findall(rule)]
    if not names:
        return []
    described = cloudwatch.describe_alarms(AlarmNames=names[:100], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    found: list[str] = []
    for alarm in described.get("MetricAlarms", []) + described.get("CompositeAlarms", []):
        for arn in _targets_of_described_alarm(cloudwatch, alarm, region, account, depth, clients):
            if arn not in found:
                found.append(arn)
    return found


def resolve(alarm: AlarmChange, cloudwatch: Any, clients: Clients | None = None) -> Resolution:
    """The targets an alarm guards. Raises InvalidTarget for a tag that names no valid target. With ``clients``,
    metrics that name a target only through AWS (an Auto Scaling group, an environment name) resolve too. The alarm's
    tags come from the event when it carries them (tag propagation), and are looked up otherwise."""
    tags = alarm.tags if alarm.tags is not None else _tags(cloudwatch, alarm.arn)
    if TARGET_TAG in tags:
        return Resolution([checked_target(tags[TARGET_TAG])], "tag", tags)
    found = targets_from_event_metrics(alarm.metrics, alarm.region, alarm.account, clients)
    if found:
        return Resolution(found, "dimensions", tags)
    if alarm.alarm_rule:
        found = _targets_of_rule(cloudwatch, alarm.alarm_rule, alarm.region, alarm.account, 1, clients)
        if found:
            return Resolution(found, "composite", tags)
    return Resolution([], "", tags)


@dataclass
class Concluded:
    """The signal names no target to act on; ``action`` and ``reason`` say what the incident records."""

    action: str  # "ignore" | "refuse"
    reason: str


@dataclass
class Named:
    target: Target
    alarm_tags: dict[str, str] = field(default_factory=dict)


def resolve_signal(signal: events.Signal, clients: Clients) -> Named | Concluded:
    """The target a signal names (with the alarm's tags), or why there is none."""
    if isinstance(signal, events.AlarmChange):
        if signal.state != "ALARM":
            return Concluded(
                "ignore",
                f"alarm {signal.name} moved to {signal.state}; rollbackctl acts only on a transition into ALARM",
            )
        try:
            resolution = resolve(signal, clients.cloudwatch, clients)
        except InvalidTarget as exc:
            return Concluded("ignore", f"alarm {signal.name}: {exc}")
        if not resolution.targets:
            return Concluded(
                "ignore",
                f"alarm {signal.name} guards no target: it has no {TARGET_TAG} tag and its metrics name no "
                f"target rollbackctl knows ({kinds.labels()})",
            )
        target = kinds.parse(resolution.targets[0])
        assert target is not None  # resolve() returns only parsed ARNs
        return Named(target, resolution.alarm_tags)
    if isinstance(signal, events.EcsDeploymentFailure):
        if signal.event_name != "SERVICE_DEPLOYMENT_FAILED":
            return Concluded(
                "ignore", f"ECS reported {signal.event_name}; rollbackctl acts on SERVICE_DEPLOYMENT_FAILED"
            )
        target = kinds.parse(signal.service_arn)
        if target is None:
            return Concluded("ignore", f"ECS reported a deployment of {signal.service_arn[:300]}, no target it knows")
        return Named(target)
    if isinstance(signal, events.CodeDeployFailure):
        return _target_of_codedeploy(signal, clients)
    if isinstance(signal, events.StackStatusChange):
        return _target_of_stack(signal, clients)
    if isinstance(signal, events.ManualRollback | events.BadArtifactDeployed):
        target = kinds.parse(signal.target)
        if target is None:
            return Concluded("refuse", f"{signal.target[:300]} is not {kinds.labels()}")
        return Named(target)
    # A pipeline that failed has stopped itself: record it (diagnosis reads it), change nothing.
    return Concluded(
        "ignore",
        f"pipeline {signal.pipeline} execution {signal.execution_id} {signal.state.lower()}"
        f"{' at ' + signal.stage if signal.stage else ''}"
        f"{'/' + signal.action if signal.action else ''}"
        f"{' (' + signal.error_code + ')' if signal.error_code else ''}: "
        "it has already stopped, so rollbackctl stops nothing; no deployed target to roll back",
    )


# The stack statuses that need the controller (template.yaml's StackStatusChangeRule routes these): an update that
# failed with rollback disabled, a rollback that failed, and a rollback CloudFormation started by itself (recorded).
STACK_TROUBLE = ("UPDATE_FAILED", "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS")


def _target_of_stack(signal: events.StackStatusChange, clients: Clients) -> Named | Concluded:
    name = kinds.short_name(signal.stack_arn)
    if signal.status not in STACK_TROUBLE:
        return Concluded(
            "ignore",
            f"CloudFormation reported stack {name} {signal.status}; rollbackctl acts on a stack whose update failed "
            f"or is rolling back ({', '.join(STACK_TROUBLE)})",
        )
    target = kinds.parse(signal.stack_arn)
    assert target is not None  # events.parse accepts only an ARN of a kind
    # EventBridge may deliver CloudFormation's events out of order: act only on a stack that is still where the
    # event says it is (a later update, or its end, is not what this event reported).
    now = kinds.of(target).serving(clients, target)
    if now != signal.status:
        return Concluded(
            "ignore",
            f"CloudFormation reported stack {name} {signal.status} at {signal.envelope.time}, but it is "
            f"{now or 'gone'} now: the event is out of date, and nothing was changed",
        )
    return Named(target)


def _target_of_codedeploy(signal: events.CodeDeployFailure, clients: Clients) -> Named | Concluded:
    try:
        deployment = clients.codedeploy.get_deployment(deploymentId=signal.deployment_id)["deploymentInfo"]
    except AWS_ERRORS as exc:
        if error_code(exc) == "DeploymentDoesNotExistException":
            return Concluded("refuse", f"CodeDeploy deployment {signal.deployment_id} does not exist")
        raise
    rollback = deployment.get("rollbackInfo") or {}
    if rollback.get("rollbackDeploymentId"):
        return Concluded(
            "ignore",
            f"CodeDeploy deployment {signal.deployment_id} ended {signal.state} and CodeDeploy "
            f"already rolled it back (deployment {rollback['rollbackDeploymentId']})",
        )
    target = kinds.from_codedeploy(clients, deployment, signal.envelope.region, signal.envelope.account)
    if target is None:
        return Concluded(
            "refuse",
            f"CodeDeploy deployment {signal.deployment_id} ended {signal.state} without rollback, "
            "and its target could not be read from it; nothing was changed",
        )
    return Named(target)
