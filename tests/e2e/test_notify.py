"""On-call's side of an incident, end to end in the emulator: the SNS message (read back through an SQS
subscription), the Chatbot message, the Slack message (posted to a webhook on 127.0.0.1 whose URL is in
Secrets Manager), the verify step's follow-ups after the bake, and no noise."""

from __future__ import annotations

import copy
import io
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from rich.console import Console

from rollbackctl import mrkdwn
from rollbackctl.emulator import deploy, estate
from rollbackctl.emulator.demo import (
    deliver,
    drain_messages,
    fire,
    fire_and_wait,
    recover,
    subscribe_queue,
    wait_all,
    wait_for_messages,
)
from rollbackctl.emulator.slack import SlackCatcher
from rollbackctl.model import Incident, parse_time
from rollbackctl.store import IncidentStore
from tests.conftest import TEMPLATE, load_event

CHECKOUT = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"
SECRET = "oncall/slack-webhook"
# 2000 s on the test suite's fast clock (x0.001): a 2-second bake, long enough to clear an alarm during it
BAKE = 2000


@pytest.fixture
def slack() -> Iterator[SlackCatcher]:
    with SlackCatcher() as catcher:
        yield catcher


def stack(aws: Any, slack: SlackCatcher | None = None, secret: str | None = None, **overrides: str) -> Any:
    """The controller, with the webhook secret holding ``secret`` (by default the catcher's URL)."""
    settings = {"VerifyBakeSeconds": str(BAKE), **overrides}
    if slack is not None:
        aws.client("secretsmanager").create_secret(Name=SECRET, SecretString=secret or slack.url)
        settings["SlackWebhookSecretId"] = SECRET
    return deploy(aws, TEMPLATE, overrides=settings)


def canary(aws: Any, *alarms: str) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    for alarm in alarms or ("checkout-live-errors",):
        estate.lambda_errors_alarm(aws, alarm, "checkout", "live")


def incidents(aws: Any, controller: Any) -> list[Incident]:
    return IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["MessageAttributes"]["kind"]["Value"] for m in messages]


def slack_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload["blocks"])


def test_every_channel_says_what_fired_what_changed_and_why_then_that_it_recovered(
    aws: Any, slack: SlackCatcher
) -> None:
    controller = stack(aws, slack)
    oncall = subscribe_queue(aws, controller.outputs["NotificationTopicArn"], "oncall")
    chatbot = subscribe_queue(aws, controller.outputs["ChatbotTopicArn"], "chatbot")
    canary(aws)
    arns = fire(aws, controller, "checkout-live-errors")
    [message] = wait_for_messages(aws, oncall)
    recover(aws, "checkout-live-errors")  # the service heals during the bake
    [finished] = wait_all(aws, arns)
    assert finished["status"] == "SUCCEEDED"
    [incident] = incidents(aws, controller)

    # SNS: subject under 100 characters naming the service and the action, a readable body, filterable attributes
    assert message["Subject"] == "[rollbackctl] ROLLED BACK: checkout:live 2 -> 1"
    body = message["Message"]
    for text in ("checkout-live-errors", CHECKOUT, "2 -> 1", "rolled_back", incident.diagnosis.summary):
        assert text and text in body
    assert f"Fix:        {incident.diagnosis.remediation}" in body
    attributes = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {"severity": "high", "action": "rolled_back", "target": CHECKOUT, "kind": "incident"}

    # the recovery follow-up, after the bake; the incident closed
    [follow_up] = drain_messages(aws, oncall)
    assert follow_up["Subject"] == "[rollbackctl] RECOVERED: checkout:live back to OK on 1"
    assert follow_up["MessageAttributes"]["severity"]["Value"] == "info"
    assert "checkout-live-errors OK" in follow_up["Message"]
    assert incident.verification is not None and incident.verification["status"] == "recovered"
    assert incident.recovered_at and incident.closed_at == incident.recovered_at
    assert incident.restored_at is not None
    baked = parse_time(incident.recovered_at) - parse_time(incident.restored_at)
    assert baked >= timedelta(seconds=BAKE * aws.time_scale)

    # Chatbot: AWS's custom-notification schema, follow-ups threaded under the incident; Slack's markdown, so
    # ">" arrives as "&gt;" (mrkdwn.text)
    first, second = (json.loads(m["Message"]) for m in drain_messages(aws, chatbot))
    assert (first["version"], first["source"], first["content"]["textType"]) == ("1.0", "custom", "client-markdown")
    assert first["content"]["title"] == "ROLLED BACK: checkout:live 2 -&gt; 1"
    for text in ("checkout-live-errors", "2 -&gt; 1", mrkdwn.text(incident.diagnosis.summary)):
        assert text in first["content"]["description"]
    assert first["metadata"]["threadId"] == second["metadata"]["threadId"] == incident.incident_id
    assert second["metadata"]["eventType"] == "rollbackctl.recovered"

    # Slack: Block Kit with a header, the facts as fields, the diagnosis and its fix, links; then the follow-up
    posted, recovered = slack.payloads
    assert posted["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "ROLLED BACK: checkout:live 2 -> 1"},
    }
    fields = " ".join(f["text"] for f in posted["blocks"][1]["fields"])
    for text in (
        "checkout-live-errors",
        "checkout:live",
        "2 -&gt; 1",
        "rolled_back",
        f"{incident.time_to_restore_ms} ms",
    ):
        assert text in fields
    for text in (incident.diagnosis.summary, incident.diagnosis.remediation):
        assert mrkdwn.text(text) in slack_text(posted)
    assert "console.aws.amazon.com/cloudwatch" in slack_text(posted)
    assert "RECOVERED" in recovered["text"]

    sent = {(n["channel"], n["kind"], n["status"]) for n in incident.notifications}
    assert sent == {(c, k, "sent") for c in ("sns", "chatbot", "slack") for k in ("incident", "recovered")}


def test_three_alarms_for_one_deployment_make_one_incident_and_one_message(aws: Any, slack: SlackCatcher) -> None:
    controller = stack(aws, slack)
    oncall = subscribe_queue(aws, controller.outputs["NotificationTopicArn"], "oncall")
    alarms = ("checkout-live-errors", "checkout-live-latency", "checkout-live-throttles")
    canary(aws, *alarms)
    arns = [arn for alarm in alarms for arn in fire(aws, controller, alarm)]  # all three, without waiting
    finished = wait_all(aws, arns)
    assert [f["status"] for f in finished] == ["SUCCEEDED"] * 3

    [incident] = incidents(aws, controller)
    assert incident.action == "rolled_back"
    assert sorted([incident.trigger.name] + [j["name"] for j in incident.joined]) == list(alarms)
    messages = drain_messages(aws, oncall)
    assert kinds(messages) == ["incident", "escalated"]  # one message, then one follow-up: still red
    escalation = messages[1]
    assert escalation["MessageAttributes"]["severity"]["Value"] == "critical"
    assert escalation["Subject"] == "[rollbackctl] STILL ALARMING: checkout:live the rollback did not fix it"
    for alarm in alarms:
        assert f"{alarm} ALARM" in escalation["Message"]
    assert "did not fix it" in escalation["Message"]
    assert (
        incident.recovered_at is None
        and incident.verification
        and incident.verification["status"] == ("still_alarming")
    )
    assert len(slack.payloads) == 2


@pytest.mark.parametrize(
    ("behaviour", "error"), [("error", "Slack answered HTTP 500"), ("slow", "Slack did not answer within 3 s")]
)
def test_a_failing_slack_leaves_the_incident_complete_and_the_page_sent(
    aws: Any, slack: SlackCatcher, behaviour: Any, error: str
) -> None:
    slack.behaviour = behaviour
    controller = stack(aws, slack, VerifyBakeSeconds="0")
    oncall = subscribe_queue(aws, controller.outputs["NotificationTopicArn"], "oncall")
    canary(aws)
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    assert finished["status"] == "SUCCEEDED"
    [incident] = incidents(aws, controller)
    assert incident.action == "rolled_back" and incident.verification is not None
    assert kinds(drain_messages(aws, oncall)) == ["incident", "escalated"]
    failed = [n for n in incident.notifications if n["channel"] == "slack"]
    assert [(n["kind"], n["status"], n["error"]) for n in failed] == [
        ("incident", "failed", error),
        ("escalated", "failed", error),
    ]
    assert slack.url not in json.dumps(incident.to_dict())


def test_the_webhook_url_is_never_in_logs_environment_records_or_history(
    aws: Any, slack: SlackCatcher, capfd: Any, caplog: Any
) -> None:
    controller = stack(aws, slack, LogLevel="DEBUG")  # (creating the secret is the test's own doing)
    caplog.set_level(logging.DEBUG)  # every logger, botocore's request and response bodies included
    canary(aws)
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    assert len(slack.payloads) == 2  # it was used: incident and follow-up reached Slack

    token = slack.url.rsplit("/", 1)[-1]
    places = where_a_secret_could_leak(aws, controller, finished, capfd, caplog)
    everything = "".join(places.values())
    assert "incident verified" in everything and "Verifications" in everything  # the handlers' logs are here
    leaks = [where for where, text in places.items() if slack.url in text or token in text]
    assert leaks == []


def where_a_secret_could_leak(
    aws: Any, controller: Any, finished: dict[str, Any], capfd: Any, caplog: Any
) -> dict[str, str]:
    captured = capfd.readouterr()
    lam, sfn = aws.client("lambda"), aws.client("stepfunctions")
    return {
        "function logs": "".join(i["logs"] for i in aws.runtime.invocations),
        "stdout/stderr": captured.out + captured.err,
        "logging": caplog.text,
        "incident records": json.dumps([i.to_dict() for i in incidents(aws, controller)]),
        "execution history": json.dumps(
            sfn.get_execution_history(executionArn=finished["executionArn"])["events"], default=str
        ),
        "function environments": json.dumps(
            [lam.get_function_configuration(FunctionName=f["FunctionName"]) for f in lam.list_functions()["Functions"]],
            default=str,
        ),
    }


NOT_A_WEBHOOK = f"the webhook secret {SECRET} is not a Slack webhook URL"
# (the secret's value from the catcher's base URL and a token in two halves, the error the record must show)
MALFORMED: dict[str, tuple[Callable[[str, str, str], str], str]] = {
    "a space in the token": (lambda base, a, b: f"{base}/services/T0/B0/{a} {b}", NOT_A_WEBHOOK),
    "a newline in the token": (lambda base, a, b: f"{base}/services/T0/B0/{a}\n{b}", NOT_A_WEBHOOK),
    "a tab in a JSON secret": (
        lambda base, a, b: json.dumps({"url": f"{base}/services/T0/B0/{a}\t{b}"}),
        NOT_A_WEBHOOK,
    ),
    "another host": (lambda base, a, b: f"http://evil.example/services/T0/B0/{a}{b}", NOT_A_WEBHOOK),
    "a look-alike host in a JSON secret": (
        lambda base, a, b: json.dumps({"url": f"https://hooks.slack.com.evil.example/services/T0/B0/{a}{b}"}),
        NOT_A_WEBHOOK,
    ),
    "user info before the host": (
        lambda base, a, b: f"https://hooks.slack.com@evil.example/services/T0/B0/{a}{b}",
        NOT_A_WEBHOOK,
    ),
    "a catcher that redirects": (lambda base, a, b: f"{base}/services/T0/B0/{a}{b}", "Slack answered HTTP 302"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_webhook_secret_fails_slack_alone_and_its_token_goes_nowhere(
    aws: Any, slack: SlackCatcher, capfd: Any, caplog: Any, case: str
) -> None:
    make, error = MALFORMED[case]
    halves = (f"s3cr3t{secrets.token_hex(4)}", f"t0ken{secrets.token_hex(4)}")
    base = slack.url.split("/services/", 1)[0]
    slack.behaviour = "redirect" if case == "a catcher that redirects" else "ok"
    controller = stack(aws, slack, make(base, *halves), LogLevel="DEBUG", VerifyBakeSeconds="0")
    caplog.set_level(logging.DEBUG)
    canary(aws)
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")

    assert finished["status"] == "SUCCEEDED"
    [incident] = incidents(aws, controller)
    assert incident.action == "rolled_back"  # a Slack failure never fails the incident
    slack_notes = [(n["kind"], n["status"], n["error"]) for n in incident.notifications if n["channel"] == "slack"]
    assert slack_notes == [("incident", "failed", error), ("escalated", "failed", error)]
    assert {n["status"] for n in incident.notifications if n["channel"] != "slack"} == {"sent"}
    assert slack.payloads == [] and slack.followed == 0  # nothing reached the catcher, no redirect was followed
    places = where_a_secret_could_leak(aws, controller, finished, capfd, caplog)
    leaks = [(where, half) for where, text in places.items() for half in halves if half in text]
    assert leaks == []


def test_ignored_incidents_page_when_configured(aws: Any) -> None:
    """By default an ignored incident pages nobody (test_workflow); NotifyIgnored=true says so on the topic."""
    estate.custom_alarm(aws, "batch-host-cpu", "AWS/EC2", "CPUUtilization")
    controller = stack(aws, NotifyIgnored="true")
    oncall = subscribe_queue(aws, controller.outputs["NotificationTopicArn"], "oncall")
    [finished] = fire_and_wait(aws, controller, "batch-host-cpu")
    assert json.loads(finished["output"])["action"] == "ignored"
    [message] = drain_messages(aws, oncall)
    assert message["Subject"] == "[rollbackctl] IGNORED: no target"
    assert message["MessageAttributes"]["severity"]["Value"] == "info"
    assert "guards no target" in message["Message"]


# Markup planted where an outsider can write: an alarm's name (CloudWatch's API bounds AlarmName by length only,
# 1-255 characters) and a build's failure message and summary (whatever the build printed).
HOSTILE = "<!channel> <https://evil|x> [/] [link=https://evil]x[/link]"
CONSOLE_LINK = re.compile(r"<(https://us-east-1\.console\.aws\.amazon\.com/[^<>|\s]*)\|[^<>|]*>")


def mrkdwn_texts(node: Any) -> list[str]:
    """Every mrkdwn text object in a Block Kit payload."""
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for value in node.values() for t in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in mrkdwn_texts(value)]
    return []


def assert_mrkdwn_is_data(text: str) -> None:
    """No control sequence survives but the console links rollbackctl itself puts there."""
    assert "<!channel>" not in text and "<https://evil|x>" not in text
    rest = CONSOLE_LINK.sub("", text)
    assert "<" not in rest and ">" not in rest, text


def rich_output(render: Any) -> tuple[str, str]:
    """(what a terminal receives, the plain text) when Rich prints ``render(console)``."""
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=400, record=True)
    render(console)
    return console.file.getvalue(), console.export_text()  # type: ignore[attr-defined]


def test_names_and_build_messages_are_data_on_every_channel(
    aws: Any, slack: SlackCatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from rollbackctl import cli, report
    from rollbackctl.cli import app

    controller = stack(aws, slack, VerifyBakeSeconds="0", NotifyIgnored="true")
    oncall = subscribe_queue(aws, controller.outputs["NotificationTopicArn"], "oncall")
    chatbot = subscribe_queue(aws, controller.outputs["ChatbotTopicArn"], "chatbot")
    alarm = f"checkout-errors {HOSTILE}"
    canary(aws, alarm)
    assert aws.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["AlarmName"] == alarm
    [fired_alarm] = fire_and_wait(aws, controller, alarm)
    estate.pipeline(aws, "web-pipeline")
    execution_id = estate.failed_pipeline_execution(
        aws, "web-pipeline", "Build", "JobFailed", f"3 tests failed {HOSTILE}", summary=f"build said {HOSTILE}"
    )
    event = copy.deepcopy(load_event("codepipeline-action-failed.json"))
    event["detail"]["execution-id"] = execution_id
    [failed_build] = deliver(aws, controller, event)
    assert [fired_alarm["status"], failed_build["status"]] == ["SUCCEEDED", "SUCCEEDED"]
    recorded = {i.trigger.kind: i for i in incidents(aws, controller)}
    assert recorded["alarm"].action == "rolled_back" and recorded["alarm"].trigger.name == alarm
    assert HOSTILE in recorded["pipeline"].diagnosis.summary  # the build's message reached the diagnosis

    # Slack: every mrkdwn text object, and the message's own text (also mrkdwn, the notification's fallback)
    assert len(slack.payloads) == 3  # the alarm's incident and its escalation, the build's incident
    for payload in slack.payloads:
        for text in [payload["text"], *mrkdwn_texts(payload["blocks"])]:
            assert_mrkdwn_is_data(text)
    everything = json.dumps(slack.payloads)
    assert "&lt;!channel&gt; &lt;https://evil|x&gt; [/]" in everything  # shown as the text it is

    # Chatbot: AWS Chatbot renders title, description and next steps in Slack's markdown
    for message in (json.loads(m["Message"]) for m in drain_messages(aws, chatbot)):
        content = message["content"]
        for text in [content["title"], content["description"], *content["nextSteps"], *content["keywords"]]:
            assert_mrkdwn_is_data(text)
        assert_mrkdwn_is_data(message["metadata"]["summary"])

    # SNS: plain text, not markup: the name and the message read exactly as they came
    bodies = [m["Message"] for m in drain_messages(aws, oncall)]
    assert len(bodies) == 3 and all(HOSTILE in body for body in bodies)

    # Rich: the demo-style timeline and history neither crash nor plant a terminal link
    for incident in recorded.values():
        terminal, plain = rich_output(lambda console, i=incident: report.print_incident(console, i))
        assert "\x1b]8;" not in terminal and HOSTILE in plain
    terminal, plain = rich_output(lambda console: console.print(report.history_table(list(recorded.values()))))
    assert "\x1b]8;" not in terminal and HOSTILE in plain
    runner = CliRunner()
    # wide enough for the whole name in one cell (Rich fixes a console's width when COLUMNS is set as it is made,
    # which a test runner's worker may do)
    monkeypatch.setattr(cli.out, "width", 400)
    for command in (["history"], ["diagnose", "--pipeline", "web-pipeline"]):
        result = runner.invoke(app, command, env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert HOSTILE in result.output and "\x1b]8;" not in result.output
