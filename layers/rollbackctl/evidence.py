"""Gather the evidence of why a deployment failed, from every source that applies, read-only.

A source that does not answer (AccessDenied, throttled, missing) becomes evidence of what is missing;
the incident still completes. Console deep links are added where AWS has them.
"""

from __future__ import annotations

from typing import Any

from . import targets
from .aws import AWS_ERRORS, Clients, error_code
from .model import Incident

CONSOLE = "https://{region}.console.aws.amazon.com"


def _missing(source: str, exc: Exception) -> dict[str, Any]:
    return {"source": source, "missing": error_code(exc) or type(exc).__name__, "message": str(exc)[:300]}


def from_alarm(clients: Clients, incident: Incident) -> list[dict[str, Any]]:
    t = incident.trigger
    found = clients.cloudwatch.describe_alarms(AlarmNames=[t.name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    alarms = found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
    metric, namespace = "", ""
    if alarms:
        alarm = alarms[0]
        metric, namespace = str(alarm.get("MetricName") or ""), str(alarm.get("Namespace") or "")
        for query in alarm.get("Metrics", []):
            stat = (query.get("MetricStat") or {}).get("Metric") or {}
            if stat and not metric:
                metric, namespace = str(stat.get("MetricName", "")), str(stat.get("Namespace", ""))
    link = f"{CONSOLE.format(region=t.region)}/cloudwatch/home?region={t.region}#alarmsV2:alarm/{t.name}"
    return [
        {
            "source": "alarm",
            "code": metric or "composite",
            "alarm": t.name,
            "metric": f"{namespace} {metric}".strip(),
            "message": t.reason[:500],
            "link": link,
        }
    ]


def from_codedeploy(clients: Clients, deployment_id: str, region: str) -> list[dict[str, Any]]:
    info = clients.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    error = info.get("errorInformation") or {}
    item: dict[str, Any] = {
        "source": "codedeploy",
        "code": error.get("code", ""),
        "message": error.get("message", ""),
        "deployment": deployment_id,
        "status": info.get("status"),
        "link": f"{CONSOLE.format(region=region)}/codesuite/codedeploy/deployments/{deployment_id}?region={region}",
    }
    if info.get("rollbackInfo"):
        item["rollback"] = info["rollbackInfo"]
    return [item]


def from_pipeline(clients: Clients, pipeline: str, execution_id: str, region: str) -> list[dict[str, Any]]:
    details = clients.codepipeline.list_action_executions(
        pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}
    ).get("actionExecutionDetails", [])
    found = []
    for action in details:
        if action.get("status") != "Failed":
            continue
        result = (action.get("output") or {}).get("executionResult") or {}
        error = result.get("errorDetails") or {}
        found.append(
            {
                "source": "codepipeline",
                "code": error.get("code", ""),
                "message": error.get("message", ""),
                "summary": result.get("externalExecutionSummary", ""),
                "stage": action.get("stageName"),
                "action": action.get("actionName"),
                "provider": ((action.get("input") or {}).get("actionTypeId") or {}).get("provider"),
                "link": result.get("externalExecutionUrl")
                or f"{CONSOLE.format(region=region)}/codesuite/codepipeline/pipelines/{pipeline}/executions/"
                f"{execution_id}/timeline?region={region}",
            }
        )
        if found[-1]["provider"] == "CodeBuild" and result.get("externalExecutionId"):
            found.extend(from_codebuild(clients, str(result["externalExecutionId"]), region))
    return found


def from_codebuild(clients: Clients, build_id: str, region: str) -> list[dict[str, Any]]:
    try:
        builds = clients.codebuild.batch_get_builds(ids=[build_id]).get("builds", [])
    except AWS_ERRORS as exc:
        return [_missing("codebuild", exc)]
    found = []
    for build in builds:
        for phase in build.get("phases", []):
            if phase.get("phaseStatus") in ("FAILED", "FAULT", "TIMED_OUT", "CLIENT_ERROR", "STOPPED"):
                contexts = "; ".join(c.get("message", "") for c in phase.get("contexts", []) if c.get("message"))
                found.append(
                    {
                        "source": "codebuild",
                        "code": phase["phaseType"],
                        "status": phase["phaseStatus"],
                        "message": contexts or phase["phaseStatus"],
                        "build": build_id,
                        "link": f"{CONSOLE.format(region=region)}/codesuite/codebuild/projects/"
                        f"{build_id.split(':', 1)[0]}/build/{build_id}?region={region}",
                    }
                )
    return found


def from_lambda(clients: Clients, target: str, version: str | None) -> list[dict[str, Any]]:
    match = targets.LAMBDA_ALIAS_ARN.match(target)
    if match is None or not version:
        return []
    config = clients.lambda_.get_function_configuration(FunctionName=match["function"], Qualifier=version)
    if config.get("LastUpdateStatus", "Successful") == "Successful" and config.get("State", "Active") == "Active":
        return []
    return [
        {
            "source": "lambda",
            "code": str(
                config.get("LastUpdateStatusReasonCode")
                or config.get("StateReasonCode")
                or config.get("LastUpdateStatus")
            ),
            "message": str(config.get("LastUpdateStatusReason") or config.get("StateReason") or ""),
            "version": version,
        }
    ]


def from_ecs(clients: Clients, target: str, reason: str) -> list[dict[str, Any]]:
    match = targets.ECS_SERVICE_ARN.match(target)
    if match is None:
        return []
    described = clients.ecs.describe_services(cluster=match["cluster"], services=[match["service"]])["services"]
    deployments = described[0].get("deployments", []) if described else []
    primary: dict[str, Any] = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    message = reason or str(primary.get("rolloutStateReason", ""))
    if not message and primary.get("rolloutState") != "FAILED":
        return []
    return [
        {
            "source": "ecs",
            "code": str(primary.get("rolloutState", "")),
            "message": message,
            "service": f"{match['cluster']}/{match['service']}",
        }
    ]


def gather(incident: Incident, clients: Clients) -> list[dict[str, Any]]:
    """Every source that applies to this incident, each answered or recorded as missing."""
    t = incident.trigger
    region = t.region or (incident.target or "::::").split(":")[3]
    sources: list[tuple[str, Any]] = []
    if t.kind == "alarm":
        sources.append(("alarm", lambda: from_alarm(clients, incident)))
    if t.kind == "codedeploy":
        sources.append(("codedeploy", lambda: from_codedeploy(clients, t.id, region)))
    if incident.plan is not None and incident.plan.strategy == "codedeploy-stop" and t.kind != "codedeploy":
        deployment_id = incident.plan.details.get("deployment_id", "")
        sources.append(("codedeploy", lambda: from_codedeploy(clients, deployment_id, region)))
    if t.kind == "pipeline" and incident.pipeline is not None:
        pipeline = incident.pipeline.name
        sources.append(("codepipeline", lambda: from_pipeline(clients, pipeline, t.id, region)))
    if incident.target and targets.kind_of(incident.target) == "lambda-alias":
        target, version = incident.target, incident.from_version
        sources.append(("lambda", lambda: from_lambda(clients, target, version)))
    if incident.target and targets.kind_of(incident.target) == "ecs-service":
        reason = t.reason if t.kind == "ecs-deployment" else ""
        target = incident.target
        sources.append(("ecs", lambda: from_ecs(clients, target, reason)))
    evidence: list[dict[str, Any]] = []
    for source, read in sources:
        try:
            evidence.extend(read())
        except AWS_ERRORS as exc:
            evidence.append(_missing(source, exc))
    return evidence
