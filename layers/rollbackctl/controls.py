"""Operator controls read at run time: the kill switch (SSM), cached for a few seconds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider

# A change to the kill switch takes effect within this many seconds (DESIGN.md promises 10).
KILL_SWITCH_MAX_AGE = 5


def kill_switch_reader(ssm_client: Any, name: str, max_age: int = KILL_SWITCH_MAX_AGE) -> Callable[[], str]:
    provider = SSMProvider(boto3_client=ssm_client)

    def read() -> str:
        return str(provider.get(name, max_age=max_age))

    return read


KILL_SWITCH_OFF = "off"
# How a refusal names the hub's kill switch ("the kill switch is 'on': ..."), and how the Slack buttons know an
# incident was paused by it (a member's kill switch is named by its account and region, and is the member's own).
HUB_KILL_SWITCH = "the kill switch"


def paused_by_hub(reason: str) -> bool:
    """Whether a refusal's reason is the hub's kill switch set to anything but ``off``."""
    return reason.startswith(f"{HUB_KILL_SWITCH} is ")


def read_kill_switch_safely(
    read: Callable[[], str], member: tuple[str, Callable[[], str]] | None = None
) -> tuple[bool, str]:
    """(on, why). Only ``off`` lets rollbackctl act: any other value (``on``, ``true``, ``paused``, a typo, empty)
    and a kill switch that cannot be read count as on. Safety over cleverness. The hub's kill switch stops every
    action everywhere; ``member`` (what, how to read it) is the kill switch of the member account and region acted
    in, which stops actions there."""
    on, why = _read_one(read, HUB_KILL_SWITCH)
    if on or member is None:
        return on, why
    return _read_one(member[1], member[0])


def _read_one(read: Callable[[], str], what: str) -> tuple[bool, str]:
    try:
        value = read().strip().lower()
    except Exception as exc:
        return True, f"{what} could not be read ({type(exc).__name__}: {str(exc)[:200]})"
    return value != KILL_SWITCH_OFF, f"{what} is {value[:40]!r}"
