"""Every mutating call, with injected faults (before the emulator applies anything), through the workflow:
throttling is retried and succeeds; AccessDenied is a failed, paged incident with its record kept; a
target that vanished is refused; a conflicting alias change is re-read and decided again."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from rollbackctl.emulator import estate
from rollbackctl.emulator.demo import drain_messages, fire_and_wait
from rollbackctl.store import IncidentStore


@dataclass
class Target:
    service: str  # botocore service id, as in the before-send event name
    operation: str
    throttle: str
    not_found: str
    setup: Callable[[Any], str]  # builds the estate, returns the alarm to fire
    restored: Callable[[Any], bool]


def _canary(aws: Any) -> str:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    return "checkout-live-errors"


def _alias_restored(aws: Any) -> bool:
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    return bool(alias["FunctionVersion"] == "1" and not alias["RoutingConfig"]["AdditionalVersionWeights"])


def _rolling(aws: Any) -> str:
    one, two = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", one)
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)
    estate.ecs_alarm(aws, "web-5xx", "prod", "web")
    return "web-5xx"


def _service_restored(aws: Any) -> bool:
    service = aws.client("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
    return bool(service["deployments"][0]["taskDefinition"].endswith("/web:1"))


def _blue_green(aws: Any) -> str:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1")
    estate.codedeploy_group(aws, "checkout-app", "checkout-live", "Lambda")
    estate.codedeploy_deployment(
        aws, "checkout-app", "checkout-live", estate.lambda_appspec("checkout", "live", "1", "2")
    )
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    return "checkout-live-errors"


def _alb(aws: Any) -> str:
    [definition] = estate.task_definitions(aws, "web", 1)
    estate.alb_split(aws, "shop", {"web-blue": 90, "web-green": 10}, "prod", definition)
    estate.ecs_alarm(aws, "web-green-5xx", "prod", "web-green")
    return "web-green-5xx"


def _alb_restored(aws: Any) -> bool:
    elb = aws.client("elbv2")
    balancer = elb.describe_load_balancers(Names=["shop"])["LoadBalancers"][0]["LoadBalancerArn"]
    [listener] = elb.describe_listeners(LoadBalancerArn=balancer)["Listeners"]
    groups = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    return any(g["TargetGroupArn"].split("/")[1] == "shop-web-green" and g["Weight"] == 0 for g in groups)


TARGETS = {
    "UpdateAlias": Target(
        "lambda", "UpdateAlias", "TooManyRequestsException", "ResourceNotFoundException", _canary, _alias_restored
    ),
    "UpdateService": Target(
        "ecs", "UpdateService", "ThrottlingException", "ServiceNotFoundException", _rolling, _service_restored
    ),
    "StopDeployment": Target(
        "codedeploy",
        "StopDeployment",
        "ThrottlingException",
        "DeploymentDoesNotExistException",
        _blue_green,
        _alias_restored,
    ),
    "ModifyListener": Target(
        "elastic-load-balancing-v2", "ModifyListener", "Throttling", "ListenerNotFound", _alb, _alb_restored
    ),
}


def run(aws: Any, controller: Any, target: Target) -> tuple[dict[str, Any], Any]:
    alarm = target.setup(aws)
    [finished] = fire_and_wait(aws, controller, alarm)
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    return finished, incident


@pytest.mark.parametrize("name", TARGETS)
def test_throttling_is_retried_and_succeeds(aws: Any, controller: Any, faults: Any, name: str) -> None:
    target = TARGETS[name]
    faults.add(target.service, target.operation, target.throttle, "Rate exceeded", times=2)
    finished, incident = run(aws, controller, target)
    assert finished["status"] == "SUCCEEDED"
    assert incident.action == "rolled_back"
    assert target.restored(aws)
    assert [hit[2] for hit in faults.hits] == [target.throttle] * 2


@pytest.mark.parametrize("name", TARGETS)
def test_access_denied_is_a_failed_paged_incident_with_its_record(
    aws: Any, controller: Any, oncall: str, faults: Any, name: str
) -> None:
    target = TARGETS[name]
    code = "AccessDenied" if target.service.startswith("elastic") else "AccessDeniedException"
    faults.add(target.service, target.operation, code, f"not authorized to perform {target.operation}")
    finished, incident = run(aws, controller, target)
    assert finished["status"] == "FAILED"
    assert incident.action == "failed" and code in incident.reason
    assert incident.plan is not None  # the audit written before the call survived: what was to be done
    assert not target.restored(aws)
    [message] = drain_messages(aws, oncall)
    assert message["MessageAttributes"]["severity"]["Value"] == "critical"


@pytest.mark.parametrize("name", TARGETS)
def test_a_target_that_vanished_is_refused(aws: Any, controller: Any, oncall: str, faults: Any, name: str) -> None:
    target = TARGETS[name]
    faults.add(target.service, target.operation, target.not_found, "gone")
    finished, incident = run(aws, controller, target)
    assert finished["status"] == "SUCCEEDED"
    assert incident.action == "refused" and target.not_found in incident.reason
    assert "REFUSED" in drain_messages(aws, oncall)[0]["Subject"]


def test_a_conflicting_alias_change_is_read_again_and_decided_again(aws: Any, controller: Any, faults: Any) -> None:
    faults.add(
        "lambda", "UpdateAlias", "PreconditionFailedException", "The Revision Id provided does not match", times=1
    )
    finished, incident = run(aws, controller, TARGETS["UpdateAlias"])
    assert finished["status"] == "SUCCEEDED"
    assert incident.action == "rolled_back"
    assert any(s["status"] == "skipped" and "decided again" in s["detail"] for s in incident.steps)
    assert _alias_restored(aws)


def test_the_emulator_refuses_a_stale_revision_id_as_aws_does(aws: Any) -> None:
    _canary(aws)
    lam = aws.client("lambda")
    stale = lam.get_alias(FunctionName="checkout", Name="live")["RevisionId"]
    lam.update_alias(FunctionName="checkout", Name="live", Description="someone else", RevisionId=stale)
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_alias(FunctionName="checkout", Name="live", FunctionVersion="1", RevisionId=stale)


@pytest.mark.parametrize("operation", ["StopPipelineExecution", "DisableStageTransition"])
def test_a_pipeline_step_that_is_denied_is_recorded_and_traffic_still_restored(
    aws: Any, controller: Any, oncall: str, faults: Any, operation: str
) -> None:
    estate.service_shipped_by_pipeline(aws)
    faults.add("codepipeline", operation, "AccessDeniedException", f"not authorized to perform {operation}")
    [finished] = fire_and_wait(aws, controller, "web-5xx")
    incident = json.loads(finished["output"])
    assert incident["action"] == "rolled_back"
    assert _service_restored(aws)
    failed = [s for s in incident["steps"] if s["status"] == "failed"]
    assert len(failed) == 1 and "AccessDeniedException" in failed[0]["detail"]
    assert "failed" in drain_messages(aws, oncall)[0]["Message"]


# --- a step that fails after the change: the record says what the target reads back as -----------------------


def test_with_the_on_call_topic_gone_the_record_says_restored_and_the_failure(aws: Any, controller: Any) -> None:
    """Restore put the alias back; then the message could not be sent (the topic was deleted). RecordFailure reads
    the target back before it writes anything: the incident is rolled_back, with the failure, not 'failed'."""
    alarm = _canary(aws)
    aws.client("sns").delete_topic(TopicArn=controller.outputs["NotificationTopicArn"])
    [finished] = fire_and_wait(aws, controller, alarm)
    assert finished["status"] == "FAILED"  # the workflow could not page: its own alarms on failed executions do
    assert _alias_restored(aws)
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    assert incident.action == "rolled_back", incident.reason
    assert "reads back as restored, then the workflow failed" in incident.reason
    assert incident.error is not None and incident.restored_at


def test_a_failure_before_the_change_is_failed_and_says_the_target_is_not_restored(
    aws: Any, controller: Any, faults: Any
) -> None:
    alarm = _canary(aws)
    faults.add("lambda", "UpdateAlias", "AccessDeniedException", "not authorized to perform UpdateAlias")
    fire_and_wait(aws, controller, alarm)
    assert not _alias_restored(aws)
    [incident] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    assert incident.action == "failed"
    assert "the target is not restored" in incident.reason


# --- fail closed: the claims store down for the whole incident ---------------------------------------------------


@pytest.mark.parametrize("code", ["InternalServerError", "AccessDeniedException", "ReadTimeout"])
def test_with_the_claims_store_down_nothing_changes_and_on_call_is_paged(
    aws: Any, controller: Any, oncall: str, faults: Any, code: str
) -> None:
    """DynamoDB failing for every call of every function: exactly-once cannot be guaranteed, so nothing changes; the
    failure cannot be recorded either, so the page says so, and is the incident's only record (issue 17 item 4)."""
    alarm = _canary(aws)
    faults.add("dynamodb", None, code, "injected")
    [finished] = fire_and_wait(aws, controller, alarm)
    assert finished["status"] == "FAILED"
    assert not _alias_restored(aws) and faults.applied == []
    [message] = drain_messages(aws, oncall)
    assert message["MessageAttributes"]["severity"]["Value"] == "critical"
    assert message["MessageAttributes"]["action"]["Value"] == "failed"
    assert "NOT RECORDED" in message["Message"] and alarm in message["Message"]
    faults.clear()
    assert IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list() == []
