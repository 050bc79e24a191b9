"""CodePipeline (V2) as AWS documents it, where moto stops short.

moto records executions as Succeeded at once and lacks StopPipelineExecution, GetPipelineState,
Disable/EnableStageTransition, ListActionExecutions and RollbackStage. Here, as the CodePipeline API Reference and
User Guide describe them:

- An execution is an operation of model ``codepipeline::execution`` (``progress.py``): it starts InProgress in its
  first stage and runs its stages in order, each stage's actions InProgress -> Succeeded, then the execution
  Succeeded, as moto's state manager paces it (a "manual" transition counts GetPipelineExecution and
  GetPipelineState calls). In process it stays where a test put it until moved: ``advance`` / ``fail_action`` /
  ``finish`` play the action runners (the emulator has none), and StopPipelineExecution stops it. An execution
  waits before a stage whose inbound transition is disabled (User Guide, "Disable or enable transitions").
- Executions carry ``pipelineVersion`` (the structure they started under), ``executionType`` STANDARD or ROLLBACK,
  ``rollbackMetadata`` and ``sourceRevisions`` (from StartPipelineExecution's ``sourceRevisions`` overrides; the
  emulator polls no source) in ListPipelineExecutions and GetPipelineExecution; ListPipelineExecutions takes the
  ``succeededInStage`` filter ("the stage was successful in the current pipeline version").
- RollbackStage starts a new execution of type ROLLBACK (trigger ManualRollback) that runs only that stage with the
  target execution's source revisions and variables (User Guide, "Configuring stage rollback"). A stage whose
  ``onFailure.result`` is ROLLBACK rolls itself back (trigger AutomatedRollback) to the most recent execution that
  succeeded in it under the current structure, when there is one ("Configure a stage for automatic rollback").
- At every final status (an action, a stage, the execution) the emulator puts CodePipeline's own event on the
  default bus (Action / Stage / Pipeline Execution State Change, in the shapes of the User Guide's "Monitoring
  CodePipeline events"). A failure a test plays with ``fail_action`` is the exception unless asked for
  (``events=True``): those tests deliver the failure events they want themselves.
Errors use AWS's own names.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from moto.codepipeline.exceptions import PipelineExecutionNotFoundException, PipelineNotFoundException
from moto.codepipeline.models import CodePipeline, CodePipelineBackend, PipelineExecution, codepipeline_backends
from moto.codepipeline.responses import CodePipelineResponse
from moto.core.exceptions import JsonRESTError
from moto.core.utils import iso_8601_datetime_with_milliseconds, utcnow

from . import progress

MODEL = "codepipeline::execution"
SOURCE = "aws.codepipeline"
# DisableStageTransition's reason: 1-300 characters of this pattern (AWS API reference).
TRANSITION_REASON = re.compile(r"^[a-zA-Z0-9!@ \(\)\.\*\?\-]{1,300}$")
ACTIVE = ("InProgress", "Stopping")
STAGE = "stage:"  # an operation status "stage:NAME": the execution is InProgress in stage NAME
WAIT = "wait:"  # "wait:NAME": it finished the stage before NAME and waits at NAME's disabled inbound transition
_entered = itertools.count(1)  # the order in which executions entered stages (GetPipelineState's latest)


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


class UnableToRollbackStageException(JsonRESTError):
    """RollbackStage: "Unable to roll back the stage. The cause might be if the pipeline version has changed since
    the target pipeline execution was deployed, the stage is currently running, or an incorrect target pipeline
    execution ID was provided." """

    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("UnableToRollbackStageException", message)


class PipelineExecutionOutdatedException(JsonRESTError):
    """RollbackStage: "The specified pipeline execution is outdated and cannot be used as a target pipeline
    execution for rollback." """

    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("PipelineExecutionOutdatedException", message)


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


def _stage_names(pipeline: CodePipeline) -> list[str]:
    return [str(stage["name"]) for stage in pipeline.pipeline["stages"]]


def _is_source_stage(stage: dict[str, Any]) -> bool:
    return any((a.get("actionTypeId") or {}).get("category") == "Source" for a in stage.get("actions", []))


def _transitions(pipeline: CodePipeline) -> dict[str, dict[str, Any]]:
    if not hasattr(pipeline, "rollbackctl_transitions"):
        pipeline.rollbackctl_transitions = {}  # type: ignore[attr-defined]
    return pipeline.rollbackctl_transitions  # type: ignore[attr-defined, no-any-return]


def _inbound_disabled(pipeline: CodePipeline, stage: str) -> bool:
    return _transitions(pipeline).get(f"{stage}/Inbound", {}).get("enabled") is False


def _action_state(stage: dict[str, Any], action: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "actionExecutionId": str(uuid.uuid4()),
        "status": status,
        "lastStatusChange": _now(),
        "stage": stage["name"],
        "action": action["name"],
        "actionTypeId": action.get("actionTypeId", {}),
        "configuration": action.get("configuration", {}),
        "region": action.get("region", ""),
        "startTime": _now(),
    }


def _actions(execution: PipelineExecution) -> dict[str, dict[str, Any]]:
    return execution.rollbackctl_actions  # type: ignore[attr-defined, no-any-return]


def _run(execution: PipelineExecution) -> PipelineRun | None:
    return getattr(execution, "rollbackctl_run", None)


def _enter(execution: PipelineExecution, pipeline: CodePipeline, stage_name: str) -> None:
    """Move an execution into a stage: earlier stages succeed, this one's actions start."""
    states = _actions(execution)
    for stage in pipeline.pipeline["stages"]:
        if stage["name"] == stage_name:
            for action in stage["actions"]:
                states[f"{stage['name']}/{action['name']}"] = _action_state(stage, action, "InProgress")
            execution.rollbackctl_stage = stage_name  # type: ignore[attr-defined]
            execution.rollbackctl_entered[stage_name] = next(_entered)  # type: ignore[attr-defined]
            return
        if execution.rollbackctl_type == "ROLLBACK":  # type: ignore[attr-defined]
            continue  # a rollback runs only its stage
        for action in stage["actions"]:
            key = f"{stage['name']}/{action['name']}"
            if states.get(key, {}).get("status") != "Succeeded":
                states[key] = _action_state(stage, action, "Succeeded")
    raise StageNotFoundException(f"Stage {stage_name} not found in pipeline {pipeline.pipeline['name']}")


def succeeded_in(execution: PipelineExecution, pipeline: CodePipeline, stage_name: str) -> bool:
    """Every action of the stage (as the pipeline declares it now) succeeded in this execution."""
    stage = next((s for s in pipeline.pipeline["stages"] if s["name"] == stage_name), None)
    if stage is None or stage_name not in execution.rollbackctl_entered:  # type: ignore[attr-defined]
        return False
    states = _actions(execution)
    return all(states.get(f"{stage_name}/{a['name']}", {}).get("status") == "Succeeded" for a in stage["actions"])


# --- the operation --------------------------------------------------------------------------------------


class PipelineRun(progress.Operation):
    """One pipeline execution running its stages (``stage:NAME`` statuses), then Succeeded; or Failed, Stopping,
    Stopped off the chain."""

    MODEL = MODEL

    def __init__(self, backend: CodePipelineBackend, pipeline: CodePipeline, execution: PipelineExecution) -> None:
        stages = _stage_names(pipeline)
        if execution.rollbackctl_type == "ROLLBACK":  # type: ignore[attr-defined]
            stages = [execution.rollbackctl_rollback_stage]  # type: ignore[attr-defined]
        chain = [(f"{STAGE}{a}", f"{STAGE}{b}") for a, b in itertools.pairwise(stages)]
        super().__init__([*chain, (f"{STAGE}{stages[-1]}", "Succeeded")])
        self.account, self.region = backend.account_id, backend.region_name
        self.pipeline, self.execution = pipeline, execution
        self.by_hand = False  # a helper's move passes a disabled transition (the test plays what it wants)
        self.quiet = False  # a failure a test plays and reports itself (fail_action without events) emits nothing
        execution.rollbackctl_run = self  # type: ignore[attr-defined]
        execution.status = "InProgress"  # AWS: an execution runs until its stages finish, fail or it is stopped
        _enter(execution, pipeline, stages[0])
        self.track()

    # An execution does not move into a stage whose inbound transition is disabled: the stage it finished
    # succeeded, and it waits at the transition ("wait:NAME"), in progress, until the transition is enabled.
    def _get_next_status(self, previous: str | None) -> str | None:
        if isinstance(previous, str) and previous.startswith(WAIT):
            stage = previous[len(WAIT) :]
            return previous if self._held_before(stage) else f"{STAGE}{stage}"
        following = self._get_next_status_of_jobs(previous, super()._get_next_status(previous))
        if isinstance(following, str) and following.startswith(STAGE) and self._held_before(following[len(STAGE) :]):
            return f"{WAIT}{following[len(STAGE) :]}"
        return following

    def _get_next_status_of_jobs(self, previous: str | None, following: str | None) -> str | None:
        if isinstance(previous, str) and previous.startswith(STAGE) and pending_jobs(self, previous[len(STAGE) :]):
            return previous  # a Lambda invoke action runs until its function answers the job
        return following

    def _held_before(self, stage: str) -> bool:
        return not self.by_hand and _inbound_disabled(self.pipeline, stage)

    @property
    def done(self) -> bool:
        return self._status in ("Succeeded", "Failed", "Stopped")

    def move(self, status: str, quiet: bool = False) -> None:
        """A helper's move (the action runners' part): it may pass a disabled transition."""
        with progress.held():
            self.by_hand, self.quiet = True, quiet
            try:
                self.status = status
            finally:
                self.by_hand = self.quiet = False

    def emit(
        self, account: str, region: str, source: str, detail_type: str, detail: dict[str, Any], resources: list[str]
    ) -> None:
        if not self.quiet:
            super().emit(account, region, source, detail_type, detail, resources)

    # --- what CodePipeline does at each step --------------------------------------------------------------

    def on_status(self, old: str, new: str) -> None:
        execution = self.execution
        execution.last_update_time = utcnow()
        left = old[len(STAGE) :] if old.startswith(STAGE) else None
        if new.startswith(WAIT):
            if left is not None:
                self._stage_succeeded(left)
            execution.rollbackctl_stage = None  # type: ignore[attr-defined]
        elif new.startswith(STAGE):
            if left is not None:
                self._stage_succeeded(left)
            _enter(execution, self.pipeline, new[len(STAGE) :])
            execution.status = "InProgress"
            dispatch_jobs(self, new[len(STAGE) :])
        elif new == "Succeeded":
            if left is not None:
                self._stage_succeeded(left)
            execution.status = "Succeeded"
            self._pipeline_event("SUCCEEDED")
        elif new == "Failed":
            execution.status = "Failed"
            if left is not None:
                self._stage_failed(left)
            self._pipeline_event("FAILED")
            if left is not None:
                self._roll_back_on_failure(left)
        elif new == "Stopping":
            execution.status = "Stopping"
        elif new == "Stopped":
            execution.status = "Stopped"
            stage = left or getattr(execution, "rollbackctl_stage", None)
            # Stop and abandon: the actions in progress are abandoned; stop and wait: they finished first.
            finished, state_name = ("Succeeded", "SUCCEEDED") if old == "Stopping" else ("Abandoned", "ABANDONED")
            for state in self._states(stage):
                if state["status"] == "InProgress":
                    state.update(status=finished, lastStatusChange=_now())
                    self._action_event(state, state_name)
            if stage:
                self._stage_event(stage, "STOPPED")
            self._pipeline_event("STOPPED")

    def _states(self, stage: str | None) -> list[dict[str, Any]]:
        return [s for k, s in _actions(self.execution).items() if stage and k.startswith(f"{stage}/")]

    def _stage_succeeded(self, stage: str) -> None:
        for state in self._states(stage):
            if state["status"] == "InProgress":
                state.update(status="Succeeded", lastStatusChange=_now())
                self._action_event(state, "SUCCEEDED")
        self._stage_event(stage, "SUCCEEDED")

    def _stage_failed(self, stage: str) -> None:
        for state in self._states(stage):
            if state["status"] == "Failed":
                self._action_event(state, "FAILED")
        self._stage_event(stage, "FAILED")

    def _roll_back_on_failure(self, stage: str) -> None:
        """A stage declared with onFailure result ROLLBACK goes back to the most recent execution that succeeded
        in it under the current structure (none yet: it does not roll back). Conditions are not evaluated."""
        declared = _stage(self.pipeline, stage)
        on_failure = declared.get("onFailure") or {}
        if on_failure.get("result") != "ROLLBACK" or on_failure.get("conditions"):
            return
        if self.execution.rollbackctl_type == "ROLLBACK":  # type: ignore[attr-defined]
            return
        target = latest_good(self.pipeline, stage, exclude=self.execution.pipeline_execution_id)
        if target is not None:
            start_rollback(codepipeline_backends[self.account][self.region], self.pipeline, stage, target, True)

    # --- the events (User Guide, "Monitoring CodePipeline events") ----------------------------------------

    def _emit(self, detail_type: str, detail: dict[str, Any]) -> None:
        base = {
            "pipeline": self.pipeline.pipeline["name"],
            "execution-id": self.execution.pipeline_execution_id,
        }
        detail = {**base, **detail, "version": self.execution.pipeline_version, "pipeline-execution-attempt": 1}
        arn = self.pipeline.metadata["pipelineArn"]
        self.emit(self.account, self.region, SOURCE, detail_type, detail, [arn])

    def _pipeline_event(self, state: str) -> None:
        trigger = self.execution.rollbackctl_trigger  # type: ignore[attr-defined]
        self._emit(
            "CodePipeline Pipeline Execution State Change",
            {
                "execution-trigger": {
                    "trigger-type": trigger["triggerType"],
                    "trigger-detail": trigger.get("triggerDetail", ""),
                },
                "state": state,
            },
        )

    def _stage_event(self, stage: str, state: str) -> None:
        self._emit("CodePipeline Stage Execution State Change", {"stage": stage, "state": state})

    def _action_event(self, action: dict[str, Any], state: str) -> None:
        detail: dict[str, Any] = {
            "stage": action["stage"],
            "action": action["action"],
            "state": state,
            "region": action.get("region") or self.region,
            "type": {k: action["actionTypeId"].get(k) for k in ("owner", "provider", "category", "version")},
        }
        error = action.get("errorDetails") or {}
        if state == "FAILED":
            result = {
                "external-execution-url": action.get("externalExecutionUrl", ""),
                "external-execution-summary": action.get("summary", ""),
                "external-execution-id": action.get("externalExecutionId", ""),
                "error-code": error.get("code", ""),
            }
            detail["execution-result"] = {k: v for k, v in result.items() if v}
        self._emit("CodePipeline Action Execution State Change", detail)


# --- Lambda invoke actions: jobs -----------------------------------------------------------------------------
# CodePipeline invokes the function asynchronously with a job, and the action runs until the function answers with
# PutJobSuccessResult or PutJobFailureResult (User Guide, "AWS Lambda invoke action reference"; Lambda Developer
# Guide, "Using AWS Lambda with AWS CodePipeline", for the event). A failure fails the action, its stage and the
# execution, with the FailureDetails type as the action's error code.


@dataclass
class _Job:
    account: str
    region: str
    run: PipelineRun
    stage: str
    action: str
    status: str = "InProgress"


_JOBS: dict[str, _Job] = {}
_job_threads: list[threading.Thread] = []


class JobNotFoundException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("JobNotFoundException", message)


class InvalidJobStateException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidJobStateException", message)


def _is_lambda_invoke(action: dict[str, Any]) -> bool:
    kind = action.get("actionTypeId") or {}
    return kind.get("category") == "Invoke" and kind.get("provider") == "Lambda"


def pending_jobs(run: PipelineRun, stage: str) -> bool:
    """Whether the stage waits for a function's answer: one of its Lambda invoke actions has no job yet (it is given
    one as the stage starts) or a job not answered."""
    invokes = [a for a in _stage(run.pipeline, stage).get("actions", []) if _is_lambda_invoke(a)]
    if not invokes:
        return False
    jobs = [j for j in list(_JOBS.values()) if j.run is run and j.stage == stage]
    return len(jobs) < len(invokes) or any(j.status == "InProgress" for j in jobs)


def _job_event(job_id: str, run: PipelineRun, action: dict[str, Any]) -> dict[str, Any]:
    configuration = action.get("configuration") or {}
    given = {k: configuration[k] for k in ("FunctionName", "UserParameters") if k in configuration}
    bucket = f"codepipeline-{run.region}-{run.account}"
    revisions = _execution_dict(run.execution).get("artifactRevisions") or []
    inputs = [
        {
            "name": artifact.get("name", ""),
            "revision": next((r["revisionId"] for r in revisions if r.get("name") == artifact.get("name")), None)
            or (revisions[0]["revisionId"] if len(revisions) == 1 else None),
            "location": {
                "type": "S3",
                "s3Location": {"bucketName": bucket, "objectKey": f"{run.pipeline.pipeline['name']}/{job_id[:8]}"},
            },
        }
        for artifact in action.get("inputArtifacts") or []
    ]
    return {
        "CodePipeline.job": {
            "id": job_id,
            "accountId": run.account,
            "data": {
                "actionConfiguration": {"configuration": given},
                "inputArtifacts": inputs,
                "outputArtifacts": [],
                # temporary credentials for the artifact bucket, as CodePipeline hands them (never to be logged)
                "artifactCredentials": {
                    "accessKeyId": "ASIAEMULATORARTIFACT",
                    "secretAccessKey": "emulator-artifact-secret",  # nosec B105 - the emulator's fake credentials
                    "sessionToken": "emulator-artifact-session",
                    "expirationTime": int((utcnow().timestamp() + 3600) * 1000),
                },
            },
        }
    }


def dispatch_jobs(run: PipelineRun, stage_name: str) -> None:
    """The stage's Lambda invoke actions each get a job, and their functions are invoked with it."""
    from moto.awslambda.models import lambda_backends

    stage = _stage(run.pipeline, stage_name)
    for action in stage.get("actions", []):
        if not _is_lambda_invoke(action):
            continue
        job_id = str(uuid.uuid4())
        _JOBS[job_id] = _Job(run.account, run.region, run, stage_name, action["name"])
        event = json.dumps(_job_event(job_id, run, action))
        function = str((action.get("configuration") or {}).get("FunctionName", ""))

        def invoke(function: str = function, event: str = event, job_id: str = job_id) -> None:
            try:
                fn = lambda_backends[run.account][run.region].get_function(function)
                fn.invoke(event, {"x-amz-invocation-type": "Event"}, {})
            except Exception as exc:  # the function is missing or failed: the action fails, as its job times out
                _answer(job_id, run.account, run.region, "JobFailed", f"the function could not run: {exc}"[:500])

        thread = threading.Thread(target=invoke, name=f"codepipeline-job-{job_id[:8]}", daemon=True)
        _job_threads.append(thread)
        thread.start()


def drain_jobs(timeout: float = 30.0) -> None:
    while _job_threads:
        _job_threads.pop().join(timeout)


def _answer(job_id: str, account: str, region: str, failure_type: str | None, message: str = "") -> None:
    job = _JOBS.get(job_id)
    if job is None or (job.account, job.region) != (account, region):
        raise JobNotFoundException("The job was specified in an invalid format or cannot be found.")
    if job.status != "InProgress":
        raise InvalidJobStateException(f"The job {job_id} is in state {job.status} and cannot be answered again.")
    with progress.held():
        job.status = "Succeeded" if failure_type is None else "Failed"
        state = _actions(job.run.execution)[f"{job.stage}/{job.action}"]
        if failure_type is None:
            state.update(status="Succeeded", lastStatusChange=_now())
            return
        state.update(status="Failed", lastStatusChange=_now(), errorDetails={"code": failure_type, "message": message})
        state["summary"] = message
        job.run.execution.status_summary = message
        job.run.move("Failed")


def _put_job_success_response(self: CodePipelineResponse) -> str:
    _answer(self._get_param("jobId"), self.current_account, self.region, None)
    return "{}"


def _put_job_failure_response(self: CodePipelineResponse) -> str:
    details = self._get_param("failureDetails") or {}
    _answer(
        self._get_param("jobId"),
        self.current_account,
        self.region,
        str(details.get("type") or "JobFailed"),
        str(details.get("message") or "")[:5000],
    )
    return "{}"


# --- moto's executions, extended --------------------------------------------------------------------------

_original_init = PipelineExecution.__init__
_original_summary = PipelineExecution.to_summary_dict
_original_to_dict = PipelineExecution.to_dict


def _execution_init(self: PipelineExecution, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    self.status = "InProgress"  # AWS: an execution runs until its stages finish, fail or it is stopped
    self.rollbackctl_actions = {}  # type: ignore[attr-defined]
    self.rollbackctl_stage = None  # type: ignore[attr-defined]
    self.rollbackctl_stop = None  # type: ignore[attr-defined]
    self.rollbackctl_entered = {}  # type: ignore[attr-defined]
    self.rollbackctl_type = "STANDARD"  # type: ignore[attr-defined]
    self.rollbackctl_rollback_target = None  # type: ignore[attr-defined]
    self.rollbackctl_rollback_stage = None  # type: ignore[attr-defined]
    self.rollbackctl_sources = []  # type: ignore[attr-defined]
    self.rollbackctl_trigger = {"triggerType": "StartPipelineExecution", "triggerDetail": ""}  # type: ignore[attr-defined]


def _v2_fields(self: PipelineExecution) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "executionType": self.rollbackctl_type,  # type: ignore[attr-defined]
        "trigger": dict(self.rollbackctl_trigger),  # type: ignore[attr-defined]
    }
    if self.rollbackctl_type == "ROLLBACK":  # type: ignore[attr-defined]
        fields["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": self.rollbackctl_rollback_target}  # type: ignore[attr-defined]
    return fields


def _execution_summary(self: PipelineExecution) -> dict[str, Any]:
    data = _original_summary(self)
    data.update(_v2_fields(self), sourceRevisions=_source_list(self))
    if getattr(self, "rollbackctl_stop", None):  # ListPipelineExecutions: PipelineExecutionSummary.stopTrigger
        data["stopTrigger"] = {"reason": self.rollbackctl_stop}  # type: ignore[attr-defined]
    return data


def _execution_dict(self: PipelineExecution) -> dict[str, Any]:
    data = _original_to_dict(self)
    data.update(_v2_fields(self))
    # GetPipelineExecution: artifactRevisions, one per source revision (ArtifactRevision: name, revisionId, ...)
    data["artifactRevisions"] = [
        {"name": s.get("artifactName") or s["actionName"], "revisionId": s["revisionId"]}
        for s in self.rollbackctl_sources  # type: ignore[attr-defined]
    ]
    return data


def _start(
    self: CodePipelineBackend,
    name: str,
    variables: list[dict[str, str]] | None,
    source_revisions: list[dict[str, str]] | None = None,
) -> str:
    with progress.held():
        execution_id = _original_start(self, name, variables)
        pipeline = _pipeline(self, name)
        execution = pipeline.executions[execution_id]
        execution.rollbackctl_sources = _source_revisions(pipeline, source_revisions or [])  # type: ignore[attr-defined]
        PipelineRun(self, pipeline, execution)
    return execution_id


_original_start = CodePipelineBackend.start_pipeline_execution


def _source_revisions(pipeline: CodePipeline, overrides: list[dict[str, str]]) -> list[dict[str, str]]:
    """StartPipelineExecution's sourceRevisions (SourceRevisionOverride: actionName, revisionType, revisionValue)
    as the execution's SourceRevision list; the action must be a source action of the pipeline."""
    sources = {
        str(a["name"]): a
        for s in pipeline.pipeline["stages"]
        for a in s["actions"]
        if (a.get("actionTypeId") or {}).get("category") == "Source"
    }
    found = []
    for override in overrides:
        action = sources.get(str(override.get("actionName")))
        if action is None:
            raise ValidationException(f"The source action {override.get('actionName')} does not exist in the pipeline")
        artifacts = action.get("outputArtifacts") or [{}]
        found.append(
            {
                "actionName": str(override["actionName"]),
                "revisionId": str(override["revisionValue"]),
                "artifactName": str(artifacts[0].get("name", "")),
            }
        )
    return found


def _source_list(execution: PipelineExecution) -> list[dict[str, str]]:
    """The execution's sourceRevisions (SourceRevision: actionName, revisionId)."""
    sources: list[dict[str, str]] = execution.rollbackctl_sources  # type: ignore[attr-defined]
    return [{"actionName": s["actionName"], "revisionId": s["revisionId"]} for s in sources]


def refresh(pipeline: CodePipeline, described: PipelineExecution | None = None, every: bool = False) -> None:
    """Let the pipeline's executions progress; a describe call (``described``, or ``every`` execution) counts for
    a "manual" transition."""
    with progress.held():
        for execution in list(pipeline.executions.values()):
            run = _run(execution)
            if run is None or run.done:
                continue
            if every or execution is described:
                run.advance()
            run.status  # noqa: B018 - reading progresses it


def _stage_latest(pipeline: CodePipeline, stage: str) -> PipelineExecution | None:
    """The execution that entered the stage last (GetPipelineState's latestExecution of the stage)."""
    entered = [e for e in pipeline.executions.values() if stage in e.rollbackctl_entered]  # type: ignore[attr-defined]
    return max(entered, key=lambda e: e.rollbackctl_entered[stage], default=None)  # type: ignore[attr-defined]


def latest_good(pipeline: CodePipeline, stage: str, exclude: str | None = None) -> PipelineExecution | None:
    """The most recent STANDARD execution that succeeded in the stage under the current structure."""
    version = pipeline.pipeline["version"]
    good = [
        e
        for e in pipeline.executions.values()
        if e.pipeline_execution_id != exclude
        and e.rollbackctl_type == "STANDARD"  # type: ignore[attr-defined]
        and e.pipeline_version == version
        and succeeded_in(e, pipeline, stage)
    ]
    return max(good, key=lambda e: e.rollbackctl_entered[stage], default=None)  # type: ignore[attr-defined]


# --- the actions moto lacks -----------------------------------------------------------------------------


def stop_pipeline_execution(
    backend: CodePipelineBackend, name: str, execution_id: str, abandon: bool, reason: str | None
) -> str:
    execution = _execution(backend, name, execution_id)
    refresh(_pipeline(backend, name))
    if execution.status not in ("InProgress",):
        raise PipelineExecutionNotStoppableException(
            f"Unable to stop pipeline execution. Execution {execution_id} is in status {execution.status}."
        )
    with progress.held():
        execution.status_summary = reason
        execution.rollbackctl_stop = reason or "Stopped"  # type: ignore[attr-defined]
        execution.last_update_time = utcnow()
        run = _run(execution)
        if run is None:
            execution.status = "Stopped" if abandon else "Stopping"
        elif abandon:  # the in-progress actions are abandoned at once
            run.move("Stopped")
        else:  # stop and wait: the in-progress actions finish, then the execution is Stopped
            run.restart([("Stopping", "Stopped")], "Stopping")
    return execution_id


def start_rollback(
    backend: CodePipelineBackend,
    pipeline: CodePipeline,
    stage: str,
    target: PipelineExecution,
    automated: bool = False,
    caller: str = "",
) -> str:
    """A new execution of type ROLLBACK that runs ``stage`` with the target execution's source revisions and
    variables (the target's artifacts)."""
    with progress.held():
        execution = PipelineExecution(
            pipeline_name=pipeline.pipeline["name"],
            pipeline_version=pipeline.pipeline["version"],
            variables=copy.deepcopy(target.variables),
        )
        execution.rollbackctl_type = "ROLLBACK"  # type: ignore[attr-defined]
        execution.rollbackctl_rollback_target = target.pipeline_execution_id  # type: ignore[attr-defined]
        execution.rollbackctl_rollback_stage = stage  # type: ignore[attr-defined]
        execution.rollbackctl_sources = copy.deepcopy(target.rollbackctl_sources)  # type: ignore[attr-defined]
        trigger = "AutomatedRollback" if automated else "ManualRollback"
        execution.rollbackctl_trigger = {"triggerType": trigger, "triggerDetail": caller}  # type: ignore[attr-defined]
        pipeline.executions[execution.pipeline_execution_id] = execution
        PipelineRun(backend, pipeline, execution)
    return str(execution.pipeline_execution_id)


def rollback_stage(backend: CodePipelineBackend, name: str, stage_name: str, target_id: str, caller: str = "") -> str:
    """RollbackStage (API Reference): the errors it names, for the causes the User Guide's "Considerations for
    rollbacks" and the exceptions' own descriptions give."""
    pipeline = _pipeline(backend, name)
    stage = _stage(pipeline, stage_name)
    target = _execution(backend, name, target_id)  # PipelineExecutionNotFoundException
    refresh(pipeline)
    with progress.held():
        if _is_source_stage(stage):  # "You cannot roll back a source stage."
            raise UnableToRollbackStageException(f"Unable to roll back stage {stage_name}: it is a source stage")
        if target.rollbackctl_type == "ROLLBACK":  # type: ignore[attr-defined]
            # "You cannot roll back to a target execution ID that is a rollback execution type."
            raise UnableToRollbackStageException(
                f"Unable to roll back stage {stage_name} to execution {target_id}: it is a rollback execution"
            )
        if target.pipeline_version != pipeline.pipeline["version"]:
            # "The pipeline can only roll back to a previous execution if the previous execution was started in the
            # current pipeline structure version."
            raise PipelineExecutionOutdatedException(
                f"Pipeline execution {target_id} ran under pipeline version {target.pipeline_version}, not the "
                f"current version {pipeline.pipeline['version']}"
            )
        if not succeeded_in(target, pipeline, stage_name):  # "an execution that was successful in that stage"
            raise UnableToRollbackStageException(
                f"Unable to roll back stage {stage_name} to execution {target_id}: it did not succeed in the stage"
            )
        latest = _stage_latest(pipeline, stage_name)
        if latest is not None and latest.status in ACTIVE and _run_in(latest, stage_name):
            raise UnableToRollbackStageException(
                f"Unable to roll back stage {stage_name}: the stage is currently running execution "
                f"{latest.pipeline_execution_id}"
            )
        return start_rollback(backend, pipeline, stage_name, target, caller=caller)


def _run_in(execution: PipelineExecution, stage: str) -> bool:
    """The execution is running in the stage now (not waiting further on, not past it)."""
    return bool(getattr(execution, "rollbackctl_stage", None) == stage)


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
    with progress.held():
        _transitions(pipeline)[f"{stage}/{transition_type}"] = state


def get_pipeline_state(backend: CodePipelineBackend, name: str) -> dict[str, Any]:
    pipeline = _pipeline(backend, name)
    refresh(pipeline, every=True)
    stages = []
    with progress.held():
        for stage in pipeline.pipeline["stages"]:
            latest = _stage_latest(pipeline, stage["name"])
            inbound = _transitions(pipeline).get(f"{stage['name']}/Inbound", {"enabled": True})
            entry: dict[str, Any] = {"stageName": stage["name"], "inboundTransitionState": inbound, "actionStates": []}
            states = _actions(latest) if latest is not None else {}
            for action in stage["actions"]:
                action_state: dict[str, Any] = {"actionName": action["name"]}
                state = states.get(f"{stage['name']}/{action['name']}")
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
            if latest is not None:
                statuses = {s["status"] for k, s in states.items() if k.startswith(f"{stage['name']}/")}
                status = next(
                    (s for s in ("Failed", "InProgress", "Stopped", "Abandoned") if s in statuses), "Succeeded"
                )
                if latest.status == "Stopped" and status in ("InProgress", "Abandoned"):
                    status = "Stopped"
                entry["latestExecution"] = {
                    "pipelineExecutionId": latest.pipeline_execution_id,
                    "status": status,
                    "type": latest.rollbackctl_type,  # type: ignore[attr-defined]
                }
            stages.append(entry)
    return {
        "pipelineName": name,
        "pipelineVersion": pipeline.pipeline["version"],
        "stageStates": stages,
        **{k: v for k, v in pipeline.metadata.items() if k in ("created", "updated")},
    }


def list_action_executions(backend: CodePipelineBackend, name: str, execution_id: str | None) -> list[dict[str, Any]]:
    pipeline = _pipeline(backend, name)
    if execution_id and execution_id not in pipeline.executions:
        raise PipelineExecutionNotFoundException(f"Execution {execution_id} not found in pipeline {name}")
    refresh(pipeline)
    executions = [pipeline.executions[execution_id]] if execution_id else list(pipeline.executions.values())
    details = []
    for execution in reversed(executions):
        for state in _actions(execution).values():
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


def list_pipeline_executions(
    backend: CodePipelineBackend, name: str, max_results: int | None, succeeded_in_stage: str | None
) -> list[dict[str, Any]]:
    """ListPipelineExecutions, newest first; ``filter.succeededInStage``: "pipeline executions where the stage was
    successful in the current pipeline version"."""
    pipeline = _pipeline(backend, name)
    refresh(pipeline)
    with progress.held():
        executions = list(reversed(pipeline.executions.values()))
        if succeeded_in_stage is not None:
            version = pipeline.pipeline["version"]
            executions = [
                e for e in executions if e.pipeline_version == version and succeeded_in(e, pipeline, succeeded_in_stage)
            ]
        if max_results:
            executions = executions[:max_results]
        return [e.to_summary_dict() for e in executions]


# --- what the action runners would do (tests and the demo play them) ------------------------------------


def _running(account: str, region: str, name: str, execution_id: str) -> tuple[CodePipeline, PipelineRun]:
    backend = codepipeline_backends[account][region]
    pipeline = _pipeline(backend, name)
    run = _run(_execution(backend, name, execution_id))
    if run is None:
        raise ValueError(f"execution {execution_id} of {name} is not one the emulator runs")
    return pipeline, run


def advance(account: str, region: str, name: str, execution_id: str, stage: str) -> None:
    """The execution's actions finished up to ``stage``, which it now runs (an earlier stage is an error)."""
    pipeline, run = _running(account, region, name, execution_id)
    with progress.held():
        names = _stage_names(pipeline)
        current = run.execution.rollbackctl_stage  # type: ignore[attr-defined]
        _stage(pipeline, stage)
        if run.done or (current in names and names.index(stage) < names.index(current)):
            raise ValueError(f"execution {execution_id} is {run.execution.status} in {current}; cannot go to {stage}")
        run.move(f"{STAGE}{stage}")


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
    events: bool = False,
) -> None:
    """The action failed (with a FailureType ``code``), so its stage and the execution failed. The tests that play
    a failure deliver its events themselves (events/ samples); with ``events``, CodePipeline's own go on the bus."""
    _, run = _running(account, region, name, execution_id)
    with progress.held():
        execution = run.execution
        state = _actions(execution)[f"{stage}/{action}"]
        state.update(status="Failed", lastStatusChange=_now(), errorDetails={"code": code, "message": message})
        if summary:
            state["summary"] = summary
        if url:
            state["externalExecutionUrl"] = url
        if external_id:
            state["externalExecutionId"] = external_id
        execution.status_summary = message
        run.move("Failed", quiet=not events)


def finish(account: str, region: str, name: str, execution_id: str) -> None:
    """Every stage left succeeds: the execution Succeeded."""
    _, run = _running(account, region, name, execution_id)
    run.move("Succeeded")


# --- wiring ---------------------------------------------------------------------------------------------


def _start_response(self: CodePipelineResponse) -> str:
    execution_id = self.codepipeline_backend.start_pipeline_execution(
        self._get_param("name"), self._get_param("variables"), self._get_param("sourceRevisions")
    )
    return json.dumps({"pipelineExecutionId": execution_id})


def _get_execution_response(self: CodePipelineResponse) -> str:
    backend = self.codepipeline_backend
    execution = _execution(backend, self._get_param("pipelineName"), self._get_param("pipelineExecutionId"))
    refresh(_pipeline(backend, self._get_param("pipelineName")), described=execution)
    with progress.held():
        return json.dumps({"pipelineExecution": execution.to_dict()})


def _list_executions_response(self: CodePipelineResponse) -> str:
    stage = ((self._get_param("filter") or {}).get("succeededInStage") or {}).get("stageName")
    summaries = list_pipeline_executions(
        self.codepipeline_backend, self._get_param("pipelineName"), self._get_param("maxResults"), stage
    )
    return json.dumps({"pipelineExecutionSummaries": summaries})


def _stop_response(self: CodePipelineResponse) -> str:
    execution_id = stop_pipeline_execution(
        self.codepipeline_backend,
        self._get_param("pipelineName"),
        self._get_param("pipelineExecutionId"),
        bool(self._get_param("abandon")),
        self._get_param("reason"),
    )
    return json.dumps({"pipelineExecutionId": execution_id})


def _rollback_response(self: CodePipelineResponse) -> str:
    # https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_RollbackStage.html
    execution_id = rollback_stage(
        self.codepipeline_backend,
        self._get_param("pipelineName"),
        self._get_param("stageName"),
        self._get_param("targetPipelineExecutionId"),
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
    PipelineExecution.to_dict = _execution_dict  # type: ignore[method-assign]
    CodePipelineBackend.start_pipeline_execution = _start  # type: ignore[method-assign]
    CodePipelineResponse.start_pipeline_execution = _start_response  # type: ignore[method-assign]
    CodePipelineResponse.get_pipeline_execution = _get_execution_response  # type: ignore[method-assign]
    CodePipelineResponse.list_pipeline_executions = _list_executions_response  # type: ignore[method-assign]
    CodePipelineResponse.stop_pipeline_execution = _stop_response  # type: ignore[attr-defined]
    CodePipelineResponse.rollback_stage = _rollback_response  # type: ignore[attr-defined]
    CodePipelineResponse.get_pipeline_state = _state_response  # type: ignore[attr-defined]
    CodePipelineResponse.disable_stage_transition = _disable_response  # type: ignore[attr-defined]
    CodePipelineResponse.enable_stage_transition = _enable_response  # type: ignore[attr-defined]
    CodePipelineResponse.list_action_executions = _list_actions_response  # type: ignore[attr-defined]
    CodePipelineResponse.put_job_success_result = _put_job_success_response  # type: ignore[attr-defined]
    CodePipelineResponse.put_job_failure_result = _put_job_failure_response  # type: ignore[attr-defined]
