"""Verify: after the bake, read the alarms that fired again; recovered -> close, still red -> escalate."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl.aws import Clients
from rollbackctl.config import NotifySettings, Settings
from rollbackctl.custody import handed
from rollbackctl.notify import Notifier
from rollbackctl.tracing import handler_tracer
from rollbackctl.verify import verify

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
    incident = verify(payload, NOTIFIER.clients, SETTINGS, NOTIFIER, execution)
    status = (incident.verification or {}).get("status", "unverified")
    metrics.add_dimension(name="verification", value=status)
    metrics.add_metric(name="Verifications", unit=MetricUnit.Count, value=1)
    logger.info("incident verified", extra={"incident_id": incident.incident_id, "verification": status})
    return incident.to_dict()
