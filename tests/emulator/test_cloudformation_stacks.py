"""CloudFormation stacks in the emulator, through boto3 only: updates stay in progress and move by themselves (model
``cloudformation::stack``), resources change only when an update completes, the ways back CancelUpdateStack,
RollbackStack and ContinueUpdateRollback work from the statuses AWS documents and fail with its error elsewhere, and
"CloudFormation Stack Status Change" reaches the default bus at every status."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.moto_api import state_manager

from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.emulator import cloudformation as cloudformation_model
from tests.emulator import events

MODEL = "cloudformation::stack"
STACK_STATUS = {"source": ["aws.cloudformation"], "detail-type": ["CloudFormation Stack Status Change"]}


def set_transition(aws: Any, transition: dict[str, Any]) -> None:
    """As a user would: in process through moto's state manager, over HTTP through moto's API."""
    if aws.endpoint_url is None:
        state_manager.set_transition(MODEL, transition)
        return
    body = json.dumps({"model_name": MODEL, "transition": transition}).encode()
    request = urllib.request.Request(f"{aws.endpoint_url}/moto-api/state-manager/set-transition", data=body)
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201


def described(aws: Any, arn: str) -> dict[str, Any]:
    [stack] = aws.client("cloudformation").describe_stacks(StackName=arn)["Stacks"]
    return dict(stack)


def release(aws: Any) -> tuple[str, str]:
    """What the stack serves: its SSM parameter and its output."""
    value = aws.client("ssm").get_parameter(Name="/shop/release")["Parameter"]["Value"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described(aws, "shop").get("Outputs", [])}
    return str(value), str(outputs.get("Release"))


def statuses(found: list[dict[str, Any]]) -> list[str]:
    return [e["detail"]["status-details"]["status"] for e in found]


def validation_error(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    return str(raised.value.response["Error"]["Message"])


def test_in_process_an_update_stays_in_progress_and_its_resources_stay_the_old_ones(aws: Any) -> None:
    arn = estate.stack(aws, "shop", "r1")
    estate.stack_mid_update(aws, "shop", "r2")
    time.sleep(3 * 0.25)  # a few ticks of the ticker
    stack = described(aws, arn)
    assert stack["StackStatus"] == "UPDATE_IN_PROGRESS" and stack["LastUpdatedTime"]
    assert release(aws) == ("r1", "r1")
    message = validation_error(
        aws.client("cloudformation").update_stack, StackName=arn, TemplateBody=estate.stack_template("shop", "r3")
    )
    assert message == f"Stack:{arn} is in UPDATE_IN_PROGRESS state and can not be updated."


def _completes_by_itself(aws: Any) -> None:
    arn = estate.stack(aws, "shop", "r1")
    queue = events.catch(aws, "cfn-status", STACK_STATUS)
    set_transition(aws, {"progression": "time", "seconds": 1})
    started = time.monotonic()
    estate.stack_mid_update(aws, "shop", "r2")
    found = events.received(aws, queue, 3, timeout=5)  # nobody describes the stack meanwhile
    assert statuses(found) == ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]
    assert 1.9 < time.monotonic() - started < 4.5
    event = found[-1]
    assert event["source"] == "aws.cloudformation" and event["resources"] == [arn]
    assert event["detail"]["stack-id"] == arn
    assert described(aws, arn)["StackStatus"] == "UPDATE_COMPLETE"
    assert release(aws) == ("r2", "r2")


def test_an_update_completes_by_itself_and_says_so_on_the_bus(aws: Any) -> None:
    _completes_by_itself(aws)


def test_over_http_too_with_the_transition_set_through_moto_api(http_aws: Any) -> None:
    _completes_by_itself(http_aws)


def test_creation_stays_immediate_and_is_announced(aws: Any) -> None:
    queue = events.catch(aws, "cfn-status", STACK_STATUS)
    arn = estate.stack(aws, "shop", "r1")
    assert described(aws, arn)["StackStatus"] == "CREATE_COMPLETE" and release(aws) == ("r1", "r1")
    assert statuses(events.received(aws, queue, 2, timeout=3)) == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]


def test_a_cancelled_update_rolls_back_step_by_step_and_leaves_the_old_resources(aws: Any) -> None:
    cf = aws.client("cloudformation")
    arn = estate.stack(aws, "shop", "r1")
    estate.stack_mid_update(aws, "shop", "r2")
    queue = events.catch(aws, "cfn-status", STACK_STATUS)
    assert validation_error(cf.continue_update_rollback, StackName=arn) == (
        "ContinueUpdateRollback cannot be called from current stack status"
    )
    cf.cancel_update_stack(StackName=arn)
    assert described(aws, arn)["StackStatus"] == "UPDATE_ROLLBACK_IN_PROGRESS"
    assert validation_error(cf.cancel_update_stack, StackName=arn) == (
        "CancelUpdateStack cannot be called from current stack status"
    )
    # A status every second DescribeStacks (the one after the cancel above counted as the first).
    set_transition(aws, {"progression": "manual", "times": 2})
    reads = [described(aws, arn)["StackStatus"] for _ in range(3)]
    assert reads == [
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    assert release(aws) == ("r1", "r1")
    assert statuses(events.received(aws, queue, 3, timeout=3)) == [
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    history = [e["ResourceStatus"] for e in cf.describe_stack_events(StackName=arn)["StackEvents"]][:4]
    assert history == [
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_IN_PROGRESS",
    ]


def test_an_update_that_failed_with_rollback_disabled_stops_at_update_failed_until_rolled_back(aws: Any) -> None:
    cf = aws.client("cloudformation")
    arn = estate.stack(aws, "shop", "r1")
    assert (
        validation_error(cf.rollback_stack, StackName=arn) == "RollbackStack cannot be called from current stack status"
    )
    estate.stack_update_failed(aws, "shop", "r2", "Queue", "Resource handler returned message: access denied")
    stack = described(aws, arn)
    assert stack["StackStatus"] == "UPDATE_FAILED"
    assert stack["StackStatusReason"] == "The following resource(s) failed to update: [Queue]."
    [failed] = [e for e in cf.describe_stack_events(StackName=arn)["StackEvents"] if e["LogicalResourceId"] == "Queue"]
    assert (failed["ResourceStatus"], failed["ResourceType"], failed["ResourceStatusReason"]) == (
        "UPDATE_FAILED",
        "AWS::SQS::Queue",
        "Resource handler returned message: access denied",
    )
    assert cf.rollback_stack(StackName=arn)["StackId"] == arn
    set_transition(aws, {"progression": "immediate"})
    assert described(aws, arn)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE" and release(aws) == ("r1", "r1")


def test_a_failed_rollback_continues_only_once_its_cause_is_fixed_or_skipped(aws: Any) -> None:
    cf = aws.client("cloudformation")
    arn = estate.stack(aws, "shop", "r1")
    estate.stack_rollback_failed(aws, "shop", "r2", "Queue", "Queue shop-work does not exist", persists=True)
    stack = described(aws, arn)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_FAILED"
    assert validation_error(cf.update_stack, StackName=arn, TemplateBody=estate.stack_template("shop", "r3")) == (
        f"Stack:{arn} is in UPDATE_ROLLBACK_FAILED state and can not be updated."
    )
    assert "Release" in validation_error(cf.continue_update_rollback, StackName=arn, ResourcesToSkip=["Release"])

    set_transition(aws, {"progression": "immediate"})
    cf.continue_update_rollback(StackName=arn)  # the cause persists: it fails again at the same resource
    assert described(aws, arn)["StackStatus"] == "UPDATE_ROLLBACK_FAILED"
    failures = [
        e["ResourceStatus"]
        for e in cf.describe_stack_events(StackName=arn)["StackEvents"]
        if e["LogicalResourceId"] in ("shop", "Queue") and e["ResourceStatus"].endswith("FAILED")
    ]
    assert failures == ["UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED"]

    cloudformation_model.fix(ACCOUNT, aws.region, "shop")
    cf.continue_update_rollback(StackName=arn)
    assert described(aws, arn)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE" and release(aws) == ("r1", "r1")


def test_an_update_change_set_runs_as_an_update_and_a_deletion_is_announced(aws: Any) -> None:
    cf = aws.client("cloudformation")
    arn = estate.stack(aws, "shop", "r1")
    change_set = cf.create_change_set(
        StackName="shop", ChangeSetName="r2", TemplateBody=estate.stack_template("shop", "r2"), ChangeSetType="UPDATE"
    )["Id"]
    cf.execute_change_set(ChangeSetName=change_set, StackName="shop")
    assert described(aws, arn)["StackStatus"] == "UPDATE_IN_PROGRESS" and release(aws) == ("r1", "r1")
    assert cf.describe_change_set(ChangeSetName=change_set)["ExecutionStatus"] == "EXECUTE_IN_PROGRESS"
    set_transition(aws, {"progression": "immediate"})
    assert described(aws, arn)["StackStatus"] == "UPDATE_COMPLETE" and release(aws) == ("r2", "r2")
    assert cf.describe_change_set(ChangeSetName=change_set)["ExecutionStatus"] == "EXECUTE_COMPLETE"

    queue = events.catch(aws, "cfn-status", STACK_STATUS)
    cf.delete_stack(StackName="shop")
    assert statuses(events.received(aws, queue, 2, timeout=3)) == ["DELETE_IN_PROGRESS", "DELETE_COMPLETE"]
