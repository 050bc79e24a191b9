"""Kinds working together through the deployed workflow: a CloudFormation stack whose bad update already finished
has no way back of its own (CloudFormation's rollbacks only undo an update in progress or failed), so it goes back
through the pipeline stage that ships it (``rollback:pipeline``): RollbackStage, read back until the rollback
execution succeeded, then that stage blocked. Without the tag, the refusal says what to do."""

from __future__ import annotations

import json
from typing import Any

from moto.moto_api import state_manager

from rollbackctl.emulator import ACCOUNT, estate, patches
from rollbackctl.emulator import cloudformation as cloudformation_model
from rollbackctl.emulator.demo import fire_and_wait
from rollbackctl.model import Incident
from rollbackctl.store import IncidentStore

PIPELINE = "shop-pipeline"
PIPELINE_ARN = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:{PIPELINE}"


def incident_of(aws: Any, controller: Any, finished: list[dict[str, Any]]) -> Incident:
    [execution] = finished
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    stored = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(
        json.loads(execution["output"])["incident_id"]
    )
    assert stored is not None
    return stored


def shop_updated_by_its_pipeline(aws: Any) -> tuple[str, str, str]:
    """Stack shop, updated r1 -> r2 and UPDATE_COMPLETE; shop-pipeline's Deploy stage shipped c1 then c2."""
    arn = estate.stack(aws, "shop", "r1")
    estate.stack_mid_update(aws, "shop", "r2")
    cloudformation_model.finish(ACCOUNT, aws.region, "shop")
    estate.release_pipeline(aws, PIPELINE)
    good, bad = estate.release_history(aws, PIPELINE, ["c1", "c2"])
    patches.drain()
    return arn, good, bad


def test_a_stack_whose_update_finished_goes_back_through_the_stage_that_ships_it(
    aws: Any, controller: Any, faults: Any
) -> None:
    stack, good, bad = shop_updated_by_its_pipeline(aws)
    assert aws.client("cloudformation").describe_stacks(StackName="shop")["Stacks"][0]["StackStatus"] == (
        "UPDATE_COMPLETE"
    )
    state_manager.set_transition("codepipeline::execution", {"progression": "time", "seconds": 1})
    estate.stack_alarm(aws, "shop-errors", stack, tags={"rollback:pipeline": f"{PIPELINE}/Deploy"})
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "shop-errors"))

    assert incident.action == "rolled_back", incident.reason
    assert incident.target == stack and incident.plan is not None
    assert (incident.plan.kind, incident.plan.target) == ("pipeline-stage", PIPELINE_ARN)
    assert (incident.from_version, incident.to_version) == (bad, good)
    assert faults.mutating_calls() == [("codepipeline", "RollbackStage"), ("codepipeline", "DisableStageTransition")]
    cp = aws.client("codepipeline")
    latest = cp.list_pipeline_executions(pipelineName=PIPELINE)["pipelineExecutionSummaries"][0]
    assert (latest["executionType"], latest["status"]) == ("ROLLBACK", "Succeeded")
    deploy = next(s for s in cp.get_pipeline_state(name=PIPELINE)["stageStates"] if s["stageName"] == "Deploy")
    assert deploy["inboundTransitionState"]["enabled"] is False
    restore = [s["status"] for s in incident.steps if s["step"] == "restore"]
    assert restore == ["started", "done"]


def test_without_its_pipeline_a_finished_stack_update_is_refused_saying_what_to_do(
    aws: Any, controller: Any, faults: Any
) -> None:
    stack, _, _ = shop_updated_by_its_pipeline(aws)
    estate.stack_alarm(aws, "shop-errors", stack)
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "shop-errors"))
    assert incident.action == "refused"
    assert "rollback:pipeline" in incident.reason
    assert faults.mutating_calls() == []
