"""Elastic Beanstalk in the emulator, through boto3 only: application versions, environments whose updates progress
by themselves (model ``elasticbeanstalk::environment``), AbortEnvironmentUpdate, the events DescribeEvents lists and
the "Elastic Beanstalk resource status change" events on the default bus, as the API Reference and the Developer
Guide document them."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.moto_api import state_manager

from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.emulator import beanstalk as beanstalk_model
from tests.emulator import events

MODEL = "elasticbeanstalk::environment"
STATUS_CHANGE = {"source": ["aws.elasticbeanstalk"], "detail-type": ["Elastic Beanstalk resource status change"]}


def environment(aws: Any, name: str = "shop-prod") -> dict[str, Any]:
    [found] = aws.client("elasticbeanstalk").describe_environments(EnvironmentNames=[name])["Environments"]
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


def code_and_message(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def test_application_versions_are_created_described_and_deleted(aws: Any) -> None:
    estate.beanstalk_application(aws, "shop", ["v1", "v2"])
    eb = aws.client("elasticbeanstalk")
    [v1] = eb.describe_application_versions(ApplicationName="shop", VersionLabels=["v1"])["ApplicationVersions"]
    assert v1["ApplicationVersionArn"] == f"arn:aws:elasticbeanstalk:us-east-1:{ACCOUNT}:applicationversion/shop/v1"
    assert v1["Status"] == "Unprocessed" and v1["SourceBundle"]["S3Key"] == "shop/v1.zip"
    labels = [
        v["VersionLabel"] for v in eb.describe_application_versions(ApplicationName="shop")["ApplicationVersions"]
    ]
    assert labels == ["v2", "v1"]  # newest first
    eb.delete_application_version(ApplicationName="shop", VersionLabel="v1")
    assert eb.describe_application_versions(ApplicationName="shop", VersionLabels=["v1"])["ApplicationVersions"] == []
    with pytest.raises(ClientError) as exc:
        eb.create_application_version(ApplicationName="nope", VersionLabel="v1")
    assert code_and_message(exc) == ("InvalidParameterValue", "No Application named 'nope' found.")


def test_an_update_is_updating_at_once_and_ready_on_the_new_version_when_it_completes(aws: Any) -> None:
    estate.beanstalk_application(aws, "shop", ["v1", "v2"])
    arn = estate.beanstalk_environment(aws, "shop", "shop-prod", "v1")
    ready = environment(aws)
    assert (ready["Status"], ready["VersionLabel"], ready["Health"], ready["EnvironmentArn"]) == (
        "Ready",
        "v1",
        "Green",
        arn,
    )
    assert ready["EnvironmentId"].startswith("e-") and ready["AbortableOperationInProgress"] is False
    set_transition(aws, {"progression": "manual", "times": 2})  # the second DescribeEnvironments sees it Ready
    answered = aws.client("elasticbeanstalk").update_environment(EnvironmentName="shop-prod", VersionLabel="v2")
    # The API Reference's example: the requested label and Updating, straight away.
    assert (answered["Status"], answered["VersionLabel"], answered["Health"]) == ("Updating", "v2", "Grey")
    described = [environment(aws) for _ in range(3)]
    assert [(e["Status"], e["AbortableOperationInProgress"]) for e in described] == [
        ("Updating", True),
        ("Ready", False),
        ("Ready", False),
    ]
    assert described[-1]["VersionLabel"] == "v2" and described[-1]["Health"] == "Green"


def test_updating_an_environment_that_is_not_ready_is_refused_as_aws_words_it(aws: Any) -> None:
    estate.beanstalk_moved(aws, versions=("v1", "v2"))
    estate.beanstalk_deploy(aws, "shop-prod", "v2", finish=False)
    eb = aws.client("elasticbeanstalk")
    with pytest.raises(ClientError) as exc:
        eb.update_environment(EnvironmentName="shop-prod", VersionLabel="v1")
    assert code_and_message(exc) == (
        "InvalidParameterValue",
        "Environment named shop-prod is in an invalid state for this operation. Must be Ready.",
    )
    with pytest.raises(ClientError) as exc:
        eb.update_environment(EnvironmentName="shop-prod", VersionLabel="v9")
    assert code_and_message(exc) == ("InvalidParameterValue", "No Application Version named 'v9' found.")
    with pytest.raises(ClientError) as exc:
        eb.update_environment(EnvironmentName="gone-env", VersionLabel="v1")
    assert code_and_message(exc) == ("InvalidParameterValue", "No Environment found for EnvironmentName = 'gone-env'.")
    with pytest.raises(ClientError) as exc:
        eb.update_environment(
            EnvironmentName="shop-prod",
            VersionLabel="v1",
            OptionSettings=[{"Namespace": "aws:autoscaling:asg", "OptionName": "MinSize", "Value": "2"}],
        )
    assert code_and_message(exc)[0] == "InvalidParameterCombination"


def test_an_aborted_deployment_stops_and_returns_to_ready_without_the_new_version_going_live(aws: Any) -> None:
    estate.beanstalk_moved(aws, versions=("v1", "v2"))
    estate.beanstalk_deploy(aws, "shop-prod", "v2", finish=False)
    eb = aws.client("elasticbeanstalk")
    eb.abort_environment_update(EnvironmentName="shop-prod")
    aborting = environment(aws)
    assert (aborting["Status"], aborting["AbortableOperationInProgress"]) == ("Updating", False)
    with pytest.raises(ClientError):  # the abort under way cannot be aborted again
        eb.abort_environment_update(EnvironmentName="shop-prod")
    set_transition(aws, {"progression": "immediate"})
    aborted = environment(aws)
    assert (aborted["Status"], aborted["HealthStatus"]) == ("Ready", "Warning")
    messages = [e["Message"] for e in eb.describe_events(EnvironmentName="shop-prod", Severity="WARN")["Events"]]
    assert messages[0] == beanstalk_model.ABORTED  # newest first, WARN and above only
    eb.update_environment(EnvironmentName="shop-prod", VersionLabel="v1")  # Ready again: it may be updated


def test_describe_events_filters_by_severity_environment_and_time(aws: Any) -> None:
    estate.beanstalk_moved(aws, versions=("v1", "v2"))
    estate.beanstalk_deploy(aws, "shop-prod", "v2", finish=False)
    beanstalk_model.fail_update(
        ACCOUNT, aws.region, "shop-prod", ["[Instance: i-0abc] Command failed on instance. Return code: 1"]
    )
    eb = aws.client("elasticbeanstalk")
    everything = eb.describe_events(EnvironmentName="shop-prod")["Events"]
    assert [e["Message"] for e in everything[:3]] == [
        "Failed to deploy application.",
        "[Instance: i-0abc] Command failed on instance. Return code: 1",
        "Environment update is starting.",
    ]
    assert {e["Severity"] for e in eb.describe_events(EnvironmentName="shop-prod", Severity="ERROR")["Events"]} == {
        "ERROR"
    }
    assert eb.describe_events(EnvironmentName="other-env")["Events"] == []
    assert eb.describe_events(EnvironmentName="shop-prod", EndTime=everything[-1]["EventDate"])["Events"] == []
    assert len(eb.describe_events(EnvironmentName="shop-prod", MaxRecords=2)["Events"]) == 2
    health = eb.describe_environment_health(EnvironmentName="shop-prod", AttributeNames=["All"])
    assert (health["HealthStatus"], health["Color"]) == ("Severe", "Red")


@pytest.mark.parametrize("where", ["in-process", "local-aws"])
def test_an_update_completes_by_itself_and_its_status_change_reaches_the_bus(
    where: str, aws: Any, request: pytest.FixtureRequest
) -> None:
    """Even when nobody describes the environment: the ticker moves it, and the event arrives within a second."""
    emulator = aws if where == "in-process" else request.getfixturevalue("http_aws")
    estate.beanstalk_moved(emulator, versions=("v1", "v2"))
    queue = events.catch(emulator, "beanstalk-status", STATUS_CHANGE)
    estate.beanstalk_deploy(emulator, "shop-prod", "v2", finish=False)
    set_transition(emulator, {"progression": "time", "seconds": 0.2})
    received = events.received(emulator, queue, 2, timeout=5)
    assert [e["detail"]["Status"] for e in received] == ["Environment update started", "Environment update successful"]
    done = received[-1]
    assert done["resources"] == [f"arn:aws:elasticbeanstalk:us-east-1:{ACCOUNT}:environment/shop/shop-prod"]
    assert {k: done["detail"][k] for k in ("ApplicationName", "EnvironmentName", "Severity", "Message")} == {
        "ApplicationName": "shop",
        "EnvironmentName": "shop-prod",
        "Severity": "INFO",
        "Message": "Environment update completed successfully.",
    }
    assert isinstance(done["detail"]["EventDate"], int)  # epoch milliseconds, as in the Developer Guide's example
    assert environment(emulator)["Status"] == "Ready"


def test_the_deploying_calls_are_recorded_as_cloudtrail_would(aws: Any) -> None:
    trail = events.catch(
        aws,
        "beanstalk-trail",
        {"source": ["aws.elasticbeanstalk"], "detail-type": ["AWS API Call via CloudTrail"]},
    )
    estate.beanstalk_moved(aws, versions=("v1", "v2"))
    calls = events.received(aws, trail, 2, timeout=5)
    assert [(c["detail"]["eventName"], c["detail"]["requestParameters"]["versionLabel"]) for c in calls] == [
        ("CreateEnvironment", "v1"),
        ("UpdateEnvironment", "v2"),
    ]
    response = calls[-1]["detail"]["responseElements"]
    assert response["environmentArn"].endswith(":environment/shop/shop-prod") and response["status"] == "Updating"
    assert calls[-1]["detail"]["eventSource"] == "elasticbeanstalk.amazonaws.com"
