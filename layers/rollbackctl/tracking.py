"""Deployment tracking: the controller learns every deployment as it happens, and which versions are good.

Fed by EventBridge (a trail must be on for the CloudTrail events): Lambda CreateAlias / UpdateAlias, ECS
UpdateService and CodeDeploy CreateDeployment start a deployment of a version on a target; CodeDeploy
SUCCESS and ECS SERVICE_DEPLOYMENT_COMPLETED say a deployment succeeded. A version becomes good when its
deployment succeeded, or when it served the watch window before the next deployment replaced it without
rollbackctl marking it bad. rollbackctl's own changes are not deployments: they are recognised by the IAM role
that made the call (CloudTrail's ``userIdentity.sessionContext.sessionIssuer.arn``, or the role in an
assumed-role ARN), which must be one of the controller's own function roles. A session name proves nothing:
anyone may name a session after them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from . import accounts, kinds
from .aws import AWS_ERRORS, Clients, error_code
from .config import Settings
from .kinds import Seen
from .model import iso, parse_time, utcnow
from .store import Ledger


def _role_of(identity: dict[str, Any]) -> str:
    """The role ARN behind an AssumedRole identity, or '' for anything else (a user, a service, malformed)."""
    if identity.get("type") != "AssumedRole":
        return ""
    issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
    if issuer.get("type") == "Role" and str(issuer.get("arn", "")).startswith("arn:"):
        return str(issuer["arn"])
    # arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION -> arn:PARTITION:iam::ACCOUNT:role/ROLE (path unknown)
    parts = str(identity.get("arn", "")).split(":")
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return ""


def is_own(role: str, own_roles: frozenset[str], settings: Settings | None = None) -> bool:
    """Whether ``role`` is one of the controller's function roles (compared without a role path, which an
    assumed-role ARN does not carry), or a member's ``rollbackctl-target``, which only those roles may assume."""
    if not role:
        return False
    name = role.rsplit("/", 1)[-1]
    if settings is not None and name == accounts.TARGET_ROLE_NAME and role.count(":") >= 5:
        account = role.split(":")[4]
        if account != settings.hub_account and settings.is_member(account):
            return True
    return any(
        role == own or (own.split(":")[4] == role.split(":")[4] and own.rsplit("/", 1)[-1] == name)
        for own in own_roles
        if own.count(":") >= 5
    )


def _seen(event: dict[str, Any], clients: Clients) -> list[Seen]:
    """What every kind finds in the event, with who did it and when (from CloudTrail's userIdentity)."""
    detail = event.get("detail") or {}
    at = iso(parse_time(str(event.get("time") or detail.get("eventTime") or iso(utcnow()))))
    found = [seen for kind in kinds.KINDS for seen in kind.seen(event, clients)]
    if event.get("detail-type") == "AWS API Call via CloudTrail":
        raw_identity = detail.get("userIdentity")
        identity: dict[str, Any] = raw_identity if isinstance(raw_identity, dict) else {}
        actor, role = str(identity.get("arn", "unknown")), _role_of(identity)
        for seen in found:
            seen.actor, seen.role = actor, role
    for seen in found:
        seen.at = at
    return found


SESSION_NAME = "rollbackctl-track"  # what a member's CloudTrail shows while Track reads there


@dataclass
class Tracked:
    notes: list[str]  # what was recorded, in words
    deployments: list[str] = field(default_factory=list)  # the targets a new deployment was recorded for


def track(
    event: dict[str, Any],
    clients: Clients,
    ledger: Ledger,
    settings: Settings,
    own_roles: frozenset[str],
    workflow: str = "",
) -> Tracked:
    """Record what the event says (read in the event's own account and region); returns what was recorded (and the
    targets a new deployment was recorded for). A
    deployment of an artifact an incident marked bad starts the incident workflow (``workflow``, its state machine)
    unless BadArtifactPolicy is off: the workflow pages or puts it back, by the same rules as an alarm."""
    account, region = accounts.where(str(event.get("account") or ""), str(event.get("region") or ""), settings)
    outsider = accounts.not_member(account, settings)
    if outsider:
        return Tracked([f"ignored: {outsider}"])
    try:
        clients = accounts.acting_in(clients, settings, account, region, SESSION_NAME)
    except AWS_ERRORS as exc:
        return Tracked(
            [f"not recorded: assuming the role of {accounts.describe(account, region)} failed ({error_code(exc)})"]
        )
    watch_window_seconds = settings.watch_window_seconds
    notes: list[str] = []
    deployments: list[str] = []
    for seen in _seen(event, clients):
        if accounts.elsewhere(*_where_of(seen.target), account, region):
            notes.append(f"{seen.target}: not in {accounts.describe(account, region)}, where the event comes from")
            continue
        if is_own(seen.role, own_roles, settings):
            notes.append(f"{seen.target}: {seen.version} set by rollbackctl itself, not a deployment")
            continue
        if seen.kind == "succeeded":
            if ledger.record(seen.target, seen.version, "good", "its deployment succeeded"):  # never over a bad mark
                notes.append(f"{seen.target}: {seen.version} good (deployment succeeded)")
            continue
        previous = ledger.record_deployment(seen.target, seen.version, seen.at, seen.actor)
        notes.append(f"{seen.target}: deployment of {seen.version} started at {seen.at} by {seen.actor}")
        if previous is None or (previous.version, previous.started_at) != (seen.version, seen.at):
            deployments.append(seen.target)  # a redelivered event is the same deployment: counted once
        if workflow and settings.bad_artifact_policy != "off":
            notes += _bad_artifacts(seen, clients, ledger, workflow, account, region)
        if previous is None or previous.version == seen.version:
            continue
        served = (parse_time(seen.at) - parse_time(previous.started_at)).total_seconds()
        if served >= watch_window_seconds and ledger.record(
            seen.target, previous.version, "good", f"served {int(served)} s, past the watch window"
        ):
            notes.append(f"{seen.target}: {previous.version} good (served {int(served)} s)")
    return Tracked(notes, deployments)


def _where_of(target: str) -> tuple[str, str]:
    parsed = kinds.parse(target)
    return (parsed.account, parsed.region) if parsed is not None else ("", "")


def _bad_artifacts(seen: Seen, clients: Clients, ledger: Ledger, workflow: str, account: str, region: str) -> list[str]:
    """What the deployed version is made of, looked up in the ledger's bad artifacts; each one found starts the
    workflow once (the execution's name is derived from the deployment and the artifact, so a redelivered event
    starts nothing more)."""
    target = kinds.parse(seen.target)
    if target is None:
        return []
    try:
        made_of = kinds.of(target).artifacts(clients, target, seen.version)
    except AWS_ERRORS as exc:
        return [f"{seen.target}: what {seen.version} is made of could not be read ({error_code(exc)})"]
    notes: list[str] = []
    for artifact in made_of:
        marked = ledger.bad_artifact(artifact)
        if marked is None:
            continue
        key = hashlib.sha256(f"{seen.target}|{seen.version}|{artifact}".encode()).hexdigest()
        event = {
            "version": "0",
            "id": key[:32],
            "source": "rollbackctl",
            "detail-type": "Bad Artifact Deployed",
            "account": account,
            "region": region,
            "time": seen.at,
            "resources": [seen.target],
            "detail": {
                "target": seen.target,
                "version": seen.version,
                "artifact": artifact,
                "incident": marked.incident_id,
            },
        }
        try:
            clients.stepfunctions.start_execution(
                stateMachineArn=workflow, name=f"bad-artifact-{key[:40]}", input=json.dumps(event)
            )
        except AWS_ERRORS as exc:
            if error_code(exc) != "ExecutionAlreadyExists":
                raise
        notes.append(f"{seen.target}: {seen.version} is made of {artifact}, marked bad by {marked.incident_id}")
    return notes
