"""What the target kinds declare is what template.yaml grants and routes: no more, no less.

Each kind lists the IAM actions it reads and writes with and the CloudTrail events Track learns its deployments
from (layers/rollbackctl/kinds/). Triage and Restore must be allowed exactly those calls on the target services;
Track's rule must route exactly those events. A kind added without its IAM (or IAM left behind by a kind
removed) fails here, before it fails in AWS.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rollbackctl import kinds, pipelines
from tests.conftest import TEMPLATE
from tests.static.policies import identity_statements, statement_actions
from tools.translate import translate_file

TARGET_SERVICES = (
    "lambda",
    "ecs",
    "codedeploy",
    "elasticloadbalancing",
    "ecr",
    "elasticbeanstalk",
    "cloudformation",
    "s3",
    "codepipeline",
)
DELEGATED_SERVICES = ("autoscaling", "ec2")
READS = frozenset().union(*(k.read_actions for k in kinds.KINDS))
WRITES = frozenset().union(*(k.write_actions for k in kinds.KINDS))
TRAIL = frozenset().union(*(k.trail_events for k in kinds.KINDS))
DELEGATED = frozenset().union(*(k.delegated_actions for k in kinds.KINDS))
# What Restore may call besides the kinds': the stop of the pipeline that shipped the target (pipelines.py).
SHIPPING = pipelines.WRITE_ACTIONS


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate_file(TEMPLATE)


def granted(template: dict[str, Any], role: str) -> set[str]:
    """The target-service actions a role is allowed."""
    return {
        action
        for st in identity_statements(template)
        if st.resource == role and st.body.get("Effect") == "Allow"
        for action in statement_actions(st.body)
        if isinstance(action, str) and action.split(":", 1)[0] in TARGET_SERVICES + DELEGATED_SERVICES
    }


def kind_violations(template: dict[str, Any]) -> list[str]:
    found = []
    for role, wanted, also in (
        ("TriageFunctionRole", READS, frozenset()),
        ("RestoreFunctionRole", READS | WRITES | DELEGATED, SHIPPING),
    ):
        allowed = granted(template, role)
        found += [f"{role} lacks {a}, which a kind calls" for a in sorted(wanted - allowed)]
        found += [f"{role} has {a}, which no kind declares" for a in sorted(allowed - wanted - also)]
    rule = template["Resources"]["TrackFunctionDeploymentApiCalls"]["Properties"]["EventPattern"]
    routed = set(rule["detail"]["eventName"])
    found += [f"Track's rule misses {e}, which a kind learns from" for e in sorted(TRAIL - routed)]
    found += [f"Track's rule routes {e}, which no kind reads" for e in sorted(routed - TRAIL)]
    return found


def test_the_template_grants_and_routes_what_the_kinds_declare(translated: dict[str, Any]) -> None:
    assert kind_violations(translated) == []
    assert READS and WRITES and TRAIL


def _policies(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies: list[dict[str, Any]] = template["Resources"][role]["Properties"]["Policies"]
    return policies


def test_a_kind_action_missing_from_the_template_is_caught(translated: dict[str, Any]) -> None:
    planted = copy.deepcopy(translated)
    for policy in _policies(planted, "RestoreFunctionRole"):
        for statement in policy.get("PolicyDocument", {}).get("Statement", []):  # (a Fn::If policy: not this one)
            if statement.get("Sid") == "StopServiceDeployments":
                statement["Action"] = ["ecs:DescribeServices"]
    assert kind_violations(planted) == ["RestoreFunctionRole lacks ecs:StopServiceDeployment, which a kind calls"]


def test_an_action_no_kind_declares_is_caught(translated: dict[str, Any]) -> None:
    planted = copy.deepcopy(translated)
    _policies(planted, "TriageFunctionRole").append(
        {"PolicyName": "x", "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "lambda:DeleteAlias"}]}}
    )
    assert kind_violations(planted) == ["TriageFunctionRole has lambda:DeleteAlias, which no kind declares"]


def test_a_trail_event_out_of_step_is_caught(translated: dict[str, Any]) -> None:
    planted = copy.deepcopy(translated)
    rule = planted["Resources"]["TrackFunctionDeploymentApiCalls"]["Properties"]["EventPattern"]["detail"]
    rule["eventName"] = [e for e in rule["eventName"] if e != "UpdateService"] + ["DeleteService"]
    assert kind_violations(planted) == [
        "Track's rule misses UpdateService, which a kind learns from",
        "Track's rule routes DeleteService, which no kind reads",
    ]


def test_every_kind_is_complete() -> None:
    """The registry holds each kind once, each with a label, its IAM and a parse that round-trips."""
    names = [k.name for k in kinds.KINDS]
    assert len(names) == len(set(names))
    for kind in kinds.KINDS:
        assert kind.label and kind.write_actions and kind.read_actions and kind.poll_seconds > 0
        assert kinds.of(kind.name) is kind
