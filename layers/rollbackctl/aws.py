"""boto3 clients: created once per container, injectable in tests, retry mode set explicitly."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

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
# Assumed-role credentials live this long (STS's minimum). botocore refreshes them this long before they expire:
# its defaults (15 min advisory, 10 min mandatory) are for hour-long sessions and would call AssumeRole again on
# every call made with a 15-minute one.
ROLE_SESSION_SECONDS = 900
ROLE_REFRESH_ADVISORY_SECONDS = 5 * 60
ROLE_REFRESH_MANDATORY_SECONDS = 2 * 60
SCOPED_CACHE_SIZE = 32  # member clients kept per container (one per account and region; one per incident)


class _SigningAs(Credentials):  # type: ignore[misc]  # botocore has no type hints
    """The credentials of the incident whose call is being signed on this thread.

    A member account's clients are built once per container for each account and region (building a botocore session
    and its clients costs far more than the AssumeRole itself); each incident has its own role session, named after
    it. A call made through an incident's clients signs with that incident's session (``using``), and a call made
    outside one has no credentials at all: botocore raises NoCredentialsError and nothing is sent."""

    method = "sts-assume-role"

    def __init__(self) -> None:  # no static keys: every read goes to the incident's own session
        self._local = threading.local()

    @contextmanager
    def using(self, credentials: Credentials) -> Iterator[None]:
        before = getattr(self._local, "credentials", None)
        self._local.credentials = credentials
        try:
            yield
        finally:
            self._local.credentials = before

    def _current(self) -> Credentials:
        credentials: Credentials | None = getattr(self._local, "credentials", None)
        if credentials is None:
            raise NoCredentialsError()
        return credentials

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        return self._current().get_frozen_credentials()

    @property  # type: ignore[override]
    def access_key(self) -> str:
        return str(self._current().access_key)

    @property  # type: ignore[override]
    def secret_key(self) -> str:
        return str(self._current().secret_key)

    @property  # type: ignore[override]
    def token(self) -> str | None:
        token: str | None = self._current().token
        return token


class _SignedAs:
    """A member client as one incident sees it: every call (and every page of a paginator) signs with the
    incident's own role session."""

    def __init__(self, client: Any, signing: _SigningAs, credentials: Credentials) -> None:
        self._client = client
        self._signing = signing
        self._credentials = credentials

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name == "get_paginator":
            return lambda operation: _SignedPaginator(attribute(operation), self._signing, self._credentials)
        if name == "get_waiter":
            return lambda waiter: _SignedAs(attribute(waiter), self._signing, self._credentials)
        if not callable(attribute) or name.startswith("_") or name in ("exceptions", "meta"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._signing.using(self._credentials):
                return attribute(*args, **kwargs)

        return call


class _SignedPaginator:
    def __init__(self, paginator: Any, signing: _SigningAs, credentials: Credentials) -> None:
        self._paginator = paginator
        self._signing = signing
        self._credentials = credentials

    def paginate(self, **kwargs: Any) -> Iterator[Any]:
        pages = iter(self._paginator.paginate(**kwargs))
        while True:
            with self._signing.using(self._credentials):
                page = next(pages, None)
            if page is None:
                return
            yield page


class Clients:
    """The AWS APIs the domain calls. Each client is created once per container, on first use (a function
    builds only the few it calls, which keeps its cold start short); tests pass their own."""

    def __init__(
        self,
        session: boto3.session.Session | None = None,
        *,
        hub: Clients | None = None,
        region: str | None = None,
        signed: tuple[Clients, _SigningAs, Credentials] | None = None,
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
        # a member's clients (shared by its incidents in one account and region), and this incident's own session
        self._signed = signed
        self._endpoint_url: str | None = (
            hub._endpoint_url if hub is not None else os.environ.get("AWS_ENDPOINT_URL") or None
        )
        self._scoped: dict[tuple[str, str, str], Clients] = {}
        self._members: dict[tuple[str, str], tuple[Clients, _SigningAs]] = {}
        self.cache: dict[str, Any] = {}  # what a caller keeps for as long as these clients live (a kill switch)
        self.where = ""  # where scoped clients act, in words ("account A in R")

    @classmethod
    def create(cls, session: boto3.session.Session | None = None) -> Clients:
        return cls(session)

    @property
    def region(self) -> str:
        return str(self._region or "")

    @property
    def shared(self) -> Clients:
        """The clients these share with other incidents in the same account and region (themselves when they act
        for no incident in particular): for what a library keeps across invocations, such as a cache, whose calls
        then sign under ``signing()``."""
        return self._signed[0] if self._signed is not None else self

    def signing(self) -> AbstractContextManager[None]:
        """Calls made through the shared clients inside this block sign as these clients' own session."""
        if self._signed is None:
            return nullcontext()
        _, signing, credentials = self._signed
        return signing.using(credentials)

    @property
    def in_member(self) -> bool:
        """Whether these clients act somewhere other than the hub's own account and region."""
        return self._hub is not None

    def acting_in(self, account: str, region: str, session_name: str, role_arn: str | None) -> Clients:
        """Clients that act in ``account`` and ``region``: through ``role_arn`` (assumed with ``session_name``, so
        that the member's CloudTrail names the incident), or with the hub's own credentials in another region of the
        hub's account (``role_arn`` None). The controller's own services stay the hub's. Kept per account, region and
        session until the container goes; the credentials refresh themselves before they expire. The botocore
        clients under them are built once per account and region; each call signs with its own session's
        credentials."""
        if self._hub is not None:
            return self._hub.acting_in(account, region, session_name, role_arn)
        key = (account, region, session_name if role_arn else "")
        with self._lock:
            scoped = self._scoped.get(key)
        if scoped is not None:
            return scoped
        if role_arn is None:
            scoped = Clients(self._session, hub=self, region=region)
        else:
            shared, signing = self._member(account, region)
            credentials = self._assume(role_arn, session_name)
            scoped = Clients(shared._session, hub=self, region=region, signed=(shared, signing, credentials))
        scoped.where = f"account {account} in {region}"
        with self._lock:
            _bounded(self._scoped)
            return self._scoped.setdefault(key, scoped)

    def _member(self, account: str, region: str) -> tuple[Clients, _SigningAs]:
        """The clients of one member account and region, shared by its incidents, and how their calls sign."""
        with self._lock:
            member = self._members.get((account, region))
            if member is None:
                signing = _SigningAs()
                core = botocore.session.Session()
                core.register_component("data_loader", self._session._session.get_component("data_loader"))
                core._credentials = signing  # a botocore session's credentials, set as boto3's providers do
                shared = Clients(boto3.session.Session(botocore_session=core), hub=self, region=region)
                _bounded(self._members)
                member = self._members[(account, region)] = (shared, signing)
            return member

    def _assume(self, role_arn: str, session_name: str) -> Credentials:
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
        return RefreshableCredentials.create_from_metadata(
            fetch(),
            fetch,
            "sts-assume-role",
            advisory_timeout=ROLE_REFRESH_ADVISORY_SECONDS,
            mandatory_timeout=ROLE_REFRESH_MANDATORY_SECONDS,
        )

    def __getattr__(self, name: str) -> Any:
        if name not in SERVICES or name.startswith("_"):
            raise AttributeError(name)
        if self._hub is not None and name in HUB_SERVICES:
            return getattr(self._hub, name)
        with self._lock:
            if name in self._clients:
                return self._clients[name]
        if self._signed is not None:
            shared, signing, credentials = self._signed
            built: Any = _SignedAs(getattr(shared, name), signing, credentials)
        else:
            with self._lock:
                built = self._clients.get(name) or client(
                    SERVICES[name], self._session, self._region, self._endpoint_url
                )
        with self._lock:
            return self._clients.setdefault(name, built)


def _bounded(cache: dict[Any, Any]) -> None:
    """Make room for one more entry (the oldest goes first)."""
    while len(cache) >= SCOPED_CACHE_SIZE:
        cache.pop(next(iter(cache)))


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
