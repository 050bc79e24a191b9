"""The time to restore on AWS, estimated from what this run counted and per-hop latencies written down.

The emulator answers in microseconds where AWS takes milliseconds, so its times say nothing about AWS's. What the
run does say is the path: the hops (EventBridge, Step Functions, the Lambda invokes before the change) and every
AWS call on it (``critical_path_operations``), the handlers' own code time between those calls, and each
function's import time in a fresh interpreter (the bulk of a Python cold start). Each hop then gets a latency:
a published figure where AWS publishes one, otherwise an assumption stated with its reasoning. All of it goes
into results.json (``aws_model``) so that a measured figure from AWS (an Init Duration from a REPORT line, an
X-Ray segment) can replace an assumption without touching the rest.

p50 only: the hops' distributions are unknown, and the p50 of a sum is not the sum of p50s, so the figures are
an estimate of a typical incident, not a percentile.
"""

from __future__ import annotations

from typing import Any

# p50 latency of one AWS call from a Lambda function in the same region, by operation (ms). Assumptions.
CALL_MS = {
    "dynamodb:GetItem": 5,
    "dynamodb:BatchGetItem": 6,
    "dynamodb:Query": 6,
    "dynamodb:PutItem": 7,
    "dynamodb:UpdateItem": 7,
    "dynamodb:TransactWriteItems": 20,
    "lambda:GetAlias": 40,
    "lambda:ListTags": 40,
    "lambda:UpdateAlias": 60,
    "codedeploy:ListApplications": 40,
    "cloudwatch:ListTagsForResource": 30,
    "ssm:GetParameter": 15,
    "sts:AssumeRole": 60,
}
DEFAULT_CALL_MS = 40  # any other control-plane call
HOPS_MS = {
    "alarm_to_eventbridge_rule": 500,
    "rule_to_start_execution": 100,
    "state_machine_to_task": 40,
    "lambda_invoke_warm": 15,
    "lambda_runtime_init": 150,
    "snapstart_restore": 250,
}
INIT_CPU_FACTOR = 2.0  # a 256 MB function's init vs this machine's import time
ASSUMPTIONS = {
    "alarm_to_eventbridge_rule": "CloudWatch's state-change event reaching the rule's target: AWS publishes no "
    "latency for service events; 500 ms p50 is an assumption (reports of EventBridge end-to-end latency after "
    "its 2023 improvement are in the low hundreds of ms for custom events; service events add the emitting "
    "service's own delay)",
    "rule_to_start_execution": "EventBridge calling StartExecution on the state machine target: assumption",
    "state_machine_to_task": "a Standard workflow entering a Task state and scheduling its Lambda invoke, per task "
    "(transitions through Choice states included): assumption",
    "lambda_invoke_warm": "Lambda's invoke overhead on a warm execution environment: assumption",
    "lambda_runtime_init": "the Python runtime's own start before the handler module is imported: assumption",
    "snapstart_restore": "restoring a SnapStart snapshot instead of the init phase (Python, Lambda SnapStart): "
    "assumption; AWS bills a restore per GB restored and the cache per GB-second",
    "init_cpu_factor": f"the handler import measured here (bench/coldstart.py, a fresh interpreter per function) "
    f"times {INIT_CPU_FACTOR}: a 256 MB function has a fraction of a vCPU (1,769 MB = one vCPU, Lambda Developer "
    "Guide), partly offset by the init phase's burst; replace with the Init Duration of a REPORT line",
    "calls": "p50 per AWS call from a function in the same Region (DynamoDB single-digit ms, a transaction about "
    "twice a write per item group; Lambda and CodeDeploy control-plane reads and writes tens of ms): assumptions, "
    "one value per operation in aws_model.call_ms",
    "code": "the handlers' own code between calls, as measured here (the emulator's p50 handler time minus its AWS "
    "calls), unchanged on AWS",
}
BASELINES = {
    "codedeploy_alarm_rollback": (
        "CodeDeploy stops a deployment when one of the deployment group's CloudWatch alarms goes to ALARM and, with "
        "automatic rollback on DEPLOYMENT_STOP_ON_ALARM, redeploys the last known good revision as a new "
        "deployment (CodeDeploy User Guide, 'Monitoring deployments with CloudWatch alarms' and 'Redeploy and roll "
        "back a deployment'). It watches only deployments in progress, publishes no interval for checking the "
        "alarms, and for EC2/on-premises the rollback is a full deployment of the old revision through the "
        "group's deployment configuration: minutes. For Lambda the traffic shifts back in one step once the "
        "rollback deployment starts."
    ),
    "ecs_circuit_breaker": (
        "The deployment circuit breaker fails a rolling deployment after its threshold of failed tasks: 0.5 x "
        "desired count, at least 3 and at most 200 (ECS API Reference, ServiceDeploymentCircuitBreaker); each "
        "failure is a task that did not reach RUNNING or failed its health checks, so it takes at least three "
        "task launches and their health-check grace: minutes. It does not react to alarms; ECS deployment "
        "alarms (DeploymentAlarms) fail a rolling deployment when an alarm goes to ALARM, and with rollback "
        "start a new deployment of the last completed revision, whose tasks must start and pass health checks."
    ),
}


def estimate(results: dict[str, Any]) -> dict[str, Any] | None:
    """The estimate for this run, or None when the run has no critical path (no restore phase)."""
    operations: list[str] = results.get("critical_path_operations") or []
    steps = (results.get("where_the_time_goes") or {}).get("workflow_p50_ms") or {}
    if not operations or not steps:
        return None
    calls_ms = sum(CALL_MS.get(op, DEFAULT_CALL_MS) for op in operations)
    code_ms = max(0.0, (steps.get("triage_handler") or 0) - (steps.get("triage_aws_calls") or 0)) + max(
        0.0, (steps.get("restore_until_alias_back") or 0) - (steps.get("restore_aws_calls") or 0)
    )
    tasks = 2  # Triage, then Restore: the Lambda invokes before traffic moves
    warm = (
        HOPS_MS["alarm_to_eventbridge_rule"]
        + HOPS_MS["rule_to_start_execution"]
        + tasks * (HOPS_MS["state_machine_to_task"] + HOPS_MS["lambda_invoke_warm"])
        + code_ms
        + calls_ms
    )
    if "member" in results:  # the same incident in a member account: each of Triage and Restore assumes its role
        member = warm + tasks * CALL_MS["sts:AssumeRole"]
        out_member = {"p50_member_warm_ms": round(member), "member_ratio": round(member / warm, 3)}
    else:
        out_member = {}
    handlers = ((results.get("coldstart") or {}).get("handlers")) or {}
    imports = {name: handlers.get(name, {}).get("median_ms") for name in ("triage", "restore")}
    out: dict[str, Any] = {
        "p50_warm_ms": round(warm),
        "critical_path_calls": len(operations),
        "calls_ms": calls_ms,
        "code_ms": round(code_ms, 1),
        "hops_ms": HOPS_MS,
        "call_ms": {op: CALL_MS.get(op, DEFAULT_CALL_MS) for op in operations},
        "assumptions": ASSUMPTIONS,
        "baselines": BASELINES,
        **out_member,
    }
    if all(imports.values()):
        init = {name: HOPS_MS["lambda_runtime_init"] + INIT_CPU_FACTOR * float(ms) for name, ms in imports.items()}
        out["init_ms"] = {name: round(ms) for name, ms in init.items()}
        out["p50_cold_ms"] = round(warm + sum(init.values()))
        out["p50_cold_snapstart_ms"] = round(warm + tasks * HOPS_MS["snapstart_restore"])
    return out
