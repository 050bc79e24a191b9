"""The pipeline that ships a target: find it, stop its in-flight execution, keep the bad revision out.

A target's pipeline is named by the tag ``rollback:pipeline`` (``PIPELINE`` or ``PIPELINE/STAGE``) on the
alarm or on the target resource. The deploy stage is the named STAGE, else the first stage with a Deploy
action.
"""

from __future__ import annotations

import re
from typing import Any

from .aws import AWS_ERRORS, Clients, error_code
from .model import Incident, PipelineRef, short_target, short_version
from .tags import PIPELINE_TAG

# What the controller changes in a pipeline (checked against template.yaml; counted as mutating in the tests).
WRITE_ACTIONS = frozenset(
    {
        "codepipeline:StopPipelineExecution",
        "codepipeline:DisableStageTransition",
        "codepipeline:EnableStageTransition",
    }
)
# DisableStageTransition accepts only these characters in its reason (AWS API reference), up to 300.
_REASON_DISALLOWED = re.compile(r"[^a-zA-Z0-9!@ ()\.\*\?\-]+")
INCIDENT_IN_REASON = re.compile(r"\b(inc-\d{8}T\d{6}-[0-9a-f]{8})\b")


def block_step(pipeline: str) -> str:
    """The incident step that records a block of ``pipeline`` (Contain), as unblock_step records its lifting."""
    return f"block pipeline {pipeline}"


def unblock_step(pipeline: str) -> str:
    """The incident step that records the block lifted (``rollbackctl unblock``, the Slack button)."""
    return f"unblock pipeline {pipeline}"


def from_tags(*tag_sets: tuple[str, dict[str, str]]) -> PipelineRef | None:
    for where, tags in tag_sets:
        value = tags.get(PIPELINE_TAG, "").strip()
        if value:
            name, _, stage = value.partition("/")
            return PipelineRef(name=name, stage=stage or None, source=f"tag {PIPELINE_TAG} on the {where}")
    return None


def transition_reason(text: str) -> str:
    cleaned = _REASON_DISALLOWED.sub(" ", text)
    return " ".join(cleaned.split())[:300] or "blocked by rollbackctl"


def deploy_stage(clients: Clients, ref: PipelineRef) -> str:
    if ref.stage:
        return ref.stage
    stages = clients.codepipeline.get_pipeline(name=ref.name)["pipeline"]["stages"]
    for stage in stages:
        if any(a.get("actionTypeId", {}).get("category") == "Deploy" for a in stage.get("actions", [])):
            return str(stage["name"])
    return str(stages[-1]["name"])


def stop_in_flight(clients: Clients, incident: Incident) -> None:
    """Stop (abandon) the pipeline execution in progress. Every outcome is recorded, none fails the incident."""
    ref = incident.pipeline
    if ref is None:
        return
    step = f"stop pipeline {ref.name}"
    try:
        summaries = clients.codepipeline.list_pipeline_executions(pipelineName=ref.name, maxResults=20)
    except AWS_ERRORS as exc:
        incident.record_step(step, "failed", _explain(exc, ref.name))
        return
    running = [s for s in summaries.get("pipelineExecutionSummaries", []) if s.get("status") == "InProgress"]
    # A stage rollback (CodePipeline's own, or the one rollbackctl started) is never stopped: it puts back.
    rollbacks = [s["pipelineExecutionId"] for s in running if s.get("executionType") == "ROLLBACK"]
    running = [s for s in running if s.get("executionType") != "ROLLBACK"]
    if rollbacks:
        incident.record_step(step, "skipped", f"rollback execution {', '.join(rollbacks)} left running")
    if not running:
        incident.record_step(step, "skipped", "no execution in progress: nothing to stop")
        return
    for summary in running:
        execution_id = summary["pipelineExecutionId"]
        reason = (
            f"rollbackctl {incident.incident_id}: {incident.target} rolled back from "
            f"{short_version(incident.from_version)} to {short_version(incident.to_version)}"
        )[:200]
        try:
            clients.codepipeline.stop_pipeline_execution(
                pipelineName=ref.name, pipelineExecutionId=execution_id, abandon=True, reason=reason
            )
        except AWS_ERRORS as exc:
            if error_code(exc) in ("PipelineExecutionNotStoppableException", "DuplicatedStopRequestException"):
                incident.record_step(step, "skipped", f"execution {execution_id} had already finished or stopped")
            else:
                incident.record_step(step, "failed", f"execution {execution_id}: {_explain(exc, ref.name)}")
            continue
        incident.record_step(step, "done", f"execution {execution_id} stopped (abandoned)")


def block(clients: Clients, incident: Incident) -> None:
    """Disable the inbound transition into the deploy stage, naming the incident and the bad version."""
    ref = incident.pipeline
    if ref is None:
        return
    try:
        stage = deploy_stage(clients, ref)
        reason = transition_reason(
            f"rollbackctl {incident.incident_id} blocked bad version "
            f"{short_version(incident.from_version)} of {short_target(incident.target)}"
        )
        clients.codepipeline.disable_stage_transition(
            pipelineName=ref.name, stageName=stage, transitionType="Inbound", reason=reason
        )
    except AWS_ERRORS as exc:
        incident.record_step(block_step(ref.name), "failed", _explain(exc, ref.name))
        return
    ref.stage = stage
    incident.record_step(block_step(ref.name), "done", f"inbound transition into stage {stage} disabled: {reason}")


def blocked_stages(clients: Clients, pipeline: str) -> list[dict[str, Any]]:
    """Stages whose inbound transition rollbackctl disabled, with the incident named in the reason."""
    state = clients.codepipeline.get_pipeline_state(name=pipeline)
    found = []
    for stage in state.get("stageStates", []):
        inbound = stage.get("inboundTransitionState") or {}
        reason = str(inbound.get("disabledReason") or "")
        if inbound.get("enabled") is False:
            match = INCIDENT_IN_REASON.search(reason)
            found.append(
                {"stage": stage["stageName"], "reason": reason, "incident_id": match.group(1) if match else None}
            )
    return found


def unblock(
    clients: Clients,
    pipeline: str,
    stage: str | None,
    by: str,
    why: str,
    everything: bool = False,
    incident_id: str | None = None,
) -> list[dict[str, Any]]:
    """Re-enable the inbound transitions rollbackctl disabled (their reason names an incident); with
    ``everything``, also those a human disabled (a change freeze is not rollbackctl's to lift unless asked); with
    ``incident_id``, only those that incident disabled. Returns what was unblocked (stage, incident)."""
    blocked = blocked_stages(clients, pipeline)
    if incident_id is not None:
        blocked = [b for b in blocked if b["incident_id"] == incident_id]
    chosen = [b for b in blocked if (stage is None or b["stage"] == stage) and (everything or b["incident_id"])]
    if stage is not None and not chosen:
        if any(b["stage"] == stage for b in blocked):
            raise LookupError(
                f"the inbound transition into stage {stage} of pipeline {pipeline} was not disabled by rollbackctl "
                "(its reason names no incident): --all lifts it anyway"
            )
        raise LookupError(f"the inbound transition into stage {stage} of pipeline {pipeline} is not disabled")
    for entry in chosen:
        clients.codepipeline.enable_stage_transition(
            pipelineName=pipeline, stageName=entry["stage"], transitionType="Inbound"
        )
        entry["detail"] = f"inbound transition into stage {entry['stage']} re-enabled by {by}: {why}"
    return chosen


def _explain(exc: Exception, pipeline: str) -> str:
    code = error_code(exc)
    if code == "PipelineNotFoundException":
        return f"pipeline {pipeline} does not exist"
    return f"{code or type(exc).__name__}: {exc}"
