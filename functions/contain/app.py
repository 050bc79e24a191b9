"""Contain: keep the bad revision out (disable the pipeline's inbound transition into the deploy stage)."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl.aws import Clients
from rollbackctl.config import Settings
from rollbackctl.contain import contain
from rollbackctl.custody import handed
from rollbackctl.model import Incident
from rollbackctl.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # Lambda's active tracing; the X-Ray SDK only with TraceAwsCalls=true
SETTINGS = Settings.from_env()
CLIENTS = Clients.create()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload, execution = handed(event)
    incident = contain(Incident.from_dict(payload), CLIENTS, SETTINGS, execution)
    logger.info("contained", extra={"incident_id": incident.incident_id, "steps": incident.steps})
    return incident.to_dict()
