"""Which deployed target an alarm guards (the target-mapping contract in DESIGN.md).

A ``rollback:target`` tag wins over metric dimensions. Composite and metric-math alarms resolve through
their tag or through the metrics they contain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .aws import AWS_ERRORS, error_code
from .events import AlarmChange

TARGET_TAG = "rollback:target"
MODE_TAG = "rollback:mode"
PIPELINE_TAG = "rollback:pipeline"
TAG_MODES = ("enforce", "dry-run", "off")

LAMBDA_ALIAS_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:(?P<function>[A-Za-z0-9_-]{1,140}):(?P<alias>[A-Za-z0-9_-]{1,128})$"
)
ECS_SERVICE_ARN = re.compile(
    r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service/(?P<cluster>[A-Za-z0-9_-]{1,255})/(?P<service>[A-Za-z0-9_-]{1,255})$"
)
# ALARM("name"), ALARM(name), OK(...), INSUFFICIENT_DATA(...) in a composite alarm rule
RULE_CHILD = re.compile(r'\b(?:ALARM|OK|INSUFFICIENT_DATA)\(\s*"?([^")]+?)"?\s*\)')
MAX_COMPOSITE_DEPTH = 3


class InvalidTarget(ValueError):
    """A ``rollback:target`` tag whose value is not a Lambda alias or ECS service ARN."""


@dataclass
class Resolution:
    targets: list[str] = field(default_factory=list)
    source: str = ""  # "tag", "dimensions", "composite" or "" when nothing is guarded
    alarm_tags: dict[str, str] = field(default_factory=dict)


def kind_of(arn: str) -> str | None:
    if LAMBDA_ALIAS_ARN.match(arn):
        return "lambda-alias"
    if ECS_SERVICE_ARN.match(arn):
        return "ecs-service"
    return None


def checked_target(arn: str) -> str:
    arn = arn.strip()
    if kind_of(arn) is None:
        raise InvalidTarget(
            f"tag {TARGET_TAG}={arn[:300]!r} is neither a Lambda alias ARN "
            "(arn:aws:lambda:REGION:ACCOUNT:function:NAME:ALIAS) nor an ECS service ARN"
        )
    return arn


def _dimensions(raw: Any) -> dict[str, str]:
    """Dimensions come as an object in events and as [{Name, Value}] from DescribeAlarms."""
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(d.get("Name")): str(d.get("Value")) for d in raw if isinstance(d, dict)}
    return {}


def target_from_metric(namespace: str, dimensions: dict[str, str], region: str, account: str) -> str | None:
    if namespace == "AWS/Lambda":
        function, resource = dimensions.get("FunctionName"), dimensions.get("Resource")
        if function and resource and resource.startswith(f"{function}:"):
            arn = f"arn:aws:lambda:{region}:{account}:function:{resource}"
            return arn if LAMBDA_ALIAS_ARN.match(arn) else None
    if namespace == "AWS/ECS":
        cluster, service = dimensions.get("ClusterName"), dimensions.get("ServiceName")
        if cluster and service:
            arn = f"arn:aws:ecs:{region}:{account}:service/{cluster}/{service}"
            return arn if ECS_SERVICE_ARN.match(arn) else None
    return None


def targets_from_event_metrics(metrics: list[dict[str, Any]], region: str, account: str) -> list[str]:
    found: list[str] = []
    for entry in metrics:
        stat = entry.get("metricStat")
        metric = stat.get("metric") if isinstance(stat, dict) else None
        if not isinstance(metric, dict):
            continue  # a metric-math expression, or something malformed: it names no target
        arn = target_from_metric(
            str(metric.get("namespace", "")), _dimensions(metric.get("dimensions")), region, account
        )
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
    cloudwatch: Any, alarm: dict[str, Any], region: str, account: str, depth: int
) -> list[str]:
    tags = _tags(cloudwatch, alarm["AlarmArn"])
    if TARGET_TAG in tags:
        return [checked_target(tags[TARGET_TAG])]
    if "AlarmRule" in alarm:
        return _targets_of_rule(cloudwatch, alarm["AlarmRule"], region, account, depth + 1)
    if alarm.get("Namespace"):
        arn = target_from_metric(alarm["Namespace"], _dimensions(alarm.get("Dimensions")), region, account)
        return [arn] if arn else []
    found: list[str] = []
    for query in alarm.get("Metrics", []):
        metric = (query.get("MetricStat") or {}).get("Metric") or {}
        arn = target_from_metric(metric.get("Namespace", ""), _dimensions(metric.get("Dimensions")), region, account)
        if arn and arn not in found:
            found.append(arn)
    return found


def _targets_of_rule(cloudwatch: Any, rule: str, region: str, account: str, depth: int) -> list[str]:
    if depth > MAX_COMPOSITE_DEPTH:
        return []
    names = [n.rsplit(":alarm:", 1)[-1] for n in RULE_CHILD.findall(rule)]
    if not names:
        return []
    described = cloudwatch.describe_alarms(AlarmNames=names[:100], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    found: list[str] = []
    for alarm in described.get("MetricAlarms", []) + described.get("CompositeAlarms", []):
        for arn in _targets_of_described_alarm(cloudwatch, alarm, region, account, depth):
            if arn not in found:
                found.append(arn)
    return found


def resolve(alarm: AlarmChange, cloudwatch: Any) -> Resolution:
    """The targets an alarm guards. Raises InvalidTarget for a tag that names no valid target."""
    tags = _tags(cloudwatch, alarm.arn)
    if TARGET_TAG in tags:
        return Resolution([checked_target(tags[TARGET_TAG])], "tag", tags)
    found = targets_from_event_metrics(alarm.metrics, alarm.region, alarm.account)
    if found:
        return Resolution(found, "dimensions", tags)
    if alarm.alarm_rule:
        found = _targets_of_rule(cloudwatch, alarm.alarm_rule, alarm.region, alarm.account, 1)
        if found:
            return Resolution(found, "composite", tags)
    return Resolution([], "", tags)


def effective_mode(global_mode: str, *tag_sets: dict[str, str]) -> tuple[str, str]:
    """The most careful of the stack's Mode and any rollback:mode tag: off > dry-run > enforce."""
    order = {"enforce": 0, "dry-run": 1, "off": 2}
    mode, source = global_mode, f"stack parameter Mode={global_mode}"
    for tags in tag_sets:
        value = tags.get(MODE_TAG)
        if value is None:
            continue
        if value not in TAG_MODES:
            # A misspelt tag never enables enforcement: it is read as dry-run, which still reports.
            value = "dry-run"
        if order[value] > order[mode]:
            mode, source = value, f"tag {MODE_TAG}={tags[MODE_TAG]}"
    return mode, source
