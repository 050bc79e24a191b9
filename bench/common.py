"""What every phase shares: the repository, the deployed controller, a canary to roll back, statistics."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).absolute().parent.parent
TEMPLATE = ROOT / "template.yaml"
STACK = "rollbackctl"
# Emulated seconds per real second for Wait states and Retry intervals (the test suite's fast clock): the
# verify bake and any retry back-off cost milliseconds. Time to restore is measured to the UpdateAlias, which
# no Wait precedes, so the clock does not change it.
TIME_SCALE = 0.001


@dataclass
class Controller:
    deployment: Any
    overrides: dict[str, str]

    @property
    def state_machine(self) -> str:
        return str(self.deployment.outputs["StateMachineArn"])

    @property
    def functions(self) -> dict[str, str]:
        """logical id -> function name, e.g. TriageFunction -> rollbackctl-triage"""
        return dict(self.deployment.functions)

    def function(self, prefix: str) -> str:
        """The deployed name of the function whose logical id starts with ``prefix`` ("Restore", ...)."""
        return next(name for logical, name in self.functions.items() if logical.startswith(prefix))


def overrides_for(template: Path = TEMPLATE, rate_cap: int = 100_000) -> dict[str, str]:
    """Parameter overrides: a rate cap the storm cannot reach, and the shortest verify bake the template
    allows (only when the template declares VerifyBakeSeconds: the deployer rejects unknown parameters)."""
    from rollbackctl.emulator.deployer import load_template

    declared = load_template(template).get("Parameters") or {}
    overrides = {"RateCapCount": str(rate_cap)}
    if "RateCapGlobalCount" in declared:  # a baseline checkout may predate the organization's global cap
        overrides["RateCapGlobalCount"] = str(rate_cap)
    if "MemberAccounts" in declared:  # one member account beside the hub (bench.run deploys its member stack)
        overrides["MemberAccounts"] = "222222222222"
    if "VerifyBakeSeconds" in declared:
        overrides["VerifyBakeSeconds"] = str(int(declared["VerifyBakeSeconds"].get("MinValue", 1)))
    return overrides


def deploy_controller(aws: Any, rate_cap: int = 100_000) -> Controller:
    from rollbackctl.emulator import deploy

    overrides = overrides_for(TEMPLATE, rate_cap)
    return Controller(deploy(aws, TEMPLATE, STACK, overrides), overrides)


def canary(aws: Any, name: str, alarm: bool = True) -> str:
    """A function with versions 1 and 2 whose alias ``live`` sends 10% to 2 (mid-canary), and its Errors
    alarm (dimensions FunctionName and Resource = NAME:live), which sends its tags in its state-change events (tag
    propagation, as the README advises: no tag lookup before the change). Returns the alarm name."""
    from rollbackctl.emulator import estate

    estate.lambda_with_versions(aws, name, 2)
    estate.alias(aws, name, "live", "1", canary=("2", 0.1))
    if alarm:
        estate.lambda_errors_alarm(aws, f"{name}-errors", name, "live", propagate_tags=True)
    return f"{name}-errors"


def fire(aws: Any, alarm: str) -> None:
    aws.client("cloudwatch").set_alarm_state(
        AlarmName=alarm,
        StateValue="ALARM",
        StateReason="Threshold Crossed: 1 datapoint [5.0] >= 1.0",
        StateReasonData=json.dumps({"version": "1.0", "recentDatapoints": [5.0], "threshold": 1.0}),
    )


def alias_state(aws: Any, function: str) -> tuple[str, dict[str, float]]:
    alias = aws.client("lambda").get_alias(FunctionName=function, Name="live")
    return str(alias["FunctionVersion"]), (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def executions(aws: Any, state_machine: str, status: str | None = None) -> set[str]:
    sfn = aws.client("stepfunctions")
    kwargs: dict[str, Any] = {"stateMachineArn": state_machine}
    if status:
        kwargs["statusFilter"] = status
    pages = sfn.get_paginator("list_executions").paginate(**kwargs)
    return {e["executionArn"] for page in pages for e in page["executions"]}


def wait_idle(aws: Any, state_machines: Sequence[str], timeout: float = 600.0, poll: float = 0.02) -> None:
    """Until no execution of these state machines runs and EventBridge's asynchronous deliveries (the
    Track function's CloudTrail events) have landed."""
    from rollbackctl.emulator import patches

    sfn = aws.client("stepfunctions")

    def running(machine: str) -> bool:
        # one item, no paging: a filtered listing's page token goes stale as executions finish
        page = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING", maxResults=1)
        return bool(page["executions"])

    deadline = time.monotonic() + timeout
    while any(running(sm) for sm in state_machines):
        if time.monotonic() > deadline:
            raise TimeoutError(f"executions still RUNNING after {timeout:.0f} s")
        time.sleep(poll)
    patches.drain()


def history(aws: Any, execution: str) -> list[dict[str, Any]]:
    sfn = aws.client("stepfunctions")
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution):
        events.extend(page["events"])
    return events


def transitions(events: Sequence[dict[str, Any]]) -> int:
    """Billed state transitions: a transition each time a state is entered, plus one per retry of a task
    (Step Functions bills retries as transitions)."""
    entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
    tasks = sum(1 for e in events if e["type"] == "TaskStateEntered")
    scheduled = sum(1 for e in events if e["type"] in ("LambdaFunctionScheduled", "TaskScheduled"))
    return entered + max(0, scheduled - tasks)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
    }
