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


# ---- the member role: rollbackctl-target (member/template.yaml) -----------------------------------------------
# Trusted by the hub's function roles only; granted exactly what those roles are granted on the target services
# (the same actions, resources and rollback:managed conditions, in the member account and any region, the role
# being the account's), plus the member's own kill switch; and therefore every action the target kinds declare.

HUB, MEMBER, ORG = "111111111111", "222222222222", "o-abcdefghij"
HUB_ROLES = [f"arn:aws:iam::{HUB}:role/rollbackctl-{f}FunctionRole" for f in ("Triage", "Restore", "Track")]
ACTING_ROLES = [f"{f}FunctionRole" for f in ("Triage", "Restore", "Contain", "Diagnose", "Verify", "Track")]
# The hub's own resources and calls, which a member role never needs.
HUB_SIDE = {"dynamodb", "sns", "kms", "ssm", "secretsmanager", "sts", "states", "logs", "xray", "sqs"}
KILL_SWITCH = ("ssm:GetParameter", f"arn:aws:ssm:*:{MEMBER}:parameter/rollbackctl/kill-switch")
ASSUME_ROLE_PRINCIPAL = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:root"}}
PRINCIPAL_ARN = {"ArnEquals": {"aws:PrincipalArn": {"Ref": "HubRoleArns"}}}


@pytest.fixture(scope="module")
def member() -> dict[str, Any]:
    from tests.static.test_member import MEMBER_TEMPLATE
    from tools.translate import load_template

    return load_template(MEMBER_TEMPLATE)


def _member_resolver(member: dict[str, Any], **parameters: str) -> Any:
    from tests.static.iam_eval import PSEUDO, Resolver

    values = {"HubAccountId": HUB, "HubRegion": "us-east-1", "HubRoleArns": ",".join(HUB_ROLES), **parameters}
    return Resolver(member, values, pseudo={**PSEUDO, "AWS::AccountId": MEMBER})


def _grants(template: dict[str, Any], roles: list[str], resolver: Any, account: str) -> set[tuple[str, str, str]]:
    """(action, resource, condition) an Allow of these roles grants on target services, resolved for one deployment,
    the account written ACCOUNT and the region "*" (a member role serves every region of its account)."""
    import json

    from tests.static.iam_eval import RESOURCE_SERVICE

    resolved = {"Resources": {name: resolver.resolve(template["Resources"][name]) for name in roles}}
    found = set()
    for st in identity_statements(resolved):
        if st.body.get("Effect") != "Allow":
            continue
        for action in map(str, statement_actions(st.body)):
            service = action.split(":")[0]
            if service in HUB_SIDE and not (account == MEMBER and action == KILL_SWITCH[0]):
                continue  # the hub's own resources (a member role reads only its own kill switch of these)
            for resource in map(str, statement_resources(st.body)):
                if resource != "*" and resource.split(":")[2:3] != [RESOURCE_SERVICE.get(service, service)]:
                    continue
                normal = resource.replace(account, "ACCOUNT").replace("us-east-1", "*")
                found.add((action, normal, json.dumps(st.body.get("Condition"), sort_keys=True)))
    return found


def member_role_violations(member: dict[str, Any], translated: dict[str, Any]) -> list[str]:
    """What rollbackctl-target is granted beyond, or short of, what the hub's roles are granted on targets."""
    from tests.static.test_kinds import DELEGATED, READS, WRITES

    found = []
    for opt_in in ("any", "tag"):
        from tests.static.iam_eval import PSEUDO, Resolver

        hub = _grants(translated, ACTING_ROLES, Resolver(translated, {"TargetOptIn": opt_in}), PSEUDO["AWS::AccountId"])
        role = _grants(member, ["TargetRole"], _member_resolver(member, TargetOptIn=opt_in), MEMBER)
        kill_switch = {g for g in role if g[0] == KILL_SWITCH[0]}
        if kill_switch != {(KILL_SWITCH[0], KILL_SWITCH[1].replace(MEMBER, "ACCOUNT"), "null")}:
            found.append(f"TargetOptIn={opt_in}: the member role reads {sorted(kill_switch)}, not its kill switch only")
        found += [f"TargetOptIn={opt_in}: the member role lacks {g}" for g in sorted(hub - role)]
        found += [
            f"TargetOptIn={opt_in}: the member role has {g}, which no hub role"
            for g in sorted(role - hub - kill_switch)
        ]
    actions = {g[0] for g in _grants(member, ["TargetRole"], _member_resolver(member), MEMBER)}
    found += [f"the member role lacks {a}, which a kind calls" for a in sorted((READS | WRITES | DELEGATED) - actions)]
    return found


def member_trust_violations(member: dict[str, Any]) -> list[str]:
    """rollbackctl-target trusts the hub account's root, narrowed to the hub's roles (and organization), only."""
    from tests.static.policies import _branches

    role = member["Resources"]["TargetRole"]["Properties"]
    found = []
    for statement in role["AssumeRolePolicyDocument"]["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        if statement.get("Principal") != ASSUME_ROLE_PRINCIPAL:
            found.append(f"{statement.get('Sid')}: trusts {statement.get('Principal')!r}, not the hub account's root")
        if statement.get("Action") != "sts:AssumeRole":
            found.append(f"{statement.get('Sid')}: allows {statement.get('Action')!r}, not sts:AssumeRole only")
        condition = statement.get("Condition")
        branches = _branches(condition) if condition else [{}]
        if not branches or any(b.get("ArnEquals") != PRINCIPAL_ARN["ArnEquals"] for b in branches):
            found.append(f"{statement.get('Sid')}: not limited to the hub's roles (aws:PrincipalArn = HubRoleArns)")
        organization = condition == {
            "Fn::If": [
                "HasOrganization",
                {**PRINCIPAL_ARN, "StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}},
                PRINCIPAL_ARN,
            ]
        }
        if not organization:
            found.append(f"{statement.get('Sid')}: OrganizationId set does not require aws:PrincipalOrgID")
    return found


def test_the_member_role_is_granted_what_the_hubs_roles_are_on_targets(
    member: dict[str, Any], translated: dict[str, Any]
) -> None:
    assert member_role_violations(member, translated) == []
    assert len(_grants(member, ["TargetRole"], _member_resolver(member), MEMBER)) > 60  # the check sees them


def test_the_member_role_trusts_only_the_hubs_roles(member: dict[str, Any]) -> None:
    assert member_trust_violations(member) == []


def test_the_member_template_passes_the_rules_of_template_yaml(member: dict[str, Any]) -> None:
    from tests.static.test_security import opt_in_violations

    assert star_violations(member) == []
    assert managed_policy_violations(member) == []
    assert opt_in_violations(member) == []


@pytest.mark.parametrize(
    ("caller", "organization", "allowed"),
    [
        (HUB_ROLES[1], ORG, True),  # the hub's Restore role
        (f"arn:aws:iam::{HUB}:role/someone-else", ORG, False),  # another role of the hub account
        (f"arn:aws:iam::{HUB}:root", ORG, False),  # the hub account itself
        (f"arn:aws:iam::{MEMBER}:role/rollbackctl-RestoreFunctionRole", ORG, False),  # same name, other account
        (HUB_ROLES[1], "o-zzzzzzzzzz", False),  # the hub's role, outside the organization
    ],
)
def test_the_member_trust_evaluates_as_iam_does(
    member: dict[str, Any], caller: str, organization: str, allowed: bool
) -> None:
    """The trust policy, resolved for a member of organization ORG, evaluated by the emulator's IAM evaluator."""
    from rollbackctl.emulator.identity import Principal
    from rollbackctl.emulator.policy import allows, document

    resolver = _member_resolver(member, OrganizationId=ORG)
    trust = resolver.resolve(member["Resources"]["TargetRole"]["Properties"]["AssumeRolePolicyDocument"])
    account = caller.split(":")[4]
    principal = Principal("AssumedRole" if ":role/" in caller else "Root", account, caller, session="inc-1")
    context = {"aws:PrincipalArn": caller, "aws:PrincipalAccount": account, "aws:PrincipalOrgID": organization}
    assert allows(document(trust), principal, "sts:AssumeRole", None, context) is allowed


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        (lambda st: st.update(Principal={"AWS": "*"}), "trusts {'AWS': '*'}, not the hub account's root"),
        (lambda st: st.update(Principal="*"), "trusts '*', not the hub account's root"),
        (lambda st: st.pop("Condition"), "not limited to the hub's roles"),
        (lambda st: st.update(Action=["sts:AssumeRole", "sts:TagSession"]), "not sts:AssumeRole only"),
        (lambda st: st.update(Condition=PRINCIPAL_ARN), "does not require aws:PrincipalOrgID"),
    ],
)
def test_a_planted_loose_member_trust_is_caught(member: dict[str, Any], plant: Any, expected: str) -> None:
    planted = copy.deepcopy(member)
    plant(planted["Resources"]["TargetRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0])
    assert any(expected in problem for problem in member_trust_violations(planted)), member_trust_violations(planted)


def _plant_in_member(member: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    planted = copy.deepcopy(member)
    planted["Resources"]["TargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(statement)
    return planted


def test_a_planted_undeclared_member_action_is_caught(member: dict[str, Any], translated: dict[str, Any]) -> None:
    resource = {"Fn::Sub": "arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:*"}
    planted = _plant_in_member(member, {"Effect": "Allow", "Action": "lambda:DeleteFunction", "Resource": resource})
    assert member_role_violations(planted, translated) == [
        f"TargetOptIn={o}: the member role has ('lambda:DeleteFunction', 'arn:aws:lambda:*:ACCOUNT:function:*', "
        "'null'), which no hub role"
        for o in ("any", "tag")
    ]


def test_a_planted_unconditioned_member_change_is_caught(member: dict[str, Any], translated: dict[str, Any]) -> None:
    from tests.static.test_security import opt_in_violations

    resource = {"Fn::Sub": "arn:${AWS::Partition}:ecs:*:${AWS::AccountId}:service/*"}
    planted = _plant_in_member(
        member, {"Sid": "P", "Effect": "Allow", "Action": "ecs:UpdateService", "Resource": resource}
    )
    assert opt_in_violations(planted) == ["TargetRole/P: ecs:UpdateService without the rollback:managed condition"]
    assert any(
        "ecs:UpdateService" in v and "which no hub role" in v for v in member_role_violations(planted, translated)
    )


def test_a_member_role_missing_a_hub_grant_is_caught(member: dict[str, Any], translated: dict[str, Any]) -> None:
    planted = copy.deepcopy(member)
    statements = planted["Resources"]["TargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    planted["Resources"]["TargetRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"] = [
        s for s in statements if s.get("Sid") != "BlockPipelines"
    ]
    violations = member_role_violations(planted, translated)
    assert any("lacks ('codepipeline:DisableStageTransition'" in v for v in violations)
    assert (
        "the member role lacks codepipeline:DisableStageTransition, which a kind calls" not in violations
    )  # Contain's, not a kind's: the comparison with the hub's roles is what catches it


# ---- the Slack buttons (issue 18, item 3) --------------------------------------------------------------------


def test_the_slack_buttons_function_holds_only_what_its_four_actions_need(translated: dict[str, Any]) -> None:
    """Read and record its incident, claim each signature once, read its signing secret, the hub's kill switch
    (Resume), its account's pipeline transitions (Unblock), the workflow (Roll back again): nothing else, and no
    member role (a member's pipeline and kill switch are the member's)."""
    from tests.static.iam_eval import Resolver, grants

    resolver = Resolver(
        translated, {"SlackWebhookSecretId": "rollbackctl/slack-webhook", "SlackSigningSecretId": "rollbackctl/sign"}
    )
    granted = {(g.action, g.resource) for g in grants(translated, resolver) if g.role == "SlackActionsFunctionRole"}
    ours = {(a, r) for a, r in granted if not a.startswith(("logs:", "xray:"))}
    account = "arn:aws:{}:us-east-1:123456789012:{}"
    assert {a for a, _ in ours} == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
        "ssm:PutParameter",
        "codepipeline:GetPipelineState",
        "codepipeline:EnableStageTransition",
        "states:StartExecution",
    }
    assert ("secretsmanager:GetSecretValue", account.format("secretsmanager", "secret:rollbackctl/sign-??????")) in ours
    assert ("ssm:PutParameter", account.format("ssm", "parameter/rollbackctl/kill-switch")) in ours
    assert {r for a, r in ours if a.startswith("secretsmanager:")} == {
        account.format("secretsmanager", "secret:rollbackctl/sign-??????")
    }
    assert not any(a == "sts:AssumeRole" for a, _ in granted)


def test_only_the_slack_buttons_have_a_public_url_and_only_with_slack_on(translated: dict[str, Any]) -> None:
    urls = {n: r for n, r in translated["Resources"].items() if r["Type"] == "AWS::Lambda::Url"}
    assert list(urls) == ["SlackActionsFunctionUrl"]
    assert urls["SlackActionsFunctionUrl"]["Condition"] == "SlackActionsOn"
    public = [
        n
        for n, r in translated["Resources"].items()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"].get("Principal") == "*"
    ]
    assert sorted(public) == ["SlackActionsInvokePermission", "SlackActionsUrlPermission"]
    invoke = translated["Resources"]["SlackActionsInvokePermission"]["Properties"]
    assert invoke["InvokedViaFunctionUrl"] is True  # lambda:InvokeFunction by anyone only through the URL
    variables = translated["Resources"]["SlackActionsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SLACK_SIGNING_SECRET_ID"] == {"Ref": "SlackSigningSecretId"}  # its name, never its value
