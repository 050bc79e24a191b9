"""Triage over hostile events, against the deployed controller's tables and a live estate in the emulator:
whatever arrives, triage ends in an incident with a reason and makes no mutating call."""

from __future__ import annotations

from typing import Any

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
_world: dict[str, Any] = {}


def world() -> dict[str, Any]:
    """One emulator for all examples (hypothesis calls the test many times; a fixture would be per test)."""
    if not _world:
        aws = Emulator(time_scale=0.001).start()
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
        }
        clients = Clients.create(aws.session())
        _world.update(
            aws=aws,
            clients=clients,
            settings=Settings.from_env(env),
            claims=Claims(clients.dynamodb, env["CLAIMS_TABLE"]),
        )
    return _world


def teardown_module() -> None:
    if _world:
        _world["aws"].stop()
        _world.clear()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_events())
def test_triage_of_any_event_ends_in_a_reasoned_incident_without_mutating(event: Any) -> None:
    w = world()
    FAULTS.clear()
    with FAULTS.handler("fuzz-triage"):
        incident = triage(event, w["clients"], w["settings"], lambda: "off", w["claims"], owner="fuzz")
    assert incident.reason
    assert incident.decision in ("act", "ignore", "dry_run", "refuse", "duplicate")
    assert FAULTS.mutating_calls() == []
