"""The CLI as a user runs it: `local-aws --deploy` in one process, plain boto3 and `rollbackctl run` in
others, exactly as the README describes."""

from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import EVENTS, ROOT

ROLLBACKCTL = [sys.executable, "-m", "rollbackctl.cli"]


def free_port() -> int:
    from rollbackctl.emulator import free_port as pick

    return pick()


def cli_env(endpoint: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def rollbackctl(*args: str, endpoint: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROLLBACKCTL, *args],
        cwd=ROOT,
        env=cli_env(endpoint),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


BAKE = 2
RESTORE_TIMEOUT = 1700
MEMBER, MEMBER_WEST = "222222222222", "333333333333"


@pytest.fixture(scope="module")
def local_aws() -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    process = subprocess.Popen(
        # a short verify bake, honoured in real seconds (as AWS would)
        [
            *ROLLBACKCTL,
            "local-aws",
            "--port",
            str(port),
            "--deploy",
            # as sam deploy takes them: several after one flag
            "--parameter-overrides",
            f"VerifyBakeSeconds={BAKE}",
            f"RestoreTimeoutSeconds={RESTORE_TIMEOUT}",
            # two members, one in another region: the hub serves them, and their stacks are deployed
            "--member",
            MEMBER,
            "--member",
            f"{MEMBER_WEST}/us-west-2",
        ],
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        first = lines.get(timeout=90)
    except queue.Empty:
        process.kill()
        pytest.fail(f"local-aws printed no Outputs line: {process.stderr.read() if process.stderr else ''}")
    outputs = json.loads(first)
    try:
        yield f"http://127.0.0.1:{port}", outputs
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def member_client(endpoint: str, service: str, account: str = MEMBER, region: str = "us-east-1") -> Any:
    """A client acting in a member account, through its OrganizationAccountAccessRole (as an administrator of an
    organization reaches a member account)."""
    credentials = client(endpoint, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="test"
    )["Credentials"]
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def code(n: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(e, c):\n    return {n}\n")
    return buffer.getvalue()


def function_mid_canary(endpoint: str, name: str, make: Callable[[str, str], Any] | None = None) -> None:
    """What a user's deployment leaves behind: two versions, the alias sending 10% to the new one (with ``make``'s
    clients: another account's)."""
    make = make or client
    lam, iam = make(endpoint, "lambda"), make(endpoint, "iam")
    role = iam.create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
                ],
            }
        ),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": code(1)}
    )
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=code(2))
    lam.publish_version(FunctionName=name)
    lam.create_alias(
        FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )


def fresh_canary(endpoint: str, name: str) -> tuple[str, str]:
    """Put a new canary on NAME:live (creating the function if this is the first test to use it)."""
    lam = client(endpoint, "lambda")
    try:
        stable = lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"]
    except lam.exceptions.ResourceNotFoundException:
        function_mid_canary(endpoint, name)
        return "1", "2"
    lam.update_function_code(FunctionName=name, ZipFile=code(int(time.time())))
    canary = lam.publish_version(FunctionName=name)["Version"]
    lam.update_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion=stable,
        RoutingConfig={"AdditionalVersionWeights": {canary: 0.2}},
    )
    return stable, canary


def subscribe(endpoint: str, topic: str, name: str) -> str:
    sqs = client(endpoint, "sqs")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client(endpoint, "sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return url


def errors_alarm(cw: Any, function: str) -> None:
    """FUNCTION-live-errors: the Errors alarm of FUNCTION:live, by its dimensions."""
    cw.put_metric_alarm(
        AlarmName=f"{function}-live-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[{"Name": "FunctionName", "Value": function}, {"Name": "Resource", "Value": f"{function}:live"}],
    )


def eventually(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {check.__doc__ or check}")
        time.sleep(0.1)


def restored(endpoint: str, name: str) -> Callable[[], bool]:
    def check() -> bool:
        """alias back on version 1 with no canary routing"""
        alias = client(endpoint, "lambda").get_alias(FunctionName=name, Name="live")
        return alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get(
            "AdditionalVersionWeights"
        )

    return check


def messages(endpoint: str, url: str) -> Callable[[], list[dict[str, Any]]]:
    def check() -> list[dict[str, Any]]:
        """a message reached the subscribed queue"""
        got = client(endpoint, "sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    return check


def test_parameter_overrides_are_taken_as_sam_deploy_takes_them(local_aws: tuple[str, dict[str, str]]) -> None:
    endpoint, _ = local_aws
    variables = client(endpoint, "lambda").get_function_configuration(FunctionName="rollbackctl-restore")[
        "Environment"
    ]["Variables"]
    assert variables["RESTORE_TIMEOUT_SECONDS"] == str(RESTORE_TIMEOUT)
    verify = client(endpoint, "lambda").get_function_configuration(FunctionName="rollbackctl-notify")
    assert verify["Environment"]["Variables"]["VERIFY_BAKE_SECONDS"] == str(BAKE)


def test_alarm_by_dimensions_from_another_process(local_aws: tuple[str, dict[str, str]]) -> None:
    endpoint, outputs = local_aws
    assert {"NotificationTopicArn", "StateMachineArn", "IncidentTableName"} <= set(outputs)
    function_mid_canary(endpoint, "checkout")
    url = subscribe(endpoint, outputs["NotificationTopicArn"], "oncall-dimensions")
    cw = client(endpoint, "cloudwatch")
    errors_alarm(cw, "checkout")
    fired = time.monotonic()
    cw.set_alarm_state(AlarmName="checkout-live-errors", StateValue="ALARM", StateReason="Threshold Crossed")
    eventually(restored(endpoint, "checkout"))
    print(f"alarm -> alias restored, over HTTP: {1000 * (time.monotonic() - fired):.0f} ms")
    [message] = eventually(messages(endpoint, url))
    notified = time.monotonic()
    assert "ROLLED BACK: checkout:live 2 -> 1" in message["Subject"]
    assert "checkout-live-errors" in message["Message"]
    # the service heals during the bake: after VerifyBakeSeconds of real time, the "recovered" follow-up
    cw.set_alarm_state(AlarmName="checkout-live-errors", StateValue="OK", StateReason="Threshold Crossed: back")
    [follow_up] = eventually(messages(endpoint, url), seconds=BAKE + 15)
    assert time.monotonic() - notified >= BAKE - 0.5  # the bake ran in real seconds, not on a fast clock
    assert follow_up["MessageAttributes"]["kind"]["Value"] == "recovered"
    assert "RECOVERED: checkout:live" in follow_up["Subject"]


def test_tagged_custom_metric_alarm_from_another_process(local_aws: tuple[str, dict[str, str]]) -> None:
    endpoint, outputs = local_aws
    function_mid_canary(endpoint, "payments")
    url = subscribe(endpoint, outputs["NotificationTopicArn"], "oncall-tagged")
    cw = client(endpoint, "cloudwatch")
    cw.put_metric_alarm(
        AlarmName="payments-p99-latency",
        Namespace="Shop/Payments",
        MetricName="LatencyP99",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1500,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": "rollback:target", "Value": "arn:aws:lambda:us-east-1:123456789012:function:payments:live"}],
    )
    cw.set_alarm_state(AlarmName="payments-p99-latency", StateValue="ALARM", StateReason="Threshold Crossed")
    eventually(restored(endpoint, "payments"))
    [message] = eventually(messages(endpoint, url))
    assert "payments:live 2 -> 1" in message["Subject"]
    # the alarm stays red through the bake: an escalation, severity critical
    [escalation] = eventually(messages(endpoint, url), seconds=BAKE + 15)
    assert escalation["MessageAttributes"]["severity"]["Value"] == "critical"
    assert "STILL ALARMING: payments:live" in escalation["Subject"]


def test_run_sends_the_event_file_through_the_deployed_controller(
    local_aws: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    endpoint, _ = local_aws
    stable, canary = fresh_canary(endpoint, "checkout")  # the function the event file's alarm guards
    # the sample event, as if the alarm had just fired (an older one would predate the earlier restore)
    event = json.loads((EVENTS / "alarm-lambda-alias-dimensions.json").read_text())
    event["detail"]["state"]["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
    fresh = tmp_path / "alarm.json"
    fresh.write_text(json.dumps(event))
    result = rollbackctl("run", str(fresh), "--json", endpoint=endpoint)
    assert result.returncode == 0, result.stderr
    incident = json.loads(result.stdout)
    assert incident["action"] == "rolled_back"
    assert (incident["from_version"], incident["to_version"]) == (canary, stable)
    assert incident["trigger"]["name"] == "checkout-live-errors"
    assert restored(endpoint, "checkout")()

    human = rollbackctl("run", str(EVENTS / "alarm-ok.json"), endpoint=endpoint)
    assert human.returncode == 0, human.stderr
    assert "ignored" in human.stdout

    listed = rollbackctl("history", "--json", endpoint=endpoint)
    assert listed.returncode == 0, listed.stderr
    history = json.loads(listed.stdout)
    assert [i["action"] for i in history][:2] == ["ignored", "rolled_back"]

    # the same file again: the execution is named after the event, so this is the same execution
    again = rollbackctl("run", str(fresh), "--json", endpoint=endpoint)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["incident_id"] == incident["incident_id"]
    # the same alarm re-delivered with a new event id: a duplicate of the incident, nothing done twice
    event["id"] = "another-delivery"
    fresh.write_text(json.dumps(event))
    duplicate = rollbackctl("run", str(fresh), endpoint=endpoint)
    assert duplicate.returncode == 0, duplicate.stderr
    assert "duplicate" in duplicate.stdout
    assert history[0]["started_at"] >= history[1]["started_at"]


def test_diagnose_works_against_local_aws_from_another_shell(local_aws: tuple[str, dict[str, str]]) -> None:
    endpoint, _ = local_aws
    iam = client(endpoint, "iam")
    role = iam.create_role(
        RoleName="pipeline-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "codepipeline.amazonaws.com"},
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    cp = client(endpoint, "codepipeline")
    cp.create_pipeline(
        pipeline={
            "name": "shell-pipeline",
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                            "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"},
                            "outputArtifacts": [{"name": "src"}],
                        }
                    ],
                },
                {
                    "name": "Deploy",
                    "actions": [
                        {
                            "name": "Deploy",
                            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "ECS", "version": "1"},
                            "inputArtifacts": [{"name": "src"}],
                        }
                    ],
                },
            ],
        }
    )
    cp.start_pipeline_execution(name="shell-pipeline")
    result = rollbackctl("diagnose", "--pipeline", "shell-pipeline", "--json", endpoint=endpoint)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["trigger"]["name"] == "shell-pipeline"
    assert answer["diagnosis"]["category"] == "unclassified"  # nothing has failed yet: no evidence to explain


@pytest.mark.parametrize("content, message", [(None, "no such file"), ("{not json", "invalid JSON")])
def test_run_with_a_bad_event_file_prints_one_line_and_exits_2(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "event.json"
    if content is not None:
        path.write_text(content)
    result = rollbackctl("run", str(path), endpoint="http://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_invoke_runs_one_handler_without_docker() -> None:
    result = rollbackctl("invoke", "triage", str(EVENTS / "alarm-insufficient-data.json"))
    assert result.returncode == 0, result.stderr
    incident = json.loads(result.stdout)
    assert incident["decision"] == "ignore"
    assert "INSUFFICIENT_DATA" in incident["reason"]


def test_invoke_names_the_functions_when_given_an_unknown_one() -> None:
    result = rollbackctl("invoke", "rollback", str(EVENTS / "alarm-ok.json"))
    assert result.returncode == 2
    assert "contain, diagnose, gate, notify, restore, slack_actions, track, triage, verify" in result.stderr


def test_members_get_their_stack_and_an_alarm_there_goes_back_there(local_aws: tuple[str, dict[str, str]]) -> None:
    """local-aws --deploy --member: the member stack in each (its kill switch, the role the hub acts through), and an
    alarm in a member is forwarded to the hub, which puts the member's alias back in the member's own account."""
    endpoint, _ = local_aws
    west = member_client(endpoint, "ssm", MEMBER_WEST, "us-west-2")
    assert west.get_parameter(Name="/rollbackctl/kill-switch")["Parameter"]["Value"] == "off"
    assert (
        member_client(endpoint, "iam")
        .get_role(RoleName="rollbackctl-target")["Role"]["Arn"]
        .startswith(f"arn:aws:iam::{MEMBER}:role/")
    )
    function_mid_canary(endpoint, "orders", member_client)
    lam, cw = member_client(endpoint, "lambda"), member_client(endpoint, "cloudwatch")
    errors_alarm(cw, "orders")
    cw.set_alarm_state(AlarmName="orders-live-errors", StateValue="ALARM", StateReason="Threshold Crossed")

    def back() -> bool:
        """the member's alias back on version 1 with no canary routing"""
        alias = lam.get_alias(FunctionName="orders", Name="live")
        return alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get(
            "AdditionalVersionWeights"
        )

    eventually(back)
    listed = rollbackctl("history", "--json", "--account", MEMBER, endpoint=endpoint)
    assert listed.returncode == 0, listed.stderr
    [incident] = [i for i in json.loads(listed.stdout) if i["trigger"]["name"] == "orders-live-errors"]
    assert incident["target"] == f"arn:aws:lambda:us-east-1:{MEMBER}:function:orders:live"
    assert incident["action"] == "rolled_back"
    others = rollbackctl("history", "--json", "--account", MEMBER_WEST, endpoint=endpoint)
    assert all(i["trigger"]["account"] == MEMBER_WEST for i in json.loads(others.stdout))


@pytest.mark.parametrize(
    "args, says",
    [
        (["local-aws", "--member", "12"], "the account must be 12 digits"),
        (["local-aws", "--member", "222222222222/mars"], "is not a region name"),
        (["local-aws", "--member", "222222222222"], "--member needs --deploy"),
        (["history", "--account", "abc"], "--account must be a 12-digit account id"),
    ],
)
def test_bad_organization_options_say_so_in_one_line(args: list[str], says: str) -> None:
    result = rollbackctl(*args, timeout=60)
    assert result.returncode == 2
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
