"""Notify: record the incident and send its one message (also the end of every caught failure)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl import dora
from rollbackctl.aws import Clients
from rollbackctl.config import NotifySettings, Settings
from rollbackctl.custody import handed
from rollbackctl.notify import Notifier
from rollbackctl.record import RECORDED_NOW, finish
from rollbackctl.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # Lambda's active tracing; the X-Ray SDK only with TraceAwsCalls=true
metrics = Metrics()
SETTINGS = Settings.from_env()
NOTIFIER = Notifier(Clients.create(), SETTINGS, NotifySettings.from_env())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload, execution = handed(event)
    record = finish(payload, NOTIFIER.clients, SETTINGS, NOTIFIER, execution)
    if record.pop(RECORDED_NOW, False):  # a retry replaying what was recorded counts nothing again
        metrics.add_dimension(name="action", value=record["action"] or "failed")
        metrics.add_metric(name="Incidents", unit=MetricUnit.Count, value=1)
        if record["time_to_restore_ms"] is not None:
            metrics.add_metric(name="TimeToRestore", unit=MetricUnit.Milliseconds, value=record["time_to_restore_ms"])
        if record["action"] == "rolled_back" and record["target"]:
            dora.rolled_back(record["target"], record["time_to_restore_ms"])
    logger.info(
        "incident closed",
        extra={
            "incident_id": record["incident_id"],
            "action": record["action"],
            "notifications": [(n["channel"], n["status"]) for n in record["notifications"]],
        },
    )
    return record
