"""The CodePipeline stage kind through the deployed workflow: RollbackStage, read back until the rollback finished.

- An alarm tagged with the pipeline fires after a bad execution "succeeded": the Deploy stage goes back to the
  newest execution that succeeded in it, skipping a rollback execution, an execution whose source revision is
  marked bad and one from the previous pipeline structure; it is read back as the rollback execution Succeeded,
  then the stage's inbound transition is blocked and the ledger marks the bad execution and its new revision.
- No known-good (the only other success ran under the old structure): refused, nothing changed.
- A stage CodePipeline is already rolling back (onFailure: ROLLBACK): recorded as ignored, never fought or stopped.
- The fallback for a kind that has no way back: a test-only kind (an Amplify branch, registered for the test)
  raises NoWayBack; with rollback:pipeline the pipeline's stage goes back for it, without one it is refused; with
  TargetOptIn=tag the pipeline must be enrolled itself.
- Track learns a stage success (Stage Execution State Change SUCCEEDED) as a good execution of the pipeline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from moto.moto_api import state_manager

from rollbackctl import kinds
from rollbackctl.aws import Clients
from rollbackctl.emulator import ACCOUNT, deploy, estate, patches
from rollbackctl.emulator import codepipeline as codepipeline_model
from rollbackctl.emulator.demo import fire_and_wait
from rollbackctl.kinds import Checked, NoWayBack, Seen, Target
from rollbackctl.model import Incident, Plan
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import TEMPLATE, load_event

PIPELINE = "orders-pipeline"
ARN = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:{PIPELINE}"
SITE = f"arn:aws:amplify:us-east-1:{ACCOUNT}:apps/d1orders/branches/main"


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


def executions(aws: Any) -> list[dict[str, Any]]:
    summaries: list[dict[str, Any]] = aws.client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)[
        "pipelineExecutionSummaries"
    ]
    return summaries


def deploy_stage(aws: Any) -> dict[str, Any]:
    states = aws.client("codepipeline").get_pipeline_state(name=PIPELINE)["stageStates"]
    stage: dict[str, Any] = next(s for s in states if s["stageName"] == "Deploy")
    return stage


def new_structure(aws: Any) -> None:
    """Someone edits the pipeline (a new version): executions before it cannot be rolled back to."""
    cp = aws.client("codepipeline")
    declared = cp.get_pipeline(name=PIPELINE)["pipeline"]
    declared["stages"][1]["actions"][0]["configuration"] = {"ProjectName": f"{PIPELINE}-build-v2"}
    cp.update_pipeline(pipeline=declared)


def alarm(aws: Any, name: str = "orders-5xx", tags: dict[str, str] | None = None) -> None:
    estate.custom_alarm(aws, name, "Shop/Orders", "5xx", tags=tags or {"rollback:target": ARN})


def codepipeline_works_by_itself() -> None:
    """From here on CodePipeline runs what it starts by itself, a status a second (the estate is where the test
    wants it: nothing else is in flight)."""
    state_manager.set_transition("codepipeline::execution", {"progression": "time", "seconds": 1})


def test_an_alarm_after_a_bad_execution_succeeded_rolls_the_stage_back_to_the_newest_good_one(
    aws: Any, controller: Any, faults: Any
) -> None:
    estate.release_pipeline(aws, PIPELINE)
    [old] = estate.release_history(aws, PIPELINE, ["c0ffee0"])  # under the first structure
    new_structure(aws)
    good, marked = estate.release_history(aws, PIPELINE, ["c1", "c2"])
    ledger(aws, controller).record(ARN, "revision:c2", "bad", "a bad commit, known from another incident")
    rollback = estate.rollback_stage(aws, PIPELINE, "Deploy", good)  # a rollback execution: never a target
    bad = estate.release(aws, PIPELINE, "c3")  # it "succeeded", and then the errors come
    patches.drain()
    codepipeline_works_by_itself()
    alarm(aws)
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "orders-5xx"))

    assert incident.action == "rolled_back", incident.reason
    assert incident.plan is not None and incident.plan.kind == "pipeline-stage"
    assert incident.plan.strategy == "stage-rollback" and incident.plan.details["stage"] == "Deploy"
    assert (incident.from_version, incident.to_version) == (bad, good)
    assert old not in (incident.from_version, incident.to_version) and marked != incident.to_version
    assert faults.mutating_calls() == [("codepipeline", "RollbackStage"), ("codepipeline", "DisableStageTransition")]
    # AWS: a new ROLLBACK execution ran the Deploy stage with the good execution's revisions, and finished.
    newest = executions(aws)[0]
    assert newest["pipelineExecutionId"] == incident.plan.details["rollback_execution"] != rollback
    assert newest["executionType"] == "ROLLBACK" and newest["status"] == "Succeeded"
    assert newest["rollbackMetadata"] == {"rollbackTargetPipelineExecutionId": good}
    assert newest["sourceRevisions"] == [{"actionName": "Source", "revisionId": "c1"}]
    stage = deploy_stage(aws)
    assert stage["latestExecution"]["type"] == "ROLLBACK" and stage["latestExecution"]["status"] == "Succeeded"
    assert stage["inboundTransitionState"]["enabled"] is False
    assert incident.incident_id in stage["inboundTransitionState"]["disabledReason"]
    # Read back: started, then done once the rollback execution Succeeded.
    restore = [(s["status"], s["detail"], s["at"]) for s in incident.steps if s["step"] == "restore"]
    assert [status for status, _, _ in restore] == ["started", "done"]
    assert f"rollback execution {newest['pipelineExecutionId']}" in restore[0][1]
    assert incident.restored_at is not None and incident.restored_at >= restore[0][2]
    assert incident.time_to_restore_ms is not None and incident.time_to_restore_ms >= 1000  # a step a second
    notes = [s["detail"] for s in incident.steps if s["step"] == "check restorable"]
    assert notes == [f"the artifacts of execution {good} in the pipeline's artifact store were not checked"]
    entries = {e.version: e.status for e in ledger(aws, controller).entries(ARN)}
    assert (entries[bad], entries[good], entries["revision:c3"]) == ("bad", "good", "bad")
    assert "revision:c1" not in entries  # what it went back to brought c1: not marked


def test_no_execution_that_succeeded_under_the_current_structure_means_refused(
    aws: Any, controller: Any, faults: Any
) -> None:
    estate.release_pipeline(aws, PIPELINE)
    estate.release_history(aws, PIPELINE, ["c1"])
    new_structure(aws)
    [bad] = estate.release_history(aws, PIPELINE, ["c2"])
    alarm(aws)
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "orders-5xx"))

    assert incident.action == "refused"
    assert f"stage Deploy of pipeline {PIPELINE} runs execution {bad}" in incident.reason
    assert "under the current pipeline structure, version 2" in incident.reason
    assert "never guesses" in incident.reason
    assert faults.mutating_calls() == []
    assert [e["executionType"] for e in executions(aws)] == ["STANDARD", "STANDARD"]
    assert deploy_stage(aws)["inboundTransitionState"]["enabled"] is True


def test_a_stage_codepipeline_is_already_rolling_back_is_recorded_not_fought(
    aws: Any, controller: Any, faults: Any
) -> None:
    estate.release_pipeline(aws, PIPELINE, rollback_on_failure=True)
    [good] = estate.release_history(aws, PIPELINE, ["c1"])
    failing = estate.release(aws, PIPELINE, "c2", stop_in="Deploy")
    codepipeline_model.fail_action(
        ACCOUNT, aws.region, PIPELINE, failing, "Deploy", "Deploy", "JobFailed", "Stack update failed"
    )
    [automated] = [e for e in executions(aws) if e["executionType"] == "ROLLBACK"]
    assert automated["status"] == "InProgress" and automated["trigger"]["triggerType"] == "AutomatedRollback"
    alarm(aws)
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "orders-5xx"))

    assert incident.action == "ignored"
    assert f"stage Deploy of pipeline {PIPELINE} is already rolling back to execution {good}" in incident.reason
    assert "does not fight it" in incident.reason
    assert faults.mutating_calls() == []
    [still] = [e for e in executions(aws) if e["executionType"] == "ROLLBACK"]
    assert still["status"] == "InProgress"  # not stopped, not rolled back over


# --- the fallback: a kind that cannot go back by itself ---------------------------------------------------------


class AmplifyBranch:
    """A test-only kind (the real ones of issue 14 come with their own branches): a hosting branch whose deployment
    finished has no way back of its own, so it raises NoWayBack; the pipeline that ships it may go back instead."""

    name = "test-amplify-branch"
    label = "an Amplify branch ARN (test-only)"
    gone: frozenset[str] = frozenset()
    conflict: frozenset[str] = frozenset()
    poll_seconds = 1
    read_actions: frozenset[str] = frozenset()
    write_actions: frozenset[str] = frozenset()
    trail_events: frozenset[str] = frozenset()
    ARN = re.compile(r"^arn:aws:amplify:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):apps/(?P<app>\w+)/branches/(\w+)$")

    def parse(self, arn: str) -> Target | None:
        match = self.ARN.match(arn)
        return Target(arn, self.name, "aws", match["region"], match["account"], match["app"]) if match else None

    def from_metric(self, namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None:
        return None

    def find(self, clients: Clients, namespace: str, dims: Mapping[str, str], region: str, account: str) -> None:
        return None

    def from_codedeploy(self, clients: Clients, deployment: dict[str, Any], region: str, account: str) -> None:
        return None

    def tags(self, clients: Clients, target: Target) -> dict[str, str]:
        return {}

    def plan(self, clients: Clients, target: Target, ledger: Ledger) -> Plan:
        raise NoWayBack(f"branch {target.name} finished deploying and keeps no earlier build to go back to")

    def plan_to(self, clients: Clients, target: Target, version: str) -> Plan:
        raise NoWayBack("no versions")

    def restorable(self, clients: Clients, plan: Plan) -> Checked:
        return Checked()

    def apply(self, clients: Clients, plan: Plan) -> str | None:
        raise AssertionError("never called: the pipeline stage goes back instead")

    def read_back(self, clients: Clients, plan: Plan) -> Any:
        raise AssertionError("never called")

    def serving(self, clients: Clients, target: Target) -> str | None:
        return None

    def versions(self, plan: Plan) -> tuple[str, str] | None:
        return None

    def artifacts(self, clients: Clients, target: Target, version: str) -> tuple[str, ...]:
        return ()

    def evidence(self, clients: Clients, incident: Incident, target: Target) -> list[dict[str, Any]]:
        return []

    def describe(self, plan: Plan) -> str:
        return "nothing of its own"

    def link(self, target: Target, console: str) -> tuple[str, str]:
        return (f"Amplify {target.name}", console)

    def seen(self, event: dict[str, Any], clients: Clients) -> list[Seen]:
        return []


@pytest.fixture
def amplify_kind(monkeypatch: pytest.MonkeyPatch) -> AmplifyBranch:
    """Registered for the test only (the handlers run in this process and ask the same registry)."""
    kind = AmplifyBranch()
    monkeypatch.setattr(kinds, "KINDS", (*kinds.KINDS, kind))
    monkeypatch.setitem(kinds._BY_NAME, kind.name, kind)
    return kind


def test_a_target_with_no_way_back_goes_back_through_the_stage_that_ships_it(
    aws: Any, controller: Any, faults: Any, amplify_kind: AmplifyBranch
) -> None:
    estate.release_pipeline(aws, PIPELINE)
    good, bad = estate.release_history(aws, PIPELINE, ["c1", "c2"])
    patches.drain()
    codepipeline_works_by_itself()
    alarm(aws, "site-errors", {"rollback:target": SITE, "rollback:pipeline": f"{PIPELINE}/Deploy"})
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "site-errors"))

    assert incident.action == "rolled_back", incident.reason
    assert incident.target == SITE and incident.plan is not None and incident.plan.target == ARN
    assert (incident.plan.kind, incident.from_version, incident.to_version) == ("pipeline-stage", bad, good)
    assert "finished deploying" not in incident.reason and "which ships d1orders" in incident.reason
    assert faults.mutating_calls() == [("codepipeline", "RollbackStage"), ("codepipeline", "DisableStageTransition")]
    assert executions(aws)[0]["executionType"] == "ROLLBACK" and executions(aws)[0]["status"] == "Succeeded"
    assert deploy_stage(aws)["inboundTransitionState"]["enabled"] is False
    book = ledger(aws, controller)
    assert {e.version: e.status for e in book.entries(ARN)}[bad] == "bad"  # the pipeline's versions
    restored = book.last_restore(SITE)
    assert restored is not None and restored.version == good  # the target's own restore record


def test_a_target_with_no_way_back_and_no_pipeline_is_refused_saying_what_to_tag(
    aws: Any, controller: Any, faults: Any, amplify_kind: AmplifyBranch
) -> None:
    estate.release_pipeline(aws, PIPELINE)
    estate.release_history(aws, PIPELINE, ["c1", "c2"])
    alarm(aws, "site-errors", {"rollback:target": SITE})
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "site-errors"))

    assert incident.action == "refused"
    assert "keeps no earlier build" in incident.reason and "rollback:pipeline=PIPELINE/STAGE" in incident.reason
    assert faults.mutating_calls() == [] and executions(aws)[0]["executionType"] == "STANDARD"


def test_with_tag_opt_in_the_pipeline_that_goes_back_for_a_target_must_be_enrolled_itself(
    aws: Any, faults: Any, amplify_kind: AmplifyBranch, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller = deploy(aws, TEMPLATE, overrides={"TargetOptIn": "tag"})
    estate.release_pipeline(aws, PIPELINE)
    estate.release_history(aws, PIPELINE, ["c1", "c2"])
    monkeypatch.setattr(AmplifyBranch, "tags", lambda self, clients, target: {"rollback:managed": "true"})
    alarm(aws, "site-errors", {"rollback:target": SITE, "rollback:pipeline": PIPELINE})
    incident = incident_of(aws, controller, fire_and_wait(aws, controller, "site-errors"))

    assert incident.action == "ignored"
    assert f"{ARN}, which would go back for {SITE}, is not enrolled" in incident.reason
    assert faults.mutating_calls() == [] and executions(aws)[0]["executionType"] == "STANDARD"


# --- tracking ---------------------------------------------------------------------------------------------------


def test_track_learns_a_deploy_stage_that_succeeded_as_a_good_execution_and_a_rollback_as_none(
    aws: Any, controller: Any
) -> None:
    estate.release_pipeline(aws, PIPELINE)
    first, second = estate.release_history(aws, PIPELINE, ["c1", "c2"])  # CodePipeline reports each stage
    rollback = estate.rollback_stage(aws, PIPELINE, "Deploy", first)
    in_build = estate.release(aws, PIPELINE, "c3", stop_in="Build")  # Source and Build succeeded, not Deploy
    patches.drain()

    entries = {e.version: e.status for e in ledger(aws, controller).entries(ARN)}
    assert entries == {first: "good", second: "good"}
    assert rollback not in entries and in_build not in entries


def test_the_stage_succeeded_sample_is_what_track_learns_from(aws: Any, controller: Any) -> None:
    """events/codepipeline-stage-succeeded.json, as CodePipeline would put it on the bus for a release."""
    from moto.events.models import events_backends

    estate.release_pipeline(aws, PIPELINE)
    released = estate.release(aws, PIPELINE, "c1", stop_in="Deploy")  # Deploy has not reported yet
    patches.drain()
    event = load_event("codepipeline-stage-succeeded.json")
    event["detail"].update({"execution-id": released, "version": 1})
    entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
    events_backends[ACCOUNT][aws.region].put_events([{**entry, "Resources": event["resources"]}])
    patches.drain()
    assert {e.version: e.status for e in ledger(aws, controller).entries(ARN)} == {released: "good"}
