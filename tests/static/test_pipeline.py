"""The delivery pipeline (pipeline/): least privilege, the artifact bucket, the stages, and that the pieces agree
(the buildspec's outputs are what the deploy actions read; the deploy role can create what template.yaml has)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, TEMPLATE
from tests.static.iam_eval import (
    PSEUDO,
    Resolver,
    action_matches,
    boundary_gaps,
    covers,
    grants,
    statement_matches,
)
from tests.static.policies import (
    identity_statements,
    managed_policy_violations,
    star_violations,
    statement_actions,
    statement_resources,
)
from tools.translate import load_template, translate, translate_file

PIPELINE = ROOT / "pipeline"
TEMPLATES = [PIPELINE / "template.yaml", PIPELINE / "deploy-roles.yaml"]

# What CloudFormation calls to create each resource type of the controller's stack. A type missing here is a
# type the deploy role (pipeline/deploy-roles.yaml, CloudFormationExecutionRole) was never given.
CREATE_ACTION = {
    "AWS::Lambda::Function": "lambda:CreateFunction",
    "AWS::Lambda::Permission": "lambda:AddPermission",
    "AWS::Lambda::Url": "lambda:CreateFunctionUrlConfig",
    "AWS::Lambda::LayerVersion": "lambda:PublishLayerVersion",
    "AWS::Lambda::EventInvokeConfig": "lambda:PutFunctionEventInvokeConfig",
    "AWS::Lambda::ResourcePolicy": "lambda:PutResourcePolicy",
    "AWS::Lambda::Version": "lambda:PublishVersion",
    "AWS::Lambda::Alias": "lambda:CreateAlias",
    "AWS::IAM::Role": "iam:CreateRole",
    "AWS::StepFunctions::StateMachine": "states:CreateStateMachine",
    "AWS::Events::Rule": "events:PutRule",
    "AWS::Events::EventBus": "events:CreateEventBus",
    "AWS::DynamoDB::Table": "dynamodb:CreateTable",
    "AWS::SQS::Queue": "sqs:CreateQueue",
    "AWS::SQS::QueuePolicy": "sqs:SetQueueAttributes",
    "AWS::SNS::Topic": "sns:CreateTopic",
    "AWS::SNS::TopicPolicy": "sns:SetTopicAttributes",
    "AWS::SSM::Parameter": "ssm:PutParameter",
    "AWS::Logs::LogGroup": "logs:CreateLogGroup",
    "AWS::KMS::Key": "kms:CreateKey",
    "AWS::KMS::Alias": "kms:CreateAlias",
    "AWS::CloudWatch::Alarm": "cloudwatch:PutMetricAlarm",
    "AWS::CloudWatch::Dashboard": "cloudwatch:PutDashboard",
}


@pytest.fixture(scope="module", params=TEMPLATES, ids=lambda path: path.name)
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    path: Path = request.param
    return load_template(path)


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    return load_template(PIPELINE / "template.yaml")


@pytest.fixture(scope="module")
def buildspec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PIPELINE / "buildspec.yml").read_text())
    return data


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def _actions(pipeline: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    (resource,) = _resources(pipeline, "AWS::CodePipeline::Pipeline").values()
    return [(stage["Name"], action) for stage in resource["Properties"]["Stages"] for action in stage["Actions"]]


def test_no_mutating_action_on_every_resource(template: dict[str, Any]) -> None:
    assert star_violations(template) == []
    assert managed_policy_violations(template) == []


def test_a_v2_pipeline_from_a_connection(pipeline: dict[str, Any]) -> None:
    (resource,) = _resources(pipeline, "AWS::CodePipeline::Pipeline").values()
    assert resource["Properties"]["PipelineType"] == "V2"
    assert [stage["Name"] for stage in resource["Properties"]["Stages"]] == ["Source", "Build", "Staging", "Prod"]
    (_, source), *_ = _actions(pipeline)
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == {"Ref": "ConnectionArn"}
    assert {"ConnectionArn", "FullRepositoryId", "BranchName"} <= set(pipeline["Parameters"])
    assert resource["Properties"]["ArtifactStore"]["EncryptionKey"]["Type"] == "KMS"


def _overrides(pipeline: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each stage's ParameterOverrides, resolved for one deployment (ACCOUNTS)."""
    resolver = Resolver(pipeline, parameters=PIPELINE_PARAMETERS, pseudo={**PSEUDO, "AWS::AccountId": TOOLS})
    deploys = [(stage, a) for stage, a in _actions(pipeline) if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    return {
        stage: json.loads(resolver.resolve(a["Configuration"]["ParameterOverrides"]))
        for stage, a in deploys
        if "TemplatePath" in a["Configuration"]
    }


def test_staging_dry_run_then_approval_then_prod_enforce(pipeline: dict[str, Any]) -> None:
    deploys = [(stage, a) for stage, a in _actions(pipeline) if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    change_sets = {stage: a["Configuration"] for stage, a in deploys if "TemplatePath" in a["Configuration"]}
    overrides = _overrides(pipeline)
    assert overrides["Staging"]["Mode"] == "dry-run"
    assert overrides["Prod"]["Mode"] == "enforce"
    assert overrides["Prod"]["TargetOptIn"] == "tag"  # production acts only on targets enrolled themselves
    for configuration in change_sets.values():
        assert set(configuration["Capabilities"].split(",")) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
        assert configuration["ActionMode"] == "CHANGE_SET_REPLACE"
    prod = {a["Name"]: a for stage, a in _actions(pipeline) if stage == "Prod"}
    assert prod["Approve"]["ActionTypeId"] == {
        "Category": "Approval",
        "Owner": "AWS",
        "Provider": "Manual",
        "Version": "1",
    }
    assert prod["CreateChangeSet"]["RunOrder"] < prod["Approve"]["RunOrder"] < prod["ExecuteChangeSet"]["RunOrder"]
    assert prod["ExecuteChangeSet"]["Configuration"]["ActionMode"] == "CHANGE_SET_EXECUTE"


def test_the_artifact_bucket_is_private_encrypted_versioned_tls_only(pipeline: dict[str, Any]) -> None:
    (bucket,) = _resources(pipeline, "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
    (policy,) = _resources(pipeline, "AWS::S3::BucketPolicy").values()
    denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false" for s in denies)
    (key,) = _resources(pipeline, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True


def test_the_buildspec_runs_make_test_and_reports_pytest(buildspec: dict[str, Any], pipeline: dict[str, Any]) -> None:
    commands = " ".join(buildspec["phases"]["build"]["commands"])
    assert "make test" in commands
    (junit,) = re.findall(r"--junitxml=(\S+?)\"?(?:\s|$)", commands)
    (report,) = buildspec["reports"].values()
    assert report["file-format"] == "JUNITXML"
    assert junit == f"{report['base-directory']}/{report['files'][0]}"
    assert "sam package" in commands
    template_paths = {
        a["Configuration"]["TemplatePath"] for _, a in _actions(pipeline) if "TemplatePath" in a["Configuration"]
    }
    assert {path.split("::", 1)[1] for path in template_paths} == set(buildspec["artifacts"]["files"])
    (project,) = _resources(pipeline, "AWS::CodeBuild::Project").values()
    variables = {v["Name"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]}
    assert {name for name in re.findall(r"\$([A-Z_]+)", commands) if not name.startswith(("CODEBUILD_", "AWS_"))} <= (
        variables
    )
    assert project["Properties"]["Source"]["BuildSpec"] == "pipeline/buildspec.yml"


def test_makefile_passes_pytest_args() -> None:
    assert re.search(r"pytest -q (-n \S+ )?\$\(PYTEST_ARGS\)", (ROOT / "Makefile").read_text())


def test_the_deploy_role_can_create_every_resource_of_the_controller() -> None:
    roles = load_template(PIPELINE / "deploy-roles.yaml")
    granted = {
        action
        for st in identity_statements(roles)
        if st.resource == "CloudFormationExecutionRole"
        for action in statement_actions(st.body)
    }
    kinds = {resource["Type"] for resource in translate_file(TEMPLATE)["Resources"].values()}
    unknown = sorted(kinds - set(CREATE_ACTION))
    assert unknown == [], f"give CloudFormationExecutionRole (pipeline/deploy-roles.yaml) what {unknown} need"
    missing = sorted(CREATE_ACTION[kind] for kind in kinds if CREATE_ACTION[kind] not in granted)
    assert missing == []


# ---- issue 12: the pipeline cannot grant more than it has ----------------------------------------------------
# Each rule below is a function that lists what is wrong, so that every test of the templates as they are has a
# twin that plants the violation in a copy and sees it reported.

TOOLS, STAGING, PROD = "111111111111", "222222222222", "333333333333"
PIPELINE_PARAMETERS = {"StagingAccountId": STAGING, "ProdAccountId": PROD}
BOUNDARY = "ControllerPermissionsBoundary"  # its logical id in deploy-roles.yaml

# The IAM actions on a role that take the iam:PermissionsBoundary condition key (Service Authorization Reference,
# "Actions, resources, and condition keys for AWS Identity and Access Management (IAM)", column Condition keys).
# TagRole, UntagRole, PassRole and the reads take no such key.
BOUNDED_ROLE_ACTIONS = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)
# The other IAM actions CloudFormation needs on the controller's roles: they grant nothing by themselves.
UNBOUNDED_ROLE_ACTIONS = (
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:PassRole",
)
BOUNDARY_POLICY_CHANGES = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicy",
)


def _controller_template() -> dict[str, Any]:
    template = load_template(TEMPLATE)
    assert "PermissionsBoundaryArn" in template["Parameters"], "template.yaml must take the pipeline's boundary"
    return template


@pytest.fixture(scope="module")
def roles() -> dict[str, Any]:
    return load_template(PIPELINE / "deploy-roles.yaml")


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate(_controller_template(), base=ROOT)


def _resolver(roles: dict[str, Any], account: str = PSEUDO["AWS::AccountId"]) -> Resolver:
    return Resolver(roles, parameters={"PipelineAccountId": TOOLS}, pseudo={**PSEUDO, "AWS::AccountId": account})


def _denied(statements: list[dict[str, Any]], action: str, resource: str, condition: Any = None) -> bool:
    return any(
        st.get("Effect") == "Deny"
        and statement_matches(st, action, resource)
        and (st.get("Condition") or None) == condition
        for st in statements
    )


def execution_role_violations(roles: dict[str, Any]) -> list[str]:
    """CloudFormationExecutionRole: every role it creates or changes carries the boundary; the boundary can be
    neither removed nor rewritten; the pipeline's own roles are out of its reach; no other IAM write."""
    resolver = _resolver(roles)
    boundary = resolver.attribute(BOUNDARY, None)
    statements = [
        resolver.resolve(st.body) for st in identity_statements(roles) if st.resource == "CloudFormationExecutionRole"
    ]
    problems = []
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        for action in map(str, statement_actions(st)):
            if not action.lower().startswith("iam:"):
                continue
            where = f"{st.get('Sid', '-')}: {action}"
            if "*" in action or "?" in action:
                problems.append(f"{where}: a wildcard IAM action")
            elif action in BOUNDED_ROLE_ACTIONS:
                if (st.get("Condition") or {}).get("StringEquals", {}).get("iam:PermissionsBoundary") != boundary:
                    problems.append(f"{where} without the condition iam:PermissionsBoundary = {boundary}")
            elif action not in UNBOUNDED_ROLE_ACTIONS:
                problems.append(f"{where}: not an action on the controller's roles")
    every_role = resolver.resolve({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"})
    if not _denied(statements, "iam:DeleteRolePermissionsBoundary", every_role):
        problems.append("no Deny of iam:DeleteRolePermissionsBoundary on every role")
    unbounded = {"StringNotEquals": {"iam:PermissionsBoundary": boundary}}
    for action in BOUNDED_ROLE_ACTIONS:
        if action != "iam:DeleteRolePermissionsBoundary" and not _denied(statements, action, every_role, unbounded):
            problems.append(f"no Deny of {action} on a role whose boundary is not {boundary}")
    for action in BOUNDARY_POLICY_CHANGES:
        if not _denied(statements, action, boundary):
            problems.append(f"no Deny of {action} on the boundary policy")
    for own in ("CloudFormationExecutionRole", "DeployActionRole"):
        arn = resolver.attribute(own, "Arn")
        for action in BOUNDED_ROLE_ACTIONS + UNBOUNDED_ROLE_ACTIONS:
            if not _denied(statements, action, arn):
                problems.append(f"{action} on the pipeline's own role {arn} is not denied")
    return problems


def trust_violations(roles: dict[str, Any], pipeline: dict[str, Any]) -> list[str]:
    """The deploy action role trusts exactly the pipeline's role (CodePipeline assumes an action's RoleArn with
    the pipeline's role), and the pipeline assumes exactly the deploy action roles."""
    stack = str(roles["Parameters"]["PipelineStackName"]["Default"])
    in_target = _resolver(roles, STAGING)
    in_tools = Resolver(
        pipeline, PIPELINE_PARAMETERS, pseudo={**PSEUDO, "AWS::AccountId": TOOLS, "AWS::StackName": stack}
    )
    problems = []
    if "RoleName" not in pipeline["Resources"]["PipelineRole"]["Properties"]:
        problems.append("PipelineRole has a generated name: nothing can trust it exactly")
    pipeline_role = in_tools.attribute("PipelineRole", "Arn")
    trust = in_target.resolve(roles["Resources"]["DeployActionRole"]["Properties"]["AssumeRolePolicyDocument"])
    allows = [st for st in trust["Statement"] if st.get("Effect") == "Allow"]
    if not allows:
        problems.append("DeployActionRole trusts no one")
    for st in allows:
        principal = st.get("Principal") or {}
        if set(principal) != {"AWS"} or [str(p) for p in _as_list(principal["AWS"])] != [pipeline_role]:
            problems.append(f"DeployActionRole trusts {principal}, not exactly {pipeline_role}")
        if st.get("Condition"):
            problems.append(f"DeployActionRole's trust hangs on a condition {st['Condition']}: trust the role itself")
        if statement_actions(st) != ["sts:AssumeRole"]:
            problems.append(f"DeployActionRole's trust allows {statement_actions(st)}")
    deploy_action = in_target.attribute("DeployActionRole", "Arn")
    role_arns = {str(in_tools.resolve(a["RoleArn"])) for _, a in _actions(pipeline) if "RoleArn" in a}
    if role_arns != {deploy_action.replace(STAGING, account) for account in (STAGING, PROD)}:
        problems.append(f"the deploy actions run as {sorted(role_arns)}, not the deploy action roles")
    return problems


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def pinning_violations(buildspec: dict[str, Any], pipeline: dict[str, Any], roles: dict[str, Any]) -> list[str]:
    """What the prod approver approves is what deploys: the packaged template names every object by its S3
    version (pinned right after sam package uploaded this build's bytes), and only the build writes packages."""
    commands = [" ".join(str(c).split()) for c in buildspec["phases"]["build"]["commands"]]
    packages = [i for i, c in enumerate(commands) if "sam package" in c]
    pins = [i for i, c in enumerate(commands) if "tools.pin_artifacts" in c]
    problems = []
    if len(packages) != 1 or len(pins) != 1:
        return [f"one sam package and one tools.pin_artifacts after it, not {len(packages)} and {len(pins)}"]
    package, pin = commands[packages[0]], commands[pins[0]]
    if pins[0] < packages[0]:
        problems.append("tools.pin_artifacts runs before sam package")
    if "--force-upload" not in package:
        problems.append("sam package without --force-upload can keep an object someone left at a key")
    if not re.search(r'--s3-prefix "?packages/', package):
        problems.append("sam package does not upload under packages/ (where the bucket policy guards them)")
    unpinned = re.search(r"--output-template-file (\S+)", package)
    pinned = re.search(r"--output (\S+)", pin)
    reads = re.search(r"tools\.pin_artifacts (\S+)", pin)
    if not unpinned or not pinned or not reads or reads[1] != unpinned[1] or unpinned[1] == pinned[1]:
        problems.append("tools.pin_artifacts does not read what sam package wrote")
    artifacts = buildspec["artifacts"]["files"]
    if not pinned or artifacts != [pinned[1]]:
        problems.append(f"the build's artifact {artifacts} is not the pinned template")
    template_paths = {
        a["Configuration"]["TemplatePath"] for _, a in _actions(pipeline) if "TemplatePath" in a["Configuration"]
    }
    if not pinned or template_paths != {f"Packaged::{pinned[1]}"}:
        problems.append(f"the deploy actions read {sorted(template_paths)}, not the pinned template")
    resolver = Resolver(pipeline, PIPELINE_PARAMETERS, pseudo={**PSEUDO, "AWS::AccountId": TOOLS})
    (policy,) = _resources(pipeline, "AWS::S3::BucketPolicy").values()
    statements = resolver.resolve(policy["Properties"]["PolicyDocument"])["Statement"]
    key = f"{resolver.attribute('ArtifactBucket', 'Arn')}/packages/COMMIT/0123456789abcdef0123456789abcdef"
    build_role = {"ArnNotEquals": {"aws:PrincipalArn": resolver.attribute("BuildRole", "Arn")}}
    if not _denied(statements, "s3:PutObject", key, build_role):
        problems.append("the bucket policy lets others than the build write packages/")
    if not _denied(statements, "s3:DeleteObjectVersion", key):
        problems.append("the bucket policy lets a pinned version be deleted")
    executing = [
        action
        for st in identity_statements(roles)
        if st.resource == "CloudFormationExecutionRole" and st.body.get("Effect") == "Allow"
        for action in statement_actions(st.body)
    ]
    if "s3:GetObjectVersion" not in executing:
        problems.append("CloudFormation's role cannot read an object version")
    return problems


def boundary_escalation_violations(roles: dict[str, Any]) -> list[str]:
    """The boundary itself allows nothing of IAM, Organizations, the account or STS (but the members' roles)."""
    resolver = _resolver(roles)
    statements = resolver.resolve(roles["Resources"][BOUNDARY]["Properties"]["PolicyDocument"])["Statement"]
    problems = []
    for action in ("iam:PassRole", "iam:CreateRole", "organizations:LeaveOrganization", "account:PutAlternateContact"):
        if not _denied(statements, action, "*"):
            problems.append(f"the boundary does not deny {action}")
    for resource in ("arn:aws:iam::123456789012:role/rollbackctl-cfn-exec", "arn:aws:iam::444455556666:role/admin"):
        if not _denied(statements, "sts:AssumeRole", resource):
            problems.append(f"the boundary does not deny sts:AssumeRole on {resource}")
    members = "arn:aws:iam::*:role/rollbackctl-target"  # DESIGN.md: the hub assumes the members' role, only
    for st in statements:
        for action in map(str, statement_actions(st)):
            if action == "sts:AssumeRole" and st.get("Effect") == "Allow" and statement_resources(st) == [members]:
                continue
            if st.get("Effect") == "Allow" and action.split(":")[0].lower() in (
                "iam",
                "organizations",
                "account",
                "sts",
            ):
                problems.append(f"the boundary allows {action}")
    return problems


def _boundary_grants(translated: dict[str, Any]) -> tuple[list[Any], Resolver]:
    """What the controller's roles are granted, with Slack off, named, and given as an ARN (its buttons too)."""
    granted: list[Any] = []
    resolver = Resolver(translated)
    for slack, signing, members, organization in (
        ("", "", "", ""),
        ("rollbackctl/slack-webhook", "rollbackctl/slack-signing", "222222222222,333333333333", ""),
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:rollbackctl/slack-AbCdEf",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:rollbackctl/slack-signing-AbCdEf",
            "",
            "o-abcdefghij",
        ),
    ):
        resolver = Resolver(
            translated,
            {
                "SlackWebhookSecretId": slack,
                "SlackSigningSecretId": signing,
                "PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/b",
                "MemberAccounts": members,
                "OrganizationId": organization,
            },
        )
        granted.extend(grants(translated, resolver))
    return granted, resolver


def _boundary_statements(roles: dict[str, Any]) -> list[dict[str, Any]]:
    document = _resolver(roles).resolve(roles["Resources"][BOUNDARY]["Properties"]["PolicyDocument"])
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def _plant_in(template: dict[str, Any], logical_id: str, statement: dict[str, Any]) -> dict[str, Any]:
    planted = copy.deepcopy(template)
    props = planted["Resources"][logical_id]["Properties"]
    if "PolicyDocument" in props:
        props["PolicyDocument"]["Statement"].append(statement)
    else:
        props["Policies"][0]["PolicyDocument"]["Statement"].append(statement)
    return planted


def _statement(template: dict[str, Any], logical_id: str, sid: str) -> dict[str, Any]:
    props = template["Resources"][logical_id]["Properties"]
    documents = (
        [props["PolicyDocument"]] if "PolicyDocument" in props else [p["PolicyDocument"] for p in props["Policies"]]
    )
    (found,) = [st for document in documents for st in document["Statement"] if st.get("Sid") == sid]
    return found


def _without(template: dict[str, Any], logical_id: str, sid: str) -> dict[str, Any]:
    planted = copy.deepcopy(template)
    props = planted["Resources"][logical_id]["Properties"]
    documents = (
        [props["PolicyDocument"]] if "PolicyDocument" in props else [p["PolicyDocument"] for p in props["Policies"]]
    )
    for document in documents:
        document["Statement"] = [st for st in document["Statement"] if st.get("Sid") != sid]
    return planted


# -- every role the pipeline creates or changes carries the boundary ---------------------------------------


def test_the_execution_role_creates_and_changes_roles_only_with_the_boundary(roles: dict[str, Any]) -> None:
    assert execution_role_violations(roles) == []


def test_the_bounded_actions_are_what_the_execution_role_is_granted_on_roles(roles: dict[str, Any]) -> None:
    """Every IAM action of the reference that takes the key, and that CloudFormation uses, is conditioned."""
    statement = _statement(roles, "CloudFormationExecutionRole", "ExecutionRolesOnlyWithTheBoundary")
    attach = _statement(roles, "CloudFormationExecutionRole", "OnlyTheManagedPoliciesSamAttaches")
    granted = set(statement_actions(statement)) | set(statement_actions(attach))
    assert granted == set(BOUNDED_ROLE_ACTIONS) - {"iam:DeleteRolePermissionsBoundary"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # the role as the security review found it: CreateRole and PutRolePolicy with no condition
        (
            lambda r: _plant_in(
                _without(r, "CloudFormationExecutionRole", "ExecutionRolesOnlyWithTheBoundary"),
                "CloudFormationExecutionRole",
                {
                    "Sid": "ExecutionRoles",
                    "Effect": "Allow",
                    "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"],
                    "Resource": {
                        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${ApplicationStackName}-*"
                    },
                },
            ),
            "ExecutionRoles: iam:CreateRole without the condition",
        ),
        (
            lambda r: _plant_in(
                r, "CloudFormationExecutionRole", {"Sid": "X", "Effect": "Allow", "Action": "iam:*", "Resource": "*"}
            ),
            "X: iam:*: a wildcard IAM action",
        ),
        (
            lambda r: _plant_in(
                r,
                "CloudFormationExecutionRole",
                {"Sid": "X", "Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": {"Ref": BOUNDARY}},
            ),
            "X: iam:CreatePolicyVersion: not an action on the controller's roles",
        ),
        (
            lambda r: _plant_in(
                r,
                "CloudFormationExecutionRole",
                {
                    "Sid": "X",
                    "Effect": "Allow",
                    "Action": "iam:AttachRolePolicy",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"}
                    },
                },
            ),
            "X: iam:AttachRolePolicy without the condition",
        ),
        (
            lambda r: _without(r, "CloudFormationExecutionRole", "TheBoundaryStaysOn"),
            "no Deny of iam:DeleteRolePermissionsBoundary",
        ),
        (
            lambda r: _without(r, "CloudFormationExecutionRole", "TheBoundaryStaysAsWritten"),
            "no Deny of iam:CreatePolicyVersion",
        ),
        (
            lambda r: _without(r, "CloudFormationExecutionRole", "NoRoleWithoutTheBoundary"),
            "no Deny of iam:PutRolePolicy on a role",
        ),
    ],
)
def test_planted_unbounded_role_changes_are_caught(roles: dict[str, Any], change: Any, expected: str) -> None:
    problems = execution_role_violations(change(roles))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_every_role_of_the_controller_carries_the_boundary(translated: dict[str, Any]) -> None:
    arn = "arn:aws:iam::123456789012:policy/rollbackctl-permissions-boundary"
    role_ids = [name for name, r in translated["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    assert {"TriageFunctionRole", "RollbackStateMachineRole", "WorkflowEventsRole"} <= set(role_ids)
    for value, expected in ((arn, arn), ("", None)):  # the pipeline passes it; a hand-run sam deploy may not
        resolver = Resolver(translated, {"PermissionsBoundaryArn": value})
        for name in role_ids:
            assert (
                resolver.resolve(translated["Resources"][name]["Properties"]).get("PermissionsBoundary") == expected
            ), name


def test_a_planted_role_without_the_boundary_is_caught(translated: dict[str, Any]) -> None:
    planted = copy.deepcopy(translated)
    del planted["Resources"]["RestoreFunctionRole"]["Properties"]["PermissionsBoundary"]
    resolver = Resolver(planted, {"PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/b"})
    missing = [
        name
        for name, r in planted["Resources"].items()
        if r["Type"] == "AWS::IAM::Role" and "PermissionsBoundary" not in resolver.resolve(r["Properties"])
    ]
    assert missing == ["RestoreFunctionRole"]


def test_the_pipeline_passes_each_account_its_boundary(pipeline: dict[str, Any], roles: dict[str, Any]) -> None:
    declared = set(_controller_template()["Parameters"])
    overrides = _overrides(pipeline)
    for stage, account in (("Staging", STAGING), ("Prod", PROD)):
        assert set(overrides[stage]) <= declared, stage
        assert overrides[stage]["PermissionsBoundaryArn"] == _resolver(roles, account).attribute(BOUNDARY, None)


# -- the boundary: what the controller needs, nothing of IAM ----------------------------------------------------


def test_the_boundary_allows_what_the_controller_is_granted_and_no_more(
    translated: dict[str, Any], roles: dict[str, Any]
) -> None:
    granted, resolver = _boundary_grants(translated)
    assert len(granted) > 200
    assert boundary_gaps(_boundary_statements(roles), granted, resolver) == []


def test_the_boundary_denies_identity_and_account_changes(roles: dict[str, Any]) -> None:
    assert boundary_escalation_violations(roles) == []


def test_a_planted_grant_outside_the_boundary_is_caught(translated: dict[str, Any], roles: dict[str, Any]) -> None:
    statement = {
        "Effect": "Allow",
        "Action": "cloudformation:DeleteStack",
        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/*"},
    }
    planted = copy.deepcopy(translated)
    planted["Resources"]["RestoreFunctionRole"]["Properties"]["Policies"].append(
        {"PolicyName": "planted", "PolicyDocument": {"Statement": [statement]}}
    )
    granted, resolver = _boundary_grants(planted)
    assert (
        boundary_gaps(_boundary_statements(roles), granted, resolver)
        == [
            "RestoreFunctionRole: cloudformation:DeleteStack on "
            "arn:aws:cloudformation:us-east-1:123456789012:stack/* is not allowed by the boundary"
        ]
        * 3
    )


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            {"Sid": "Wider", "Effect": "Allow", "Action": "lambda:UpdateFunctionCode", "Resource": "*"},
            "boundary Wider: allows lambda:UpdateFunctionCode, which no role of the controller is granted",
        ),
        (
            {"Sid": "Wider", "Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
            "boundary Wider: lambda:* - name each action the controller calls",
        ),
    ],
)
def test_a_planted_wider_boundary_is_caught(
    translated: dict[str, Any], roles: dict[str, Any], statement: dict[str, Any], expected: str
) -> None:
    granted, resolver = _boundary_grants(translated)
    gaps = boundary_gaps(_boundary_statements(_plant_in(roles, BOUNDARY, statement)), granted, resolver)
    assert gaps == [expected]


def test_a_planted_narrower_boundary_is_caught(translated: dict[str, Any], roles: dict[str, Any]) -> None:
    granted, resolver = _boundary_grants(translated)
    gaps = boundary_gaps(_boundary_statements(_without(roles, BOUNDARY, "ControllerKey")), granted, resolver)
    assert gaps and all(": kms:" in gap and "not allowed by the boundary" in gap for gap in gaps)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: _without(r, BOUNDARY, "NoIdentityAccountOrOrganization"), "the boundary does not deny iam:PassRole"),
        (lambda r: _without(r, BOUNDARY, "NoOtherRoleOrSession"), "the boundary does not deny sts:AssumeRole"),
        (
            lambda r: _plant_in(r, BOUNDARY, {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
            "the boundary allows sts:AssumeRole",
        ),
    ],
)
def test_planted_escalations_in_the_boundary_are_caught(roles: dict[str, Any], change: Any, expected: str) -> None:
    problems = boundary_escalation_violations(change(roles))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_the_iam_wildcards_compare_as_iam_does() -> None:
    assert covers("arn:aws:lambda:*:*:function:*", "arn:aws:lambda:us-east-1:1:function:rollbackctl-triage*")
    assert covers("function:rollbackctl-*", "function:rollbackctl-triage")
    assert not covers("function:rollbackctl-*", "function:*")  # the subject's * may be anything
    assert covers("secret:rollbackctl/*", "secret:rollbackctl/slack-??????")
    assert not covers("secret:rollbackctl/slack-??????", "secret:rollbackctl/slack-*")
    assert action_matches("iam:Put*", "iam:PutRolePolicy") and not action_matches("iam:Put*", "iam:CreateRole")


# -- the pipeline's own roles ------------------------------------------------------------------------------


def test_the_deploy_action_role_trusts_exactly_the_pipeline_role(
    roles: dict[str, Any], pipeline: dict[str, Any]
) -> None:
    assert trust_violations(roles, pipeline) == []


def test_the_pipeline_role_name_fits_iam() -> None:
    pattern = load_template(PIPELINE / "deploy-roles.yaml")["Parameters"]["PipelineStackName"]["AllowedPattern"]
    assert re.fullmatch(pattern, "a" * 55) and not re.fullmatch(pattern, "a" * 56)
    assert len("a" * 55 + "-pipeline") == 64


@pytest.mark.parametrize(
    ("trust", "expected"),
    [
        # the trust as the security review found it: any role whose name starts with STACK-PipelineRole-
        (
            {
                "Effect": "Allow",
                "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${PipelineAccountId}:root"}},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "ArnLike": {
                        "aws:PrincipalArn": {
                            "Fn::Sub": "arn:${AWS::Partition}:iam::${PipelineAccountId}:role/"
                            "${PipelineStackName}-PipelineRole-*"
                        }
                    }
                },
            },
            "DeployActionRole trusts {'AWS': 'arn:aws:iam::111111111111:root'}",
        ),
        (
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/*"}, "Action": "sts:AssumeRole"},
            "DeployActionRole trusts {'AWS': 'arn:aws:iam::111111111111:role/*'}",
        ),
        (
            {
                "Effect": "Allow",
                "Principal": {
                    "AWS": {
                        "Fn::Sub": "arn:${AWS::Partition}:iam::${PipelineAccountId}:role/${PipelineStackName}-pipeline"
                    }
                },
                "Action": "sts:*",
            },
            "DeployActionRole's trust allows ['sts:*']",
        ),
    ],
)
def test_a_planted_loose_trust_is_caught(
    roles: dict[str, Any], pipeline: dict[str, Any], trust: dict[str, Any], expected: str
) -> None:
    planted = copy.deepcopy(roles)
    planted["Resources"]["DeployActionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"] = [trust]
    problems = trust_violations(planted, pipeline)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_a_planted_generated_pipeline_role_name_is_caught(roles: dict[str, Any], pipeline: dict[str, Any]) -> None:
    planted = copy.deepcopy(pipeline)
    del planted["Resources"]["PipelineRole"]["Properties"]["RoleName"]
    assert trust_violations(roles, planted)[0] == "PipelineRole has a generated name: nothing can trust it exactly"


@pytest.mark.parametrize("own", ["cfn-exec", "deploy-action"])
def test_a_planted_reach_into_the_pipelines_own_roles_is_caught(roles: dict[str, Any], own: str) -> None:
    planted = copy.deepcopy(roles)
    deny = _statement(planted, "CloudFormationExecutionRole", "NeverThePipelinesOwnRoles")
    deny["Resource"] = [r for r in deny["Resource"] if not r["Fn::Sub"].endswith(own)]
    problems = execution_role_violations(planted)
    assert problems and all(f"role/rollbackctl-{own} is not denied" in problem for problem in problems)


# -- what was approved is what deploys ---------------------------------------------------------------------


def test_the_deployed_template_names_each_object_by_its_version(
    buildspec: dict[str, Any], pipeline: dict[str, Any], roles: dict[str, Any]
) -> None:
    assert pinning_violations(buildspec, pipeline, roles) == []


def _build_commands(buildspec: dict[str, Any], edit: Any) -> dict[str, Any]:
    planted = copy.deepcopy(buildspec)
    planted["phases"]["build"]["commands"] = edit(planted["phases"]["build"]["commands"])
    return planted


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda cs: [c for c in cs if "pin_artifacts" not in c], "one sam package and one tools.pin_artifacts"),
        (
            lambda cs: [c.replace(" --force-upload", "").replace("\n--force-upload", "") for c in cs],
            "sam package without --force-upload",
        ),
        (lambda cs: sorted(cs, key=lambda c: "pin_artifacts" not in c), "tools.pin_artifacts runs before sam package"),
        (
            lambda cs: [
                c.replace("--output-template-file packaged-unpinned.yaml", "--output-template-file packaged.yaml")
                for c in cs
            ],
            "tools.pin_artifacts does not read what sam package wrote",
        ),
    ],
)
def test_planted_unpinned_builds_are_caught(
    buildspec: dict[str, Any], pipeline: dict[str, Any], roles: dict[str, Any], edit: Any, expected: str
) -> None:
    problems = pinning_violations(_build_commands(buildspec, edit), pipeline, roles)
    assert any(problem.startswith(expected) for problem in problems), problems


@pytest.mark.parametrize(
    ("sid", "expected"),
    [
        ("OnlyTheBuildPublishesPackages", "the bucket policy lets others than the build write packages/"),
        ("PublishedPackagesStay", "the bucket policy lets a pinned version be deleted"),
    ],
)
def test_planted_open_package_keys_are_caught(
    buildspec: dict[str, Any], pipeline: dict[str, Any], roles: dict[str, Any], sid: str, expected: str
) -> None:
    planted = _without(pipeline, "ArtifactBucketPolicy", sid)
    assert pinning_violations(buildspec, planted, roles) == [expected]


def test_the_sample_service_pipeline_runs_rollbackctls_gate_before_it_deploys() -> None:
    """pipeline/gated-service-pipeline.yaml: a Lambda invoke action calling the controller's gate, in a stage of its
    own right before the Deploy stage, fed the source artifact and naming the service the Deploy stage updates."""
    sample = load_template(ROOT / "pipeline" / "gated-service-pipeline.yaml")
    stages = sample["Resources"]["Pipeline"]["Properties"]["Stages"]
    names = [stage["Name"] for stage in stages]
    assert names.index("Gate") == names.index("Deploy") - 1
    [gate] = stages[names.index("Gate")]["Actions"]
    assert gate["ActionTypeId"] == {"Category": "Invoke", "Owner": "AWS", "Provider": "Lambda", "Version": "1"}
    assert gate["Configuration"]["FunctionName"] == {"Ref": "GateFunctionName"}
    assert gate["InputArtifacts"] == [{"Name": "SourceArtifact"}]
    assert "${ServiceTargetArn}" in gate["Configuration"]["UserParameters"]["Fn::Sub"]
    outputs = load_template(TEMPLATE)["Outputs"]
    assert outputs["GateFunctionName"]["Value"] == {"Ref": "GateFunction"}
