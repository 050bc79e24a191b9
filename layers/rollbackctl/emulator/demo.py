"""``rollbackctl demo``: the controller deployed into the embedded emulator, a small estate, scenarios.

Every scenario is driven the way AWS would drive it: an alarm's state is set and CloudWatch emits the
state-change event, or a service (CodePipeline, CodeDeploy, ECS) emits its own event on the bus; EventBridge
starts the workflow. The demo then reads back the resulting AWS state
(the alias, the incident record, the message on the topic) and checks it against what should happen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..aws import wait_for_execution
from ..model import Incident
from ..store import IncidentStore, Ledger
from . import estate, patches
from .core import ACCOUNT, Emulator
from .deployer import Deployment, deploy
from .slack import SlackCatcher

Check = Callable[[Emulator, Deployment], list[str]]


@dataclass
class Scenario:
    name: str
    story: str
    expected_action: str
    setup: Callable[[Emulator, Deployment], None]
    alarm: str = ""  # the alarm that fires ...
    event: str = ""  # ... or the events/ file a service emits (its ids filled in by setup's state)
    check: Check = lambda aws, d: []  # the AWS state afterwards: a list of problems, empty when right
    # after the rollback, the service heals and the alarm goes back to OK (else it stays red: escalation)
    recovers: bool = False

    @property
    def follow_up(self) -> str:
        """The verify step's follow-up on-call should get after the bake ('' when none)."""
        if self.expected_action != "rolled_back" or not self.alarm:
            return ""
        return "recovered" if self.recovers else "escalated"


@dataclass
class Outcome:
    scenario: Scenario
    incident: Incident | None
    problems: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    slack: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def _canary(aws: Emulator, d: Deployment) -> None:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-live-errors", "checkout", "live")


def _all_at_once(aws: Emulator, d: Deployment) -> None:
    target = "arn:aws:lambda:us-east-1:123456789012:function:payments:live"
    estate.lambda_with_versions(aws, "payments", 3)
    estate.alias(aws, "payments", "live", "3")
    ledger = Ledger(aws.client("dynamodb"), d.outputs["LedgerTableName"])
    ledger.record(target, "2", "good", "served past the bake window")
    estate.custom_alarm(aws, "payments-p99-latency", "Shop/Payments", "LatencyP99", tags={"rollback:target": target})


def _no_known_good(aws: Emulator, d: Deployment) -> None:
    estate.lambda_with_versions(aws, "inventory", 2)
    estate.alias(aws, "inventory", "live", "2")
    estate.lambda_errors_alarm(aws, "inventory-live-errors", "inventory", "live")


def _dry_run(aws: Emulator, d: Deployment) -> None:
    estate.lambda_with_versions(aws, "search", 2)
    estate.alias(aws, "search", "live", "1", canary=("2", 0.25))
    estate.lambda_errors_alarm(aws, "search-live-errors", "search", "live", tags={"rollback:mode": "dry-run"})


def _unguarded(aws: Emulator, d: Deployment) -> None:
    estate.custom_alarm(aws, "batch-host-cpu", "AWS/EC2", "CPUUtilization")


def alias_is(function: str, alias_name: str, version: str, weights: dict[str, float] | None = None) -> Check:
    def check(aws: Emulator, d: Deployment) -> list[str]:
        alias = aws.client("lambda").get_alias(FunctionName=function, Name=alias_name)
        actual = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        if alias["FunctionVersion"] == version and actual == (weights or {}):
            return []
        return [
            f"alias {function}:{alias_name} is on {alias['FunctionVersion']} {actual}, expected {version} {weights}"
        ]

    return check


def _web_rolling_out(aws: Emulator, d: Deployment) -> None:
    estate.pipeline(aws, "web-pipeline")
    estate.pipeline_in_deploy(aws, "web-pipeline")
    one, two = estate.task_definitions(aws, "web", 2)
    estate.ecs_service(aws, "prod", "web", one, tags={"rollback:pipeline": "web-pipeline"})
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)
    estate.ecs_alarm(aws, "web-cpu", "prod", "web")


def _web_restored_and_pipeline_blocked(aws: Emulator, d: Deployment) -> list[str]:
    problems = []
    service = aws.client("ecs").describe_services(cluster="prod", services=["web"])["services"][0]
    primary = next(x["taskDefinition"] for x in service["deployments"] if x["status"] == "PRIMARY")
    if not primary.endswith("task-definition/web:1"):
        problems.append(f"ECS service prod/web serves {primary}, expected web:1")
    cp = aws.client("codepipeline")
    [latest] = cp.list_pipeline_executions(pipelineName="web-pipeline")["pipelineExecutionSummaries"][:1]
    if latest["status"] != "Stopped":
        problems.append(f"web-pipeline execution is {latest['status']}, expected Stopped")
    deploy_stage = [s for s in cp.get_pipeline_state(name="web-pipeline")["stageStates"] if s["stageName"] == "Deploy"]
    if deploy_stage[0]["inboundTransitionState"]["enabled"]:
        problems.append("the transition into web-pipeline's Deploy stage is still enabled")
    return problems


def _build_failed(aws: Emulator, d: Deployment) -> None:
    estate.pipeline(aws, "api-pipeline")
    _EVENT_IDS["execution-id"] = estate.failed_pipeline_execution(
        aws, "api-pipeline", "Build", "JobFailed", "Build terminated with state: FAILED"
    )


def _nothing_stopped(aws: Emulator, d: Deployment) -> list[str]:
    [latest] = aws.client("codepipeline").list_pipeline_executions(pipelineName="api-pipeline")[
        "pipelineExecutionSummaries"
    ][:1]
    return [] if latest["status"] == "Failed" else [f"api-pipeline execution is {latest['status']}, expected Failed"]


_EVENT_IDS: dict[str, str] = {}

SCENARIOS = [
    Scenario(
        "canary",
        "checkout:live is mid-canary (v2 at 10%); its Errors alarm fires, then clears after the rollback",
        "rolled_back",
        _canary,
        alarm="checkout-live-errors",
        check=alias_is("checkout", "live", "1"),
        recovers=True,
    ),
    Scenario(
        "all-at-once",
        "payments:live moved to v3 at once; a latency alarm tagged rollback:target fires",
        "rolled_back",
        _all_at_once,
        alarm="payments-p99-latency",
        check=alias_is("payments", "live", "2"),
        recovers=True,
    ),
    Scenario(
        "ecs-rolling",
        "ECS service prod/web is rolling out web:2 from web-pipeline; its CPU alarm fires and stays red",
        "rolled_back",
        _web_rolling_out,
        alarm="web-cpu",
        check=_web_restored_and_pipeline_blocked,
    ),
    Scenario(
        "no-known-good",
        "inventory:live moved to v2 at once; nothing is known good; its alarm fires",
        "refused",
        _no_known_good,
        alarm="inventory-live-errors",
        check=alias_is("inventory", "live", "2"),
    ),
    Scenario(
        "dry-run",
        "search:live is mid-canary; its alarm is tagged rollback:mode=dry-run",
        "dry_run",
        _dry_run,
        alarm="search-live-errors",
        check=alias_is("search", "live", "1", {"2": 0.25}),
    ),
    Scenario(
        "build-failed",
        "api-pipeline's build fails; CodePipeline reports the failed action",
        "ignored",
        _build_failed,
        event="codepipeline-action-failed.json",
        check=_nothing_stopped,
    ),
    Scenario(
        "unguarded", "an EC2 CPU alarm that guards no deployment fires", "ignored", _unguarded, alarm="batch-host-cpu"
    ),
]


def _event_for(scenario: Scenario, events_dir: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((events_dir / scenario.event).read_text())
    if event.get("source") == "aws.codepipeline":
        event["detail"].update(pipeline="api-pipeline", **{"execution-id": _EVENT_IDS["execution-id"]})
    return event


def subscribe_queue(aws: Emulator, topic_arn: str, name: str = "demo-oncall") -> str:
    """An SQS queue subscribed to the topic: what on-call would receive."""
    sqs = aws.client("sqs")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def drain_messages(aws: Emulator, url: str) -> list[dict[str, Any]]:
    """Every SNS envelope waiting in the queue (Subject, Message, MessageAttributes, ...)."""
    sqs = aws.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def executions(aws: Emulator, d: Deployment) -> set[str]:
    sfn = aws.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=d.outputs["StateMachineArn"])
    return {e["executionArn"] for page in pages for e in page["executions"]}


def fire(aws: Emulator, d: Deployment, alarm: str, state: str = "ALARM") -> list[str]:
    """Set an alarm's state as CloudWatch would; the executions EventBridge started."""
    patches.drain()  # what AWS delivered before (deployments the tracker records) lands first
    before = executions(aws, d)
    if state == "ALARM":
        estate.fire(aws, alarm)
    else:
        aws.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue=state, StateReason="test")
    return sorted(executions(aws, d) - before)


def wait_all(aws: Emulator, arns: list[str], timeout: float = 60.0) -> list[dict[str, Any]]:
    sfn = aws.client("stepfunctions")
    return [wait_for_execution(sfn, arn, timeout) for arn in arns]


def fire_and_wait(aws: Emulator, d: Deployment, alarm: str, state: str = "ALARM") -> list[dict[str, Any]]:
    """Set an alarm's state as CloudWatch would and wait for every workflow EventBridge started."""
    return wait_all(aws, fire(aws, d, alarm, state))


def wait_for_messages(aws: Emulator, url: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
    """What reached the queue once at least ``count`` messages did (or the timeout passed)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += drain_messages(aws, url)
        time.sleep(0.02)
    return got


def recover(aws: Emulator, alarm: str) -> None:
    """The service healed: CloudWatch moves the alarm back to OK."""
    aws.client("cloudwatch").set_alarm_state(
        AlarmName=alarm, StateValue="OK", StateReason="Threshold Crossed: the datapoints are back under the threshold"
    )


def deliver(aws: Emulator, d: Deployment, event: dict[str, Any]) -> list[dict[str, Any]]:
    """An AWS service emits this event on the default bus (as CodeDeploy, ECS, CodePipeline do); wait for the
    workflows EventBridge starts."""
    from moto.events.models import events_backends

    patches.drain()
    before = executions(aws, d)
    events_backends[ACCOUNT][aws.region].put_events(
        [
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event.get("resources", []),
            }
        ]
    )
    sfn = aws.client("stepfunctions")
    return [wait_for_execution(sfn, arn) for arn in sorted(executions(aws, d) - before)]


def run_scenario(
    aws: Emulator,
    d: Deployment,
    scenario: Scenario,
    queue_url: str,
    events_dir: Path,
    slack: SlackCatcher | None = None,
) -> Outcome:
    scenario.setup(aws, d)
    started = time.monotonic()
    slack_seen = len(slack.payloads) if slack else 0
    early: list[dict[str, Any]] = []
    if scenario.alarm:
        arns = fire(aws, d, scenario.alarm)
        if scenario.recovers:  # on-call got the rollback message; during the bake the alarm clears
            early = wait_for_messages(aws, queue_url)
            recover(aws, scenario.alarm)
        finished = wait_all(aws, arns)
    else:
        finished = deliver(aws, d, _event_for(scenario, events_dir))
    if len(finished) != 1:
        return Outcome(scenario, None, [f"expected 1 workflow execution, EventBridge started {len(finished)}"])
    described = finished[0]
    seconds = time.monotonic() - started
    if described["status"] != "SUCCEEDED":
        return Outcome(
            scenario, None, [f"workflow {described['status']}: {described.get('cause', '')[:300]}"], seconds=seconds
        )
    incident = Incident.from_dict(json.loads(described["output"]))
    stored = IncidentStore(aws.client("dynamodb"), d.outputs["IncidentTableName"]).get(incident.incident_id)
    outcome = Outcome(
        scenario,
        stored or incident,
        seconds=seconds,
        messages=early + drain_messages(aws, queue_url),
        slack=slack.payloads[slack_seen:] if slack else [],
    )
    if stored is None:
        outcome.problems.append("the incident was not recorded")
    if incident.action != scenario.expected_action:
        outcome.problems.append(f"action {incident.action}, expected {scenario.expected_action}")
    outcome.problems.extend(scenario.check(aws, d))
    expected = (
        [] if incident.action == "ignored" else ["incident"] + ([scenario.follow_up] if scenario.follow_up else [])
    )
    kinds = [m.get("MessageAttributes", {}).get("kind", {}).get("Value") for m in outcome.messages]
    if kinds != expected:
        outcome.problems.append(f"on-call received {kinds or 'nothing'}, expected {expected or 'nothing'}")
    if slack and len(outcome.slack) != len(expected):
        outcome.problems.append(f"{len(outcome.slack)} Slack messages, expected {len(expected)}")
    if scenario.recovers and stored is not None and not stored.recovered_at:
        outcome.problems.append("the incident was not closed as recovered")
    return outcome


SLACK_SECRET_NAME = "rollbackctl/demo/slack-webhook"  # noqa: S105  # nosec B105 - a secret's name, not a secret
# Short bakes for the demo, in real seconds (as AWS would wait); --parameter-overrides can change it.
DEMO_BAKE_SECONDS = "2"


def play(
    template: Path,
    overrides: dict[str, str] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    prepare: Callable[[Emulator, Deployment], None] | None = None,
) -> list[Outcome]:
    with Emulator() as aws, SlackCatcher() as slack:
        # Slack: a webhook on 127.0.0.1, its URL kept in Secrets Manager as in a real account.
        aws.client("secretsmanager").create_secret(Name=SLACK_SECRET_NAME, SecretString=slack.url)
        settings = {"VerifyBakeSeconds": DEMO_BAKE_SECONDS, "SlackWebhookSecretId": SLACK_SECRET_NAME}
        settings.update(overrides or {})
        deployment = deploy(aws, template, overrides=settings)
        if prepare:
            prepare(aws, deployment)
        queue_url = subscribe_queue(aws, deployment.outputs["NotificationTopicArn"])
        outcomes = []
        for scenario in SCENARIOS:
            outcome = run_scenario(
                aws,
                deployment,
                scenario,
                queue_url,
                template.parent / "events",
                slack if settings["SlackWebhookSecretId"] == SLACK_SECRET_NAME else None,
            )
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
        return outcomes
