"""The emulator's deployer reads template.yaml as `sam deploy` would (parameters, intrinsics), no AWS."""

from __future__ import annotations

import pytest

from rollbackctl.emulator.deployer import DeployError, Stack, _order, load_template, parse_overrides, resolve_parameters
from tests.conftest import TEMPLATE


def test_overrides_accept_both_sam_forms() -> None:
    assert parse_overrides(["Mode=dry-run LogLevel=DEBUG", "ParameterKey=X,ParameterValue=a=b"]) == {
        "Mode": "dry-run",
        "LogLevel": "DEBUG",
        "X": "a=b",
    }


def test_an_override_without_a_value_is_an_error() -> None:
    with pytest.raises(DeployError, match="not Key=Value"):
        parse_overrides(["Mode"])


def test_parameters_take_defaults_then_overrides() -> None:
    template = load_template(TEMPLATE)
    assert resolve_parameters(template, {})["Mode"] == "enforce"
    assert resolve_parameters(template, {"Mode": "dry-run"})["Mode"] == "dry-run"


def test_a_value_outside_allowed_values_is_refused() -> None:
    with pytest.raises(DeployError, match="Mode='sometimes'"):
        resolve_parameters(load_template(TEMPLATE), {"Mode": "sometimes"})


def test_an_unknown_parameter_is_refused_like_cloudformation() -> None:
    with pytest.raises(DeployError, match="do not exist"):
        resolve_parameters(load_template(TEMPLATE), {"Nope": "1"})


def test_intrinsics_resolve() -> None:
    template = {"Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}}, "Resources": {"T": {}}}
    stack = Stack(template, "s", "eu-west-1", {"Env": "prod"})
    stack.refs["T"] = "table-1"
    stack.attrs["T"] = {"Arn": "arn:t"}
    assert stack.resolve({"Fn::Sub": "${AWS::StackName}-${T}-${T.Arn}-${!Literal}"}) == "s-table-1-arn:t-${Literal}"
    assert stack.resolve({"Fn::Sub": ["${X}/${AWS::Region}", {"X": {"Ref": "T"}}]}) == "table-1/eu-west-1"
    assert stack.resolve({"Fn::If": ["IsProd", "a", "b"]}) == "a"
    assert stack.resolve({"Fn::Join": ["-", ["a", {"Ref": "AWS::AccountId"}]]}) == "a-123456789012"
    assert stack.resolve({"K": {"Ref": "AWS::NoValue"}, "L": 1}) == {"L": 1}


def test_resources_are_created_after_what_they_reference() -> None:
    order = _order(load_template(TEMPLATE))
    assert order.index("DomainLayer") < order.index("TriageFunction")  # via Globals.Layers
    assert order.index("IncidentTable") < order.index("NotifyFunction")  # via Globals.Environment
    assert order.index("TriageFunction") < order.index("RollbackStateMachine")
    assert order.index("EventsDeadLetterQueue") < order.index("RollbackStateMachine")
