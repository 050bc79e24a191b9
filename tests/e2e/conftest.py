"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rollbackctl.emulator.demo import subscribe_queue
from rollbackctl.emulator.faults import FAULTS, Faults


@pytest.fixture(autouse=True)
def faults() -> Iterator[Faults]:
    """Injected faults and counted AWS calls, per handler; cleared around every test."""
    FAULTS.clear()
    yield FAULTS
    FAULTS.clear()


@pytest.fixture
def oncall(aws: Any, controller: Any) -> str:
    """An SQS queue subscribed to the controller's topic: what on-call receives."""
    return subscribe_queue(aws, controller.outputs["NotificationTopicArn"], "oncall")
