"""Notify: record the incident and send its one message (also the end of every caught failure)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl.aws import Clients
from rollbackctl.config import Settings
from rollbackctl.notify import finish

logger = Logger()
tracer = Tracer()
metrics = Metrics()
SETTINGS = Settings.from_env()
CLIENTS = Clients.create()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    incident = finish(event, CLIENTS, SETTINGS)
    metrics.add_dimension(name="action", value=incident.action or "failed")
    metrics.add_metric(name="Incidents", unit=MetricUnit.Count, value=1)
    if incident.time_to_restore_ms is not None:
        metrics.add_metric(name="TimeToRestore", unit=MetricUnit.Milliseconds, value=incident.time_to_restore_ms)
    logger.info(
        "incident closed",
        extra={
            "incident_id": incident.incident_id,
            "action": incident.action,
            "notifications": len(incident.notifications),
        },
    )
    return incident.to_dict()
