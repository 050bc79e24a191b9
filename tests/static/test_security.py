"""Who may make rollbackctl act, on what CloudFormation deploys (template.yaml translated from SAM).

- TargetOptIn=tag: every call that changes a target is conditioned on the target's own rollback:managed tag, and
  the calls where AWS offers no such condition are listed here with the reason.
- EventBridge, the dead-letter queue and the key trust only the stack's own rules (aws:SourceArn).
- Only the controller publishes to on-call's topics.
- Traces never carry responses or errors.
Each rule has a planted violation that proves it can fail.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import TEMPLATE
from tests.static.policies import identity_statements, statement_actions
from tools.translate import translate_file

MANAGED_ONLY = {
    "Fn::If": ["OptInByTag", {"StringEquals": {"aws:ResourceTag/rollback:managed": "true"}}, {"Ref": "AWS::NoValue"}]
}
# The calls that change a target: with TargetOptIn=tag, IAM lets them touch only targets tagged rollback:managed=true
# (Service Authorization Reference: lambda function, ecs service, elasticbeanstalk environment and cloudformation stack
# resources support aws:ResourceTag).
TARGET_CHANGES = {
    "lambda:UpdateAlias",
    "ecs:UpdateService",
    "ecs:StopServiceDeployment",
    "elasticbeanstalk:UpdateEnvironment",
    "elasticbeanstalk:AbortEnvironmentUpdate",
    "cloudformation:CancelUpdateStack",
    "cloudformation:RollbackStack",
    "cloudformation:ContinueUpdateRollback",
    "codedeploy:CreateDeployment",  # its resource is the deployment group (the target) and supports aws:ResourceTag
    "codepipeline:RollbackStage",  # its resource is the stage, which carries its pipeline's tags
}
# Elastic Beanstalk makes these calls with its caller's credentials while it deploys (Developer Guide, "Elastic
# Beanstalk user policy"): on the environment's own stack, Auto Scaling group and storage bucket, which the template
# names (awseb-..., elasticbeanstalk-REGION-ACCOUNT) and which are not the target; the target's tag gates
# elasticbeanstalk:UpdateEnvironment, the call that starts them.
ON_BEHALF_OF_BEANSTALK = "made by Elastic Beanstalk for the tag-conditioned UpdateEnvironment, on its own resources"
# Mutating calls that cannot carry the condition, and why (Service Authorization Reference).
NO_TAG_CONDITION = {
    "codedeploy:StopDeployment": "StopDeployment has no resource type at all (no resource-level permissions)",
    "elasticloadbalancing:ModifyListener": "the resource is the ALB listener, which is not the target and untagged",
    "elasticloadbalancing:ModifyRule": "the resource is the listener rule, which is not the target and untagged",
    "codepipeline:StopPipelineExecution": "the resource is the pipeline that ships the target, not the target",
    "codepipeline:DisableStageTransition": "the resource is the pipeline stage that ships the target, not the target",
    "cloudformation:UpdateStack": ON_BEHALF_OF_BEANSTALK,
    "autoscaling:SuspendProcesses": ON_BEHALF_OF_BEANSTALK,
    "autoscaling:ResumeProcesses": ON_BEHALF_OF_BEANSTALK,
    "s3:PutObject": ON_BEHALF_OF_BEANSTALK,
}
# The stack's own rules, on the default bus (named STACK-...) and on its rollbackctl bus (rule/BUS/STACK-...).
DEFAULT_BUS_RULES = {
    "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${AWS::StackName}-*"
}
HUB_BUS_RULES = {
    "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${HubEventBus}/${AWS::StackName}-*"
}
RULE_ARNS = [DEFAULT_BUS_RULES, HUB_BUS_RULES]


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate_file(TEMPLATE)


def opt_in_violations(template: dict[str, Any]) -> list[str]:
    found = []
    for st in identity_statements(template):
        if st.body.get("Effect") != "Allow":
            continue
        for action in TARGET_CHANGES.intersection(statement_actions(st.body)):
            if st.body.get("Condition") != MANAGED_ONLY:
                found.append(
                    f"{st.resource}/{st.body.get('Sid', '-')}: {action} without the rollback:managed condition"
                )
    return found


def test_with_tag_opt_in_every_change_of_a_target_needs_its_own_tag(translated: dict[str, Any]) -> None:
    assert opt_in_violations(translated) == []
    granted = {a for st in identity_statements(translated) for a in statement_actions(st.body)}
    assert granted >= TARGET_CHANGES  # the rule sees the statements it checks
    assert set(NO_TAG_CONDITION) <= granted and all(why.strip() for why in NO_TAG_CONDITION.values())


def test_a_target_change_without_the_condition_is_caught(translated: dict[str, Any]) -> None:
    planted = copy.deepcopy(translated)
    planted["Resources"]["RestoreFunctionRole"]["Properties"]["Policies"].append(
        {
            "PolicyName": "planted",
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "x"}]},
        }
    )
    assert opt_in_violations(planted) == [
        "RestoreFunctionRole/-: ecs:UpdateService without the rollback:managed condition"
    ]


def event_source_violations(template: dict[str, Any]) -> list[str]:
    resources = template["Resources"]
    found = []
    for logical, body in resources.items():
        props = body.get("Properties", {})
        if body["Type"] == "AWS::Events::Rule":
            name = props.get("Name")
            if not (isinstance(name, dict) and str(name.get("Fn::Sub", "")).startswith("${AWS::StackName}-")):
                found.append(f"{logical}: its name is not STACK-..., so aws:SourceArn cannot name it")
            for target in props.get("Targets", []):
                role = (target.get("RoleArn") or {}).get("Fn::GetAtt", [None])[0]
                if role is None:
                    continue
                # the role is for the rules of this rule's bus only
                own = HUB_BUS_RULES if props.get("EventBusName") == {"Ref": "HubEventBus"} else DEFAULT_BUS_RULES
                trust = resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
                if not all((s.get("Condition") or {}).get("ArnLike", {}).get("aws:SourceArn") == own for s in trust):
                    found.append(f"{logical}: role {role} can be assumed by any rule")
        if body["Type"] == "AWS::SQS::QueuePolicy":
            for statement in props["PolicyDocument"]["Statement"]:
                if (statement.get("Principal") or {}).get("Service") == "events.amazonaws.com" and (
                    (statement.get("Condition") or {}).get("ArnLike", {}).get("aws:SourceArn") != RULE_ARNS
                ):
                    found.append(f"{logical}/{statement.get('Sid')}: any rule may send dead letters")
        if body["Type"] == "AWS::KMS::Key":
            for statement in props["KeyPolicy"]["Statement"]:
                if (statement.get("Principal") or {}).get("Service") == "events.amazonaws.com" and (
                    (statement.get("Condition") or {}).get("ArnLike", {}).get("aws:SourceArn") != RULE_ARNS
                ):
                    found.append(f"{logical}/{statement.get('Sid')}: any rule may use the key")
    return found


def test_eventbridge_the_dead_letters_and_the_key_trust_only_the_stacks_rules(translated: dict[str, Any]) -> None:
    assert event_source_violations(translated) == []
    rules = [b for b in translated["Resources"].values() if b["Type"] == "AWS::Events::Rule"]
    assert any(t.get("RoleArn") for r in rules for t in r["Properties"]["Targets"])  # the trust check ran


@pytest.mark.parametrize("where", ["trust", "queue", "key", "name"])
def test_a_missing_source_condition_is_caught(translated: dict[str, Any], where: str) -> None:
    planted = copy.deepcopy(translated)
    resources = planted["Resources"]
    if where == "trust":
        del resources["WorkflowEventsRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    elif where == "queue":
        del resources["EventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Condition"]
    elif where == "key":
        statements = resources["ControllerKey"]["Properties"]["KeyPolicy"]["Statement"]
        next(s for s in statements if s["Principal"].get("Service") == "events.amazonaws.com")["Condition"] = {}
    else:
        resources["AlarmStateChangeRule"]["Properties"]["Name"] = "alarms"
    assert event_source_violations(planted) != []


def topic_violations(template: dict[str, Any]) -> list[str]:
    resources = template["Resources"]
    topics = {logical for logical, body in resources.items() if body["Type"] == "AWS::SNS::Topic"}
    covered: set[str] = set()
    for body in resources.values():
        if body["Type"] != "AWS::SNS::TopicPolicy":
            continue
        statements = body["Properties"]["PolicyDocument"]["Statement"]
        deny = [
            s
            for s in statements
            if s["Effect"] == "Deny" and "sns:Publish" in statement_actions(s) and "aws:PrincipalArn" in str(s)
        ]
        if deny:
            covered |= {t["Ref"] for t in body["Properties"]["Topics"] if isinstance(t, dict) and "Ref" in t}
        for s in statements:
            if s["Effect"] == "Allow" and "aws:SourceArn" not in str(s.get("Condition")):
                return [f"an Allow on the topics without aws:SourceArn: {s.get('Sid')}"]
    return [f"{topic}: anyone with sns:Publish in the account can page on-call" for topic in sorted(topics - covered)]


def test_only_the_controller_publishes_to_on_call(translated: dict[str, Any]) -> None:
    assert topic_violations(translated) == []


def test_a_topic_left_open_is_caught(translated: dict[str, Any]) -> None:
    planted = copy.deepcopy(translated)
    planted["Resources"]["OnCallTopicsPolicy"]["Properties"]["Topics"] = [{"Ref": "NotificationTopic"}]
    assert topic_violations(planted) == ["ChatbotTopic: anyone with sns:Publish in the account can page on-call"]


def test_traces_carry_no_response_and_no_error(translated: dict[str, Any]) -> None:
    functions = [b for b in translated["Resources"].values() if b["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 9  # the six steps, Track, the pipeline gate and the Slack buttons
    for function in functions:
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
        assert variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"


WORKFLOW_STEPS = ("Triage", "Restore", "Contain", "Diagnose", "Notify", "Verify")


def invoke_violations(template: dict[str, Any]) -> list[str]:
    """Each step of the workflow carries a resource-based policy denying every principal but the state machine, and so
    does the published alias a step is invoked through (a resource policy is per qualifier)."""
    resources = template["Resources"]
    guarded = {}
    for logical, body in resources.items():
        if body["Type"] != "AWS::Lambda::ResourcePolicy":
            continue
        arn = body["Properties"]["ResourceArn"]
        resource = arn["Fn::GetAtt"][0] if "Fn::GetAtt" in arn else arn["Ref"]
        for statement in body["Properties"]["PolicyDocument"]["Statement"]:
            only_workflow = statement.get("Condition") == {
                "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["RollbackStateMachineRole", "Arn"]}}
            }
            if statement["Effect"] == "Deny" and statement["Action"] == "lambda:InvokeFunction" and only_workflow:
                guarded[resource] = logical
    aliases = [name for name, body in resources.items() if body["Type"] == "AWS::Lambda::Alias"]
    return [
        f"{step}Function can be invoked by anyone IAM allows"
        for step in WORKFLOW_STEPS
        if f"{step}Function" not in guarded
    ] + [f"{alias} can be invoked by anyone IAM allows" for alias in aliases if alias not in guarded]


def test_only_the_workflow_invokes_its_steps(translated: dict[str, Any]) -> None:
    assert invoke_violations(translated) == []


def test_a_step_anyone_may_invoke_is_caught(translated: dict[str, Any]) -> None:
    planted = copy.deepcopy(translated)
    del planted["Resources"]["RestoreInvokePolicy"]
    assert invoke_violations(planted) == ["RestoreFunction can be invoked by anyone IAM allows"]
    planted = copy.deepcopy(translated)
    del planted["Resources"]["TriageAliasInvokePolicy"]
    assert invoke_violations(planted) == ["TriageFunctionAliaslive can be invoked by anyone IAM allows"]
