"""Nobody acts through rollbackctl who could not act themselves (issue 12), through the deployed controller.

- A step acts only on what its own execution's triage sealed: forged or replayed input to Restore, Contain and the
  record step changes nothing and overwrites nothing; a retried step does not act twice.
- TargetOptIn=tag: only targets tagged rollback:managed=true themselves; an alarm's tags never enrol one.
- Manual rollbacks: only the target's own versions, never $LATEST; the rate cap applies; the actor is STS's.
- The kill switch: any value but "off" stops every change.
- Track knows the controller by its role, not by a session name; unblock lifts only what rollbackctl blocked.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.request
from typing import Any

import pytest
from typer.testing import CliRunner

from rollbackctl.cli import app
from rollbackctl.emulator import Emulator, deploy, estate, free_port, patches
from rollbackctl.emulator.demo import drain_messages, fire_and_wait
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import ACCOUNT, TEMPLATE, fresh_event

CHECKOUT = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:checkout:live"
runner = CliRunner()


def invoke(aws: Any, function: str, event: Any) -> tuple[dict[str, Any], str | None]:
    """A direct invocation of one of the controller's functions, as anyone with lambda:InvokeFunction could."""
    response = aws.client("lambda").invoke(FunctionName=f"rollbackctl-{function}", Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def canary(aws: Any, name: str = "checkout", tags: dict[str, str] | None = None) -> None:
    estate.lambda_with_versions(aws, name, 2, tags=tags)
    estate.alias(aws, name, "live", "1", canary=("2", 0.1))


def alias(aws: Any, name: str = "checkout") -> tuple[str, dict[str, float]]:
    found = aws.client("lambda").get_alias(FunctionName=name, Name="live")
    return found["FunctionVersion"], (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def incidents(aws: Any, controller: Any) -> IncidentStore:
    return IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"])


# --- a step runs only its own incident's plan -------------------------------------------------------------------


def test_restore_refuses_a_plan_triage_did_not_seal(aws: Any, controller: Any, faults: Any) -> None:
    canary(aws)
    decided, error = invoke(aws, "triage", fresh_event("alarm-lambda-alias-dimensions.json"))
    assert error is None and decided["decision"] == "act"
    forged = copy.deepcopy(decided)
    forged["plan"]["to_version"] = forged["to_version"] = "2"  # the canary itself gets all the traffic
    payload, error = invoke(aws, "restore", forged)
    assert error is not None and payload["errorType"] == "ForgedInput"
    # the genuine decision, but claimed by another execution
    payload, error = invoke(aws, "restore", {"incident": decided, "execution": "arn:aws:states:other"})
    assert payload["errorType"] == "ForgedInput"
    assert faults.mutating_calls() == []
    assert alias(aws) == ("1", {"2": 0.1})


def test_a_retried_restore_replays_its_outcome_instead_of_acting_twice(aws: Any, controller: Any, faults: Any) -> None:
    canary(aws)
    decided, _ = invoke(aws, "triage", fresh_event("alarm-lambda-alias-dimensions.json"))
    first, error = invoke(aws, "restore", decided)
    assert error is None and first["action"] == "rolled_back"
    again, error = invoke(aws, "restore", decided)  # a Step Functions retry after a lost response
    assert error is None and again == first
    assert faults.mutating_calls() == [("lambda", "UpdateAlias")]


def test_contain_refuses_a_pipeline_it_was_not_handed_by_restore(aws: Any, controller: Any, faults: Any) -> None:
    estate.pipeline(aws, "payments-pipeline")
    canary(aws)
    decided, _ = invoke(aws, "triage", fresh_event("alarm-lambda-alias-dimensions.json"))
    restored, _ = invoke(aws, "restore", decided)
    forged = dict(restored, pipeline={"name": "payments-pipeline", "stage": "Deploy", "source": "forged"})
    payload, error = invoke(aws, "contain", forged)
    assert error is not None
    assert payload["errorType"] == "ForgedInput"
    states = aws.client("codepipeline").get_pipeline_state(name="payments-pipeline")["stageStates"]
    assert all(s["inboundTransitionState"]["enabled"] for s in states)
    assert ("codepipeline", "DisableStageTransition") not in faults.mutating_calls()


def test_a_forged_record_is_refused_and_the_real_one_stays(aws: Any, controller: Any, oncall: str) -> None:
    canary(aws)
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    real = json.loads(finished["output"])
    forged = dict(real, action="ignored", reason="nothing happened here")
    forged.pop("verify", None)
    payload, error = invoke(aws, "notify", forged)
    assert error is not None and payload["errorType"] == "ForgedInput"
    stored = incidents(aws, controller).get(real["incident_id"])
    assert stored is not None and stored.action == "rolled_back" and stored.reason == real["reason"]


def test_a_failure_with_unsealed_input_is_recorded_as_new_and_trusts_nothing_in_it(
    aws: Any, controller: Any, oncall: str
) -> None:
    canary(aws)
    decided, _ = invoke(aws, "triage", fresh_event("alarm-lambda-alias-dimensions.json"))
    locks = aws.client("dynamodb")
    claims_table = controller.outputs["ClaimsTableName"]
    # What RecordFailure is handed when Triage fails is the raw event; here someone dresses it up as the live
    # incident (its id, owner and target) to overwrite its record and release its lock.
    forged = {
        **fresh_event("alarm-lambda-alias-dimensions.json"),
        **{k: decided[k] for k in ("incident_id", "owner", "target", "trigger", "started_at")},
        "action": "ignored",
        "error": {"Error": "States.TaskFailed", "Cause": "forged"},
    }
    recorded, error = invoke(aws, "notify", forged)
    assert error is None
    assert recorded["incident_id"] != decided["incident_id"] and recorded["action"] == "failed"
    assert "not trusted" in recorded["reason"]
    live = incidents(aws, controller).get(decided["incident_id"])  # as triage wrote it with its decision: untouched
    assert live is not None and live.to_dict() == decided
    lock = locks.get_item(TableName=claims_table, Key={"id": {"S": f"lock#{CHECKOUT}"}}, ConsistentRead=True)
    assert lock["Item"]["owner"]["S"] == decided["owner"]  # still held by the incident that took it
    [message] = drain_messages(aws, oncall)
    assert message["MessageAttributes"]["action"]["Value"] == "failed"


def test_verify_refuses_an_incident_that_was_never_recorded(aws: Any, controller: Any) -> None:
    payload, error = invoke(aws, "verify", {"incident_id": "inc-20260101T000000-deadbeef", "verify": {}})
    assert error is not None and payload["errorType"] == "ForgedInput"


# --- the kill switch ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "paused", "ON", "disabled", "of"])
def test_any_kill_switch_value_but_off_stops_every_change(aws: Any, controller: Any, faults: Any, value: str) -> None:
    canary(aws)
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    aws.client("ssm").put_parameter(Name="/rollbackctl/kill-switch", Value=value, Overwrite=True)
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    incident = json.loads(finished["output"])
    assert incident["action"] == "refused" and "kill switch" in incident["reason"]
    assert faults.mutating_calls() == []
    assert alias(aws) == ("1", {"2": 0.1})


# --- targets opt in -------------------------------------------------------------------------------------------


def test_with_tag_opt_in_only_a_target_tagged_itself_is_acted_on(aws: Any, faults: Any) -> None:
    controller = deploy(aws, TEMPLATE, overrides={"TargetOptIn": "tag"})
    canary(aws)
    # The alarm's author tags the alarm as if that enrolled the target: it does not.
    estate.lambda_errors_alarm(
        aws, "checkout-live-errors", "checkout", "live", tags={"rollback:managed": "true", "rollback:target": CHECKOUT}
    )
    [first] = fire_and_wait(aws, controller, "checkout-live-errors")
    ignored = json.loads(first["output"])
    assert ignored["action"] == "ignored" and "is not enrolled" in ignored["reason"]
    assert faults.mutating_calls() == [] and alias(aws) == ("1", {"2": 0.1})

    refused = runner.invoke(app, ["rollback", CHECKOUT, "--reason", "by hand", "--json"])
    assert refused.exit_code == 1 and "is not enrolled" in json.loads(refused.stdout)["reason"]
    assert alias(aws) == ("1", {"2": 0.1})

    function = aws.client("lambda").get_function(FunctionName="checkout")["Configuration"]["FunctionArn"]
    aws.client("lambda").tag_resource(Resource=function, Tags={"rollback:managed": "true"})
    fire_and_wait(aws, controller, "checkout-live-errors", state="OK")
    [second] = fire_and_wait(aws, controller, "checkout-live-errors")
    assert json.loads(second["output"])["action"] == "rolled_back"
    assert alias(aws) == ("1", {})


# --- manual rollbacks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("to", "why"), [("$LATEST", "not a published version"), ("live", "not a published version")])
def test_a_manual_rollback_only_goes_to_a_published_version_of_its_own_function(
    aws: Any, controller: Any, faults: Any, to: str, why: str
) -> None:
    estate.lambda_with_versions(aws, "checkout", 3)
    estate.alias(aws, "checkout", "live", "3")
    result = runner.invoke(app, ["rollback", CHECKOUT, "--to", to, "--force", "--reason", "x", "--json"])
    assert result.exit_code == 1
    assert why in json.loads(result.stdout)["reason"]
    assert faults.mutating_calls() == [] and alias(aws) == ("3", {})


def test_a_manual_rollback_stays_within_the_task_definition_family(aws: Any, controller: Any, faults: Any) -> None:
    web = estate.task_definitions(aws, "web", 2)
    [other] = estate.task_definitions(aws, "other", 1)
    service = estate.ecs_service(aws, "prod", "web", web[1])
    result = runner.invoke(app, ["rollback", service, "--to", other, "--force", "--reason", "x", "--json"])
    assert result.exit_code == 1
    assert "is not a revision of web" in json.loads(result.stdout)["reason"]
    assert faults.mutating_calls() == []


def test_the_rate_cap_applies_to_manual_rollbacks_even_forced(aws: Any, faults: Any) -> None:
    remaining = 3600 - time.time() % 3600  # keep both inside one fixed window of the cap
    if remaining < 30:
        time.sleep(remaining + 1)
    controller = deploy(aws, TEMPLATE, overrides={"RateCapCount": "1"})
    canary(aws)
    canary(aws, "payments")
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    [first] = fire_and_wait(aws, controller, "checkout-live-errors")
    assert json.loads(first["output"])["action"] == "rolled_back"
    payments = CHECKOUT.replace("checkout", "payments")
    result = runner.invoke(app, ["rollback", payments, "--to", "1", "--force", "--reason", "x", "--json"])
    assert result.exit_code == 1
    assert "rate cap reached" in json.loads(result.stdout)["reason"]
    assert faults.mutating_calls() == [("lambda", "UpdateAlias")]


# --- Track knows the controller by its role -------------------------------------------------------------------


def _alias_call(role_arn: str, session: str, version: str) -> dict[str, Any]:
    """An AWS API Call via CloudTrail event as AWS documents it (CloudTrail userIdentity element)."""
    role_name = role_arn.rsplit("/", 1)[-1]
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{session}",
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn, "userName": role_name}},
        },
        "eventSource": "lambda.amazonaws.com",
        "eventName": "UpdateAlias20150331",
        "awsRegion": "us-east-1",
        "requestParameters": {"functionName": "checkout", "name": "live", "functionVersion": version},
        "responseElements": {"functionVersion": version},
    }


def test_track_is_not_fooled_by_a_session_named_after_the_controller(aws: Any, controller: Any) -> None:
    from moto.events.models import events_backends

    restore_role = aws.client("lambda").get_function(FunctionName="rollbackctl-restore")["Configuration"]["Role"]
    bus = events_backends[ACCOUNT]["us-east-1"]
    for role, session, version in (
        (f"arn:aws:iam::{ACCOUNT}:role/deployer", "rollbackctl-restore", "7"),  # someone hiding a deployment
        (restore_role, "rollbackctl-restore", "8"),  # the controller itself
    ):
        bus.put_events(
            [
                {
                    "Source": "aws.lambda",
                    "DetailType": "AWS API Call via CloudTrail",
                    "Detail": json.dumps(_alias_call(role, session, version)),
                }
            ]
        )
        patches.drain()
    seen = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"]).latest_deployment(CHECKOUT)
    assert seen is not None and seen.version == "7"
    assert seen.actor == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/rollbackctl-restore"


# --- unblock lifts only what rollbackctl blocked --------------------------------------------------------------


def test_unblock_leaves_a_humans_change_freeze_alone_unless_all(aws: Any, controller: Any) -> None:
    estate.pipeline(aws, "web-pipeline")
    pipeline = aws.client("codepipeline")
    pipeline.disable_stage_transition(
        pipelineName="web-pipeline", stageName="Build", transitionType="Inbound", reason="change freeze until Monday"
    )
    pipeline.disable_stage_transition(
        pipelineName="web-pipeline",
        stageName="Deploy",
        transitionType="Inbound",
        reason="rollbackctl inc-20260101T000000-0123abcd blocked bad version web 2 of prod web",
    )

    def enabled() -> dict[str, bool]:
        states = pipeline.get_pipeline_state(name="web-pipeline")["stageStates"]
        return {s["stageName"]: s["inboundTransitionState"]["enabled"] for s in states}

    done = runner.invoke(app, ["unblock", "web-pipeline", "--reason", "fixed in web:3", "--json"])
    assert done.exit_code == 0, done.output
    assert [d["stage"] for d in json.loads(done.stdout)] == ["Deploy"]
    assert enabled()["Build"] is False and enabled()["Deploy"] is True
    refused = runner.invoke(app, ["unblock", "web-pipeline", "Build", "--reason", "x"])
    assert refused.exit_code == 1 and "not disabled by rollbackctl" in refused.output
    assert runner.invoke(app, ["unblock", "web-pipeline", "--all", "--reason", "freeze over"]).exit_code == 0
    assert enabled()["Build"] is True


# --- local-aws --------------------------------------------------------------------------------------------------


def test_local_aws_answers_no_cors_preflight_from_another_origin() -> None:
    port = free_port()
    with Emulator(port=port):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/",
            method="OPTIONS",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                headers = dict(response.headers)
        except urllib.error.HTTPError as exc:
            headers = dict(exc.headers)
    assert "Access-Control-Allow-Origin" not in headers
