"""ECS rolling deployments as AWS documents them, where moto stops short.

moto keeps a single PRIMARY deployment whatever UpdateService does. In AWS a new task definition starts a
new PRIMARY deployment (rolloutState IN_PROGRESS) while the previous one stays ACTIVE, still running its
tasks, until the rollout completes. The emulator has no scheduler: ``complete_rollout`` / ``fail_rollout``
play what ECS would do (for tests and the demo).
"""

from __future__ import annotations

import copy
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.models import EC2ContainerServiceBackend, ecs_backends
from moto.moto_api._internal import mock_random

MAX_DEPLOYMENTS = 3

_original_update = EC2ContainerServiceBackend.update_service


def _update_service(self: EC2ContainerServiceBackend, service_properties: dict[str, Any]) -> Any:
    cluster = service_properties.get("cluster") or "default"
    service = self._get_service(cluster, str(service_properties["service"]).split("/")[-1])
    before_td, before = service.task_definition, copy.deepcopy(service.deployments)
    updated = _original_update(self, service_properties)
    if updated.deployment_controller.get("type") != "ECS" or updated.task_definition == before_td or not before:
        return updated
    now = utcnow()
    deployment_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
    template = next((d for d in before if d["status"] == "PRIMARY"), before[0])
    new = dict(
        copy.deepcopy(template),
        id=deployment_id,
        status="PRIMARY",
        taskDefinition=updated.task_definition,
        rolloutState="IN_PROGRESS",
        rolloutStateReason=f"ECS deployment {deployment_id} in progress.",
        runningCount=0,
        pendingCount=updated.desired_count,
        failedTasks=0,
        createdAt=now,
        updatedAt=now,
    )
    previous = [dict(d, status="ACTIVE", updatedAt=now) for d in before]
    updated.deployments = [new, *previous][:MAX_DEPLOYMENTS]
    return updated


def _service(account: str, region: str, cluster: str, service: str) -> Any:
    return ecs_backends[account][region]._get_service(cluster, service)


def complete_rollout(account: str, region: str, cluster: str, service: str) -> None:
    svc = _service(account, region, cluster, service)
    primary = svc.deployments[0]
    primary.update(
        rolloutState="COMPLETED",
        rolloutStateReason=f"ECS deployment {primary['id']} completed.",
        runningCount=svc.desired_count,
        pendingCount=0,
        updatedAt=utcnow(),
    )
    svc.deployments = [primary]


def fail_rollout(account: str, region: str, cluster: str, service: str, reason: str) -> None:
    svc = _service(account, region, cluster, service)
    svc.deployments[0].update(rolloutState="FAILED", rolloutStateReason=reason, updatedAt=utcnow())


def install() -> None:
    EC2ContainerServiceBackend.update_service = _update_service  # type: ignore[method-assign]
