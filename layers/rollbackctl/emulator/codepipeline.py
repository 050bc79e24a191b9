"""CodePipeline as AWS documents it, where moto stops short.

moto records executions as Succeeded at once and lacks StopPipelineExecution, GetPipelineState,
Disable/EnableStageTransition and ListActionExecutions. Here an execution starts InProgress in its first
stage and stays there until it is stopped or moved on by ``advance`` / ``fail_action`` / ``finish`` (the
emulator has no action runners: tests and the demo play that part). Errors use AWS's own names.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from moto.codepipeline.exceptions import PipelineExecutionNotFoundException, PipelineNotFoundException
from moto.codepipeline.models import CodePipeline, CodePipelineBackend, PipelineExecution, codepipeline_backends
from moto.codepipeline.responses import CodePipelineResponse
from moto.core.exceptions import JsonRESTError
from moto.core.utils import iso_8601_datetime_with_milliseconds, utcnow

# DisableStageTransition's reason: 1-300 characters of this pattern (AWS API reference).
TRANSITION_REASON = re.compile(r"^[a-zA-Z0-9!@ \(\)\.\*\?\-]{1,300}$")
ACTIVE = ("InProgress", "Stopping")


class PipelineExecutionNotStoppableException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("PipelineExecutionNotStoppableException", message)


class StageNotFoundException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("StageNotFoundException", message)


class ValidationException(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


def _now() -> str:
    return iso_8601_datetime_with_milliseconds(utcnow())


def _pipeline(backend: CodePipelineBackend, name: str) -> CodePipeline:
    pipeline = backend.pipelines.get(name)
    if pipeline is None:
        raise PipelineNotFoundException(f"Account '{backend.account_id}' does not have a pipeline with name '{name}'")
    return pipeline


def _execution(backend: CodePipelineBackend, name: str, execution_id: str) -> PipelineExecution:
    return backend.get_pipeline_execution(name, execution_id)


def _stage(pipeline: CodePipeline, stage_name: str) -> dict[str, Any]:
    for stage in pipeline.pipeline["stages"]:
        if stage["name"] == stage_name:
            return dict(stage)
    raise StageNotFoundException(f"Stage {stage_name} not found in pipeline {pipeline.pipeline['name']}")


def _transitions(pipeline: CodePipeline) -> dict[str, dict[str, Any]]:
    if not hasattr(pipeline, "rollbackctl_transitions"):
        pipeline.rollbackctl_transitions = {}  # type: ignore[attr-defined]
    return pipeline.rollbackctl_transitions  # type: ignore[attr-defined, no-any-return]


def _action_state(stage: dict[str, Any], action: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "actionExecutionId": str(uuid.uuid4()),
        "status": status,
        "lastStatusChange": _now(),
        "stage": stage["name"],
        "action": action["name"],
        "actionTypeId": action.get("actionTypeId", {}),
        "configuration": action.get("configuration", {}),
        "startTime": _now(),
    }


def _enter(execution: PipelineExecution, pipeline: CodePipeline, stage_name: str) -> None:
    """Move an execution into a stage: earlier stages succeed, this one's actions start."""
    states: dict[str, dict[str, Any]] = execution.rollbackctl_actions  # type: ignore[attr-defined]
    for stage in pipeline.pipeline["stages"]:
        if stage["name"] == stage_name:
            for action in stage["actions"]:
                states[f"{stage['name']}/{action['name']}"] = _action_state(stage, action, "InProgress")
            execution.rollbackctl_stage = stage_name  # type: ignore[attr-defined]
            return
        for action in stage["actions"]:
            key = f"{stage['name']}/{action['name']}"
            if states.get(key, {}).get("status") != "Succeeded":
                states[key] = _action_state(stage, action, "Succeeded")
    raise StageNotFoundException(f"Stage {stage_name} not found in pipeline {pipeline.pipeline['name']}")


_original_init = PipelineExecution.__init__
_original_summary = PipelineExecution.to_summary_dict


def _execution_init(self: PipelineExecution, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self.status = "InProgress"  # AWS: an execution runs until its stages finish, fail or it is stopped
    self.rollbackctl_actions = {}  # type: ignore[attr-defined]
    self.rollbackctl_stage = None  # type: ignore[attr-defined]
    self.rollbackctl_stop = None  # type: ignore[attr-defined]


def _execution_summary(self: PipelineExecution) -> dict[str, Any]:
    data = _original_summary(self)
    if getattr(self, "rollbackctl_stop", None):  # ListPipelineExecutions: PipelineExecutionSummary.stopTrigger
        data["stopTrigger"] = {"reason": self.rollbackctl_stop}  # type: ignore[attr-defined]
    return data


def _start(self: CodePipelineBackend, name: str, variables: list[dict[str, str]] | None) -> str:
    execution_id = _original_start(self, name, variables)
    pipeline = _pipeline(self, name)
    _enter(pipeline.executions[execution_id], pipeline, pipeline.pipeline["stages"][0]["name"])
    return execution_id


_original_start = CodePipelineBackend.start_pipeline_execution


# --- the actions moto lacks -----------------------------------------------------------------------------


def stop_pipeline_execution(
    backend: CodePipelineBackend, name: str, execution_id: str, abandon: bool, reason: str | None
) -> str:
    execution = _execution(backend, name, execution_id)
    if execution.status not in ("InProgress",):
        raise PipelineExecutionNotStoppableException(
            f"Unable to stop pipeline execution. Execution {execution_id} is in status {execution.status}."
        )
    execution.status = "Stopped" if abandon else "Stopping"
    execution.status_summary = reason
    execution.rollbackctl_stop = reason or "Stopped"  # type: ignore[attr-defined]
    execution.last_update_time = utcnow()
    for state in execution.rollbackctl_actions.values():  # type: ignore[attr-defined]
        if state["status"] == "InProgress":
            state.update(status="Abandoned" if abandon else "InProgress", lastStatusChange=_now())
    return execution_id


def set_stage_transition(
    backend: CodePipelineBackend, name: str, stage: str, transition_type: str, enabled: bool, reason: str | None
) -> None:
    pipeline = _pipeline(backend, name)
    _stage(pipeline, stage)
    if transition_type not in ("Inbound", "Outbound"):
        raise ValidationException(f"transitionType must be Inbound or Outbound, got {transition_type}")
    if not enabled and (reason is None or not TRANSITION_REASON.match(reason)):
        raise ValidationException(
            "1 validation error detected: Value at 'reason' failed to satisfy constraint: Member must satisfy "
            "regular expression pattern: [a-zA-Z0-9!@ \\(\\)\\.\\*\\?\\-]+ (length 1-300)"
        )
    state = {"enabled": enabled, "lastChangedBy": "rollbackctl-emulator", "lastChangedAt": _now()}
    if not enabled:
        state["disabledReason"] = reason
    _transitions(pipeline)[f"{stage}/{transition_type}"] = state


def get_pipeline_state(backend: CodePipelineBackend, name: str) -> dict[str, Any]:
    pipeline = _pipeline(backend, name)
    latest = list(pipeline.executions.values())[-1] if pipeline.executions else None
    stages = []
    for stage in pipeline.pipeline["stages"]:
        inbound = _transitions(pipeline).get(f"{stage['name']}/Inbound", {"enabled": True})
        entry: dict[str, Any] = {"stageName": stage["name"], "inboundTransitionState": inbound, "actionStates": []}
        for action in stage["actions"]:
            action_state: dict[str, Any] = {"actionName": action["name"]}
            state = latest.rollbackctl_actions.get(f"{stage['name']}/{action['name']}") if latest else None  # type: ignore[attr-defined]
            if state:
                execution: dict[str, Any] = {
                    "actionExecutionId": state["actionExecutionId"],
                    "status": state["status"],
                    "lastStatusChange": state["lastStatusChange"],
                }
                for key in ("summary", "externalExecutionId", "externalExecutionUrl", "errorDetails"):
                    if key in state:
                        execution[key] = state[key]
                action_state["latestExecution"] = execution
            entry["actionStates"].append(action_state)
        if latest is not None and any(f"{stage['name']}/" in k for k in latest.rollbackctl_actions):  # type: ignore[attr-defined]
            statuses = {s["status"] for k, s in latest.rollbackctl_actions.items() if k.startswith(f"{stage['name']}/")}  # type: ignore[attr-defined]
            status = next((s for s in ("Failed", "InProgress", "Stopped", "Abandoned") if s in statuses), "Succeeded")
            if latest.status == "Stopped" and status in ("InProgress", "Abandoned"):
                status = "Stopped"
            entry["latestExecution"] = {"pipelineExecutionId": latest.pipeline_execution_id, "status": status}
        stages.append(entry)
    return {
        "pipelineName": name,
        "pipelineVersion": pipeline.pipeline["version"],
        "stageStates": stages,
        **{k: v for k, v in pipeline.metadata.items() if k in ("created", "updated")},
    }


def list_action_executions(backend: CodePipelineBackend, name: str, execution_id: str | None) -> list[dict[str, Any]]:
    pipeline = _pipeline(backend, name)
    executions = [pipeline.executions[execution_id]] if execution_id else list(pipeline.executions.values())
    if execution_id and execution_id not in pipeline.executions:
        raise PipelineExecutionNotFoundException(f"Execution {execution_id} not found in pipeline {name}")
    details = []
    for execution in reversed(executions):
        for state in execution.rollbackctl_actions.values():  # type: ignore[attr-defined]
            result: dict[str, Any] = {}
            for key, out in (
                ("externalExecutionId", "externalExecutionId"),
                ("summary", "externalExecutionSummary"),
                ("externalExecutionUrl", "externalExecutionUrl"),
                ("errorDetails", "errorDetails"),
            ):
                if key in state:
                    result[out] = state[key]
            details.append(
                {
                    "pipelineExecutionId": execution.pipeline_execution_id,
                    "actionExecutionId": state["actionExecutionId"],
                    "pipelineVersion": execution.pipeline_version,
                    "stageName": state["stage"],
                    "actionName": state["action"],
                    "startTime": state["startTime"],
                    "lastUpdateTime": state["lastStatusChange"],
                    "status": state["status"],
                    "input": {"actionTypeId": state["actionTypeId"], "configuration": state["configuration"]},
                    "output": {"executionResult": result},
                }
            )
    return details


# --- what the action runners would do (tests and the demo play them) ------------------------------------


def advance(account: str, region: str, name: str, execution_id: str, stage: str) -> None:
    backend = codepipeline_backends[account][region]
    pipeline = _pipeline(backend, name)
    _enter(_execution(backend, name, execution_id), pipeline, stage)


def fail_action(
    account: str,
    region: str,
    name: str,
    execution_id: str,
    stage: str,
    action: str,
    code: str,
    message: str,
    summary: str = "",
    url: str = "",
    external_id: str = "",
) -> None:
    backend = codepipeline_backends[account][region]
    execution = _execution(backend, name, execution_id)
    state = execution.rollbackctl_actions[f"{stage}/{action}"]  # type: ignore[attr-defined]
    state.update(status="Failed", lastStatusChange=_now(), errorDetails={"code": code, "message": message})
    if summary:
        state["summary"] = summary
    if url:
        state["externalExecutionUrl"] = url
    if external_id:
        state["externalExecutionId"] = external_id
    execution.status = "Failed"
    execution.status_summary = message
    execution.last_update_time = utcnow()


def finish(account: str, region: str, name: str, execution_id: str) -> None:
    backend = codepipeline_backends[account][region]
    execution = _execution(backend, name, execution_id)
    for state in execution.rollbackctl_actions.values():  # type: ignore[attr-defined]
        state.update(status="Succeeded", lastStatusChange=_now())
    execution.status = "Succeeded"


# --- wiring ---------------------------------------------------------------------------------------------


def _stop_response(self: CodePipelineResponse) -> str:
    execution_id = stop_pipeline_execution(
        self.codepipeline_backend,
        self._get_param("pipelineName"),
        self._get_param("pipelineExecutionId"),
        bool(self._get_param("abandon")),
        self._get_param("reason"),
    )
    return json.dumps({"pipelineExecutionId": execution_id})


def _state_response(self: CodePipelineResponse) -> str:
    return json.dumps(get_pipeline_state(self.codepipeline_backend, self._get_param("name")))


def _disable_response(self: CodePipelineResponse) -> str:
    set_stage_transition(
        self.codepipeline_backend,
        self._get_param("pipelineName"),
        self._get_param("stageName"),
        self._get_param("transitionType"),
        False,
        self._get_param("reason"),
    )
    return "{}"


def _enable_response(self: CodePipelineResponse) -> str:
    set_stage_transition(
        self.codepipeline_backend,
        self._get_param("pipelineName"),
        self._get_param("stageName"),
        self._get_param("transitionType"),
        True,
        None,
    )
    return "{}"


def _list_actions_response(self: CodePipelineResponse) -> str:
    execution_id = (self._get_param("filter") or {}).get("pipelineExecutionId")
    details = list_action_executions(self.codepipeline_backend, self._get_param("pipelineName"), execution_id)
    return json.dumps({"actionExecutionDetails": details})


def install() -> None:
    PipelineExecution.__init__ = _execution_init  # type: ignore[method-assign]
    PipelineExecution.to_summary_dict = _execution_summary  # type: ignore[method-assign]
    CodePipelineBackend.start_pipeline_execution = _start  # type: ignore[method-assign]
    CodePipelineResponse.stop_pipeline_execution = _stop_response  # type: ignore[attr-defined]
    CodePipelineResponse.get_pipeline_state = _state_response  # type: ignore[attr-defined]
    CodePipelineResponse.disable_stage_transition = _disable_response  # type: ignore[attr-defined]
    CodePipelineResponse.enable_stage_transition = _enable_response  # type: ignore[attr-defined]
    CodePipelineResponse.list_action_executions = _list_actions_response  # type: ignore[attr-defined]
