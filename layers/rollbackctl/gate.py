"""The pipeline gate: a pipeline calls it before its deploy stage, and it fails the job when what is about to ship is
marked bad or an incident is still open for what the stage deploys, saying why. The next wave stops there.

CodePipeline invokes the function with a job (AWS CodePipeline User Guide, "Invoke an AWS Lambda function in a
pipeline in CodePipeline": the ``CodePipeline.job`` event, answered with PutJobSuccessResult or PutJobFailureResult
for the job's id, in the pipeline's own account). Read from the job: its input artifacts' revisions (the source
revisions, as the ledger marks them bad), the pipeline and stage, and ``UserParameters``: a JSON object whose
``targets`` lists the ARNs the stage deploys. The job's ``artifactCredentials`` are never read, logged or kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import accounts, kinds
from .aws import Clients
from .config import Settings
from .kinds.pipeline_stage import revision_key
from .locks import Locks
from .model import short_target
from .store import IncidentStore, Ledger

MAX_MESSAGE = 5000  # FailureDetails.message: at most 5000 characters (API Reference, FailureDetails)


class InvalidJob(ValueError):
    """Not a CodePipeline job rollbackctl can judge."""


@dataclass
class Job:
    job_id: str
    account: str
    pipeline: str
    stage: str
    revisions: list[str]
    targets: list[str] = field(default_factory=list)


def parse_job(event: Any) -> Job:
    """The parts of a ``CodePipeline.job`` event the gate needs; anything else is an InvalidJob."""
    job = event.get("CodePipeline.job") if isinstance(event, dict) else None
    if not isinstance(job, dict) or not isinstance(job.get("id"), str) or not job["id"]:
        raise InvalidJob("not a CodePipeline job event (no CodePipeline.job.id)")
    data: dict[str, Any] = job["data"] if isinstance(job.get("data"), dict) else {}
    context: dict[str, Any] = data["pipelineContext"] if isinstance(data.get("pipelineContext"), dict) else {}
    configuration = (data.get("actionConfiguration") or {}).get("configuration") or {}
    raw = configuration.get("UserParameters") or "{}"
    try:
        parameters = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        parameters = None
    if not isinstance(parameters, dict):
        raise InvalidJob('UserParameters must be a JSON object, e.g. {"targets": ["arn:aws:lambda:...:alias"]}')
    targets = parameters.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise InvalidJob("UserParameters.targets must be a list of target ARNs")
    unknown = [t for t in targets if kinds.parse(t) is None]
    if unknown:
        raise InvalidJob(f"UserParameters.targets names {unknown[0][:200]!r}, which is not {kinds.labels()}")
    revisions = [
        str(artifact["revision"])
        for artifact in data.get("inputArtifacts") or []
        if isinstance(artifact, dict) and artifact.get("revision")
    ]
    stage: dict[str, Any] = context["stage"] if isinstance(context.get("stage"), dict) else {}
    return Job(
        job_id=job["id"],
        account=str(job.get("accountId") or ""),
        pipeline=str(context.get("pipelineName") or ""),
        stage=str(stage.get("name") or ""),
        revisions=revisions,
        targets=targets,
    )


def reasons_to_stop(job: Job, clients: Clients, settings: Settings) -> list[str]:
    """Why what this job is about to deploy must not ship: each revision marked bad, each target an incident still
    holds (acting on it now, or restored and not yet verified recovered)."""
    ledger = Ledger(clients.dynamodb, settings.ledger_table)
    why: list[str] = []
    for revision in job.revisions:
        marked = ledger.bad_artifact(revision_key(revision))
        if marked is not None:
            why.append(
                f"revision {revision} is marked bad: incident {marked.incident_id} rolled "
                f"{short_target(marked.target)} back from it ({marked.recorded_at})"
            )
    locks = Locks(clients.dynamodb, settings.claims_table)
    incidents = IncidentStore(clients.dynamodb, settings.incident_table)
    for target in job.targets:
        holder = locks.lock_holder(target, owner="the pipeline gate")
        if holder is not None:
            why.append(f"incident {holder.incident_id} is acting on {short_target(target)} right now")
            continue
        last = ledger.last_restore(target)
        incident = incidents.get(last.incident_id) if last is not None else None
        if incident is not None and incident.closed_at is None:
            why.append(
                f"incident {incident.incident_id} rolled {short_target(target)} back at {incident.restored_at} and is "
                "still open (not verified recovered): close it first"
            )
    return why


def job_id_of(event: Any) -> str:
    job = event.get("CodePipeline.job") if isinstance(event, dict) else None
    job_id = job.get("id") if isinstance(job, dict) else None
    return job_id if isinstance(job_id, str) else ""


def judge(event: Any, clients: Clients, settings: Settings) -> dict[str, Any]:
    """Answer the job in the pipeline's own account: success, or failure with every reason (a job the gate cannot
    read fails too, saying why: a gate that cannot judge lets nothing through). Returns what was said."""
    if not job_id_of(event):
        raise InvalidJob("not a CodePipeline job event (no CodePipeline.job.id): nothing to answer")
    job = event["CodePipeline.job"]
    account = str(job.get("accountId") or "") or settings.hub_account
    outsider = accounts.not_member(account, settings)
    if outsider:
        raise InvalidJob(outsider)  # a job of an account the hub does not serve is not answered there
    pipeline_clients = accounts.acting_in(
        clients, settings, account, settings.hub_region, f"gate-{job_id_of(event)}"[:64]
    )
    try:
        parsed = parse_job(event)
        why = reasons_to_stop(parsed, clients, settings)
        where = f"{parsed.pipeline}/{parsed.stage}" if parsed.pipeline else "this stage"
    except InvalidJob as exc:
        why, where = [f"the gate cannot read this job: {exc}"], "this stage"
    if why:
        message = f"rollbackctl stops {where}: " + "; ".join(why)
        pipeline_clients.codepipeline.put_job_failure_result(
            jobId=job_id_of(event), failureDetails={"type": "JobFailed", "message": message[:MAX_MESSAGE]}
        )
        return {"job": job_id_of(event), "result": "failed", "reasons": why}
    pipeline_clients.codepipeline.put_job_success_result(jobId=job_id_of(event))
    return {"job": job_id_of(event), "result": "succeeded", "reasons": []}
