"""Safety under at-least-once delivery, operator controls and faults, through the deployed workflow.

Mutating calls are counted by a botocore hook on every client in the process (the handlers' included).
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rollbackctl.emulator import estate, wait_for_execution
from rollbackctl.emulator.demo import drain_messages
from rollbackctl.store import IncidentStore
from tests.conftest import fresh_event


def canary(aws: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")


def deliver_all(aws: Any, controller: Any, deliveries: list[dict[str, Any]], workers: int = 8) -> list[dict]:
    """What EventBridge does on redelivery: StartExecution with the event as input, several at once."""
    sfn = aws.client("stepfunctions")

    def one(event: dict[str, Any]) -> dict[str, Any]:
        started = sfn.start_execution(stateMachineArn=controller.outputs["StateMachineArn"], input=json.dumps(event))
        return wait_for_execution(sfn, started["executionArn"], timeout=120)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, deliveries))


def test_100_deliveries_of_one_alarm_make_one_rollback_one_incident_one_message(
    aws: Any, controller: Any, oncall: str, faults: Any
) -> None:
    canary(aws)
    event = fresh_event("alarm-lambda-alias-dimensions.json")
    renamed = [dict(copy.deepcopy(event), id=str(uuid.uuid4())) for _ in range(50)]
    deliveries = [copy.deepcopy(event) for _ in range(50)] + renamed
    random.Random(7).shuffle(deliveries)
    finished = deliver_all(aws, controller, deliveries)

    assert [f["status"] for f in finished] == ["SUCCEEDED"] * 100
    outputs = [json.loads(f["output"]) for f in finished]
    assert sorted(o["decision"] for o in outputs).count("duplicate") == 99
    assert faults.mutating_calls() == [("lambda", "UpdateAlias")]
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    assert incident.action == "rolled_back"
    # one message for the incident, and the verify step's one follow-up (the events were delivered by hand:
    # the alarm itself reads OK in CloudWatch)
    kinds = [m["MessageAttributes"]["kind"]["Value"] for m in drain_messages(aws, oncall)]
    assert kinds == ["incident", "recovered"]
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    assert alias["FunctionVersion"] == "1" and not alias["RoutingConfig"]["AdditionalVersionWeights"]


def test_several_alarms_for_one_deployment_make_one_incident(aws: Any, controller: Any, oncall: str) -> None:
    canary(aws)
    other = copy.deepcopy(fresh_event("alarm-lambda-alias-dimensions.json"))
    other["detail"]["alarmName"] = "checkout-live-throttles"
    other["resources"] = ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-live-throttles"]
    finished = deliver_all(aws, controller, [fresh_event("alarm-lambda-alias-dimensions.json"), other], workers=1)
    decisions = [json.loads(f["output"])["decision"] for f in finished]
    assert decisions == ["act", "duplicate"]
    assert "it fired before" in json.loads(finished[1]["output"])["reason"]
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    assert [j["name"] for j in incident.joined] == ["checkout-live-throttles"]  # it joined the incident
    # one message and one follow-up: the first incident was verified before the second alarm joined it
    kinds = [m["MessageAttributes"]["kind"]["Value"] for m in drain_messages(aws, oncall)]
    assert kinds == ["incident", "recovered"]


def test_a_restored_version_that_alarms_again_pages_instead_of_looping(
    aws: Any, controller: Any, oncall: str, faults: Any
) -> None:
    from rollbackctl.emulator.demo import fire_and_wait

    canary(aws)
    [first] = fire_and_wait(aws, controller, "checkout-live-errors")
    assert json.loads(first["output"])["action"] == "rolled_back"
    fire_and_wait(aws, controller, "checkout-live-errors", state="OK")
    [again] = fire_and_wait(aws, controller, "checkout-live-errors")
    incident = json.loads(again["output"])
    assert incident["action"] == "refused"
    assert "no loops" in incident["reason"]
    assert faults.mutating_calls() == [("lambda", "UpdateAlias")]
    assert [m["MessageAttributes"]["action"]["Value"] for m in drain_messages(aws, oncall)] == [
        "rolled_back",
        "escalated",  # the verify step: still red after the bake
        "refused",
    ]


def kill_switch_on(aws: Any, deployment: Any) -> None:
    aws.client("ssm").put_parameter(Name="/rollbackctl/kill-switch", Value="on", Overwrite=True)


def test_kill_switch_on_means_zero_mutating_calls_in_every_scenario(faults: Any) -> None:
    from rollbackctl.emulator.demo import play
    from tests.conftest import TEMPLATE

    outcomes = play(TEMPLATE, prepare=kill_switch_on)
    assert faults.mutating_calls() == []
    actions = {o.scenario.name: o.incident.action if o.incident else None for o in outcomes}
    assert actions == {
        "canary": "refused",
        "all-at-once": "refused",
        "ecs-rolling": "refused",
        "no-known-good": "refused",
        "dry-run": "refused",
        "build-failed": "ignored",
        "unguarded": "ignored",
        "codedeploy-server": "refused",
        "cloudformation-stack": "refused",
        "pipeline-stage": "refused",
        "beanstalk": "refused",
    }
    for outcome in outcomes:
        if outcome.scenario.expected_action in ("rolled_back", "dry_run"):
            assert outcome.incident is not None and "kill switch is 'on'" in outcome.incident.reason


def test_dry_run_stack_means_zero_mutating_calls_and_says_what_it_would_do(faults: Any) -> None:
    from rollbackctl.emulator.demo import play
    from tests.conftest import TEMPLATE

    outcomes = play(TEMPLATE, overrides={"Mode": "dry-run"})
    assert faults.mutating_calls() == []
    assert all(o.incident is not None for o in outcomes)
    for outcome in outcomes:
        assert outcome.incident is not None
        if outcome.scenario.expected_action in ("rolled_back", "dry_run"):
            assert outcome.incident.action == "dry_run"
            assert outcome.incident.reason.startswith("dry run (") and " would " in outcome.incident.reason
        else:
            assert outcome.incident.action == outcome.scenario.expected_action
