"""CodeDeploy Server (EC2 / on-premises) deployments in the emulator, through boto3 only: they progress by themselves
(model ``codedeploy::deployment``), put "CodeDeploy Deployment State-change Notification" on the bus when they
finish, deploy to the group's instances with per-instance lifecycle events, and stop or fail into a rollback
deployment, as the CodeDeploy API Reference and User Guide document them. Lambda and ECS deployments keep their own
model (tests/e2e)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.moto_api import state_manager

from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.emulator import codedeploy_server as server_model
from tests.conftest import load_event
from tests.emulator import events

MODEL = "codedeploy::deployment"
NOTIFICATION = {"source": ["aws.codedeploy"], "detail-type": ["CodeDeploy Deployment State-change Notification"]}


def web(aws: Any, **group: Any) -> dict[str, Any]:
    """web/prod over web-asg (two instances); returns a revision in S3 to deploy."""
    estate.auto_scaling_group(aws, "web-asg")
    estate.server_group(aws, "web", "prod", ["web-asg"], **group)
    return estate.s3_revision(aws, "web-revisions", "web-1.zip", b"release 1")


def get(aws: Any, deployment_id: str) -> dict[str, Any]:
    info: dict[str, Any] = aws.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    return info


def targets(aws: Any, deployment_id: str, **filters: list[str]) -> list[dict[str, Any]]:
    cd = aws.client("codedeploy")
    ids = cd.list_deployment_targets(deploymentId=deployment_id, targetFilters=filters)["targetIds"]
    if not ids:
        return []
    found = cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids)["deploymentTargets"]
    return [t["instanceTarget"] for t in found]


def set_transition(aws: Any, transition: dict[str, Any]) -> None:
    if aws.endpoint_url is None:
        state_manager.set_transition(MODEL, transition)
        return
    body = json.dumps({"model_name": MODEL, "transition": transition}).encode()
    request = urllib.request.Request(f"{aws.endpoint_url}/moto-api/state-manager/set-transition", data=body)
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201


def test_in_process_a_deployment_stays_where_it_was_put_by_default(aws: Any) -> None:
    revision = web(aws)
    deployment_id = estate.server_deployment(aws, "web", "prod", revision)
    assert deployment_id.startswith("d-") and len(deployment_id) == 11
    time.sleep(3 * 0.25)  # a few ticks of the ticker
    assert get(aws, deployment_id)["status"] == "Created"
    with pytest.raises(ClientError, match="DeploymentNotStartedException"):
        aws.client("codedeploy").list_deployment_targets(deploymentId=deployment_id)


def _succeeds_by_itself(aws: Any) -> None:
    revision = web(aws)
    queue = events.catch(aws, "codedeploy-finished", NOTIFICATION)
    set_transition(aws, {"progression": "time", "seconds": 1})
    started = time.monotonic()
    deployment_id = estate.server_deployment(aws, "web", "prod", revision)
    [event] = events.received(aws, queue, 1, timeout=4)  # nobody reads the deployment meanwhile
    assert 1.8 < time.monotonic() - started < 3.5  # Created -> InProgress -> Succeeded, a second each
    sample = load_event("codedeploy-server-deployment-failure.json")
    assert set(event["detail"]) == set(sample["detail"]) and event["detail-type"] == sample["detail-type"]
    group = aws.client("codedeploy").get_deployment_group(applicationName="web", deploymentGroupName="prod")
    assert event["detail"] == {
        "region": "us-east-1",
        "deploymentId": deployment_id,
        "instanceGroupId": group["deploymentGroupInfo"]["deploymentGroupId"],
        "deploymentGroup": "prod",
        "state": "SUCCESS",
        "application": "web",
    }
    assert event["resources"] == [
        f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:deploymentgroup:web/prod",
        f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:application:web",
    ]
    info = get(aws, deployment_id)
    assert info["status"] == "Succeeded" and info["completeTime"] >= info["startTime"]
    assert info["deploymentOverview"]["Succeeded"] == 2
    instances = targets(aws, deployment_id)
    assert len(instances) == 2 and {t["status"] for t in instances} == {"Succeeded"}
    assert [e["lifecycleEventName"] for e in instances[0]["lifecycleEvents"]] == [
        "ApplicationStop",
        "DownloadBundle",
        "BeforeInstall",
        "Install",
        "AfterInstall",
        "ApplicationStart",
        "ValidateService",
    ]
    assert {e["diagnostics"]["errorCode"] for e in instances[0]["lifecycleEvents"]} == {"Success"}


def test_a_deployment_succeeds_by_itself_and_says_so_on_the_bus(aws: Any) -> None:
    _succeeds_by_itself(aws)


def test_over_http_too_with_the_transition_set_through_moto_api(http_aws: Any) -> None:
    _succeeds_by_itself(http_aws)


def test_previous_revision_and_the_revisions_a_server_deployment_takes(aws: Any) -> None:
    one = web(aws)
    first = estate.server_deployed(aws, "web", "prod", one)
    assert get(aws, first)["previousRevision"] == {}
    github = estate.github_revision("acme/web", "77d0e41")
    second = estate.server_deployment(aws, "web", "prod", github)
    assert get(aws, second)["revision"] == github and get(aws, second)["previousRevision"] == one
    cd = aws.client("codedeploy")
    for revision in (
        {"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
        {"revisionType": "S3", "s3Location": {"bucket": "web-revisions"}},
    ):
        with pytest.raises(ClientError, match="InvalidRevisionException"):
            cd.create_deployment(applicationName="web", deploymentGroupName="prod", revision=revision)
    asgs = cd.get_deployment_group(applicationName="web", deploymentGroupName="prod")["deploymentGroupInfo"]
    [asg] = asgs["autoScalingGroups"]
    assert asg["name"] == "web-asg" and asg["hook"].startswith("CodeDeploy-managed-automatic-launch-deployment-hook-")


def test_stop_with_rollback_redeploys_the_last_successful_revision_as_a_new_deployment(aws: Any) -> None:
    one = web(aws)
    estate.server_deployed(aws, "web", "prod", one)
    two = estate.s3_revision(aws, "web-revisions", "web-2.zip", b"release 2")
    bad = estate.server_deployment_in_flight(aws, "web", "prod", two)
    queue = events.catch(aws, "codedeploy-stopped", NOTIFICATION)
    cd = aws.client("codedeploy")
    assert cd.stop_deployment(deploymentId=bad, autoRollbackEnabled=True)["status"] == "Pending"
    stopped = get(aws, bad)
    assert (stopped["status"], stopped["errorInformation"]["code"]) == ("Stopped", "MANUAL_STOP")
    assert {t["status"] for t in targets(aws, bad)} == {"Skipped"}
    rollback_id = stopped["rollbackInfo"]["rollbackDeploymentId"]
    rollback = get(aws, rollback_id)
    assert (rollback["creator"], rollback["revision"], rollback["status"]) == ("codeDeployRollback", one, "Created")
    assert rollback["rollbackInfo"] == {"rollbackTriggeringDeploymentId": bad}
    [event] = events.received(aws, queue, 1, timeout=2)
    assert (event["detail"]["deploymentId"], event["detail"]["state"]) == (bad, "STOP")
    set_transition(aws, {"progression": "immediate"})
    assert get(aws, rollback_id)["status"] == "Succeeded"
    with pytest.raises(ClientError, match="DeploymentAlreadyCompletedException"):
        cd.stop_deployment(deploymentId=bad, autoRollbackEnabled=True)


def test_a_first_deployment_has_nothing_to_roll_back_to_and_says_so(aws: Any) -> None:
    deployment_id = estate.server_deployment_in_flight(aws, "web", "prod", web(aws))
    result = aws.client("codedeploy").stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    assert result["status"] == "Succeeded"
    rollback = get(aws, deployment_id)["rollbackInfo"]
    assert "rollbackDeploymentId" not in rollback and "no previous successful deployment" in rollback["rollbackMessage"]


def test_a_failed_hook_script_fails_the_deployment_with_the_instances_diagnostics(aws: Any) -> None:
    one = web(aws, auto_rollback_on_failure=True)
    estate.server_deployed(aws, "web", "prod", one)
    two = estate.s3_revision(aws, "web-revisions", "web-2.zip", b"release 2")
    bad = estate.server_deployment_in_flight(aws, "web", "prod", two)
    queue = events.catch(aws, "codedeploy-failed", NOTIFICATION)
    [instance, other] = [t["targetId"] for t in targets(aws, bad)]
    server_model.fail_instance(
        ACCOUNT, aws.region, bad, instance, "ValidateService", "ScriptTimedOut", "scripts/check.sh", "timed out", "..."
    )
    info = get(aws, bad)
    assert (info["status"], info["errorInformation"]["code"]) == ("Failed", "HEALTH_CONSTRAINTS")
    [failed] = targets(aws, bad, TargetStatus=["Failed"])
    assert failed["targetId"] == instance and failed["targetArn"].endswith(f":instance/{instance}")
    by_event = {e["lifecycleEventName"]: e for e in failed["lifecycleEvents"]}
    assert by_event["ApplicationStart"]["status"] == "Succeeded"
    assert by_event["ValidateService"]["status"] == "Failed"
    assert by_event["ValidateService"]["diagnostics"] == {
        "errorCode": "ScriptTimedOut",
        "scriptName": "scripts/check.sh",
        "message": "timed out",
        "logTail": "...",
    }
    assert [t["targetId"] for t in targets(aws, bad, TargetStatus=["Skipped"])] == [other]
    # autoRollbackConfiguration DEPLOYMENT_FAILURE: CodeDeploy rolls the failed deployment back by itself
    rollback = get(aws, info["rollbackInfo"]["rollbackDeploymentId"])
    assert (rollback["creator"], rollback["revision"]) == ("codeDeployRollback", one)
    [event] = events.received(aws, queue, 1, timeout=2)
    assert (event["detail"]["deploymentId"], event["detail"]["state"]) == (bad, "FAILURE")


def test_blue_green_labels_the_original_and_the_replacement_instances(aws: Any) -> None:
    estate.auto_scaling_group(aws, "green-asg")
    revision = web(aws, deployment_style={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"})
    deployment_id = aws.client("codedeploy").create_deployment(
        applicationName="web",
        deploymentGroupName="prod",
        revision=revision,
        targetInstances={"autoScalingGroups": ["green-asg"]},
    )["deploymentId"]
    server_model.start(ACCOUNT, aws.region, deployment_id)
    blue = targets(aws, deployment_id, ServerInstanceLabel=["Blue"])
    green = targets(aws, deployment_id, ServerInstanceLabel=["Green"])
    assert len(blue) == len(green) == 2
    assert [e["lifecycleEventName"] for e in blue[0]["lifecycleEvents"]] == [
        "BeforeBlockTraffic",
        "BlockTraffic",
        "AfterBlockTraffic",
    ]
    assert [e["lifecycleEventName"] for e in green[0]["lifecycleEvents"]][-3:] == [
        "BeforeAllowTraffic",
        "AllowTraffic",
        "AfterAllowTraffic",
    ]


def test_a_group_with_no_instances_fails_at_once_and_target_calls_fail_as_documented(aws: Any) -> None:
    estate.server_group(aws, "web", "prod", ["no-such-asg"])
    revision = estate.s3_revision(aws, "web-revisions", "web-1.zip", b"release 1")
    deployment_id = estate.server_deployment(aws, "web", "prod", revision)
    info = get(aws, deployment_id)
    assert (info["status"], info["errorInformation"]["code"]) == ("Failed", "NO_INSTANCES")
    cd = aws.client("codedeploy")
    with pytest.raises(ClientError, match="DeploymentTargetIdRequiredException"):
        cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=[])
    with pytest.raises(ClientError, match="DeploymentTargetListSizeExceededException"):
        cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=[f"i-{n}" for n in range(26)])
    with pytest.raises(ClientError, match="DeploymentTargetDoesNotExistException"):
        cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=["i-0123456789abcdef0"])
    with pytest.raises(ClientError, match="InvalidTargetFilterNameException"):
        cd.list_deployment_targets(deploymentId=deployment_id, targetFilters={"Colour": ["Blue"]})
    with pytest.raises(ClientError, match="DeploymentDoesNotExistException"):
        cd.list_deployment_targets(deploymentId="d-NOSUCH000")
