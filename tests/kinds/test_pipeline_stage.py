"""The pipeline-stage kind's own decisions, against the emulator without the workflow: which stage, what it refuses
before anything changes, and that the pipeline step never stops a stage rollback."""

from __future__ import annotations

from typing import Any

import pytest

from rollbackctl import kinds, pipelines
from rollbackctl.aws import Clients
from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.kinds import Refusal
from rollbackctl.kinds.pipeline_stage import PIPELINE_STAGE
from rollbackctl.model import Incident, PipelineRef, Trigger
from rollbackctl.store import Ledger

NAME = "orders-pipeline"
ARN = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:{NAME}"


@pytest.fixture
def clients(aws: Any) -> Clients:
    return Clients.create(aws.session())


@pytest.fixture
def ledger(aws: Any) -> Ledger:
    aws.client("dynamodb").create_table(
        TableName="ledger",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "target", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "target", "KeyType": "HASH"}, {"AttributeName": "version", "KeyType": "RANGE"}],
    )
    return Ledger(aws.client("dynamodb"), "ledger")


def target() -> Any:
    parsed = kinds.parse(ARN)
    assert parsed is not None and parsed.kind == "pipeline-stage" and parsed.name == NAME
    return parsed


def test_only_a_pipeline_arn_parses_to_the_kind() -> None:
    for arn in (f"{ARN}/Deploy", f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:webhook:x", f"{ARN}:x", ""):
        assert PIPELINE_STAGE.parse(arn) is None


def test_the_pipelines_own_tag_names_the_stage(aws: Any, clients: Clients, ledger: Ledger) -> None:
    estate.release_pipeline(aws, NAME, tags={"rollback:pipeline": f"{NAME}/Build"})
    good, bad = estate.release_history(aws, NAME, ["c1", "c2"])
    plan = PIPELINE_STAGE.plan(clients, target(), ledger)
    assert (plan.details["stage"], plan.from_version, plan.to_version) == ("Build", bad, good)
    assert plan.details["bad_artifacts"] == '["revision:c2"]'


def test_a_stage_still_running_is_refused_saying_what_to_do(aws: Any, clients: Clients, ledger: Ledger) -> None:
    estate.release_pipeline(aws, NAME)
    estate.release_history(aws, NAME, ["c1"])
    running = estate.release(aws, NAME, "c2", stop_in="Deploy")
    with pytest.raises(Refusal, match=f"is running execution {running} .* stop the execution"):
        PIPELINE_STAGE.plan(clients, target(), ledger)


def test_a_source_stage_or_a_stage_that_is_not_there_is_refused(aws: Any, clients: Clients, ledger: Ledger) -> None:
    estate.release_pipeline(aws, NAME)
    estate.release_history(aws, NAME, ["c1", "c2"])
    with pytest.raises(Refusal, match="is a source stage, and CodePipeline cannot roll back a source stage"):
        kinds.plan(clients, target(), ledger, PipelineRef(NAME, "Source", "tag rollback:pipeline on the alarm"))
    with pytest.raises(Refusal, match="has no stage Prod"):
        kinds.plan(clients, target(), ledger, PipelineRef(NAME, "Prod", "tag rollback:pipeline on the alarm"))


def test_an_alarm_naming_another_pipeline_than_its_target_is_refused(
    aws: Any, clients: Clients, ledger: Ledger
) -> None:
    estate.release_pipeline(aws, NAME)
    estate.release_history(aws, NAME, ["c1", "c2"])
    with pytest.raises(Refusal, match="names pipeline other-pipeline: rollbackctl does not guess"):
        kinds.plan(clients, target(), ledger, PipelineRef("other-pipeline", None, "tag rollback:pipeline on the alarm"))


def test_an_operator_goes_back_only_to_an_execution_that_succeeded_in_the_stage(
    aws: Any, clients: Clients, ledger: Ledger
) -> None:
    estate.release_pipeline(aws, NAME)
    good, _ = estate.release_history(aws, NAME, ["c1", "c2"])
    with pytest.raises(Refusal, match="is not a pipeline execution id"):
        PIPELINE_STAGE.plan_to(clients, target(), "c1")
    in_build = estate.release(aws, NAME, "c3", stop_in="Build")
    with pytest.raises(Refusal, match=f"execution {in_build} did not succeed in stage Deploy"):
        PIPELINE_STAGE.plan_to(clients, target(), in_build)
    assert PIPELINE_STAGE.plan_to(clients, target(), good).to_version == good


def test_a_known_good_gone_from_the_current_structure_is_not_restorable(
    aws: Any, clients: Clients, ledger: Ledger
) -> None:
    estate.release_pipeline(aws, NAME)
    estate.release_history(aws, NAME, ["c1", "c2"])
    plan = PIPELINE_STAGE.plan(clients, target(), ledger)
    cp = aws.client("codepipeline")
    declared = cp.get_pipeline(name=NAME)["pipeline"]
    declared["stages"][1]["actions"][0]["configuration"] = {"ProjectName": "changed"}
    cp.update_pipeline(pipeline=declared)  # between triage and restore
    with pytest.raises(Refusal, match="ran under version 1 of pipeline orders-pipeline, which is now version 2"):
        PIPELINE_STAGE.restorable(clients, plan)


def test_the_pipeline_step_never_stops_a_stage_rollback(aws: Any, clients: Clients) -> None:
    estate.release_pipeline(aws, NAME)
    good, _ = estate.release_history(aws, NAME, ["c1", "c2"])
    rollback = aws.client("codepipeline").rollback_stage(
        pipelineName=NAME, stageName="Deploy", targetPipelineExecutionId=good
    )["pipelineExecutionId"]
    building = estate.release(aws, NAME, "c3", stop_in="Build")
    incident = Incident("inc-1", Trigger("alarm", "a", "a", "ALARM", "2026-01-01T00:00:00Z"), "2026-01-01T00:00:00Z")
    incident.pipeline, incident.target = PipelineRef(NAME), ARN
    pipelines.stop_in_flight(clients, incident)
    status = {
        s["pipelineExecutionId"]: s["status"]
        for s in aws.client("codepipeline").list_pipeline_executions(pipelineName=NAME)["pipelineExecutionSummaries"]
    }
    assert (status[rollback], status[building]) == ("InProgress", "Stopped")
    assert [s["detail"] for s in incident.steps] == [
        f"rollback execution {rollback} left running",
        f"execution {building} stopped (abandoned)",
    ]
