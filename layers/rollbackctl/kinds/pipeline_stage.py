"""Target kind: a CodePipeline (V2) stage, put back by ``RollbackStage``; the target is its pipeline
(``arn:aws:codepipeline:REGION:ACCOUNT:PIPELINE``).

The stage is the one ``rollback:pipeline=PIPELINE/STAGE`` names (the alarm's tag, else the pipeline's own), else the
first stage with a Deploy action. It is also what ships other targets: a target whose kind has no way back of its
own (``NoWayBack``) and whose alarm or target names its pipeline goes back through that pipeline's stage
(``plan_shipping``; ``kinds.SHIPS``).

Known-good (DESIGN.md, "Target kinds"): the newest execution that ``Succeeded`` in the stage (ListPipelineExecutions'
``succeededInStage`` filter, then the stage's own action executions read back), that is not itself a rollback
(``executionType`` ROLLBACK), that ran under the current pipeline structure (its ``pipelineVersion`` is the
pipeline's ``version``), and that the ledger does not mark bad, nor any of its source revisions. Never guessed.

Ledger keys, under the pipeline ARN: pipeline execution ids (the versions: ``from_version`` / ``to_version``), and
``revision:REVISION_ID`` for a source revision (``sourceRevisions[].revisionId``: a commit id, an S3 object version,
an image digest). When a stage goes back, the execution is marked bad and so are the source revisions it brought
that the execution it went back to did not have (``plan.details["bad_artifacts"]``): an execution that ships a bad
revision again is never a known-good.

Not fought, never stacked: a stage whose own rollback (``onFailure: ROLLBACK``, or anyone's RollbackStage) is running
is ``AlreadyGoingBack``; a stage that a rollback already put back, and that alarms again, is refused (the deployment
is not the suspect). A stage still running an execution is refused too: CodePipeline rolls back only a stage that
is not running. Restorable: the execution to go back to still exists and ran under the current structure (its
artifacts in the artifact store are not checked, and the incident says so). The rollback is read back until the
rollback execution ``Succeeded``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from .. import pipelines
from ..aws import AWS_ERRORS, Clients, error_code
from ..model import Incident, PipelineRef, Plan, short_target
from ..store import Ledger
from .base import AlreadyGoingBack, Checked, ReadBack, Refusal, RestoreIncomplete, Seen, Target

ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):codepipeline:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<pipeline>[A-Za-z0-9.@_-]{1,100})$"
)
# A pipeline execution id (API Reference: PipelineExecutionId).
EXECUTION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STRATEGY = "stage-rollback"
RUNNING = ("InProgress", "Stopping")  # PipelineExecutionStatus / StageExecutionStatus values still under way
PAGE, MAX_PAGES = 100, 5  # ListPipelineExecutions: 100 a page (its default); the known-good is searched in 500


def revision_key(revision_id: str) -> str:
    """The ledger key of a source revision, under its pipeline's ARN."""
    return f"revision:{revision_id}"


def _revisions(listed: Mapping[str, Any], key: str = "sourceRevisions") -> set[str]:
    return {str(r["revisionId"]) for r in listed.get(key) or [] if r.get("revisionId")}


class PipelineStage:
    name = "pipeline-stage"
    label = (
        "a CodePipeline ARN (arn:aws:codepipeline:REGION:ACCOUNT:PIPELINE, its stage from rollback:pipeline="
        "PIPELINE/STAGE, else the first stage with a Deploy action)"
    )
    # ListTagsForResource answers ResourceNotFoundException for a pipeline that does not exist
    gone = frozenset({"PipelineNotFoundException", "StageNotFoundException", "ResourceNotFoundException"})
    # A stage that changed since triage (running again, a new structure) is not decided again here: the plan came
    # from the tag that named the stage, which a new decision from the pipeline alone cannot know. It fails, and pages.
    conflict: frozenset[str] = frozenset()
    poll_seconds = 5  # a stage rollback re-runs the stage's actions: read back every 5 s, as the other kinds
    read_actions = frozenset(
        {
            "codepipeline:GetPipeline",
            "codepipeline:GetPipelineState",
            "codepipeline:GetPipelineExecution",
            "codepipeline:ListPipelineExecutions",
            "codepipeline:ListActionExecutions",
            "codepipeline:ListTagsForResource",
        }
    )
    write_actions = frozenset({"codepipeline:RollbackStage"})
    # Track learns a stage's successes from CodePipeline's own Stage Execution State Change, not from CloudTrail.
    delegated_actions: frozenset[str] = frozenset()
    trail_events: frozenset[str] = frozenset()

    # --- recognise -------------------------------------------------------------------------------------------
    def parse(self, arn: str) -> Target | None:
        match = ARN.match(arn)
        if match is None:
            return None
        pipeline = match["pipeline"]
        return Target(arn, self.name, match["partition"], match["region"], match["account"], pipeline, (pipeline,))

    def build(self, pipeline: str, region: str, account: str, partition: str = "aws") -> Target | None:
        return self.parse(f"arn:{partition}:codepipeline:{region}:{account}:{pipeline}")

    def from_metric(self, namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None:
        return None  # CodePipeline publishes no CloudWatch metrics that name a pipeline

    def find(
        self, clients: Clients, namespace: str, dims: Mapping[str, str], region: str, account: str
    ) -> Target | None:
        return None

    def from_codedeploy(self, clients: Clients, deployment: dict[str, Any], region: str, account: str) -> Target | None:
        return None  # a CodeDeploy deployment names its deployment group, not the pipeline that started it

    def tags(self, clients: Clients, target: Target) -> dict[str, str]:
        response = clients.codepipeline.list_tags_for_resource(resourceArn=target.arn)
        return {t["key"]: t["value"] for t in response.get("tags", [])}

    # --- decide ----------------------------------------------------------------------------------------------
    def plan(self, clients: Clients, target: Target, ledger: Ledger) -> Plan:
        """The pipeline as the target, its stage from its own rollback:pipeline tag, else the first Deploy stage.
        (Triage passes an alarm's rollback:pipeline through ``plan_shipping``.)"""
        return self._plan(clients, target, self._own_ref(clients, target), ledger, None)

    def plan_shipping(self, clients: Clients, pipeline: PipelineRef, target: Target, ledger: Ledger) -> Plan:
        """Roll back the stage of ``pipeline`` that ships ``target`` (or ``target`` is that pipeline itself)."""
        shipper = self.build(pipeline.name, target.region, target.account, target.partition)
        if shipper is None:
            raise Refusal(f"rollback:pipeline names {pipeline.name[:100]!r}, which is not a pipeline name")
        if target.kind == self.name and shipper.arn != target.arn:
            raise Refusal(
                f"the target is pipeline {target.name} but {pipeline.source or 'rollback:pipeline'} names pipeline "
                f"{pipeline.name}: rollbackctl does not guess which one to roll back; nothing was changed"
            )
        return self._plan(clients, shipper, pipeline, ledger, None if shipper.arn == target.arn else target)

    def pipeline_of(self, plan: Plan) -> PipelineRef:
        return PipelineRef(plan.details["pipeline"], plan.details["stage"], "the stage rollbackctl rolled back")

    def _own_ref(self, clients: Clients, target: Target) -> PipelineRef:
        try:
            tags = self.tags(clients, target)
        except AWS_ERRORS as exc:
            if error_code(exc) in self.gone:
                raise Refusal(f"pipeline {target.name} does not exist; nothing to roll back") from exc
            raise
        ref = pipelines.from_tags(("pipeline", tags))
        if ref is None:
            return PipelineRef(target.name, None, "")
        if ref.name != target.name:
            raise Refusal(
                f"pipeline {target.name} carries the tag rollback:pipeline={ref.name}/{ref.stage or ''}, which names "
                "another pipeline; tag it rollback:pipeline=PIPELINE/STAGE with its own stage"
            )
        return ref

    def _pipeline(self, clients: Clients, name: str) -> dict[str, Any]:
        try:
            declared: dict[str, Any] = clients.codepipeline.get_pipeline(name=name)["pipeline"]
        except AWS_ERRORS as exc:
            if error_code(exc) in self.gone:
                raise Refusal(f"pipeline {name} does not exist; nothing to roll back") from exc
            raise
        return declared

    @staticmethod
    def _choose(declared: dict[str, Any], ref: PipelineRef) -> str:
        """The stage to roll back: the one named, else the first with a Deploy action; never a Source stage."""
        name, stages = declared["name"], declared.get("stages", [])
        if ref.stage:
            stage = next((s for s in stages if s["name"] == ref.stage), None)
            if stage is None:
                raise Refusal(
                    f"pipeline {name} has no stage {ref.stage} ({ref.source or 'rollback:pipeline'} names it); "
                    "nothing was changed"
                )
        else:
            stage = next(
                (s for s in stages if any(_category(a) == "Deploy" for a in s.get("actions", []))),
                None,
            )
            if stage is None:
                raise Refusal(
                    f"pipeline {name} has no stage with a Deploy action: tag the alarm or the pipeline "
                    f"rollback:pipeline={name}/STAGE with the stage that deploys, and rollbackctl rolls that one back"
                )
        if any(_category(a) == "Source" for a in stage.get("actions", [])):
            raise Refusal(
                f"stage {stage['name']} of pipeline {name} is a source stage, and CodePipeline cannot roll back a "
                f"source stage: name the stage that deploys with rollback:pipeline={name}/STAGE; nothing was changed"
            )
        return str(stage["name"])

    def _current(self, clients: Clients, name: str, stage: str) -> str:
        """The execution whose artifacts the stage runs, if it may be rolled back now (else AlreadyGoingBack or
        Refusal, saying why)."""
        states = clients.codepipeline.get_pipeline_state(name=name).get("stageStates", [])
        latest = next((s.get("latestExecution") or {} for s in states if s.get("stageName") == stage), {})
        current, status = str(latest.get("pipelineExecutionId", "")), str(latest.get("status", ""))
        if not current:
            raise Refusal(f"stage {stage} of pipeline {name} has never run: nothing to roll back")
        if latest.get("type") == "ROLLBACK":
            execution = self._execution(clients, name, current)
            back_to = (execution.get("rollbackMetadata") or {}).get("rollbackTargetPipelineExecutionId", "?")
            trigger = (execution.get("trigger") or {}).get("triggerType", "a rollback")
            if status in RUNNING:
                raise AlreadyGoingBack(
                    f"stage {stage} of pipeline {name} is already rolling back to execution {back_to} (rollback "
                    f"execution {current}, {trigger}): rollbackctl records it and does not fight it"
                )
            if status == "Succeeded":
                raise Refusal(
                    f"stage {stage} of pipeline {name} was already rolled back to execution {back_to} (rollback "
                    f"execution {current}, {trigger}) and it alarms again: the deployment is not the suspect, so "
                    "rollbackctl pages a human instead of rolling back again"
                )
            raise Refusal(
                f"the rollback execution {current} of stage {stage} of pipeline {name} ended {status}: a human must "
                "look at the stage; rollbackctl does not roll back over a rollback that did not finish"
            )
        if status in RUNNING:
            raise Refusal(
                f"stage {stage} of pipeline {name} is running execution {current} ({status}), and CodePipeline rolls "
                "back only a stage that is not running: stop the execution (stop-pipeline-execution --abandon) or let "
                "it finish, then roll the stage back; nothing was changed"
            )
        return current

    def _execution(self, clients: Clients, name: str, execution_id: str) -> dict[str, Any]:
        found: dict[str, Any] = clients.codepipeline.get_pipeline_execution(
            pipelineName=name, pipelineExecutionId=execution_id
        )["pipelineExecution"]
        return found

    def _succeeded(self, clients: Clients, name: str, stage: str) -> Iterator[dict[str, Any]]:
        """Executions whose stage succeeded under the current structure, newest first (as CodePipeline says)."""
        token = None
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {"nextToken": token} if token else {}
            page = clients.codepipeline.list_pipeline_executions(
                pipelineName=name, maxResults=PAGE, filter={"succeededInStage": {"stageName": stage}}, **kwargs
            )
            yield from page.get("pipelineExecutionSummaries", [])
            token = page.get("nextToken")
            if not token:
                return

    def _stage_succeeded(self, clients: Clients, name: str, execution_id: str, stage: dict[str, Any]) -> bool:
        """Read back: every action the stage declares succeeded in that execution (ListActionExecutions)."""
        details = clients.codepipeline.list_action_executions(
            pipelineName=name, filter={"pipelineExecutionId": execution_id}
        ).get("actionExecutionDetails", [])
        ran = {d.get("actionName"): d.get("status") for d in details if d.get("stageName") == stage["name"]}
        return bool(stage.get("actions")) and all(ran.get(a["name"]) == "Succeeded" for a in stage["actions"])

    def _plan(self, clients: Clients, pipeline: Target, ref: PipelineRef, ledger: Ledger, ships: Target | None) -> Plan:
        name = pipeline.name
        declared = self._pipeline(clients, name)
        stage = self._choose(declared, ref)
        version = int(declared.get("version", 0))
        current = self._current(clients, name, stage)
        bad = {e.version for e in ledger.entries(pipeline.arn) if e.status == "bad"}
        stage_declared = next(s for s in declared["stages"] if s["name"] == stage)
        skipped: list[str] = []
        good: dict[str, Any] | None = None
        for summary in self._succeeded(clients, name, stage):
            candidate = str(summary["pipelineExecutionId"])
            if candidate == current or summary.get("executionType") == "ROLLBACK":
                continue  # what the stage runs now; a rollback is never a target (RollbackStage refuses it)
            if candidate in bad:
                skipped.append(f"{candidate} (known-bad: the ledger marks it bad)")
                continue
            marked = sorted(r for r in _revisions(summary) if revision_key(r) in bad)
            if marked:
                skipped.append(f"{candidate} (known-bad: its source revision {marked[0]} is marked bad)")
                continue
            execution = self._execution(clients, name, candidate)
            if int(execution.get("pipelineVersion", -1)) != version:
                skipped.append(f"{candidate} (pipeline version {execution.get('pipelineVersion')}, not {version})")
                continue
            if not self._stage_succeeded(clients, name, candidate, stage_declared):
                skipped.append(f"{candidate} (its {stage} actions did not all succeed)")
                continue
            good = summary
            break
        if good is None:
            why = f"; skipped: {', '.join(skipped)[:600]}" if skipped else ""
            raise Refusal(
                f"stage {stage} of pipeline {name} runs execution {current}, and no other execution succeeded in it "
                f"that rollbackctl may go back to (not a rollback, under the current pipeline structure, version "
                f"{version}, its source revisions not marked bad){why}; rollbackctl never guesses a version"
            )
        # The source revisions the bad execution brought that the known-good did not have: marked bad with it.
        brought = _revisions(self._execution(clients, name, current), "artifactRevisions") - _revisions(good)
        details = {
            "pipeline": name,
            "stage": stage,
            "stage_source": ref.source or ("named" if ref.stage else "the first stage with a Deploy action"),
            "pipeline_version": str(version),
            "bad_artifacts": json.dumps(sorted(revision_key(r) for r in brought)),
        }
        if ships is not None:
            details["ships"] = ships.arn
        return Plan(self.name, STRATEGY, pipeline.arn, current, str(good["pipelineExecutionId"]), details)

    def plan_to(self, clients: Clients, target: Target, version: str) -> Plan:
        """An operator's ``--to EXECUTION_ID``: an execution of this pipeline that succeeded in the stage."""
        if not EXECUTION_ID.match(version):
            raise Refusal(
                f"{version[:80]!r} is not a pipeline execution id of {target.name} (a stage goes back only to one of "
                "its own executions); nothing was changed"
            )
        ref = self._own_ref(clients, target)
        declared = self._pipeline(clients, target.name)
        stage = self._choose(declared, ref)
        current = self._current(clients, target.name, stage)
        stage_declared = next(s for s in declared["stages"] if s["name"] == stage)
        if not self._stage_succeeded(clients, target.name, version, stage_declared):
            raise Refusal(
                f"execution {version} did not succeed in stage {stage} of pipeline {target.name}, so the stage "
                "cannot go back to it; nothing was changed"
            )
        details = {
            "pipeline": target.name,
            "stage": stage,
            "stage_source": "asked for by an operator",
            "pipeline_version": str(declared.get("version", "")),
            "bad_artifacts": "[]",
        }
        return Plan(self.name, STRATEGY, target.arn, current, version, details)

    def restorable(self, clients: Clients, plan: Plan) -> Checked:
        """The execution to go back to still exists, is not a rollback, and ran under the current structure."""
        name, stage = plan.details["pipeline"], plan.details["stage"]
        try:
            execution = self._execution(clients, name, plan.to_version)
        except AWS_ERRORS as exc:
            if error_code(exc) == "PipelineExecutionNotFoundException":
                raise Refusal(
                    f"execution {plan.to_version} of pipeline {name}, which stage {stage} would go back to, no longer "
                    "exists (CodePipeline keeps 12 months of history); nothing was changed"
                ) from exc
            raise
        if execution.get("executionType") == "ROLLBACK":
            raise Refusal(f"execution {plan.to_version} is a rollback: a stage cannot go back to it; nothing changed")
        declared = self._pipeline(clients, name)
        if int(execution.get("pipelineVersion", -1)) != int(declared.get("version", 0)):
            raise Refusal(
                f"execution {plan.to_version} ran under version {execution.get('pipelineVersion')} of pipeline {name}, "
                f"which is now version {declared.get('version')}: CodePipeline rolls a stage back only to an execution "
                "of the current pipeline structure; nothing was changed"
            )
        if not any(s["name"] == stage for s in declared.get("stages", [])):
            raise Refusal(f"pipeline {name} no longer has stage {stage}; nothing was changed")
        return Checked(
            (f"the artifacts of execution {plan.to_version} in the pipeline's artifact store were not checked",)
        )

    # --- act, and read back ----------------------------------------------------------------------------------
    def apply(self, clients: Clients, plan: Plan) -> str | None:
        name, stage = plan.details["pipeline"], plan.details["stage"]
        rollback = clients.codepipeline.rollback_stage(
            pipelineName=name, stageName=stage, targetPipelineExecutionId=plan.to_version
        )["pipelineExecutionId"]
        plan.details["rollback_execution"] = str(rollback)
        return (
            f"CodePipeline is rolling stage {stage} of pipeline {name} back to execution {plan.to_version} "
            f"(rollback execution {rollback})"
        )

    def read_back(self, clients: Clients, plan: Plan) -> ReadBack:
        name, rollback = plan.details["pipeline"], plan.details.get("rollback_execution", "")
        if not rollback:
            raise RestoreIncomplete(f"no rollback execution of pipeline {name} was started for {plan.target}")
        execution = self._execution(clients, name, rollback)
        status = str(execution.get("status"))
        if status in RUNNING:
            return "pending"
        if status != "Succeeded":
            raise RestoreIncomplete(
                f"rollback execution {rollback} of stage {plan.details['stage']} of pipeline {name} ended {status}, "
                f"not Succeeded: {execution.get('statusSummary') or 'no summary'}"
            )
        return "done"

    def serving(self, clients: Clients, target: Target) -> str | None:
        """The execution whose artifacts the stage runs (a rollback runs its target's); None while it runs."""
        try:
            stage = self._choose(self._pipeline(clients, target.name), self._own_ref(clients, target))
        except Refusal:
            return None
        states = clients.codepipeline.get_pipeline_state(name=target.name).get("stageStates", [])
        latest = next((s.get("latestExecution") or {} for s in states if s.get("stageName") == stage), {})
        current = str(latest.get("pipelineExecutionId", ""))
        if not current or latest.get("status") in RUNNING:
            return None
        if latest.get("type") == "ROLLBACK":
            execution = self._execution(clients, target.name, current)
            back_to = (execution.get("rollbackMetadata") or {}).get("rollbackTargetPipelineExecutionId")
            return str(back_to) if back_to else None
        return current

    def versions(self, plan: Plan) -> tuple[str, str] | None:
        return plan.from_version, plan.to_version

    def artifacts(self, clients: Clients, target: Target, version: str) -> tuple[str, ...]:
        """The source revisions the execution ran with (a commit id means the same in every pipeline)."""
        execution = self._execution(clients, target.name, version)
        return tuple(sorted(revision_key(r) for r in _revisions(execution, "artifactRevisions")))

    # --- explain ---------------------------------------------------------------------------------------------
    def evidence(self, clients: Clients, incident: Incident, target: Target) -> list[dict[str, Any]]:
        """The stage's failed actions in the execution that went bad (none when it "succeeded")."""
        plan = incident.plan
        if plan is None or plan.kind != self.name or not plan.from_version:
            return []
        name, stage = plan.details["pipeline"], plan.details["stage"]
        details = clients.codepipeline.list_action_executions(
            pipelineName=name, filter={"pipelineExecutionId": plan.from_version}
        ).get("actionExecutionDetails", [])
        found = []
        for action in details:
            if action.get("stageName") != stage or action.get("status") != "Failed":
                continue
            result = (action.get("output") or {}).get("executionResult") or {}
            error = result.get("errorDetails") or {}
            found.append(
                {
                    "source": "codepipeline",
                    "code": error.get("code", ""),
                    "message": error.get("message", ""),
                    "summary": result.get("externalExecutionSummary", ""),
                    "stage": stage,
                    "action": action.get("actionName"),
                    "provider": ((action.get("input") or {}).get("actionTypeId") or {}).get("provider"),
                    "execution": plan.from_version,
                    "link": result.get("externalExecutionUrl")
                    or f"https://{target.region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
                    f"{quote(name)}/executions/{plan.from_version}/timeline?region={target.region}",
                }
            )
        return found

    def describe(self, plan: Plan) -> str:
        d = plan.details
        ships = f", which ships {short_target(d['ships'])}" if d.get("ships") else ""
        return (
            f"roll back stage {d['stage']} of pipeline {d['pipeline']}{ships} from execution {plan.from_version} to "
            f"known-good execution {plan.to_version} (CodePipeline RollbackStage)"
        )

    def link(self, target: Target, console: str) -> tuple[str, str]:
        return (
            f"CodePipeline {target.name}",
            f"{console}/codesuite/codepipeline/pipelines/{quote(target.name)}/view?region={target.region}",
        )

    # --- feed the ledger -------------------------------------------------------------------------------------
    def seen(self, event: dict[str, Any], clients: Clients) -> list[Seen]:
        """A stage that succeeded: that execution is good for the stage (the one this kind rolls back)."""
        detail = event.get("detail") or {}
        if (
            event.get("source") != "aws.codepipeline"
            or event.get("detail-type") != "CodePipeline Stage Execution State Change"
            or detail.get("state") != "SUCCEEDED"
        ):
            return []
        name, execution_id = str(detail.get("pipeline", "")), str(detail.get("execution-id", ""))
        target = self.build(name, str(event.get("region", "")), str(event.get("account", "")))
        if target is None or not EXECUTION_ID.match(execution_id):
            return []
        try:
            stage = self._choose(self._pipeline(clients, name), self._own_ref(clients, target))
        except Refusal:
            return []
        if detail.get("stage") != stage:
            return []
        if self._execution(clients, name, execution_id).get("executionType") == "ROLLBACK":
            return []  # a rollback re-ran an older execution's artifacts: not a version of its own
        return [Seen(target.arn, execution_id, "succeeded", "codepipeline")]


def _category(action: dict[str, Any]) -> str:
    return str((action.get("actionTypeId") or {}).get("category", ""))


PIPELINE_STAGE = PipelineStage()
