"""Where an event enters: validate an EventBridge event and normalise it.

Anything that is not exactly an event we handle raises ``InvalidEvent`` with a reason a human can read;
the workflow records that as an ``ignored`` incident and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import kinds
from .kinds import short_name
from .model import Trigger, iso, parse_time

ALARM_STATE_CHANGE = ("aws.cloudwatch", "CloudWatch Alarm State Change")
PIPELINE_EXECUTION = ("aws.codepipeline", "CodePipeline Pipeline Execution State Change")
PIPELINE_ACTION = ("aws.codepipeline", "CodePipeline Action Execution State Change")
CODEDEPLOY_DEPLOYMENT = ("aws.codedeploy", "CodeDeploy Deployment State-change Notification")
ECS_DEPLOYMENT = ("aws.ecs", "ECS Deployment State Change")
STACK_STATUS = ("aws.cloudformation", "CloudFormation Stack Status Change")
# Started by an operator with `rollbackctl rollback TARGET` (never through EventBridge).
MANUAL_ROLLBACK = ("rollbackctl", "Manual Rollback")
# Started by Track (never through EventBridge) when an account deploys an artifact an incident marked bad.
BAD_ARTIFACT = ("rollbackctl", "Bad Artifact Deployed")
HANDLED = (
    ALARM_STATE_CHANGE,
    PIPELINE_EXECUTION,
    PIPELINE_ACTION,
    CODEDEPLOY_DEPLOYMENT,
    ECS_DEPLOYMENT,
    STACK_STATUS,
    MANUAL_ROLLBACK,
    BAD_ARTIFACT,
)
ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
MAX_NAME = 255
MAX_ALARM_TAGS = 50  # a CloudWatch resource has at most 50 tags


class InvalidEvent(ValueError):
    """The event is malformed or of a kind rollbackctl does not handle."""


@dataclass
class AlarmChange:
    name: str
    arn: str
    state: str
    previous_state: str
    timestamp: str
    reason: str
    event_id: str
    region: str
    account: str
    # configuration.metrics: metricStat metrics and/or metric-math expressions
    metrics: list[dict[str, Any]] = field(default_factory=list)
    # composite alarms only
    alarm_rule: str | None = None
    # the alarm's tags as the event carries them (CloudWatch alarm tag propagation); None: look them up
    tags: dict[str, str] | None = None

    def trigger(self) -> Trigger:
        return Trigger(
            kind="alarm",
            name=self.name,
            id=self.arn,
            state=self.state,
            time=self.timestamp,
            reason=self.reason,
            event_id=self.event_id,
            region=self.region,
            account=self.account,
            metric=self.watched(),
        )

    def watched(self) -> str:
        """The metric the alarm watched, from the event's own configuration: its first metricStat's namespace and
        name ("" for a composite alarm or one on metric math alone)."""
        for query in self.metrics:
            stat = query.get("metricStat")
            metric = stat.get("metric") if isinstance(stat, dict) else None
            if isinstance(metric, dict) and isinstance(metric.get("name"), str) and metric["name"]:
                namespace = metric.get("namespace")
                return f"{namespace if isinstance(namespace, str) else ''} {metric['name']}".strip()[:512]
        return ""


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidEvent(f"{where} must be an object, got {type(value).__name__}")
    return value


def _text(value: Any, where: str, *, required: bool = True, limit: int = 4096) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidEvent(f"{where} must be a non-empty string")
    if len(value) > limit:
        raise InvalidEvent(f"{where} is longer than {limit} characters")
    return value


def describe(event: Any) -> str:
    """A short description of any event, for the reason of an ignored incident."""
    if not isinstance(event, dict):
        return f"a {type(event).__name__}, not an EventBridge event"
    source = event.get("source")
    detail_type = event.get("detail-type")
    return f"source={source!r} detail-type={detail_type!r}"


@dataclass
class _Envelope:
    event_id: str
    time: str
    region: str
    account: str
    resources: list[str]


def _envelope(event: dict[str, Any]) -> _Envelope:
    raw_time = _text(event.get("time"), "time", limit=64)
    try:
        when = iso(parse_time(raw_time))
    except ValueError as exc:
        raise InvalidEvent(f"time is not a timestamp: {raw_time!r}") from exc
    resources = event.get("resources") or []
    if not isinstance(resources, list) or not all(isinstance(r, str) and len(r) <= 2048 for r in resources):
        raise InvalidEvent("resources must be a list of ARNs")
    return _Envelope(
        event_id=_text(event.get("id"), "id", required=False, limit=128),
        time=when,
        region=_text(event.get("region"), "region", required=False, limit=64),
        account=_text(event.get("account"), "account", required=False, limit=32),
        resources=resources,
    )


@dataclass
class PipelineFailure:
    """A CodePipeline pipeline execution, or one of its actions, FAILED."""

    pipeline: str
    execution_id: str
    state: str
    stage: str
    action: str
    error_code: str
    summary: str
    url: str
    envelope: _Envelope

    def trigger(self) -> Trigger:
        """Named PIPELINE/STAGE/ACTION (none of the three may hold a '/'); the reason is the error code, then the
        summary (``split_pipeline_reason`` reads them back)."""
        where = f"/{self.stage}/{self.action}" if self.action else (f"/{self.stage}" if self.stage else "")
        reason = " ".join(p for p in (self.error_code, self.summary) if p)
        return Trigger(
            "pipeline",
            f"{self.pipeline}{where}",
            self.execution_id,
            self.state,
            self.envelope.time,
            reason,
            self.envelope.event_id,
            self.envelope.region,
            self.envelope.account,
        )


# CodePipeline's FailureType values: what detail.execution-result.error-code holds (DESIGN.md, event shapes)
PIPELINE_FAILURE_TYPES = (
    "JobFailed",
    "ConfigurationError",
    "PermissionError",
    "RevisionOutOfSync",
    "RevisionUnavailable",
    "SystemUnavailable",
)


def split_pipeline_reason(reason: str) -> tuple[str, str]:
    """(error code, summary) of a pipeline trigger's reason; ('', reason) when it carries no error code."""
    code, _, summary = reason.partition(" ")
    return (code, summary) if code in PIPELINE_FAILURE_TYPES else ("", reason)


@dataclass
class CodeDeployFailure:
    """A CodeDeploy deployment ended in FAILURE or STOP."""

    application: str
    deployment_group: str
    deployment_id: str
    state: str
    envelope: _Envelope

    def trigger(self) -> Trigger:
        return Trigger(
            "codedeploy",
            f"{self.application}/{self.deployment_group}",
            self.deployment_id,
            self.state,
            self.envelope.time,
            "",
            self.envelope.event_id,
            self.envelope.region,
            self.envelope.account,
        )


@dataclass
class EcsDeploymentFailure:
    """ECS reported SERVICE_DEPLOYMENT_FAILED for a service (e.g. its circuit breaker tripped)."""

    service_arn: str
    deployment_id: str
    event_name: str
    reason: str
    envelope: _Envelope

    def trigger(self) -> Trigger:
        return Trigger(
            "ecs-deployment",
            short_name(self.service_arn),
            self.deployment_id,
            self.event_name,
            self.envelope.time,
            self.reason,
            self.envelope.event_id,
            self.envelope.region,
            self.envelope.account,
        )


@dataclass
class StackStatusChange:
    """CloudFormation reported a stack's new status (its update failed, its rollback started or failed, ...)."""

    stack_arn: str
    status: str
    reason: str
    envelope: _Envelope

    def trigger(self) -> Trigger:
        return Trigger(
            "cloudformation",
            short_name(self.stack_arn),
            self.stack_arn,
            self.status,
            self.envelope.time,
            self.reason,
            self.envelope.event_id,
            self.envelope.region,
            self.envelope.account,
        )


@dataclass
class ManualRollback:
    """An operator asked for a rollback of one target, optionally to a given version (--force: any)."""

    target: str
    to_version: str
    force: bool
    by: str
    why: str
    envelope: _Envelope

    def trigger(self) -> Trigger:
        return Trigger(
            "manual",
            self.by,
            self.target,
            "REQUESTED",
            self.envelope.time,
            self.why,
            self.envelope.event_id,
            self.envelope.region,
            self.envelope.account,
        )


@dataclass
class BadArtifactDeployed:
    """Track saw ``target`` start a deployment of ``version``, made of ``artifact``, which ``incident`` marked bad.
    A claim to check, never a fact: triage reads the ledger and the version again."""

    target: str
    version: str
    artifact: str
    incident: str
    envelope: _Envelope

    def trigger(self) -> Trigger:
        return Trigger(
            "bad-artifact",
            self.artifact,
            f"{self.target}@{self.version}",
            "DEPLOYED",
            self.envelope.time,
            f"{short_name(self.target)} started a deployment of {self.version}, made of {self.artifact}, which "
            f"incident {self.incident} marked bad",
            self.envelope.event_id,
            self.envelope.region,
            self.envelope.account,
        )


Signal = (
    AlarmChange
    | PipelineFailure
    | CodeDeployFailure
    | EcsDeploymentFailure
    | StackStatusChange
    | ManualRollback
    | BadArtifactDeployed
)


def parse(event: Any) -> Signal:
    """Validate any event rollbackctl handles (the shapes AWS documents) into a Signal. Anything that goes wrong
    while reading an event makes it an invalid event, never an error of the step."""
    try:
        return _parse(event)
    except InvalidEvent:
        raise
    except Exception as exc:
        raise InvalidEvent(f"the event could not be read ({type(exc).__name__})") from exc


def _parse(event: Any) -> Signal:
    event = _obj(event, "the event")
    kind = (event.get("source"), event.get("detail-type"))
    if kind not in HANDLED:
        handled = "; ".join(f"{s} / {t}" for s, t in HANDLED)
        raise InvalidEvent(f"unsupported event ({describe(event)}); rollbackctl handles {handled}")
    if kind == ALARM_STATE_CHANGE:
        return parse_alarm(event)
    detail = _obj(event.get("detail"), "detail")
    envelope = _envelope(event)
    if kind in (PIPELINE_EXECUTION, PIPELINE_ACTION):
        result = _obj(detail.get("execution-result") or {}, "detail.execution-result")
        return PipelineFailure(
            pipeline=_text(detail.get("pipeline"), "detail.pipeline", limit=100),
            execution_id=_text(detail.get("execution-id"), "detail.execution-id", limit=64),
            state=_text(detail.get("state"), "detail.state", limit=32),
            stage=_text(detail.get("stage"), "detail.stage", required=kind == PIPELINE_ACTION, limit=100),
            action=_text(detail.get("action"), "detail.action", required=kind == PIPELINE_ACTION, limit=100),
            error_code=_text(result.get("error-code"), "execution-result.error-code", required=False, limit=64),
            summary=_text(
                result.get("external-execution-summary"),
                "execution-result.external-execution-summary",
                required=False,
                limit=4096,
            ),
            url=_text(
                result.get("external-execution-url"),
                "execution-result.external-execution-url",
                required=False,
                limit=2048,
            ),
            envelope=envelope,
        )
    if kind == MANUAL_ROLLBACK:
        force = detail.get("force", False)
        if not isinstance(force, bool):
            raise InvalidEvent("detail.force must be true or false")
        return ManualRollback(
            target=_text(detail.get("target"), "detail.target", limit=2048),
            to_version=_text(detail.get("to"), "detail.to", required=False, limit=2048),
            force=force,
            by=_text(detail.get("by"), "detail.by", limit=256),
            why=_text(detail.get("reason"), "detail.reason", limit=1024),
            envelope=envelope,
        )
    if kind == BAD_ARTIFACT:
        return BadArtifactDeployed(
            target=_text(detail.get("target"), "detail.target", limit=2048),
            version=_text(detail.get("version"), "detail.version", limit=2048),
            artifact=_text(detail.get("artifact"), "detail.artifact", limit=2048),
            incident=_text(detail.get("incident"), "detail.incident", limit=128),
            envelope=envelope,
        )
    if kind == CODEDEPLOY_DEPLOYMENT:
        return CodeDeployFailure(
            application=_text(detail.get("application"), "detail.application", limit=100),
            deployment_group=_text(detail.get("deploymentGroup"), "detail.deploymentGroup", limit=100),
            deployment_id=_text(detail.get("deploymentId"), "detail.deploymentId", limit=64),
            state=_text(detail.get("state"), "detail.state", limit=32),
            envelope=envelope,
        )
    if kind == STACK_STATUS:
        return _stack_status(detail, envelope)
    service_arn = envelope.resources[0] if envelope.resources else ""
    if kinds.parse(service_arn) is None:
        raise InvalidEvent("resources[0] of an ECS Deployment State Change must be the service ARN")
    return EcsDeploymentFailure(
        service_arn=service_arn,
        deployment_id=_text(detail.get("deploymentId"), "detail.deploymentId", limit=128),
        event_name=_text(detail.get("eventName"), "detail.eventName", limit=64),
        reason=_text(detail.get("reason"), "detail.reason", required=False, limit=4096),
        envelope=envelope,
    )


def _stack_status(detail: dict[str, Any], envelope: _Envelope) -> StackStatusChange:
    """CloudFormation Stack Status Change (User Guide, "Stack Status Change event detail"): detail.stack-id, the
    stack's ID (its ARN), and detail.status-details.{status, status-reason}; resources[0] is the same stack."""
    stack_arn = _text(detail.get("stack-id"), "detail.stack-id", limit=2048)
    if kinds.parse(stack_arn) is None:
        raise InvalidEvent("detail.stack-id of a CloudFormation Stack Status Change must be the stack's ARN")
    if envelope.resources and envelope.resources[0] != stack_arn:
        raise InvalidEvent(
            "resources[0] and detail.stack-id of a CloudFormation Stack Status Change name different stacks"
        )
    status = _obj(detail.get("status-details"), "detail.status-details")
    return StackStatusChange(
        stack_arn=stack_arn,
        status=_text(status.get("status"), "detail.status-details.status", limit=64),
        reason=_text(status.get("status-reason"), "detail.status-details.status-reason", required=False, limit=4096),
        envelope=envelope,
    )


def _propagated_tags(detail: dict[str, Any]) -> dict[str, str] | None:
    """The alarm's tags from ``detail.alarmTags`` when CloudWatch says it read them (``alarmTagsStatus`` SUCCESS;
    CloudWatch User Guide, "Alarm tags in action payloads"); None otherwise, and for anything that is not a map of
    tag keys to values (1-128 and 0-256 characters), so that the tags are looked up instead."""
    tags = detail.get("alarmTags")
    if detail.get("alarmTagsStatus") != "SUCCESS" or not isinstance(tags, dict) or len(tags) > MAX_ALARM_TAGS:
        return None
    if not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 128 and len(v) <= 256 for k, v in tags.items()
    ):
        return None
    return dict(tags)


def parse_alarm(event: dict[str, Any]) -> AlarmChange:
    """Validate a CloudWatch Alarm State Change event."""
    detail = _obj(event.get("detail"), "detail")
    name = _text(detail.get("alarmName"), "detail.alarmName", limit=MAX_NAME)
    state = _obj(detail.get("state"), "detail.state")
    value = state.get("value")
    if value not in ALARM_STATES:
        raise InvalidEvent(f"detail.state.value must be one of {', '.join(ALARM_STATES)}, got {value!r}")
    raw_time = _text(state.get("timestamp") or event.get("time"), "detail.state.timestamp", limit=64)
    try:
        timestamp = iso(parse_time(raw_time))
    except ValueError as exc:
        raise InvalidEvent(f"detail.state.timestamp is not a timestamp: {raw_time!r}") from exc
    previous = detail.get("previousState")
    previous_value = ""
    if previous is not None:
        previous_value = _text(
            _obj(previous, "detail.previousState").get("value"), "previousState.value", required=False, limit=32
        )
    region = _text(event.get("region"), "region", required=False, limit=64)
    account = _text(event.get("account"), "account", required=False, limit=32)
    resources = event.get("resources") or []
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise InvalidEvent("resources must be a list of ARNs")
    arn = resources[0] if resources else f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
    if not arn.startswith("arn:") or ":alarm:" not in arn:
        raise InvalidEvent(f"resources[0] is not a CloudWatch alarm ARN: {arn[:200]!r}")
    configuration = detail.get("configuration") or {}
    configuration = _obj(configuration, "detail.configuration")
    metrics = configuration.get("metrics") or []
    if not isinstance(metrics, list) or not all(isinstance(m, dict) for m in metrics):
        raise InvalidEvent("detail.configuration.metrics must be a list of objects")
    alarm_rule = configuration.get("alarmRule")
    if alarm_rule is not None:
        alarm_rule = _text(alarm_rule, "detail.configuration.alarmRule", limit=10240)
    return AlarmChange(
        tags=_propagated_tags(detail),
        name=name,
        arn=arn,
        state=value,
        previous_state=previous_value,
        timestamp=timestamp,
        reason=_text(state.get("reason"), "detail.state.reason", required=False, limit=10240),
        event_id=_text(event.get("id"), "id", required=False, limit=128),
        region=region,
        account=account,
        metrics=metrics,
        alarm_rule=alarm_rule,
    )
