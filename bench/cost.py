"""What a canary incident costs at list prices (us-east-1, no free tier), from what the bench counted.

Counted per incident (the restore phase's workflow incidents): billed Step Functions state transitions
(from each execution's history), Lambda requests and their durations (every invocation the emulator's
runtime ran while the incident was handled, the Track function's CloudTrail event included), and every AWS
call the handlers made (botocore hooks). The prices and every assumption are written into results.json.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from .calls import READS, WRITES

PRICES = {
    "stepfunctions_standard_per_transition": 0.025 / 1000,
    "lambda_per_request": 0.20 / 1_000_000,
    "lambda_per_gb_second_x86": 0.0000166667,
    "dynamodb_on_demand_per_wru": 0.625 / 1_000_000,
    "dynamodb_on_demand_per_rru": 0.125 / 1_000_000,
    "sns_per_publish": 0.50 / 1_000_000,
    "cloudwatch_per_api_request": 0.01 / 1000,
    "secretsmanager_per_api_call": 0.05 / 10_000,
    "xray_per_trace_recorded": 5.0 / 1_000_000,
    "cloudwatch_logs_per_gb_ingested": 0.50,
}
SOURCES = {
    "stepfunctions": "aws.amazon.com/step-functions/pricing: Standard, $0.025 per 1,000 state transitions "
    "(us-east-1), retries count as transitions",
    "lambda": "aws.amazon.com/lambda/pricing: $0.20 per 1M requests, $0.0000166667 per GB-second (x86), "
    "billed per 1 ms",
    "dynamodb": "aws.amazon.com/dynamodb/pricing/on-demand: $0.625 per 1M write request units, $0.125 per 1M "
    "read request units since the 1 Nov 2024 price cut (the issue's $1.25 / $0.25 are the earlier list "
    "prices; at those, the DynamoDB line doubles)",
    "sns": "aws.amazon.com/sns/pricing: $0.50 per 1M publish requests (standard topic); deliveries to SQS "
    "and Lambda are free, email/HTTP deliveries extra",
    "cloudwatch": "aws.amazon.com/cloudwatch/pricing: API requests $0.01 per 1,000 (DescribeAlarms, "
    "ListTagsForResource)",
    "eventbridge": "AWS service events (CloudWatch alarm state changes, CloudTrail management events) on "
    "the default bus are free",
    "xray": "aws.amazon.com/xray/pricing: $5.00 per 1M traces recorded (Tracing: Active)",
    "logs": "aws.amazon.com/cloudwatch/pricing: $0.50 per GB of logs ingested (Powertools logs and metrics)",
}
ASSUMPTIONS = [
    "list prices, us-east-1, x86, no free tier (all of these have one)",
    "Lambda memory as deployed (the template's MemorySize); durations as measured in the emulator, billed "
    "per 1 ms, rounded up per invocation",
    "aws_like: the same invocations if every AWS call took {aws_call_ms} ms (the emulator answers in ~1-5 ms; "
    "in AWS, DynamoDB and control-plane calls take ~5-50 ms), handler code time unchanged",
    "DynamoDB write units: ceil(request body / 1 KB) per write call (the item plus the request's own "
    "overhead: an upper bound); read units: 1 per read call (strongly consistent, items under 4 KB); "
    "conditional writes that fail still consume write units",
    "SNS: one publish per paged incident (deliveries to SQS/Lambda subscribers free); Slack off",
    "SSM GetParameter (standard throughput), Lambda/CodeDeploy/ECS read calls and EventBridge AWS service "
    "events: no charge",
    "X-Ray: one trace per incident (Tracing: Active; sampling may record fewer)",
    "not per incident, so not included: CloudWatch alarm-months, custom-metric-months for the Powertools "
    "metrics, DynamoDB storage and point-in-time recovery, the SQS DLQ",
]


def per_incident(restore: dict[str, Any], memory_mb: dict[str, int], aws_call_ms: float = 20.0) -> dict[str, Any]:
    incidents = restore["per_incident"]
    if not incidents:
        return {}
    n = len(incidents)
    transitions = [i["transitions"] for i in incidents]
    invocations = [len(i["invocations"]) for i in incidents]
    by_function: dict[str, int] = {}
    gb_seconds = 0.0
    gb_seconds_aws_like = 0.0
    log_bytes = 0
    for incident in incidents:
        calls_by_function: dict[str, int] = {}
        call_seconds: dict[str, float] = {}
        for function, _, _, _, seconds in incident["calls"]:
            calls_by_function[function] = calls_by_function.get(function, 0) + 1
            call_seconds[function] = call_seconds.get(function, 0.0) + seconds
        for function, seconds, logs in incident["invocations"]:
            by_function[function] = by_function.get(function, 0) + 1
            gb = memory_mb.get(function, 128) / 1024
            gb_seconds += gb * math.ceil(seconds * 1000) / 1000
            log_bytes += logs
        # aws_like: the handler's own time plus aws_call_ms per call, instead of the emulator's call time
        for function, calls in calls_by_function.items():
            gb = memory_mb.get(function, 128) / 1024
            measured = sum(s for f, s, _ in incident["invocations"] if f == function)
            own = max(0.0, measured - call_seconds[function])
            gb_seconds_aws_like += gb * (own + calls * aws_call_ms / 1000)
        for function, seconds, _ in incident["invocations"]:
            if function not in calls_by_function:
                gb_seconds_aws_like += memory_mb.get(function, 128) / 1024 * seconds
    all_calls = [c for i in incidents for c in i["calls"]]
    dynamodb = [(op, size) for _, service, op, size, _ in all_calls if service == "dynamodb"]
    wru = sum(math.ceil(max(1, size) / 1024) for op, size in dynamodb if op in WRITES)
    rru = sum(1 for op, _ in dynamodb if op in READS)
    publishes = sum(1 for _, service, op, _, _ in all_calls if service == "sns" and op == "Publish")
    cw_calls = sum(1 for _, service, _, _, _ in all_calls if service == "cloudwatch")
    secrets = sum(1 for _, service, _, _, _ in all_calls if service == "secretsmanager")
    p = PRICES
    lines = {
        "stepfunctions": statistics.mean(transitions) * p["stepfunctions_standard_per_transition"],
        "lambda_requests": statistics.mean(invocations) * p["lambda_per_request"],
        "lambda_duration": gb_seconds / n * p["lambda_per_gb_second_x86"],
        "dynamodb": (wru * p["dynamodb_on_demand_per_wru"] + rru * p["dynamodb_on_demand_per_rru"]) / n,
        "sns": publishes / n * p["sns_per_publish"],
        "cloudwatch_api": cw_calls / n * p["cloudwatch_per_api_request"],
        "secretsmanager": secrets / n * p["secretsmanager_per_api_call"],
        "xray": p["xray_per_trace_recorded"],
        "logs": log_bytes / n / 1e9 * p["cloudwatch_logs_per_gb_ingested"],
    }
    total = sum(lines.values())
    aws_like = total - lines["lambda_duration"] + gb_seconds_aws_like / n * p["lambda_per_gb_second_x86"]
    return {
        "transitions_per_incident": statistics.median(transitions),
        "transitions_per_incident_max": max(transitions),
        "lambda_invocations_per_incident": statistics.median(invocations),
        "lambda_invocations_by_function": {f: round(c / n, 2) for f, c in sorted(by_function.items())},
        "lambda_gb_seconds_per_incident": round(gb_seconds / n, 5),
        "lambda_gb_seconds_per_incident_aws_like": round(gb_seconds_aws_like / n, 5),
        "aws_calls_per_incident": round(len(all_calls) / n, 2),
        "dynamodb_wru_per_incident": round(wru / n, 2),
        "dynamodb_rru_per_incident": round(rru / n, 2),
        "sns_publishes_per_incident": round(publishes / n, 2),
        "log_bytes_per_incident": round(log_bytes / n),
        "cost_usd_per_incident_lines": {k: float(f"{v:.3g}") for k, v in lines.items()},
        "cost_usd_per_incident": float(f"{total:.3g}"),
        "cost_usd_per_incident_aws_like": float(f"{aws_like:.3g}"),
        "cost_usd_per_1000_incidents": round(total * 1000, 4),
        "cost_usd_per_1000_incidents_aws_like": round(aws_like * 1000, 4),
        "cost_prices": PRICES,
        "cost_sources": SOURCES,
        "cost_assumptions": [a.format(aws_call_ms=int(aws_call_ms)) for a in ASSUMPTIONS],
    }
