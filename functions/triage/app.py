"""Triage: validate the event, find the guarded target and its known-good version, decide.

Reads AWS and never changes it (its only write is one transaction: its claims on the trigger and the deployment,
the rate cap's slots and the target's lock when it acts, and the sealed decision). Returns the incident; the
workflow's Choice acts on ``decision``.
"""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl.aws import Clients
from rollbackctl.claims import Claims
from rollbackctl.config import Settings
from rollbackctl.controls import kill_switch_reader
from rollbackctl.snapstart import after_restore
from rollbackctl.tracing import handler_tracer
from rollbackctl.triage import triage

logger = Logger()
tracer = handler_tracer()  # Lambda's active tracing; the X-Ray SDK only with TraceAwsCalls=true
SETTINGS = Settings.from_env()  # fails the cold start when the environment is incomplete
CLIENTS: Clients
read_kill_switch: Callable[[], str]
CLAIMS: Claims


def make_again() -> None:
    """The credentials and clients of this environment: made at init, and again after a SnapStart restore
    (rollbackctl.snapstart)."""
    global CLIENTS, read_kill_switch, CLAIMS
    CLIENTS = Clients.create()
    read_kill_switch = kill_switch_reader(CLIENTS.ssm, SETTINGS.kill_switch_parameter)
    CLAIMS = Claims(CLIENTS.dynamodb, SETTINGS.claims_table)


make_again()
after_restore(make_again)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The workflow hands over {"event": ..., "execution": $$.Execution.Id}; sam local invoke, the bare event.
    if isinstance(event, dict) and set(event) == {"event", "execution"}:
        event, owner = event["event"], str(event["execution"])
    else:
        owner = f"invocation {context.aws_request_id}"
    incident = triage(event, CLIENTS, SETTINGS, read_kill_switch, CLAIMS, owner)
    logger.info(
        "triaged",
        extra={
            "incident_id": incident.incident_id,
            "decision": incident.decision,
            "target": incident.target,
            "reason": incident.reason,
        },
    )
    return incident.to_dict()
