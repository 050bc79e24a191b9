"""Each handler, invoked through the Lambda API of the emulator (the seam runs it in-process).

Assertions are on what AWS looks like afterwards: the alias, the table rows, the message on the topic.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollbackctl.emulator import estate
from rollbackctl.emulator.demo import drain_messages, subscribe_queue
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import fresh_event, load_event

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"


def invoke(aws: Any, function: str, event: Any) -> tuple[dict[str, Any], str | None]:
    response = aws.client("lambda").invoke(FunctionName=f"rollbackctl-{function}", Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


@pytest.fixture
def canary(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))


def alias_state(aws: Any) -> tuple[str, dict[str, float]]:
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def test_triage_decides_to_remove_the_canary_and_changes_nothing(aws: Any, canary: None) -> None:
    incident, error = invoke(aws, "triage", fresh_event("alarm-lambda-alias-dimensions.json"))
    assert error is None
    assert incident["decision"] == "act"
    assert incident["target"] == TARGET
    assert (incident["from_version"], incident["to_version"]) == ("2", "1")
    assert incident["plan"]["strategy"] == "canary"
    assert alias_state(aws) == ("1", {"2": 0.1})


def test_triage_with_the_kill_switch_on_refuses(aws: Any, canary: None, controller: Any) -> None:
    aws.client("ssm").put_parameter(Name=controller.outputs["KillSwitchParameterName"], Value="on", Overwrite=True)
    incident, _ = invoke(aws, "triage", fresh_event("alarm-lambda-alias-dimensions.json"))
    assert incident["action"] == "refused"
    assert "kill switch is 'on'" in incident["reason"]


def test_restore_executes_the_plan_and_records_the_versions(aws: Any, canary: None, controller: Any) -> None:
    decided, _ = invoke(aws, "triage", fresh_event("alarm-lambda-alias-dimensions.json"))
    restored, error = invoke(aws, "restore", decided)
    assert error is None
    assert restored["action"] == "rolled_back"
    assert restored["time_to_restore_ms"] >= 0
    assert alias_state(aws) == ("1", {})
    ledger = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])
    assert {(e.version, e.status) for e in ledger.entries(TARGET)} == {("2", "bad"), ("1", "good")}


def test_restore_refuses_when_the_kill_switch_was_set_after_triage(aws: Any, canary: None, controller: Any) -> None:
    decided, _ = invoke(aws, "triage", fresh_event("alarm-lambda-alias-dimensions.json"))
    aws.client("ssm").put_parameter(Name=controller.outputs["KillSwitchParameterName"], Value="on", Overwrite=True)
    # A new container reads the switch afresh (a warm one within its 5 s cache, as in AWS).
    aws.runtime.containers.clear()
    restored, _ = invoke(aws, "restore", decided)
    assert restored["action"] == "refused"
    assert alias_state(aws) == ("1", {"2": 0.1})


def test_notify_records_the_incident_and_sends_one_message(aws: Any, canary: None, controller: Any) -> None:
    queue = subscribe_queue(aws, controller.outputs["NotificationTopicArn"])
    decided, _ = invoke(aws, "triage", fresh_event("alarm-lambda-alias-dimensions.json"))
    restored, _ = invoke(aws, "restore", decided)
    closed, error = invoke(aws, "notify", restored)
    assert error is None
    messages = drain_messages(aws, queue)
    assert len(messages) == 1
    assert messages[0]["Subject"] == "[rollbackctl] ROLLED BACK: checkout:live 2 -> 1"
    assert messages[0]["MessageAttributes"]["action"]["Value"] == "rolled_back"
    stored = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(closed["incident_id"])
    assert stored is not None and stored.action == "rolled_back"
    assert stored.notifications[0]["message_id"] == messages[0]["MessageId"]


def test_notify_turns_a_caught_failure_into_a_paged_failed_incident(aws: Any, controller: Any) -> None:
    queue = subscribe_queue(aws, controller.outputs["NotificationTopicArn"])
    payload = {
        **fresh_event("alarm-lambda-alias-dimensions.json"),
        "error": {"Error": "KeyError", "Cause": json.dumps({"errorMessage": "'boom'", "errorType": "KeyError"})},
    }
    closed, error = invoke(aws, "notify", payload)
    assert error is None
    assert closed["action"] == "failed"
    assert "KeyError: 'boom'" in closed["reason"]
    [message] = drain_messages(aws, queue)
    assert message["Subject"].startswith("[rollbackctl] FAILED")
    assert message["MessageAttributes"]["severity"]["Value"] == "critical"


def test_ignored_incidents_are_recorded_but_page_nobody(aws: Any, controller: Any) -> None:
    queue = subscribe_queue(aws, controller.outputs["NotificationTopicArn"])
    decided, _ = invoke(aws, "triage", load_event("alarm-ok.json"))
    closed, _ = invoke(aws, "notify", decided)
    assert closed["action"] == "ignored"
    assert drain_messages(aws, queue) == []
    assert IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(closed["incident_id"])


def test_a_function_missing_a_setting_fails_loudly_at_cold_start(aws: Any, controller: Any) -> None:
    lam = aws.client("lambda")
    env = lam.get_function_configuration(FunctionName="rollbackctl-triage")["Environment"]["Variables"]
    del env["INCIDENT_TABLE"]
    lam.update_function_configuration(FunctionName="rollbackctl-triage", Environment={"Variables": env})
    payload, error = invoke(aws, "triage", load_event("alarm-ok.json"))
    assert error is not None
    assert payload["errorType"] == "ConfigError"
    assert "INCIDENT_TABLE" in payload["errorMessage"]
