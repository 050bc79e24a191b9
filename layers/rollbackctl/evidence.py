"""Gather the evidence of why a deployment failed, from every source that applies, read-only.

A source that does not answer (AccessDenied, throttled, missing) becomes evidence of what is missing;
the incident still completes. Console deep links are added where AWS has them.
"""

from __future__ import annotations

from typing import Any

from . import events, kinds
from .aws import AWS_ERRORS, Clients, error_code
from .model import Incident

CONSOLE = "https://{region}.console.aws.amazon.com"


def _missing(source: str, exc: Exception) -> dict[str, Any]:
    return {"source": source, "missing": error_code(exc) or type(exc).__name__, "message": str(exc)[:300]}


def from_alarm(clients: Clients, incident: Incident) -> list[dict[str, Any]]:
    """The alarm that fired: its metric as DescribeAlarms tells it, else as the state-change event did (the event's
    own words first: an alarm API that fails is noted as missing, and the diagnosis still has the metric)."""
    t = incident.trigger
    missing: list[dict[str, Any]] = []
    try:
        found = clients.cloudwatch.describe_alarms(AlarmNames=[t.name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    except AWS_ERRORS as exc:
        found, missing = {}, [_missing("alarm", exc)]
    alarms = found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
    namespace, _, metric = t.metric.rpartition(" ")
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
        },
        *missing,
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


def from_pipeline_event(incident: Incident, region: str) -> list[dict[str, Any]]:
    """What the failed action's own event said (``detail.execution-result``: its error code and summary), from the
    trigger itself, so that a source that does not answer takes nothing away from it."""
    t = incident.trigger
    code, summary = events.split_pipeline_reason(t.reason)
    pipeline, _, rest = t.name.partition("/")
    stage, _, action = rest.partition("/")
    if not code or not action:
        return []
    return [
        {
            "source": "codepipeline",
            "code": code,
            "message": summary,
            "summary": summary,
            "stage": stage,
            "action": action,
            "from": "event",
            "link": f"{CONSOLE.format(region=region)}/codesuite/codepipeline/pipelines/{pipeline}/executions/"
            f"{t.id}/timeline?region={region}",
        }
    ]


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


def gather(incident: Incident, clients: Clients) -> list[dict[str, Any]]:
    """Every source that applies to this incident, each answered or recorded as missing."""
    t = incident.trigger
    target = kinds.parse(incident.target) if incident.target else None
    region = t.region or (target.region if target else "")
    sources: list[tuple[str, Any]] = []
    if t.kind == "alarm":
        sources.append(("alarm", lambda: from_alarm(clients, incident)))
    if t.kind == "codedeploy":
        sources.append(("codedeploy", lambda: from_codedeploy(clients, t.id, region)))
    deployment_id = incident.plan.details.get("deployment_id", "") if incident.plan is not None else ""
    if deployment_id and t.kind != "codedeploy":  # the plan stopped a CodeDeploy deployment: its own account
        sources.append(("codedeploy", lambda: from_codedeploy(clients, deployment_id, region)))
    if t.kind == "pipeline" and incident.pipeline is not None:
        pipeline = incident.pipeline.name
        sources.append(("codepipeline", lambda: from_pipeline(clients, pipeline, t.id, region)))
    if t.kind == "pipeline":
        # The event's own words, whatever the API answers (kept unless the API told the same failure in full).
        sources.append(("event", lambda: from_pipeline_event(incident, region)))
    if t.kind == "ecs-deployment" and t.reason and target is not None:  # the ECS event's own reason, likewise
        name = target.name
        sources.append(
            (
                "event",
                lambda: [
                    {"source": "ecs", "code": t.state, "message": t.reason[:1000], "service": name, "from": "event"}
                ],
            )
        )
    if target is not None:  # what the target's own kind knows (the version's state, the rollout's reason)
        kind = kinds.of(target)
        sources.append((target.kind, lambda: kind.evidence(clients, incident, target)))
    shipper = kinds.parse(incident.plan.target) if incident.plan and incident.plan.target != incident.target else None
    if shipper is not None:  # the plan went back through what ships the target (a pipeline stage): its account too
        sources.append((shipper.kind, lambda: kinds.of(shipper).evidence(clients, incident, shipper)))
    evidence: list[dict[str, Any]] = []
    for source, read in sources:
        try:
            evidence.extend(read())
        except AWS_ERRORS as exc:
            evidence.append(_missing(source, exc))
    return _told_once(evidence)


def _told_once(evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without what the event said of a failure the API then told in full (the same stage, action and code, or
    the same words)."""

    def failure(item: dict[str, Any]) -> tuple[Any, ...]:
        return (item.get("source"), item.get("stage"), item.get("action"), item.get("code"))

    told = [e for e in evidence if e.get("from") != "event" and not e.get("missing")]
    failures = {failure(e) for e in told}
    words = {(e.get("source"), e.get("message")) for e in told}
    return [
        e
        for e in evidence
        if e.get("from") != "event" or (failure(e) not in failures and (e.get("source"), e.get("message")) not in words)
    ]
