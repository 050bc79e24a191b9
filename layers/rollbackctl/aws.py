"""boto3 clients: created once per container, injectable in tests, retry mode set explicitly."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# Standard mode retries throttling and transient errors with backoff and jitter. Timeouts are short:
# the controller is on the critical path of an incident and a hung call must not eat the budget.
BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=10,
)


def client(service: str, session: boto3.session.Session | None = None) -> Any:
    return (session or boto3.session.Session()).client(service, config=BOTO_CONFIG)


@dataclass
class Clients:
    """The AWS APIs the domain calls. Functions build one at cold start; tests pass their own."""

    lambda_: Any
    cloudwatch: Any
    dynamodb: Any
    sns: Any
    ssm: Any
    ecs: Any
    codedeploy: Any
    codepipeline: Any
    elbv2: Any
    codebuild: Any
    secretsmanager: Any

    @classmethod
    def create(cls, session: boto3.session.Session | None = None) -> Clients:
        session = session or boto3.session.Session()
        return cls(
            lambda_=client("lambda", session),
            cloudwatch=client("cloudwatch", session),
            dynamodb=client("dynamodb", session),
            sns=client("sns", session),
            ssm=client("ssm", session),
            ecs=client("ecs", session),
            codedeploy=client("codedeploy", session),
            codepipeline=client("codepipeline", session),
            elbv2=client("elbv2", session),
            codebuild=client("codebuild", session),
            secretsmanager=client("secretsmanager", session),
        )


# What an AWS call can raise: catch these, never bare Exception, so a bug is never recorded as an AWS outcome.
AWS_ERRORS = (ClientError, BotoCoreError)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll DescribeExecution until the execution leaves RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout:.0f}s")
        time.sleep(0.02)


def recorded_before_bake(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """The incident as the notify step recorded it, once the execution waits in its verify bake; else None."""
    events = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=50)["events"]
    if not any((e.get("stateEnteredEventDetails") or {}).get("name") == "Bake" for e in events):
        return None
    for event in events:  # newest first: the notify step's output is the record
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "RecordAndNotify":
            record: dict[str, Any] = json.loads(details["output"])
            return record
    return None
