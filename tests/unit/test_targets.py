"""The target-mapping contract (DESIGN.md), with a fake CloudWatch: which target does an alarm guard?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from rollbackctl import events, targets
from tests.conftest import load_event

ALIAS = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"
SERVICE = "arn:aws:ecs:us-east-1:123456789012:service/prod/web"


@dataclass
class FakeCloudWatch:
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    alarms: list[dict[str, Any]] = field(default_factory=list)

    def list_tags_for_resource(self, ResourceARN: str) -> dict[str, Any]:
        return {"Tags": [{"Key": k, "Value": v} for k, v in self.tags.get(ResourceARN, {}).items()]}

    def describe_alarms(self, AlarmNames: list[str], AlarmTypes: list[str]) -> dict[str, Any]:
        found = [a for a in self.alarms if a["AlarmName"] in AlarmNames]
        return {
            "MetricAlarms": [a for a in found if "AlarmRule" not in a],
            "CompositeAlarms": [a for a in found if "AlarmRule" in a],
        }


def alarm_arn(name: str) -> str:
    return f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"


def test_lambda_alias_by_dimensions() -> None:
    alarm = events.parse(load_event("alarm-lambda-alias-dimensions.json"))
    resolution = targets.resolve(alarm, FakeCloudWatch())
    assert resolution.targets == [ALIAS]
    assert resolution.source == "dimensions"


def test_tag_wins_over_dimensions() -> None:
    alarm = events.parse(load_event("alarm-lambda-alias-dimensions.json"))
    other = "arn:aws:lambda:us-east-1:123456789012:function:checkout:beta"
    cw = FakeCloudWatch(tags={alarm.arn: {"rollback:target": other}})
    assert targets.resolve(alarm, cw).targets == [other]


def test_custom_metric_alarm_guards_nothing_without_a_tag() -> None:
    alarm = events.parse(load_event("alarm-tagged-custom-metric.json"))
    assert targets.resolve(alarm, FakeCloudWatch()).targets == []


def test_tag_with_an_ecs_service_arn() -> None:
    alarm = events.parse(load_event("alarm-tagged-custom-metric.json"))
    cw = FakeCloudWatch(tags={alarm.arn: {"rollback:target": SERVICE}})
    assert targets.resolve(alarm, cw).targets == [SERVICE]


def test_tag_that_names_no_target_is_rejected_with_the_value() -> None:
    alarm = events.parse(load_event("alarm-tagged-custom-metric.json"))
    cw = FakeCloudWatch(tags={alarm.arn: {"rollback:target": "checkout"}})
    with pytest.raises(targets.InvalidTarget, match="'checkout'"):
        targets.resolve(alarm, cw)


def test_ecs_dimensions_name_a_service() -> None:
    metric = {"namespace": "AWS/ECS", "dimensions": {"ClusterName": "prod", "ServiceName": "web"}}
    found = targets.targets_from_event_metrics([{"metricStat": {"metric": metric}}], "us-east-1", "123456789012")
    assert found == [SERVICE]


def test_lambda_dimensions_without_an_alias_name_no_target() -> None:
    metric = {"namespace": "AWS/Lambda", "dimensions": {"FunctionName": "checkout"}}
    assert targets.targets_from_event_metrics([{"metricStat": {"metric": metric}}], "us-east-1", "1" * 12) == []


def test_metric_math_alarm_resolves_through_its_metric_stat() -> None:
    metrics = [
        {"id": "e1", "expression": "m1 / m2 * 100", "returnData": True},
        {
            "id": "m1",
            "metricStat": {
                "metric": {
                    "namespace": "AWS/Lambda",
                    "name": "Errors",
                    "dimensions": {"FunctionName": "checkout", "Resource": "checkout:live"},
                }
            },
        },
        {
            "id": "m2",
            "metricStat": {
                "metric": {
                    "namespace": "AWS/Lambda",
                    "name": "Invocations",
                    "dimensions": {"FunctionName": "checkout", "Resource": "checkout:live"},
                }
            },
        },
    ]
    assert targets.targets_from_event_metrics(metrics, "us-east-1", "123456789012") == [ALIAS]


def test_composite_alarm_resolves_through_its_children() -> None:
    alarm = events.parse(load_event("alarm-composite.json"))
    cw = FakeCloudWatch(
        alarms=[
            {
                "AlarmName": "checkout-live-errors",
                "AlarmArn": alarm_arn("checkout-live-errors"),
                "Namespace": "AWS/Lambda",
                "Dimensions": [
                    {"Name": "FunctionName", "Value": "checkout"},
                    {"Name": "Resource", "Value": "checkout:live"},
                ],
            },
            {"AlarmName": "checkout-live-latency", "AlarmArn": alarm_arn("checkout-live-latency"), "Namespace": "Shop"},
        ]
    )
    resolution = targets.resolve(alarm, cw)
    assert resolution.targets == [ALIAS]
    assert resolution.source == "composite"


def test_composite_alarm_child_tag_counts() -> None:
    alarm = events.parse(load_event("alarm-composite.json"))
    cw = FakeCloudWatch(
        tags={alarm_arn("checkout-live-latency"): {"rollback:target": SERVICE}},
        alarms=[{"AlarmName": "checkout-live-latency", "AlarmArn": alarm_arn("checkout-live-latency")}],
    )
    assert targets.resolve(alarm, cw).targets == [SERVICE]


@pytest.mark.parametrize(
    "stack, alarm_tag, target_tag, expected",
    [
        ("enforce", None, None, "enforce"),
        ("dry-run", None, None, "dry-run"),
        ("enforce", "dry-run", None, "dry-run"),
        ("enforce", None, "off", "off"),
        ("dry-run", "enforce", None, "dry-run"),  # a tag never loosens the stack's Mode
        ("enforce", "of", None, "dry-run"),  # a misspelt tag is read as dry-run, never enforce
    ],
)
def test_the_most_careful_mode_wins(stack: str, alarm_tag: str | None, target_tag: str | None, expected: str) -> None:
    alarm_tags = {"rollback:mode": alarm_tag} if alarm_tag else {}
    target_tags = {"rollback:mode": target_tag} if target_tag else {}
    assert targets.effective_mode(stack, alarm_tags, target_tags)[0] == expected
