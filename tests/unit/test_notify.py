"""The messages themselves (no AWS): follow-ups, Chatbot's schema, Slack's Block Kit limits, the channel
settings, the webhook's URL checks, and how the verify step judges alarm states."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollbackctl import notify
from rollbackctl.config import ConfigError, NotifySettings
from rollbackctl.slack import SlackError, SlackWebhook
from rollbackctl.verify import judge
from tests.unit.test_config_and_model import rolled_back

CHANNELS = {
    "CHATBOT_TOPIC_ARN": "arn:aws:sns:us-east-1:1:chatbot",
    "SLACK_WEBHOOK_SECRET_ID": "",
    "VERIFY_BAKE_SECONDS": "300",
    "NOTIFY_IGNORED": "false",
}


def verified(status: str, **alarms: str) -> Any:
    incident = rolled_back()
    incident.restored_at = "2026-11-20T09:15:01.000Z"
    incident.joined = [{"kind": "alarm", "name": "checkout-live-latency", "time": "2026-11-20T09:15:02Z"}]
    incident.verification = {"status": status, "checked_at": "x", "bake_seconds": 300, "alarms": alarms}
    return incident


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("recovered", "[rollbackctl] RECOVERED: checkout:live back to OK on 6"),
        ("escalated", "[rollbackctl] STILL ALARMING: checkout:live the rollback did not fix it"),
        ("unverified", "[rollbackctl] NOT VERIFIED: checkout:live recovery could not be confirmed"),
    ],
)
def test_follow_ups_say_what_happened_after_the_bake(kind: Any, subject: str) -> None:
    incident = verified("x", **{"checkout-live-errors": "ALARM", "checkout-live-latency": "OK"})
    assert notify.subject(incident, kind) == subject and len(subject) < 100
    body = notify.body(incident, kind)
    assert "checkout-live-errors ALARM, checkout-live-latency OK, 300 s after the rollback" in body
    assert notify.severity(incident, kind) == {"recovered": "info", "escalated": "critical", "unverified": "high"}[kind]


def test_the_alarms_to_verify_are_the_trigger_and_every_alarm_that_joined() -> None:
    incident = verified("x")
    incident.joined.append({"kind": "alarm", "name": "checkout-live-errors", "time": "later"})  # it flapped
    incident.joined.append({"kind": "codedeploy", "name": "app/group", "time": "later"})
    assert notify.alarms_of(incident) == ["checkout-live-errors", "checkout-live-latency"]
    assert "also:     alarm checkout-live-latency" in notify.body(incident)


def test_chatbot_message_follows_the_custom_notification_schema() -> None:
    message = notify.chatbot_message(rolled_back())
    assert set(message) == {"version", "source", "id", "content", "metadata"}
    assert (message["version"], message["source"]) == ("1.0", "custom")
    assert set(message["content"]) == {"textType", "title", "description", "nextSteps", "keywords"}
    assert message["content"]["textType"] == "client-markdown"
    assert len(message["content"]["nextSteps"]) <= 5
    assert message["metadata"]["threadId"] == "inc-1"
    assert all(isinstance(v, str) for v in message["metadata"]["additionalContext"].values())


def test_slack_payload_respects_block_kit_limits_even_for_huge_incidents() -> None:
    incident = rolled_back()
    incident.reason = "r" * 10_000
    incident.diagnosis.summary, incident.diagnosis.remediation = "s" * 5_000, "f" * 5_000
    incident.trigger.name = "a" * 3_000
    payload = notify.slack_payload(incident)
    header, *rest = payload["blocks"]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    for block in rest:
        assert len(block.get("fields", [])) <= 10
        for item in [*block.get("fields", []), block.get("text") or {"text": ""}, *block.get("elements", [])]:
            assert len(item["text"]) <= 3000
    assert len(json.dumps(payload)) < 40_000


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"CHATBOT_TOPIC_ARN": ""}, "CHATBOT_TOPIC_ARN"),
        ({"VERIFY_BAKE_SECONDS": "soon"}, "whole number"),
        ({"VERIFY_BAKE_SECONDS": "-1"}, "between 0 and 86400"),
        ({"NOTIFY_IGNORED": "yes"}, "true or false"),
        ({"SLACK_WEBHOOK_SECRET_ID": "https://hooks.slack.com/services/T/B/x"}, "not hold the webhook URL"),
    ],
)
def test_channel_settings_fail_loudly(change: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        NotifySettings.from_env({**CHANNELS, **change})


def test_an_unset_slack_secret_is_a_missing_setting_but_an_empty_one_means_off() -> None:
    assert NotifySettings.from_env(CHANNELS).slack_webhook_secret_id == ""
    with pytest.raises(ConfigError, match="SLACK_WEBHOOK_SECRET_ID"):
        NotifySettings.from_env({k: v for k, v in CHANNELS.items() if k != "SLACK_WEBHOOK_SECRET_ID"})


class Secrets:
    """Just enough of a Secrets Manager client for Powertools' SecretsProvider."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        return {"SecretString": self.value}


@pytest.mark.parametrize("value", ["http://example.com/hook", "ftp://127.0.0.1/x", "not a url", '{"url": 5}'])
def test_a_webhook_that_is_not_https_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(SlackError) as raised:
        SlackWebhook(Secrets(value), "team/slack").post({"text": "x"})
    assert "team/slack" in str(raised.value) and value not in str(raised.value)


def test_an_unreachable_slack_is_reported_by_kind_not_by_url() -> None:
    url = "http://127.0.0.1:9/services/T0/B0/very-secret-token"  # port 9: discard, nothing listens
    with pytest.raises(SlackError, match="could not be reached") as raised:
        SlackWebhook(Secrets(url), "team/slack", timeout=1).post({"text": "x"})
    assert "very-secret-token" not in str(raised.value)


@pytest.mark.parametrize(
    ("states", "status"),
    [
        ({"a": "OK", "b": "OK"}, "recovered"),
        ({"a": "OK", "b": "ALARM"}, "still_alarming"),
        ({"a": "ALARM", "b": "MISSING"}, "still_alarming"),
        ({"a": "OK", "b": "INSUFFICIENT_DATA"}, "unverified"),
        ({"a": "MISSING"}, "unverified"),
        ({}, "unverified"),
    ],
)
def test_verify_judges_every_alarm(states: dict[str, str], status: str) -> None:
    assert judge(states) == status
