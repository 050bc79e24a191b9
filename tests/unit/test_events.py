"""Parsing and validating EventBridge events (no AWS)."""

from __future__ import annotations

import copy

import pytest

from rollbackctl import events
from tests.conftest import load_event


def test_given_an_alarm_event_by_dimensions_when_parsed_then_every_field_is_normalised() -> None:
    alarm = events.parse(load_event("alarm-lambda-alias-dimensions.json"))
    assert alarm.name == "checkout-live-errors"
    assert alarm.arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-live-errors"
    assert alarm.state == "ALARM"
    assert alarm.previous_state == "OK"
    assert alarm.timestamp == "2026-11-20T09:15:00.214Z"
    assert alarm.metrics[0]["metricStat"]["metric"]["dimensions"]["Resource"] == "checkout:live"
    assert alarm.alarm_rule is None


def test_given_a_composite_alarm_event_when_parsed_then_the_rule_is_kept() -> None:
    alarm = events.parse(load_event("alarm-composite.json"))
    assert alarm.alarm_rule is not None and "ALARM(checkout-live-errors)" in alarm.alarm_rule
    assert alarm.metrics == []


@pytest.mark.parametrize(
    "carried, expected",
    [
        ({"alarmTags": {"rollback:mode": "dry-run"}, "alarmTagsStatus": "SUCCESS"}, {"rollback:mode": "dry-run"}),
        ({"alarmTags": {}, "alarmTagsStatus": "SUCCESS"}, {}),  # read, and the alarm has none (or none kept)
        ({"alarmTags": {"rollback:mode": "dry-run"}, "alarmTagsStatus": "FAILURE"}, None),
        ({"alarmTags": {"rollback:mode": "dry-run"}}, None),
        ({"alarmTags": ["rollback:mode"], "alarmTagsStatus": "SUCCESS"}, None),
        ({"alarmTags": {"rollback:mode": 1}, "alarmTagsStatus": "SUCCESS"}, None),
        ({"alarmTags": {f"k{i}": "v" for i in range(51)}, "alarmTagsStatus": "SUCCESS"}, None),
        ({}, None),
    ],
)
def test_an_alarms_tags_come_from_the_event_only_when_cloudwatch_read_them(
    carried: dict[str, object], expected: dict[str, str] | None
) -> None:
    """None: the tags are looked up (CloudWatch alarm tag propagation; anything else in the event is not trusted)."""
    event = copy.deepcopy(load_event("alarm-lambda-alias-dimensions.json"))
    event["detail"].update(carried)
    alarm = events.parse(event)
    assert isinstance(alarm, events.AlarmChange)
    assert alarm.tags == expected


def test_an_alarms_trigger_names_the_metric_its_event_says_it_watched() -> None:
    """Diagnosis keeps it when DescribeAlarms does not answer (issue 17: the event's own fields first)."""
    metric = events.parse(load_event("alarm-lambda-alias-dimensions.json")).trigger().metric
    composite = events.parse(load_event("alarm-composite.json")).trigger().metric
    assert (metric, composite) == ("AWS/Lambda Errors", "")


@pytest.mark.parametrize("stat", [True, "m", {"metric": "x"}, {"metric": {"name": 5}}, {"metric": {"name": ""}}])
def test_a_metric_stat_of_any_other_shape_names_no_metric(stat: object) -> None:
    event = copy.deepcopy(load_event("alarm-lambda-alias-dimensions.json"))
    event["detail"]["configuration"]["metrics"] = [{"id": "m1", "metricStat": stat}]
    assert events.parse(event).trigger().metric == ""


@pytest.mark.parametrize(
    "name, state", [("alarm-ok.json", "OK"), ("alarm-insufficient-data.json", "INSUFFICIENT_DATA")]
)
def test_given_non_alarm_states_when_parsed_then_the_state_is_reported(name: str, state: str) -> None:
    assert events.parse(load_event(name)).state == state


def test_given_the_malformed_sample_when_parsed_then_the_reason_names_the_field() -> None:
    with pytest.raises(events.InvalidEvent, match=r"detail\.state\.value"):
        events.parse(load_event("malformed-alarm.json"))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda e: e.update({"source": "aws.ec2"}), "unsupported event"),
        (lambda e: e.update({"detail": []}), "detail must be an object"),
        (lambda e: e["detail"].pop("alarmName"), "alarmName"),
        (lambda e: e["detail"].update({"alarmName": "x" * 300}), "longer than"),
        (lambda e: e["detail"]["state"].update({"timestamp": "yesterday"}), "not a timestamp"),
        (lambda e: e.update({"resources": ["arn:aws:sns:us-east-1:1:topic"]}), "not a CloudWatch alarm ARN"),
        (lambda e: e["detail"]["configuration"].update({"metrics": "m1"}), "metrics must be a list"),
    ],
)
def test_given_a_broken_event_when_parsed_then_a_clean_validation_error(mutate, message: str) -> None:
    event = copy.deepcopy(load_event("alarm-lambda-alias-dimensions.json"))
    mutate(event)
    with pytest.raises(events.InvalidEvent, match=message):
        events.parse(event)


@pytest.mark.parametrize("value", [None, [], "text", 42])
def test_given_something_that_is_not_an_event_when_parsed_then_rejected(value: object) -> None:
    with pytest.raises(events.InvalidEvent):
        events.parse(value)


def test_ecs_deployment_failure_names_the_service() -> None:
    signal = events.parse(load_event("ecs-deployment-failed.json"))
    assert isinstance(signal, events.EcsDeploymentFailure)
    assert signal.service_arn == "arn:aws:ecs:us-east-1:123456789012:service/prod/web"
    trigger = signal.trigger()
    assert (trigger.kind, trigger.name, trigger.state) == ("ecs-deployment", "prod/web", "SERVICE_DEPLOYMENT_FAILED")
    assert "circuit breaker" in trigger.reason


def test_codedeploy_failure_names_the_deployment() -> None:
    signal = events.parse(load_event("codedeploy-deployment-failure.json"))
    assert isinstance(signal, events.CodeDeployFailure)
    assert (signal.application, signal.deployment_group, signal.deployment_id, signal.state) == (
        "checkout-app",
        "checkout-live",
        "d-XHZ5JN4CT",
        "FAILURE",
    )


def test_pipeline_action_failure_keeps_the_error_code_and_summary() -> None:
    signal = events.parse(load_event("codepipeline-action-failed.json"))
    assert isinstance(signal, events.PipelineFailure)
    assert (signal.pipeline, signal.stage, signal.action, signal.error_code) == (
        "web-pipeline",
        "Build",
        "Build",
        "JobFailed",
    )
    assert signal.trigger().name == "web-pipeline/Build/Build"


def test_pipeline_execution_failure_has_no_stage() -> None:
    signal = events.parse(load_event("codepipeline-execution-failed.json"))
    assert isinstance(signal, events.PipelineFailure)
    assert (signal.stage, signal.action) == ("", "")


def test_stack_status_change_names_the_stack_and_its_status() -> None:
    signal = events.parse(load_event("cloudformation-stack-update-failed.json"))
    assert isinstance(signal, events.StackStatusChange)
    assert signal.stack_arn.startswith("arn:aws:cloudformation:us-east-1:123456789012:stack/shop/")
    trigger = signal.trigger()
    assert (trigger.kind, trigger.name, trigger.id, trigger.state) == (
        "cloudformation",
        "shop",
        signal.stack_arn,
        "UPDATE_FAILED",
    )
    assert trigger.reason == "The following resource(s) failed to update: [Service]."


@pytest.mark.parametrize(
    "name, mutate, message",
    [
        ("ecs-deployment-failed.json", lambda e: e.update({"resources": []}), "service ARN"),
        (
            "cloudformation-stack-update-failed.json",
            lambda e: e["detail"].update({"stack-id": "arn:aws:sqs:us-east-1:123456789012:queue"}),
            "stack's ARN",
        ),
        (
            "cloudformation-stack-update-failed.json",
            lambda e: e.update({"resources": ["arn:aws:cloudformation:us-east-1:123456789012:stack/other/1"]}),
            "different stacks",
        ),
        ("cloudformation-stack-update-failed.json", lambda e: e["detail"].pop("status-details"), "status-details"),
        ("codedeploy-deployment-failure.json", lambda e: e["detail"].pop("deploymentId"), "deploymentId"),
        ("codepipeline-action-failed.json", lambda e: e["detail"].pop("stage"), "detail.stage"),
        ("codepipeline-action-failed.json", lambda e: e.update({"time": "soon"}), "not a timestamp"),
    ],
)
def test_broken_deployment_events_are_rejected_cleanly(name: str, mutate, message: str) -> None:
    event = copy.deepcopy(load_event(name))
    mutate(event)
    with pytest.raises(events.InvalidEvent, match=message):
        events.parse(event)


class _Exploding(dict):  # type: ignore[type-arg]
    """An event whose reading fails in a way no validator foresaw (a broken producer, a hostile payload)."""

    def get(self, *args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")


def test_any_exception_while_reading_an_event_makes_it_an_invalid_event() -> None:
    with pytest.raises(events.InvalidEvent, match="could not be read"):
        events.parse(_Exploding({"source": "aws.cloudwatch"}))


@pytest.mark.parametrize(
    ("value", "on"),
    [("off", False), (" OFF ", False), ("on", True), ("true", True), ("paused", True), ("", True), ("of", True)],
)
def test_only_off_lets_rollbackctl_act(value: str, on: bool) -> None:
    from rollbackctl.controls import read_kill_switch_safely

    assert read_kill_switch_safely(lambda: value)[0] is on


def test_an_unreadable_kill_switch_counts_as_on() -> None:
    from rollbackctl.controls import read_kill_switch_safely

    def unreadable() -> str:
        raise TimeoutError("ssm")

    on, why = read_kill_switch_safely(unreadable)
    assert on and "could not be read" in why


@pytest.mark.parametrize(
    "reason, expected",
    [
        (
            "JobFailed Phase: BUILD, Code: COMMAND_EXECUTION_ERROR pytest",
            ("JobFailed", "Phase: BUILD, Code: COMMAND_EXECUTION_ERROR pytest"),
        ),
        ("PermissionError", ("PermissionError", "")),
        ("Build terminated with state: FAILED", ("", "Build terminated with state: FAILED")),
        ("", ("", "")),
    ],
)
def test_a_pipeline_triggers_reason_gives_back_its_error_code_and_summary(
    reason: str, expected: tuple[str, str]
) -> None:
    assert events.split_pipeline_reason(reason) == expected


def test_a_pipeline_action_failures_trigger_carries_what_its_event_said() -> None:
    failure = events.parse(load_event("codepipeline-action-failed.json"))
    assert isinstance(failure, events.PipelineFailure)
    trigger = failure.trigger()
    assert trigger.name == "web-pipeline/Build/Build"
    assert events.split_pipeline_reason(trigger.reason) == ("JobFailed", "Build terminated with state: FAILED")
