"""A bad artifact is bad everywhere: what a rolled-back version is made of (its CodeSha256, image digests, a
revision) is marked bad in the ledger, and a deployment of it anywhere else is paged, or put back at once
(BadArtifactPolicy), naming the incident that marked it. Driven as AWS drives it: the deployment is an API call
that CloudTrail reports, Track reads it, the workflow decides.
"""

from __future__ import annotations

import json
from typing import Any

from rollbackctl.emulator import deploy, estate, patches
from rollbackctl.emulator.demo import drain_messages, executions, fire_and_wait, wait_all
from rollbackctl.model import Incident
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import ACCOUNT, TEMPLATE

CHECKOUT = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:checkout:live"
CHECKOUT_EU = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:checkout-eu:live"


def incidents_of(aws: Any, controller: Any, finished: list[dict[str, Any]]) -> list[Incident]:
    store = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"])
    found = []
    for execution in finished:
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        stored = store.get(json.loads(execution["output"])["incident_id"])
        assert stored is not None
        found.append(stored)
    return found


def roll_back_checkout_2(aws: Any, controller: Any) -> Incident:
    """checkout:live's canary of release 2 alarms and goes back to 1: release 2's code is bad from now on."""
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    [incident] = incidents_of(aws, controller, fire_and_wait(aws, controller, "checkout-live-errors"))
    assert incident.action == "rolled_back", incident.reason
    return incident


def ship_release_2_as_checkout_eu(aws: Any, controller: Any) -> list[Incident]:
    """The next wave: checkout-eu, built from the same releases, starts a canary of release 2."""
    estate.lambda_with_versions(aws, "checkout-eu", 2, built_from="checkout")
    estate.alias(aws, "checkout-eu", "live", "1")
    patches.drain()
    before = executions(aws, controller)
    aws.client("lambda").update_alias(
        FunctionName="checkout-eu", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )
    patches.drain()  # Track has read the trail and started what it starts
    return incidents_of(aws, controller, wait_all(aws, sorted(executions(aws, controller) - before)))


def alias_of(aws: Any, function: str) -> tuple[str, dict[str, float]]:
    alias = aws.client("lambda").get_alias(FunctionName=function, Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def code_of(aws: Any, function: str, version: str) -> str:
    return str(aws.client("lambda").get_function_configuration(FunctionName=function, Qualifier=version)["CodeSha256"])


def test_the_rolled_back_versions_code_is_marked_bad_by_the_incident(aws: Any, controller: Any) -> None:
    incident = roll_back_checkout_2(aws, controller)
    ledger = Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])
    marked = ledger.bad_artifact(f"lambda:sha256:{code_of(aws, 'checkout', '2')}")
    assert marked is not None
    assert (marked.incident_id, marked.target, marked.version) == (incident.incident_id, CHECKOUT, "2")
    assert ledger.bad_artifact(f"lambda:sha256:{code_of(aws, 'checkout', '1')}") is None
    step = next(s for s in incident.steps if s["step"] == "mark artifacts bad")
    assert step["status"] == "done" and code_of(aws, "checkout", "2") in step["detail"]


def test_shipping_a_bad_artifact_elsewhere_pages_naming_the_incident_that_marked_it(
    aws: Any, controller: Any, oncall: str
) -> None:
    first = roll_back_checkout_2(aws, controller)
    drain_messages(aws, oncall)
    [paged] = ship_release_2_as_checkout_eu(aws, controller)
    assert paged.action == "refused"
    assert paged.target == CHECKOUT_EU
    assert paged.trigger.kind == "bad-artifact"
    assert f"which incident {first.incident_id} marked bad when it rolled {CHECKOUT} back" in paged.reason
    assert "BadArtifactPolicy=page" in paged.reason
    assert alias_of(aws, "checkout-eu") == ("1", {"2": 0.1})  # paged, nothing changed
    [message] = [m for m in drain_messages(aws, oncall) if m["MessageAttributes"]["kind"]["Value"] == "incident"]
    assert first.incident_id in message["Message"] and "checkout-eu" in message["Subject"]


def test_with_roll_back_a_bad_artifact_shipped_elsewhere_goes_back_at_once(aws: Any) -> None:
    controller = deploy(aws, TEMPLATE, overrides={"BadArtifactPolicy": "roll-back"})
    first = roll_back_checkout_2(aws, controller)
    [put_back] = ship_release_2_as_checkout_eu(aws, controller)
    assert put_back.action == "rolled_back", put_back.reason
    assert (put_back.target, put_back.from_version, put_back.to_version) == (CHECKOUT_EU, "2", "1")
    assert first.incident_id in put_back.reason
    assert alias_of(aws, "checkout-eu") == ("1", {})


def test_with_policy_off_nothing_is_started(aws: Any) -> None:
    controller = deploy(aws, TEMPLATE, overrides={"BadArtifactPolicy": "off"})
    roll_back_checkout_2(aws, controller)
    assert ship_release_2_as_checkout_eu(aws, controller) == []
    assert alias_of(aws, "checkout-eu") == ("1", {"2": 0.1})


def test_a_good_artifact_starts_nothing(aws: Any, controller: Any) -> None:
    roll_back_checkout_2(aws, controller)  # release 2 of checkout is bad; checkout-eu's own release 2 is not
    estate.lambda_with_versions(aws, "checkout-eu", 2)
    estate.alias(aws, "checkout-eu", "live", "1")
    patches.drain()
    before = executions(aws, controller)
    aws.client("lambda").update_alias(
        FunctionName="checkout-eu", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )
    patches.drain()
    assert executions(aws, controller) - before == set()


def test_a_forged_bad_artifact_claim_changes_nothing(aws: Any, controller: Any) -> None:
    """Track's event is a claim: an artifact the ledger does not hold, or a version not made of it, is ignored."""
    estate.lambda_with_versions(aws, "checkout-eu", 2)
    estate.alias(aws, "checkout-eu", "live", "1", canary=("2", 0.1))
    event = {
        "version": "0",
        "id": "forged",
        "source": "rollbackctl",
        "detail-type": "Bad Artifact Deployed",
        "account": ACCOUNT,
        "region": "us-east-1",
        "time": "2026-12-01T00:00:00Z",
        "resources": [CHECKOUT_EU],
        "detail": {"target": CHECKOUT_EU, "version": "2", "artifact": "lambda:sha256:forged", "incident": "inc-x"},
    }
    started = aws.client("stepfunctions").start_execution(
        stateMachineArn=controller.outputs["StateMachineArn"], input=json.dumps(event)
    )
    [incident] = incidents_of(aws, controller, wait_all(aws, [started["executionArn"]]))
    assert incident.action == "ignored"
    assert "is not marked bad in the ledger" in incident.reason
    assert alias_of(aws, "checkout-eu") == ("1", {"2": 0.1})
