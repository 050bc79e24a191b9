"""The Elastic Beanstalk environment kind through the deployed workflow in the emulator, asserting on AWS state.

- An alarm (tagged with the environment ARN, or on the AWS/ElasticBeanstalk EnvironmentName dimension) after v2
  went live: UpdateEnvironment back to the known-good v1, read back Ready on v1, restored_at after the change.
- No known-good: refused. The known-good version deleted: refused naming it. Nothing changed either way.
- An update to v2 in flight: aborted (it stops reaching more instances), then v1 deployed once the environment is
  Ready; a kill switch set between the two steps stops the second one and pages. An update already going to a label
  the ledger knows as good is not fought.
- Track learns good labels from Elastic Beanstalk's "resource status change" events, deployments from CloudTrail,
  and never takes rollbackctl's own UpdateEnvironment for a deployment; the events/ samples are handled.

Elastic Beanstalk is paced with moto's state manager, set once the estate is where the test wants it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.moto_api import state_manager

from rollbackctl.controls import KILL_SWITCH_MAX_AGE
from rollbackctl.emulator import ACCOUNT, estate, patches
from rollbackctl.emulator import beanstalk as beanstalk_model
from rollbackctl.emulator.demo import deliver, fire_and_wait
from rollbackctl.model import Incident, parse_time
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import fresh_event, load_event

MODEL = "elasticbeanstalk::environment"
SHOP = f"arn:aws:elasticbeanstalk:us-east-1:{ACCOUNT}:environment/shop/shop-prod"


def incident_of(aws: Any, controller: Any, finished: list[dict[str, Any]]) -> Incident:
    [execution] = finished
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    stored = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(
        json.loads(execution["output"])["incident_id"]
    )
    assert stored is not None
    return stored


def ledger(aws: Any, controller: Any) -> Ledger:
    return Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])


def environment(aws: Any) -> dict[str, Any]:
    [found] = aws.client("elasticbeanstalk").describe_environments(EnvironmentNames=["shop-prod"])["Environments"]
    return dict(found)


def on(aws: Any) -> tuple[str, str]:
    env = environment(aws)
    return str(env["Status"]), str(env.get("VersionLabel"))


def beanstalk_takes(seconds: float) -> None:
    """From now on Elastic Beanstalk finishes an update (or an abort) ``seconds`` after it starts, by itself."""
    state_manager.set_transition(MODEL, {"progression": "time", "seconds": seconds})


def pace_once(aws: Any, when: Callable[[dict[str, Any]], bool], then: Callable[[], None]) -> threading.Thread:
    """A thread that does ``then`` once DescribeEnvironments shows ``when`` (what AWS does next, at AWS's pace)."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if when(environment(aws)):
                then()
                return
            time.sleep(0.01)

    pacer = threading.Thread(target=watch, daemon=True)
    pacer.start()
    return pacer


def aborting(env: dict[str, Any]) -> bool:
    """The abort was asked for: still Updating, and no longer abortable."""
    return env["Status"] == "Updating" and not env["AbortableOperationInProgress"]


def restore_steps(incident: Incident) -> list[tuple[str, str]]:
    return [(s["status"], s["at"]) for s in incident.steps if s["step"] == "restore"]


def test_a_tagged_alarm_after_v2_went_live_deploys_v1_again_and_reads_it_back(
    aws: Any, controller: Any, faults: Any
) -> None:
    arn = estate.beanstalk_moved(aws)  # v1 launched, v2 deployed: both updates completed
    assert arn == SHOP and on(aws) == ("Ready", "v2")
    estate.custom_alarm(aws, "shop-checkout-errors", "Shop/Checkout", "Errors", tags={"rollback:target": SHOP})
    beanstalk_takes(1)
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "shop-checkout-errors"))

    assert incident.action == "rolled_back", incident.reason
    assert incident.plan is not None and incident.plan.strategy == "beanstalk-update"
    assert (incident.target, incident.from_version, incident.to_version) == (SHOP, "v2", "v1")
    assert faults.mutating_calls() == [("elasticbeanstalk", "UpdateEnvironment")]
    assert on(aws) == ("Ready", "v1")
    steps = restore_steps(incident)
    assert [status for status, _ in steps] == ["started", "done"]
    assert incident.restored_at is not None and parse_time(incident.restored_at) > parse_time(steps[0][1])
    assert incident.time_to_restore_ms is not None and incident.time_to_restore_ms >= 1000  # Beanstalk took 1 s
    patches.drain()
    book = ledger(aws, controller)
    statuses = {e.version: e.status for e in book.entries(SHOP)}
    assert statuses == {"v1": "good", "v2": "bad"}
    deployment = book.latest_deployment(SHOP)
    assert deployment is not None and deployment.version == "v2"  # rollbackctl's own update is not a deployment


def test_an_environment_name_alarm_resolves_through_elastic_beanstalk(aws: Any, controller: Any) -> None:
    estate.beanstalk_moved(aws)
    estate.beanstalk_alarm(aws, "shop-prod-5xx", "shop-prod")  # only EnvironmentName: the application is read
    beanstalk_takes(0.5)
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "shop-prod-5xx"))
    assert incident.action == "rolled_back", incident.reason
    assert (incident.target, incident.from_version, incident.to_version) == (SHOP, "v2", "v1")
    assert on(aws) == ("Ready", "v1")


def test_no_known_good_label_is_refused_and_nothing_changes(aws: Any, controller: Any, faults: Any) -> None:
    estate.beanstalk_application(aws, "shop", ["v1"])
    estate.beanstalk_environment(aws, "shop", "shop-prod", "v1")  # its only version: nothing to go back to
    estate.beanstalk_alarm(aws, "shop-prod-5xx", "shop-prod")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "shop-prod-5xx"))
    assert incident.action == "refused"
    assert "no known-good version label" in incident.reason and "never guesses" in incident.reason
    assert faults.mutating_calls() == []
    assert on(aws) == ("Ready", "v1")


def test_a_deleted_known_good_version_is_refused_naming_it(aws: Any, controller: Any, faults: Any) -> None:
    estate.beanstalk_moved(aws)
    aws.client("elasticbeanstalk").delete_application_version(ApplicationName="shop", VersionLabel="v1")
    estate.beanstalk_alarm(aws, "shop-prod-5xx", "shop-prod")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "shop-prod-5xx"))
    assert incident.action == "refused"
    assert "version v1 no longer exists" in incident.reason and "nothing was changed" in incident.reason
    assert faults.mutating_calls() == []
    assert on(aws) == ("Ready", "v2")


def test_an_update_in_flight_is_aborted_then_the_known_good_deployed_once_ready(
    aws: Any, controller: Any, faults: Any
) -> None:
    estate.beanstalk_application(aws, "shop", ["v1", "v2"])
    estate.beanstalk_environment(aws, "shop", "shop-prod", "v1")
    estate.beanstalk_deploy(aws, "shop-prod", "v2", finish=False)  # v2 reaching the instances, batch by batch
    assert environment(aws)["AbortableOperationInProgress"] is True
    # Elastic Beanstalk holds the v2 update until rollbackctl aborts it; from then on each step takes a second.
    pacer = pace_once(aws, aborting, lambda: beanstalk_takes(1))
    estate.beanstalk_alarm(aws, "shop-prod-5xx", "shop-prod")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "shop-prod-5xx"))
    pacer.join(timeout=5)

    assert incident.action == "rolled_back", incident.reason
    assert incident.plan is not None and incident.plan.strategy == "beanstalk-abort"
    assert (incident.from_version, incident.to_version) == ("v2", "v1")
    assert faults.mutating_calls() == [
        ("elasticbeanstalk", "AbortEnvironmentUpdate"),
        ("elasticbeanstalk", "UpdateEnvironment"),
    ]
    assert on(aws) == ("Ready", "v1") and environment(aws)["Health"] == "Green"
    steps = restore_steps(incident)
    assert [status for status, _ in steps] == ["started", "started", "done"]
    details = [s["detail"] for s in incident.steps if s["step"] == "restore"]
    assert "aborting the update of shop-prod to v2" in details[0] and "deploying known-good v1" in details[1]
    assert incident.restored_at is not None and parse_time(incident.restored_at) >= parse_time(steps[1][1])
    messages = [
        e["Message"] for e in aws.client("elasticbeanstalk").describe_events(EnvironmentName="shop-prod")["Events"]
    ]
    assert beanstalk_model.ABORTED in messages


def test_a_kill_switch_set_between_the_abort_and_the_deploy_stops_the_deploy_and_pages(
    aws: Any, controller: Any, faults: Any
) -> None:
    estate.beanstalk_application(aws, "shop", ["v1", "v2"])
    estate.beanstalk_environment(aws, "shop", "shop-prod", "v1")
    estate.beanstalk_deploy(aws, "shop-prod", "v2", finish=False)

    def operator_pulls_the_switch() -> None:
        aws.client("ssm").put_parameter(Name="/rollbackctl/kill-switch", Value="on", Overwrite=True)
        # the abort takes longer than the functions keep the switch's value (controls.KILL_SWITCH_MAX_AGE, 5 s)
        beanstalk_takes(KILL_SWITCH_MAX_AGE + 1)

    pacer = pace_once(aws, aborting, operator_pulls_the_switch)
    estate.beanstalk_alarm(aws, "shop-prod-5xx", "shop-prod")
    [execution] = fire_and_wait(aws, controller, "shop-prod-5xx")
    pacer.join(timeout=5)
    assert execution["status"] == "FAILED"  # recorded as failed, and on-call paged
    [recorded] = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).list()
    assert recorded.action == "failed"
    assert "the first step of the change was made, the next was not" in json.dumps(recorded.to_dict())
    assert faults.mutating_calls() == [("elasticbeanstalk", "AbortEnvironmentUpdate")]
    assert on(aws) == ("Ready", "v2")  # aborted where it was: a human decides what next


def test_an_update_already_going_back_to_a_known_good_label_is_not_fought(
    aws: Any, controller: Any, faults: Any
) -> None:
    estate.beanstalk_moved(aws)
    estate.beanstalk_deploy(aws, "shop-prod", "v1", finish=False)  # someone is already putting v1 back
    estate.beanstalk_alarm(aws, "shop-prod-5xx", "shop-prod")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "shop-prod-5xx"))
    assert incident.action == "ignored"
    assert "already being updated to version v1" in incident.reason
    assert faults.mutating_calls() == []
    assert on(aws) == ("Updating", "v1")


def test_track_learns_good_labels_from_completed_updates_only(aws: Any, controller: Any) -> None:
    estate.beanstalk_moved(aws, versions=("v1", "v2", "v3"))
    aws.client("elasticbeanstalk").create_application_version(ApplicationName="shop", VersionLabel="v4")
    estate.beanstalk_deploy(aws, "shop-prod", "v4", finish=False)
    beanstalk_model.fail_update(ACCOUNT, aws.region, "shop-prod", ["[Instance: i-0abc] Command failed on instance."])
    patches.drain()
    book = ledger(aws, controller)
    good = {e.version for e in book.entries(SHOP) if e.status == "good"}
    assert good == {"v1", "v2", "v3"}  # each completed; v4's update failed: never good
    deployment = book.latest_deployment(SHOP)
    assert deployment is not None and (deployment.version, deployment.previous_version) == ("v4", "v3")
    assert deployment.actor.endswith(":user/deployer")


def test_the_events_samples_are_handled_as_aws_delivers_them(aws: Any, controller: Any) -> None:
    """events/beanstalk-environment-update-successful.json makes the label it completed good; the alarm sample,
    named by its EnvironmentName dimension only, rolls the environment back."""
    estate.beanstalk_moved(aws)
    book = ledger(aws, controller)
    for version in ("v1", "v2"):  # forget what Track learned: the sample alone teaches it v2
        aws.client("dynamodb").delete_item(
            TableName=controller.outputs["LedgerTableName"], Key={"target": {"S": SHOP}, "version": {"S": version}}
        )
    completed = load_event("beanstalk-environment-update-successful.json")
    completed["detail"]["EventDate"] = int(time.time() * 1000)  # as if Elastic Beanstalk had just sent it
    assert deliver(aws, controller, completed) == []  # Track's, not the workflow's
    patches.drain()
    assert {e.version: e.status for e in book.entries(SHOP)} == {"v2": "good"}
    book.record(SHOP, "v1", "good", "served past the watch window")
    beanstalk_takes(0.5)
    incident = incident_of(
        aws, controller, deliver(aws, controller, fresh_event("alarm-beanstalk-environment-dimensions.json"))
    )
    assert incident.action == "rolled_back", incident.reason
    assert (incident.target, incident.from_version, incident.to_version) == (SHOP, "v2", "v1")
    assert on(aws) == ("Ready", "v1")
