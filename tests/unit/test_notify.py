"""The messages themselves (no AWS): follow-ups, Chatbot's schema, Slack's Block Kit limits, the channel
settings, the webhook's URL checks, and how the verify step judges alarm states."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
from typing import Any

import pytest

from rollbackctl import notify
from rollbackctl import slack as slack_module
from rollbackctl.config import EMULATOR_SLACK_LOOPBACK, ConfigError, NotifySettings
from rollbackctl.emulator.slack import SlackCatcher
from rollbackctl.slack import SlackError, SlackWebhook, is_webhook_url
from rollbackctl.verify import judge
from tests.unit.test_config_and_model import rolled_back

CHANNELS = {
    "CHATBOT_TOPIC_ARN": "arn:aws:sns:us-east-1:1:chatbot",
    "SLACK_WEBHOOK_SECRET_ID": "",
    "SLACK_ALLOWED_HOSTS": "",
    "VERIFY_BAKE_SECONDS": "300",
    "NOTIFY_IGNORED": "false",
    "SLACK_BUTTONS": "false",
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
        ({"SLACK_BUTTONS": "on"}, "SLACK_BUTTONS must be true or false"),
        ({"SLACK_WEBHOOK_SECRET_ID": "https://hooks.slack.com/services/T/B/x"}, "not hold the webhook URL"),
        ({"SLACK_ALLOWED_HOSTS": "https://hooks.example.com"}, "host names separated by commas"),
        ({"SLACK_ALLOWED_HOSTS": "hooks.example.com,bad host"}, "host names separated by commas"),
    ],
)
def test_channel_settings_fail_loudly(change: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        NotifySettings.from_env({**CHANNELS, **change})


def test_an_unset_slack_secret_is_a_missing_setting_but_an_empty_one_means_off() -> None:
    assert NotifySettings.from_env(CHANNELS).slack_webhook_secret_id == ""
    for var in ("SLACK_WEBHOOK_SECRET_ID", "SLACK_ALLOWED_HOSTS"):
        with pytest.raises(ConfigError, match=var):
            NotifySettings.from_env({k: v for k, v in CHANNELS.items() if k != var})


def test_the_host_allow_list_and_the_emulators_loopback_flag() -> None:
    default = NotifySettings.from_env(CHANNELS)
    assert (default.slack_allowed_hosts, default.slack_loopback) == ((), False)
    listed = NotifySettings.from_env({**CHANNELS, "SLACK_ALLOWED_HOSTS": " hooks.example.com, Proxy.Example.org "})
    assert listed.slack_allowed_hosts == ("hooks.example.com", "proxy.example.org")
    assert NotifySettings.from_env({**CHANNELS, EMULATOR_SLACK_LOOPBACK: "true"}).slack_loopback is True
    assert NotifySettings.from_env({**CHANNELS, EMULATOR_SLACK_LOOPBACK: "1"}).slack_loopback is False


class Secrets:
    """Just enough of a Secrets Manager client for Powertools' SecretsProvider."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        return {"SecretString": self.value}


@pytest.mark.parametrize(
    ("url", "hosts", "loopback"),
    [
        ("https://hooks.slack.com/services/T0/B0/abcDEF123", (), False),
        ("https://HOOKS.Slack.com/services/T0/B0/x", (), False),
        ("https://hooks.slack.com:443/services/T0/B0/x", (), False),
        ("https://hooks.example.com/services/T0/B0/x", ("hooks.example.com",), False),
        ("http://127.0.0.1:8080/services/T0/B0/x", (), True),
    ],
)
def test_a_slack_webhook_url_is_accepted(url: str, hosts: tuple[str, ...], loopback: bool) -> None:
    assert is_webhook_url(url, hosts, loopback)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://hooks.slack.com/services/T0/B0/x", False),  # not https
        ("ftp://hooks.slack.com/services/T0/B0/x", False),
        ("https://evil.example/services/T0/B0/x", False),  # any other host
        ("https://hooks.slack.com.evil.example/services/T0/B0/x", False),  # a prefix is not the host
        ("https://hooks.slack.com./services/T0/B0/x", False),
        ("https://hooks.slack.com@evil.example/services/T0/B0/x", False),  # userinfo
        ("https://user:pw@hooks.slack.com/services/T0/B0/x", False),
        ("https://hooks.slack.com\\@evil.example/services/T0/B0/x", False),
        ("https://hooks.slack.com:8443/services/T0/B0/x", False),  # an odd port
        ("https://hooks.slack.com:/services/T0/B0/x", False),
        ("https://hooks.slack.com:99999/services/T0/B0/x", False),
        ("https://hooks.slack.com/workflows/T0/B0/x", False),  # not /services/
        ("https://hooks.slack.com/services/T0/B0/x?y=1", False),
        ("https://hooks.slack.com/services/T0/B0/x#y", False),
        ("https://hooks.slack.com/services/T0/B0/se cret", False),  # whitespace or control characters anywhere
        ("https://hooks.slack.com/services/T0/B0/se\ncret", False),
        ("https://hooks.slack.com/services/T0/B0/se\tcret", False),
        ("https://hooks.slack.com/services/T0/B0/se\x00cret", False),
        ("https://hooks.slack.com/services/T0/B0/s\u00e9cret", False),  # ASCII only
        ("http://127.0.0.1:8080/services/T0/B0/x", False),  # loopback only where the emulator says so
        ("http://127.0.0.1/services/T0/B0/x", True),  # ... with its port
        ("http://127.0.0.1:0/services/T0/B0/x", True),
        ("http://localhost:8080/services/T0/B0/x", True),
        ("http://127.0.0.1:8080@evil.example/services/T0/B0/x", True),
        ("https://127.0.0.1:8080/services/T0/B0/x", True),
        ("", False),
    ],
)
def test_anything_else_is_not_a_slack_webhook_url(url: str, loopback: bool) -> None:
    assert not is_webhook_url(url, (), loopback)


@pytest.mark.parametrize(
    "value",
    [
        "http://example.com/hook",
        "ftp://127.0.0.1/x",
        "not a url",
        '{"url": 5}',
        '{"url": "https://hooks.slack.com/services/T0/B0/tok en"}',
        "https://hooks.slack.com/services/T0/B0/tok\nen",
        '{"url": ',
    ],
)
def test_a_webhook_that_is_not_a_slack_webhook_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(SlackError) as raised:
        SlackWebhook(Secrets(value), "team/slack").post({"text": "x"})
    assert str(raised.value) == "the webhook secret team/slack is not a Slack webhook URL"
    assert raised.value.__context__ is None and raised.value.__cause__ is None


def test_an_unreachable_slack_is_reported_by_kind_not_by_url() -> None:
    url = "http://127.0.0.1:9/services/T0/B0/very-secret-token"  # port 9: discard, nothing listens
    with pytest.raises(SlackError, match="could not be reached") as raised:
        SlackWebhook(Secrets(url), "team/slack", timeout=1, loopback=True).post({"text": "x"})
    assert "very-secret-token" not in str(raised.value)


def test_the_json_form_of_the_secret_posts_and_a_redirect_is_not_followed() -> None:
    with SlackCatcher() as slack:
        webhook = SlackWebhook(Secrets(json.dumps({"url": slack.url})), "team/slack", loopback=True)
        webhook.post({"text": "one"})
        slack.behaviour = "redirect"
        with pytest.raises(SlackError) as raised:
            webhook.post({"text": "two"})
        assert str(raised.value) == "Slack answered HTTP 302"
        assert (slack.payloads, slack.followed) == ([{"text": "one"}], 0)


class Opener:
    """An opener that fails the way the standard library can, quoting the URL as it does."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def open(self, request: Any, timeout: float) -> Any:
        raise self.error


URL = "https://hooks.slack.com/services/T0/B0/the-secret-token"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (http.client.InvalidURL(f"URL can't contain control characters. {URL!r}"), "InvalidURL"),
        (UnicodeEncodeError("ascii", URL, 0, 1, f"bad {URL}"), "UnicodeEncodeError"),
        (ValueError(f"unknown url type: {URL}"), "ValueError"),
        (http.client.RemoteDisconnected(f"{URL} closed the connection"), "RemoteDisconnected"),
        (urllib.error.URLError(ConnectionRefusedError(f"{URL} refused")), "ConnectionRefusedError"),
        (ssl.SSLCertVerificationError(f"certificate for {URL}"), "SSLCertVerificationError"),
    ],
)
def test_whatever_the_post_raises_is_recorded_by_kind_only(monkeypatch: Any, error: Exception, kind: str) -> None:
    monkeypatch.setattr(slack_module, "_OPENER", Opener(error))
    with pytest.raises(SlackError) as raised:
        SlackWebhook(Secrets(URL), "team/slack").post({"text": "x"})
    assert str(raised.value) == f"Slack could not be reached ({kind})"
    assert raised.value.__context__ is None  # nothing chained could quote the URL either


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


def test_the_slack_actions_settings_fail_loudly() -> None:
    from rollbackctl.config import SlackActionSettings

    env = {"SLACK_SIGNING_SECRET_ID": "rollbackctl/signing", "SLACK_ACTION_USERS": "", "STATE_MACHINE_ARN": "arn:x"}
    assert SlackActionSettings.from_env(env).users == frozenset()
    assert SlackActionSettings.from_env({**env, "SLACK_ACTION_USERS": "U0A1, W0B2"}).users == {"U0A1", "W0B2"}
    for change, error in (
        ({"SLACK_SIGNING_SECRET_ID": ""}, "SLACK_SIGNING_SECRET_ID"),
        ({"STATE_MACHINE_ARN": ""}, "STATE_MACHINE_ARN"),
        ({"SLACK_ACTION_USERS": "alice"}, "must be Slack user ids"),
    ):
        with pytest.raises(ConfigError, match=error):
            SlackActionSettings.from_env({**env, **change})
    with pytest.raises(ConfigError, match="SLACK_ACTION_USERS"):
        SlackActionSettings.from_env({k: v for k, v in env.items() if k != "SLACK_ACTION_USERS"})
