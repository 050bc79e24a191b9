"""CloudFormation stacks through the deployed workflow in the emulator (issue 14, item 2), asserted on AWS's state.

The stack ``shop`` serves a release (its SSM parameter /shop/release and its output) and has a service role, as
stacks a pipeline deploys do. CloudFormation's rollbacks move by themselves: each test sets moto's state manager
(``cloudformation::stack``) to one status a second once CloudFormation starts rolling back, the pace AWS sets, not
the test's.

- An alarm tagged with the stack during UPDATE_IN_PROGRESS: CancelUpdateStack, read back until
  UPDATE_ROLLBACK_COMPLETE; the old resources were never replaced.
- The Stack Status Change events, end to end: UPDATE_FAILED (rollback disabled) goes back through RollbackStack;
  UPDATE_ROLLBACK_FAILED through ContinueUpdateRollback, skipping nothing; refused, saying what to do, where that
  cannot work (the resource is gone); when it fails again, the incident fails and pages.
- A stack CloudFormation is already rolling back: ignored (recorded, not fought).
- A finished update with no rollback:pipeline: refused, saying what to do.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from moto.moto_api import state_manager

from rollbackctl.aws import wait_for_execution
from rollbackctl.emulator import estate
from rollbackctl.emulator.demo import drain_messages, executions, fire_and_wait
from rollbackctl.model import Incident
from rollbackctl.store import IncidentStore

MODEL = "cloudformation::stack"
BACK = "UPDATE_ROLLBACK_COMPLETE"


def status(aws: Any, arn: str) -> str:
    return str(aws.client("cloudformation").describe_stacks(StackName=arn)["Stacks"][0]["StackStatus"])


def release(aws: Any) -> tuple[str, str]:
    """What the stack serves: its SSM parameter and its output."""
    value = aws.client("ssm").get_parameter(Name="/shop/release")["Parameter"]["Value"]
    [stack] = aws.client("cloudformation").describe_stacks(StackName="shop")["Stacks"]
    return str(value), str({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}.get("Release"))


@pytest.fixture
def cloudformation_rolls_back(aws: Any) -> Iterator[None]:
    """Once CloudFormation starts rolling ``shop`` back (after a change of the controller's), it moves on by itself,
    one status a second. Until then its statuses stay where the estate put them."""
    stop = threading.Event()

    def pace() -> None:
        cf = aws.client("cloudformation")
        while not stop.wait(0.05):
            stacks = cf.describe_stacks()["Stacks"]
            if any(s["StackName"] == "shop" and s["StackStatus"] == "UPDATE_ROLLBACK_IN_PROGRESS" for s in stacks):
                state_manager.set_transition(MODEL, {"progression": "time", "seconds": 1})
                return

    pacer = threading.Thread(target=pace, daemon=True)
    pacer.start()
    yield
    stop.set()
    pacer.join(timeout=5)


def incidents(aws: Any, controller: Any, finished: list[dict[str, Any]]) -> list[Incident]:
    """The incident each execution that succeeded ended with: the record, or (a duplicate) what triage decided."""
    store = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"])
    found = []
    for execution in finished:
        output = json.loads(execution.get("output") or "{}")
        if output.get("incident_id"):
            found.append(store.get(str(output["incident_id"])) or Incident.from_dict(output))
    return found


def every_execution(aws: Any, controller: Any, before: set[str], timeout: float = 90) -> list[dict[str, Any]]:
    """Every workflow execution started since ``before``, each waited for, until no new one starts."""
    sfn, done, finished = aws.client("stepfunctions"), set(before), []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = sorted(executions(aws, controller) - done)
        if not new:
            time.sleep(0.3)  # an event of the change just made may still be on its way
            if not sorted(executions(aws, controller) - done):
                return finished
            continue
        for arn in new:
            finished.append(wait_for_execution(sfn, arn, timeout))
            done.add(arn)
    raise TimeoutError("workflow executions kept starting")


def triggered_by(found: list[Incident], state: str) -> Incident:
    [incident] = [i for i in found if i.trigger.kind == "cloudformation" and i.trigger.state == state]
    return incident


def restore_steps(incident: Incident) -> list[str]:
    return [s["status"] for s in incident.steps if s["step"] == "restore"]


def test_an_alarm_during_an_update_cancels_it_and_the_old_resources_stay(
    aws: Any, controller: Any, faults: Any, cloudformation_rolls_back: None
) -> None:
    arn = estate.stack(aws, "shop", "r1")
    estate.stack_mid_update(aws, "shop", "r2")
    estate.stack_alarm(aws, "shop-errors", arn)
    assert status(aws, arn) == "UPDATE_IN_PROGRESS" and release(aws) == ("r1", "r1")
    before = executions(aws, controller)

    [execution] = fire_and_wait(aws, controller, "shop-errors")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    others = every_execution(aws, controller, before | {execution["executionArn"]})
    [incident] = incidents(aws, controller, [execution])

    assert incident.action == "rolled_back", incident.reason
    assert incident.plan is not None and incident.plan.strategy == "cfn-cancel-update"
    assert incident.from_version and incident.from_version.startswith("UPDATE_IN_PROGRESS (update started ")
    assert incident.to_version == BACK
    assert faults.mutating_calls() == [("cloudformation", "CancelUpdateStack")]
    assert status(aws, arn) == BACK
    assert release(aws) == ("r1", "r1")  # the update never completed: its resources never replaced the old ones
    assert restore_steps(incident) == ["started", "done"]
    assert any("cancelling the update of stack shop" in step["detail"] for step in incident.steps)
    assert incident.restored_at is not None and incident.time_to_restore_ms is not None
    print(f"time_to_restore_ms (CancelUpdateStack): {incident.time_to_restore_ms}")
    # The rollback CloudFormation reported for the cancel is part of this incident, never a second rollback.
    assert {i.action for i in incidents(aws, controller, others)} <= {"ignored", None}


def test_update_failed_with_rollback_disabled_goes_back_through_rollback_stack(
    aws: Any, controller: Any, faults: Any, cloudformation_rolls_back: None
) -> None:
    arn = estate.stack(aws, "shop", "r1")
    before = executions(aws, controller)
    denied = (
        'Resource handler returned message: "User: arn:aws:sts::123456789012:assumed-role/estate-cloudformation/x is '
        'not authorized to perform: sqs:CreateQueue" (Service: Sqs, Status Code: 403)'
    )
    # CloudFormation reports UPDATE_FAILED on the default bus; EventBridge starts the workflow.
    estate.stack_update_failed(aws, "shop", "r2", "Queue", denied)
    incident = triggered_by(incidents(aws, controller, every_execution(aws, controller, before)), "UPDATE_FAILED")

    assert incident.action == "rolled_back", incident.reason
    assert incident.plan is not None and incident.plan.strategy == "cfn-rollback-stack"
    assert faults.mutating_calls() == [("cloudformation", "RollbackStack")]
    assert status(aws, arn) == BACK and release(aws) == ("r1", "r1")
    assert restore_steps(incident) == ["started", "done"]
    assert incident.diagnosis.category == "permissions"
    [failed] = [e for e in incident.diagnosis.evidence if e.get("source") == "cloudformation"]
    assert (failed["resource"], failed["type"], failed["code"]) == ("Queue", "AWS::SQS::Queue", "UPDATE_FAILED")
    assert "sqs:CreateQueue" in incident.diagnosis.summary
    print(f"time_to_restore_ms (RollbackStack): {incident.time_to_restore_ms}")


def test_update_rollback_failed_continues_the_rollback_skipping_nothing(
    aws: Any, controller: Any, faults: Any, cloudformation_rolls_back: None
) -> None:
    arn = estate.stack(aws, "shop", "r1")
    before = executions(aws, controller)
    estate.stack_rollback_failed(aws, "shop", "r2", "Queue", "Resource handler returned message: Rate exceeded")
    found = incidents(aws, controller, every_execution(aws, controller, before))
    incident = triggered_by(found, "UPDATE_ROLLBACK_FAILED")

    assert incident.action == "rolled_back", incident.reason
    assert incident.plan is not None and incident.plan.strategy == "cfn-continue-rollback"
    assert "skipping no resource" in incident.reason
    assert faults.mutating_calls() == [("cloudformation", "ContinueUpdateRollback")]
    assert status(aws, arn) == BACK and release(aws) == ("r1", "r1")
    # CloudFormation's own rollback before it failed was recorded, never fought (nor was the one the continue began).
    rolling = [
        i for i in found if i.trigger.kind == "cloudformation" and i.trigger.state == "UPDATE_ROLLBACK_IN_PROGRESS"
    ]
    assert rolling and {i.action for i in rolling} <= {"ignored", None}
    print(f"time_to_restore_ms (ContinueUpdateRollback): {incident.time_to_restore_ms}")


def test_a_rollback_that_failed_on_a_resource_that_is_gone_is_refused_saying_what_to_do(
    aws: Any, controller: Any, faults: Any
) -> None:
    arn = estate.stack(aws, "shop", "r1")
    before = executions(aws, controller)
    gone = "Resource handler returned message: Queue shop-work does not exist (Service: Sqs, Status Code: 400)"
    estate.stack_rollback_failed(aws, "shop", "r2", "Queue", gone, persists=True)
    incident = triggered_by(
        incidents(aws, controller, every_execution(aws, controller, before)), "UPDATE_ROLLBACK_FAILED"
    )

    assert incident.action == "refused"
    assert "Queue failed because it no longer exists" in incident.reason
    assert f"continue-update-rollback --stack-name {arn} --resources-to-skip Queue" in incident.reason
    assert faults.mutating_calls() == []
    assert status(aws, arn) == "UPDATE_ROLLBACK_FAILED"


def test_a_continued_rollback_that_fails_again_fails_the_incident_and_pages(
    aws: Any, controller: Any, faults: Any, oncall: str, cloudformation_rolls_back: None
) -> None:
    arn = estate.stack(aws, "shop", "r1")
    before = executions(aws, controller)
    estate.stack_rollback_failed(aws, "shop", "r2", "Queue", "Internal Failure", persists=True)
    every_execution(aws, controller, before)
    recorded = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    [failed] = [i for i in recorded if i.action == "failed"]

    assert failed.plan is not None and failed.plan.strategy == "cfn-continue-rollback"
    assert "reads back UPDATE_ROLLBACK_FAILED" in failed.reason and "Queue: Internal Failure" in failed.reason
    assert faults.mutating_calls() == [("cloudformation", "ContinueUpdateRollback")]  # once: never retried blindly
    assert status(aws, arn) == "UPDATE_ROLLBACK_FAILED"
    pages = [m for m in drain_messages(aws, oncall) if m["Subject"].startswith("[rollbackctl] FAILED")]
    assert pages and pages[0]["MessageAttributes"]["severity"]["Value"] == "critical"


def test_a_stack_cloudformation_is_already_rolling_back_is_recorded_not_fought(
    aws: Any, controller: Any, faults: Any
) -> None:
    arn = estate.stack(aws, "shop", "r1")
    estate.stack_rolling_back(aws, "shop", "r2", "Queue", "Resource handler returned message: Rate exceeded")
    estate.stack_alarm(aws, "shop-errors", arn)
    [execution] = fire_and_wait(aws, controller, "shop-errors")
    [incident] = incidents(aws, controller, [execution])

    assert incident.action == "ignored"
    assert "already rolling stack shop back (UPDATE_ROLLBACK_IN_PROGRESS): recorded, not fought" in incident.reason
    assert faults.mutating_calls() == []
    assert status(aws, arn) == "UPDATE_ROLLBACK_IN_PROGRESS"


def test_a_finished_update_without_a_pipeline_is_refused_saying_what_to_do(
    aws: Any, controller: Any, faults: Any
) -> None:
    from rollbackctl.emulator import ACCOUNT
    from rollbackctl.emulator import cloudformation as cloudformation_model

    arn = estate.stack(aws, "shop", "r1")
    estate.stack_mid_update(aws, "shop", "r2")
    cloudformation_model.finish(ACCOUNT, aws.region, "shop")  # the update completed
    assert status(aws, arn) == "UPDATE_COMPLETE" and release(aws) == ("r2", "r2")
    estate.stack_alarm(aws, "shop-errors", arn)
    [execution] = fire_and_wait(aws, controller, "shop-errors")
    [incident] = incidents(aws, controller, [execution])

    assert incident.action == "refused"
    assert "stack shop is UPDATE_COMPLETE: its update finished" in incident.reason
    assert "deploy its previous template again" in incident.reason
    assert "rollback:pipeline=PIPELINE/STAGE" in incident.reason
    assert faults.mutating_calls() == []
    assert release(aws) == ("r2", "r2")


def test_track_learns_a_stacks_updates_and_an_alarm_red_before_one_began_does_not_cancel_it(
    aws: Any, controller: Any, faults: Any
) -> None:
    from rollbackctl.emulator import ACCOUNT, patches
    from rollbackctl.emulator import cloudformation as cloudformation_model
    from rollbackctl.store import Ledger
    from tests.conftest import load_event

    ledger = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])
    arn = estate.stack(aws, "shop", "r1")
    alarm = estate.stack_alarm(aws, "shop-errors", arn)
    estate.stack_mid_update(aws, "shop", "r2")
    patches.drain()  # Track got CloudFormation's UPDATE_IN_PROGRESS
    deployment = ledger.latest_deployment(arn)
    assert deployment is not None and deployment.version.startswith("update started ")

    stale = load_event("alarm-tagged-custom-metric.json")  # ALARM since 2026-11-20, before this update began
    stale["detail"]["alarmName"], stale["resources"] = "shop-errors", [alarm]
    sfn = aws.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=controller.outputs["StateMachineArn"], input=json.dumps(stale))
    incident = json.loads(wait_for_execution(sfn, started["executionArn"])["output"])
    assert incident["action"] == "ignored" and "already red" in incident["reason"]
    assert faults.mutating_calls() == [] and status(aws, arn) == "UPDATE_IN_PROGRESS"

    cloudformation_model.finish(ACCOUNT, aws.region, "shop")  # UPDATE_COMPLETE: the stack's state is good
    patches.drain()
    good = [(e.version, e.reason) for e in ledger.entries(arn) if e.status == "good"]
    assert good == [(deployment.version, "its deployment succeeded")]


def test_a_stack_without_a_service_role_is_never_rolled_back_with_rollbackctls_own_credentials(
    aws: Any, controller: Any, faults: Any
) -> None:
    arn = estate.stack(aws, "shop", "r1", service_role=False)
    before = executions(aws, controller)
    estate.stack_update_failed(aws, "shop", "r2", "Queue", "Resource handler returned message: access denied")
    incident = triggered_by(incidents(aws, controller, every_execution(aws, controller, before)), "UPDATE_FAILED")

    assert incident.action == "refused"
    assert "has no service role" in incident.reason
    assert f"aws cloudformation rollback-stack --stack-name {arn}" in incident.reason
    assert faults.mutating_calls() == [] and status(aws, arn) == "UPDATE_FAILED"
