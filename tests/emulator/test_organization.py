"""Several accounts and regions in one emulator, as AWS has them: clients in another account through STS, events
from a member's default bus to the hub's bus unchanged and only as the bus's policy admits, AssumeRole only as the
role's trust policy allows, CloudTrail in the account the call was made in. Assertions are on AWS state: what the
hub's workflow received, what a queue holds, an alias, the error AWS returns.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from rollbackctl import aws as aws_clients
from rollbackctl.emulator import InAccount as In
from rollbackctl.emulator import deploy, estate, sts, wait_for_execution
from rollbackctl.emulator.deployer import DeployError, Deployment, deploy_member
from tests.conftest import ACCOUNT, REGION, TEMPLATE
from tests.emulator.events import catch, received

MEMBER = "222222222222"
OUTSIDER = "444444444444"
WEST = "us-west-2"
TARGET_ROLE = f"arn:aws:iam::{MEMBER}:role/rollbackctl-target"


def executions(aws: Any, hub: Deployment, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The inputs of the hub's workflow executions, once ``count`` have started (each waited for to its end)."""
    sfn, deadline = aws.client("stepfunctions"), time.monotonic() + timeout
    while True:
        started = sfn.list_executions(stateMachineArn=hub.outputs["StateMachineArn"])["executions"]
        if len(started) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    inputs = []
    for execution in started:
        wait_for_execution(sfn, execution["executionArn"], timeout=60)
        inputs.append(json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"]))
    return inputs


def an_alarm_fires(there: In, name: str = "checkout-errors") -> dict[str, Any]:
    """An alarm goes to ALARM in that account and region; returns the event as its own default bus carried it."""
    url = catch(there, f"seen-{name}", {"source": ["aws.cloudwatch"]})
    estate.custom_alarm(there, name, "Checkout", "Errors")
    estate.fire(there, name)
    [event] = received(there, url, 1, timeout=5)
    return event


@pytest.fixture
def hub(aws: Any) -> Deployment:
    return deploy(aws, TEMPLATE, overrides={"MemberAccounts": MEMBER})


# ---- clients in other accounts and regions ---------------------------------------------------------------------


def test_a_client_acts_in_its_account_and_region(aws: Any) -> None:
    identity = aws.client("sts", MEMBER, WEST).get_caller_identity()
    assert identity["Account"] == MEMBER
    assert identity["Arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/OrganizationAccountAccessRole/emulator"
    aws.client("sqs", MEMBER, WEST).create_queue(QueueName="theirs")
    assert aws.client("sqs", MEMBER, WEST).list_queues()["QueueUrls"][0].endswith(f"/{MEMBER}/theirs")
    assert "QueueUrls" not in aws.client("sqs").list_queues()  # not in the emulator's own account
    assert "QueueUrls" not in aws.client("sqs", MEMBER).list_queues()  # nor in the member's other region
    assert aws.client("sqs", MEMBER, WEST) is aws.client("sqs", MEMBER, WEST)


# ---- the deployer, in another account and region -------------------------------------------------------------


def test_the_member_stack_deploys_with_the_hubs_outputs(aws: Any, hub: Deployment) -> None:
    home = deploy_member(aws, hub, MEMBER)  # the RoleRegion instance (us-east-1): it creates the account's role
    west = deploy_member(aws, hub, MEMBER, WEST)
    assert home.outputs == {"TargetRoleArn": TARGET_ROLE, "KillSwitchParameterName": "/rollbackctl/kill-switch"}
    assert west.outputs == {"KillSwitchParameterName": "/rollbackctl/kill-switch"}  # IAM is global: one role
    assert (west.account, west.region) == (MEMBER, WEST)
    assert home.parameters["HubRoleArns"] == hub.outputs["MemberTrustedRoleArns"]
    trust = aws.client("iam", MEMBER).get_role(RoleName="rollbackctl-target")["Role"]["AssumeRolePolicyDocument"]
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": hub.outputs["MemberTrustedRoleArns"].split(",")}
    }
    ssm = aws.client("ssm", MEMBER, WEST)
    assert ssm.get_parameter(Name="/rollbackctl/kill-switch")["Parameter"]["Value"] == "off"
    [rule] = aws.client("events", MEMBER, WEST).list_rules()["Rules"]
    [target] = aws.client("events", MEMBER, WEST).list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == hub.outputs["HubEventBusArn"] and target["RoleArn"].startswith(f"arn:aws:iam::{MEMBER}:")
    stacks = aws.client("cloudformation", MEMBER, WEST).describe_stacks()["Stacks"]
    assert [s["StackName"] for s in stacks] == ["rollbackctl-member"]


def test_the_member_stack_adds_nothing_in_the_hubs_own_account_and_region(aws: Any, hub: Deployment) -> None:
    itself = deploy_member(aws, hub, ACCOUNT)
    assert itself.outputs == {}
    assert [r["Name"] for r in aws.client("events").list_rules()["Rules"]] == ["rollbackctl-forward-to-bus"]


def test_the_hubs_bus_admits_exactly_its_members(aws: Any) -> None:
    alone = deploy(aws, TEMPLATE)
    assert "Policy" not in aws.client("events").describe_event_bus(Name="rollbackctl")
    assert alone.outputs["HubEventBusArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/rollbackctl"


def test_a_parameter_outside_its_pattern_is_refused(aws: Any, hub: Deployment) -> None:
    with pytest.raises(DeployError, match="HubAccountId='12345' must match pattern"):
        deploy_member(aws, hub, MEMBER, overrides={"HubAccountId": "12345"})


# ---- events across accounts and regions --------------------------------------------------------------------


def test_the_hub_receives_a_members_alarm_event_unchanged(aws: Any, hub: Deployment) -> None:
    deploy_member(aws, hub, MEMBER, WEST)
    sent = an_alarm_fires(In(aws, MEMBER, WEST))
    [delivered] = executions(aws, hub, 1)
    assert (delivered["account"], delivered["region"]) == (MEMBER, WEST)
    assert delivered["id"] == sent["id"]
    assert delivered["resources"] == [f"arn:aws:cloudwatch:{WEST}:{MEMBER}:alarm:checkout-errors"]
    assert delivered["detail"] == sent["detail"]


def test_the_hubs_own_events_take_the_members_path(aws: Any, hub: Deployment) -> None:
    sent = an_alarm_fires(In(aws, ACCOUNT, REGION))
    [delivered] = executions(aws, hub, 1)
    assert (delivered["account"], delivered["region"], delivered["id"]) == (ACCOUNT, REGION, sent["id"])


def test_the_hubs_own_account_in_another_region_needs_no_bus_policy(aws: Any, hub: Deployment) -> None:
    west = deploy_member(aws, hub, ACCOUNT, WEST)
    assert "TargetRoleArn" not in west.outputs  # the hub acts in its own account with its own roles
    an_alarm_fires(In(aws, ACCOUNT, WEST))
    [delivered] = executions(aws, hub, 1)
    assert (delivered["account"], delivered["region"]) == (ACCOUNT, WEST)


def test_an_account_the_bus_does_not_admit_never_arrives(aws: Any, hub: Deployment) -> None:
    outsider = deploy_member(aws, hub, OUTSIDER)
    an_alarm_fires(In(aws, OUTSIDER))
    assert executions(aws, hub, 1, timeout=1) == []
    sqs = aws.client("sqs", OUTSIDER)
    [url] = sqs.list_queues(QueueNamePrefix="rollbackctl-member-ForwardingDeadLetterQueue")["QueueUrls"]
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_PERMISSIONS"
    assert json.loads(message["Body"])["account"] == OUTSIDER
    assert outsider.account == OUTSIDER


def test_an_organizations_accounts_are_admitted_and_no_other(aws: Any) -> None:
    organizations = aws.client("organizations")
    org = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    created = organizations.create_account(Email="member@example.com", AccountName="member")
    insider = created["CreateAccountStatus"]["AccountId"]
    hub = deploy(aws, TEMPLATE, overrides={"OrganizationId": org})
    for account in (insider, OUTSIDER):
        deploy_member(aws, hub, account)
        an_alarm_fires(In(aws, account), name=f"errors-{account}")
    assert [e["account"] for e in executions(aws, hub, 2, timeout=2)] == [insider]


def test_an_event_from_another_bus_goes_no_further_bus(aws: Any, hub: Deployment) -> None:
    """EventBridge User Guide: "EventBridge can't route events received from a sender event bus to a third event
    bus"."""
    events = aws.client("events")
    events.create_event_bus(Name="third")
    events.put_rule(Name="onwards", EventBusName="rollbackctl", EventPattern=json.dumps({"source": ["aws.cloudwatch"]}))
    third = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/third"
    events.put_targets(Rule="onwards", EventBusName="rollbackctl", Targets=[{"Id": "third", "Arn": third}])
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="on-third")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="catch", EventBusName="third", EventPattern=json.dumps({"source": ["aws.cloudwatch"]}))
    events.put_targets(Rule="catch", EventBusName="third", Targets=[{"Id": "q", "Arn": arn}])
    an_alarm_fires(In(aws, ACCOUNT))
    assert len(executions(aws, hub, 1)) == 1  # it reached the hub's bus (one hop)
    assert received(aws, url, 1, timeout=0.5) == []  # and no further


# ---- STS: who may assume rollbackctl-target ---------------------------------------------------------------------

HANDLER = textwrap.dedent(
    '''
    import boto3

    def handler(event, context):
        """Act in the member account the way the hub does: its role, the incident as the session name."""
        sts = boto3.client("sts")
        try:
            session = sts.assume_role(RoleArn=event["role"], RoleSessionName=event["session"])["Credentials"]
        except Exception as exc:
            return {"error": exc.response["Error"]}
        there = boto3.client(
            "lambda",
            region_name=event["region"],
            aws_access_key_id=session["AccessKeyId"],
            aws_secret_access_key=session["SecretAccessKey"],
            aws_session_token=session["SessionToken"],
        )
        there.update_alias(FunctionName="checkout", Name="live", FunctionVersion="1", RoutingConfig={})
        return {"caller": sts.get_caller_identity()["Arn"]}
    '''
)


def in_process(aws: Any, tmp_path: Path, name: str, role_arn: str, event: dict[str, Any]) -> dict[str, Any]:
    """A function with this execution role, its handler run in process by the emulator's Lambda runtime."""
    (tmp_path / "app.py").write_text(HANDLER)
    aws.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="app.handler", Code={"ZipFile": b"x"}
    )
    aws.runtime.register(name, tmp_path)
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    result: dict[str, Any] = json.loads(response["Payload"].read())
    return result


def hub_role(aws: Any, hub: Deployment, function: str) -> str:
    return str(aws.client("lambda").get_function(FunctionName=hub.functions[function])["Configuration"]["Role"])


def test_the_hubs_restore_role_acts_in_the_member_and_its_trail_names_the_incident(
    aws: Any, hub: Deployment, tmp_path: Path
) -> None:
    deploy_member(aws, hub, MEMBER)
    member = In(aws, MEMBER, WEST)
    estate.lambda_with_versions(member, "checkout", 2)
    estate.alias(member, "checkout", "live", "1", canary=("2", 0.1))
    trail = catch(member, "trail", {"detail-type": ["AWS API Call via CloudTrail"]})
    event = {"role": TARGET_ROLE, "session": "inc-20260101T000000-0123abcd", "region": WEST}
    result = in_process(aws, tmp_path, "acts-as-restore", hub_role(aws, hub, "RestoreFunction"), event)

    assert result == {"caller": f"arn:aws:sts::{ACCOUNT}:assumed-role/rollbackctl-RestoreFunctionRole/acts-as-restore"}
    alias = member.client("lambda").get_alias(FunctionName="checkout", Name="live")
    assert (alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")) == ("1", None)
    [call] = [e for e in received(member, trail, 3, timeout=2) if e["detail"]["eventName"] == "UpdateAlias20150331"]
    assert (call["detail"]["recipientAccountId"], call["region"]) == (MEMBER, WEST)  # on the member's own bus
    who = call["detail"]["userIdentity"]
    assert who["type"] == "AssumedRole" and who["accountId"] == MEMBER
    assert who["arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/rollbackctl-target/inc-20260101T000000-0123abcd"
    assert who["sessionContext"]["sessionIssuer"]["arn"] == TARGET_ROLE


def restore_clients(aws: Any, hub: Deployment) -> aws_clients.Clients:
    """The clients of the hub's Restore function, signed as its execution role's session."""
    restore = sts.assume_as_service("lambda.amazonaws.com", hub_role(aws, hub, "RestoreFunction"), "restore", REGION)
    assert restore is not None
    return aws_clients.Clients(
        boto3.session.Session(
            aws_access_key_id=restore.access_key_id,
            aws_secret_access_key=restore.secret_access_key,
            aws_session_token=restore.session_token,
            region_name=REGION,
        )
    )


def test_an_incidents_calls_in_a_member_assume_its_role_once(aws: Any, hub: Deployment) -> None:
    """One AssumeRole per incident, however many calls it makes: a 15-minute session is not refreshed on every
    call (botocore's default refresh window is 15 minutes before expiry, which such a session is in from the start,
    so each call would first call STS again)."""
    deploy_member(aws, hub, MEMBER)
    member = In(aws, MEMBER, WEST)
    estate.lambda_with_versions(member, "checkout", 2)
    estate.alias(member, "checkout", "live", "1")
    there = restore_clients(aws, hub).acting_in(MEMBER, WEST, "inc-once", TARGET_ROLE).lambda_
    for _ in range(5):
        assert there.get_alias(FunctionName="checkout", Name="live")["FunctionVersion"] == "1"
    sessions = [
        arn for arn in sts.sessions(MEMBER, "rollbackctl-target") if arn.endswith("/rollbackctl-target/inc-once")
    ]
    assert len(sessions) == 1, sessions


def test_two_incidents_in_one_member_each_sign_with_their_own_session(aws: Any, hub: Deployment) -> None:
    """The hub's clients for a member are built once per account and region; each incident's calls still sign with
    its own role session, interleaved or not, so the member's trail names the incident that made each change."""
    deploy_member(aws, hub, MEMBER)
    member = In(aws, MEMBER, WEST)
    estate.lambda_with_versions(member, "checkout", 2)
    estate.alias(member, "checkout", "live", "1")
    trail = catch(member, "trail", {"detail-type": ["AWS API Call via CloudTrail"]})
    hub_clients = restore_clients(aws, hub)
    first = hub_clients.acting_in(MEMBER, WEST, "inc-first", TARGET_ROLE).lambda_
    second = hub_clients.acting_in(MEMBER, WEST, "inc-second", TARGET_ROLE).lambda_
    for there, version in ((first, "2"), (second, "1"), (first, "2")):
        there.update_alias(FunctionName="checkout", Name="live", FunctionVersion=version)
    calls = [e for e in received(member, trail, 6, timeout=2) if e["detail"]["eventName"] == "UpdateAlias20150331"]
    assert [call["detail"]["userIdentity"]["arn"].rsplit("/", 1)[-1] for call in calls] == [
        "inc-first",
        "inc-second",
        "inc-first",
    ]


def test_another_role_of_the_hub_account_may_not(aws: Any, hub: Deployment, tmp_path: Path) -> None:
    deploy_member(aws, hub, MEMBER)
    notify = hub_role(aws, hub, "NotifyFunction")  # a hub role, not one of MemberTrustedRoleArns
    event = {"role": TARGET_ROLE, "session": "inc-1", "region": REGION}
    result = in_process(aws, tmp_path, "acts-as-notify", notify, event)
    assert result["error"] == {
        "Type": "Sender",
        "Code": "AccessDenied",
        "Message": f"User: arn:aws:sts::{ACCOUNT}:assumed-role/rollbackctl-NotifyFunctionRole/acts-as-notify is not "
        f"authorized to perform: sts:AssumeRole on resource: {TARGET_ROLE}",
    }


def test_a_non_member_has_no_role_to_assume(aws: Any, hub: Deployment, tmp_path: Path) -> None:
    role = f"arn:aws:iam::{OUTSIDER}:role/rollbackctl-target"
    result = in_process(
        aws,
        tmp_path,
        "to-outsider",
        hub_role(aws, hub, "RestoreFunction"),
        {"role": role, "session": "inc-1", "region": REGION},
    )
    assert result["error"]["Code"] == "AccessDenied" and result["error"]["Message"].endswith(f"on resource: {role}")


def test_the_hub_account_itself_may_not_assume_the_member_role(aws: Any, hub: Deployment) -> None:
    """The trust names the hub account's root, narrowed to the hub's function roles: the account's other principals
    (here the emulator's own credentials, the account's root user) are refused."""
    deploy_member(aws, hub, MEMBER)
    with pytest.raises(ClientError) as refused:
        aws.client("sts").assume_role(RoleArn=TARGET_ROLE, RoleSessionName="me")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"User: arn:aws:iam::{ACCOUNT}:root is not authorized" in refused.value.response["Error"]["Message"]


def test_a_function_role_the_lambda_service_is_not_trusted_by_cannot_run(aws: Any, tmp_path: Path) -> None:
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="not-for-lambda", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    result = in_process(aws, tmp_path, "untrusted", role, {})
    assert result["errorType"] == "PermissionError"
    assert "cannot be assumed by Lambda" in result["errorMessage"]
