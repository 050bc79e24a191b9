"""Where an event enters: validate an EventBridge event and normalise it.

Anything that is not exactly an event we handle raises ``InvalidEvent`` with a reason a human can read;
the workflow records that as an ``ignored`` incident and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Trigger, iso, parse_time

ALARM_STATE_CHANGE = ("aws.cloudwatch", "CloudWatch Alarm State Change")
ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
MAX_NAME = 255


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
        )


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


def parse(event: Any) -> AlarmChange:
    """Validate a CloudWatch Alarm State Change event (the shape AWS documents)."""
    event = _obj(event, "the event")
    kind = (event.get("source"), event.get("detail-type"))
    if kind != ALARM_STATE_CHANGE:
        raise InvalidEvent(f"unsupported event ({describe(event)}); rollbackctl handles {ALARM_STATE_CHANGE}")
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
