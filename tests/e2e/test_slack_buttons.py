"""The Slack message's buttons (issue 18, item 3), end to end: the real workflow posts its message with the buttons
the incident offers; a click reaches the Slack actions function through its function URL (the request as Lambda
hands it over, events/slack-action-unblock.json, signed here as Slack signs it), which takes it only when Slack
signed it, then does what the CLI does and records who clicked. Each case is read back from AWS: the pipeline's
transition, the kill switch, the alias, the incident record."""

from __future__ import annotations

import base64
import copy
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from rollbackctl.emulator import deploy, estate
from rollbackctl.emulator.demo import fire_and_wait, wait_all
from rollbackctl.emulator.slack import SlackCatcher
from rollbackctl.model import Incident
from rollbackctl.slack_actions import signature
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import TEMPLATE, load_event

SIGNING = "8f742231b10e8679b5e1d4a3c0f9e2d7"  # nosec B105 - a test's signing secret
SIGNING_ID = "rollbackctl/slack-signing-secret"
WEBHOOK_ID = "rollbackctl/slack-webhook"
FUNCTION = "rollbackctl-slack-actions"
CHECKOUT = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"
ALICE = "Slack user alice (U0ALICE, team T0TEAM)"


@pytest.fixture
def slack() -> Iterator[SlackCatcher]:
    with SlackCatcher() as catcher:
        yield catcher


def stack(aws: Any, slack: SlackCatcher, **overrides: str) -> Any:
    sm = aws.client("secretsmanager")
    sm.create_secret(Name=WEBHOOK_ID, SecretString=slack.url)
    sm.create_secret(Name=SIGNING_ID, SecretString=SIGNING)
    settings = {"SlackWebhookSecretId": WEBHOOK_ID, "SlackSigningSecretId": SIGNING_ID, **overrides}
    return deploy(aws, TEMPLATE, overrides={"VerifyBakeSeconds": "2000", **settings})


def click_request(
    action: str,
    incident_id: str,
    user: str = "U0ALICE",
    secret: str = SIGNING,
    age: float = 0.0,
    method: str = "POST",
) -> dict[str, Any]:
    """A function URL request as Lambda hands it over: Slack's block_actions payload, signed as Slack signs it."""
    event = copy.deepcopy(load_event("slack-action-unblock.json"))
    form = urllib.parse.parse_qs(base64.b64decode(event["body"]).decode())
    payload = json.loads(form["payload"][0])
    payload["actions"][0].update(action_id=action, value=incident_id)
    payload["user"].update(id=user, username="alice")
    payload["trigger_id"] = payload["actions"][0]["action_ts"] = f"{time.time():.6f}"  # each click is its own
    body = ("payload=" + urllib.parse.quote(json.dumps(payload), safe="")).encode()
    timestamp = str(int(time.time() - age))
    event["headers"]["x-slack-request-timestamp"] = timestamp
    event["headers"]["x-slack-signature"] = signature(secret, timestamp, body)
    event["body"] = base64.b64encode(body).decode()
    event["requestContext"]["http"]["method"] = method
    return event


def send(aws: Any, request: dict[str, Any]) -> tuple[int, str, str]:
    """(HTTP status, what the clicker is told, the function's log) of one request to the function URL."""
    response = aws.client("lambda").invoke(FunctionName=FUNCTION, Payload=json.dumps(request))
    answer = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, answer
    [*_, last] = [i for i in aws.runtime.invocations if i["function"] == FUNCTION]
    logs = str(last["logs"])
    return answer["statusCode"], json.loads(answer["body"])["text"], logs


def incident(aws: Any, controller: Any, incident_id: str) -> Incident:
    found = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(incident_id)
    assert found is not None
    return found


def deploy_stage(aws: Any, pipeline: str = "web-pipeline") -> dict[str, Any]:
    stages = aws.client("codepipeline").get_pipeline_state(name=pipeline)["stageStates"]
    state: dict[str, Any] = next(s for s in stages if s["stageName"] == "Deploy")["inboundTransitionState"]
    return state


def buttons(payload: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]


def blocked_and_escalated(aws: Any, controller: Any) -> str:
    """An ECS service shipped by web-pipeline, rolled back; the pipeline blocked; its alarm red through the bake."""
    estate.service_shipped_by_pipeline(aws)
    [finished] = fire_and_wait(aws, controller, "web-5xx")
    record = json.loads(finished["output"])
    assert record["action"] == "rolled_back" and record["verification"]["status"] == "still_alarming"
    assert deploy_stage(aws)["enabled"] is False
    return str(record["incident_id"])


def test_the_messages_carry_the_buttons_the_incident_offers(aws: Any, slack: SlackCatcher) -> None:
    controller = stack(aws, slack)
    incident_id = blocked_and_escalated(aws, controller)
    first, escalation = slack.payloads
    assert buttons(first) == ["unblock"]
    assert buttons(escalation) == ["rollback_again", "keep", "unblock"]
    values = {e["value"] for b in escalation["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert values == {incident_id}
    assert controller.outputs["SlackActionsUrl"].startswith("https://")


def test_without_a_signing_secret_there_are_no_buttons_and_no_url(aws: Any, slack: SlackCatcher) -> None:
    controller = stack(aws, slack, SlackSigningSecretId="")
    blocked_and_escalated(aws, controller)
    assert [buttons(p) for p in slack.payloads] == [[], []]
    assert "SlackActionsUrl" not in controller.outputs


def test_a_signed_unblock_lifts_the_incidents_block_and_records_who_clicked(aws: Any, slack: SlackCatcher) -> None:
    controller = stack(aws, slack)
    incident_id = blocked_and_escalated(aws, controller)
    status, told, logs = send(aws, click_request("unblock", incident_id))
    assert status == 200, told
    assert deploy_stage(aws)["enabled"] is True
    [step] = [s for s in incident(aws, controller, incident_id).steps if s["step"] == "unblock pipeline web-pipeline"]
    assert step["status"] == "done" and ALICE in step["detail"] and "Deploy re-enabled" in step["detail"]
    assert ALICE in told and '"message":"slack click"' in logs
    assert SIGNING not in logs

    # the same click once more (a new request, signed): the block is gone, so nothing to do and nothing recorded
    status, told, _ = send(aws, click_request("unblock", incident_id))
    assert status == 200 and "does not apply" in told
    assert len([s for s in incident(aws, controller, incident_id).steps if s["step"].startswith("unblock")]) == 1


def _bad_signature(request: dict[str, Any]) -> dict[str, Any]:
    request["headers"]["x-slack-signature"] = "v0=" + "0" * 64
    return request


def _unsigned(request: dict[str, Any]) -> dict[str, Any]:
    del request["headers"]["x-slack-signature"]
    return request


def _altered_body(request: dict[str, Any]) -> dict[str, Any]:
    body = base64.b64decode(request["body"]).replace(b"U0ALICE", b"U0MALLORY")
    request["body"] = base64.b64encode(body).decode()
    return request


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda i: _bad_signature(click_request("unblock", i)), "the signature does not match"),
        (lambda i: click_request("unblock", i, secret="another-apps-signing-secret"), "the signature does not match"),
        (lambda i: _altered_body(click_request("unblock", i)), "the signature does not match"),
        (lambda i: click_request("unblock", i, age=6 * 60), "s old (more than 300 s)"),
        (lambda i: _unsigned(click_request("unblock", i)), "not signed by Slack"),
        (lambda i: click_request("unblock", i, method="GET"), "Slack posts"),
        (lambda i: click_request("delete_everything", i), "unknown action 'delete_everything'"),
    ],
    ids=["badly-signed", "another-secret", "altered-body", "too-old", "unsigned", "not-a-post", "unknown-action"],
)
def test_a_request_slack_did_not_sign_changes_nothing_and_is_logged(
    aws: Any, slack: SlackCatcher, make: Any, why: str
) -> None:
    controller = stack(aws, slack)
    incident_id = blocked_and_escalated(aws, controller)
    before = incident(aws, controller, incident_id).to_dict()
    status, told, logs = send(aws, make(incident_id))
    assert status == 401
    assert "not taken" in told and why not in told  # the caller learns nothing of why; the log says it
    assert "slack request rejected" in logs and why in logs
    assert deploy_stage(aws)["enabled"] is False
    assert incident(aws, controller, incident_id).to_dict() == before
    assert SIGNING not in logs


def test_a_replayed_request_is_refused(aws: Any, slack: SlackCatcher) -> None:
    controller = stack(aws, slack)
    incident_id = blocked_and_escalated(aws, controller)
    request = click_request("keep", incident_id)
    assert send(aws, request)[0] == 200
    after_first = incident(aws, controller, incident_id).to_dict()
    status, _, logs = send(aws, request)
    assert status == 401 and "already taken (a replay)" in logs
    assert incident(aws, controller, incident_id).to_dict() == after_first


def test_keep_closes_the_escalation_and_a_click_on_a_closed_incident_changes_nothing(
    aws: Any, slack: SlackCatcher
) -> None:
    controller = stack(aws, slack)
    incident_id = blocked_and_escalated(aws, controller)
    status, told, _ = send(aws, click_request("keep", incident_id))
    kept = incident(aws, controller, incident_id)
    assert status == 200 and kept.closed_at is not None
    assert [s["detail"] for s in kept.steps if s["step"] == "keep"] == [told]
    assert ALICE in told and "web:1" in told

    sfn = aws.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=controller.outputs["StateMachineArn"])["executions"]
    for action in ("keep", "rollback_again"):
        status, told, _ = send(aws, click_request(action, incident_id))
        assert status == 200 and f"incident {incident_id} is closed" in told and "nothing changed" in told
    assert incident(aws, controller, incident_id).to_dict() == kept.to_dict()
    assert sfn.list_executions(stateMachineArn=controller.outputs["StateMachineArn"])["executions"] == executions
    assert deploy_stage(aws)["enabled"] is False  # the block stays: lifting it is its own button


def test_roll_back_again_goes_past_the_version_that_did_not_fix_it(aws: Any, slack: SlackCatcher) -> None:
    """A canary of 3 over 2 is rolled back to 2; the alarm stays red. Roll back again: the workflow, under its usual
    rules, goes to the known-good before 2 (1, known-good by hand), and the first incident is closed."""
    controller = stack(aws, slack)
    estate.lambda_with_versions(aws, "checkout", 3)
    estate.alias(aws, "checkout", "live", "2", canary=("3", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"]).record(CHECKOUT, "1", "good", "by hand")
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    first = json.loads(finished["output"])
    assert (first["action"], first["to_version"], first["verification"]["status"]) == (
        "rolled_back",
        "2",
        "still_alarming",
    )

    status, told, _ = send(aws, click_request("rollback_again", first["incident_id"]))
    assert status == 200, told
    sfn = aws.client("stepfunctions")
    workflow = controller.outputs["StateMachineArn"]
    again = f"{workflow.replace(':stateMachine:', ':execution:')}:again-{first['incident_id']}"
    [done] = wait_all(aws, [again])
    second = json.loads(done["output"])
    assert (second["action"], second["from_version"], second["to_version"]) == ("rolled_back", "2", "1")
    assert second["trigger"]["name"] == ALICE
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    closed = incident(aws, controller, first["incident_id"])
    assert closed.closed_at is not None
    assert any(s["step"] == "roll back again" and f"again-{first['incident_id']}" in s["detail"] for s in closed.steps)
    assert len(sfn.list_executions(stateMachineArn=controller.outputs["StateMachineArn"])["executions"]) == 2


def test_resume_turns_the_kill_switch_off_saying_who(aws: Any, slack: SlackCatcher) -> None:
    controller = stack(aws, slack)
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/rollbackctl/kill-switch", Value="on", Type="String", Overwrite=True)
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    paused = json.loads(finished["output"])
    assert paused["action"] == "refused" and paused["reason"].startswith("the kill switch is 'on'")
    assert buttons(slack.payloads[0]) == ["resume"]

    status, told, _ = send(aws, click_request("resume", paused["incident_id"]))
    assert status == 200, told
    assert ssm.get_parameter(Name="/rollbackctl/kill-switch")["Parameter"]["Value"] == "off"
    [described] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/rollbackctl/kill-switch"]}])[
        "Parameters"
    ]
    assert described["Description"].startswith(f"off by {ALICE} at ")
    [step] = [s for s in incident(aws, controller, paused["incident_id"]).steps if s["step"] == "resume"]
    assert ALICE in step["detail"]

    status, told, _ = send(aws, click_request("resume", paused["incident_id"]))  # already off: nothing to do
    assert status == 200 and "already off" in told


def test_only_the_listed_slack_users_clicks_are_taken(aws: Any, slack: SlackCatcher) -> None:
    controller = stack(aws, slack, SlackActionUsers="U0BOB,U0CAROL")
    incident_id = blocked_and_escalated(aws, controller)
    before = incident(aws, controller, incident_id).to_dict()
    status, told, _ = send(aws, click_request("unblock", incident_id))
    assert status == 200 and "is not one of SlackActionUsers: nothing changed" in told
    assert deploy_stage(aws)["enabled"] is False
    assert incident(aws, controller, incident_id).to_dict() == before
    assert send(aws, click_request("unblock", incident_id, user="U0BOB"))[0] == 200
    assert deploy_stage(aws)["enabled"] is True


def test_a_click_naming_no_incident_changes_nothing(aws: Any, slack: SlackCatcher) -> None:
    stack(aws, slack)
    status, told, _ = send(aws, click_request("keep", "inc-20261202T000000-00000000"))
    assert status == 200 and told == "no incident inc-20261202T000000-00000000: nothing changed"
