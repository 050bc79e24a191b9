"""boto3 clients: created once per container, injectable in tests, retry mode set explicitly."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
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


def client(
    service: str,
    session: boto3.session.Session | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Any:
    return (session or boto3.session.Session()).client(
        service, config=BOTO_CONFIG, region_name=region, endpoint_url=endpoint_url
    )


# attribute -> boto3 service name
SERVICES = {
    "lambda_": "lambda",
    "cloudwatch": "cloudwatch",
    "dynamodb": "dynamodb",
    "sns": "sns",
    "ssm": "ssm",
    "ecs": "ecs",
    "codedeploy": "codedeploy",
    "codepipeline": "codepipeline",
    "elbv2": "elbv2",
    "codebuild": "codebuild",
    "secretsmanager": "secretsmanager",
    "ecr": "ecr",
    "elasticbeanstalk": "elasticbeanstalk",
    "cloudformation": "cloudformation",
    "s3": "s3",
}


class Clients:
    """The AWS APIs the domain calls. Each client is created once per container, on first use (a function
    builds only the few it calls, which keeps its cold start short); tests pass their own."""

    def __init__(self, session: boto3.session.Session | None = None, **given: Any) -> None:
        unknown = set(given) - set(SERVICES)
        if unknown:
            raise TypeError(f"unknown client(s): {', '.join(sorted(unknown))}")
        self._clients: dict[str, Any] = dict(given)
        self._lock = threading.Lock()  # boto3 sessions are not safe to build clients from concurrently
        # What the environment says now (at cold start) is what every client gets later: the region, the
        # credentials (resolved here and kept by the session) and an endpoint override (the emulator).
        self._session = session or boto3.session.Session()
        self._session.get_credentials()
        self._region = self._session.region_name
        self._endpoint_url = os.environ.get("AWS_ENDPOINT_URL") or None

    @classmethod
    def create(cls, session: boto3.session.Session | None = None) -> Clients:
        return cls(session)

    def __getattr__(self, name: str) -> Any:
        if name not in SERVICES:
            raise AttributeError(name)
        with self._lock:
            if name not in self._clients:
                self._clients[name] = client(SERVICES[name], self._session, self._region, self._endpoint_url)
            return self._clients[name]


# What an AWS call can raise: catch these, never bare Exception, so a bug is never recorded as an AWS outcome.
AWS_ERRORS = (ClientError, BotoCoreError)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def wait_for_execution(
    sfn: Any,
    execution_arn: str,
    timeout: float = 60.0,
    until: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Poll DescribeExecution until the execution leaves RUNNING (or ``until`` says a running one is far enough)."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or (until is not None and until(described)):
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
