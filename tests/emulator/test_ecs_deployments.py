"""ECS deployments in the emulator, through boto3 only: they progress by themselves (model ``ecs::deployment``),
emit "ECS Deployment State Change", and have service revisions, service deployments and StopServiceDeployment
as the ECS API Reference documents them."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.moto_api import state_manager

from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.emulator import ecs as ecs_model
from tests.emulator import events

MODEL = "ecs::deployment"
COMPLETED = {**events.ECS_DEPLOYMENT, "detail": {"eventName": ["SERVICE_DEPLOYMENT_COMPLETED"]}}


def web(aws: Any, count: int = 2, **service: Any) -> list[str]:
    """Task definitions web:1..count, and the service prod/web with web:1 deployed (completed)."""
    definitions = estate.task_definitions(aws, "web", count)
    estate.ecs_service(aws, "prod", "web", definitions[0], **service)
    return definitions


def deployments(aws: Any) -> list[tuple[str, str, str]]:
    """DescribeServices' deployments: (status, rolloutState, task definition)."""
    service = aws.client("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
    return [(d["status"], d["rolloutState"], d["taskDefinition"].rsplit("/", 1)[1]) for d in service["deployments"]]


def service_deployments(aws: Any, **filters: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = aws.client("ecs").list_service_deployments(cluster="prod", service="web", **filters)[
        "serviceDeployments"
    ]
    return found


def describe(aws: Any, arn: str) -> dict[str, Any]:
    [found] = aws.client("ecs").describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    return dict(found)


def set_transition(aws: Any, transition: dict[str, Any]) -> None:
    """As a user would: in process through moto's state manager, over HTTP through moto's API."""
    if aws.endpoint_url is None:
        state_manager.set_transition(MODEL, transition)
        return
    body = json.dumps({"model_name": MODEL, "transition": transition}).encode()
    request = urllib.request.Request(f"{aws.endpoint_url}/moto-api/state-manager/set-transition", data=body)
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201


# --- progressing by itself -------------------------------------------------------------------------------


def test_in_process_a_rolling_deployment_stays_in_progress_by_default(aws: Any) -> None:
    _, two = web(aws)
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)
    time.sleep(3 * 0.25)  # a few ticks of the ticker
    assert deployments(aws) == [("PRIMARY", "IN_PROGRESS", "web:2"), ("ACTIVE", "COMPLETED", "web:1")]
    assert [d["status"] for d in service_deployments(aws)] == ["IN_PROGRESS", "SUCCESSFUL"]


def _completes_by_itself(aws: Any) -> None:
    _, two = web(aws)
    queue = events.catch(aws, "ecs-completed", COMPLETED)
    set_transition(aws, {"progression": "time", "seconds": 1})
    started = time.monotonic()
    new = aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)["service"]
    primary = new["deployments"][0]
    assert (primary["status"], primary["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")

    [event] = events.received(aws, queue, 1, timeout=3)  # nobody describes the service meanwhile
    assert 0.9 < time.monotonic() - started < 2.5
    assert event["detail-type"] == "ECS Deployment State Change" and event["source"] == "aws.ecs"
    assert event["resources"] == ["arn:aws:ecs:us-east-1:123456789012:service/prod/web"]
    assert event["detail"]["eventType"] == "INFO" and event["detail"]["deploymentId"] == primary["id"]
    assert event["detail"]["reason"] == f"ECS deployment {primary['id']} completed."
    datetime.strptime(event["detail"]["updatedAt"], "%Y-%m-%dT%H:%M:%SZ")
    assert deployments(aws) == [("PRIMARY", "COMPLETED", "web:2")]
    service = aws.client("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
    assert (service["runningCount"], service["pendingCount"], service["deployments"][0]["runningCount"]) == (2, 0, 2)
    latest = service_deployments(aws)[0]
    assert latest["status"] == "SUCCESSFUL" and latest["finishedAt"]
    assert service["currentServiceDeployment"] == latest["serviceDeploymentArn"]


def test_a_rolling_deployment_completes_by_itself_and_says_so_on_the_bus(aws: Any) -> None:
    _completes_by_itself(aws)


def test_over_http_too_with_the_transition_set_through_moto_api(http_aws: Any) -> None:
    _completes_by_itself(http_aws)


def test_an_immediate_transition_completes_at_the_first_read(aws: Any) -> None:
    _, two = web(aws)
    set_transition(aws, {"progression": "immediate"})
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)
    assert deployments(aws) == [("PRIMARY", "COMPLETED", "web:2")]


def test_a_manual_transition_moves_after_that_many_describe_calls(aws: Any) -> None:
    _, two = web(aws)
    set_transition(aws, {"progression": "manual", "times": 2})
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)
    time.sleep(0.6)  # the ticker reads it, but reading is not describing
    assert deployments(aws)[0] == ("PRIMARY", "IN_PROGRESS", "web:2")
    assert deployments(aws) == [("PRIMARY", "COMPLETED", "web:2")]


def test_a_newer_deployment_stops_the_one_in_flight_and_deploys_from_every_active_revision(aws: Any) -> None:
    _, two, three = web(aws, 3)
    ecs = aws.client("ecs")
    ecs.update_service(cluster="prod", service="web", taskDefinition=two)
    ecs.update_service(cluster="prod", service="web", taskDefinition=three)
    newest, replaced, first = service_deployments(aws)
    assert [d["status"] for d in (newest, replaced, first)] == ["IN_PROGRESS", "STOPPED", "SUCCESSFUL"]
    sources = [r["arn"] for r in describe(aws, newest["serviceDeploymentArn"])["sourceServiceRevisions"]]
    assert sources == [first["targetServiceRevisionArn"], replaced["targetServiceRevisionArn"]]
    assert describe(aws, replaced["serviceDeploymentArn"])["stoppedAt"]


def test_a_failed_rollout_with_the_circuit_breakers_rollback_goes_back_and_says_so(aws: Any) -> None:
    _, two = web(aws, deployment_configuration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    queue = events.catch(aws, "ecs-all", events.ECS_DEPLOYMENT)
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)
    ecs_model.fail_rollout(ACCOUNT, aws.region, "prod", "web", "ECS deployment circuit breaker: tasks failed to start.")
    assert service_deployments(aws)[0]["status"] == "ROLLBACK_REQUESTED"
    set_transition(aws, {"progression": "immediate"})
    names = [e["detail"]["eventName"] for e in events.received(aws, queue, 4, timeout=3)]
    assert names == [
        "SERVICE_DEPLOYMENT_IN_PROGRESS",
        "SERVICE_DEPLOYMENT_FAILED",
        "SERVICE_DEPLOYMENT_IN_PROGRESS",
        "SERVICE_DEPLOYMENT_COMPLETED",
    ]
    assert deployments(aws) == [("PRIMARY", "COMPLETED", "web:1")]
    latest = describe(aws, service_deployments(aws)[0]["serviceDeploymentArn"])
    assert latest["status"] == "ROLLBACK_SUCCESSFUL" and latest["deploymentCircuitBreaker"]["status"] == "TRIGGERED"


# --- strategies, service deployments and revisions ---------------------------------------------------------


def test_a_blue_green_deployment_is_listed_and_described_with_its_lifecycle_stage(aws: Any) -> None:
    one, two = web(aws, strategy="BLUE_GREEN")
    ecs = aws.client("ecs")
    service = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    assert service["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
    assert service["deploymentConfiguration"]["bakeTimeInMinutes"] == 5
    arn = estate.ecs_native_deployment_in_flight(aws, "prod", "web", two, stage="PRODUCTION_TRAFFIC_SHIFT")
    assert arn.startswith("arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/")
    assert deployments(aws) == [("PRIMARY", "IN_PROGRESS", "web:2"), ("ACTIVE", "COMPLETED", "web:1")]

    [listed] = service_deployments(aws, status=["IN_PROGRESS"])
    assert listed["serviceDeploymentArn"] == arn
    described = describe(aws, arn)
    assert (described["status"], described["lifecycleStage"]) == ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT")
    assert described["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
    [source] = described["sourceServiceRevisions"]
    target = described["targetServiceRevision"]
    assert (source["requestedProductionTrafficWeight"], target["requestedProductionTrafficWeight"]) == (0.0, 100.0)
    revisions = ecs.describe_service_revisions(serviceRevisionArns=[source["arn"], target["arn"]])["serviceRevisions"]
    assert [r["taskDefinition"] for r in revisions] == [one, two]
    assert revisions[0]["serviceRevisionArn"].startswith(f"arn:aws:ecs:us-east-1:{ACCOUNT}:service-revision/prod/web/")
    assert revisions[1]["containerImages"] == [{"containerName": "web", "image": "web:2"}]


def test_linear_and_canary_take_their_documented_defaults_and_invalid_configurations_fail(aws: Any) -> None:
    [definition] = estate.task_definitions(aws, "web", 1)
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="prod")

    def create(name: str, configuration: dict[str, Any]) -> dict[str, Any]:
        created = ecs.create_service(
            cluster="prod", serviceName=name, taskDefinition=definition, desiredCount=1,
            deploymentConfiguration=configuration,
        )  # fmt: skip
        return dict(created["service"]["deploymentConfiguration"])

    assert create("lin", {"strategy": "LINEAR"})["linearConfiguration"] == {
        "stepPercent": 10.0,
        "stepBakeTimeInMinutes": 6,
    }
    assert create("can", {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 20.0}})[
        "canaryConfiguration"
    ] == {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 10}
    for bad in (
        {"strategy": "BLUE_GREEN"},  # bakeTimeInMinutes is required with BLUE_GREEN
        {"strategy": "ROLLING", "canaryConfiguration": {"canaryPercent": 5.0}},
        {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 1.0}},
        {"strategy": "SIDEWAYS"},
    ):
        with pytest.raises(ClientError) as caught:
            create("bad", bad)
        assert caught.value.response["Error"]["Code"] == "InvalidParameterException", bad
    assert ecs.list_services(cluster="prod")["serviceArns"] == [
        "arn:aws:ecs:us-east-1:123456789012:service/prod/can",
        "arn:aws:ecs:us-east-1:123456789012:service/prod/lin",
    ]
    updated = ecs.update_service(
        cluster="prod", service="lin", deploymentConfiguration={"strategy": "CANARY", "bakeTimeInMinutes": 3}
    )["service"]["deploymentConfiguration"]
    assert "linearConfiguration" not in updated and updated["canaryConfiguration"]["canaryPercent"] == 5.0


def test_list_service_deployments_filters_and_pages(aws: Any) -> None:
    _, two, three = web(aws, 3)
    ecs = aws.client("ecs")
    ecs.update_service(cluster="prod", service="web", taskDefinition=two)
    ecs.update_service(cluster="prod", service="web", taskDefinition=three)
    first = ecs.list_service_deployments(cluster="prod", service="web", maxResults=2)
    rest = ecs.list_service_deployments(cluster="prod", service="web", maxResults=2, nextToken=first["nextToken"])
    assert len(first["serviceDeployments"]) == 2 and len(rest["serviceDeployments"]) == 1 and "nextToken" not in rest
    finished = service_deployments(aws, status=["SUCCESSFUL", "STOPPED"])
    assert [d["status"] for d in finished] == ["STOPPED", "SUCCESSFUL"]
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert service_deployments(aws, createdAt={"after": tomorrow}) == []
    assert len(service_deployments(aws, createdAt={"before": tomorrow})) == 3
    for kwargs, code in (
        ({"cluster": "prod", "service": "nope"}, "ServiceNotFoundException"),
        ({"cluster": "nope", "service": "web"}, "ClusterNotFoundException"),
        ({"cluster": "prod", "service": "web", "maxResults": 101}, "InvalidParameterException"),
    ):
        with pytest.raises(ClientError) as caught:
            ecs.list_service_deployments(**kwargs)
        assert caught.value.response["Error"]["Code"] == code
    missing = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/nope"
    assert ecs.describe_service_deployments(serviceDeploymentArns=[missing])["failures"] == [
        {"arn": missing, "reason": "MISSING"}
    ]


# --- StopServiceDeployment ------------------------------------------------------------------------------


def test_stop_with_rollback_goes_back_to_the_source_revision_step_by_step(aws: Any) -> None:
    one, two = web(aws, strategy="BLUE_GREEN")
    arn = estate.ecs_native_deployment_in_flight(aws, "prod", "web", two, stage="BAKE_TIME")
    queue = events.catch(aws, "ecs-all", events.ECS_DEPLOYMENT)
    ecs = aws.client("ecs")
    assert ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")["serviceDeploymentArn"] == arn
    assert service_deployments(aws)[0]["status"] == "ROLLBACK_REQUESTED"
    assert ecs.stop_service_deployment(serviceDeploymentArn=arn)["serviceDeploymentArn"] == arn  # it continues

    set_transition(aws, {"progression": "manual", "times": 1})  # one step per DescribeServices
    assert deployments(aws) == [
        ("PRIMARY", "IN_PROGRESS", "web:1"),
        ("ACTIVE", "IN_PROGRESS", "web:2"),
        ("ACTIVE", "COMPLETED", "web:1"),
    ]
    assert service_deployments(aws)[0]["status"] == "ROLLBACK_IN_PROGRESS"
    assert deployments(aws) == [("PRIMARY", "COMPLETED", "web:1")]
    service = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    assert service["taskDefinition"] == one

    described = describe(aws, arn)
    assert described["status"] == "ROLLBACK_SUCCESSFUL" and described["finishedAt"]
    source = described["sourceServiceRevisions"][0]["arn"]
    assert described["rollback"]["serviceRevisionArn"] == source and described["rollback"]["startedAt"]
    [revision] = ecs.describe_service_revisions(serviceRevisionArns=[source])["serviceRevisions"]
    assert revision["taskDefinition"] == one
    rollback_started, rollback_done = events.received(aws, queue, 2, timeout=2)
    assert rollback_started["detail"]["eventName"] == "SERVICE_DEPLOYMENT_IN_PROGRESS"
    assert "rolling back to deploymentId" in rollback_started["detail"]["reason"]
    assert rollback_done["detail"]["eventName"] == "SERVICE_DEPLOYMENT_COMPLETED"
    assert rollback_done["detail"]["deploymentId"] == rollback_started["detail"]["deploymentId"]


def test_stop_fails_as_aws_documents_on_a_finished_or_unknown_deployment_or_another_stop_type(aws: Any) -> None:
    _, two = web(aws)
    ecs = aws.client("ecs")
    finished = service_deployments(aws)[0]["serviceDeploymentArn"]
    ecs.update_service(cluster="prod", service="web", taskDefinition=two)
    in_flight = service_deployments(aws)[0]["serviceDeploymentArn"]
    for kwargs, code in (
        ({"serviceDeploymentArn": finished, "stopType": "ROLLBACK"}, "ConflictException"),
        ({"serviceDeploymentArn": finished.rsplit("/", 1)[0] + "/nope"}, "ServiceDeploymentNotFoundException"),
        ({"serviceDeploymentArn": in_flight, "stopType": "ABORT"}, "InvalidParameterException"),
    ):
        with pytest.raises(ClientError) as caught:
            ecs.stop_service_deployment(**kwargs)
        assert caught.value.response["Error"]["Code"] == code
    assert service_deployments(aws)[0]["status"] == "IN_PROGRESS"


def test_a_service_revision_names_its_ecr_images_by_digest(aws: Any) -> None:
    ecr, ecs = aws.client("ecr"), aws.client("ecs")
    ecr.create_repository(repositoryName="web")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": "sha256:c"},
        "layers": [],
    }
    pushed = ecr.put_image(repositoryName="web", imageManifest=json.dumps(manifest), imageTag="2")
    image = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/web:2"
    definition = ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": image, "memory": 256}]
    )["taskDefinition"]["taskDefinitionArn"]
    estate.ecs_service(aws, "prod", "web", definition)
    [revision] = ecs.describe_service_revisions(
        serviceRevisionArns=[service_deployments(aws)[0]["targetServiceRevisionArn"]]
    )["serviceRevisions"]
    assert revision["containerImages"] == [
        {"containerName": "web", "image": image, "imageDigest": pushed["image"]["imageId"]["imageDigest"]}
    ]
