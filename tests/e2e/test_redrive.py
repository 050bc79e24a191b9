"""A redriven execution (Step Functions RedriveExecution, issue 17 item 2) carries on where it stopped, and acts at
most once: the steps it runs again are handed the input they had, and a step that already ran on that input
replays what it returned (custody) instead of acting again."""

from __future__ import annotations

import time
from typing import Any

from moto.moto_api import state_manager

from rollbackctl.emulator import estate, wait_for_execution
from rollbackctl.emulator.beanstalk import MODEL
from rollbackctl.emulator.demo import drain_messages, fire
from rollbackctl.store import IncidentStore


def entered(sfn: Any, arn: str) -> list[str]:
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]


def test_an_execution_stopped_while_its_restore_finishes_carries_on_when_redriven_and_acts_once(
    aws: Any, controller: Any, oncall: str, faults: Any
) -> None:
    environment = estate.beanstalk_moved(aws)  # v1, then v2: the update to v1 will be held until the test lets go
    estate.custom_alarm(aws, "shop-errors", "Shop/Checkout", "Errors", tags={"rollback:target": environment})
    [arn] = fire(aws, controller, "shop-errors")
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + 30
    while entered(sfn, arn).count("ReadBackRestore") < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert entered(sfn, arn).count("ReadBackRestore") >= 2  # Elastic Beanstalk is updating; the workflow reads it
    sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by hand while the update ran")
    stopped = wait_for_execution(sfn, arn)
    assert stopped["status"] == "ABORTED", (stopped.get("error"), stopped.get("cause"), entered(sfn, arn)[-5:])

    state_manager.set_transition(MODEL, {"progression": "immediate"})  # meanwhile, the update finished
    sfn.redrive_execution(executionArn=arn)
    finished = wait_for_execution(sfn, arn)

    assert (finished["status"], finished["redriveCount"]) == ("SUCCEEDED", 1)
    assert faults.applied == [("rollbackctl-restore", "elasticbeanstalk", "UpdateEnvironment")]  # once
    steps = entered(sfn, arn)
    assert steps.count("Triage") == 1 and steps.count("Restore") == 1 and steps[-1] == "Verify"
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    assert incident.action == "rolled_back" and incident.restored_at
    [found] = aws.client("elasticbeanstalk").describe_environments(EnvironmentNames=["shop-prod"])["Environments"]
    assert (found["Status"], found["VersionLabel"]) == ("Ready", "v1")
    # one incident message (then the bake's escalation: the alarm is still in ALARM here)
    assert [m["MessageAttributes"]["action"]["Value"] for m in drain_messages(aws, oncall)] == [
        "rolled_back",
        "escalated",
    ]


def test_a_failed_incident_redriven_fails_again_and_changes_nothing(
    aws: Any, controller: Any, oncall: str, faults: Any
) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    faults.add("lambda", "UpdateAlias", "AccessDeniedException", "not authorized to perform UpdateAlias")
    [arn] = fire(aws, controller, "checkout-live-errors")
    sfn = aws.client("stepfunctions")
    assert wait_for_execution(sfn, arn)["status"] == "FAILED"
    assert len(drain_messages(aws, oncall)) == 1
    faults.clear()  # whatever was wrong is fixed: a redrive still does not decide anything anew

    sfn.redrive_execution(executionArn=arn)
    again = wait_for_execution(sfn, arn)

    assert (again["status"], again["redriveCount"], again["error"]) == ("FAILED", 1, "RollbackIncidentFailed")
    assert entered(sfn, arn)[-2:] == ["Failed", "Failed"]  # the Fail state it ended in, and nothing else
    assert faults.calls == [] and drain_messages(aws, oncall) == []
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    assert incident.action == "failed"
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}


def test_an_execution_stopped_while_restore_ran_is_redriven_without_a_second_change(
    aws: Any, controller: Any, oncall: str, faults: Any
) -> None:
    """Stopped while the Restore function was still running (its UpdateAlias done, its answer not yet back): the
    redrive runs Restore again on the same input, which replays what the first run returned."""
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    held = faults.hold("rollbackctl-restore", ("lambda", "UpdateAlias"))
    [arn] = fire(aws, controller, "checkout-live-errors")
    sfn = aws.client("stepfunctions")
    assert held.reached.wait(30)
    sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by hand while Restore ran")
    held.release.set()
    assert wait_for_execution(sfn, arn)["status"] == "ABORTED"

    sfn.redrive_execution(executionArn=arn)
    finished = wait_for_execution(sfn, arn)

    assert (finished["status"], finished["redriveCount"]) == ("SUCCEEDED", 1)
    assert entered(sfn, arn).count("Restore") == 2  # run again by the redrive...
    assert faults.applied == [("rollbackctl-restore", "lambda", "UpdateAlias")]  # ...and the alias changed once
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    assert incident.action == "rolled_back"
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    assert (alias["FunctionVersion"], alias["RoutingConfig"]["AdditionalVersionWeights"]) == ("1", {})
