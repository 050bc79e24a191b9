"""Deployment tracking: the controller learns deployments from CloudTrail events (the emulator emits them
as AWS does with a trail on), judges versions good, ignores stale alarms and old deployments."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from rollbackctl.emulator import deploy, estate, patches
from rollbackctl.emulator.demo import deliver, fire_and_wait
from rollbackctl.model import iso, utcnow
from rollbackctl.store import Ledger
from tests.conftest import TEMPLATE, load_event

CHECKOUT = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"


def ledger(aws: Any, controller: Any) -> Ledger:
    return Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])


def test_deployments_are_recorded_from_the_trail_and_rollbackctls_own_changes_are_not(
    aws: Any, controller: Any
) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    patches.drain()
    seen = ledger(aws, controller).latest_deployment(CHECKOUT)
    assert seen is not None and seen.version == "2" and seen.actor.endswith(":user/deployer")
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    assert json.loads(finished["output"])["action"] == "rolled_back"
    patches.drain()
    after = ledger(aws, controller).latest_deployment(CHECKOUT)
    assert after is not None and after.version == "2"  # the rollback itself is not a deployment


def test_a_version_that_served_the_watch_window_is_known_good_and_used(aws: Any) -> None:
    controller = deploy(aws, TEMPLATE, overrides={"WatchWindowSeconds": "600"})
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1")
    patches.drain()
    # version 1 has been live for two hours when version 2 replaces it, all at once
    ledger(aws, controller).record_deployment(CHECKOUT, "1", iso(utcnow() - timedelta(hours=2)), "deployer")
    aws.client("lambda").update_alias(FunctionName="checkout", Name="live", FunctionVersion="2")
    patches.drain()
    good = [(e.version, e.reason) for e in ledger(aws, controller).entries(CHECKOUT) if e.status == "good"]
    assert good and good[0][0] == "1" and "past the watch window" in good[0][1]
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    incident = json.loads(finished["output"])
    assert incident["action"] == "rolled_back"
    assert (incident["from_version"], incident["to_version"]) == ("2", "1")


def test_an_alarm_that_was_red_before_the_deployment_neither_blocks_nor_reverts_it(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    sfn = aws.client("stepfunctions")
    from rollbackctl.emulator import wait_for_execution

    patches.drain()
    stale = load_event("alarm-lambda-alias-dimensions.json")  # ALARM since 2026-11-20, before this deployment
    started = sfn.start_execution(stateMachineArn=controller.outputs["StateMachineArn"], input=json.dumps(stale))
    incident = json.loads(wait_for_execution(sfn, started["executionArn"])["output"])
    assert incident["action"] == "ignored"
    assert "already red" in incident["reason"]
    alias = aws.client("lambda").get_alias(FunctionName="checkout", Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}


def test_an_alarm_long_after_the_deployment_pages_instead_of_rolling_back(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    patches.drain()
    ledger(aws, controller).record_deployment(CHECKOUT, "2", iso(utcnow() - timedelta(hours=3)), "deployer")
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    incident = json.loads(finished["output"])
    assert incident["action"] == "refused"
    assert "past the 3600 s watch window" in incident["reason"]


def test_a_successful_codedeploy_deployment_makes_its_version_good(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1")
    estate.codedeploy_group(aws, "checkout-app", "checkout-live", "Lambda")
    deployment_id = estate.codedeploy_deployment(
        aws, "checkout-app", "checkout-live", estate.lambda_appspec("checkout", "live", "1", "2")
    )
    event = copy.deepcopy(load_event("codedeploy-deployment-failure.json"))
    event["detail"].update(deploymentId=deployment_id, state="SUCCESS")
    assert deliver(aws, controller, event) == []  # the incident workflow does not start on success
    patches.drain()
    assert ("2", "good") in {(e.version, e.status) for e in ledger(aws, controller).entries(CHECKOUT)}


def test_a_success_read_after_an_incident_marked_the_version_bad_leaves_it_bad(aws: Any, controller: Any) -> None:
    """EventBridge delivers late and more than once: a deployment's success that Track reads after an incident
    marked that version bad must not clear the mark (the write is conditional: bad always wins)."""
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1")
    estate.codedeploy_group(aws, "checkout-app", "checkout-live", "Lambda")
    deployment_id = estate.codedeploy_deployment(
        aws, "checkout-app", "checkout-live", estate.lambda_appspec("checkout", "live", "1", "2")
    )
    patches.drain()
    book = ledger(aws, controller)
    book.record(CHECKOUT, "2", "bad", "rolled back by inc-earlier")
    event = copy.deepcopy(load_event("codedeploy-deployment-failure.json"))
    event["detail"].update(deploymentId=deployment_id, state="SUCCESS")
    deliver(aws, controller, event)
    patches.drain()
    assert ("2", "bad") in {(e.version, e.status) for e in book.entries(CHECKOUT)}
    assert book.is_bad(CHECKOUT, "2")
    assert book.record(CHECKOUT, "2", "good", "anyone's success") is False and book.is_bad(CHECKOUT, "2")


def test_a_completed_ecs_deployment_makes_its_task_definition_good(aws: Any, controller: Any) -> None:
    from rollbackctl.emulator import ACCOUNT
    from rollbackctl.emulator import ecs as ecs_model

    one, two = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", one)
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)
    ecs_model.complete_rollout(ACCOUNT, aws.region, "prod", "web")
    event = copy.deepcopy(load_event("ecs-deployment-failed.json"))
    event["detail"].update(eventType="INFO", eventName="SERVICE_DEPLOYMENT_COMPLETED", reason="completed")
    assert deliver(aws, controller, event) == []  # the incident workflow does not start on success
    patches.drain()
    web = "arn:aws:ecs:us-east-1:123456789012:service/prod/web"
    assert (two, "good") in {(e.version, e.status) for e in ledger(aws, controller).entries(web)}
