"""DORA metrics per target (issue 18), asserted from the EMF the functions print: Track counts each deployment
once, Notify each rollback once with its time to restore; a retry of the record step counts nothing again."""

from __future__ import annotations

import json
from typing import Any

from rollbackctl.emulator import estate, patches
from rollbackctl.emulator.demo import fire_and_wait
from rollbackctl.store import IncidentStore

DIMENSIONS = [["target", "account"]]


def emf(aws: Any, function: str, metric: str) -> list[dict[str, Any]]:
    """Every EMF document ``function`` printed that carries ``metric``."""
    found = []
    for invocation in aws.runtime.invocations:
        if invocation["function"] != function:
            continue
        for text in invocation["logs"].splitlines():
            try:
                doc = json.loads(text)
            except ValueError:
                continue
            directives = doc.get("_aws", {}).get("CloudWatchMetrics", []) if isinstance(doc, dict) else []
            if any(m["Name"] == metric for d in directives for m in d["Metrics"]):
                found.append(doc)
    return found


def test_deployments_rollbacks_and_time_to_restore_per_target(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))  # a deployment of 2 (CloudTrail CreateAlias)
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")
    [finished] = fire_and_wait(aws, controller, "checkout-live-errors")
    incident = json.loads(finished["output"])
    patches.drain()

    [deployed] = emf(aws, "rollbackctl-track", "Deployments")  # rollbackctl's own UpdateAlias is not one
    # Powertools prints a metric's values as a list
    assert (deployed["Deployments"], deployed["target"], deployed["account"]) == (
        [1.0],
        "checkout:live",
        "123456789012",
    )
    assert deployed["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "rollbackctl"
    assert deployed["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == DIMENSIONS
    [rolled] = emf(aws, "rollbackctl-notify", "Rollbacks")
    assert (rolled["Rollbacks"], rolled["target"]) == ([1.0], "checkout:live")
    [restored] = [d for d in emf(aws, "rollbackctl-notify", "TimeToRestore") if "target" in d]
    assert restored["TimeToRestore"] == [float(incident["time_to_restore_ms"])] and incident["time_to_restore_ms"] > 0
    assert restored["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "TimeToRestore", "Unit": "Milliseconds"}]

    # the record step run again on the same input (a Step Functions retry) replays its answer and counts nothing
    history = aws.client("stepfunctions").get_execution_history(executionArn=finished["executionArn"])["events"]
    scheduled = [e for e in history if e["type"] == "LambdaFunctionScheduled"]
    record_input = next(
        e["lambdaFunctionScheduledEventDetails"]["input"]
        for e in scheduled
        if e["lambdaFunctionScheduledEventDetails"]["resource"].endswith(":rollbackctl-notify")
    )
    again = aws.client("lambda").invoke(FunctionName="rollbackctl-notify", Payload=record_input)
    assert json.loads(again["Payload"].read())["incident_id"] == incident["incident_id"]
    assert len(emf(aws, "rollbackctl-notify", "Rollbacks")) == 1
    assert len(emf(aws, "rollbackctl-notify", "Incidents")) == 1
    # nor does it undo what the verify step recorded after it
    stored = IncidentStore(aws.client("dynamodb"), controller.outputs["IncidentTableName"]).get(incident["incident_id"])
    assert stored is not None and stored.verification is not None
    assert stored.verification["status"] == "still_alarming"
