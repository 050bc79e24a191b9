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
