"""Slack actions: the function URL behind the buttons of rollbackctl's Slack message (Unblock the pipeline, Resume,
Roll back again, Keep). A request is taken only when Slack signed it (rollbackctl.slack_actions); it then does what
the CLI does, under the same rules, and records in the incident who clicked what.

The request carries Slack's signature and the interaction payload: it is never logged. The signing secret is read
from Secrets Manager at run time; the environment holds only its name.
"""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from rollbackctl.aws import Clients
from rollbackctl.config import Settings, SlackActionSettings
from rollbackctl.slack_actions import respond, signing_secret_reader
from rollbackctl.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # Lambda's active tracing; the X-Ray SDK only with TraceAwsCalls=true
SETTINGS = Settings.from_env()
BUTTONS = SlackActionSettings.from_env()
CLIENTS = Clients.create()
SIGNING_SECRET = signing_secret_reader(CLIENTS.secretsmanager, BUTTONS.signing_secret_id)


@logger.inject_lambda_context(log_event=False)  # the request holds Slack's signature and the payload
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return respond(event, CLIENTS, SETTINGS, BUTTONS, SIGNING_SECRET, logger)
