"""What a member forwards is what the hub acts and learns on: member/template.yaml's forwarding rule covers every rule
on the hub's bus (template.yaml, translated from SAM: the workflow's rules and Track's), from the member's own
account only; the hub's own default bus forwards with the very same pattern, so the hub's events take a member's
path. Each check has a planted twin that proves it can fail.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import ROOT, TEMPLATE
from tools.translate import load_template, translate_file

MEMBER_TEMPLATE = ROOT / "member" / "template.yaml"
HUB_BUS = {"Ref": "HubEventBus"}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate_file(TEMPLATE)


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    return load_template(MEMBER_TEMPLATE)


def hub_bus_patterns(translated: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every rule on the hub's bus, by logical id: its event pattern."""
    return {
        logical: body["Properties"]["EventPattern"]
        for logical, body in translated["Resources"].items()
        if body["Type"] == "AWS::Events::Rule" and body["Properties"].get("EventBusName") == HUB_BUS
    }


def covers(wide: dict[str, Any], narrow: dict[str, Any]) -> bool:
    """Whether every event ``narrow`` matches, ``wide`` matches too (for patterns of exact values and named filters,
    the only kind these templates use): each field ``wide`` filters on, ``narrow`` filters on as well, to values
    ``wide`` allows."""
    for key, allowed in wide.items():
        if key not in narrow:
            return False
        inner = narrow[key]
        if isinstance(allowed, dict):
            if not isinstance(inner, dict) or not covers(allowed, inner):
                return False
        elif not isinstance(inner, list) or not all(value in allowed for value in inner):
            return False
    return True


def forwarding_violations(translated: dict[str, Any], member: dict[str, Any]) -> list[str]:
    forward = member["Resources"]["ForwardToHubRule"]["Properties"]
    pattern = forward["EventPattern"]
    found = []
    if pattern.get("account") != [{"Ref": "AWS::AccountId"}]:
        found.append("the member forwards events of other accounts than its own")
    if set(pattern) - {"account", "$or"}:
        found.append(f"the member's pattern filters on {sorted(set(pattern) - {'account', '$or'})} for every event")
    branches = pattern.get("$or", [])
    for logical, hub in sorted(hub_bus_patterns(translated).items()):
        if not any(covers(branch, hub) for branch in branches):
            found.append(f"{logical}: the member does not forward every event it matches")
    hub_forward = translated["Resources"]["HubForwardingRule"]["Properties"]
    if hub_forward["EventPattern"] != pattern:
        found.append("the hub's own forwarding rule does not take the members' pattern")
    if "EventBusName" in hub_forward:
        found.append("the hub's own forwarding rule is not on its default bus")
    [target] = forward["Targets"]
    bus = {"Fn::Sub": "arn:${AWS::Partition}:events:${HubRegion}:${HubAccountId}:event-bus/${HubEventBusName}"}
    if target.get("Arn") != bus or not target.get("RoleArn") or not target.get("DeadLetterConfig"):
        found.append("the member's rule does not send to the hub's bus with a role and a dead-letter queue")
    return found


def test_the_member_forwards_what_every_rule_on_the_hubs_bus_matches(
    translated: dict[str, Any], member: dict[str, Any]
) -> None:
    assert len(hub_bus_patterns(translated)) == 11  # the workflow's 5 rules and Track's 6: the check sees them
    assert forwarding_violations(translated, member) == []


def test_the_covering_compares_as_eventbridge_matches() -> None:
    wide = {"source": ["aws.ecs"], "detail": {"eventName": ["A", "B"]}}
    assert covers(wide, {"source": ["aws.ecs"], "detail-type": ["x"], "detail": {"eventName": ["A"]}})
    assert not covers(wide, {"source": ["aws.ecs"], "detail": {"eventName": ["A", "C"]}})
    assert not covers(wide, {"source": ["aws.ecs"]})  # narrow matches events of any eventName
    assert covers({"detail": {"errorCode": [{"exists": False}]}}, {"detail": {"errorCode": [{"exists": False}]}})
    assert not covers({"detail": {"errorCode": [{"exists": False}]}}, {"detail": {}})


def test_a_hub_rule_the_member_does_not_forward_is_caught(translated: dict[str, Any], member: dict[str, Any]) -> None:
    planted = copy.deepcopy(translated)
    planted["Resources"]["PipelineFailedRule"]["Properties"]["EventPattern"]["detail"]["state"].append("STOPPED")
    assert forwarding_violations(planted, member) == [
        "PipelineFailedRule: the member does not forward every event it matches",
    ]


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        (
            lambda p: p["$or"].pop(),
            [
                "TrackFunctionDeploymentApiCalls: the member does not forward every event it matches",
                "the hub's own forwarding rule does not take the members' pattern",
            ],
        ),
        (
            lambda p: p.pop("account"),
            [
                "the member forwards events of other accounts than its own",
                "the hub's own forwarding rule does not take the members' pattern",
            ],
        ),
    ],
)
def test_a_member_pattern_too_narrow_or_too_wide_is_caught(
    translated: dict[str, Any], member: dict[str, Any], plant: Any, expected: list[str]
) -> None:
    planted = copy.deepcopy(member)
    plant(planted["Resources"]["ForwardToHubRule"]["Properties"]["EventPattern"])
    assert forwarding_violations(translated, planted) == expected


def test_the_member_stack_creates_the_role_once_per_account_and_nothing_in_the_hub_itself(
    member: dict[str, Any],
) -> None:
    conditions, resources = member["Conditions"], member["Resources"]
    assert conditions["CreatesTargetRole"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "RoleRegion"}]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "AWS::AccountId"}, {"Ref": "HubAccountId"}]}]},
        ]
    }
    assert resources["TargetRole"]["Condition"] == "CreatesTargetRole"
    assert resources["TargetRole"]["Properties"]["RoleName"] == "rollbackctl-target"
    others = {name for name, body in resources.items() if name not in ("TargetRole", "NothingToAddInTheHubItself")}
    assert {resources[name]["Condition"] for name in others} == {"ForwardsToTheHub"}
    assert resources["KillSwitchParameter"]["Properties"] == {
        "Name": "/rollbackctl/kill-switch",
        "Type": "String",
        "Value": "off",
        "Description": resources["KillSwitchParameter"]["Properties"]["Description"],
    }
    assert "Transform" not in member  # plain CloudFormation: a StackSet runs no transform
