"""A small estate to guard, built through plain AWS API calls (used by ``demo`` and the tests)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from .core import ACCOUNT, Emulator

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def _code(version: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {{'version': {version}}}\n")
    return buffer.getvalue()


def lambda_with_versions(aws: Emulator, name: str, versions: int, tags: dict[str, str] | None = None) -> str:
    """A function with ``versions`` published versions; returns its ARN."""
    lam, iam = aws.client("lambda"), aws.client("iam")
    try:
        role = iam.get_role(RoleName="estate-lambda")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="estate-lambda", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    arn: str = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _code(1)},
        Tags=tags or {},
    )["FunctionArn"]
    for number in range(1, versions + 1):
        if number > 1:
            lam.update_function_code(FunctionName=name, ZipFile=_code(number))
        lam.publish_version(FunctionName=name, Description=f"release {number}")
    return arn


def alias(aws: Emulator, function: str, name: str, version: str, canary: tuple[str, float] | None = None) -> str:
    kwargs: dict[str, Any] = {"FunctionName": function, "Name": name, "FunctionVersion": version}
    if canary:
        kwargs["RoutingConfig"] = {"AdditionalVersionWeights": {canary[0]: canary[1]}}
    return str(aws.client("lambda").create_alias(**kwargs)["AliasArn"])


def lambda_errors_alarm(
    aws: Emulator, alarm: str, function: str, alias_name: str, tags: dict[str, str] | None = None
) -> str:
    """An alarm on the alias's Errors metric: dimensions FunctionName and Resource = NAME:ALIAS."""
    cw = aws.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[
            {"Name": "FunctionName", "Value": function},
            {"Name": "Resource", "Value": f"{function}:{alias_name}"},
        ],
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )
    return f"arn:aws:cloudwatch:{aws.region}:{ACCOUNT}:alarm:{alarm}"


def custom_alarm(aws: Emulator, alarm: str, namespace: str, metric: str, tags: dict[str, str] | None = None) -> str:
    cw = aws.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=alarm,
        Namespace=namespace,
        MetricName=metric,
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )
    return f"arn:aws:cloudwatch:{aws.region}:{ACCOUNT}:alarm:{alarm}"


def fire(aws: Emulator, alarm: str, reason: str = "Threshold Crossed: 1 datapoint [5.0] >= 1.0") -> None:
    aws.client("cloudwatch").set_alarm_state(
        AlarmName=alarm,
        StateValue="ALARM",
        StateReason=reason,
        StateReasonData=json.dumps({"version": "1.0", "queryDate": "now", "recentDatapoints": [5.0], "threshold": 1.0}),
    )
