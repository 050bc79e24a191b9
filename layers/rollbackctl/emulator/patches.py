"""The few places where moto needs to behave like AWS for rollbackctl. Each follows AWS documentation.

- Lambda invoke runs the handler in-process (``runtime.InProcessRuntime``) instead of in Docker.
- CloudWatch ``SetAlarmState`` emits the "CloudWatch Alarm State Change" event to EventBridge.
- EventBridge rules deliver to Step Functions state machine targets (StartExecution) and to Lambda
  function targets (asynchronous invoke), with the target's dead-letter queue on failure; to event bus targets,
  in another account or Region too, the event unchanged, as the receiving bus's policy allows (``buses.py``).
- STS AssumeRole only of a role that exists and whose trust policy allows the caller (``sts.py``; the caller is
  who the request's credentials say, ``identity.py``).
- CloudTrail management events for the deploying API calls (see ``cloudtrail.py``).
- CloudWatch ``PutCompositeAlarm`` (moto's put_metric_alarm already reads AlarmRule; the action was
  not routed); both keep the alarm's ``ActionConfiguration``, whose tag propagation puts ``alarmTags`` in the
  state-change events.
- Step Functions ``StartExecution`` without a name gets a UUID, as AWS documents (moto named it "None",
  so a second unnamed start failed with ExecutionAlreadyExists).
- Lambda functions keep the SnapStart they were created with (``ApplyOn``; ``OptimizationStatus`` On for their
  published versions).
- Lambda aliases get a new RevisionId on every update, and UpdateAlias with a stale RevisionId fails with
  PreconditionFailedException (412), as in AWS.
- CodePipeline, CodeDeploy, ECS deployments and Elastic Beanstalk environments: see ``codepipeline.py``,
  ``codedeploy.py``, ``ecs.py``, ``beanstalk.py``; CloudFormation stack updates and their ways back:
  ``cloudformation.py``; the operations among them that take time progress through moto's state manager
  (``progress.py``).
- Step Functions parses a definition once, not on every execution, and keeps its Lambda client
  (``stepfunctions.py``).
- A clock scale for Wait states and Retry intervals (1.0 = real seconds, as in AWS; tests use less).
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import botocore.endpoint
from moto.awslambda.models import LambdaAlias, LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.events.models import Rule, events_backends
from moto.sqs import sqs_backends
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import get_backend as sfn_backend
from moto.utilities.arns import parse_arn

from . import (
    beanstalk,
    buses,
    cloudformation,
    cloudtrail,
    codebuild,
    codedeploy,
    codepipeline,
    dynamodb,
    ecs,
    faults,
    identity,
    stepfunctions,
    sts,
)
from .runtime import InProcessRuntime, share_botocore_loader


class Clock:
    """How long a second of Wait or Retry interval lasts here. AWS and ``local-aws``: 1.0."""

    scale: float = 1.0


_state: dict[str, Any] = {"runtime": None, "applied": False}
_rule_lock = threading.Lock()
_originals: dict[str, Any] = {}


def set_runtime(runtime: InProcessRuntime) -> None:
    _state["runtime"] = runtime


def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
    runtime: InProcessRuntime | None = _state["runtime"]
    if runtime is None or self.function_name not in runtime.code_dirs:
        message = f"function {self.function_name} has no in-process handler in the embedded emulator"
        return json.dumps({"errorType": "Lambda.ServiceException", "errorMessage": message}), True, ""
    return runtime.invoke(self, event)


def _update_alias_response(self: Any) -> Any:
    """UpdateAlias with a RevisionId that is not the alias's current one fails, as in AWS (412)."""
    from urllib.parse import unquote

    from moto.awslambda.exceptions import PreconditionFailedException

    revision = json.loads(self.body or "{}").get("RevisionId")
    if revision:
        function_name = unquote(self.path.rsplit("/")[-3])
        alias = self.backend.get_alias(unquote(self.path.rsplit("/", 2)[-1]), function_name)
        if alias.revision_id != revision:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve "
                "the latest Revision Id"
            )
    return _originals["update_alias_response"](self)


def _function_init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    _originals["function_init"](self, account_id, spec, *args, **kwargs)
    self.snap_start_apply_on = str((spec.get("SnapStart") or {}).get("ApplyOn") or "None")


def _function_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The function's SnapStart as created (moto reports it off whatever was asked): ApplyOn as set, and
    OptimizationStatus On for a published version of a function with ApplyOn PublishedVersions, Off for $LATEST
    (Lambda API Reference, SnapStart and SnapStartResponse)."""
    config: dict[str, Any] = _originals["function_configuration"](self, *args, **kwargs)
    apply_on = getattr(self, "snap_start_apply_on", "None")
    published = str(self.version) != "$LATEST"
    status = "On" if apply_on == "PublishedVersions" and published else "Off"
    config["SnapStart"] = {"ApplyOn": apply_on, "OptimizationStatus": status}
    return config


def _alias_update(self: Any, *args: Any, **kwargs: Any) -> None:
    # AWS gives an alias a new RevisionId on every change (moto kept the first one forever).
    _originals["alias_update"](self, *args, **kwargs)
    self.revision_id = str(uuid.uuid4())


# --- CloudWatch -> EventBridge ------------------------------------------------------------------------


def _cw_timestamp(ts: datetime) -> str:
    # AWS writes e.g. "2019-10-02T17:04:40.985+0000" in these events.
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+0000"


def _metric_json(metric: Any) -> dict[str, Any]:
    return {
        "namespace": metric.namespace,
        "name": metric.metric_name,
        "dimensions": {d.name: d.value for d in metric.dimensions},
    }


def alarm_configuration(alarm: Any) -> dict[str, Any]:
    if alarm.rule:
        return {"alarmRule": alarm.rule, "description": alarm.description or ""}
    if alarm.metric_data_queries:
        metrics = []
        for query in alarm.metric_data_queries:
            entry: dict[str, Any] = {"id": query.id, "returnData": str(query.return_data).lower() != "false"}
            if query.label:
                entry["label"] = query.label
            if query.expression:
                entry["expression"] = query.expression
            if query.metric_stat:
                stat = query.metric_stat
                entry["metricStat"] = {
                    "metric": _metric_json(stat.metric),
                    "period": int(stat.period or 60),
                    "stat": stat.stat,
                }
            metrics.append(entry)
    else:
        metrics = [
            {
                "id": alarm.name[:60],
                "metricStat": {
                    "metric": {
                        "namespace": alarm.namespace,
                        "name": alarm.metric_name,
                        "dimensions": {d.name: d.value for d in alarm.dimensions},
                    },
                    "period": int(alarm.period or 60),
                    "stat": alarm.statistic or alarm.extended_statistic or "Average",
                },
                "returnData": True,
            }
        ]
    return {"description": alarm.description or "", "metrics": metrics}


def _put_metric_alarm(self: Any) -> Any:
    """PutMetricAlarm / PutCompositeAlarm keep the alarm's ActionConfiguration (moto drops it): DescribeAlarms returns
    it, and its AlarmTagsPropagation puts the alarm's tags in the state-change events (CloudWatch API Reference,
    "ActionConfiguration", "AlarmTagsPropagation")."""
    result = _originals["put_metric_alarm"](self)
    configuration = self._get_param("ActionConfiguration")
    alarm = self.cloudwatch_backend.alarms.get(self._get_param("AlarmName"))
    if alarm is not None:
        alarm.action_configuration = configuration if isinstance(configuration, dict) else None
    return result


def alarm_tags(alarm: Any, backend: Any) -> dict[str, Any]:
    """``alarmTags`` and ``alarmTagsStatus`` of a state-change event, when the alarm propagates its tags (CloudWatch
    User Guide, "Alarm tags in action payloads": the alarm's tags, filtered by IncludedTagKeys or ExcludedTagKeys;
    keys that begin with ``aws:`` are never propagated); {} when it does not."""
    propagation = (getattr(alarm, "action_configuration", None) or {}).get("AlarmTagsPropagation") or {}
    if str(propagation.get("Enabled")).lower() != "true":
        return {}
    tags = {k: v for k, v in backend.list_tags_for_resource(alarm.alarm_arn).items() if not k.startswith("aws:")}
    if propagation.get("IncludedTagKeys"):
        tags = {k: v for k, v in tags.items() if k in propagation["IncludedTagKeys"]}
    elif propagation.get("ExcludedTagKeys"):
        tags = {k: v for k, v in tags.items() if k not in propagation["ExcludedTagKeys"]}
    return {"alarmTags": tags, "alarmTagsStatus": "SUCCESS"}


def alarm_state_change_detail(alarm: Any, previous: dict[str, Any], backend: Any = None) -> dict[str, Any]:
    def state(value: str, reason: str, reason_data: str | None, ts: datetime) -> dict[str, Any]:
        out: dict[str, Any] = {"value": value, "reason": reason, "timestamp": _cw_timestamp(ts)}
        if reason_data and reason_data != "{}":
            out["reasonData"] = reason_data
        return out

    return {
        "alarmName": alarm.name,
        "state": state(alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp),
        "previousState": state(previous["value"], previous["reason"], previous["reason_data"], previous["ts"]),
        "configuration": alarm_configuration(alarm),
        **(alarm_tags(alarm, backend) if backend is not None else {}),
    }


def _set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
    alarm = self.alarms.get(alarm_name)
    previous = None
    if alarm is not None:
        previous = {
            "value": alarm.state_value,
            "reason": alarm.state_reason,
            "reason_data": alarm.state_reason_data,
            "ts": alarm.state_updated_timestamp,
        }
    _originals["set_alarm_state"](self, alarm_name, reason, reason_data, state_value)
    if alarm is None or previous is None or previous["value"] == state_value:
        return  # AWS emits the event on a change of state only
    account, region = self.account_id, self.region_name
    events_backends[account][region].put_events(
        [
            {
                "Source": "aws.cloudwatch",
                "DetailType": "CloudWatch Alarm State Change",
                "Detail": json.dumps(alarm_state_change_detail(alarm, previous, self)),
                "Resources": [alarm.alarm_arn],
            }
        ]
    )


# --- EventBridge -> Step Functions ----------------------------------------------------------------------


def _as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to a target: ISO time, no moto-internal fields."""
    delivered = copy.deepcopy(event)
    delivered.pop("ingestion-time", None)
    when = delivered.get("time")
    if isinstance(when, int | float):
        delivered["time"] = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return delivered


def _target_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    if "Input" in target:
        return str(target["Input"])
    path = target.get("InputPath")
    if path:
        value: Any = event
        for part in [p for p in path.lstrip("$").split(".") if p]:
            value = value.get(part) if isinstance(value, dict) else None
        return json.dumps(value)
    return json.dumps(event)


def _dead_letter(rule: Any, target: dict[str, Any], event: dict[str, Any], code: str, message: str) -> None:
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not dlq:
        return
    arn = parse_arn(dlq)
    # The message attributes AWS documents for EventBridge dead-letter messages.
    sqs_backends[arn.account][arn.region].send_message(
        queue_name=arn.resource_id,
        message_body=json.dumps(event),
        message_attributes={
            "RULE_ARN": {"DataType": "String", "StringValue": rule.arn},
            "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
            "ERROR_CODE": {"DataType": "String", "StringValue": code},
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": message[:1000]},
        },
    )


def _deliver_to_state_machine(rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
    arn = parse_arn(target["Arn"])
    delivered = _as_delivered(event)
    try:
        sfn_backend(arn.account, arn.region).start_execution(
            state_machine_arn=target["Arn"],
            name=str(uuid.uuid4()),
            execution_input=_target_input(target, delivered),
        )
    except Exception as exc:
        _dead_letter(rule, target, delivered, type(exc).__name__, str(exc))


def _deliver_to_function(rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
    """EventBridge invokes Lambda targets asynchronously (InvocationType Event)."""
    from moto.awslambda.models import lambda_backends

    arn = parse_arn(target["Arn"])
    delivered = _as_delivered(event)

    def invoke() -> None:
        try:
            fn = lambda_backends[arn.account][arn.region].get_function(target["Arn"])
            fn.invoke(_target_input(target, delivered), {"x-amz-invocation-type": "Event"}, {})
        except Exception as exc:
            _dead_letter(rule, target, delivered, type(exc).__name__, str(exc))

    thread = threading.Thread(target=invoke, name=f"eventbridge-{arn.resource_id}", daemon=True)
    _deliveries.append(thread)
    thread.start()


_deliveries: list[threading.Thread] = []


def drain(timeout: float = 30.0) -> None:
    """Wait for asynchronous deliveries still running (before the emulator goes away under them)."""
    while _deliveries:
        _deliveries.pop().join(timeout)


def _ours(arn: str) -> bool:
    return parse_arn(arn).service in ("states", "lambda") or buses.is_bus(arn)


def _bus_dead_letter(rule: Any, target: dict[str, Any], event: dict[str, Any], code: str, message: str) -> None:
    _dead_letter(rule, target, _as_delivered(event), code, message)


def _send_to_targets(self: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
    if not self.event_pattern.matches_event(original_event):
        return
    ours = [t for t in self.targets if _ours(t["Arn"])]
    if len(ours) < len(self.targets):
        with _rule_lock:
            saved = self.targets
            self.targets = [t for t in saved if t not in ours]
            try:
                _originals["send_to_targets"](self, original_event, transform_input)
            finally:
                self.targets = saved
    for target in ours:
        service = parse_arn(target["Arn"]).service
        if service == "lambda":
            _deliver_to_function(self, target, original_event)
        elif service == "events":
            buses.deliver(self, target, original_event, _bus_dead_letter)
        else:
            _deliver_to_state_machine(self, target, original_event)


def _start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
    return _originals["start_execution"](self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)


# --- clock --------------------------------------------------------------------------------------------


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    scaled = wait_seconds * Clock.scale
    if scaled > 0:
        env.program_state_event.wait(scaled)


class _ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: Retry intervals follow the clock."""

    @staticmethod
    def sleep(seconds: float) -> None:
        threading.Event().wait(seconds * Clock.scale)


def apply(runtime: InProcessRuntime, time_scale: float = 1.0) -> None:
    set_runtime(runtime)
    Clock.scale = time_scale
    if _state["applied"]:
        return
    share_botocore_loader()
    faults.install()
    identity.install()
    sts.install()
    dynamodb.install()
    codepipeline.install()
    codedeploy.install()
    ecs.install()
    cloudformation.install()
    codebuild.install()
    beanstalk.install()
    cloudtrail.install()
    stepfunctions.install()
    _originals["update_alias_response"] = LambdaResponse.update_alias
    LambdaResponse.update_alias = _update_alias_response
    _originals["alias_update"] = LambdaAlias.update
    LambdaAlias.update = _alias_update
    _originals["set_alarm_state"] = CloudWatchBackend.set_alarm_state
    _originals["send_to_targets"] = Rule.send_to_targets
    _originals["start_execution"] = StepFunctionsParserBackend.start_execution
    StepFunctionsParserBackend.start_execution = _start_execution
    LambdaFunction._invoke_lambda = _invoke_lambda
    _originals["function_init"] = LambdaFunction.__init__
    LambdaFunction.__init__ = _function_init
    _originals["function_configuration"] = LambdaFunction.get_configuration
    LambdaFunction.get_configuration = _function_configuration
    CloudWatchBackend.set_alarm_state = _set_alarm_state
    Rule.send_to_targets = _send_to_targets
    WaitFunction._wait_interval = _wait_interval
    _originals["put_metric_alarm"] = CloudWatchResponse.put_metric_alarm
    CloudWatchResponse.put_metric_alarm = _put_metric_alarm
    CloudWatchResponse.put_composite_alarm = _put_metric_alarm
    retrier_decl.time = _ScaledTime
    botocore.endpoint.time = _ScaledTime  # the SDK's retry backoff (standard mode) follows the clock too
    _state["applied"] = True
