"""ECS services, CodeDeploy blue/green and the pipelines that ship them, through the deployed workflow.

Each test builds the estate with plain AWS calls, lets AWS emit the event (an alarm state change, or the
service's own deployment event on the bus), and asserts on the resulting AWS state.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.emulator import codedeploy as codedeploy_model
from rollbackctl.emulator import codepipeline as codepipeline_model
from rollbackctl.emulator.demo import deliver, drain_messages, fire_and_wait
from rollbackctl.model import Incident
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import load_event
from tests.e2e.conftest import as_role

WEB = "arn:aws:ecs:us-east-1:123456789012:service/prod/web"
CHECKOUT = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"


def the_incident(aws: Any, controller: Any, finished: list[dict[str, Any]]) -> Incident:
    assert len(finished) == 1, f"expected one workflow execution, got {len(finished)}"
    store = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"])
    assert finished[0]["status"] == "SUCCEEDED", [i.reason for i in store.list()]
    incident_id = json.loads(finished[0]["output"])["incident_id"]
    stored = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(incident_id)
    assert stored is not None
    return stored


def web_mid_rollout(aws: Any, tags: dict[str, str] | None = None) -> list[str]:
    """web:1 completed; web:2 rolling out (PRIMARY IN_PROGRESS, web:1 still ACTIVE)."""
    definitions = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", definitions[0], tags=tags)
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=definitions[1])
    return definitions


def deployments(aws: Any) -> list[tuple[str, str]]:
    service = aws.client("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
    return [(d["status"], d["taskDefinition"].rsplit("/", 1)[1]) for d in service["deployments"]]


def test_ecs_alarm_mid_rollout_restores_stops_the_pipeline_and_blocks_the_deploy_stage(
    aws: Any, controller: Any, oncall: str
) -> None:
    estate.pipeline(aws, "web-pipeline")
    execution_id = estate.pipeline_in_deploy(aws, "web-pipeline")
    web_mid_rollout(aws, tags={"rollback:pipeline": "web-pipeline"})
    estate.ecs_alarm(aws, "web-cpu", "prod", "web")
    incident = the_incident(aws, controller, fire_and_wait(aws, controller, "web-cpu"))

    assert incident.action == "rolled_back"
    assert deployments(aws)[0] == ("PRIMARY", "web:1")
    assert (incident.from_version or "").endswith("web:2") and (incident.to_version or "").endswith("web:1")
    cp = aws.client("codepipeline")
    execution = cp.get_pipeline_execution(pipelineName="web-pipeline", pipelineExecutionId=execution_id)
    assert execution["pipelineExecution"]["status"] == "Stopped"
    assert incident.incident_id in execution["pipelineExecution"]["statusSummary"]
    [summary] = cp.list_pipeline_executions(pipelineName="web-pipeline")["pipelineExecutionSummaries"]
    assert incident.incident_id in summary["stopTrigger"]["reason"]
    [deploy] = [s for s in cp.get_pipeline_state(name="web-pipeline")["stageStates"] if s["stageName"] == "Deploy"]
    assert deploy["inboundTransitionState"]["enabled"] is False
    assert incident.incident_id in deploy["inboundTransitionState"]["disabledReason"]
    assert "bad version web 2" in deploy["inboundTransitionState"]["disabledReason"]
    assert Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"]).is_bad(
        WEB, incident.from_version or ""
    )
    [message, escalation] = drain_messages(aws, oncall)  # the CPU alarm stays red through the bake
    assert escalation["Subject"] == "[rollbackctl] STILL ALARMING: prod/web the rollback did not fix it"
    assert message["Subject"] == "[rollbackctl] ROLLED BACK: prod/web web:2 -> web:1"
    assert "stop pipeline web-pipeline: done" in message["Message"]
    assert "block pipeline web-pipeline: done" in message["Message"]


def test_ecs_circuit_breaker_event_rolls_back_to_the_active_deployment(aws: Any, controller: Any) -> None:
    web_mid_rollout(aws)
    incident = the_incident(aws, controller, deliver(aws, controller, load_event("ecs-deployment-failed.json")))
    assert incident.trigger.kind == "ecs-deployment"
    assert incident.action == "rolled_back"
    assert deployments(aws)[0] == ("PRIMARY", "web:1")
    [blocked] = [step for step in incident.steps if step["step"] == "block pipeline"]
    assert blocked["status"] == "skipped"


def test_ecs_rollback_uses_the_ledger_and_never_a_bad_definition(aws: Any, controller: Any) -> None:
    one, two, three = estate.task_definitions(aws, "web", 3)
    estate.ecs_service(aws, "prod", "web", three)  # web:3 completed: no ACTIVE deployment to return to
    ledger = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])
    ledger.record(WEB, one, "good", "served past the bake window")
    ledger.record(WEB, two, "good", "served past the bake window")
    ledger.record(WEB, two, "bad", "rolled back earlier")
    estate.ecs_alarm(aws, "web-cpu", "prod", "web")
    incident = the_incident(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "rolled_back"
    assert deployments(aws)[0] == ("PRIMARY", "web:1")


def test_a_previous_task_definition_that_is_gone_means_refused(aws: Any, controller: Any, oncall: str) -> None:
    one, _ = web_mid_rollout(aws)
    aws.client("ecs").deregister_task_definition(taskDefinition=one)
    estate.ecs_alarm(aws, "web-cpu", "prod", "web")
    incident = the_incident(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "refused"
    assert "web:1" in incident.reason and "INACTIVE" in incident.reason
    assert deployments(aws)[0] == ("PRIMARY", "web:2")
    assert "REFUSED" in drain_messages(aws, oncall)[0]["Subject"]


def test_a_pipeline_that_does_not_exist_is_recorded_and_nothing_else_is_touched(aws: Any, controller: Any) -> None:
    estate.pipeline(aws, "other-pipeline")
    other = estate.pipeline_in_deploy(aws, "other-pipeline")
    web_mid_rollout(aws, tags={"rollback:pipeline": "no-such-pipeline"})
    estate.ecs_alarm(aws, "web-cpu", "prod", "web")
    incident = the_incident(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "rolled_back"
    assert deployments(aws)[0] == ("PRIMARY", "web:1")
    failed = {s["step"]: s["detail"] for s in incident.steps if s["status"] == "failed"}
    assert failed == {
        "stop pipeline no-such-pipeline": "pipeline no-such-pipeline does not exist",
        "block pipeline no-such-pipeline": "pipeline no-such-pipeline does not exist",
    }
    cp = aws.client("codepipeline")
    assert (
        cp.get_pipeline_execution(pipelineName="other-pipeline", pipelineExecutionId=other)["pipelineExecution"][
            "status"
        ]
        == "InProgress"
    )


def test_a_pipeline_with_nothing_in_flight_is_not_stopped_but_still_blocked(aws: Any, controller: Any) -> None:
    estate.pipeline(aws, "web-pipeline")
    finished = estate.pipeline_in_deploy(aws, "web-pipeline")
    codepipeline_model.finish(ACCOUNT, aws.region, "web-pipeline", finished)
    web_mid_rollout(aws)
    estate.ecs_alarm(aws, "web-cpu", "prod", "web", tags={"rollback:pipeline": "web-pipeline/Deploy"})
    incident = the_incident(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    steps = {s["step"]: s["status"] for s in incident.steps}
    assert steps["stop pipeline web-pipeline"] == "skipped"
    assert steps["block pipeline web-pipeline"] == "done"
    assert incident.pipeline is not None and incident.pipeline.source == "tag rollback:pipeline on the alarm"


def test_lambda_blue_green_in_flight_is_stopped_with_rollback(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1")
    estate.codedeploy_group(aws, "checkout-app", "checkout-live", "Lambda")
    deployment_id = estate.codedeploy_deployment(
        aws, "checkout-app", "checkout-live", estate.lambda_appspec("checkout", "live", "1", "2")
    )
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}  # CodeDeploy is shifting traffic
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    incident = the_incident(aws, controller, fire_and_wait(aws, controller, "checkout-live-errors"))

    assert incident.action == "rolled_back"
    assert incident.plan is not None and incident.plan.strategy == "codedeploy-stop"
    deployment = aws.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert deployment["status"] == "Stopped"
    assert deployment["rollbackInfo"]["rollbackDeploymentId"]
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    assert alias["FunctionVersion"] == "1" and not alias["RoutingConfig"]["AdditionalVersionWeights"]


def test_ecs_blue_green_in_flight_is_stopped_and_traffic_stays_on_the_original_task_set(
    aws: Any, controller: Any
) -> None:
    blue, green = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", blue, controller="CODE_DEPLOY")
    ecs = aws.client("ecs")
    original = ecs.create_task_set(cluster="prod", service="web", taskDefinition=blue)["taskSet"]["taskSetArn"]
    ecs.update_service_primary_task_set(cluster="prod", service="web", primaryTaskSet=original)
    estate.codedeploy_group(
        aws, "web-app", "web-prod", "ECS", ecs_services=[{"serviceName": "web", "clusterName": "prod"}]
    )
    deployment_id = estate.codedeploy_deployment(aws, "web-app", "web-prod", estate.ecs_appspec(green, "web"))
    assert len(ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskSets"]) == 2
    estate.ecs_alarm(aws, "web-5xx", "prod", "web")
    incident = the_incident(aws, controller, fire_and_wait(aws, controller, "web-5xx"))

    assert incident.action == "rolled_back"
    assert (incident.from_version, incident.to_version) == (green, blue)
    deployment = aws.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert deployment["status"] == "Stopped" and deployment["rollbackInfo"]["rollbackDeploymentId"]
    sets = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskSets"]
    assert [(s["status"], s["taskDefinition"]) for s in sets] == [("PRIMARY", blue)]


def test_codedeploy_failure_without_rollback_puts_the_half_shifted_alias_back(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1")
    estate.codedeploy_group(aws, "checkout-app", "checkout-live", "Lambda")
    deployment_id = estate.codedeploy_deployment(
        aws, "checkout-app", "checkout-live", estate.lambda_appspec("checkout", "live", "1", "2")
    )
    codedeploy_model.fail_deployment(
        ACCOUNT, aws.region, deployment_id, "HOOK_EXECUTION_FAILURE", "The AfterAllowTraffic hook failed"
    )
    event = copy.deepcopy(load_event("codedeploy-deployment-failure.json"))
    event["detail"]["deploymentId"] = deployment_id
    incident = the_incident(aws, controller, deliver(aws, controller, event))
    assert incident.trigger.kind == "codedeploy"
    assert incident.target == CHECKOUT
    assert incident.action == "rolled_back"
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    assert alias["FunctionVersion"] == "1" and not alias["RoutingConfig"]["AdditionalVersionWeights"]


def test_codedeploy_that_rolled_itself_back_is_recorded_not_touched(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1")
    estate.codedeploy_group(aws, "checkout-app", "checkout-live", "Lambda")
    deployment_id = estate.codedeploy_deployment(
        aws, "checkout-app", "checkout-live", estate.lambda_appspec("checkout", "live", "1", "2")
    )
    aws.client("codedeploy").stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    event = copy.deepcopy(load_event("codedeploy-deployment-failure.json"))
    event["detail"].update(deploymentId=deployment_id, state="STOP")
    incident = the_incident(aws, controller, deliver(aws, controller, event))
    assert incident.action == "ignored"
    assert "already rolled it back" in incident.reason


def test_a_failed_pipeline_action_stops_nothing_and_is_recorded(aws: Any, controller: Any) -> None:
    estate.pipeline(aws, "web-pipeline")
    cp = aws.client("codepipeline")
    execution_id = cp.start_pipeline_execution(name="web-pipeline")["pipelineExecutionId"]
    codepipeline_model.advance(ACCOUNT, aws.region, "web-pipeline", execution_id, "Build")
    codepipeline_model.fail_action(
        ACCOUNT,
        aws.region,
        "web-pipeline",
        execution_id,
        "Build",
        "Build",
        "JobFailed",
        "Build terminated with state: FAILED",
    )
    event = copy.deepcopy(load_event("codepipeline-action-failed.json"))
    event["detail"]["execution-id"] = execution_id
    incident = the_incident(aws, controller, deliver(aws, controller, event))
    assert incident.trigger.kind == "pipeline"
    assert incident.action == "ignored"
    assert "stops nothing" in incident.reason and "JobFailed" in incident.reason
    execution = cp.get_pipeline_execution(pipelineName="web-pipeline", pipelineExecutionId=execution_id)
    assert execution["pipelineExecution"]["status"] == "Failed"
    assert all(
        s["inboundTransitionState"]["enabled"] for s in cp.get_pipeline_state(name="web-pipeline")["stageStates"]
    )


def test_a_failed_pipeline_execution_event_is_recorded(aws: Any, controller: Any) -> None:
    incident = the_incident(aws, controller, deliver(aws, controller, load_event("codepipeline-execution-failed.json")))
    assert incident.action == "ignored"
    assert incident.pipeline is not None and incident.pipeline.name == "web-pipeline"


def test_unblock_reenables_the_transition_and_records_who_and_why(aws: Any, controller: Any) -> None:
    from typer.testing import CliRunner

    from rollbackctl.cli import app

    estate.pipeline(aws, "web-pipeline")
    estate.pipeline_in_deploy(aws, "web-pipeline")
    web_mid_rollout(aws, tags={"rollback:pipeline": "web-pipeline"})
    estate.ecs_alarm(aws, "web-cpu", "prod", "web")
    incident = the_incident(aws, controller, fire_and_wait(aws, controller, "web-cpu"))

    runner = CliRunner()
    refused = runner.invoke(app, ["unblock", "web-pipeline"])
    assert refused.exit_code == 2 and "--reason" in refused.output
    with as_role(aws, "alice"):
        result = runner.invoke(app, ["unblock", "web-pipeline", "--reason", "fix in web:3", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["incident_id"] == incident.incident_id
    states = aws.client("codepipeline").get_pipeline_state(name="web-pipeline")["stageStates"]
    assert all(s["inboundTransitionState"]["enabled"] for s in states)
    stored = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(incident.incident_id)
    assert stored is not None
    assert stored.steps[-1]["step"] == "unblock pipeline web-pipeline"
    assert "assumed-role/alice/alice-session (STS caller identity): fix in web:3" in stored.steps[-1]["detail"]
    again = runner.invoke(app, ["unblock", "web-pipeline", "Deploy", "--reason", "again"])
    assert again.exit_code == 1 and "not disabled" in again.output


def test_alb_weighted_split_goes_back_to_the_stable_target_group(aws: Any, controller: Any) -> None:
    [definition] = estate.task_definitions(aws, "web", 1)
    groups = estate.alb_split(aws, "shop", {"web-blue": 90, "web-green": 10}, "prod", definition)
    estate.ecs_alarm(aws, "web-green-5xx", "prod", "web-green")
    incident = the_incident(aws, controller, fire_and_wait(aws, controller, "web-green-5xx"))

    assert incident.action == "rolled_back"
    assert incident.plan is not None and incident.plan.strategy == "alb-weights"
    assert (incident.from_version, incident.to_version) == (groups["web-green"], groups["web-blue"])
    elb = aws.client("elbv2")
    balancer = elb.describe_load_balancers(Names=["shop"])["LoadBalancers"][0]["LoadBalancerArn"]
    [listener] = elb.describe_listeners(LoadBalancerArn=balancer)["Listeners"]
    weights = {g["TargetGroupArn"]: g["Weight"] for g in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}
    assert weights == {groups["web-blue"]: 90, groups["web-green"]: 0}
