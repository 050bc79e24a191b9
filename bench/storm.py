"""Alarm storm: many alarm events for many services at once, as EventBridge delivers them (at least once).

The estate: ``services`` Lambda aliases, each with an Errors alarm that sends its tags in its events (tag
propagation, as the README advises). ``canaries`` of them are mid-canary
(alias ``live`` on version 1, 10% on version 2); the others are steady on version 1, deployed two days ago
and recorded good in the ledger, with alarms that fire too (the controller must not touch them: an alarm
on a target whose deployment is past the watch window pages instead of rolling back).

The events: every alarm goes to ALARM; some alarms flap (ALARM -> OK -> ALARM, some twice), each transition
one original event. The rest of the ``events`` are copies of originals: redeliveries (the same event, same
id, as EventBridge retries) and duplicates (the same transition under a new event id). Shuffled, and
delivered from ``workers`` threads at once through the default bus's rules (moto's own dispatch: pattern
matching, then the emulator's delivery to the state machine with its DLQ). PutEvents would mint a new id
for every event; a redelivery must keep its id, so the bench hands each event to the rules as PutEvents does.

Counted with the botocore hooks: every AWS call the controller's Lambda handlers made (mutating = the set
in ``rollbackctl.emulator.faults.MUTATING``), per event; read back: every alias, every incident.
"""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from .calls import Recorder, by_operation, controller_calls
from .common import Controller, alias_state, executions, wait_idle

DEPLOYER = "arn:aws:iam::123456789012:user/deployer"


def _cw_time(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+0000"


def _state(value: str, ts: datetime) -> dict[str, Any]:
    reason = "Threshold Crossed: 1 datapoint [5.0] >= 1.0" if value == "ALARM" else "Threshold Crossed: [0.0] < 1.0"
    return {"value": value, "reason": reason, "timestamp": _cw_time(ts)}


def build_estate(aws: Any, controller: Controller, services: int, canaries: int) -> list[dict[str, Any]]:
    from rollbackctl.emulator import estate
    from rollbackctl.store import Ledger

    table = controller.deployment.outputs["LedgerTableName"]
    ledger = Ledger(aws.client("dynamodb"), table)
    plan = []
    for n in range(services):
        name, kind = f"svc-{n:02d}", "canary" if n < canaries else "steady"
        if kind == "canary":
            estate.lambda_with_versions(aws, name, 2)
            estate.alias(aws, name, "live", "1", canary=("2", 0.1))
        else:
            estate.lambda_with_versions(aws, name, 1)
            estate.alias(aws, name, "live", "1")
        estate.lambda_errors_alarm(aws, f"{name}-errors", name, "live", propagate_tags=True)  # as README advises
        plan.append({"name": name, "kind": kind, "alarm": f"{name}-errors"})
    wait_idle(aws, [controller.state_machine])  # the Track function records each CreateAlias first
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for service in plan:
        if service["kind"] == "steady":
            target = f"arn:aws:lambda:{aws.region}:123456789012:function:{service['name']}:live"
            ledger.record_deployment(target, "1", two_days_ago, DEPLOYER)
            ledger.record(target, "1", "good", "served past the watch window")
    return plan


def build_events(aws: Any, plan: list[dict[str, Any]], total: int, rng: random.Random) -> tuple[list, dict]:
    """(shuffled deliveries, what they are). Every transition happened in the last second, after the estate
    was deployed."""
    from moto.cloudwatch.models import cloudwatch_backends

    from rollbackctl.emulator.patches import alarm_configuration, alarm_tags

    alarms = cloudwatch_backends["123456789012"][aws.region].alarms
    start = datetime.now(UTC)
    originals: list[dict[str, Any]] = []
    flapping = set(rng.sample(range(len(plan)), len(plan) // 2))
    twice = set(rng.sample(sorted(flapping), len(flapping) * 2 // 5))
    for index, service in enumerate(plan):
        alarm = alarms[service["alarm"]]
        states = (
            ["ALARM"] + (["OK", "ALARM"] if index in flapping else []) + (["OK", "ALARM"] if index in twice else [])
        )
        previous, previous_ts = "OK", start - timedelta(minutes=5)
        for step, value in enumerate(states):
            ts = start + timedelta(milliseconds=100 * step + index)
            originals.append(
                {
                    "version": "0",
                    "id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "detail-type": "CloudWatch Alarm State Change",
                    "source": "aws.cloudwatch",
                    "account": "123456789012",
                    "time": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": aws.region,
                    "resources": [alarm.alarm_arn],
                    "detail": {
                        "alarmName": alarm.name,
                        "state": _state(value, ts),
                        "previousState": _state(previous, previous_ts),
                        "configuration": alarm_configuration(alarm),
                        **alarm_tags(alarm, cloudwatch_backends["123456789012"][aws.region]),
                    },
                }
            )
            previous, previous_ts = value, ts
    deliveries = [("original", e) for e in originals]
    while len(deliveries) < total:
        original = rng.choice(originals)
        if rng.random() < 0.5:
            deliveries.append(("redelivery", copy.deepcopy(original)))
        else:
            deliveries.append(("duplicate", dict(copy.deepcopy(original), id=str(uuid.UUID(int=rng.getrandbits(128))))))
    rng.shuffle(deliveries)
    # let every transition lie in the past, as it would when EventBridge delivers it
    newest = start + timedelta(milliseconds=100 * 5 + len(plan))
    time.sleep(max(0.0, (newest - datetime.now(UTC)).total_seconds()) + 0.01)
    counts = Counter(kind for kind, _ in deliveries)
    counts.update(f"{e['detail']['state']['value']} event" for _, e in deliveries)
    mix = {
        "originals": len(originals),
        "alarm_transitions": sum(1 for e in originals if e["detail"]["state"]["value"] == "ALARM"),
        "ok_transitions": sum(1 for e in originals if e["detail"]["state"]["value"] == "OK"),
        "flapping_alarms": len(flapping),
        "flapping_twice": len(twice),
        **dict(counts),
    }
    return [e for _, e in deliveries], mix


def _deliver(aws: Any, event: dict[str, Any]) -> None:
    """What PutEvents does with an entry on the default bus (moto's loop), keeping the event's own id."""
    from moto.events.models import events_backends

    bus = events_backends["123456789012"][aws.region].event_buses["default"]
    for rule in list(bus.rules.values()):
        rule.send_to_targets(copy.deepcopy(event))


def run(
    aws: Any,
    controller: Controller,
    recorder: Recorder,
    events: int = 1000,
    services: int = 50,
    canaries: int = 20,
    workers: int = 16,
    seed: int = 8,
) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311 -- a seeded shuffle, not a secret
    plan = build_estate(aws, controller, services, canaries)
    deliveries, mix = build_events(aws, plan, events, rng)
    machine = controller.state_machine
    mark = recorder.mark()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda e: _deliver(aws, e), deliveries))
    delivered = time.perf_counter()
    wait_idle(aws, [machine], timeout=900, poll=0.25)
    drained = time.perf_counter()

    functions = controller.functions.values()
    calls = controller_calls(recorder.calls_since(mark), functions)
    invocations = [i for i in recorder.invocations_since(mark) if i.function in set(functions)]
    mutating = [c for c in calls if c.mutating and not c.error]
    arns_in_order = sorted(executions(aws, machine))
    sfn = aws.client("stepfunctions")
    described = [sfn.describe_execution(executionArn=arn) for arn in arns_in_order]
    outputs = [json.loads(d.get("output") or "{}") for d in described]
    decisions = Counter(str(o.get("decision")) for o in outputs)
    from rollbackctl.store import IncidentStore

    incidents = IncidentStore(aws.client("dynamodb"), controller.deployment.outputs["IncidentTableName"]).list(10_000)
    actions = Counter(str(i.action) for i in incidents)
    rolled_back = {i.target for i in incidents if i.action == "rolled_back"}
    problems = []
    for service in plan:
        state = alias_state(aws, service["name"])
        if service["kind"] == "canary" and state != ("1", {}):
            problems.append(f"canary {service['name']} reads back {state}, expected version 1 alone")
        if service["kind"] == "steady" and state != ("1", {}):
            problems.append(f"steady {service['name']} was changed: {state}")
    statuses = Counter(d["status"] for d in described)
    if statuses.get("SUCCEEDED", 0) != len(described):
        problems.append(f"executions: {dict(statuses)}")
        for d in described:
            if d["status"] != "SUCCEEDED":
                problems.append(
                    f"{d['executionArn'].rsplit(':', 1)[-1]} {d['status']}: {_failure(sfn, d['executionArn'])}"
                )
    dlq = controller.deployment.outputs.get("EventsDeadLetterQueueUrl")
    dead = 0
    if dlq:
        attributes = aws.client("sqs").get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
        )
        dead = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    return {
        "storm_events": len(deliveries),
        "storm_services": services,
        "storm_expected_rollbacks": canaries,
        "storm_rollbacks": len(rolled_back),
        "storm_rolled_back_incidents": actions.get("rolled_back", 0),
        "storm_mutating_calls": len(mutating),
        "storm_mutating_by_operation": by_operation(mutating),
        "storm_calls": len(calls),
        "storm_calls_per_event": round(len(calls) / len(deliveries), 3),
        "storm_calls_per_execution": round(len(calls) / max(1, len(described)), 3),
        "storm_drain_seconds": round(drained - t0, 2),
        "storm_delivery_seconds": round(delivered - t0, 2),
        "storm_workers": workers,
        "storm_mix": mix,
        "storm_executions": len(described),
        "storm_execution_status": dict(statuses),
        "storm_decisions": dict(decisions),
        "storm_incident_actions": dict(actions),
        "storm_sns_publishes": sum(1 for c in calls if c.operation == "Publish" and not c.error),
        "storm_invocations": dict(Counter(i.function for i in invocations)),
        "storm_calls_by_function": dict(Counter(str(c.function) for c in calls)),
        "storm_calls_by_operation": by_operation(calls),
        "storm_calls_by_decision": _calls_by_decision(calls, arns_in_order, outputs),
        "storm_dead_letters": dead,
        "storm_problems": problems,
    }


def _failure(sfn: Any, execution: str) -> str:
    """The first failed task's error and cause, from the execution history."""
    for event in sfn.get_execution_history(executionArn=execution)["events"]:
        for key in ("lambdaFunctionFailedEventDetails", "taskFailedEventDetails", "executionFailedEventDetails"):
            if key in event:
                details = event[key]
                return f"{details.get('error', '')}: {str(details.get('cause', ''))[:400]}"
    return "unknown"


def _calls_by_decision(calls: list[Any], arns: list[str], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Controller calls per execution, by how the execution ended (calls carry the execution they served;
    the Track function's calls, from CloudTrail events, serve none)."""
    per_execution = Counter(c.execution for c in calls)
    groups: dict[str, list[int]] = {}
    for arn, output in zip(arns, outputs, strict=True):
        groups.setdefault(str(output.get("decision")), []).append(per_execution.get(arn, 0))
    out: dict[str, Any] = {
        decision: {"executions": len(counts), "calls_per_execution": round(sum(counts) / len(counts), 2)}
        for decision, counts in sorted(groups.items())
    }
    out["outside_executions"] = sum(n for arn, n in per_execution.items() if arn not in set(arns))
    return out
