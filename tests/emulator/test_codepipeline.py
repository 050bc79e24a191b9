"""CodePipeline V2 in the emulator, as the API Reference and the User Guide describe it (codepipeline.py).

Executions run their stages through moto's state manager (``codepipeline::execution``) and carry their structure
version, type and source revisions; RollbackStage starts a ROLLBACK execution of one stage with AWS's own errors for
what it refuses; a stage with onFailure ROLLBACK rolls itself back; a disabled inbound transition holds an
execution; the final statuses put CodePipeline's events on the default bus in the documented shape.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.moto_api import state_manager

from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.emulator import codepipeline as model
from tests.emulator.events import catch, received

NAME = "shop-pipeline"
STAGE_EVENTS = {"source": ["aws.codepipeline"], "detail-type": ["CodePipeline Stage Execution State Change"]}


def cp(aws: Any) -> Any:
    return aws.client("codepipeline")


def execution(aws: Any, execution_id: str) -> dict[str, Any]:
    found: dict[str, Any] = cp(aws).get_pipeline_execution(pipelineName=NAME, pipelineExecutionId=execution_id)[
        "pipelineExecution"
    ]
    return found


def error(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def test_an_execution_stays_where_it_is_in_process_and_carries_its_v2_fields(aws: Any) -> None:
    estate.release_pipeline(aws, NAME)
    running = estate.release(aws, NAME, "abc123", stop_in="Deploy")
    time.sleep(0.6)  # the ticker has read it: it did not move (in process, held)
    found = execution(aws, running)
    assert (found["status"], found["pipelineVersion"], found["executionType"]) == ("InProgress", 1, "STANDARD")
    assert found["artifactRevisions"] == [{"name": "source", "revisionId": "abc123"}]
    [summary] = cp(aws).list_pipeline_executions(pipelineName=NAME)["pipelineExecutionSummaries"]
    assert summary["sourceRevisions"] == [{"actionName": "Source", "revisionId": "abc123"}]
    assert "rollbackMetadata" not in summary


def test_a_transition_runs_the_stages_in_order_then_the_execution_succeeds(aws: Any) -> None:
    estate.release_pipeline(aws, NAME)
    url = catch(aws, "stages", STAGE_EVENTS)
    running = cp(aws).start_pipeline_execution(name=NAME)["pipelineExecutionId"]
    state_manager.set_transition(model.MODEL, {"progression": "time", "seconds": 0.2})
    stages = received(aws, url, 3, timeout=10)  # nobody reads the execution: the ticker moves it
    assert [(e["detail"]["stage"], e["detail"]["state"]) for e in stages] == [
        ("Source", "SUCCEEDED"),
        ("Build", "SUCCEEDED"),
        ("Deploy", "SUCCEEDED"),
    ]
    assert execution(aws, running)["status"] == "Succeeded"
    event = stages[-1]
    assert event["detail-type"] == "CodePipeline Stage Execution State Change" and event["source"] == "aws.codepipeline"
    assert event["resources"] == [f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:{NAME}"]
    assert event["detail"] == {
        "pipeline": NAME,
        "execution-id": running,
        "stage": "Deploy",
        "state": "SUCCEEDED",
        "version": 1,
        "pipeline-execution-attempt": 1,
    }


def test_the_action_and_pipeline_events_are_in_the_documented_shape(aws: Any) -> None:
    estate.release_pipeline(aws, NAME)
    url = catch(aws, "everything", {"source": ["aws.codepipeline"]})
    running = estate.release(aws, NAME, "abc123", stop_in="Deploy")
    model.fail_action(
        ACCOUNT, aws.region, NAME, running, "Deploy", "Deploy", "JobFailed", "Stack update failed", events=True
    )
    found = received(aws, url, 7, timeout=10)
    by_type = {(e["detail-type"], e["detail"].get("stage"), e["detail"]["state"]) for e in found}
    assert ("CodePipeline Action Execution State Change", "Deploy", "FAILED") in by_type
    assert ("CodePipeline Stage Execution State Change", "Deploy", "FAILED") in by_type
    assert ("CodePipeline Pipeline Execution State Change", None, "FAILED") in by_type
    action = next(
        e for e in found if e["detail-type"].startswith("CodePipeline Action") and e["detail"]["state"] == "FAILED"
    )
    assert action["detail"]["type"] == {
        "owner": "AWS",
        "provider": "CloudFormation",
        "category": "Deploy",
        "version": "1",
    }
    assert action["detail"]["execution-result"] == {"error-code": "JobFailed"}
    assert action["detail"]["region"] == "us-east-1" and action["detail"]["execution-id"] == running
    pipeline = next(e for e in found if e["detail-type"].startswith("CodePipeline Pipeline"))
    assert pipeline["detail"]["execution-trigger"] == {"trigger-type": "StartPipelineExecution", "trigger-detail": ""}


def test_a_failure_a_test_plays_puts_nothing_on_the_bus_unless_asked(aws: Any) -> None:
    estate.release_pipeline(aws, NAME)
    url = catch(aws, "failures", {"source": ["aws.codepipeline"], "detail": {"state": ["FAILED"]}})
    running = estate.release(aws, NAME, "abc123", stop_in="Build")
    model.fail_action(ACCOUNT, aws.region, NAME, running, "Build", "Build", "JobFailed", "tests failed")
    assert received(aws, url, 1, timeout=1.5) == []
    assert execution(aws, running)["status"] == "Failed"


def test_rollback_stage_runs_the_stage_again_with_the_target_executions_revisions(aws: Any) -> None:
    estate.release_pipeline(aws, NAME)
    good, bad = estate.release_history(aws, NAME, ["c1", "c2"])
    rollback = cp(aws).rollback_stage(pipelineName=NAME, stageName="Deploy", targetPipelineExecutionId=good)[
        "pipelineExecutionId"
    ]
    found = execution(aws, rollback)
    assert (found["status"], found["executionType"]) == ("InProgress", "ROLLBACK")
    assert found["rollbackMetadata"] == {"rollbackTargetPipelineExecutionId": good}
    assert found["trigger"]["triggerType"] == "ManualRollback"
    assert found["artifactRevisions"] == [{"name": "source", "revisionId": "c1"}]
    states = {s["stageName"]: s for s in cp(aws).get_pipeline_state(name=NAME)["stageStates"]}
    assert states["Deploy"]["latestExecution"] == {
        "pipelineExecutionId": rollback,
        "status": "InProgress",
        "type": "ROLLBACK",
    }
    assert states["Build"]["latestExecution"]["pipelineExecutionId"] == bad  # a rollback runs only its stage
    actions = cp(aws).list_action_executions(pipelineName=NAME, filter={"pipelineExecutionId": rollback})
    assert [a["stageName"] for a in actions["actionExecutionDetails"]] == ["Deploy"]
    model.finish(ACCOUNT, aws.region, NAME, rollback)
    assert execution(aws, rollback)["status"] == "Succeeded"
    succeeded = cp(aws).list_pipeline_executions(
        pipelineName=NAME, filter={"succeededInStage": {"stageName": "Deploy"}}
    )
    assert [s["pipelineExecutionId"] for s in succeeded["pipelineExecutionSummaries"]] == [rollback, bad, good]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("source stage", "UnableToRollbackStageException"),
        ("target is a rollback", "UnableToRollbackStageException"),
        ("target did not succeed in the stage", "UnableToRollbackStageException"),
        ("stage is running", "UnableToRollbackStageException"),
        ("target ran under an older structure", "PipelineExecutionOutdatedException"),
        ("no such execution", "PipelineExecutionNotFoundException"),
        ("no such stage", "StageNotFoundException"),
        ("no such pipeline", "PipelineNotFoundException"),
    ],
)
def test_rollback_stage_refuses_what_aws_refuses_with_its_errors(aws: Any, case: str, code: str) -> None:
    estate.release_pipeline(aws, NAME)
    good, _ = estate.release_history(aws, NAME, ["c1", "c2"])
    args = {"pipelineName": NAME, "stageName": "Deploy", "targetPipelineExecutionId": good}
    if case == "source stage":
        args["stageName"] = "Source"
    elif case == "target is a rollback":
        args["targetPipelineExecutionId"] = estate.rollback_stage(aws, NAME, "Deploy", good)
    elif case == "target did not succeed in the stage":
        args["targetPipelineExecutionId"] = estate.release(aws, NAME, "c3", stop_in="Build")
    elif case == "stage is running":
        estate.release(aws, NAME, "c3", stop_in="Deploy")
    elif case == "target ran under an older structure":
        declared = cp(aws).get_pipeline(name=NAME)["pipeline"]
        declared["stages"][2]["actions"][0]["configuration"] = {"StackName": "shop"}
        cp(aws).update_pipeline(pipeline=declared)
    elif case == "no such execution":
        args["targetPipelineExecutionId"] = "00000000-0000-4000-8000-000000000000"
    elif case == "no such stage":
        args["stageName"] = "Prod"
    else:
        args["pipelineName"] = "no-such-pipeline"
    before = len(cp(aws).list_pipeline_executions(pipelineName=NAME)["pipelineExecutionSummaries"])
    assert error(lambda: cp(aws).rollback_stage(**args)) == code
    assert len(cp(aws).list_pipeline_executions(pipelineName=NAME)["pipelineExecutionSummaries"]) == before


def test_a_stage_with_on_failure_rollback_rolls_itself_back_to_the_last_success(aws: Any) -> None:
    estate.release_pipeline(aws, NAME, rollback_on_failure=True)
    failing_first = estate.release(aws, NAME, "c0", stop_in="Deploy")
    model.fail_action(ACCOUNT, aws.region, NAME, failing_first, "Deploy", "Deploy", "JobFailed", "no")
    assert [
        e["executionType"] for e in cp(aws).list_pipeline_executions(pipelineName=NAME)["pipelineExecutionSummaries"]
    ] == ["STANDARD"]  # nothing succeeded in the stage yet: nothing to roll back to
    [good] = estate.release_history(aws, NAME, ["c1"])
    failing = estate.release(aws, NAME, "c2", stop_in="Deploy")
    model.fail_action(ACCOUNT, aws.region, NAME, failing, "Deploy", "Deploy", "JobFailed", "Stack update failed")
    newest = cp(aws).list_pipeline_executions(pipelineName=NAME)["pipelineExecutionSummaries"][0]
    assert (newest["executionType"], newest["trigger"]["triggerType"]) == ("ROLLBACK", "AutomatedRollback")
    assert newest["rollbackMetadata"] == {"rollbackTargetPipelineExecutionId": good}
    assert execution(aws, failing)["status"] == "Failed"


def test_an_execution_waits_before_a_stage_whose_inbound_transition_is_disabled(aws: Any) -> None:
    estate.release_pipeline(aws, NAME)
    cp(aws).disable_stage_transition(
        pipelineName=NAME, stageName="Deploy", transitionType="Inbound", reason="blocked by a test"
    )
    running = cp(aws).start_pipeline_execution(name=NAME)["pipelineExecutionId"]
    state_manager.set_transition(model.MODEL, {"progression": "immediate"})
    states = {s["stageName"]: s for s in cp(aws).get_pipeline_state(name=NAME)["stageStates"]}
    assert "latestExecution" not in states["Deploy"] and states["Build"]["latestExecution"]["status"] == "Succeeded"
    assert execution(aws, running)["status"] == "InProgress"
    cp(aws).enable_stage_transition(pipelineName=NAME, stageName="Deploy", transitionType="Inbound")
    assert execution(aws, running)["status"] == "Succeeded"


def test_stop_and_wait_lets_the_actions_finish_then_stops(aws: Any) -> None:
    estate.release_pipeline(aws, NAME)
    running = estate.release(aws, NAME, "c1", stop_in="Deploy")
    cp(aws).stop_pipeline_execution(pipelineName=NAME, pipelineExecutionId=running, abandon=False, reason="wait")
    assert execution(aws, running)["status"] == "Stopping"
    state_manager.set_transition(model.MODEL, {"progression": "immediate"})
    assert execution(aws, running)["status"] == "Stopped"
    actions = cp(aws).list_action_executions(pipelineName=NAME, filter={"pipelineExecutionId": running})
    assert {a["stageName"]: a["status"] for a in actions["actionExecutionDetails"]}["Deploy"] == "Succeeded"


def test_local_aws_runs_a_rollback_by_itself_as_the_state_manager_endpoint_says(http_aws: Any) -> None:
    estate.release_pipeline(http_aws, NAME)
    good, _ = estate.release_history(http_aws, NAME, ["c1", "c2"])
    body = json.dumps({"model_name": model.MODEL, "transition": {"progression": "time", "seconds": 0.2}}).encode()
    request = urllib.request.Request(f"{http_aws.endpoint_url}/moto-api/state-manager/set-transition", data=body)
    with urllib.request.urlopen(request, timeout=5):  # the emulator, on 127.0.0.1
        pass
    rollback = cp(http_aws).rollback_stage(pipelineName=NAME, stageName="Deploy", targetPipelineExecutionId=good)[
        "pipelineExecutionId"
    ]
    deadline = time.monotonic() + 10
    while execution(http_aws, rollback)["status"] == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert execution(http_aws, rollback)["status"] == "Succeeded"
