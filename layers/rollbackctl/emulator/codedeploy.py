"""CodeDeploy blue/green as AWS documents it, where moto stops short.

- A deployment starts InProgress. For the Lambda platform its AppSpec names the alias, CurrentVersion
  and TargetVersion, and traffic starts shifting: the alias sends 10% to TargetVersion (as the canary
  configurations do). For the ECS platform a replacement task set is created beside the original.
- ``StopDeployment`` (moto lacks it): Stopped with errorInformation MANUAL_STOP; with
  ``autoRollbackEnabled`` a rollback deployment (creator ``codeDeployRollback``) puts traffic back on the
  original version / task set and ``rollbackInfo`` records it. A finished deployment raises
  DeploymentAlreadyCompletedException.
- ``GetDeployment`` returns ``errorInformation`` and ``rollbackInfo`` instead of empty objects.

Deployments of the Server compute platform (EC2 and on-premises) are ``codedeploy_server.py``'s: they progress
through moto's state manager and put their state-change events on the bus; this module hands them over.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC
from typing import Any

from moto.codedeploy import responses as cd_responses
from moto.codedeploy.exceptions import DeploymentDoesNotExistException
from moto.codedeploy.models import CodeDeployBackend, DeploymentInfo, codedeploy_backends
from moto.codedeploy.responses import CodeDeployResponse
from moto.core.utils import utcnow

from ..mechanisms.codedeploy import ACTIVE, appspec, appspec_resource
from . import codedeploy_server as server
from . import progress
from .codedeploy_server import DeploymentAlreadyCompletedException

CANARY_WEIGHT = 0.1


def _spec(deployment: DeploymentInfo) -> dict[str, Any]:
    return appspec({"revision": deployment.revision or {}})


def lambda_resource(deployment: DeploymentInfo) -> dict[str, str] | None:
    found = appspec_resource(_spec(deployment), "AWS::Lambda::Function")
    return {k: str(v) for k, v in found.items()} if found else None


def ecs_task_definition(deployment: DeploymentInfo) -> str | None:
    found = appspec_resource(_spec(deployment), "AWS::ECS::Service")
    return str(found["TaskDefinition"]) if found and found.get("TaskDefinition") else None


def _lambda_backend(deployment: DeploymentInfo) -> Any:
    from moto.awslambda.models import lambda_backends

    account, region = deployment.rollbackctl_where  # type: ignore[attr-defined]
    return lambda_backends[account][region]


def _ecs_backend(deployment: DeploymentInfo) -> Any:
    from moto.ecs.models import ecs_backends

    account, region = deployment.rollbackctl_where  # type: ignore[attr-defined]
    return ecs_backends[account][region]


def _shift(deployment: DeploymentInfo) -> None:
    """Start the traffic shift the deployment describes."""
    fn = lambda_resource(deployment)
    if fn:
        alias = _lambda_backend(deployment).get_alias(fn["Alias"], fn["Name"])
        alias.update(None, fn["CurrentVersion"], {"AdditionalVersionWeights": {fn["TargetVersion"]: CANARY_WEIGHT}})
        return
    task_definition = ecs_task_definition(deployment)
    if task_definition and deployment.deployment_group.ecs_services:
        service = deployment.deployment_group.ecs_services[0]
        replacement = _ecs_backend(deployment).create_task_set(
            service["serviceName"],
            service["clusterName"],
            task_definition,
            external_id=deployment.deployment_id,
            network_configuration=None,
            load_balancers=None,
            service_registries=None,
            launch_type=None,
            capacity_provider_strategy=None,
            platform_version=None,
            scale=None,
            client_token=None,
            tags=[],
        )
        deployment.rollbackctl_replacement = replacement.task_set_arn  # type: ignore[attr-defined]


def _roll_back(deployment: DeploymentInfo) -> None:
    fn = lambda_resource(deployment)
    if fn:
        alias = _lambda_backend(deployment).get_alias(fn["Alias"], fn["Name"])
        alias.update(None, fn["CurrentVersion"], {"AdditionalVersionWeights": {}})
        return
    replacement = getattr(deployment, "rollbackctl_replacement", None)
    if replacement and deployment.deployment_group.ecs_services:
        service = deployment.deployment_group.ecs_services[0]
        backend = _ecs_backend(deployment)
        original = getattr(deployment, "rollbackctl_original", None)
        if original:  # traffic had moved to the replacement (Baking): production goes back to the original first
            backend.update_service_primary_task_set(service["clusterName"], service["serviceName"], original)
        backend.delete_task_set(service["clusterName"], service["serviceName"], replacement)


_original_create = CodeDeployBackend.create_deployment
_original_info = cd_responses._deployment_info
_original_group_info = cd_responses._deployment_group_info
_original_list = CodeDeployBackend.list_deployments
_original_get = CodeDeployBackend.get_deployment
_original_batch_get = CodeDeployBackend.batch_get_deployments


def _create(self: CodeDeployBackend, *args: Any, **kwargs: Any) -> str:
    name = kwargs.get("application_name", args[0] if args else None)
    application = self.applications.get(str(name))
    if application is not None and str(application.compute_platform) == "Server":
        server.revision_checked(kwargs.get("revision", args[2] if len(args) > 2 else None))
        with progress.held():
            return server.created(self, _original_create(self, *args, **kwargs))
    deployment_id: str = _original_create(self, *args, **kwargs)
    deployment = self.deployments[deployment_id]
    deployment.rollbackctl_where = (self.account_id, self.region_name)  # type: ignore[attr-defined]
    deployment.status = "InProgress"
    deployment.start_time = utcnow()
    _shift(deployment)
    return deployment_id


def stop_deployment(backend: CodeDeployBackend, deployment_id: str, auto_rollback: bool) -> dict[str, str]:
    deployment = backend.deployments.get(deployment_id)
    if deployment is None:
        raise DeploymentDoesNotExistException(f"The deployment {deployment_id} could not be found.")
    operation = server.operation(deployment)
    if operation is not None:
        operation.stop(auto_rollback)
        if operation.rollback.get("rollbackDeploymentId"):
            return {"status": "Pending", "statusMessage": "Stopping the deployment and rolling back."}
        return {"status": "Succeeded", "statusMessage": "Deployment stopped."}
    if deployment.status not in ACTIVE:
        raise DeploymentAlreadyCompletedException(f"The deployment {deployment_id} has already completed.")
    deployment.status = "Stopped"
    deployment.complete_time = utcnow()
    deployment.rollbackctl_error = {  # type: ignore[attr-defined]
        "code": "MANUAL_STOP",
        "message": "The deployment was stopped by the user.",
    }
    if not auto_rollback:
        return {"status": "Succeeded", "statusMessage": "Deployment stopped without rollback."}
    rollback = DeploymentInfo(
        deployment.application,
        deployment.deployment_group,
        deployment.revision,
        deployment.deployment_config_name,
        f"Rollback of {deployment_id}",
        None,
        None,
        None,
        None,
        None,
        None,
        "codeDeployRollback",
    )
    rollback.rollbackctl_where = deployment.rollbackctl_where  # type: ignore[attr-defined]
    rollback.deployment_id = f"d-{uuid.uuid4().hex[:9].upper()}"
    _roll_back(deployment)
    rollback.status, rollback.start_time, rollback.complete_time = "Succeeded", utcnow(), utcnow()
    rollback.rollbackctl_rollback = {"rollbackTriggeringDeploymentId": deployment_id}  # type: ignore[attr-defined]
    backend.deployments[rollback.deployment_id] = rollback
    deployment.rollbackctl_rollback = {  # type: ignore[attr-defined]
        "rollbackDeploymentId": rollback.deployment_id,
        "rollbackMessage": f"Deployment {deployment_id} was stopped; rolled back by {rollback.deployment_id}.",
    }
    return {"status": "Pending", "statusMessage": "Stopping the deployment and rolling back."}


def reroute(account: str, region: str, deployment_id: str) -> None:
    """An ECS blue/green deployment has moved all production traffic to the replacement task set and waits, the
    original still running, before CodeDeploy terminates it (the deployment group's termination wait): the
    deployment's status is ``Baking`` (CodeDeploy API Reference, DeploymentInfo.status / DeploymentStatus), and a
    stop with rollback can still move traffic back. For tests and the demo, as ``fail_deployment`` is."""
    deployment = codedeploy_backends[account][region].deployments[deployment_id]
    replacement = getattr(deployment, "rollbackctl_replacement", None)
    if replacement is None or not deployment.deployment_group.ecs_services:
        raise ValueError(f"deployment {deployment_id} is not an ECS blue/green deployment shifting traffic")
    service = deployment.deployment_group.ecs_services[0]
    backend = _ecs_backend(deployment)
    svc = backend._get_service(service["clusterName"], service["serviceName"])
    deployment.rollbackctl_original = next(  # type: ignore[attr-defined]
        (s.task_set_arn for s in svc.task_sets if s.status == "PRIMARY"), None
    )
    backend.update_service_primary_task_set(service["clusterName"], service["serviceName"], replacement)
    deployment.status = "Baking"


def fail_deployment(account: str, region: str, deployment_id: str, code: str, message: str) -> None:
    """What CodeDeploy does when a deployment fails (for tests and the demo)."""
    deployment = codedeploy_backends[account][region].deployments[deployment_id]
    operation = server.operation(deployment)
    if operation is not None:
        operation.fail(code, message)
        return
    deployment.status = "Failed"
    deployment.complete_time = utcnow()
    deployment.rollbackctl_error = {"code": code, "message": message}  # type: ignore[attr-defined]


def _info(deployment: DeploymentInfo) -> dict[str, Any]:
    info: dict[str, Any] = _original_info(deployment)
    info["errorInformation"] = getattr(deployment, "rollbackctl_error", {})
    info["rollbackInfo"] = getattr(deployment, "rollbackctl_rollback", {})
    server.info_fields(deployment, info)
    return info


def _group_info(group: Any) -> dict[str, Any]:
    info: dict[str, Any] = _original_group_info(group)
    server.group_fields(group, info)
    return info


def _list(self: CodeDeployBackend, *args: Any, **kwargs: Any) -> list[str]:
    server.refresh_all(self)
    listed: list[str] = _original_list(self, *args, **kwargs)
    return listed


def _get(self: CodeDeployBackend, deployment_id: str) -> DeploymentInfo:
    deployment = _original_get(self, deployment_id)
    operation = server.operation(deployment)
    if operation is not None:
        operation.refresh(described=True)
    return deployment


def _batch_get(self: CodeDeployBackend, deployment_ids: list[str]) -> list[DeploymentInfo]:
    deployments: list[DeploymentInfo] = _original_batch_get(self, deployment_ids)
    for deployment in deployments:
        operation = server.operation(deployment)
        if operation is not None:
            operation.refresh(described=True)
    return deployments


def _stop_response(self: CodeDeployResponse) -> str:
    result = stop_deployment(
        self.codedeploy_backend, self._get_param("deploymentId"), bool(self._get_param("autoRollbackEnabled"))
    )
    return json.dumps(result)


def _list_targets_response(self: CodeDeployResponse) -> str:
    # https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ListDeploymentTargets.html
    ids = server.list_targets(
        self.codedeploy_backend, self._get_param("deploymentId"), self._get_param("targetFilters")
    )
    return json.dumps({"targetIds": ids})


def _batch_targets_response(self: CodeDeployResponse) -> str:
    # https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_BatchGetDeploymentTargets.html
    targets = server.batch_targets(
        self.codedeploy_backend, self._get_param("deploymentId"), self._get_param("targetIds") or []
    )
    return json.dumps({"deploymentTargets": targets}, default=_epoch)


def _epoch(value: Any) -> float:
    """Timestamps as the JSON protocol carries them: seconds since the epoch."""
    return float(value.replace(tzinfo=value.tzinfo or UTC).timestamp())


def install() -> None:
    CodeDeployBackend.create_deployment = _create  # type: ignore[method-assign]
    CodeDeployBackend.list_deployments = _list  # type: ignore[method-assign]
    CodeDeployBackend.get_deployment = _get  # type: ignore[method-assign]
    CodeDeployBackend.batch_get_deployments = _batch_get  # type: ignore[method-assign]
    cd_responses._deployment_info = _info
    cd_responses._deployment_group_info = _group_info
    CodeDeployResponse.stop_deployment = _stop_response  # type: ignore[attr-defined]
    CodeDeployResponse.list_deployment_targets = _list_targets_response  # type: ignore[attr-defined]
    CodeDeployResponse.batch_get_deployment_targets = _batch_targets_response  # type: ignore[attr-defined]
