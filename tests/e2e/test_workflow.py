"""The whole controller in the emulator, driven as AWS drives it: an alarm changes state, CloudWatch emits
the event, EventBridge starts the workflow from template.yaml, the handlers act. Assertions are on the
resulting AWS state: the alias, the incident record, the ledger, the messages on the topic.
"""

from __future__ import annotations

import json
from typing import Any

from rollbackctl.emulator import deploy, estate
from rollbackctl.emulator.demo import drain_messages, fire_and_wait, subscribe_queue
from rollbackctl.emulator.faults import FAULTS
from rollbackctl.model import Incident
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import TEMPLATE, load_event

CHECKOUT = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"


def alias_state(aws: Any, function: str = "checkout", name: str = "live") -> tuple[str, dict[str, float]]:
    alias = aws.client("lambda").get_alias(FunctionName=function, Name=name)
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def only_incident(aws: Any, controller: Any, finished: list[dict[str, Any]]) -> Incident:
    assert len(finished) == 1, f"expected one workflow execution, got {len(finished)}"
    assert finished[0]["status"] == "SUCCEEDED", finished[0].get("cause")
    incident_id = json.loads(finished[0]["output"])["incident_id"]
    stored = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(incident_id)
    assert stored is not None, "the incident was not recorded"
    return stored


def canary(aws: Any, **alarm_tags: str) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(
        aws, "checkout-live-errors", "checkout", "live", tags={k.replace("_", ":"): v for k, v in alarm_tags.items()}
    )


def test_canary_alarm_by_dimensions_rolls_the_alias_back(aws: Any, controller: Any, oncall: str) -> None:
    canary(aws)
    incident = only_incident(aws, controller, fire_and_wait(aws, controller, "checkout-live-errors"))
    assert alias_state(aws) == ("1", {})
    assert incident.action == "rolled_back"
    assert (incident.target, incident.from_version, incident.to_version) == (CHECKOUT, "2", "1")
    assert incident.trigger.name == "checkout-live-errors"
    assert incident.restored_at is not None and incident.time_to_restore_ms is not None
    # the rollback message, then (the alarm still red after the bake) the escalation
    [message, follow_up] = drain_messages(aws, oncall)
    assert message["Subject"] == "[rollbackctl] ROLLED BACK: checkout:live 2 -> 1"
    for text in ("checkout-live-errors", CHECKOUT, "2 -> 1", "rolled_back"):
        assert text in message["Message"]
    assert {k: v["Value"] for k, v in message["MessageAttributes"].items()} == {
        "severity": "high",
        "action": "rolled_back",
        "target": CHECKOUT,
        "kind": "incident",
    }
    assert follow_up["MessageAttributes"]["kind"]["Value"] == "escalated"
    ledger = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])
    assert ledger.is_bad(CHECKOUT, "2")


def test_tagged_custom_metric_alarm_repoints_to_the_ledgers_known_good(aws: Any, controller: Any, oncall: str) -> None:
    target = "arn:aws:lambda:us-east-1:123456789012:function:payments:live"
    estate.lambda_with_versions(aws, "payments", 4)
    estate.alias(aws, "payments", "live", "4")
    ledger = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])
    ledger.record(target, "2", "good", "served past the bake window")
    ledger.record(target, "3", "good", "served past the bake window")
    ledger.record(target, "3", "bad", "rolled back by an earlier incident")  # never roll back into it
    estate.custom_alarm(aws, "payments-p99-latency", "Shop/Payments", "LatencyP99", tags={"rollback:target": target})
    incident = only_incident(aws, controller, fire_and_wait(aws, controller, "payments-p99-latency"))
    assert incident.action == "rolled_back"
    assert (incident.from_version, incident.to_version) == ("4", "2")
    assert alias_state(aws, "payments") == ("2", {})
    kinds = [m["MessageAttributes"]["kind"]["Value"] for m in drain_messages(aws, oncall)]
    assert kinds == ["incident", "escalated"]


def test_no_known_good_version_means_refused_and_on_call_told_exactly_that(
    aws: Any, controller: Any, oncall: str
) -> None:
    estate.lambda_with_versions(aws, "inventory", 2)
    estate.alias(aws, "inventory", "live", "2")
    estate.lambda_errors_alarm(aws, "inventory-live-errors", "inventory", "live")
    incident = only_incident(aws, controller, fire_and_wait(aws, controller, "inventory-live-errors"))
    assert incident.action == "refused"
    assert "no known-good version" in incident.reason
    assert alias_state(aws, "inventory") == ("2", {})
    [message] = drain_messages(aws, oncall)
    assert "REFUSED" in message["Subject"]
    assert "no known-good version" in message["Message"]


def test_composite_alarm_resolves_through_its_child(aws: Any, controller: Any) -> None:
    canary(aws)
    aws.client("cloudwatch").put_composite_alarm(AlarmName="checkout-health", AlarmRule="ALARM(checkout-live-errors)")
    incident = only_incident(aws, controller, fire_and_wait(aws, controller, "checkout-health"))
    assert incident.action == "rolled_back"
    assert alias_state(aws) == ("1", {})


def test_metric_math_alarm_resolves_through_its_metrics(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    dims = [{"Name": "FunctionName", "Value": "checkout"}, {"Name": "Resource", "Value": "checkout:live"}]
    aws.client("cloudwatch").put_metric_alarm(
        AlarmName="checkout-error-rate",
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[
            {"Id": "rate", "Expression": "100 * errors / invocations", "ReturnData": True},
            {
                "Id": "errors",
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": dims},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
            {
                "Id": "invocations",
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations", "Dimensions": dims},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
        ],
    )
    incident = only_incident(aws, controller, fire_and_wait(aws, controller, "checkout-error-rate"))
    assert incident.action == "rolled_back"
    assert alias_state(aws) == ("1", {})


def test_an_alarm_that_guards_nothing_is_an_ignored_incident(aws: Any, controller: Any, oncall: str) -> None:
    estate.custom_alarm(aws, "batch-host-cpu", "AWS/EC2", "CPUUtilization")
    incident = only_incident(aws, controller, fire_and_wait(aws, controller, "batch-host-cpu"))
    assert incident.action == "ignored"
    assert "guards no target" in incident.reason
    assert drain_messages(aws, oncall) == []


def test_ok_and_insufficient_data_start_no_workflow(aws: Any, controller: Any) -> None:
    canary(aws)
    assert fire_and_wait(aws, controller, "checkout-live-errors", state="INSUFFICIENT_DATA") == []
    assert fire_and_wait(aws, controller, "checkout-live-errors", state="OK") == []
    assert alias_state(aws) == ("1", {"2": 0.1})


def test_stack_in_dry_run_mode_reports_and_changes_nothing(aws: Any) -> None:
    # one controller per account and region (the kill-switch parameter name is fixed): deploy it dry-run
    controller = deploy(aws, TEMPLATE, overrides={"Mode": "dry-run"})
    queue = subscribe_queue(aws, controller.outputs["NotificationTopicArn"], "oncall-dry")
    canary(aws)
    incident = only_incident(aws, controller, fire_and_wait(aws, controller, "checkout-live-errors"))
    assert incident.action == "dry_run"
    assert "would remove the canary routing" in incident.reason
    assert alias_state(aws) == ("1", {"2": 0.1})
    [message] = drain_messages(aws, queue)
    assert message["Subject"].startswith("[rollbackctl] DRY RUN")


def test_opt_out_tag_on_the_target_ignores_the_alarm(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2, tags={"rollback:mode": "off"})
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    incident = only_incident(aws, controller, fire_and_wait(aws, controller, "checkout-live-errors"))
    assert incident.action == "ignored"
    assert "rollback:mode=off" in incident.reason
    assert alias_state(aws) == ("1", {"2": 0.1})


def test_kill_switch_on_refuses_and_makes_no_change(aws: Any, controller: Any, oncall: str) -> None:
    aws.client("ssm").put_parameter(Name="/rollbackctl/kill-switch", Value="on", Overwrite=True)
    canary(aws)
    incident = only_incident(aws, controller, fire_and_wait(aws, controller, "checkout-live-errors"))
    assert incident.action == "refused"
    assert "kill switch" in incident.reason
    assert alias_state(aws) == ("1", {"2": 0.1})
    assert "REFUSED" in drain_messages(aws, oncall)[0]["Subject"]


def test_malformed_event_is_recorded_as_ignored_and_changes_nothing(aws: Any, controller: Any, oncall: str) -> None:
    canary(aws)
    sfn = aws.client("stepfunctions")
    from rollbackctl.emulator import wait_for_execution

    started = sfn.start_execution(
        stateMachineArn=controller.outputs["StateMachineArn"], input=json.dumps(load_event("malformed-alarm.json"))
    )
    incident = only_incident(aws, controller, [wait_for_execution(sfn, started["executionArn"])])
    assert incident.action == "ignored"
    assert "malformed" in incident.reason and "detail.state.value" in incident.reason
    assert alias_state(aws) == ("1", {"2": 0.1})
    assert drain_messages(aws, oncall) == []


def test_a_failing_mutation_is_caught_recorded_and_paged(aws: Any, controller: Any, oncall: str) -> None:
    canary(aws)
    FAULTS.add("lambda", "UpdateAlias", "AccessDeniedException", "not authorized to perform lambda:UpdateAlias")
    try:
        finished = fire_and_wait(aws, controller, "checkout-live-errors")
    finally:
        FAULTS.clear()
    assert [f["status"] for f in finished] == ["FAILED"]
    assert finished[0]["error"] == "RollbackIncidentFailed"
    assert alias_state(aws) == ("1", {"2": 0.1})
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    assert incident.action == "failed"
    assert "AccessDenied" in incident.reason
    [message] = drain_messages(aws, oncall)
    assert message["Subject"].startswith("[rollbackctl] FAILED")
    assert message["MessageAttributes"]["severity"]["Value"] == "critical"


def test_every_events_rule_has_its_target_and_a_dead_letter_queue(aws: Any, controller: Any) -> None:
    events = aws.client("events")
    dlq = controller.outputs["EventsDeadLetterQueueUrl"].rsplit("/", 1)[1]
    # the default bus: one rule, forwarding to the rollbackctl bus, where every other rule is
    [forward] = [r for r in events.list_rules()["Rules"] if r["Name"].startswith("rollbackctl-")]
    [target] = events.list_targets_by_rule(Rule=forward["Name"])["Targets"]
    assert target["Arn"] == controller.outputs["HubEventBusArn"] and target["DeadLetterConfig"]["Arn"].endswith(dlq)
    bus = "rollbackctl"
    rules = [r for r in events.list_rules(EventBusName=bus)["Rules"] if r["Name"].startswith("rollbackctl-")]
    workflow, tracker = {}, {}
    for rule in rules:
        [target] = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        assert target["DeadLetterConfig"]["Arn"].endswith(dlq)
        pattern = json.loads(rule["EventPattern"])
        if target["Arn"] == controller.outputs["StateMachineArn"]:
            workflow[pattern["source"][0]] = pattern
        else:
            assert target["Arn"].endswith(":function:rollbackctl-track")
            tracker[rule["Name"]] = pattern
    assert set(workflow) == {"aws.cloudwatch", "aws.codepipeline", "aws.codedeploy", "aws.ecs", "aws.cloudformation"}
    assert workflow["aws.cloudwatch"]["detail"] == {"state": {"value": ["ALARM"]}}
    assert workflow["aws.codedeploy"]["detail"] == {"state": ["FAILURE", "STOP"]}
    assert workflow["aws.cloudformation"]["detail"] == {
        "status-details": {"status": ["UPDATE_FAILED", "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS"]}
    }
    assert len(tracker) == 6


def test_the_demo_scenarios_all_end_as_expected() -> None:
    from rollbackctl.emulator.demo import play

    outcomes = play(TEMPLATE)
    assert [(o.scenario.name, o.problems) for o in outcomes if not o.ok] == []
    assert {o.scenario.name for o in outcomes} >= {"canary", "unguarded"}
