"""``rollbackctl demo``: the controller deployed into the embedded emulator, a small estate, scenarios.

Every scenario is driven the way AWS would drive it: an alarm's state is set and CloudWatch emits the
state-change event, or a service (CodePipeline, CodeDeploy, ECS) emits its own event on the bus; EventBridge
starts the workflow. The demo then reads back the resulting AWS state
(the alias, the incident record, the message on the topic) and checks it against what should happen.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.moto_api import state_manager

from ..aws import wait_for_execution
from ..model import Incident
from ..store import IncidentStore, Ledger
from . import beanstalk, estate, patches
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
    estate.service_shipped_by_pipeline(aws, alarm="web-cpu")


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


# --- the kinds that take time to go back: each service moves at its own pace, as AWS would -----------------------


def _web_servers(aws: Emulator, d: Deployment) -> None:
    estate.auto_scaling_group(aws, "web-asg")
    estate.server_group(aws, "web", "prod", ["web-asg"])
    estate.server_deployed(aws, "web", "prod", estate.s3_revision(aws, "web-revisions", "web-1.zip", b"release 1"))
    estate.server_deployed(aws, "web", "prod", estate.s3_revision(aws, "web-revisions", "web-2.zip", b"release 2"))
    estate.asg_alarm(aws, "web-asg-cpu", "web-asg")
    state_manager.set_transition("codedeploy::deployment", {"progression": "time", "seconds": 2})


def _web_servers_back_on_release_1(aws: Emulator, d: Deployment) -> list[str]:
    cd = aws.client("codedeploy")
    ids = cd.list_deployments(applicationName="web", deploymentGroupName="prod")["deployments"]
    newest = max((cd.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids), key=lambda x: x["createTime"])
    key = (newest["revision"].get("s3Location") or {}).get("key")
    ok = (newest["status"], key) == ("Succeeded", "web-1.zip")
    return [] if ok else [f"web/prod's newest deployment is {newest['status']} of {key}, expected web-1.zip"]


def _shop_stack_updating(aws: Emulator, d: Deployment) -> None:
    arn = estate.stack(aws, "shop", "r1")
    estate.stack_mid_update(aws, "shop", "r2")
    estate.stack_alarm(aws, "shop-errors", arn)

    def rolls_back() -> None:  # once asked to, CloudFormation rolls back a status a second
        cf, deadline = aws.client("cloudformation"), time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status = cf.describe_stacks(StackName=arn)["Stacks"][0]["StackStatus"]
            except Exception:  # the emulator stopped: nothing left to pace
                return
            if status == "UPDATE_ROLLBACK_IN_PROGRESS":
                state_manager.set_transition("cloudformation::stack", {"progression": "time", "seconds": 1})
                return
            if status != "UPDATE_IN_PROGRESS":  # it went elsewhere (refused, kill switch): nothing to pace
                return
            time.sleep(0.1)

    threading.Thread(target=rolls_back, name="demo-cloudformation", daemon=True).start()


def _shop_back_on_r1(aws: Emulator, d: Deployment) -> list[str]:
    status = aws.client("cloudformation").describe_stacks(StackName="shop")["Stacks"][0]["StackStatus"]
    served = aws.client("ssm").get_parameter(Name="/shop/release")["Parameter"]["Value"]
    return ([] if status == "UPDATE_ROLLBACK_COMPLETE" else [f"stack shop is {status}"]) + (
        [] if served == "r1" else [f"stack shop serves {served}, expected r1"]
    )


def _orders_stage_went_bad(aws: Emulator, d: Deployment) -> None:
    arn = estate.release_pipeline(aws, "orders-pipeline")
    estate.release_history(aws, "orders-pipeline", ["a1b2c3d", "b2c3d4e", "c3d4e5f"])  # c3d4e5f "succeeded" last
    state_manager.set_transition("codepipeline::execution", {"progression": "time", "seconds": 1})
    estate.custom_alarm(aws, "orders-5xx", "Shop/Orders", "5xx", tags={"rollback:target": arn})


def _orders_stage_rolled_back(aws: Emulator, d: Deployment) -> list[str]:
    state_manager.unset_transition("codepipeline::execution")
    cp, problems = aws.client("codepipeline"), []
    latest = cp.list_pipeline_executions(pipelineName="orders-pipeline")["pipelineExecutionSummaries"][0]
    if (latest.get("executionType"), latest["status"]) != ("ROLLBACK", "Succeeded"):
        problems.append(f"orders-pipeline's newest execution is {latest.get('executionType')} {latest['status']}")
    if latest.get("sourceRevisions") != [{"actionName": "Source", "revisionId": "b2c3d4e"}]:
        problems.append(f"Deploy went back to {latest.get('sourceRevisions')}, expected b2c3d4e")
    stages = cp.get_pipeline_state(name="orders-pipeline")["stageStates"]
    if next(s for s in stages if s["stageName"] == "Deploy")["inboundTransitionState"]["enabled"]:
        problems.append("the transition into orders-pipeline's Deploy stage is still enabled")
    return problems


def _beanstalk_v2_live(aws: Emulator, d: Deployment) -> None:
    estate.beanstalk_moved(aws, "shop", "shop-prod", ("v1", "v2"))  # both updates completed: Track knows v1
    beanstalk.report_health(
        ACCOUNT, aws.region, "shop-prod", "Severe", ["100.0 % of the requests are failing with HTTP 5xx."]
    )
    estate.beanstalk_alarm(aws, "shop-prod-5xx", "shop-prod")
    state_manager.set_transition("elasticbeanstalk::environment", {"progression": "time", "seconds": 2})


def environment_is(name: str, version: str) -> Check:
    def check(aws: Emulator, d: Deployment) -> list[str]:
        [env] = aws.client("elasticbeanstalk").describe_environments(EnvironmentNames=[name])["Environments"]
        if (env["Status"], env.get("VersionLabel")) == ("Ready", version):
            return []
        return [f"environment {name} is {env['Status']} on {env.get('VersionLabel')}, expected Ready on {version}"]

    return check


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
    Scenario(
        "codedeploy-server",
        "CodeDeploy group web/prod (Auto Scaling group web-asg) finished deploying release 2; the group's CPU alarm "
        "fires; CodeDeploy redeploys release 1",
        "rolled_back",
        _web_servers,
        alarm="web-asg-cpu",
        check=_web_servers_back_on_release_1,
        recovers=True,
    ),
    Scenario(
        "cloudformation-stack",
        "stack shop is updating r1 -> r2; an alarm tagged rollback:target with the stack fires, then clears",
        "rolled_back",
        _shop_stack_updating,
        alarm="shop-errors",
        check=_shop_back_on_r1,
        recovers=True,
    ),
    Scenario(
        "pipeline-stage",
        "orders-pipeline's Deploy stage succeeded with b2c3d4e, then c3d4e5f 'succeeded'; an alarm tagged with the "
        "pipeline fires and stays red",
        "rolled_back",
        _orders_stage_went_bad,
        alarm="orders-5xx",
        check=_orders_stage_rolled_back,
    ),
    Scenario(
        "beanstalk",
        "Elastic Beanstalk environment shop/shop-prod moved from v1 to v2; its 5xx alarm (EnvironmentName only) fires,"
        " then clears once v1 is deployed again",
        "rolled_back",
        _beanstalk_v2_live,
        alarm="shop-prod-5xx",
        check=environment_is("shop-prod", "v1"),
        recovers=True,
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
DEMO_RATE_CAP = "20"


def play(
    template: Path,
    overrides: dict[str, str] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    prepare: Callable[[Emulator, Deployment], None] | None = None,
) -> list[Outcome]:
    with Emulator() as aws, SlackCatcher() as slack:
        # Slack: a webhook on 127.0.0.1, its URL kept in Secrets Manager as in a real account.
        aws.client("secretsmanager").create_secret(Name=SLACK_SECRET_NAME, SecretString=slack.url)
        # The demo rolls back more targets within an hour than the default rate cap (5) allows: it plays one
        # incident after another on purpose, so it raises the caps (a stack's RateCapCount and RateCapGlobalCount,
        # as anyone can).
        settings = {
            "VerifyBakeSeconds": DEMO_BAKE_SECONDS,
            "SlackWebhookSecretId": SLACK_SECRET_NAME,
            "RateCapCount": DEMO_RATE_CAP,
            "RateCapGlobalCount": DEMO_RATE_CAP,
        }
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
