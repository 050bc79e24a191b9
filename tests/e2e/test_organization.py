"""One controller for an organization: the hub acts only in an event's own account and region, through that
account's role; a non-member assumes nothing; a member's kill switch stops actions there only; the rate cap counts
per account and across them all. Assertions are on each account's own AWS state (its aliases), the incident
record and the STS calls the hub made.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from rollbackctl.emulator import InAccount as In
from rollbackctl.emulator import deploy, estate, patches, sts
from rollbackctl.emulator.demo import executions, wait_all
from rollbackctl.emulator.deployer import deploy_member
from rollbackctl.model import Incident
from rollbackctl.store import IncidentStore, Ledger
from tests.conftest import REGION, TEMPLATE
from tests.emulator.events import catch, received

MEMBER_A = "222222222222"
MEMBER_B = "333333333333"
OUTSIDER = "444444444444"
WEST = "us-west-2"


def member(aws: Any, hub: Any, account: str, region: str = REGION, kill_switch: str = "off", **overrides: str) -> In:
    """A member account and region as its StackSet instance leaves it (member/template.yaml: forwarding, its
    rollbackctl-target role, its kill switch), with a canary mid-rollout and the alarm that guards it."""
    deploy_member(aws, hub, account, region, overrides)
    there = In(aws, account, region)
    if kill_switch != "off":
        there.client("ssm").put_parameter(Name="/rollbackctl/kill-switch", Value=kill_switch, Overwrite=True)
    canary_in(there)
    return there


def canary_in(there: In) -> None:
    estate.lambda_with_versions(there, "checkout", 2)
    estate.alias(there, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(there, "checkout-live-errors", "checkout", "live")


def incident_of(aws: Any, hub: Any, execution: dict[str, Any]) -> Incident:
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    incident_id = json.loads(execution["output"])["incident_id"]
    stored = IncidentStore(aws.client("dynamodb"), hub.outputs["IncidentTableName"]).get(incident_id)
    assert stored is not None
    return stored


def fires(aws: Any, hub: Any, there: In, alarm: str = "checkout-live-errors", **tags: str) -> Incident:
    """The alarm goes to ALARM in its own account; the member's rule forwards CloudWatch's event to the hub's bus,
    which starts the workflow: the incident it recorded."""
    if tags:
        alarm_arn = there.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["AlarmArn"]
        there.client("cloudwatch").tag_resource(
            ResourceARN=alarm_arn, Tags=[{"Key": k.replace("_", ":"), "Value": v} for k, v in tags.items()]
        )
    before = executions(aws, hub)
    estate.fire(there, alarm)
    deadline = time.monotonic() + 10
    while not (started := sorted(executions(aws, hub) - before)) and time.monotonic() < deadline:
        time.sleep(0.05)
    [execution] = wait_all(aws, started)
    return incident_of(aws, hub, execution)


def captured_event(there: In, alarm: str = "checkout-live-errors") -> dict[str, Any]:
    """The event CloudWatch puts on that account's default bus when the alarm goes to ALARM (for an account that
    forwards nothing: what reaches the hub only if someone delivers it, e.g. with rollbackctl run)."""
    url = catch(there, "captured", {"source": ["aws.cloudwatch"]})
    estate.fire(there, alarm)
    [event] = received(there, url, 1, timeout=5)
    event.setdefault("account", there.account)  # moto's default input template for SQS targets leaves it out
    return event


def run(aws: Any, hub: Any, event: dict[str, Any]) -> Incident:
    """The event delivered to the hub's workflow as it is (rollbackctl run EVENT_FILE)."""
    started = aws.client("stepfunctions").start_execution(
        stateMachineArn=hub.outputs["StateMachineArn"], input=json.dumps(event)
    )
    [execution] = wait_all(aws, [started["executionArn"]])
    return incident_of(aws, hub, execution)


def alias_of(there: Any) -> tuple[str, dict[str, float]]:
    alias = there.client("lambda").get_alias(FunctionName="checkout", Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def assumed(account: str) -> list[str]:
    """The rollbackctl-target sessions an incident assumed in ``account`` (moto keeps every AssumeRole; Track's own
    reads of the account's deployments are the session rollbackctl-track)."""
    return [arn for arn in sts.sessions(account, "rollbackctl-target") if "/rollbackctl-target/inc-" in arn]


@pytest.fixture
def hub(aws: Any) -> Any:
    return deploy(aws, TEMPLATE, overrides={"MemberAccounts": f"{MEMBER_A},{MEMBER_B}"})


def test_an_alarm_in_a_member_goes_back_there_through_its_role_named_after_the_incident(aws: Any, hub: Any) -> None:
    a = member(aws, hub, MEMBER_A)
    estate.lambda_with_versions(aws, "checkout", 2)  # the hub's own checkout, at 2: never touched for A
    estate.alias(aws, "checkout", "live", "2")
    incident = fires(aws, hub, a)
    assert incident.action == "rolled_back", incident.reason
    assert incident.target == f"arn:aws:lambda:{REGION}:{MEMBER_A}:function:checkout:live"
    assert (incident.trigger.account, incident.trigger.region) == (MEMBER_A, REGION)
    assert alias_of(a) == ("1", {})
    assert alias_of(aws) == ("2", {})
    # Track read A's trail: the hub's own change (through rollbackctl-target) is not a deployment of version 1
    patches.drain()
    deployment = Ledger(aws.client("dynamodb"), hub.outputs["LedgerTableName"]).latest_deployment(incident.target)
    assert deployment is not None and deployment.version == "2", deployment
    sessions = assumed(MEMBER_A)
    assert sessions and all(
        s == f"arn:aws:sts::{MEMBER_A}:assumed-role/rollbackctl-target/{incident.incident_id}" for s in sessions
    ), sessions


def test_a_member_in_another_region_is_acted_on_in_that_region(aws: Any, hub: Any) -> None:
    b = member(aws, hub, MEMBER_B, WEST, RoleRegion=WEST)
    east = member(aws, hub, MEMBER_B, REGION, RoleRegion=WEST)  # the same account's checkout in the hub's region
    incident = fires(aws, hub, b)
    assert incident.action == "rolled_back", incident.reason
    assert incident.target == f"arn:aws:lambda:{WEST}:{MEMBER_B}:function:checkout:live"
    assert alias_of(b) == ("1", {})
    assert alias_of(east) == ("1", {"2": 0.1})


def test_an_event_from_a_non_member_is_ignored_and_no_role_is_assumed(aws: Any, hub: Any) -> None:
    outsider = In(aws, OUTSIDER)
    canary_in(outsider)
    incident = run(aws, hub, captured_event(outsider))
    assert incident.action == "ignored"
    assert f"account {OUTSIDER}, which is not a member" in incident.reason
    assert incident.target is None
    assert assumed(OUTSIDER) == []
    assert alias_of(outsider) == ("1", {"2": 0.1})


def test_an_alarm_in_one_member_can_never_act_in_another(aws: Any, hub: Any) -> None:
    a, b = member(aws, hub, MEMBER_A), member(aws, hub, MEMBER_B)
    b_checkout = f"arn:aws:lambda:{REGION}:{MEMBER_B}:function:checkout:live"
    incident = fires(aws, hub, a, rollback_target=b_checkout)
    assert incident.action == "ignored"
    assert "acts only in the account and region of the event" in incident.reason
    assert alias_of(b) == ("1", {"2": 0.1})
    assert alias_of(a) == ("1", {"2": 0.1})
    assert assumed(MEMBER_B) == []


def test_a_members_kill_switch_stops_actions_there_only(aws: Any, hub: Any) -> None:
    a, b = member(aws, hub, MEMBER_A, kill_switch="on"), member(aws, hub, MEMBER_B)
    stopped = fires(aws, hub, a)
    assert stopped.action == "refused"
    assert f"the kill switch of account {MEMBER_A} in {REGION} is 'on'" in stopped.reason
    assert alias_of(a) == ("1", {"2": 0.1})
    assert fires(aws, hub, b).action == "rolled_back"
    assert alias_of(b) == ("1", {})


def test_a_member_without_its_kill_switch_is_not_acted_on(aws: Any, hub: Any) -> None:
    a = member(aws, hub, MEMBER_A)
    a.client("ssm").delete_parameter(Name="/rollbackctl/kill-switch")
    incident = fires(aws, hub, a)
    assert incident.action == "refused"
    assert f"the kill switch of account {MEMBER_A} in {REGION} could not be read" in incident.reason
    assert alias_of(a) == ("1", {"2": 0.1})


def test_the_hubs_kill_switch_stops_every_member(aws: Any, hub: Any) -> None:
    a = member(aws, hub, MEMBER_A)
    aws.client("ssm").put_parameter(Name=hub.outputs["KillSwitchParameterName"], Value="on", Overwrite=True)
    incident = fires(aws, hub, a)
    assert incident.action == "refused"
    assert "the kill switch is 'on'" in incident.reason
    assert alias_of(a) == ("1", {"2": 0.1})


def test_a_bad_artifact_rolled_back_in_one_member_is_paged_when_another_ships_it(aws: Any, hub: Any) -> None:
    """The next wave: B deploys the release A rolled back. Track, reading B's trail through the hub's bus, pages
    on-call naming A's incident, and nothing changes in B (BadArtifactPolicy=page)."""
    a = member(aws, hub, MEMBER_A)
    first = fires(aws, hub, a)
    assert first.action == "rolled_back", first.reason
    deploy_member(aws, hub, MEMBER_B, REGION)
    b = In(aws, MEMBER_B)
    estate.lambda_with_versions(b, "checkout", 2)
    estate.alias(b, "checkout", "live", "1")
    before = executions(aws, hub)
    b.client("lambda").update_alias(
        FunctionName="checkout", Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )
    deadline = time.monotonic() + 10
    while not (started := sorted(executions(aws, hub) - before)) and time.monotonic() < deadline:
        time.sleep(0.05)
    [paged] = [incident_of(aws, hub, e) for e in wait_all(aws, started)]
    assert paged.action == "refused" and paged.trigger.kind == "bad-artifact"
    assert paged.target == f"arn:aws:lambda:{REGION}:{MEMBER_B}:function:checkout:live"
    assert f"which incident {first.incident_id} marked bad" in paged.reason
    assert alias_of(b) == ("1", {"2": 0.1})


def test_the_rate_cap_counts_per_account_and_across_the_organization(aws: Any) -> None:
    members = f"{MEMBER_A},{MEMBER_B},{OUTSIDER}"
    hub = deploy(aws, TEMPLATE, overrides={"MemberAccounts": members, "RateCapCount": "1", "RateCapGlobalCount": "2"})
    a, a_west, b, c = (
        member(aws, hub, MEMBER_A),
        member(aws, hub, MEMBER_A, WEST),
        member(aws, hub, MEMBER_B),
        member(aws, hub, OUTSIDER),
    )
    assert fires(aws, hub, a).action == "rolled_back"
    second_in_a = fires(aws, hub, a_west)
    assert second_in_a.action == "refused"
    assert f"1 rollbacks already in this 60-minute window in account {MEMBER_A}" in second_in_a.reason
    assert alias_of(a_west) == ("1", {"2": 0.1})
    assert fires(aws, hub, b).action == "rolled_back"
    third = fires(aws, hub, c)
    assert third.action == "refused"
    assert "2 rollbacks already in this 60-minute window across every account" in third.reason
    assert alias_of(c) == ("1", {"2": 0.1})
