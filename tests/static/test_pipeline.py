"""The delivery pipeline (pipeline/): least privilege, the artifact bucket, the stages, and that the pieces agree
(the buildspec's outputs are what the deploy actions read; the deploy role can create what template.yaml has)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, TEMPLATE
from tests.static.policies import (
    identity_statements,
    managed_policy_violations,
    star_violations,
    statement_actions,
)
from tools.translate import load_template, translate_file

PIPELINE = ROOT / "pipeline"
TEMPLATES = [PIPELINE / "template.yaml", PIPELINE / "deploy-roles.yaml"]

# What CloudFormation calls to create each resource type of the controller's stack. A type missing here is a
# type the deploy role (pipeline/deploy-roles.yaml, CloudFormationExecutionRole) was never given.
CREATE_ACTION = {
    "AWS::Lambda::Function": "lambda:CreateFunction",
    "AWS::Lambda::Permission": "lambda:AddPermission",
    "AWS::Lambda::LayerVersion": "lambda:PublishLayerVersion",
    "AWS::Lambda::EventInvokeConfig": "lambda:PutFunctionEventInvokeConfig",
    "AWS::IAM::Role": "iam:CreateRole",
    "AWS::StepFunctions::StateMachine": "states:CreateStateMachine",
    "AWS::Events::Rule": "events:PutRule",
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


def test_staging_dry_run_then_approval_then_prod_enforce(pipeline: dict[str, Any]) -> None:
    deploys = [(stage, a) for stage, a in _actions(pipeline) if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    change_sets = {stage: a["Configuration"] for stage, a in deploys if "TemplatePath" in a["Configuration"]}
    assert json.loads(change_sets["Staging"]["ParameterOverrides"]) == {"Mode": "dry-run"}
    assert json.loads(change_sets["Prod"]["ParameterOverrides"]) == {"Mode": "enforce"}
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
    assert "sam package" in commands and "--output-template-file packaged.yaml" in " ".join(commands.split())
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
    assert re.search(r"pytest -q \$\(PYTEST_ARGS\)", (ROOT / "Makefile").read_text())


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
