"""ECS service deployments as AWS documents them, where moto stops short.

moto keeps a single PRIMARY deployment whatever UpdateService does, knows no deployment strategy and lacks
service revisions and service deployments entirely. Here, as the ECS API Reference and Developer Guide
describe them:

- CreateService, and an UpdateService that changes the task definition, create a **service revision**
  (``arn:aws:ecs:R:A:service-revision/CLUSTER/SERVICE/ID``) and a **service deployment**
  (``arn:aws:ecs:R:A:service-deployment/CLUSTER/SERVICE/ID``) from the ACTIVE revisions (source) to the new one
  (target). The new deployment is PRIMARY with rolloutState IN_PROGRESS in DescribeServices' ``deployments``
  while the previous ones stay ACTIVE, running their tasks, whatever the strategy.
- Each deployment is an operation of model ``ecs::deployment`` (``progress.py``): it goes IN_PROGRESS ->
  COMPLETED by itself as moto's state manager says (a "manual" transition counts DescribeServices and
  DescribeServiceDeployments calls). On completion the previous deployments go away and the
  counts settle, and ECS puts "ECS Deployment State Change" (SERVICE_DEPLOYMENT_COMPLETED) on the default bus.
  A new deployment started while one is in flight stops that one (its service deployment is STOPPED).
- ``deploymentConfiguration.strategy`` (ROLLING, BLUE_GREEN, LINEAR, CANARY, with ``bakeTimeInMinutes``,
  ``linearConfiguration``, ``canaryConfiguration``) is validated, stored and returned. A native strategy's
  service deployment reports its ``lifecycleStage`` and the traffic weights of its revisions.
- ``ListServiceDeployments``, ``DescribeServiceDeployments``, ``DescribeServiceRevisions`` and
  ``StopServiceDeployment`` (ROLLBACK: ROLLBACK_REQUESTED -> ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL on the
  same model; the service then serves the source revision's task definition again).
- ``complete_rollout`` / ``fail_rollout`` / ``set_lifecycle_stage`` play what ECS's scheduler would do, for
  tests and the demo; the same side effects and events follow.

Pages: ECS API Reference ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions,
StopServiceDeployment, CreateService / UpdateService (DeploymentConfiguration), Deployment, ServiceDeployment,
ServiceRevision; Developer Guide "View service history using Amazon ECS service deployments", "Stopping Amazon
ECS service deployments", "Amazon ECS blue/green deployments", "Amazon ECS service deployment state change
events".
"""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Service, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api._internal import mock_random

from . import progress

MODEL = "ecs::deployment"
MAX_DEPLOYMENTS = 3
STRATEGIES = ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY")
NATIVE = ("BLUE_GREEN", "LINEAR", "CANARY")
# API Reference, ServiceDeployment.lifecycleStage (ServiceDeploymentLifecycleStage), in the order they happen.
LIFECYCLE_STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)
FORWARD: list[tuple[str | None, str]] = [("IN_PROGRESS", "COMPLETED")]
ROLLBACK: list[tuple[str | None, str]] = [
    ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"),
    ("ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"),
]
# The operation's status (the rolloutState words, then the rollback's) as the service deployment's status.
# A deployment that failed without a rollback, or that a newer one replaced, has stopped (ServiceDeployment.stoppedAt).
SERVICE_DEPLOYMENT_STATUS = {
    "IN_PROGRESS": "IN_PROGRESS",
    "COMPLETED": "SUCCESSFUL",
    "FAILED": "STOPPED",
    "STOPPED": "STOPPED",
    "ROLLBACK_REQUESTED": "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS": "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_SUCCESSFUL": "ROLLBACK_SUCCESSFUL",
    "ROLLBACK_FAILED": "ROLLBACK_FAILED",
}
# "Stopping Amazon ECS service deployments": the states a deployment can be stopped in. The first two move to
# ROLLBACK_REQUESTED; in the others the stop or rollback already under way continues.
ROLLS_BACK = ("PENDING", "IN_PROGRESS")
CONTINUES = ("STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
DEFAULT_LIST_RESULTS, MAX_LIST_RESULTS, MAX_DESCRIBE_ARNS = 20, 100, 20
# DeploymentConfiguration defaults (API Reference): a REPLICA service's percents, the circuit breaker off,
# LinearConfiguration stepPercent 10.0 / stepBakeTimeInMinutes 6, CanaryConfiguration canaryPercent 5.0 /
# canaryBakeTimeInMinutes 10.
DEFAULT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "strategy": "ROLLING",
}
DEFAULT_LINEAR = {"stepPercent": 10.0, "stepBakeTimeInMinutes": 6}
DEFAULT_CANARY = {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}


class ConflictException(ECSException):
    """API Reference, Common Errors / StopServiceDeployment: "The request could not be processed because of
    conflict in the current state of the resource." """

    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


class ServiceDeploymentNotFoundException(ECSException):
    """StopServiceDeployment: "The service deploy ARN that you specified in the StopServiceDeployment doesn't
    exist. You can use ListServiceDeployments to retrieve the service deployment ARNs." """

    def __init__(self, message: str) -> None:
        super().__init__("ServiceDeploymentNotFoundException", message)


def _event_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")  # as in the documented events: "2020-05-23T11:11:11Z"


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# --- the store: per account and region, on moto's backend (so a reset clears it) ---------------------------


def _revisions(backend: EC2ContainerServiceBackend) -> dict[str, ServiceRevision]:
    if not hasattr(backend, "rollbackctl_revisions"):
        backend.rollbackctl_revisions = {}  # type: ignore[attr-defined]
    return backend.rollbackctl_revisions  # type: ignore[attr-defined, no-any-return]


def _deployments(backend: EC2ContainerServiceBackend) -> dict[str, EcsDeployment]:
    if not hasattr(backend, "rollbackctl_deployments"):
        backend.rollbackctl_deployments = {}  # type: ignore[attr-defined]
    return backend.rollbackctl_deployments  # type: ignore[attr-defined, no-any-return]


def _of_service(service: Service) -> list[EcsDeployment]:
    """The service's deployments, oldest first."""
    if not hasattr(service, "rollbackctl_deployments"):
        service.rollbackctl_deployments = []  # type: ignore[attr-defined]
    return service.rollbackctl_deployments  # type: ignore[attr-defined, no-any-return]


def _stable(service: Service) -> ServiceRevision | None:
    """The revision of the service's last deployment that completed (what a rollback goes back to)."""
    return getattr(service, "rollbackctl_stable", None)


def _suffix(service: Service) -> str:
    return f"{service.cluster_name}/{service.name}"


class ServiceRevision:
    """API Reference, ServiceRevision: the workload configuration a deployment puts in place."""

    def __init__(self, backend: EC2ContainerServiceBackend, service: Service) -> None:
        self.arn = (
            f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:service-revision/{_suffix(service)}/"
            f"{mock_random.randint(10**18, 10**19 - 1)}"
        )
        self.service_arn, self.cluster_arn = service.arn, service.cluster_arn
        self.task_definition = service.task_definition
        self.launch_type = service.launch_type
        self.platform_version = service.platform_version
        self.load_balancers = copy.deepcopy(service.load_balancers)
        self.service_registries = copy.deepcopy(service.service_registries)
        self.network_configuration = copy.deepcopy(service.network_configuration)
        self.container_images = _container_images(backend, service.task_definition)
        self.created_at = utcnow()
        _revisions(backend)[self.arn] = self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "serviceRevisionArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "taskDefinition": self.task_definition,
            "launchType": self.launch_type,
            "loadBalancers": self.load_balancers,
            "serviceRegistries": self.service_registries,
            "containerImages": self.container_images,
            "createdAt": self.created_at,
        }
        if self.platform_version:
            out["platformVersion"] = self.platform_version
        if self.network_configuration:
            out["networkConfiguration"] = self.network_configuration
        return out


def _container_images(backend: EC2ContainerServiceBackend, task_definition: str | None) -> list[dict[str, str]]:
    """ServiceRevision.containerImages: each container's image, with its digest when ECR holds it."""
    if not task_definition:
        return []
    try:
        definition = backend.describe_task_definition(task_definition)
    except Exception:
        return []
    images = []
    for container in definition.container_definitions:
        entry = {"containerName": container.get("name", ""), "image": container.get("image", "")}
        digest = _image_digest(entry["image"])
        if digest:
            entry["imageDigest"] = digest
        images.append(entry)
    return images


def _image_digest(image: str) -> str | None:
    """An image by digest names it; an ECR image by tag (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG) has the
    digest ECR holds for that tag."""
    if "@sha256:" in image:
        return image.split("@", 1)[1]
    registry, _, path = image.partition("/")
    parts = registry.split(".")
    if len(parts) != 6 or parts[1:3] != ["dkr", "ecr"]:
        return None
    from moto.ecr.models import ecr_backends

    account, region = parts[0], parts[3]
    repository, _, tag = path.partition(":")
    repo = ecr_backends[account][region].repositories.get(repository)
    for found in repo.images if repo else []:
        if (tag or "latest") in found.image_tags:
            return str(found.image_digest)
    return None


# --- deploymentConfiguration ----------------------------------------------------------------------------


def _in_range(config: dict[str, Any], key: str, low: float, high: float, where: str) -> None:
    value = config.get(key)
    if value is not None and not (low <= float(value) <= high):
        raise InvalidParameterException(f"{where}.{key} must be between {low:g} and {high:g}.")


def deployment_configuration(raw: dict[str, Any] | None, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The service's deploymentConfiguration after CreateService / UpdateService sent ``raw`` (validated as the
    API Reference's DeploymentConfiguration, LinearConfiguration and CanaryConfiguration describe them)."""
    merged = copy.deepcopy(previous or DEFAULT_CONFIGURATION)
    raw = copy.deepcopy(raw or {})
    strategy = raw.get("strategy", merged.get("strategy", "ROLLING"))
    if strategy not in STRATEGIES:
        raise InvalidParameterException(
            f"Invalid deployment strategy {strategy}. Valid values are {', '.join(STRATEGIES)}."
        )
    if strategy != merged.get("strategy"):
        for key in ("linearConfiguration", "canaryConfiguration"):
            merged.pop(key, None)
    merged.update(raw)
    merged["strategy"] = strategy
    if merged.get("linearConfiguration") is not None and strategy != "LINEAR":
        raise InvalidParameterException("linearConfiguration is only valid when the deployment strategy is LINEAR.")
    if merged.get("canaryConfiguration") is not None and strategy != "CANARY":
        raise InvalidParameterException("canaryConfiguration is only valid when the deployment strategy is CANARY.")
    if strategy == "BLUE_GREEN" and merged.get("bakeTimeInMinutes") is None:
        raise InvalidParameterException("bakeTimeInMinutes must be provided for the BLUE_GREEN deployment strategy.")
    _in_range(merged, "bakeTimeInMinutes", 0, 1440, "deploymentConfiguration")
    if strategy == "LINEAR":
        merged["linearConfiguration"] = {**DEFAULT_LINEAR, **(merged.get("linearConfiguration") or {})}
        _in_range(merged["linearConfiguration"], "stepPercent", 3.0, 100.0, "linearConfiguration")
        _in_range(merged["linearConfiguration"], "stepBakeTimeInMinutes", 0, 1440, "linearConfiguration")
    if strategy == "CANARY":
        merged["canaryConfiguration"] = {**DEFAULT_CANARY, **(merged.get("canaryConfiguration") or {})}
        _in_range(merged["canaryConfiguration"], "canaryPercent", 0.1, 100.0, "canaryConfiguration")
        _in_range(merged["canaryConfiguration"], "canaryBakeTimeInMinutes", 0, 1440, "canaryConfiguration")
    return merged


# --- the operation --------------------------------------------------------------------------------------


class EcsDeployment(progress.Operation):
    """One service deployment, and the entry it is in DescribeServices' ``deployments``."""

    MODEL = MODEL

    def __init__(
        self, backend: EC2ContainerServiceBackend, service: Service, entry: dict[str, Any], target: ServiceRevision
    ) -> None:
        super().__init__(list(FORWARD))
        self.account, self.region = backend.account_id, backend.region_name
        self.service = service
        self.entry_id: str = entry["id"]
        self.arn = (
            f"arn:aws:ecs:{self.region}:{self.account}:service-deployment/{_suffix(service)}/"
            f"{mock_random.token_urlsafe(16)[:22]}"
        )
        self.configuration: dict[str, Any] = copy.deepcopy(
            getattr(service, "deployment_configuration", None) or DEFAULT_CONFIGURATION
        )
        self.strategy: str = self.configuration.get("strategy", "ROLLING")
        self.target = target
        in_flight = [d for d in _of_service(service) if not d.done]
        sources = [d.target for d in in_flight]
        stable = _stable(service)
        if stable is not None and stable not in sources:
            sources.insert(0, stable)
        self.sources: list[ServiceRevision] = sources
        self.rollback_to = stable
        self.source_entry_id: str | None = next(
            (d["id"] for d in service.deployments if d["id"] != self.entry_id and d.get("rolloutState") == "COMPLETED"),
            None,
        )
        self.created_at = self.started_at = self.updated_at = utcnow()
        self.finished_at: datetime | None = None
        self.stopped_at: datetime | None = None
        self.status_reason: str | None = None
        self.rollback: dict[str, Any] | None = None
        self.rollback_entry_id: str | None = None
        self.rolled_back_by_breaker = False
        self.breaker = "MONITORING" if self.configuration.get("deploymentCircuitBreaker", {}).get("enable") else None
        # RECONCILE_SERVICE "only happens when you start a new service deployment with more than 1 service
        # revision in an ACTIVE state"; otherwise the green revision has not started: PRE_SCALE_UP.
        self.lifecycle_stage: str | None = None
        if self.strategy in NATIVE:
            self.lifecycle_stage = "RECONCILE_SERVICE" if len(sources) > 1 else "PRE_SCALE_UP"
        for earlier in in_flight:  # a newer deployment replaces the one in flight
            earlier.stop(f"Replaced by service deployment {self.arn}.")
        _of_service(service).append(self)
        _deployments(backend)[self.arn] = self
        self.emit_state(
            "INFO", "SERVICE_DEPLOYMENT_IN_PROGRESS", self.entry_id, f"ECS deployment {self.entry_id} in progress."
        )
        self.track()

    # --- what ECS does at each step ---------------------------------------------------------------------

    def on_status(self, old: str, new: str) -> None:
        now = self.updated_at = utcnow()
        svc = self.service
        if new == "COMPLETED":
            entry = self._entry(self.entry_id)
            if entry is not None:
                entry.update(
                    rolloutState="COMPLETED",
                    rolloutStateReason=f"ECS deployment {self.entry_id} completed.",
                    runningCount=svc.desired_count,
                    pendingCount=0,
                    updatedAt=now,
                )
                svc.deployments = [entry]
            svc.running_count, svc.pending_count = svc.desired_count, 0
            svc.rollbackctl_stable = self.target  # type: ignore[attr-defined]
            self.finished_at = now
            if self.lifecycle_stage:
                self.lifecycle_stage = "CLEAN_UP"
            self.breaker = "MONITORING_COMPLETE" if self.breaker else None
            self.emit_state(
                "INFO", "SERVICE_DEPLOYMENT_COMPLETED", self.entry_id, f"ECS deployment {self.entry_id} completed."
            )
        elif new == "FAILED":
            entry = self._entry(self.entry_id)
            if entry is not None:
                entry.update(rolloutState="FAILED", rolloutStateReason=self.status_reason or "", updatedAt=now)
            self.breaker = "TRIGGERED" if self.breaker else None
            self.stopped_at = now
            self.emit_state("ERROR", "SERVICE_DEPLOYMENT_FAILED", self.entry_id, self.status_reason or "")
        elif new == "STOPPED":
            self.stopped_at = now
        elif new == "ROLLBACK_REQUESTED":
            self.stopped_at = None
        elif new == "ROLLBACK_IN_PROGRESS":
            self._start_rollback_deployment(now)
        elif new == "ROLLBACK_SUCCESSFUL":
            entry = self._entry(self.rollback_entry_id)
            if entry is not None:
                entry.update(
                    rolloutState="COMPLETED",
                    rolloutStateReason=f"ECS deployment {entry['id']} completed.",
                    runningCount=svc.desired_count,
                    pendingCount=0,
                    updatedAt=now,
                )
                svc.deployments = [entry]
            svc.running_count, svc.pending_count = svc.desired_count, 0
            self.finished_at = now
            rollback_id = self.rollback_entry_id or self.entry_id
            self.emit_state(
                "INFO", "SERVICE_DEPLOYMENT_COMPLETED", rollback_id, f"ECS deployment {rollback_id} completed."
            )

    def _start_rollback_deployment(self, now: datetime) -> None:
        """ECS starts a deployment of the source revision; the service serves its task definition again."""
        svc, back_to = self.service, self.rollback_to
        if back_to is None:
            return
        self.rollback_entry_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
        template = self._entry(self.entry_id) or (svc.deployments[0] if svc.deployments else {})
        rollback_entry = dict(
            copy.deepcopy(template),
            id=self.rollback_entry_id,
            status="PRIMARY",
            taskDefinition=back_to.task_definition,
            rolloutState="IN_PROGRESS",
            rolloutStateReason=f"ECS deployment {self.rollback_entry_id} in progress.",
            runningCount=0,
            pendingCount=svc.desired_count,
            failedTasks=0,
            createdAt=now,
            updatedAt=now,
        )
        svc.deployments = [rollback_entry, *[dict(d, status="ACTIVE", updatedAt=now) for d in svc.deployments]][
            :MAX_DEPLOYMENTS
        ]
        svc.task_definition = back_to.task_definition
        # "Service deployment in progress events are delivered when both an initial and a rollback deployment is
        # started. The difference between the two is in the reason field."
        going_back_to = self.source_entry_id or back_to.arn
        why = (
            "ECS deployment circuit breaker"
            if self.rolled_back_by_breaker
            else f"ECS deployment {self.entry_id} stopped"
        )
        self.emit_state(
            "INFO",
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            self.rollback_entry_id,
            f"{why}: rolling back to deploymentId {going_back_to}.",
        )

    def emit_state(self, event_type: str, name: str, deployment_id: str, reason: str) -> None:
        """ "ECS Deployment State Change", as the Developer Guide's "Amazon ECS service deployment state change
        events" shows it: detail eventType, eventName, deploymentId, updatedAt, reason; resources = the service."""
        detail = {
            "eventType": event_type,
            "eventName": name,
            "deploymentId": deployment_id,
            "updatedAt": _event_time(self.updated_at),
            "reason": reason,
        }
        self.emit(self.account, self.region, "aws.ecs", "ECS Deployment State Change", detail, [self.service.arn])

    def _entry(self, entry_id: str | None) -> dict[str, Any] | None:
        return next((d for d in self.service.deployments if d["id"] == entry_id), None)

    # --- moves (API calls and the helpers) ---------------------------------------------------------------

    def stop(self, reason: str) -> None:
        with progress.held():
            self.status_reason = reason
            self.status = "STOPPED"

    def fail(self, reason: str) -> None:
        """The circuit breaker (or an alarm) failed it; with the breaker's rollback option, ECS rolls back."""
        with progress.held():
            self.status_reason = reason
            self.status = "FAILED"
            if self.configuration.get("deploymentCircuitBreaker", {}).get("rollback") and self.rollback_to:
                self.roll_back(reason, by_circuit_breaker=True)

    def roll_back(self, reason: str, by_circuit_breaker: bool = False) -> None:
        with progress.held():
            assert self.rollback_to is not None
            self.rolled_back_by_breaker = by_circuit_breaker
            self.rollback = {"reason": reason, "startedAt": utcnow(), "serviceRevisionArn": self.rollback_to.arn}
            self.status_reason = reason
            self.restart(list(ROLLBACK), "ROLLBACK_REQUESTED")

    @property
    def service_deployment_status(self) -> str:
        return SERVICE_DEPLOYMENT_STATUS.get(self.status, self.status)

    # --- what the API returns ----------------------------------------------------------------------------

    def _summary(self, revision: ServiceRevision, status: str) -> dict[str, Any]:
        """ServiceRevisionSummary: the revision's task counts (and, for a native strategy, its traffic)."""
        desired = int(self.service.desired_count or 0)
        is_target = revision is self.target
        serving = {
            "SUCCESSFUL": is_target,
            "ROLLBACK_SUCCESSFUL": revision is self.rollback_to,
        }.get(status)
        if serving is None:  # in flight (or stopped there): the sources run, the target is starting
            running, pending = (0, desired) if is_target else (desired, 0)
        else:
            running, pending = (desired if serving else 0), 0
        out: dict[str, Any] = {
            "arn": revision.arn,
            "requestedTaskCount": desired if (serving is None or serving) else 0,
            "runningTaskCount": running,
            "pendingTaskCount": pending,
        }
        if self.strategy in NATIVE:
            production, test = self._target_weights(status)
            out["requestedProductionTrafficWeight"] = production if is_target else 100.0 - production
            out["requestedTestTrafficWeight"] = test if is_target else 100.0 - test
        return out

    def _target_weights(self, status: str) -> tuple[float, float]:
        """The target's share of production and test traffic at the current lifecycle stage (Developer Guide,
        blue/green lifecycle stages; LINEAR shifts stepPercent per step, CANARY canaryPercent first)."""
        if status == "SUCCESSFUL":
            return 100.0, 100.0
        if status.startswith("ROLLBACK") or self.lifecycle_stage is None:
            return 0.0, 0.0
        stage = LIFECYCLE_STAGES.index(self.lifecycle_stage)
        test = 100.0 if stage >= LIFECYCLE_STAGES.index("TEST_TRAFFIC_SHIFT") else 0.0
        shift = LIFECYCLE_STAGES.index("PRODUCTION_TRAFFIC_SHIFT")
        if stage < shift:
            return 0.0, test
        if stage > shift:
            return 100.0, test
        if self.strategy == "LINEAR":
            return float(self.configuration["linearConfiguration"]["stepPercent"]), test
        if self.strategy == "CANARY":
            return float(self.configuration["canaryConfiguration"]["canaryPercent"]), test
        return 100.0, test

    def to_dict(self) -> dict[str, Any]:
        """ServiceDeployment (DescribeServiceDeployments)."""
        status = self.service_deployment_status
        out: dict[str, Any] = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.service.arn,
            "clusterArn": self.service.cluster_arn,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "updatedAt": self.updated_at,
            "sourceServiceRevisions": [self._summary(r, status) for r in self.sources],
            "targetServiceRevision": self._summary(self.target, status),
            "status": status,
            "deploymentConfiguration": self.configuration,
            "deploymentCircuitBreaker": {
                "status": self.breaker or "DISABLED",
                "failureCount": 0,
                "threshold": 3,  # "a minimum threshold of 3"
            },
        }
        alarms = self.configuration.get("alarms") or {}
        out["alarms"] = {
            "status": ("MONITORING_COMPLETE" if self.finished_at else "MONITORING")
            if alarms.get("enable")
            else "DISABLED",
            "alarmNames": list(alarms.get("alarmNames") or []),
            "triggeredAlarmNames": [],
        }
        for key, value in (
            ("finishedAt", self.finished_at),
            ("stoppedAt", self.stopped_at),
            ("statusReason", self.status_reason),
            ("lifecycleStage", self.lifecycle_stage),
            ("rollback", self.rollback),
        ):
            if value is not None:
                out[key] = value
        return out

    def brief(self) -> dict[str, Any]:
        """ServiceDeploymentBrief (ListServiceDeployments)."""
        out: dict[str, Any] = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": self.service.arn,
            "clusterArn": self.service.cluster_arn,
            "startedAt": self.started_at,
            "createdAt": self.created_at,
            "targetServiceRevisionArn": self.target.arn,
            "status": self.service_deployment_status,
        }
        if self.finished_at is not None:
            out["finishedAt"] = self.finished_at
        if self.status_reason is not None:
            out["statusReason"] = self.status_reason
        return out


# --- moto's ECS, extended ------------------------------------------------------------------------------

_originals: dict[str, Any] = {}


def _deploy(backend: EC2ContainerServiceBackend, service: Service, entry: dict[str, Any]) -> EcsDeployment:
    return EcsDeployment(backend, service, entry, ServiceRevision(backend, service))


def _create_service(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Service:
    with progress.held():
        service = _originals["create_service"](self, *args, **kwargs)
        if service.deployment_controller.get("type") == "ECS" and service.deployments:
            configuration = _requested.pop("create", None) or copy.deepcopy(DEFAULT_CONFIGURATION)
            service.deployment_configuration = configuration
            deployment = _deploy(self, service, service.deployments[0])
            if service.deployments[0].get("rolloutState") == "COMPLETED":  # moto's MOTO_ECS_SERVICE_RUNNING
                deployment.finish()
    return service


def _update_service(self: EC2ContainerServiceBackend, service_properties: dict[str, Any]) -> Any:
    cluster = service_properties.get("cluster") or "default"
    service = self._get_service(cluster, str(service_properties["service"]).split("/")[-1])
    configuration = None
    if service.deployment_controller.get("type") == "ECS":  # validated before anything changes
        configuration = deployment_configuration(
            service_properties.get("deployment_configuration"), getattr(service, "deployment_configuration", None)
        )
    before_td, before = service.task_definition, copy.deepcopy(service.deployments)
    updated = _originals["update_service"](self, service_properties)
    if configuration is None:
        return updated
    updated.deployment_configuration = configuration
    if updated.task_definition == before_td or not before:
        return updated
    now = utcnow()
    template = next((d for d in before if d["status"] == "PRIMARY"), before[0])
    new = dict(
        copy.deepcopy(template),
        id=f"ecs-svc/{mock_random.randint(0, 32**12)}",
        status="PRIMARY",
        taskDefinition=updated.task_definition,
        runningCount=0,
        pendingCount=updated.desired_count,
        failedTasks=0,
        createdAt=now,
        updatedAt=now,
    )
    new.update(rolloutState="IN_PROGRESS", rolloutStateReason=f"ECS deployment {new['id']} in progress.")
    with progress.held():
        previous = [dict(d, status="ACTIVE", updatedAt=now) for d in before]
        updated.deployments = [new, *previous][:MAX_DEPLOYMENTS]
        _deploy(self, updated, new)
    return updated


def _describe_services(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
    services, failures = _originals["describe_services"](self, *args, **kwargs)
    for service in services:
        refresh(service, described=True)
    return services, failures


def _delete_service(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Service:
    service = _originals["delete_service"](self, *args, **kwargs)
    # "When you delete a service, Amazon ECS deletes the service deployments."
    with progress.held():
        for deployment in _of_service(service):
            progress.REGISTRY.discard(deployment)
            _deployments(self).pop(deployment.arn, None)
        _of_service(service).clear()
    return service


def refresh(service: Service, described: bool = False) -> None:
    """Let the service's deployments progress (a describe call counts for "manual"), and set the fields
    DescribeServices returns about them: currentServiceDeployment and currentServiceRevisions."""
    deployments = _of_service(service)
    if not deployments:
        return
    with progress.held():
        for deployment in deployments:
            if not deployment.done:
                if described:
                    deployment.advance()
                deployment.status  # noqa: B018 - reading progresses it
        current = deployments[-1]
        status = current.service_deployment_status
        revisions = [current._summary(r, status) for r in [*current.sources, current.target]]
        service.current_service_deployment = current.arn
        service.current_service_revisions = [
            {k: r[k] for k in ("arn", "requestedTaskCount", "runningTaskCount", "pendingTaskCount")}
            for r in revisions
            if r["requestedTaskCount"] or r["runningTaskCount"] or r["pendingTaskCount"]
        ]


# --- the actions moto lacks -----------------------------------------------------------------------------


def list_service_deployments(
    backend: EC2ContainerServiceBackend,
    cluster: str,
    service_name: str,
    statuses: list[str] | None,
    created_at: dict[str, datetime] | None,
    max_results: int | None,
    next_token: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """ListServiceDeployments: newest first; ``status`` and ``createdAt`` filters; 1-100 results a page (20
    when maxResults is not given) with a nextToken while more remain."""
    service = backend._get_service(cluster, service_name)  # ClusterNotFoundException / ServiceNotFoundException
    if max_results is not None and not (1 <= int(max_results) <= MAX_LIST_RESULTS):
        raise InvalidParameterException(f"maxResults must be between 1 and {MAX_LIST_RESULTS}.")
    refresh(service)
    found = list(reversed(_of_service(service)))
    if statuses:
        found = [d for d in found if d.service_deployment_status in statuses]
    after, before = (created_at or {}).get("after"), (created_at or {}).get("before")
    if after is not None:
        found = [d for d in found if _aware(d.created_at) > _aware(after)]
    if before is not None:
        found = [d for d in found if _aware(d.created_at) < _aware(before)]
    start = 0
    if next_token:
        try:
            start = int(base64.urlsafe_b64decode(next_token.encode()).decode())
        except ValueError as exc:
            raise InvalidParameterException("The nextToken is not valid.") from exc
    size = int(max_results or DEFAULT_LIST_RESULTS)
    page = found[start : start + size]
    more = start + size < len(found)
    token = base64.urlsafe_b64encode(str(start + size).encode()).decode() if more else None
    return [d.brief() for d in page], token


def _too_many(arns: list[str], what: str) -> None:
    if not arns:
        raise InvalidParameterException(f"{what} can not be empty.")
    if len(arns) > MAX_DESCRIBE_ARNS:
        raise InvalidParameterException(f"You can specify a maximum of {MAX_DESCRIBE_ARNS} {what}.")


def describe_service_deployments(
    backend: EC2ContainerServiceBackend, arns: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    _too_many(arns, "serviceDeploymentArns")
    found, failures = [], []
    for arn in arns:
        deployment = _deployments(backend).get(arn)
        if deployment is None:
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        with progress.held():
            if not deployment.done:
                deployment.advance()
            found.append(deployment.to_dict())
    return found, failures


def describe_service_revisions(
    backend: EC2ContainerServiceBackend, arns: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    _too_many(arns, "serviceRevisionArns")
    found, failures = [], []
    for arn in arns:
        revision = _revisions(backend).get(arn)
        if revision is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(revision.to_dict())
    return found, failures


def stop_service_deployment(backend: EC2ContainerServiceBackend, arn: str, stop_type: str | None) -> str:
    """StopServiceDeployment: "The valid values are ROLLBACK" (the API's enum also names ABORT, which the
    reference does not describe); PENDING and IN_PROGRESS go to ROLLBACK_REQUESTED, a stop or rollback under way
    continues, a finished deployment cannot be stopped."""
    if (stop_type or "ROLLBACK") != "ROLLBACK":
        raise InvalidParameterException(f"Invalid stopType {stop_type}. The valid values are ROLLBACK.")
    deployment = _deployments(backend).get(arn)
    if deployment is None:
        raise ServiceDeploymentNotFoundException(
            f"The service deployment {arn} does not exist. You can use ListServiceDeployments to retrieve the "
            "service deployment ARNs."
        )
    with progress.held():
        status = deployment.service_deployment_status
        if status in CONTINUES:
            return arn
        if status not in ROLLS_BACK:
            raise ConflictException(f"The service deployment {arn} is {status} and cannot be stopped.")
        if deployment.rollback_to is None:
            raise ConflictException(f"The service deployment {arn} has no previous service revision to roll back to.")
        deployment.roll_back("Service deployment rolled back by StopServiceDeployment.")
    return arn


# --- what ECS's scheduler would do (tests and the demo play it) -------------------------------------------


def _service(account: str, region: str, cluster: str, service: str) -> Any:
    return ecs_backends[account][region]._get_service(cluster, service)


def current_deployment(account: str, region: str, cluster: str, service: str) -> EcsDeployment | None:
    """The service's newest service deployment."""
    deployments = _of_service(_service(account, region, cluster, service))
    return deployments[-1] if deployments else None


def complete_rollout(account: str, region: str, cluster: str, service: str) -> None:
    """The deployment in flight reaches a steady state now (a rollback in flight finishes too)."""
    svc = _service(account, region, cluster, service)
    deployment = current_deployment(account, region, cluster, service)
    if deployment is not None:
        deployment.finish()
        return
    primary = svc.deployments[0]  # a deployment from before the emulator tracked them
    primary.update(
        rolloutState="COMPLETED",
        rolloutStateReason=f"ECS deployment {primary['id']} completed.",
        runningCount=svc.desired_count,
        pendingCount=0,
        updatedAt=utcnow(),
    )
    svc.deployments = [primary]


def fail_rollout(account: str, region: str, cluster: str, service: str, reason: str) -> None:
    """The circuit breaker fails the deployment in flight: rolloutState FAILED, SERVICE_DEPLOYMENT_FAILED on
    the bus, and a rollback when the breaker's rollback option is on."""
    deployment = current_deployment(account, region, cluster, service)
    if deployment is not None:
        deployment.fail(reason)
        return
    svc = _service(account, region, cluster, service)
    svc.deployments[0].update(rolloutState="FAILED", rolloutStateReason=reason, updatedAt=utcnow())


def set_lifecycle_stage(account: str, region: str, cluster: str, service: str, stage: str) -> None:
    """Move a native (BLUE_GREEN, LINEAR, CANARY) deployment in flight to a lifecycle stage."""
    if stage not in LIFECYCLE_STAGES:
        raise ValueError(f"{stage} is not one of {', '.join(LIFECYCLE_STAGES)}")
    deployment = current_deployment(account, region, cluster, service)
    if deployment is None or deployment.lifecycle_stage is None:
        raise ValueError(f"service {cluster}/{service} has no native deployment")
    with progress.held():
        deployment.lifecycle_stage = stage
        deployment.updated_at = utcnow()


# --- wiring ---------------------------------------------------------------------------------------------

_requested: dict[str, dict[str, Any]] = {}


def _create_service_response(self: EC2ContainerServiceResponse) -> Any:
    """CreateService's deploymentConfiguration, validated before the service exists (moto ignored it)."""
    controller = (self._get_param("deploymentController") or {}).get("type", "ECS")
    if controller == "ECS":
        with progress.held():
            _requested["create"] = deployment_configuration(self._get_param("deploymentConfiguration"), None)
            try:
                return _originals["create_service_response"](self)
            finally:
                _requested.pop("create", None)
    return _originals["create_service_response"](self)


def _list_response(self: EC2ContainerServiceResponse) -> ActionResult:
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListServiceDeployments.html
    found, token = list_service_deployments(
        self.ecs_backend,
        self._get_param("cluster") or "default",
        self._get_param("service"),
        self._get_param("status"),
        self._get_param("createdAt"),
        self._get_param("maxResults"),
        self._get_param("nextToken"),
    )
    result: dict[str, Any] = {"serviceDeployments": found}
    if token:
        result["nextToken"] = token
    return ActionResult(result)


def _describe_deployments_response(self: EC2ContainerServiceResponse) -> ActionResult:
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServiceDeployments.html
    found, failures = describe_service_deployments(self.ecs_backend, self._get_param("serviceDeploymentArns") or [])
    return ActionResult({"serviceDeployments": found, "failures": failures})


def _describe_revisions_response(self: EC2ContainerServiceResponse) -> ActionResult:
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServiceRevisions.html
    found, failures = describe_service_revisions(self.ecs_backend, self._get_param("serviceRevisionArns") or [])
    return ActionResult({"serviceRevisions": found, "failures": failures})


def _stop_response(self: EC2ContainerServiceResponse) -> ActionResult:
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopServiceDeployment.html
    arn = stop_service_deployment(
        self.ecs_backend, self._get_param("serviceDeploymentArn"), self._get_param("stopType")
    )
    return ActionResult({"serviceDeploymentArn": arn})


def install() -> None:
    _originals["create_service"] = EC2ContainerServiceBackend.create_service
    _originals["update_service"] = EC2ContainerServiceBackend.update_service
    _originals["describe_services"] = EC2ContainerServiceBackend.describe_services
    _originals["delete_service"] = EC2ContainerServiceBackend.delete_service
    _originals["create_service_response"] = EC2ContainerServiceResponse.create_service
    EC2ContainerServiceBackend.create_service = _create_service  # type: ignore[method-assign]
    EC2ContainerServiceBackend.update_service = _update_service  # type: ignore[method-assign]
    EC2ContainerServiceBackend.describe_services = _describe_services  # type: ignore[method-assign]
    EC2ContainerServiceBackend.delete_service = _delete_service  # type: ignore[method-assign]
    EC2ContainerServiceResponse.create_service = _create_service_response  # type: ignore[method-assign]
    EC2ContainerServiceResponse.list_service_deployments = _list_response  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.describe_service_deployments = _describe_deployments_response  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.describe_service_revisions = _describe_revisions_response  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.stop_service_deployment = _stop_response  # type: ignore[attr-defined]
