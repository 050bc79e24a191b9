"""Target kinds through the deployed workflow (issue 13): restorable first, and two bugs the kinds fixed.

- Restorable first: a known-good whose ECR image is gone, whose task definition was deregistered, or whose
  Lambda version was deleted is refused, naming what is missing, and nothing changes; images outside ECR are
  not checked, and the incident says so.
- A CodeDeploy ECS blue/green deployment that is Baking (traffic moved, the original still running) is still in
  flight: it is stopped with rollback, back to the original task set.
- An ALB-weights rollback keeps target groups out of the ledger: it only ever holds versions of the target.
"""

from __future__ import annotations

import json
from typing import Any

from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.emulator import codedeploy as codedeploy_model
from rollbackctl.emulator.demo import fire_and_wait
from rollbackctl.model import Incident
from rollbackctl.store import IncidentStore, Ledger

WEB = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/web"
CHECKOUT = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:checkout:live"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"


def incident_of(aws: Any, controller: Any, finished: list[dict[str, Any]]) -> Incident:
    [execution] = finished
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    stored = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(
        json.loads(execution["output"])["incident_id"]
    )
    assert stored is not None
    return stored


def primary(aws: Any) -> str:
    service = aws.client("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
    return str(next(d["taskDefinition"] for d in service["deployments"] if d["status"] == "PRIMARY"))


def web_from_ecr(aws: Any) -> list[str]:
    """web:1 (image web:1 in ECR, plus a sidecar from Docker Hub) completed; web:2 rolling out."""
    ecr, ecs = aws.client("ecr"), aws.client("ecs")
    ecr.create_repository(repositoryName="web")
    definitions = []
    for n in (1, 2):
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": f"sha256:{n:064x}"},
                "layers": [],
            }
        )
        ecr.put_image(repositoryName="web", imageManifest=manifest, imageTag=str(n))
        containers = [
            {"name": "web", "image": f"{REGISTRY}/web:{n}", "memory": 256},
            {"name": "proxy", "image": "envoyproxy/envoy:v1.31", "memory": 64},
        ]
        definitions.append(
            ecs.register_task_definition(family="web", containerDefinitions=containers)["taskDefinition"][
                "taskDefinitionArn"
            ]
        )
    estate.ecs_service(aws, "prod", "web", definitions[0])
    ecs.update_service(cluster="prod", service="web", taskDefinition=definitions[1])
    estate.ecs_alarm(aws, "web-cpu", "prod", "web")
    return definitions


def test_a_known_good_whose_ecr_image_is_gone_is_refused_naming_the_image(
    aws: Any, controller: Any, faults: Any
) -> None:
    _, two = web_from_ecr(aws)
    aws.client("ecr").batch_delete_image(repositoryName="web", imageIds=[{"imageTag": "1"}])
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "refused"
    assert f"the image {REGISTRY}/web:1" in incident.reason and "gone from ECR repository web" in incident.reason
    assert faults.mutating_calls() == []
    assert primary(aws) == two


def test_images_in_ecr_are_checked_and_the_others_are_named_as_not_checked(aws: Any, controller: Any) -> None:
    one, _ = web_from_ecr(aws)
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "rolled_back" and primary(aws) == one
    notes = [s["detail"] for s in incident.steps if s["step"] == "check restorable"]
    assert notes == ["images outside ECR were not checked: envoyproxy/envoy:v1.31"]


def test_a_known_good_task_definition_that_was_deregistered_is_refused(aws: Any, controller: Any, faults: Any) -> None:
    one, two = web_from_ecr(aws)
    aws.client("ecs").deregister_task_definition(taskDefinition=one)
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "refused"
    assert "web:1" in incident.reason and "INACTIVE" in incident.reason and "deregistered" in incident.reason
    assert faults.mutating_calls() == [] and primary(aws) == two


def test_a_known_good_lambda_version_that_was_deleted_is_refused(aws: Any, controller: Any, faults: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 3)
    estate.alias(aws, "checkout", "live", "3")
    Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"]).record(CHECKOUT, "1", "good", "served")
    aws.client("lambda").delete_function(FunctionName="checkout", Qualifier="1")
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "checkout-live-errors"))
    assert incident.action == "refused"
    assert "version 1 of checkout no longer exists" in incident.reason
    assert faults.mutating_calls() == []
    assert aws.client("lambda").get_alias(FunctionName="checkout", Name="live")["FunctionVersion"] == "3"


def test_an_ecs_blue_green_deployment_that_is_baking_is_stopped_back_to_the_original(aws: Any, controller: Any) -> None:
    blue, green = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", blue, controller="CODE_DEPLOY")
    ecs = aws.client("ecs")
    original = ecs.create_task_set(cluster="prod", service="web", taskDefinition=blue)["taskSet"]["taskSetArn"]
    ecs.update_service_primary_task_set(cluster="prod", service="web", primaryTaskSet=original)
    estate.codedeploy_group(
        aws, "web-app", "web-prod", "ECS", ecs_services=[{"serviceName": "web", "clusterName": "prod"}]
    )
    deployment_id = estate.codedeploy_deployment(aws, "web-app", "web-prod", estate.ecs_appspec(green, "web"))
    codedeploy_model.reroute(ACCOUNT, aws.region, deployment_id)  # production traffic is on green now
    sets = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskSets"]
    assert {(s["status"], s["taskDefinition"]) for s in sets} == {("PRIMARY", green), ("ACTIVE", blue)}
    estate.ecs_alarm(aws, "web-5xx", "prod", "web")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-5xx"))

    assert incident.action == "rolled_back"
    assert incident.plan is not None and incident.plan.strategy == "codedeploy-stop"
    assert (incident.from_version, incident.to_version) == (green, blue)
    deployment = aws.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert deployment["status"] == "Stopped" and deployment["rollbackInfo"]["rollbackDeploymentId"]
    sets = ecs.describe_services(cluster="prod", services=["web"])["services"][0]["taskSets"]
    assert [(s["status"], s["taskDefinition"]) for s in sets] == [("PRIMARY", blue)]


def test_an_alb_weights_rollback_keeps_target_groups_out_of_the_ledger(aws: Any, controller: Any) -> None:
    [definition] = estate.task_definitions(aws, "web", 1)
    groups = estate.alb_split(aws, "shop", {"web-blue": 90, "web-green": 10}, "prod", definition)
    estate.ecs_alarm(aws, "web-green-5xx", "prod", "web-green")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-green-5xx"))
    assert incident.action == "rolled_back"
    assert (incident.from_version, incident.to_version) == (groups["web-green"], groups["web-blue"])
    green = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/web-green"
    versions = [e.version for e in Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"]).entries(green)]
    assert not any(":targetgroup/" in v for v in versions), versions


def test_an_ecs_native_blue_green_deployment_in_flight_goes_back_through_stop_service_deployment(
    aws: Any, controller: Any, faults: Any
) -> None:
    import threading
    import time

    from moto.moto_api import state_manager

    blue, green = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", blue, strategy="BLUE_GREEN")
    deployment = estate.ecs_native_deployment_in_flight(aws, "prod", "web", green)
    ecs = aws.client("ecs")

    def ecs_works_on_the_rollback_once_asked() -> None:
        # ECS then moves the rollback along by itself, one status a second (REQUESTED -> IN_PROGRESS ->
        # SUCCESSFUL), while the workflow reads it back: the pace AWS sets, not the test's.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            [now] = ecs.describe_service_deployments(serviceDeploymentArns=[deployment])["serviceDeployments"]
            if now["status"].startswith("ROLLBACK"):
                state_manager.set_transition("ecs::deployment", {"progression": "time", "seconds": 1})
                return
            time.sleep(0.01)

    pacer = threading.Thread(target=ecs_works_on_the_rollback_once_asked, daemon=True)
    pacer.start()
    estate.ecs_alarm(aws, "web-5xx", "prod", "web")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-5xx"))
    pacer.join(timeout=5)

    assert incident.action == "rolled_back", incident.reason
    assert incident.plan is not None and incident.plan.strategy == "ecs-native"
    assert (incident.from_version, incident.to_version) == (green, blue)
    assert faults.mutating_calls() == [("ecs", "StopServiceDeployment")]
    [described] = ecs.describe_service_deployments(serviceDeploymentArns=[deployment])["serviceDeployments"]
    assert described["status"] == "ROLLBACK_SUCCESSFUL"
    assert primary(aws) == blue
    restore = [(s["status"], s["at"]) for s in incident.steps if s["step"] == "restore"]
    assert [status for status, _ in restore] == ["started", "done"]  # started, then read back as finished
    assert incident.restored_at is not None and incident.restored_at >= restore[0][1]
