"""Diagnose: why did the deployment fail? Gather evidence from every source that applies and classify it.

Read-only and off the critical path: the workflow runs it after traffic is back, within a time budget.
"""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl.aws import Clients
from rollbackctl.config import Settings
from rollbackctl.diagnose import diagnose
from rollbackctl.model import Incident
from rollbackctl.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # Lambda's active tracing; the X-Ray SDK only with TraceAwsCalls=true
SETTINGS = Settings.from_env()  # where the hub is and who its members are: it reads in the target's account
CLIENTS = Clients.create()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    incident = diagnose(Incident.from_dict(event), CLIENTS, SETTINGS)
    logger.info(
        "diagnosed",
        extra={
            "incident_id": incident.incident_id,
            "category": incident.diagnosis.category,
            "summary": incident.diagnosis.summary,
        },
    )
    return incident.to_dict()
