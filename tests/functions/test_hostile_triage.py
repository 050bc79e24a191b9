"""Triage over hostile events, against the deployed controller's tables and a live estate in the emulator:
whatever arrives, triage ends in an incident with a reason and makes no mutating call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from rollbackctl.aws import Clients
from rollbackctl.claims import Claims
from rollbackctl.config import Settings
from rollbackctl.emulator import Emulator, deploy, estate
from rollbackctl.emulator.faults import FAULTS
from rollbackctl.triage import triage
from tests.conftest import TEMPLATE
from tests.hostile import hostile_events

EXAMPLES = 150


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Any]]:
    """One emulator for all examples (hypothesis runs the test body many times within one test)."""
    with Emulator(time_scale=0.001) as aws:
        d = deploy(aws, TEMPLATE)
        estate.lambda_with_versions(aws, "checkout", 2)
        estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
        estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
        env = {
            "INCIDENT_TABLE": d.outputs["IncidentTableName"],
            "LEDGER_TABLE": d.outputs["LedgerTableName"],
            "TOPIC_ARN": d.outputs["NotificationTopicArn"],
            "MODE": "enforce",
            "KILL_SWITCH_PARAMETER": "/rollbackctl/kill-switch",
            "CLAIMS_TABLE": d.outputs["ClaimsTableName"],
            "RATE_CAP_COUNT": "5",
            "RATE_CAP_WINDOW_SECONDS": "3600",
            "WATCH_WINDOW_SECONDS": "3600",
            "TARGET_OPT_IN": "any",
            "RESTORE_TIMEOUT_SECONDS": "1800",
            "RATE_CAP_GLOBAL_COUNT": "10",
            "HUB_ACCOUNT": "123456789012",
            "AWS_REGION": "us-east-1",
            "MEMBER_ACCOUNTS": "",
            "ORGANIZATION_ID": "",
            "BAD_ARTIFACT_POLICY": "page",
        }
        clients = Clients.create(aws.session())
        yield {
            "clients": clients,
            "settings": Settings.from_env(env),
            "claims": Claims(clients.dynamodb, env["CLAIMS_TABLE"]),
        }


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(event=hostile_events())
def test_triage_of_any_event_ends_in_a_reasoned_incident_without_mutating(world: dict[str, Any], event: Any) -> None:
    FAULTS.clear()
    with FAULTS.handler("fuzz-triage"):
        incident = triage(event, world["clients"], world["settings"], lambda: "off", world["claims"], owner="fuzz")
    assert incident.reason
    assert incident.decision in ("act", "ignore", "dry_run", "refuse", "duplicate")
    assert FAULTS.mutating_calls() == []
