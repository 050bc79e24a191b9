"""The CodeDeploy deployment group kind (EC2 / on-premises, compute platform Server) through the deployed workflow.

The estate: deployment group web/prod over the Auto Scaling group web-asg (two instances), revision 1 deployed and
Succeeded. Each test asserts on what AWS holds afterwards: the deployments CodeDeploy has, their statuses, creators
and revisions, and the incident the controller recorded.

- In flight (an alarm by tag, or by the ASG's dimension): stopped with rollback; CodeDeploy's rollback deployment
  is read back until it Succeeded, and the incident is restored only then.
- Finished and bad: a new deployment of the known-good revision (CreateDeployment), read back the same way.
- Refused with nothing changed: no known-good revision; the known-good's S3 object deleted.
- A GitHub revision goes back too, and the incident says it was not checked.
- A Server deployment's FAILURE event is handled (and diagnosed from the instance's lifecycle event); one CodeDeploy
  already rolled back is recorded, not touched.
- With TargetOptIn=tag, a group without its own rollback:managed tag is left alone.
- Track learns the group's deployments (CloudTrail CreateDeployment, CodeDeploy SUCCESS) in the kind's own words,
  and not the controller's own redeploy.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC
from typing import Any

import pytest
from moto.moto_api import state_manager

from rollbackctl.emulator import ACCOUNT, deploy, estate, patches
from rollbackctl.emulator import codedeploy_server as server_model
from rollbackctl.emulator.demo import executions, fire, fire_and_wait, wait_all
from rollbackctl.kinds.codedeploy_group import version
from rollbackctl.model import Incident, parse_time
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import TEMPLATE

MODEL = "codedeploy::deployment"
WEB = f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:deploymentgroup:web/prod"
BUCKET = "web-revisions"


def web(aws: Any, first: dict[str, Any] | None = None, **group: Any) -> dict[str, Any]:
    """web/prod over web-asg, with ``first`` (by default s3://web-revisions/web-1.zip) deployed and Succeeded."""
    estate.auto_scaling_group(aws, "web-asg")
    estate.server_group(aws, "web", "prod", ["web-asg"], **group)
    revision = first or estate.s3_revision(aws, BUCKET, "web-1.zip", b"release 1")
    estate.server_deployed(aws, "web", "prod", revision)
    return revision


def second(aws: Any) -> dict[str, Any]:
    return estate.s3_revision(aws, BUCKET, "web-2.zip", b"release 2")


def deployment(aws: Any, deployment_id: str) -> dict[str, Any]:
    info: dict[str, Any] = aws.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    return info


def incident_of(aws: Any, controller: Any, finished: list[dict[str, Any]]) -> Incident:
    [execution] = finished
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    stored = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(
        json.loads(execution["output"])["incident_id"]
    )
    assert stored is not None
    return stored


def restore_steps(incident: Incident) -> list[tuple[str, str, str]]:
    return [(s["status"], s["detail"], s["at"]) for s in incident.steps if s["step"] == "restore"]


def codedeploy_works_once_stopped(aws: Any, deployment_id: str) -> threading.Thread:
    """Once the bad deployment is stopped, CodeDeploy works on its rollback deployment, a status a second
    (Created -> InProgress -> Succeeded) while the workflow reads it back: the pace AWS sets, not the test's."""

    def pace() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if deployment(aws, deployment_id)["status"] == "Stopped":
                state_manager.set_transition(MODEL, {"progression": "time", "seconds": 1})
                return
            time.sleep(0.01)

    pacer = threading.Thread(target=pace, daemon=True)
    pacer.start()
    return pacer


def the_rest(aws: Any, controller: Any, before: set[str]) -> list[Incident]:
    """The incidents of every other workflow EventBridge started since ``before`` (CodeDeploy's own events)."""
    time.sleep(0.5)  # CodeDeploy's events reach the bus within a second of a final status
    finished = wait_all(aws, sorted(executions(aws, controller) - before))
    return [incident_of(aws, controller, [f]) for f in finished]


@pytest.mark.parametrize("alarm", ["tag", "asg"])
def test_an_alarm_during_a_deployment_in_flight_stops_it_with_rollback_and_reads_the_rollback_back(
    aws: Any, controller: Any, faults: Any, alarm: str
) -> None:
    one = web(aws, tags={"rollback:managed": "true"})
    two = second(aws)
    bad = estate.server_deployment_in_flight(aws, "web", "prod", two)
    if alarm == "tag":
        estate.custom_alarm(aws, "web-5xx", "Shop/Web", "HTTPCode_Target_5XX_Count", tags={"rollback:target": WEB})
    else:
        estate.asg_alarm(aws, "web-5xx", "web-asg")
    pacer = codedeploy_works_once_stopped(aws, bad)
    before = executions(aws, controller)
    started = fire(aws, controller, "web-5xx")
    incident = incident_of(aws, controller, wait_all(aws, started))
    pacer.join(timeout=5)

    assert incident.action == "rolled_back", incident.reason
    assert incident.target == WEB
    assert incident.plan is not None and incident.plan.strategy == "codedeploy-stop"
    assert (incident.from_version, incident.to_version) == (version(two), version(one))
    assert faults.mutating_calls() == [("codedeploy", "StopDeployment")]
    stopped = deployment(aws, bad)
    assert stopped["status"] == "Stopped" and stopped["errorInformation"]["code"] == "MANUAL_STOP"
    rollback = deployment(aws, stopped["rollbackInfo"]["rollbackDeploymentId"])
    assert (rollback["status"], rollback["creator"]) == ("Succeeded", "codeDeployRollback")
    assert rollback["revision"] == one and rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == bad
    steps = restore_steps(incident)
    assert [status for status, _, _ in steps] == ["started", "done"]
    assert f"rollback deployment {rollback['deploymentId']}" in steps[0][1]
    assert incident.restored_at is not None
    assert parse_time(incident.restored_at) >= rollback["completeTime"].astimezone(UTC)
    assert incident.time_to_restore_ms is not None and incident.time_to_restore_ms >= 1000  # two statuses, 1 s each
    # CodeDeploy's STOP event for the deployment rollbackctl stopped comes back, and is only recorded.
    [echo] = the_rest(aws, controller, before | set(started))
    assert echo.trigger.kind == "codedeploy" and echo.trigger.state == "STOP"
    assert echo.action == "ignored" and "already rolled it back" in echo.reason


def test_a_finished_bad_deployment_goes_back_by_a_new_deployment_of_the_known_good_revision(
    aws: Any, controller: Any, faults: Any
) -> None:
    one = web(aws)
    two = second(aws)
    bad = estate.server_deployed(aws, "web", "prod", two)
    estate.asg_alarm(aws, "web-cpu", "web-asg", namespace="AWS/AutoScaling")
    state_manager.set_transition(MODEL, {"progression": "time", "seconds": 1})  # nothing is in flight now
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-cpu"))

    assert incident.action == "rolled_back", incident.reason
    assert incident.plan is not None and incident.plan.strategy == "codedeploy-redeploy"
    assert (incident.from_version, incident.to_version) == (version(two), version(one))
    assert faults.mutating_calls() == [("codedeploy", "CreateDeployment")]
    assert incident.plan.details["deployment_id"] == bad
    redeploy = deployment(aws, incident.plan.details["restore_deployment_id"])
    assert (redeploy["status"], redeploy["creator"], redeploy["revision"]) == ("Succeeded", "user", one)
    assert redeploy["previousRevision"] == two
    steps = restore_steps(incident)
    assert [status for status, _, _ in steps] == ["started", "done"]
    assert f"deployment {redeploy['deploymentId']} of known-good {version(one)} started" in steps[0][1]
    assert incident.restored_at is not None
    assert parse_time(incident.restored_at) >= redeploy["completeTime"].astimezone(UTC)


def test_with_no_other_revision_that_ever_succeeded_it_is_refused(aws: Any, controller: Any, faults: Any) -> None:
    one = web(aws)
    estate.asg_alarm(aws, "web-cpu", "web-asg")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "refused"
    assert f"runs {version(one)}" in incident.reason and "no known-good revision" in incident.reason
    assert faults.mutating_calls() == []
    listed = aws.client("codedeploy").list_deployments(applicationName="web", deploymentGroupName="prod")
    assert len(listed["deployments"]) == 1


def test_a_known_good_whose_s3_object_is_gone_is_refused_naming_it(aws: Any, controller: Any, faults: Any) -> None:
    one = web(aws)
    estate.server_deployed(aws, "web", "prod", second(aws))
    location = one["s3Location"]
    aws.client("s3").delete_object(Bucket=BUCKET, Key=location["key"], VersionId=location["version"])
    estate.asg_alarm(aws, "web-cpu", "web-asg")
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "refused"
    assert f"version {location['version']} of the S3 object s3://{BUCKET}/web-1.zip is gone" in incident.reason
    assert "nothing was changed" in incident.reason
    assert faults.mutating_calls() == []
    listed = aws.client("codedeploy").list_deployments(applicationName="web", deploymentGroupName="prod")
    assert len(listed["deployments"]) == 2


def test_a_github_revision_goes_back_and_the_incident_says_it_was_not_checked(aws: Any, controller: Any) -> None:
    one = web(aws, first=estate.github_revision("acme/web", "9f1c2ab"))
    estate.server_deployed(aws, "web", "prod", estate.github_revision("acme/web", "77d0e41"))
    estate.asg_alarm(aws, "web-cpu", "web-asg")
    state_manager.set_transition(MODEL, {"progression": "time", "seconds": 1})
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "rolled_back", incident.reason
    assert (incident.from_version, incident.to_version) == ("acme/web@77d0e41", "acme/web@9f1c2ab")
    notes = [s["detail"] for s in incident.steps if s["step"] == "check restorable"]
    assert notes == ["GitHub revision acme/web@9f1c2ab was not checked: rollbackctl cannot see GitHub"]
    assert incident.plan is not None
    assert deployment(aws, incident.plan.details["restore_deployment_id"])["revision"] == one


def failing(aws: Any, controller: Any, deployment_id: str) -> list[dict[str, Any]]:
    """ApplicationStart's script fails on the first instance: CodeDeploy fails the deployment and puts its FAILURE
    event on the bus by itself; the workflows EventBridge started, once finished."""
    before = executions(aws, controller)
    [instance, *_] = aws.client("codedeploy").list_deployment_targets(deploymentId=deployment_id)["targetIds"]
    server_model.fail_instance(
        ACCOUNT,
        aws.region,
        deployment_id,
        instance,
        "ApplicationStart",
        "ScriptFailed",
        "scripts/start_server.sh",
        "Script at specified location: scripts/start_server.sh run as user root failed with exit code 1",
        "[stderr]Job for web.service failed because the control process exited with error code.",
    )
    started = sorted(executions(aws, controller) - before)
    state_manager.set_transition(MODEL, {"progression": "time", "seconds": 1})  # CodeDeploy works on what follows
    return wait_all(aws, started)


def test_a_failure_event_of_a_server_deployment_is_handled_and_diagnosed_per_instance(
    aws: Any, controller: Any, faults: Any
) -> None:
    one = web(aws)
    bad = estate.server_deployment_in_flight(aws, "web", "prod", second(aws))
    incident = incident_of(aws, controller, failing(aws, controller, bad))

    assert incident.trigger.kind == "codedeploy" and incident.trigger.state == "FAILURE"
    assert incident.trigger.id == bad and incident.target == WEB
    assert incident.action == "rolled_back", incident.reason
    assert incident.plan is not None and incident.plan.strategy == "codedeploy-redeploy"
    assert faults.mutating_calls() == [("codedeploy", "CreateDeployment")]
    redeploy = deployment(aws, incident.plan.details["restore_deployment_id"])
    assert (redeploy["status"], redeploy["revision"]) == ("Succeeded", one)
    assert incident.diagnosis is not None
    assert incident.diagnosis.category == "application-health"
    assert "ApplicationStart hook script scripts/start_server.sh failed on instance i-" in incident.diagnosis.summary
    [instance] = [e for e in incident.diagnosis.evidence if e.get("source") == "codedeploy-instance"]
    assert (instance["code"], instance["event"]) == ("ScriptFailed", "ApplicationStart")
    assert "web.service failed" in instance["log_tail"]


def test_a_deployment_codedeploy_already_rolled_back_is_recorded_not_touched(
    aws: Any, controller: Any, faults: Any
) -> None:
    web(aws, auto_rollback_on_failure=True)
    bad = estate.server_deployment_in_flight(aws, "web", "prod", second(aws))
    incident = incident_of(aws, controller, failing(aws, controller, bad))
    assert incident.action == "ignored"
    rollback = deployment(aws, bad)["rollbackInfo"]["rollbackDeploymentId"]
    assert f"already rolled it back (deployment {rollback})" in incident.reason
    assert faults.mutating_calls() == []
    assert deployment(aws, rollback)["creator"] == "codeDeployRollback"


def test_track_learns_the_groups_deployments_in_its_own_words_and_not_rollbackctls_own(
    aws: Any, controller: Any
) -> None:
    one = web(aws)  # CreateDeployment by a deployer (CloudTrail), then CodeDeploy's SUCCESS event
    patches.drain()
    ledger = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])
    seen = ledger.latest_deployment(WEB)
    assert seen is not None and seen.version == version(one) and seen.actor.endswith(":user/deployer")
    assert seen.version.startswith(f"s3://{BUCKET}/web-1.zip?versionId=")
    assert (version(one), "good") in {(e.version, e.status) for e in ledger.entries(WEB)}
    two = second(aws)
    estate.server_deployed(aws, "web", "prod", two)
    estate.asg_alarm(aws, "web-cpu", "web-asg")
    state_manager.set_transition(MODEL, {"progression": "time", "seconds": 1})
    assert incident_of(aws, controller, fire_and_wait(aws, controller, "web-cpu")).action == "rolled_back"
    time.sleep(0.5)  # the redeploy's SUCCESS event
    patches.drain()
    after = ledger.latest_deployment(WEB)
    assert after is not None and after.version == version(two)  # the controller's redeploy is not a deployment
    statuses = {(e.version, e.status) for e in ledger.entries(WEB)}
    assert {(version(two), "bad"), (version(one), "good")} <= statuses


def test_with_tag_opt_in_a_group_not_tagged_rollback_managed_is_left_alone(aws: Any, faults: Any) -> None:
    controller = deploy(aws, TEMPLATE, overrides={"TargetOptIn": "tag"})
    web(aws)
    two = second(aws)
    estate.server_deployed(aws, "web", "prod", two)
    estate.asg_alarm(aws, "web-cpu", "web-asg", tags={"rollback:managed": "true"})  # an alarm cannot enrol it
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "web-cpu"))
    assert incident.action == "ignored" and "is not enrolled" in incident.reason
    assert faults.mutating_calls() == []
    listed = aws.client("codedeploy").list_deployments(applicationName="web", deploymentGroupName="prod")
    assert len(listed["deployments"]) == 2
