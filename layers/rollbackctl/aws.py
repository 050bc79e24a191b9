"""boto3 clients: created once per container, injectable in tests, retry mode set explicitly."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
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
    "sts": "sts",
    "stepfunctions": "stepfunctions",
    # the member's own SSM (its kill switch), where the target is; ``ssm`` is always the hub's
    "member_ssm": "ssm",
}
# What stays the hub's when the clients act in a member account: the controller's own state (tables, topics, its
# kill switch, the Slack secret) and STS, which assumes the member's role.
HUB_SERVICES = frozenset({"dynamodb", "sns", "secretsmanager", "ssm", "sts", "stepfunctions"})
# Assumed-role credentials live this long (STS's minimum); botocore refreshes them before they expire.
ROLE_SESSION_SECONDS = 900
SCOPED_CACHE_SIZE = 32  # member clients kept per container (one per account, region and incident)


class Clients:
    """The AWS APIs the domain calls. Each client is created once per container, on first use (a function
    builds only the few it calls, which keeps its cold start short); tests pass their own."""

    def __init__(
        self,
        session: boto3.session.Session | None = None,
        *,
        hub: Clients | None = None,
        region: str | None = None,
        **given: Any,
    ) -> None:
        unknown = set(given) - set(SERVICES)
        if unknown:
            raise TypeError(f"unknown client(s): {', '.join(sorted(unknown))}")
        self._clients: dict[str, Any] = dict(given)
        self._lock = threading.Lock()  # boto3 sessions are not safe to build clients from concurrently
        # What the environment says now (at cold start) is what every client gets later: the region, the
        # credentials (resolved here and kept by the session) and an endpoint override (the emulator).
        self._session = session or boto3.session.Session()
        self._session.get_credentials()
        self._region = region or self._session.region_name
        self._hub = hub
        self._endpoint_url: str | None = (
            hub._endpoint_url if hub is not None else os.environ.get("AWS_ENDPOINT_URL") or None
        )
        self._scoped: dict[tuple[str, str, str], Clients] = {}
        self.cache: dict[str, Any] = {}  # what a caller keeps for as long as these clients live (a kill switch)
        self.where = ""  # where scoped clients act, in words ("account A in R")

    @classmethod
    def create(cls, session: boto3.session.Session | None = None) -> Clients:
        return cls(session)

    @property
    def region(self) -> str:
        return str(self._region or "")

    @property
    def in_member(self) -> bool:
        """Whether these clients act somewhere other than the hub's own account and region."""
        return self._hub is not None

    def acting_in(self, account: str, region: str, session_name: str, role_arn: str | None) -> Clients:
        """Clients that act in ``account`` and ``region``: through ``role_arn`` (assumed with ``session_name``, so
        that the member's CloudTrail names the incident), or with the hub's own credentials in another region of the
        hub's account (``role_arn`` None). The controller's own services stay the hub's. Kept per account, region and
        session until the container goes; the credentials refresh themselves before they expire."""
        if self._hub is not None:
            return self._hub.acting_in(account, region, session_name, role_arn)
        key = (account, region, session_name if role_arn else "")
        with self._lock:
            scoped = self._scoped.get(key)
        if scoped is not None:
            return scoped
        session = self._session if role_arn is None else self._assumed_session(role_arn, session_name)
        scoped = Clients(session, hub=self, region=region)
        scoped.where = f"account {account} in {region}"
        with self._lock:
            while len(self._scoped) >= SCOPED_CACHE_SIZE:
                self._scoped.pop(next(iter(self._scoped)))
            return self._scoped.setdefault(key, scoped)

    def _assumed_session(self, role_arn: str, session_name: str) -> boto3.session.Session:
        sts = self.sts

        def fetch() -> dict[str, str]:
            credentials = sts.assume_role(
                RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=ROLE_SESSION_SECONDS
            )["Credentials"]
            return {
                "access_key": credentials["AccessKeyId"],
                "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"],
                "expiry_time": credentials["Expiration"].isoformat(),
            }

        # botocore's own refreshing credentials (what an assume-role profile uses): refreshed before they expire.
        refreshable = RefreshableCredentials.create_from_metadata(fetch(), fetch, "sts-assume-role")
        core = botocore.session.Session()
        core.register_component("data_loader", self._session._session.get_component("data_loader"))
        core._credentials = refreshable  # a botocore session's credentials, set as boto3's own providers do
        return boto3.session.Session(botocore_session=core)

    def __getattr__(self, name: str) -> Any:
        if name not in SERVICES or name.startswith("_"):
            raise AttributeError(name)
        if self._hub is not None and name in HUB_SERVICES:
            return getattr(self._hub, name)
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
