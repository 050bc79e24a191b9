"""Triage: validate the event, find the guarded target and its known-good version, decide.

Reads AWS, never changes it. Returns the incident; the workflow's Choice acts on ``decision``.
"""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl.aws import Clients
from rollbackctl.config import Settings
from rollbackctl.controls import kill_switch_reader
from rollbackctl.triage import triage

logger = Logger()
tracer = Tracer()
SETTINGS = Settings.from_env()  # fails the cold start when the environment is incomplete
CLIENTS = Clients.create()
read_kill_switch = kill_switch_reader(CLIENTS.ssm, SETTINGS.kill_switch_parameter)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    incident = triage(event, CLIENTS, SETTINGS, read_kill_switch)
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
