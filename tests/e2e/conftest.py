"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from rollbackctl.emulator import patches
from rollbackctl.emulator.demo import subscribe_queue
from rollbackctl.emulator.faults import FAULTS, Faults


@pytest.fixture(autouse=True)
def faults() -> Iterator[Faults]:
    """Injected faults and counted AWS calls, per handler; cleared around every test."""
    FAULTS.clear()
    yield FAULTS
    FAULTS.clear()


@pytest.fixture(autouse=True)
def cli_after_the_estate(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command run in process starts once what the estate set off has landed. The runner swaps sys.stdout for
    the whole process while a command runs; a function already running then (Track, on the estate's CloudTrail
    events) would print its EMF metrics into the command's output (its logs go to its own stream; print goes to
    whatever sys.stdout is by then)."""
    invoke = CliRunner.invoke

    def invoke_after_deliveries(self: CliRunner, *args: Any, **kwargs: Any) -> Any:
        patches.drain()
        return invoke(self, *args, **kwargs)

    monkeypatch.setattr(CliRunner, "invoke", invoke_after_deliveries)


@pytest.fixture
def oncall(aws: Any, controller: Any) -> str:
    """An SQS queue subscribed to the controller's topic: what on-call receives."""
    return subscribe_queue(aws, controller.outputs["NotificationTopicArn"], "oncall")


@contextlib.contextmanager
def as_role(aws: Any, name: str) -> Iterator[None]:
    """Act as an operator: assume the IAM role ``name`` (created if needed) and put its credentials in the
    environment, as `aws sso login` or an assumed profile would; STS then names the caller. What the estate set off
    lands first (Track's cold start sets a function's variables in the process environment for a moment, and a
    client built meanwhile would take its credentials)."""
    patches.drain()
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    credentials = aws.client("sts").assume_role(RoleArn=arn, RoleSessionName=f"{name}-session")["Credentials"]
    values = {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
