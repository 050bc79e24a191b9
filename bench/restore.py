"""Time to restore: alarm state change -> alias back, through the deployed workflow, against two floors.

- workflow: the controller deployed from template.yaml; a fresh canary alias per sample; its Errors alarm
  is set to ALARM (CloudWatch emits the state-change event, EventBridge starts the state machine).
- floor (a), the limit of this architecture: a one-state state machine whose one Lambda task does
  GetAlias + UpdateAlias. For its samples it is swapped in as the target of the controller's own
  alarm rule (same rule, same pattern, same delivery), so exactly one state machine reacts to each alarm:
  the controller never sees the floor's alarms and the floor never competes with a controller execution.
- floor (b): the bare GetAlias + UpdateAlias from the bench, through the emulator's client.

Same emulator, same run, same warm containers; each round builds three fresh canaries and measures the
three in a shuffled order, one at a time, after everything earlier has finished. "Alias back" is the end
of the UpdateAlias call that removes the routing, taken from a botocore after-call hook (no polling
thread competing for the interpreter); every sample is then read back.
"""

from __future__ import annotations

import io
import json
import random
import statistics
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

from rollbackctl.emulator import InAccount, patches

from .calls import Call, Invocation, Recorder, by_operation
from .common import (
    ROOT,
    Controller,
    alias_state,
    canary,
    executions,
    fire,
    history,
    summary_ms,
    transitions,
    wait_idle,
)

FLOOR_FUNCTION = "bench-floor"
FLOOR_CODE = ROOT / "bench" / "floor"
ONE_STATE = {
    "Comment": "Floor (a): one Lambda task that puts the alias back. Nothing else.",
    "StartAt": "Restore",
    "States": {"Restore": {"Type": "Task", "Resource": "FUNCTION_ARN", "End": True}},
}


@dataclass
class Floor:
    function: str
    state_machine: str
    rule: str
    controller_target: dict[str, Any]
    bus: str = "default"  # the bus the controller's rules are on (its own bus "rollbackctl" since issue 15)

    def target(self) -> dict[str, Any]:
        return dict(self.controller_target, Arn=self.state_machine)


@dataclass
class Sample:
    kind: str  # workflow | floor_a | floor_b
    name: str
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


def _zip(folder: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.glob("*.py")):
            archive.write(path, path.name)
    return buffer.getvalue()


def deploy_floor(aws: Any, controller: Controller) -> Floor:
    iam, lam, sfn, events = (aws.client(s) for s in ("iam", "lambda", "stepfunctions", "events"))
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName="bench-floor", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    function_arn = lam.create_function(
        FunctionName=FLOOR_FUNCTION,
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": _zip(FLOOR_CODE)},
        Timeout=30,
        MemorySize=256,
    )["FunctionArn"]
    aws.runtime.register(FLOOR_FUNCTION, FLOOR_CODE)
    definition = json.dumps(ONE_STATE).replace("FUNCTION_ARN", function_arn)
    states_role = iam.create_role(
        RoleName="bench-floor-states",
        AssumeRolePolicyDocument=json.dumps(trust).replace("lambda.amazonaws.com", "states.amazonaws.com"),
    )["Role"]["Arn"]
    machine = sfn.create_state_machine(name="bench-floor", definition=definition, roleArn=states_role)[
        "stateMachineArn"
    ]
    bus, rule = _alarm_rule(events, controller.state_machine)
    listed = events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]
    [target] = [t for t in listed if t["Arn"] == controller.state_machine]
    return Floor(FLOOR_FUNCTION, machine, rule, target, bus)


def _alarm_rule(events: Any, state_machine: str) -> tuple[str, str]:
    """The controller's rule for CloudWatch alarm state changes (the one that starts its workflow), and its bus."""
    buses = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    for bus in sorted(buses, key=lambda b: b == "default"):  # the controller's own bus first, where it has one
        for name in events.list_rule_names_by_target(TargetArn=state_machine, EventBusName=bus)["RuleNames"]:
            pattern = json.loads(events.describe_rule(Name=name, EventBusName=bus).get("EventPattern") or "{}")
            if "aws.cloudwatch" in json.dumps(pattern):
                return bus, str(name)
    raise LookupError("the controller has no rule for CloudWatch alarm state changes")


def _retarget(aws: Any, floor: Floor, target: dict[str, Any]) -> None:
    aws.client("events").put_targets(Rule=floor.rule, EventBusName=floor.bus, Targets=[target])


# --- one sample of each kind ----------------------------------------------------------------------------


def _workflow(aws: Any, controller: Controller, recorder: Recorder, name: str) -> Sample:
    machine = controller.state_machine
    before = executions(aws, machine)
    mark = recorder.mark()
    t0 = time.perf_counter()
    fire(aws, f"{name}-errors")
    fired = time.perf_counter()
    restored = recorder.wait_for("UpdateAlias", name)
    wait_idle(aws, [machine])
    new = sorted(executions(aws, machine) - before)
    described = [aws.client("stepfunctions").describe_execution(executionArn=arn) for arn in new]
    events = history(aws, new[0]) if new else []
    calls, invocations = recorder.calls_since(mark), recorder.invocations_since(mark)
    output = json.loads(described[0].get("output") or "{}") if described else {}
    details: dict[str, Any] = {
        "executions": len(new),
        "status": described[0]["status"] if described else "none",
        "action": output.get("action"),
        "alias": alias_state(aws, name),
        "transitions": transitions(events),
        "states": [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e],
        "invocations": [(i.function, i.end - i.start, i.log_bytes) for i in invocations],
        "calls": [
            (c.function, c.service, c.operation, c.request_bytes, round(c.end - c.start, 6))
            for c in calls
            if c.function
        ],
        "order": _order_after_restore(controller, calls, restored, events),
        "path": _critical_path(controller, t0, fired, restored, calls, invocations),
        "incident_time_to_restore_ms": output.get("time_to_restore_ms"),
    }
    return Sample("workflow", name, restored - t0, details)


def _member(aws: Any, controller: Controller, recorder: Recorder, member: InAccount, name: str) -> Sample:
    """The same incident in a member account: its alarm forwarded to the hub's bus, the hub acting through the
    member's rollbackctl-target role (assumed once per incident)."""
    machine = controller.state_machine
    before = executions(aws, machine)
    mark = recorder.mark()
    t0 = time.perf_counter()
    fire(member, f"{name}-errors")
    fired = time.perf_counter()
    restored = recorder.wait_for("UpdateAlias", name)
    wait_idle(aws, [machine])
    new = sorted(executions(aws, machine) - before)
    described = [aws.client("stepfunctions").describe_execution(executionArn=arn) for arn in new]
    output = json.loads(described[0].get("output") or "{}") if described else {}
    calls, invocations = recorder.calls_since(mark), recorder.invocations_since(mark)
    details = {
        "executions": len(new),
        "status": described[0]["status"] if described else "none",
        "action": output.get("action"),
        "alias": alias_state(member, name),
        "path": _critical_path(controller, t0, fired, restored, calls, invocations),
    }
    return Sample("member", name, restored - t0, details)


def _floor_a(aws: Any, floor: Floor, recorder: Recorder, name: str) -> Sample:
    _retarget(aws, floor, floor.target())
    try:
        before = executions(aws, floor.state_machine)
        mark = recorder.mark()
        t0 = time.perf_counter()
        fire(aws, f"{name}-errors")
        fired = time.perf_counter()
        restored = recorder.wait_for("UpdateAlias", name)
        wait_idle(aws, [floor.state_machine])
    finally:
        _retarget(aws, floor, floor.controller_target)
    new = sorted(executions(aws, floor.state_machine) - before)
    status = aws.client("stepfunctions").describe_execution(executionArn=new[0])["status"] if new else "none"
    calls, invocations = recorder.calls_since(mark), recorder.invocations_since(mark)
    task = next((i for i in invocations if i.function == floor.function), None)
    path = {
        "alarm_to_execution_started": fired - t0,
        "to_task_start": (task.start - fired) if task else None,
        "task_until_alias_back": (restored - task.start) if task else None,
        "aws_calls_in_task": sum(c.end - c.start for c in calls if c.function == floor.function and c.end <= restored),
    }
    details = {"executions": len(new), "status": status, "alias": alias_state(aws, name), "path": path}
    return Sample("floor_a", name, restored - t0, details)


def _floor_b(aws: Any, name: str) -> Sample:
    lam = aws.client("lambda")
    t0 = time.perf_counter()
    current = lam.get_alias(FunctionName=name, Name="live")
    lam.update_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion=current["FunctionVersion"],
        RoutingConfig={"AdditionalVersionWeights": {}},
        RevisionId=current["RevisionId"],
    )
    seconds = time.perf_counter() - t0
    patches.drain()  # the Track function's CloudTrail event for this UpdateAlias lands now, not in the next sample
    return Sample("floor_b", name, seconds, {"alias": alias_state(aws, name)})


# --- where the time goes --------------------------------------------------------------------------------


def _task_invocations(invocations: list[Invocation], function: str) -> list[Invocation]:
    return [i for i in invocations if i.function == function]


def _critical_path(
    controller: Controller,
    t0: float,
    fired: float,
    restored: float,
    calls: list[Call],
    invocations: list[Invocation],
) -> dict[str, Any]:
    """Alarm -> alias back, cut at the handler boundaries the hooks see."""
    triage_fn, restore_fn = controller.function("Triage"), controller.function("Restore")
    triage = next(iter(_task_invocations(invocations, triage_fn)), None)
    restore = next((i for i in _task_invocations(invocations, restore_fn) if i.start <= restored), None)
    if triage is None or restore is None:
        return {}

    def aws_time(function: str, start: float, end: float) -> tuple[float, dict[str, float]]:
        inside = [c for c in calls if c.function == function and start <= c.start and c.end <= end]
        per_op: dict[str, float] = {}
        for c in inside:
            per_op[c.operation] = per_op.get(c.operation, 0.0) + (c.end - c.start)
        return sum(per_op.values()), per_op

    triage_aws, triage_ops = aws_time(triage_fn, triage.start, triage.end)
    restore_aws, restore_ops = aws_time(restore_fn, restore.start, restored)
    return {
        **_calls_to_the_change(calls, (triage_fn, restore_fn), triage.start),
        "alarm_to_execution_started": fired - t0,
        "to_triage_start": triage.start - fired,
        "triage_handler": triage.end - triage.start,
        "triage_aws_calls": triage_aws,
        "triage_ops": triage_ops,
        "triage_to_restore_start": restore.start - triage.end,
        "restore_until_alias_back": restored - restore.start,
        "restore_aws_calls": restore_aws,
        "restore_ops": restore_ops,
    }


def _calls_to_the_change(calls: list[Call], functions: tuple[str, ...], started: float) -> dict[str, Any]:
    """The AWS calls the workflow's functions made from the start of triage up to and including the first mutating
    call (the change that puts traffic back), in order: the floor is 2 (one read, one change)."""
    made = sorted((c for c in calls if c.function in functions and c.start >= started), key=lambda c: c.start)
    change = next((i for i, c in enumerate(made) if c.mutating), None)
    if change is None:
        return {}
    path = made[: change + 1]
    return {"critical_path_calls": len(path), "critical_path_operations": [f"{c.service}:{c.operation}" for c in path]}


def _order_after_restore(
    controller: Controller, calls: list[Call], restored: float, events: list[dict[str, Any]]
) -> dict[str, Any]:
    """Did diagnosis and the notification happen after traffic was back? From the hooks' clocks (the first
    AWS call of the diagnose handler, the SNS Publish) and from the execution history's timestamps (the
    task that invokes each function is entered after the restore task has exited)."""
    diagnose_fn, notify_fn, restore_fn = (controller.function(p) for p in ("Diagnose", "Notify", "Restore"))
    diagnose_calls = [c.start for c in calls if c.function == diagnose_fn]
    publishes = [c.end for c in calls if c.function == notify_fn and c.operation == "Publish"]
    entered: dict[str, Any] = {}
    exited: dict[str, Any] = {}
    pending = None
    names: dict[str, str] = {}
    for event in events:
        if event["type"] == "TaskStateEntered":
            pending = event
        elif event["type"] == "LambdaFunctionScheduled" and pending is not None:
            # arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] (Triage and Restore run through alias live)
            function = event["lambdaFunctionScheduledEventDetails"]["resource"].split(":")[6]
            names[pending["stateEnteredEventDetails"]["name"]] = function
            entered.setdefault(function, pending["timestamp"])
            pending = None
        elif event["type"] == "TaskStateExited":
            state = event["stateExitedEventDetails"]["name"]
            if state in names:
                exited.setdefault(names[state], event["timestamp"])
    restore_exit = exited.get(restore_fn)
    return {
        "diagnosis_after_restore": bool(diagnose_calls) and min(diagnose_calls) >= restored,
        "notification_after_restore": bool(publishes) and min(publishes) >= restored,
        "history_diagnosis_after_restore": bool(restore_exit and diagnose_fn in entered)
        and entered[diagnose_fn] >= restore_exit,
        "history_notification_after_restore": bool(restore_exit and notify_fn in entered)
        and entered[notify_fn] >= restore_exit,
        "diagnosis_lag_ms": round((min(diagnose_calls) - restored) * 1000, 2) if diagnose_calls else None,
        "notification_lag_ms": round((min(publishes) - restored) * 1000, 2) if publishes else None,
    }


# --- the phase --------------------------------------------------------------------------------------------


def run(
    aws: Any,
    controller: Controller,
    recorder: Recorder,
    incidents: int = 50,
    warmup: int = 2,
    seed: int = 8,
    progress: Any = None,
    member: InAccount | None = None,
) -> dict[str, Any]:
    floor = deploy_floor(aws, controller)
    rng = random.Random(seed)  # noqa: S311 -- a seeded shuffle, not a secret
    samples: dict[str, list[Sample]] = {"workflow": [], "floor_a": [], "floor_b": []}
    if member is not None:
        samples["member"] = []
    cold: dict[str, float] = {}
    problems: list[str] = []
    for round_ in range(warmup + incidents):
        names = {kind: f"{prefix}-{round_:03d}" for kind, prefix in (("workflow", "wf"), ("floor_a", "fa"))}
        names["floor_b"] = f"fb-{round_:03d}"
        if member is not None:
            names["member"] = f"mb-{round_:03d}"
        for kind, name in names.items():
            canary(member if kind == "member" and member is not None else aws, name, alarm=kind != "floor_b")
        wait_idle(aws, [controller.state_machine, floor.state_machine])  # the Track function's CloudTrail events
        order = list(names)
        rng.shuffle(order)
        for kind in order:
            if kind == "workflow":
                sample = _workflow(aws, controller, recorder, names[kind])
            elif kind == "member" and member is not None:
                sample = _member(aws, controller, recorder, member, names[kind])
            elif kind == "floor_a":
                sample = _floor_a(aws, floor, recorder, names[kind])
            else:
                sample = _floor_b(aws, names[kind])
            problems += _check(sample)
            if round_ < warmup:
                cold.setdefault(kind, sample.seconds)
            else:
                samples[kind].append(sample)
        if progress:
            progress(round_ + 1, warmup + incidents)
    return _summarise(samples, cold, problems, warmup)


def _check(sample: Sample) -> list[str]:
    d = sample.details
    out = []
    if d.get("alias") != ("1", {}):
        out.append(f"{sample.kind} {sample.name}: alias reads back {d.get('alias')}, expected version 1 alone")
    if sample.kind != "floor_b" and (d.get("executions") != 1 or d.get("status") != "SUCCEEDED"):
        out.append(f"{sample.kind} {sample.name}: {d.get('executions')} execution(s), status {d.get('status')}")
    if sample.kind in ("workflow", "member") and d.get("action") != "rolled_back":
        out.append(f"workflow {sample.name}: action {d.get('action')}, expected rolled_back")
    return out


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


STEPS = (
    "alarm_to_execution_started",
    "to_triage_start",
    "triage_handler",
    "triage_aws_calls",
    "triage_to_restore_start",
    "restore_until_alias_back",
    "restore_aws_calls",
)


def _where(paths: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The p50 of each step of the critical path, and the AWS calls of Triage and Restore per incident."""
    paths = [p for p in paths if p]
    if not paths:
        return {}
    ops: dict[str, dict[str, float]] = {"triage_ops": {}, "restore_ops": {}}
    for path in paths:
        for part, per_op in ops.items():
            for op, seconds in path[part].items():
                per_op[op] = per_op.get(op, 0.0) + seconds

    def per_incident(per_op: dict[str, float]) -> dict[str, float]:
        return {op: round(v / len(paths) * 1000, 2) for op, v in sorted(per_op.items(), key=lambda kv: -kv[1])}

    return {
        f"{kind}_p50_ms": {step: _ms(_median([p[step] for p in paths])) for step in STEPS},
        f"{kind}_triage_calls_ms_per_incident": per_incident(ops["triage_ops"]),
        f"{kind}_restore_calls_before_alias_back_ms_per_incident": per_incident(ops["restore_ops"]),
    }


def _summarise(
    samples: dict[str, list[Sample]], cold: dict[str, float], problems: list[str], warmup: int
) -> dict[str, Any]:
    stats = {kind: summary_ms([s.seconds for s in group]) for kind, group in samples.items()}
    workflow = samples["workflow"]
    orders = [s.details["order"] for s in workflow]
    paths = [s.details["path"] for s in workflow if s.details["path"]]
    floor_paths = [s.details["path"] for s in samples["floor_a"]]
    where = {**_where(paths, "workflow"), **_where([s.details["path"] for s in samples.get("member", [])], "member")}
    where["floor_a_p50_ms"] = {
        step: _ms(_median([p[step] for p in floor_paths if p.get(step) is not None]))
        for step in ("alarm_to_execution_started", "to_task_start", "task_until_alias_back", "aws_calls_in_task")
    }
    p50 = {kind: stats[kind]["p50_ms"] for kind in stats}
    return {
        "incidents": len(workflow),
        "warmup_rounds": warmup,
        "workflow": stats["workflow"],
        "floor_a": stats["floor_a"],
        "floor_b": stats["floor_b"],
        "cold_first_sample_ms": {kind: round(s * 1000, 2) for kind, s in cold.items()},
        "restore_ratio": round(p50["workflow"] / p50["floor_a"], 3),
        "restore_ratio_api": round(p50["workflow"] / p50["floor_b"], 3),
        # the same incident in a member account over the hub's own (goal at most 1.2)
        **(
            {"member": stats["member"], "member_restore_ratio": round(p50["member"] / p50["workflow"], 3)}
            if "member" in stats
            else {}
        ),
        "diagnosis_after_restore": sum(o["diagnosis_after_restore"] for o in orders),
        "notification_after_restore": sum(o["notification_after_restore"] for o in orders),
        "history_diagnosis_after_restore": sum(o["history_diagnosis_after_restore"] for o in orders),
        "history_notification_after_restore": sum(o["history_notification_after_restore"] for o in orders),
        "diagnosis_lag_p50_ms": _median([o["diagnosis_lag_ms"] for o in orders]),
        "notification_lag_p50_ms": _median([o["notification_lag_ms"] for o in orders]),
        "incident_time_to_restore_p50_ms": _median([s.details["incident_time_to_restore_ms"] for s in workflow]),
        # the AWS calls from triage's start to the change that puts traffic back (goal at most 5; floor 2)
        "critical_path_calls": _median([p["critical_path_calls"] for p in paths if "critical_path_calls" in p]),
        "critical_path_operations": next(
            (p["critical_path_operations"] for p in paths if "critical_path_operations" in p), []
        ),
        "where_the_time_goes": where,
        "problems": problems,
        "per_incident": [
            {
                "transitions": s.details["transitions"],
                "states": s.details["states"],
                "invocations": s.details["invocations"],
                "calls": s.details["calls"],
                "incident_time_to_restore_ms": s.details["incident_time_to_restore_ms"],
            }
            for s in workflow
        ],
        "calls_per_incident_by_operation": {
            op: round(count / max(1, len(workflow)), 2)
            for op, count in by_operation(
                _as_calls(c for s in workflow for c in s.details["calls"])  # type: ignore[arg-type]
            ).items()
        },
    }


def _as_calls(rows: Any) -> list[Call]:
    return [
        Call(function, service, operation, 0.0, request_bytes=size) for function, service, operation, size, _ in rows
    ]
