"""The pipeline gate, as a pipeline runs it: a Lambda invoke action before the deploy stage. CodePipeline gives the
function a job (the emulator models the job and its answer, PutJobSuccessResult / PutJobFailureResult); a
revision marked bad, or an incident still open for the stage's targets, fails the job, the stage and the
execution, saying why; anything else goes through. Assertions are on the pipeline execution and its actions.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from moto.moto_api import state_manager

from rollbackctl.emulator import codepipeline as codepipeline_model
from rollbackctl.emulator import patches
from rollbackctl.gate import InvalidJob, parse_job
from rollbackctl.model import Incident, Trigger
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import ACCOUNT, REGION, load_event

CHECKOUT = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:checkout:live"


def gated_pipeline(aws: Any, controller: Any, name: str = "web-pipeline", targets: tuple[str, ...] = ()) -> None:
    """Source -> Gate (rollbackctl's gate, a Lambda invoke action) -> Deploy."""
    role = aws.client("iam").create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "codepipeline.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    action = {"owner": "AWS", "version": "1"}
    aws.client("codepipeline").create_pipeline(
        pipeline={
            "name": name,
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": "estate-artifacts"},
            "pipelineType": "V2",
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {**action, "category": "Source", "provider": "S3"},
                            "configuration": {"S3Bucket": "estate-source", "S3ObjectKey": f"{name}.zip"},
                            "outputArtifacts": [{"name": "SourceArtifact"}],
                        }
                    ],
                },
                {
                    "name": "Gate",
                    "actions": [
                        {
                            "name": "rollbackctl",
                            "actionTypeId": {**action, "category": "Invoke", "provider": "Lambda"},
                            "configuration": {
                                "FunctionName": controller.outputs["GateFunctionName"],
                                "UserParameters": json.dumps({"targets": list(targets)}),
                            },
                            "inputArtifacts": [{"name": "SourceArtifact"}],
                        }
                    ],
                },
                {
                    "name": "Deploy",
                    "actions": [
                        {
                            "name": "Deploy",
                            "actionTypeId": {**action, "category": "Deploy", "provider": "ECS"},
                            "configuration": {"ClusterName": "prod", "ServiceName": "web"},
                            "inputArtifacts": [{"name": "SourceArtifact"}],
                        }
                    ],
                },
            ],
        }
    )


def run_pipeline(aws: Any, name: str, revision: str) -> dict[str, Any]:
    """One execution of ``revision``, CodePipeline moving it on its own, until it ends."""
    state_manager.set_transition(codepipeline_model.MODEL, {"progression": "immediate"})
    pipelines = aws.client("codepipeline")
    execution_id = pipelines.start_pipeline_execution(
        name=name,
        sourceRevisions=[{"actionName": "Source", "revisionType": "S3_OBJECT_VERSION_ID", "revisionValue": revision}],
    )["pipelineExecutionId"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        execution = pipelines.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)
        if execution["pipelineExecution"]["status"] in ("Succeeded", "Failed", "Stopped"):
            break
        time.sleep(0.05)
    codepipeline_model.drain_jobs()
    patches.drain()
    actions = pipelines.list_action_executions(pipelineName=name, filter={"pipelineExecutionId": execution_id})
    return {
        "status": execution["pipelineExecution"]["status"],
        "actions": {(a["stageName"], a["actionName"]): a for a in actions["actionExecutionDetails"]},
    }


def test_a_revision_marked_bad_is_stopped_at_the_gate_naming_the_incident(aws: Any, controller: Any) -> None:
    gated_pipeline(aws, controller)
    ledger = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])
    ledger.mark_artifact_bad("revision:e0c7a1d2", "inc-20261201T090000-abcd1234", CHECKOUT, "2")
    ran = run_pipeline(aws, "web-pipeline", "e0c7a1d2")
    assert ran["status"] == "Failed"
    gate = ran["actions"][("Gate", "rollbackctl")]
    assert gate["status"] == "Failed"
    message = gate["output"]["executionResult"]["externalExecutionSummary"]
    assert "revision e0c7a1d2 is marked bad: incident inc-20261201T090000-abcd1234 rolled checkout:live back" in message
    assert ("Deploy", "Deploy") not in ran["actions"]  # the next wave never deployed


def test_a_good_revision_goes_through_the_gate(aws: Any, controller: Any) -> None:
    gated_pipeline(aws, controller, targets=(CHECKOUT,))
    ran = run_pipeline(aws, "web-pipeline", "f00dcafe")
    assert ran["status"] == "Succeeded"
    assert ran["actions"][("Gate", "rollbackctl")]["status"] == "Succeeded"
    assert ran["actions"][("Deploy", "Deploy")]["status"] == "Succeeded"


def test_an_incident_still_open_for_the_stages_target_stops_the_stage(aws: Any, controller: Any) -> None:
    gated_pipeline(aws, controller, targets=(CHECKOUT,))
    incident = Incident(
        "inc-20261201T090000-open0001",
        Trigger(
            "alarm", "checkout-live-errors", "arn:aws:cloudwatch:us-east-1:1:alarm:x", "ALARM", "2026-12-01T09:00:00Z"
        ),
        "2026-12-01T09:00:00.000Z",
        target=CHECKOUT,
        action="rolled_back",
        restored_at="2026-12-01T09:00:02.000Z",
    )
    IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).put(incident)
    Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"]).record_restore(
        CHECKOUT, "1", incident.incident_id, incident.restored_at or ""
    )
    ran = run_pipeline(aws, "web-pipeline", "f00dcafe")
    assert ran["status"] == "Failed"
    message = ran["actions"][("Gate", "rollbackctl")]["output"]["executionResult"]["externalExecutionSummary"]
    assert f"incident {incident.incident_id} rolled checkout:live back" in message and "still open" in message


def test_the_job_event_as_codepipeline_sends_it_is_read_without_its_credentials() -> None:
    event = load_event("codepipeline-job-gate.json")
    job = parse_job(event)
    assert job.job_id == "c0d76431-b0e7-4b6a-97e3-e8ee786eb6f6"
    assert job.revisions == ["e0c7a1d2308ca3071aa7bab414de234ab52eea"]
    assert job.targets == [CHECKOUT]
    assert "6CGtmAa3lzWtV7aEXAMPLEKEY" not in repr(job)


@pytest.mark.parametrize(
    "parameters, why",
    [
        ("not json", "UserParameters must be a JSON object"),
        ('{"targets": "arn:aws:lambda:us-east-1:1:function:x:y"}', "must be a list"),
        ('{"targets": ["arn:aws:sns:us-east-1:123456789012:topic"]}', "which is not"),
    ],
)
def test_a_job_the_gate_cannot_read_is_named(parameters: str, why: str) -> None:
    event = load_event("codepipeline-job-gate.json")
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = parameters
    with pytest.raises(InvalidJob, match=why):
        parse_job(event)


def test_a_gate_that_cannot_read_its_job_fails_it(aws: Any, controller: Any) -> None:
    """Safety over cleverness: a gate that cannot judge lets nothing through."""
    gated_pipeline(aws, controller, targets=("arn:aws:sns:us-east-1:123456789012:not-a-target",))
    ran = run_pipeline(aws, "web-pipeline", "f00dcafe")
    assert ran["status"] == "Failed"
    message = ran["actions"][("Gate", "rollbackctl")]["output"]["executionResult"]["externalExecutionSummary"]
    assert "the gate cannot read this job" in message
