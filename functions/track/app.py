"""Track: record every deployment as it happens (CloudTrail API events) and which versions are good."""

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl import dora
from rollbackctl.aws import Clients
from rollbackctl.config import ConfigError, Settings
from rollbackctl.store import Ledger
from rollbackctl.tracing import handler_tracer
from rollbackctl.tracking import track

logger = Logger()
tracer = handler_tracer()  # Lambda's active tracing; the X-Ray SDK only with TraceAwsCalls=true
SETTINGS = Settings.from_env()
# The controller's own roles (comma-separated ARNs): calls made with them are rollbackctl's, not deployments.
if not (OWN_ROLES := frozenset(a.strip() for a in os.environ.get("OWN_ROLE_ARNS", "").split(",") if a.strip())):
    raise ConfigError("missing environment variable(s): OWN_ROLE_ARNS")
# The incident workflow, which a deployment of a bad artifact starts (BadArtifactPolicy page or roll-back).
if not (WORKFLOW := os.environ.get("STATE_MACHINE_ARN", "")):
    raise ConfigError("missing environment variable(s): STATE_MACHINE_ARN")
CLIENTS = Clients.create()
LEDGER = Ledger(CLIENTS.dynamodb, SETTINGS.ledger_table)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tracked = track(event, CLIENTS, LEDGER, SETTINGS, OWN_ROLES, WORKFLOW)
    for target in tracked.deployments:
        dora.deployed(target)
    logger.info("tracked", extra={"notes": tracked.notes})
    return {"recorded": tracked.notes}
