"""Floor (a): the least a rollback through this architecture can do. One Lambda task, started by the same
alarm -> EventBridge -> Step Functions path as the controller, that reads the alias and removes its canary
routing (GetAlias + UpdateAlias with the RevisionId read). No triage, no safety, no record: only the calls."""

from typing import Any

import boto3
from botocore.config import Config

# The controller's client settings (rollbackctl.aws.BOTO_CONFIG), without importing the domain package.
LAMBDA = boto3.session.Session().client(
    "lambda", config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
)


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]
    function, alias = metric["dimensions"]["Resource"].split(":", 1)
    current = LAMBDA.get_alias(FunctionName=function, Name=alias)
    LAMBDA.update_alias(
        FunctionName=function,
        Name=alias,
        FunctionVersion=current["FunctionVersion"],
        RoutingConfig={"AdditionalVersionWeights": {}},
        RevisionId=current["RevisionId"],
    )
    return {"restored": f"{function}:{alias}"}
