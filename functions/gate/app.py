"""Gate: a pipeline's Lambda invoke action before its deploy stage. Fails the job when what is about to ship is
marked bad, or an incident is still open for the stage's targets, and says why; else lets it through.

The job event carries temporary artifact credentials (artifactCredentials): it is never logged.
"""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl.aws import Clients
from rollbackctl.config import Settings
from rollbackctl.gate import judge
from rollbackctl.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # Lambda's active tracing; the X-Ray SDK only with TraceAwsCalls=true
SETTINGS = Settings.from_env()
CLIENTS = Clients.create()


@logger.inject_lambda_context(log_event=False)  # the event holds credentials
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    said = judge(event, CLIENTS, SETTINGS)
    logger.info("gate", extra=said)
    return said
