"""Diagnosis through the deployed workflow: a scenario per category family, each checked for its
category, summary and remediation; a source that does not answer leaves the incident complete."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.emulator import codedeploy as codedeploy_model
from rollbackctl.emulator.demo import deliver, fire_and_wait
from tests.conftest import load_event


def failed_pipeline(aws: Any, controller: Any, code: str, message: str, **details: str) -> dict[str, Any]:
    """A build that failed with ``code``, and the event CodePipeline emits for it, through the workflow."""
    estate.pipeline(aws, "web-pipeline")
    execution_id = estate.failed_pipeline_execution(
        aws, "web-pipeline", "Build", code, message, url="https://console.example/build/1", **details
    )
    event = copy.deepcopy(load_event("codepipeline-action-failed.json"))
    event["detail"]["execution-id"] = execution_id
    event["detail"]["execution-result"]["error-code"] = code
    [finished] = deliver(aws, controller, event)
    return dict(json.loads(finished["output"]))


@pytest.mark.parametrize(
    "code, message, category, summary, remediation",
    [
        (
            "JobFailed",
            "3 tests failed",
            "build-test",
            "The Build action of stage Build failed: 3 tests failed",
            "https://console.example/build/1",
        ),
        (
            "PermissionError",
            "not authorized to perform codebuild:StartBuild",
            "permissions",
            "lacks a permission in Build",
            "Grant the pipeline's service role",
        ),
        (
            "ConfigurationError",
            "project web-build does not exist",
            "configuration",
            "is misconfigured",
            "pipeline definition",
        ),
        (
            "RevisionUnavailable",
            "the GitHub token has expired",
            "source-credentials",
            "token has expired",
            "connection or GitHub token",
        ),
        ("SystemUnavailable", "service unavailable", "transient", "could not run Build", "Retry the stage"),
    ],
)
def test_pipeline_failures_by_family(
    aws: Any, controller: Any, code: str, message: str, category: str, summary: str, remediation: str
) -> None:
    incident = failed_pipeline(aws, controller, code, message)
    diagnosis = incident["diagnosis"]
    assert diagnosis["category"] == category
    assert summary in diagnosis["summary"]
    assert remediation in diagnosis["remediation"]
    assert diagnosis["evidence"][0]["link"] == "https://console.example/build/1"


@pytest.mark.parametrize(
    "code, category, remediation",
    [("NO_INSTANCES", "capacity", "Auto Scaling"), ("HOOK_EXECUTION_FAILURE", "application-health", "logs")],
)
def test_codedeploy_failures_by_family(aws: Any, controller: Any, code: str, category: str, remediation: str) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1")
    estate.codedeploy_group(aws, "checkout-app", "checkout-live", "Lambda")
    deployment_id = estate.codedeploy_deployment(
        aws, "checkout-app", "checkout-live", estate.lambda_appspec("checkout", "live", "1", "2")
    )
    codedeploy_model.fail_deployment(ACCOUNT, aws.region, deployment_id, code, f"{code} happened")
    event = copy.deepcopy(load_event("codedeploy-deployment-failure.json"))
    event["detail"]["deploymentId"] = deployment_id
    [finished] = deliver(aws, controller, event)
    incident = json.loads(finished["output"])
    assert incident["action"] == "rolled_back"  # restored first, then diagnosed
    assert incident["diagnosis"]["category"] == category
    assert f"{code}: {code} happened" in incident["diagnosis"]["summary"]
    assert remediation in incident["diagnosis"]["remediation"]
    assert incident["diagnosis"]["evidence"][0]["link"].endswith(f"/deployments/{deployment_id}?region=us-east-1")


def test_an_ecs_circuit_breaker_is_application_health(aws: Any, controller: Any) -> None:
    one, two = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", one)
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)
    [finished] = deliver(aws, controller, load_event("ecs-deployment-failed.json"))
    diagnosis = json.loads(finished["output"])["diagnosis"]
    assert diagnosis["category"] == "application-health"
    assert "circuit breaker tripped" in diagnosis["summary"]
    assert "stoppedReason" in diagnosis["remediation"]


def test_an_alarm_alone_is_alarm_only(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.custom_alarm(
        aws,
        "orders-backlog",
        "Shop/Orders",
        "QueueDepth",
        tags={"rollback:target": "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"},
    )
    [finished] = fire_and_wait(aws, controller, "orders-backlog")
    incident = json.loads(finished["output"])
    assert incident["action"] == "rolled_back"
    assert incident["diagnosis"]["category"] == "alarm-only"
    assert "orders-backlog fired on Shop/Orders QueueDepth" in incident["diagnosis"]["summary"]
    assert "cloudwatch/home" in incident["diagnosis"]["evidence"][0]["link"]


def test_a_source_that_does_not_answer_is_missing_evidence_and_the_incident_completes(
    aws: Any, controller: Any, faults: Any
) -> None:
    """The event's own error code and summary still explain the failure (they are not asked of the API)."""
    faults.add("codepipeline", "ListActionExecutions", "AccessDeniedException", "not authorized")
    incident = failed_pipeline(aws, controller, "JobFailed", "boom")
    diagnosis = incident["diagnosis"]
    assert diagnosis["category"] == "build-test"
    assert diagnosis["summary"] == "The Build action of stage Build failed: Build terminated with state: FAILED"
    missing, said = diagnosis["evidence"]
    assert missing == {"source": "codepipeline", "missing": "AccessDeniedException", "message": missing["message"]}
    assert (said["from"], said["code"], said["stage"], said["action"]) == ("event", "JobFailed", "Build", "Build")
    assert incident["action"] == "ignored"


def test_rollbackctl_diagnose_answers_from_the_terminal(aws: Any, controller: Any) -> None:
    from typer.testing import CliRunner

    from rollbackctl.cli import app

    failed_pipeline(aws, controller, "JobFailed", "3 tests failed")
    runner = CliRunner()
    result = runner.invoke(app, ["diagnose", "--pipeline", "web-pipeline", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["diagnosis"]["category"] == "build-test"
    assert "3 tests failed" in answer["diagnosis"]["summary"]
    human = runner.invoke(app, ["diagnose", "--pipeline", "web-pipeline"])
    assert human.exit_code == 0 and "why" in human.output and "fix" in human.output
    assert runner.invoke(app, ["diagnose"]).exit_code == 2
    assert runner.invoke(app, ["diagnose", "--pipeline", "nope"]).exit_code == 1


def test_a_build_that_failed_in_a_phase_names_the_phase_and_its_message(aws: Any, controller: Any) -> None:
    from rollbackctl.emulator import codebuild as codebuild_model

    aws.client("codebuild").create_project(
        name="web-pipeline-build",
        source={"type": "S3", "location": "bucket/source.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole="arn:aws:iam::123456789012:role/codebuild",
    )
    build_id = codebuild_model.start(ACCOUNT, aws.region, "web-pipeline-build")
    codebuild_model.fail_build(
        ACCOUNT, aws.region, build_id, "BUILD", "Error while executing command: pytest. Reason: exit status 1"
    )
    diagnosis = failed_pipeline(
        aws, controller, "JobFailed", "Build terminated with state: FAILED", external_id=build_id
    )["diagnosis"]
    assert diagnosis["category"] == "build-test"
    assert (
        diagnosis["summary"]
        == "The build or its tests failed: Error while executing command: pytest. Reason: exit status 1"
    )
    assert "failing test" in diagnosis["remediation"]
    assert [e["source"] for e in diagnosis["evidence"]] == ["codepipeline", "codebuild"]


def test_a_build_that_fails_everywhere_at_length_still_leaves_a_bounded_record(aws: Any, controller: Any) -> None:
    """50 parallel build actions (CodePipeline's most in a stage) all fail with the longest error message and
    summary CodePipeline keeps (5,000 and 2,048 characters): unbounded, that evidence alone is over Step
    Functions' 256 KB payload limit. The incident is still recorded, with the evidence cut and saying so."""
    from rollbackctl.emulator import codepipeline as codepipeline_model
    from rollbackctl.store import IncidentStore

    estate.pipeline(aws, "web-pipeline", build_shards=50)
    cp = aws.client("codepipeline")
    execution_id = cp.start_pipeline_execution(name="web-pipeline")["pipelineExecutionId"]
    codepipeline_model.advance(ACCOUNT, aws.region, "web-pipeline", execution_id, "Build")
    for action in ["Build"] + [f"Build-{n}" for n in range(2, 51)]:
        codepipeline_model.fail_action(
            ACCOUNT,
            aws.region,
            "web-pipeline",
            execution_id,
            "Build",
            action,
            "JobFailed",
            f"{action}: " + "assertion failed: expected 200, got 500. " * 120,  # 5,000 characters
            summary=("x" * 2048),
            url="https://console.example/build/1",
        )
    event = copy.deepcopy(load_event("codepipeline-action-failed.json"))
    event["detail"]["execution-id"] = execution_id
    [finished] = deliver(aws, controller, event)

    assert finished["status"] == "SUCCEEDED"
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    diagnosis = incident.diagnosis
    assert diagnosis.category == "build-test" and diagnosis.summary.startswith("The Build action of stage Build")
    *kept, marker = diagnosis.evidence
    assert marker["source"] == "rollbackctl" and marker["truncated"] == 50 - len(kept)
    assert f"{50 - len(kept)} more evidence items were left out" in marker["message"]
    assert 0 < len(kept) < 50 and all(item["truncated"] for item in kept)  # each one cut to its size, too
    assert len(json.dumps(incident.diagnosis.__dict__)) <= 64 * 1024
    sizes = [
        len(str(details.get(key, "")).encode())
        for e in aws.client("stepfunctions").get_execution_history(executionArn=finished["executionArn"])["events"]
        for details in e.values()
        if isinstance(details, dict)
        for key in ("input", "output")
    ]
    assert 0 < max(sizes) < 128 * 1024  # every state's payload well under Step Functions' 256 KB


def test_the_ecs_events_reason_explains_the_failure_when_the_service_cannot_be_read(aws: Any) -> None:
    """The ECS event's own reason is evidence: a DescribeServices that fails (here the cluster is gone) is noted as
    missing and takes nothing away from it."""
    from rollbackctl.aws import Clients
    from rollbackctl.diagnosis import classify
    from rollbackctl.evidence import gather
    from rollbackctl.model import Incident, Trigger

    event = load_event("ecs-deployment-failed.json")
    service_arn = event["resources"][0]
    trigger = Trigger(
        "ecs-deployment", "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_FAILED", event["time"],
        event["detail"]["reason"], event["id"], event["region"], event["account"],
    )  # fmt: skip
    incident = Incident("inc-20261120T000000-0123abcd", trigger, event["time"], target=service_arn)
    evidence = gather(incident, Clients(aws.session()))
    assert [(e["source"], e.get("missing") or e.get("from")) for e in evidence] == [
        ("ecs", "event"),
        ("ecs-service", "ClusterNotFoundException"),
    ]
    diagnosis = classify(evidence)
    assert diagnosis.category == "application-health"
    assert "circuit breaker tripped" in diagnosis.summary
