"""CodeDeploy deployments to EC2 and on-premises instances (compute platform ``Server``), as AWS documents them.

moto keeps such a deployment ``Created`` forever, deploys to no instance and lacks StopDeployment,
ListDeploymentTargets and BatchGetDeploymentTargets. Here:

- **A deployment takes time.** Each is an operation of model ``codedeploy::deployment`` (``progress.py``): it walks
  ``Created`` -> ``InProgress`` -> ``Succeeded`` by itself as moto's state manager says (a "manual" transition counts
  GetDeployment and BatchGetDeployments calls). On a final status (``Succeeded``, ``Failed``, ``Stopped``) CodeDeploy
  puts "CodeDeploy Deployment State-change Notification" on the default bus, state ``SUCCESS``, ``FAILURE`` or
  ``STOP`` (User Guide, "Monitoring deployments with Amazon EventBridge"; EventBridge reference, "AWS CodeDeploy
  events": detail application, deploymentGroup, deploymentId, instanceGroupId, region, state; resources the
  deployment group and application ARNs).
- **Revisions.** CreateDeployment takes an ``S3`` (``s3Location``: bucket, key, bundleType, version, eTag) or
  ``GitHub`` (``gitHubLocation``: repository, commitId) revision; ``String`` and ``AppSpecContent`` are for Lambda and
  ECS only (API Reference, RevisionLocation), so a Server deployment of one is InvalidRevisionException. Each
  deployment's ``previousRevision`` is the revision of the group's last successful deployment when it was created
  (API Reference, DeploymentInfo.previousRevision).
- **Targets.** The instances of the group's Auto Scaling groups and the running EC2 instances its ``ec2TagFilters``
  / ``ec2TagSet`` name (User Guide, "Working with deployment groups"). Each target walks the lifecycle events of its
  deployment type (User Guide, AppSpec "hooks" section, "Run order of hooks in an EC2/On-Premises deployment"):
  in place ApplicationStop ... ValidateService (with the Block/AllowTraffic events when the group is
  WITH_TRAFFIC_CONTROL); blue/green, the original instances (``Blue``) block traffic and the replacement instances
  (``Green``, the deployment's ``targetInstances``: DISCOVER_EXISTING) install and allow traffic. A deployment that
  finds no instance fails at once with NO_INSTANCES. ListDeploymentTargets (filters ``TargetStatus``,
  ``ServerInstanceLabel``) and BatchGetDeploymentTargets (at most 25 ids; ``instanceTarget`` with its
  ``lifecycleEvents[].diagnostics.{errorCode, scriptName, message, logTail}``) read them; ``deploymentOverview``
  counts them.
- **StopDeployment** (``stop``): the deployment is ``Stopped`` (errorInformation MANUAL_STOP), its unfinished targets
  ``Skipped``; with ``autoRollbackEnabled`` CodeDeploy redeploys the last known good revision (the deployment's
  ``previousRevision``) as a new deployment, creator ``codeDeployRollback``, which progresses like any other;
  ``rollbackInfo`` links the two (rollbackDeploymentId / rollbackTriggeringDeploymentId; API Reference, RollbackInfo;
  User Guide, "Redeploy and roll back a deployment with CodeDeploy"). Without a previous successful revision there is
  nothing to roll back to, and rollbackInfo.rollbackMessage says so. The response status is ``Pending`` (StopStatus).
- **A failed deployment** (``fail_instance``, what the agent reports when a hook script fails) is ``Failed`` with
  errorInformation HEALTH_CONSTRAINTS; when the group's ``autoRollbackConfiguration`` is enabled for
  DEPLOYMENT_FAILURE, CodeDeploy rolls it back the same way.
- **GetDeploymentGroup** returns ``autoScalingGroups`` as the API Reference's AutoScalingGroup objects (name, hook), for
  every compute platform.

Not modelled: on-premises instance registration (moto has none), the green fleet CodeDeploy itself launches for a
COPY_AUTO_SCALING_GROUP blue/green deployment, deployment configurations' minimum healthy hosts, and alarms that
stop a deployment. ListDeploymentTargets and BatchGetDeploymentTargets answer only for Server deployments (the
Lambda and ECS models have no targets).
"""

from __future__ import annotations

import copy
from typing import Any

from moto.codedeploy.exceptions import CodeDeployException, DeploymentDoesNotExistException
from moto.codedeploy.models import CodeDeployBackend, DeploymentGroup, DeploymentInfo, codedeploy_backends
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random

from . import progress

MODEL = "codedeploy::deployment"
FORWARD: list[tuple[str | None, str]] = [("Created", "InProgress"), ("InProgress", "Succeeded")]
FINAL_STATE = {"Succeeded": "SUCCESS", "Failed": "FAILURE", "Stopped": "STOP"}
MAX_BATCH_TARGETS = 25  # BatchGetDeploymentTargets: "The maximum number of targets that can be returned is 25."
TARGET_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown", "Ready")
INSTALL = ("ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart")
VALIDATE = ("ValidateService",)
BLOCK = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic")
ALLOW = ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
NO_INSTANCES = (
    "The deployment failed because no instances were found for your deployment group. Check your deployment group "
    "settings to make sure the tags for your EC2 instances or Auto Scaling groups correctly identify the instances "
    "you want to deploy to, and then try again."
)
HEALTH_CONSTRAINTS = (
    "The overall deployment failed because too many individual instances failed deployment, too few healthy "
    "instances are available for deployment, or some instances in your deployment group are experiencing problems."
)


class InvalidRevisionException(CodeDeployException):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidRevisionException", message)


class DeploymentAlreadyCompletedException(CodeDeployException):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("DeploymentAlreadyCompletedException", message)


class DeploymentNotStartedException(CodeDeployException):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("DeploymentNotStartedException", message)


class InvalidTargetFilterNameException(CodeDeployException):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidTargetFilterNameException", message)


class DeploymentTargetIdRequiredException(CodeDeployException):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("DeploymentTargetIdRequiredException", message)


class DeploymentTargetListSizeExceededException(CodeDeployException):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("DeploymentTargetListSizeExceededException", message)


class DeploymentTargetDoesNotExistException(CodeDeployException):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("DeploymentTargetDoesNotExistException", message)


def deployment_id() -> str:
    """CodeDeploy's deployment ids: ``d-`` and nine upper-case letters and digits (d-XHZ5JN4CT)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "d-" + "".join(mock_random.choice(alphabet) for _ in range(9))


def is_server(deployment: DeploymentInfo) -> bool:
    return str(deployment.application.compute_platform) == "Server"


def operation(deployment: DeploymentInfo) -> ServerDeployment | None:
    found = getattr(deployment, "rollbackctl_server", None)
    return found if isinstance(found, ServerDeployment) else None


# --- targets ---------------------------------------------------------------------------------------------


def _tag_matches(tags: dict[str, str], wanted: dict[str, Any]) -> bool:
    """EC2TagFilter: KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE (the default when Type is absent)."""
    key, value, kind = wanted.get("Key"), wanted.get("Value"), wanted.get("Type") or "KEY_AND_VALUE"
    if kind == "KEY_ONLY":
        return key in tags
    if kind == "VALUE_ONLY":
        return value in tags.values()
    return tags.get(str(key)) == value


def _instances(account: str, region: str, asgs: list[str], filters: list[Any], tag_set: dict[str, Any]) -> list[str]:
    """The instance ids a group (or a deployment's targetInstances) names: its Auto Scaling groups' in-service
    instances, and the running instances matching any of its tag filters, or every tag group of its tag set."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.ec2.models import ec2_backends

    found: list[str] = []
    scaling = autoscaling_backends[account][region]
    for name in asgs:
        group = scaling.autoscaling_groups.get(name)
        for state in group.instance_states if group else []:
            if state.lifecycle_state == "InService" and state.instance.id not in found:
                found.append(state.instance.id)
    groups = [list(g) for g in (tag_set or {}).get("ec2TagSetList") or [] if g]
    if filters or groups:
        for instance in ec2_backends[account][region].all_instances():
            if instance.state != "running" or instance.id in found:
                continue
            tags = {t["key"]: t["value"] for t in instance.get_tags()}
            by_filter = bool(filters) and any(_tag_matches(tags, f) for f in filters)
            by_set = bool(groups) and all(any(_tag_matches(tags, f) for f in group) for group in groups)
            if by_filter or by_set:
                found.append(instance.id)
    return found


def _asg_names(raw: list[Any]) -> list[str]:
    return [str(a["name"] if isinstance(a, dict) else a) for a in raw or []]


class InstanceTarget:
    """API Reference, InstanceTarget: one instance of a deployment and its lifecycle events."""

    def __init__(self, deployment: ServerDeployment, instance_id: str, label: str | None, events: tuple[str, ...]):
        self.deployment = deployment
        self.target_id = instance_id
        self.label = label
        self.status = "Pending"
        self.updated_at = utcnow()
        self.events: list[dict[str, Any]] = [{"lifecycleEventName": name, "status": "Pending"} for name in events]

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{self.deployment.region}:{self.deployment.account}:instance/{self.target_id}"

    def _touch(self, status: str) -> None:
        self.status, self.updated_at = status, utcnow()

    def start(self) -> None:
        if self.status == "Pending":
            self._touch("InProgress")

    def succeed(self) -> None:
        now = utcnow()
        for event in self.events:
            if event["status"] in ("Pending", "InProgress"):
                event.update(
                    status="Succeeded",
                    startTime=event.get("startTime", now),
                    endTime=now,
                    diagnostics={"errorCode": "Success", "scriptName": "", "message": "Succeeded", "logTail": ""},
                )
        self._touch("Succeeded")

    def fail(self, event_name: str, diagnostics: dict[str, str]) -> None:
        """The agent reports a hook script's failure: the events before it ran, the ones after it are skipped."""
        names = [e["lifecycleEventName"] for e in self.events]
        if event_name not in names:
            raise ValueError(f"{event_name} is not a lifecycle event of {self.target_id}: {', '.join(names)}")
        now, at = utcnow(), names.index(event_name)
        for index, event in enumerate(self.events):
            if index < at:
                event.update(status="Succeeded", startTime=now, endTime=now)
                event["diagnostics"] = {"errorCode": "Success", "scriptName": "", "message": "Succeeded", "logTail": ""}
            elif index == at:
                event.update(status="Failed", startTime=now, endTime=now, diagnostics=dict(diagnostics))
            else:
                event["status"] = "Skipped"
        self._touch("Failed")

    def skip(self) -> None:
        if self.status in ("Succeeded", "Failed", "Skipped"):
            return
        for event in self.events:
            if event["status"] in ("Pending", "InProgress"):
                event["status"] = "Skipped"
        self._touch("Skipped")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "deploymentId": self.deployment.info.deployment_id,
            "targetId": self.target_id,
            "targetArn": self.arn,
            "status": self.status,
            "lastUpdatedAt": self.updated_at,
            "lifecycleEvents": copy.deepcopy(self.events),
        }
        if self.label:
            out["instanceLabel"] = self.label
        return out


# --- the operation ----------------------------------------------------------------------------------------


class ServerDeployment(progress.Operation):
    """One Server deployment: moto's DeploymentInfo (what the API returns), moving by itself."""

    MODEL = MODEL

    def __init__(self, backend: CodeDeployBackend, info: DeploymentInfo) -> None:
        super().__init__(list(FORWARD))
        self.account, self.region = backend.account_id, backend.region_name
        self.backend = backend
        self.info = info
        self.error: dict[str, str] = {}
        self.rollback: dict[str, str] = {}
        group = info.deployment_group
        last = getattr(group, "rollbackctl_last_success", None)
        self.previous_revision: dict[str, Any] = copy.deepcopy(last.revision) if last is not None else {}
        self.targets = self._targets(group)
        info.rollbackctl_server = self  # type: ignore[attr-defined]
        info.status = "Created"
        self._count()
        self.track()
        if not self.targets:
            self.fail("NO_INSTANCES", NO_INSTANCES)

    def _targets(self, group: DeploymentGroup) -> list[InstanceTarget]:
        style = group.deployment_style or {}
        traffic = style.get("deploymentOption") == "WITH_TRAFFIC_CONTROL"
        own = _instances(
            self.account,
            self.region,
            _asg_names(group.auto_scaling_groups),
            group.ec2_tag_filters,
            group.ec2_tag_set,
        )
        if style.get("deploymentType") != "BLUE_GREEN":
            events = (*BLOCK, *INSTALL, *VALIDATE, *ALLOW) if traffic else (*INSTALL, *VALIDATE)
            return [InstanceTarget(self, i, None, events) for i in own]
        wanted = self.info.target_instances or {}
        green = _instances(
            self.account,
            self.region,
            _asg_names(wanted.get("autoScalingGroups") or []),
            wanted.get("tagFilters") or [],
            wanted.get("ec2TagSet") or {},
        )
        return [InstanceTarget(self, i, "Blue", BLOCK) for i in own if i not in green] + [
            InstanceTarget(self, i, "Green", (*INSTALL, *VALIDATE, *ALLOW)) for i in green
        ]

    # --- what CodeDeploy does at each step -------------------------------------------------------------------

    def on_status(self, old: str, new: str) -> None:
        info, now = self.info, utcnow()
        info.status = new
        if new == "InProgress":
            info.start_time = info.start_time or now
            for target in self.targets:
                target.start()
        elif new == "Succeeded":
            for target in self.targets:
                if target.status in ("Pending", "InProgress"):
                    target.succeed()
            info.deployment_group.rollbackctl_last_success = info  # type: ignore[attr-defined]
        elif new == "Stopped":
            for target in self.targets:
                target.skip()
        if new in FINAL_STATE:
            info.start_time = info.start_time or now
            info.complete_time = now
            self._emit(FINAL_STATE[new])
        self._count()
        if new == "Failed":
            auto = info.auto_rollback_configuration or info.deployment_group.auto_rollback_configuration or {}
            if auto.get("enabled") and "DEPLOYMENT_FAILURE" in (auto.get("events") or []):
                self.roll_back()

    def _count(self) -> None:
        overview = {status: 0 for status in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")}
        for target in self.targets:
            if target.status in overview:
                overview[target.status] += 1
        self.info.deployment_overview = overview

    def _emit(self, state: str) -> None:
        info = self.info
        application, group = info.application_name, info.deployment_group_name
        detail = {
            "region": self.region,
            "deploymentId": info.deployment_id,
            "instanceGroupId": info.deployment_group.deployment_group_id,
            "deploymentGroup": group,
            "state": state,
            "application": application,
        }
        resources = [
            f"arn:aws:codedeploy:{self.region}:{self.account}:deploymentgroup:{application}/{group}",
            f"arn:aws:codedeploy:{self.region}:{self.account}:application:{application}",
        ]
        detail_type = "CodeDeploy Deployment State-change Notification"
        self.emit(self.account, self.region, "aws.codedeploy", detail_type, detail, resources)

    # --- moves (API calls and the helpers) -----------------------------------------------------------------

    def fail(self, code: str, message: str) -> None:
        with progress.held():
            if self.done:
                raise DeploymentAlreadyCompletedException(f"The deployment {self.info.deployment_id} has completed.")
            self.error = {"code": code, "message": message}
            self.status = "Failed"

    def stop(self, auto_rollback: bool) -> None:
        with progress.held():
            if self.done:
                raise DeploymentAlreadyCompletedException(
                    f"The deployment {self.info.deployment_id} has already completed."
                )
            self.error = {"code": "MANUAL_STOP", "message": "The deployment was stopped by the user."}
            self.status = "Stopped"
            if auto_rollback:
                self.roll_back()

    def roll_back(self) -> ServerDeployment | None:
        """CodeDeploy redeploys the last known good revision as a new deployment (creator codeDeployRollback)."""
        info = self.info
        if not self.previous_revision:
            self.rollback = {
                "rollbackMessage": f"Deployment {info.deployment_id} was not rolled back: the deployment group has no "
                "previous successful deployment to roll back to."
            }
            return None
        rollback = DeploymentInfo(
            info.application,
            info.deployment_group,
            copy.deepcopy(self.previous_revision),
            info.deployment_config_name,
            f"Rollback of deployment {info.deployment_id}",
            info.ignore_application_stop_failures,
            None,
            None,
            info.update_outdated_instances_only,
            info.file_exists_behavior,
            None,
            "codeDeployRollback",
        )
        rollback.deployment_id = deployment_id()
        self.backend.deployments[rollback.deployment_id] = rollback
        operation = ServerDeployment(self.backend, rollback)
        operation.rollback = {"rollbackTriggeringDeploymentId": info.deployment_id}
        self.rollback = {
            "rollbackDeploymentId": rollback.deployment_id,
            "rollbackMessage": f"Deployment {info.deployment_id} is being rolled back by deployment "
            f"{rollback.deployment_id}.",
        }
        return operation

    def target(self, instance_id: str) -> InstanceTarget:
        found = next((t for t in self.targets if t.target_id == instance_id), None)
        if found is None:
            raise DeploymentTargetDoesNotExistException(
                f"The target {instance_id} does not exist in deployment {self.info.deployment_id}."
            )
        return found

    def refresh(self, described: bool = False) -> None:
        with progress.held():
            if not self.done:
                if described:
                    self.advance()
                self.status  # noqa: B018 - reading progresses it


# --- moto's CodeDeploy, extended ---------------------------------------------------------------------------


def revision_checked(revision: dict[str, Any] | None) -> None:
    """RevisionLocation for EC2/on-premises: S3 (bucket and key) or GitHub (repository and commitId)."""
    revision = revision or {}
    kind = revision.get("revisionType")
    if kind == "S3":
        where = revision.get("s3Location") or {}
        if not where.get("bucket") or not where.get("key"):
            raise InvalidRevisionException("The S3 revision must name a bucket and a key.")
        return
    if kind == "GitHub":
        where = revision.get("gitHubLocation") or {}
        if not where.get("repository") or not where.get("commitId"):
            raise InvalidRevisionException("The GitHub revision must name a repository and a commit ID.")
        return
    raise InvalidRevisionException(
        f"Revision type {kind} is not supported for the EC2/On-premises compute platform: use S3 or GitHub."
    )


def created(backend: CodeDeployBackend, old_id: str) -> str:
    """A Server deployment moto just created: CodeDeploy's id, and the operation that moves it."""
    info = backend.deployments.pop(old_id)
    info.deployment_id = deployment_id()
    backend.deployments[info.deployment_id] = info
    ServerDeployment(backend, info)
    return str(info.deployment_id)


def refresh_all(backend: CodeDeployBackend) -> None:
    """Let every Server deployment in flight progress before it is listed."""
    for info in list(backend.deployments.values()):
        found = operation(info)
        if found is not None:
            found.refresh()


def info_fields(deployment: DeploymentInfo, info: dict[str, Any]) -> None:
    """What GetDeployment adds for a Server deployment: previousRevision, errorInformation, rollbackInfo."""
    found = operation(deployment)
    if found is None:
        return
    info["status"] = deployment.status
    info["previousRevision"] = copy.deepcopy(found.previous_revision)
    info["errorInformation"] = dict(found.error)
    info["rollbackInfo"] = dict(found.rollback)
    info["deploymentOverview"] = dict(deployment.deployment_overview)


def _server(backend: CodeDeployBackend, deployment_id: str) -> ServerDeployment | None:
    deployment = backend.deployments.get(deployment_id)
    if deployment is None:
        raise DeploymentDoesNotExistException(f"The deployment {deployment_id} could not be found.")
    return operation(deployment)


def list_targets(backend: CodeDeployBackend, deployment_id: str, filters: dict[str, list[str]] | None) -> list[str]:
    """ListDeploymentTargets: the targets' ids, filtered by TargetStatus and ServerInstanceLabel."""
    found = _server(backend, deployment_id)
    for name in filters or {}:
        if name not in ("TargetStatus", "ServerInstanceLabel"):
            raise InvalidTargetFilterNameException(f"The target filter name {name} is invalid.")
    if found is None:
        return []
    found.refresh()
    if found.info.status == "Created":
        raise DeploymentNotStartedException(f"The deployment {deployment_id} has not started.")
    statuses, labels = (filters or {}).get("TargetStatus"), (filters or {}).get("ServerInstanceLabel")
    return [
        t.target_id
        for t in found.targets
        if (not statuses or t.status in statuses) and (not labels or t.label in labels)
    ]


def batch_targets(backend: CodeDeployBackend, deployment_id: str, target_ids: list[str]) -> list[dict[str, Any]]:
    """BatchGetDeploymentTargets: up to 25 targets, each an InstanceTarget for a Server deployment."""
    if not target_ids:
        raise DeploymentTargetIdRequiredException("A deployment target ID must be specified.")
    if len(target_ids) > MAX_BATCH_TARGETS:
        raise DeploymentTargetListSizeExceededException(
            f"The maximum number of targets that can be specified is {MAX_BATCH_TARGETS}."
        )
    found = _server(backend, deployment_id)
    if found is None:
        return []
    found.refresh()
    if found.info.status == "Created":
        raise DeploymentNotStartedException(f"The deployment {deployment_id} has not started.")
    return [{"deploymentTargetType": "InstanceTarget", "instanceTarget": found.target(i).to_dict()} for i in target_ids]


def group_fields(group: DeploymentGroup, info: dict[str, Any]) -> None:
    """DeploymentGroupInfo.autoScalingGroups as AutoScalingGroup objects (name, and the lifecycle hook CodeDeploy
    installs in each: User Guide, "Integrating CodeDeploy with Amazon EC2 Auto Scaling")."""
    hooks = getattr(group, "rollbackctl_hooks", None)
    if hooks is None:
        hooks = group.rollbackctl_hooks = {}  # type: ignore[attr-defined]
    entries = []
    for name in _asg_names(group.auto_scaling_groups):
        hook = hooks.setdefault(
            name,
            f"CodeDeploy-managed-automatic-launch-deployment-hook-{group.deployment_group_name}-{mock_random.uuid4()}",
        )
        entries.append({"name": name, "hook": hook})
    info["autoScalingGroups"] = entries


# --- what CodeDeploy and its agents do (tests and the demo play it) ------------------------------------------


def _operation(account: str, region: str, deployment_id: str) -> ServerDeployment:
    found = _server(codedeploy_backends[account][region], deployment_id)
    if found is None:
        raise ValueError(f"deployment {deployment_id} is not a Server (EC2/on-premises) deployment")
    return found


def start(account: str, region: str, deployment_id: str) -> None:
    """CodeDeploy starts deploying to the instances (Created -> InProgress)."""
    found = _operation(account, region, deployment_id)
    with progress.held():
        if found.status == "Created":
            found.status = "InProgress"


def complete(account: str, region: str, deployment_id: str) -> None:
    """Every instance finishes its lifecycle events: the deployment Succeeded (its event on the bus)."""
    _operation(account, region, deployment_id).finish()


def fail_instance(
    account: str,
    region: str,
    deployment_id: str,
    instance_id: str,
    event: str,
    code: str,
    script: str,
    message: str,
    log_tail: str = "",
) -> None:
    """A hook script fails on one instance (the agent's diagnostics), and with it the deployment (HEALTH_CONSTRAINTS:
    too few healthy instances), as CodeDeploy reports it; an automatic rollback follows when the group has one."""
    found = _operation(account, region, deployment_id)
    with progress.held():
        found.status  # noqa: B018 - wherever it has got to by now
        if found.done:
            raise DeploymentAlreadyCompletedException(f"The deployment {deployment_id} has already completed.")
        if found.status == "Created":
            found.status = "InProgress"
        found.target(instance_id).fail(
            event, {"errorCode": code, "scriptName": script, "message": message, "logTail": log_tail}
        )
        for target in found.targets:
            target.skip()
        found.fail("HEALTH_CONSTRAINTS", HEALTH_CONSTRAINTS)
