"""Restore: execute triage's plan, put traffic back on the known-good version, read it back."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl.aws import Clients
from rollbackctl.config import Settings
from rollbackctl.controls import kill_switch_reader
from rollbackctl.custody import handed
from rollbackctl.model import Incident
from rollbackctl.restore import restore
from rollbackctl.snapstart import after_restore
from rollbackctl.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # Lambda's active tracing; the X-Ray SDK only with TraceAwsCalls=true
SETTINGS = Settings.from_env()
CLIENTS: Clients
read_kill_switch: Callable[[], str]


def make_again() -> None:
    """The credentials and clients of this environment: made at init, and again after a SnapStart restore
    (rollbackctl.snapstart)."""
    global CLIENTS, read_kill_switch
    CLIENTS = Clients.create()
    read_kill_switch = kill_switch_reader(CLIENTS.ssm, SETTINGS.kill_switch_parameter)


make_again()
after_restore(make_again)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload, execution = handed(event)  # {"incident", "execution"} from the workflow; bare from sam local invoke
    incident = restore(Incident.from_dict(payload), CLIENTS, SETTINGS, read_kill_switch, execution)
    logger.info(
        "restored",
        extra={
            "incident_id": incident.incident_id,
            "action": incident.action,
            "from": incident.from_version,
            "to": incident.to_version,
            "time_to_restore_ms": incident.time_to_restore_ms,
        },
    )
    return incident.to_dict()
