"""Why did the deployment fail? Rules as data: evidence -> category, summary, remediation, confidence.

Each piece of evidence is a dict with at least ``source`` (codedeploy, codedeploy-instance, codepipeline,
codebuild, ecs, alarm, lambda, beanstalk, cloudformation) and ``code`` (an error code, failure type, phase, metric
name or a text to search), plus
whatever else its source reported (``message``, ``link``, ...). A rule matches a piece of evidence by
source and code (exactly, or by regular expression when its code starts with ``re:``). Adding a rule is
adding a row. Evidence no rule knows is ``unclassified``, and kept as it came.

The taxonomy is ../shared/docs/FAILURES.md: every CodeDeploy error code, every CodePipeline failure
type, the CodeBuild phases, and the causes the troubleshooting guides name.

The diagnosis travels in the incident through every Step Functions state (256 KB of payload at most) and
into its DynamoDB record (400 KB an item), so it is bounded (:func:`bounded`): at most ``MAX_EVIDENCE``
items of at most ``ITEM_BYTES`` of JSON each, summary and remediation of at most ``TEXT_LIMIT`` characters,
``BUDGET`` bytes in all. The rules see all the evidence first; what is cut says so (``truncated``), and a last
item from ``rollbackctl`` says how many items were left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .model import Diagnosis

PERMISSIONS = "permissions"
CONFIGURATION = "configuration"
HEALTH = "application-health"
CAPACITY = "capacity"
TRANSIENT = "transient"
BUILD = "build-test"
SOURCE = "source-credentials"
ALARM = "alarm-only"
MANUAL = "manual-or-alarm-stop"
UNCLASSIFIED = "unclassified"


@dataclass(frozen=True)
class Rule:
    source: str
    code: str
    category: str
    summary: str  # may use {code}, {message} and any other key of the evidence
    remediation: str
    confidence: float


def _cd(codes: str, category: str, summary: str, remediation: str, confidence: float = 0.9) -> list[Rule]:
    return [Rule("codedeploy", code, category, summary, remediation, confidence) for code in codes.split()]


def _eb(pattern: str, category: str, summary: str, remediation: str, confidence: float) -> list[Rule]:
    """A rule on Elastic Beanstalk's evidence, matched on the event's message (its code is only its severity)."""
    return [Rule("beanstalk", f"re:(?i){pattern}", category, summary, remediation, confidence)]


def _cfn(code: str, category: str, summary: str, remediation: str, confidence: float) -> list[Rule]:
    """A rule on a failed stack resource (evidence of kinds/cloudformation_stack.py: ``code`` the resource's status,
    ``message`` CloudFormation's ResourceStatusReason, ``resource``, ``type``, ``stack``, ``link``)."""
    return [Rule("cloudformation", code, category, summary, remediation, confidence)]


RULES: tuple[Rule, ...] = (
    # --- CodeDeploy errorInformation.code, grouped as in FAILURES.md ---------------------------------
    *_cd(
        "ALARM_ACTIVE",
        MANUAL,
        "CodeDeploy stopped the deployment because an alarm of its deployment group was in ALARM ({message})",
        "Find out why the alarm fired against the new version; if it was already "
        "red before the deployment, fix or acknowledge it (or use ignoreAlarmConfiguration) and redeploy",
    ),
    *_cd(
        "MANUAL_STOP",
        MANUAL,
        "The deployment was stopped by hand or by rollbackctl ({message})",
        "Read the incident that stopped it; redeploy once its cause is fixed",
    ),
    *_cd(
        "IAM_ROLE_MISSING IAM_ROLE_PERMISSIONS AUTO_SCALING_IAM_ROLE_PERMISSIONS",
        PERMISSIONS,
        "CodeDeploy's service role is missing or lacks permissions ({code}: {message})",
        "Recreate or fix the CodeDeploy service role (often deleted with the CloudFormation stack that made "
        "it) and attach the AWSCodeDeployRole managed policy for the compute platform",
    ),
    *_cd(
        "MISSING_GITHUB_TOKEN",
        SOURCE,
        "CodeDeploy has no valid GitHub token ({message})",
        "Reconnect GitHub to CodeDeploy (a new OAuth token or connection) and redeploy",
    ),
    *_cd(
        "INVALID_REVISION REVISION_MISSING APPLICATION_MISSING DEPLOYMENT_GROUP_MISSING "
        "CODEDEPLOY_RESOURCE_CANNOT_BE_FOUND INVALID_EKS_CLUSTER CLOUDFORMATION_STACK_FAILURE",
        CONFIGURATION,
        "The deployment's revision or configuration is wrong ({code}: {message})",
        "Check the revision location, the AppSpec and the application / deployment group names, then redeploy",
    ),
    *_cd(
        "INVALID_LAMBDA_CONFIGURATION INVALID_LAMBDA_FUNCTION",
        CONFIGURATION,
        "The Lambda function or alias cannot be deployed ({code}: {message})",
        "An alias left on two versions by a stopped deployment makes later deployments fail: point the alias "
        "at one version (rollbackctl does this on rollback), then redeploy",
    ),
    *_cd(
        "INVALID_ECS_SERVICE MISSING_BLUE_GREEN_DEPLOYMENT_CONFIGURATION MISSING_ELB_INFORMATION "
        "ELASTIC_LOAD_BALANCING_INVALID ELB_INVALID_INSTANCE HEALTH_CONSTRAINTS_INVALID",
        CONFIGURATION,
        "The deployment group's blue/green or load balancer configuration is invalid ({code}: {message})",
        "Fix the deployment group's load balancer, target groups and blue/green settings; at AllowTraffic, "
        "check the target groups' health check path and port",
    ),
    *_cd(
        "HEALTH_CONSTRAINTS HOOK_EXECUTION_FAILURE CUSTOMER_APPLICATION_UNHEALTHY ECS_UPDATE_ERROR "
        "KUBERNETES_UPDATE_ERROR",
        HEALTH,
        "The new version was unhealthy once it took traffic ({code}: {message})",
        "Read the failed hook's / tasks' logs for the new version, fix the application and ship a new version; "
        "traffic is back on the previous one",
    ),
    *_cd(
        "NO_INSTANCES OVER_MAX_INSTANCES AGENT_ISSUE AUTO_SCALING_CONFIGURATION AUTOSCALING_VALIDATION_ERROR "
        "NO_EC2_SUBSCRIPTION RESOURCE_LIMIT_EXCEEDED",
        CAPACITY,
        "There was no capacity, or no healthy agent, to deploy to ({code}: {message})",
        "Check the deployment group's instances / Auto Scaling group, the CodeDeploy agent and service quotas; "
        "a new instance tagged into the group does not get the application until the next deployment",
    ),
    *_cd(
        "THROTTLED TIMEOUT INTERNAL_ERROR",
        TRANSIENT,
        "CodeDeploy failed for a transient reason ({code}: {message})",
        "Retry the deployment; if it repeats, check AWS Health for the region",
        0.7,
    ),
    Rule(
        "codedeploy",
        "re:(?i)not (?:currently )?(?:supported|available) in (?:this|the) region",
        CONFIGURATION,
        "CodeDeploy is not offered in the deployment's region ({message})",
        "Deploy from a region where CodeDeploy is available",
        0.8,
    ),
    # --- CodeDeploy lifecycle diagnostics.errorCode --------------------------------------------------
    Rule(
        "codedeploy",
        "ScriptFailed",
        HEALTH,
        "A lifecycle hook script failed ({message})",
        "Read the hook script's log on the instance (or the hook Lambda's logs) and fix it",
        0.85,
    ),
    Rule(
        "codedeploy",
        "ScriptMissing",
        CONFIGURATION,
        "A lifecycle hook script named in the AppSpec is missing",
        "Add the script to the revision or fix its path in the AppSpec",
        0.85,
    ),
    Rule(
        "codedeploy",
        "ScriptNotExecutable",
        CONFIGURATION,
        "A lifecycle hook script is not executable",
        "chmod +x the script in the revision",
        0.85,
    ),
    Rule(
        "codedeploy",
        "ScriptTimedOut",
        HEALTH,
        "A lifecycle hook script timed out ({message})",
        "Make the hook faster or raise its timeout in the AppSpec",
        0.8,
    ),
    # --- CodeDeploy on EC2 / on-premises: what one instance's agent reported (BatchGetDeploymentTargets
    # instanceTarget.lifecycleEvents[].diagnostics; the codedeploy-group kind's evidence). More specific than the
    # deployment's own errorInformation (HEALTH_CONSTRAINTS: "too many individual instances failed"), so it wins.
    Rule(
        "codedeploy-instance",
        "ScriptFailed",
        HEALTH,
        "The {event} hook script {script} failed on instance {instance}: {message}",
        "Read the script's output (log_tail in the evidence, and the deployment log under "
        "/opt/codedeploy-agent/deployment-root on the instance); fix the script or what it starts, and ship a new "
        "revision. The group is back on its known-good revision",
        0.95,
    ),
    Rule(
        "codedeploy-instance",
        "ScriptMissing",
        CONFIGURATION,
        "The {event} hook script {script} that the AppSpec names is not in the revision (instance {instance})",
        "Add the script to the bundle at the path appspec.yml gives (relative to the bundle's root), or fix the path",
        0.95,
    ),
    Rule(
        "codedeploy-instance",
        "ScriptNotExecutable",
        CONFIGURATION,
        "The {event} hook script {script} is not an executable file on instance {instance}",
        "chmod +x the script before bundling it (or give it a shebang line), then ship a new revision",
        0.95,
    ),
    Rule(
        "codedeploy-instance",
        "ScriptTimedOut",
        HEALTH,
        "The {event} hook script {script} did not finish within its timeout on instance {instance} ({message})",
        "Make the hook finish sooner (a health check waiting on a service that never comes up is the usual cause) "
        "or raise its timeout in appspec.yml (at most 3600 seconds)",
        0.9,
    ),
    Rule(
        "codedeploy-instance",
        "OutputsLeftOpen",
        CONFIGURATION,
        "The {event} hook script {script} left a process holding its output open on instance {instance}, so the "
        "hook never ended ({message})",
        "Start background processes with their output redirected (> /dev/null 2> /dev/null < /dev/null &) so the "
        "hook script can exit",
        0.9,
    ),
    Rule(
        "codedeploy-instance",
        "UnknownError",
        CAPACITY,
        "The {event} hook on instance {instance} did not run, for a reason the CodeDeploy agent could not tell "
        "({message})",
        "Check the CodeDeploy agent on the instance (running, up to date, able to reach CodeDeploy and S3) and its "
        "log, then redeploy",
        0.6,
    ),
    # --- CodePipeline failure types --------------------------------------------------------------------
    Rule(
        "codepipeline",
        "JobFailed",
        BUILD,
        "The {action} action of stage {stage} failed: {message}",
        "Open the action's execution ({link}) for its logs; fix the change that broke it and push again",
        0.6,
    ),
    Rule(
        "codepipeline",
        "ConfigurationError",
        CONFIGURATION,
        "The {action} action of stage {stage} is misconfigured: {message}",
        "Fix the action's configuration in the pipeline definition",
        0.85,
    ),
    Rule(
        "codepipeline",
        "PermissionError",
        PERMISSIONS,
        "The pipeline lacks a permission in {action}: {message}",
        "Grant the pipeline's service role (or the action role) the permission named in the message",
        0.9,
    ),
    Rule(
        "codepipeline",
        "RevisionOutOfSync",
        SOURCE,
        "The source revision is out of sync: {message}",
        "Re-run the pipeline from the source stage (Release change)",
        0.8,
    ),
    Rule(
        "codepipeline",
        "RevisionUnavailable",
        SOURCE,
        "The source revision is unavailable (deleted, or the connection/token expired): {message}",
        "Check the source connection or GitHub token and that the revision still exists, then Release change",
        0.8,
    ),
    Rule(
        "codepipeline",
        "SystemUnavailable",
        TRANSIENT,
        "CodePipeline could not run {action}: {message}",
        "Retry the stage; if it repeats, check AWS Health",
        0.7,
    ),
    # --- CodeBuild failed phase ---------------------------------------------------------------------------
    Rule(
        "codebuild",
        "DOWNLOAD_SOURCE",
        SOURCE,
        "The build could not download its source: {message}",
        "Check the source location, the connection / token and the CodeBuild role's access to it",
        0.85,
    ),
    Rule(
        "codebuild",
        "INSTALL",
        BUILD,
        "The build failed installing its dependencies: {message}",
        "Fix the install phase of buildspec.yml (a registry, a pinned version, the runtime image)",
        0.8,
    ),
    Rule(
        "codebuild",
        "PRE_BUILD",
        BUILD,
        "The build failed before building (often login or tests): {message}",
        "Read the pre_build commands' output in the build log",
        0.75,
    ),
    Rule(
        "codebuild",
        "BUILD",
        BUILD,
        "The build or its tests failed: {message}",
        "Read the build log; fix the failing test or compile error",
        0.8,
    ),
    Rule(
        "codebuild",
        "POST_BUILD",
        BUILD,
        "The build failed after building (often the image push): {message}",
        "Read the post_build commands' output; check the registry and the CodeBuild role",
        0.75,
    ),
    Rule(
        "codebuild",
        "UPLOAD_ARTIFACTS",
        CONFIGURATION,
        "The build could not upload its artifacts: {message}",
        "Check the artifact bucket, its encryption key and the CodeBuild role's access",
        0.8,
    ),
    Rule(
        "codebuild",
        "re:(?i)image.*(?:not found|does not exist)|manifest unknown",
        CONFIGURATION,
        "The image tag is missing in ECR: {message}",
        "Push the image, or fix the tag the deployment uses",
        0.85,
    ),
    Rule(
        "codebuild",
        "re:(?i)(?:NoSuchKey|artifact.*(?:missing|not found))",
        CONFIGURATION,
        "A build artifact is missing in S3: {message}",
        "Check the artifact bucket and the producing action",
        0.8,
    ),
    # --- ECS -------------------------------------------------------------------------------------------------
    Rule(
        "ecs",
        "re:(?i)circuit breaker",
        HEALTH,
        "ECS's deployment circuit breaker tripped: the new tasks failed to start or stay healthy ({message})",
        "Read the stopped tasks' stoppedReason and container logs of the new task definition (crash loop, "
        "failing health check, missing secret or image)",
        0.85,
    ),
    Rule(
        "ecs",
        "re:(?i)(?:CannotPullContainer|pull image|manifest)",
        CONFIGURATION,
        "ECS could not pull the new image ({message})",
        "Push the image or fix its tag; check the execution role",
        0.9,
    ),
    Rule(
        "ecs",
        "re:(?i)(?:unable to place|insufficient (?:cpu|memory)|no container instances)",
        CAPACITY,
        "ECS had no capacity to place the new tasks ({message})",
        "Add capacity (instances / capacity provider) or lower the task size",
        0.85,
    ),
    Rule(
        "ecs",
        "re:(?i)health ?check",
        HEALTH,
        "The new tasks failed their health checks ({message})",
        "Check the target group's health check path/port and the application's start-up time",
        0.8,
    ),
    # --- Lambda: the new version itself could not be made ready -----------------------------------------
    Rule(
        "lambda",
        "re:.*",
        CONFIGURATION,
        "The new Lambda version is not ready ({code}: {message})",
        "Fix what the function's configuration reports (its role, its layers, its image or its subnets), "
        "publish a new version and redeploy",
        0.7,
    ),
    # --- the alarm that fired (when nothing else explains it) ---------------------------------------------
    Rule(
        "alarm",
        "re:(?i)^(?:Errors|5XX.*|HTTPCode_\\w*5XX\\w*|.*Fault.*)$",
        HEALTH,
        "The new version raised errors: alarm {alarm} on {metric} ({message})",
        "Look at the new version's errors and logs around the alarm time; traffic is back on the previous version",
        0.5,
    ),
    Rule(
        "alarm",
        "re:(?i)(?:Latency|Duration|TargetResponseTime|p\\d\\d)",
        HEALTH,
        "The new version is slower: alarm {alarm} on {metric} ({message})",
        "Profile the new version (cold starts, a slower dependency, a heavier query)",
        0.5,
    ),
    Rule(
        "alarm",
        "re:(?i)Throttl",
        CAPACITY,
        "The new version is being throttled: alarm {alarm} on {metric}",
        "Check reserved/provisioned concurrency and downstream quotas",
        0.5,
    ),
    Rule(
        "alarm",
        "re:(?i)(?:CPU|Memory)Utili[sz]ation",
        CAPACITY,
        "The new version uses more CPU/memory: alarm {alarm} on {metric} ({message})",
        "Compare the new version's resource use with the previous one; resize or fix the regression",
        0.5,
    ),
    Rule(
        "alarm",
        "re:.*",
        ALARM,
        "Alarm {alarm} fired on {metric} after the deployment ({message})",
        "Look at what the metric measures for the new version",
        0.3,
    ),
    # --- Elastic Beanstalk: the environment's WARN/ERROR events and health causes (code: severity or health:...) ---
    *_eb(
        r"Command failed on instance|Instance deployment failed|Engine execution has encountered an error|"
        r"hook .*failed|\.ebextensions",
        CONFIGURATION,
        "The new version failed to deploy on the instances: {message}",
        "Read eb-engine.log on the instances (environment Logs, or eb logs): a platform hook, an .ebextensions "
        "command or a .platform hook of the new version failed; fix it and deploy a new version",
        0.85,
    ),
    *_eb(
        r"source bundle|Unable to download|Failed to download|NoSuchKey|application version .*(?:unusable|not found)",
        CONFIGURATION,
        "The new version's source bundle could not be used: {message}",
        "Check the application version's source bundle in S3 (it exists, is a valid zip with the application at its "
        "root) and create a new application version",
        0.85,
    ),
    *_eb(
        r"instance profile|not authorized|AccessDenied|sufficient privileges|InsufficientPrivileges",
        PERMISSIONS,
        "Elastic Beanstalk or its instances lacked a permission: {message}",
        "Fix the environment's service role or instance profile (aws-elasticbeanstalk-ec2-role), or the "
        "permissions of whoever deployed, then redeploy",
        0.85,
    ),
    *_eb(
        r"requests are failing with HTTP 5xx|HTTP 5xx",
        HEALTH,
        "The new version fails its requests: {message}",
        "Read the application logs of the new version around the alarm; traffic is back on the previous version",
        0.8,
    ),
    *_eb(
        r"(?:ELB|health ?check|target).*(?:fail|not healthy|not available)|processes are not healthy",
        HEALTH,
        "The instances of the new version fail their health checks: {message}",
        "Check the health check path and port of the environment's load balancer and the application's start-up "
        "time on the new version",
        0.75,
    ),
    *_eb(
        r"insufficient capacity|InsufficientInstanceCapacity|limit exceeded|exceeded (?:your|the)",
        CAPACITY,
        "There was no capacity for the new version's instances: {message}",
        "Check the EC2 and Auto Scaling quotas of the account and the instance types the environment allows",
        0.8,
    ),
    *_eb(
        r"not responded to commands|did not respond|timed out",
        TRANSIENT,
        "Instances did not answer Elastic Beanstalk in time: {message}",
        "Retry the deployment; if it repeats, replace the instances that do not respond (Rebuild or Restart)",
        0.6,
    ),
    *_eb(
        r"transitioned from \w+ to (?:Severe|Degraded|Warning)",
        HEALTH,
        "The environment's health degraded with the new version: {message}",
        "Read the environment's health causes and the new version's logs",
        0.6,
    ),
    *_eb(
        r"aborted",
        MANUAL,
        "The environment update was aborted (by hand or by rollbackctl): {message}",
        "Read the incident that aborted it; some instances may have run the new version until the known-good was "
        "deployed again",
        0.5,
    ),
    *_eb(
        r".",
        HEALTH,
        "Elastic Beanstalk reported a problem with the new version: {message}",
        "Read the environment's events and eb-engine.log for the new version",
        0.35,
    ),
    # --- CloudFormation: a resource of the stack's update failed, and ResourceStatusReason says why ------------
    *_cfn(
        "re:(?i)not authori[sz]ed to perform|AccessDenied|UnauthorizedOperation|does not have permission",
        PERMISSIONS,
        "CloudFormation was not allowed to change {resource} ({type}) of stack {stack}: {message}",
        "Grant the stack's service role (or whoever deploys it) the permission the message names, then deploy again",
        0.85,
    ),
    *_cfn(
        "re:(?i)limit ?exceeded|quota|insufficient\\w* capacity",
        CAPACITY,
        "A service limit or capacity stopped {resource} ({type}) of stack {stack}: {message}",
        "Raise the quota the message names (Service Quotas) or free capacity, then deploy again",
        0.8,
    ),
    *_cfn(
        "re:(?i)rate exceeded|throttl|internal failure|service ?unavailable",
        TRANSIENT,
        "AWS failed {resource} ({type}) of stack {stack} for a transient reason: {message}",
        "Deploy again; if it repeats, check AWS Health for the region",
        0.7,
    ),
    *_cfn(
        "re:(?i)did not stabili[sz]e|failed to stabili[sz]e|timed out|timeout|failed to receive \\d* ?resource "
        "signal|health ?check",
        HEALTH,
        "{resource} ({type}) of stack {stack} never became healthy after the change: {message}",
        "Read {resource}'s own events and logs for the new version (its tasks, instances or signals); the stack goes "
        "back to its previous state",
        0.8,
    ),
    *_cfn(
        "re:(?i)not found|does not exist|NotFound|No export named",
        CONFIGURATION,
        "{resource} ({type}) of stack {stack} refers to something that does not exist: {message}",
        "Create what the message names, or fix the template or parameter that names it (was it deleted outside "
        "CloudFormation?), then deploy again",
        0.8,
    ),
    *_cfn(
        "re:(?i)already exists",
        CONFIGURATION,
        "{resource} ({type}) of stack {stack} could not be created: {message}",
        "Give the resource a name no other resource has (or let CloudFormation name it), then deploy again",
        0.8,
    ),
    *_cfn(
        "re:(?i)invalid|validation|malformed|must be|not valid|unsupported|property",
        CONFIGURATION,
        "The template or parameters of stack {stack} are wrong for {resource} ({type}): {message}",
        "Fix the property the message names in the template or its parameters, then deploy again",
        0.7,
    ),
    *_cfn(
        "re:.*",
        CONFIGURATION,
        "{resource} ({type}) of stack {stack} failed to update: {message}",
        "Read the stack's events ({link}) from the first failed resource on; fix it and deploy again",
        0.5,
    ),
)


def _matches(rule: Rule, item: dict[str, Any]) -> bool:
    if rule.source != item.get("source"):
        return False
    code = str(item.get("code", ""))
    if rule.code.startswith("re:"):
        return any(re.search(rule.code[3:], text) for text in (code, str(item.get("message", ""))) if text)
    return rule.code == code


# 64 KB for the diagnosis leaves the incident around it well under Step Functions' 256 KB payload limit.
BUDGET = 64 * 1024
MAX_EVIDENCE = 12
ITEM_BYTES = 4 * 1024
STRING_LIMIT = 500  # characters of any one string in an evidence item that is over ITEM_BYTES
TEXT_LIMIT = 1000  # characters of the summary and of the remediation
CORE_KEYS = ("source", "code", "missing", "status", "message", "link")


def _size(value: Any) -> int:
    """JSON bytes as a Lambda result carries it (ASCII-escaped: never smaller than its UTF-8)."""
    return len(json.dumps(value, default=str))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _clip_value(value: Any) -> Any:
    if isinstance(value, str):
        return _clip(value, STRING_LIMIT)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return _clip(json.dumps(value, default=str), STRING_LIMIT)  # a nested dict or list, as its JSON text


def _bounded_item(item: dict[str, Any]) -> dict[str, Any]:
    """The item as it came when it fits ITEM_BYTES; else every string cut, then only its core keys if need be."""
    if _size(item) <= ITEM_BYTES:
        return item
    cut = {str(k): _clip_value(v) for k, v in item.items()}
    if _size(cut) > ITEM_BYTES:
        cut = {k: cut[k] for k in CORE_KEYS if k in cut}
    return {**cut, "truncated": True}


def bounded(evidence: list[dict[str, Any]], keep: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """At most MAX_EVIDENCE items (``keep``, the one the diagnosis rests on, always among them), each within
    ITEM_BYTES, and together within what BUDGET leaves after the summary and the remediation; a last item says
    how many were left out."""
    chosen = list(evidence[:MAX_EVIDENCE])
    if keep is not None and keep not in chosen and len(evidence) > MAX_EVIDENCE:
        chosen[-1] = keep
    items = [_bounded_item(item) for item in chosen]
    room = BUDGET - 2 * TEXT_LIMIT * 6 - 1024  # the summary and remediation at their longest, and the marker
    while items and _size(items) > room:
        items.pop()
    dropped = len(evidence) - len(items)
    if dropped:
        items.append(
            {
                "source": "rollbackctl",
                "code": "truncated",
                "truncated": dropped,
                "message": f"{dropped} more evidence items were left out to keep the incident under its size "
                f"budget ({len(items)} of {len(evidence)} kept)",
            }
        )
    return items


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def classify(evidence: list[dict[str, Any]]) -> Diagnosis:
    """The best explanation the evidence supports; unclassified (evidence kept) when no rule knows it."""
    best: tuple[Rule, dict[str, Any]] | None = None
    for item in evidence:
        if item.get("missing"):
            continue
        for rule in RULES:
            if _matches(rule, item) and (best is None or rule.confidence > best[0].confidence):
                best = (rule, item)
    if best is None:
        summary = (
            "; ".join(f"{e.get('source')}: {e.get('code') or e.get('missing')}" for e in evidence) or "no evidence"
        )
        return Diagnosis(
            UNCLASSIFIED,
            f"No rule explains this yet ({summary[:300]})",
            bounded(evidence),
            "Read the evidence below; add a rule in rollbackctl/diagnosis.py once the cause is known",
        )
    rule, item = best
    summary = rule.summary.format_map(_Fields({"message": "", **item}))
    return Diagnosis(
        rule.category,
        _clip(summary, TEXT_LIMIT),
        bounded(evidence, keep=item),
        _clip(rule.remediation.format_map(_Fields(item)), TEXT_LIMIT),
    )
