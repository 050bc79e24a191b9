"""Least privilege and no secrets, on what CloudFormation deploys: template.yaml translated from SAM.

The translation is tools/translate.py's (the one `make translate` writes for cfn-lint and checkov), done
in-process and offline. SAM's policy templates and generated roles are checked as expanded, not as written.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import TEMPLATE
from tests.static.policies import (
    ALLOWED_MANAGED_POLICIES,
    STAR_EXCEPTIONS,
    identity_statements,
    managed_policy_violations,
    secret_violations,
    star_violations,
    statement_actions,
    statement_resources,
)
from tools.translate import translate_file


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate_file(TEMPLATE)


def _plant_statement(template: dict[str, Any], role: str, statement: dict[str, Any]) -> dict[str, Any]:
    planted = copy.deepcopy(template)
    planted["Resources"][role]["Properties"]["Policies"].append(
        {"PolicyName": "planted", "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}
    )
    return planted


def _plant_variable(template: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    planted = copy.deepcopy(template)
    planted["Resources"]["NotifyFunction"]["Properties"]["Environment"]["Variables"][name] = value
    return planted


# ---- the template as it is ---------------------------------------------------------------------------------


def test_no_mutating_action_on_every_resource(translated: dict[str, Any]) -> None:
    assert star_violations(translated) == []


def test_only_the_managed_policies_sam_attaches(translated: dict[str, Any]) -> None:
    assert managed_policy_violations(translated) == []


def test_no_secret_in_any_function_environment(translated: dict[str, Any]) -> None:
    assert secret_violations(translated) == []


def test_the_checker_sees_the_generated_roles(translated: dict[str, Any]) -> None:
    """The rules are only as good as the statements they find: the SAM-generated roles are among them."""
    granted = {(st.resource, action) for st in identity_statements(translated) for action in statement_actions(st.body)}
    assert ("RestoreFunctionRole", "lambda:UpdateAlias") in granted
    assert ("RollbackStateMachineRole", "lambda:InvokeFunction") in granted
    functions = [r for r in translated["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert functions and all("Variables" in f["Properties"]["Environment"] for f in functions)


def test_the_rollback_calls_are_scoped(translated: dict[str, Any]) -> None:
    """The calls that change someone else's traffic or pipeline name resources, never "*"."""
    mutating = {
        "lambda:UpdateAlias",
        "ecs:UpdateService",
        "codedeploy:StopDeployment",
        "codedeploy:CreateDeployment",
        "codepipeline:StopPipelineExecution",
        "codepipeline:DisableStageTransition",
        "codepipeline:RollbackStage",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:ModifyRule",
        "elasticbeanstalk:UpdateEnvironment",
        "elasticbeanstalk:AbortEnvironmentUpdate",
        "cloudformation:UpdateStack",
        "autoscaling:SuspendProcesses",
        "autoscaling:ResumeProcesses",
        "s3:PutObject",
        "cloudformation:CancelUpdateStack",
        "cloudformation:RollbackStack",
        "cloudformation:ContinueUpdateRollback",
    }
    seen = set()
    for st in identity_statements(translated):
        resources = statement_resources(st.body)
        for action in mutating.intersection(statement_actions(st.body)):
            seen.add(action)
            assert "*" not in resources, f"{st.resource}: {action}"
    assert seen == mutating


def test_every_exception_is_documented() -> None:
    for action, exception in STAR_EXCEPTIONS.items():
        assert ":" in action and "*" not in action, action
        assert exception.why.strip() and exception.doc.strip(), action
    assert all(why.strip() for why in ALLOWED_MANAGED_POLICIES.values())


# ---- the checker can fail --------------------------------------------------------------------------------


def test_a_planted_star_on_update_alias_is_caught(translated: dict[str, Any]) -> None:
    planted = _plant_statement(
        translated, "RestoreFunctionRole", {"Effect": "Allow", "Action": "lambda:UpdateAlias", "Resource": "*"}
    )
    assert star_violations(planted) == ['RestoreFunctionRole/planted/-: lambda:UpdateAlias on Resource "*"']


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": ["ecs:DescribeServices", "ecs:UpdateService"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": "codepipeline:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Fn::Sub": "arn:${AWS::Partition}:*:*:*:*"}},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": {"Fn::If": ["C", "dynamodb:PutItem", "dynamodb:GetItem"]}, "Resource": "*"},
        # an excepted action does not carry a mutating one with it
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "codedeploy:StopDeployment"], "Resource": "*"},
    ],
)
def test_planted_broad_statements_are_caught(translated: dict[str, Any], statement: dict[str, Any]) -> None:
    assert star_violations(_plant_statement(translated, "TriageFunctionRole", statement)) != []


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": ["elasticloadbalancing:Describe*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    ],
)
def test_reads_exceptions_and_denies_pass(translated: dict[str, Any], statement: dict[str, Any]) -> None:
    assert star_violations(_plant_statement(translated, "TriageFunctionRole", statement)) == []


def test_a_planted_managed_policy_is_caught(translated: dict[str, Any]) -> None:
    planted = copy.deepcopy(translated)
    planted["Resources"]["ContainFunctionRole"]["Properties"]["ManagedPolicyArns"].append(
        "arn:aws:iam::aws:policy/AdministratorAccess"
    )
    assert managed_policy_violations(planted) == [
        "ContainFunctionRole: managed policy arn:aws:iam::aws:policy/AdministratorAccess is not in "
        "ALLOWED_MANAGED_POLICIES"
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ONCALL_URL", "https://hooks.slack.com/services/T0000000/B0000000/abcdefghijklmnopqrstuvwx"),
        ("SLACK_BOT", "xoxb-123456789012-1234567890123-abcdefghijklmnop"),
        ("SOME_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("CERT", "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."),
        ("SIGNING", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("DIGEST", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ("SLACK_WEBHOOK_URL", {"Ref": "Mode"}),
        ("API_TOKEN", "literal"),
        ("DB_PASSWORD", {"Fn::Sub": "{{resolve:secretsmanager:db:SecretString:password}}"}),
    ],
)
def test_a_planted_secret_is_caught(translated: dict[str, Any], name: str, value: Any) -> None:
    assert secret_violations(_plant_variable(translated, name, value)) != []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SLACK_WEBHOOK_SECRET_ID", {"Ref": "SlackWebhookSecretId"}),
        ("SLACK_WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf"),
        ("TOKEN_SECRET", {"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:x"}),
        ("OWN_FUNCTION_PREFIX", {"Fn::Sub": "${AWS::StackName}-"}),
        ("TABLE", "rollbackctl-IncidentTable-1ABCDEFGHIJKL"),
    ],
)
def test_secret_references_and_plain_settings_pass(translated: dict[str, Any], name: str, value: Any) -> None:
    planted = _plant_variable(translated, name, value)
    planted.setdefault("Parameters", {})["SlackWebhookSecretId"] = {"Type": "String", "Default": ""}
    assert secret_violations(planted) == []
