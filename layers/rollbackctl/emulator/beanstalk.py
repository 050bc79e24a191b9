"""Elastic Beanstalk application versions and environment updates as AWS documents them, where moto stops short.

moto 5.2.5 keeps applications and environments only: every environment is Ready on "version" 1, DescribeEnvironments
ignores its filters, and there are no application versions, updates or events. Here, as the Elastic Beanstalk API
Reference and Developer Guide describe them:

- **Application versions** (CreateApplicationVersion, DescribeApplicationVersions, DeleteApplicationVersion), with
  ``ApplicationVersionArn``, ``SourceBundle`` and ``Status`` (Unprocessed, Processed, Failed, ...). Deleting one does
  not touch an environment running it ("Deleting an application version doesn't affect environments currently
  running that version", Developer Guide, "Managing application versions").
- **Environments** carry ``EnvironmentId``, ``VersionLabel``, ``Status`` (Launching, Updating, Ready, Terminating,
  Terminated), ``Health`` (Green, Yellow, Red, Grey), ``HealthStatus`` and ``AbortableOperationInProgress``;
  DescribeEnvironments applies its filters.
- **Operations that take time** (``progress.py``, model ``elasticbeanstalk::environment``): CreateEnvironment
  launches (Launching -> Ready), UpdateEnvironment deploys a version or a configuration (Updating -> Ready).
  UpdateEnvironment answers at once with the requested ``VersionLabel`` and ``Status`` Updating (the API
  Reference's example "To update an environment to a new version"); the new version is live, and health follows it,
  only when the update reaches Ready. At each final status the environment's events are written (DescribeEvents)
  and "Elastic Beanstalk resource status change" goes on the default bus, in the shape of the Developer Guide's
  "Using Elastic Beanstalk with Amazon EventBridge" (Status, EventDate, ApplicationName, Message, EnvironmentName,
  Severity; resources = the environment ARN), "... started" when an operation begins.
- **AbortEnvironmentUpdate** "cancels in-progress environment configuration update or application version
  deployment". For an application version deployment, "canceling the deployment simply stops the deployment; some
  instances will have the new application version and others will continue to run the existing application
  version" (Developer Guide, "Canceling environment configuration updates and application deployments"): the
  environment returns to Ready without the new version being live; the update ends "failed". What VersionLabel reads
  after an abort is not documented: it stays the label that was requested.
- **Errors** as AWS answers them (InvalidParameterValue, 400): UpdateEnvironment when the environment is not Ready,
  "Environment named X is in an invalid state for this operation. Must be Ready." (seen by users of
  einaregilsson/beanstalk-deploy#19, meteor-up/mup-aws-beanstalk#80, hashicorp/terraform-provider-aws#32284);
  "No Application Version named 'X' found." (einaregilsson/beanstalk-deploy#58); "No Environment found for
  EnvironmentName = 'X'." (boto/boto#3765); "No Application named 'X' found." (awsdocs/aws-elastic-beanstalk-
  developer-guide#100). A release and a configuration change in one UpdateEnvironment: InvalidParameterCombination
  (API Reference, UpdateEnvironment).
- **DescribeEvents** (newest first; Severity "or higher"; StartTime, EndTime, MaxRecords; events carry no RequestId:
  moto's serializer takes a member of that name for the response's own) and
  **DescribeEnvironmentHealth** (HealthStatus, Status, Color, Causes).

``finish``, ``fail_update`` and ``report_health`` play what Elastic Beanstalk's own workflow would do, for tests and
the demo; the same side effects and events follow.
"""

from __future__ import annotations

import copy
import json
import string
from datetime import UTC, datetime
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.elasticbeanstalk.exceptions import InvalidParameterValueError
from moto.elasticbeanstalk.models import Application, EBBackend, Environment, eb_backends
from moto.elasticbeanstalk.responses import EBResponse
from moto.moto_api._internal import mock_random

from . import progress

MODEL = "elasticbeanstalk::environment"
SOURCE, RESOURCE_STATUS = "aws.elasticbeanstalk", "Elastic Beanstalk resource status change"
HEALTH_STATUS = "Health status change"
# DescribeEvents' Severity: "restricts the returned descriptions to ... the specified severity or higher".
SEVERITIES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
# DescribeEnvironmentHealth's Color for each HealthStatus (Developer Guide, "Health colors and statuses").
COLORS = {
    "NoData": "Grey",
    "Unknown": "Grey",
    "Pending": "Grey",
    "Ok": "Green",
    "Info": "Green",
    "Warning": "Yellow",
    "Degraded": "Red",
    "Severe": "Red",
    "Suspended": "Grey",
}
# The emulator's words for what the Developer Guide says an aborted application deployment leaves.
ABORTED = (
    "The environment update was aborted: some instances may run the new application version, others the previous one."
)
VERSION_STATUSES = ("Processed", "Unprocessed", "Failed", "Processing", "Building")
MAX_EVENTS = 1000


class InvalidParameterCombination(ServiceException):
    code = "InvalidParameterCombination"


class MissingRequiredParameter(ServiceException):
    code = "MissingRequiredParameter"


# --- the store: on moto's backend and environments (so a reset clears it) -----------------------------------


def _versions(backend: EBBackend) -> dict[tuple[str, str], dict[str, Any]]:
    if not hasattr(backend, "rollbackctl_versions"):
        backend.rollbackctl_versions = {}
    return backend.rollbackctl_versions  # type: ignore[no-any-return]


def _events(backend: EBBackend) -> list[dict[str, Any]]:
    if not hasattr(backend, "rollbackctl_events"):
        backend.rollbackctl_events = []
    return backend.rollbackctl_events  # type: ignore[no-any-return]


def _backend_of(env: Environment) -> EBBackend:
    return eb_backends[env.application.account_id][env.region]


def _prepare(env: Environment) -> None:
    """The fields moto's Environment lacks or hard-codes (VersionLabel 1, EnvironmentId "", always Ready)."""
    if getattr(env, "rollbackctl_ready", False):
        return
    env.environment_id = "e-" + "".join(mock_random.choice(string.ascii_lowercase + string.digits) for _ in range(10))
    env.version_label = None
    env.description = ""
    env.status = "Ready"
    env.health, env.health_status, env.causes = "Grey", "NoData", []
    env.abortable_operation_in_progress = False
    env.operation = None
    env.rollbackctl_ready = True


def _time(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def describe(env: Environment) -> dict[str, Any]:
    """EnvironmentDescription."""
    out: dict[str, Any] = {
        "EnvironmentName": env.environment_name,
        "EnvironmentId": env.environment_id,
        "ApplicationName": env.application_name,
        "SolutionStackName": env.solution_stack_name,
        "Description": env.description,
        "EndpointURL": f"awseb-{env.environment_id}.{env.region}.elb.amazonaws.com",
        "CNAME": f"{env.environment_name}.{env.region}.elasticbeanstalk.com",
        "DateCreated": _time(env.date_created),
        "DateUpdated": _time(env.date_updated),
        "Status": env.status,
        "AbortableOperationInProgress": env.abortable_operation_in_progress,
        "Health": env.health,
        "HealthStatus": env.health_status,
        "Tier": env.tier,
        "EnvironmentArn": env.environment_arn,
    }
    if env.version_label:
        out["VersionLabel"] = env.version_label
    return out


def record_event(env: Environment, severity: str, message: str, version: str | None = None) -> None:
    """An EventDescription, as DescribeEvents returns it."""
    event: dict[str, Any] = {
        "EventDate": utcnow().replace(tzinfo=UTC),
        "Message": message,
        "ApplicationName": env.application_name,
        "EnvironmentName": env.environment_name,
        "Severity": severity,
    }
    if version:
        event["VersionLabel"] = version
    _events(_backend_of(env)).append(event)


def _status_change(env: Environment, status: str, severity: str, message: str, detail_type: str = "") -> None:
    """ "Elastic Beanstalk resource status change" (or "Health status change") on the default bus."""
    detail = {
        "Status": status,
        "EventDate": int(utcnow().replace(tzinfo=UTC).timestamp() * 1000),
        "ApplicationName": env.application_name,
        "Message": message,
        "EnvironmentName": env.environment_name,
        "Severity": severity,
    }
    if env.operation is not None:
        env.operation.emit(
            env.application.account_id,
            env.region,
            SOURCE,
            detail_type or RESOURCE_STATUS,
            detail,
            [env.environment_arn],
        )
        return
    from moto.events.models import events_backends

    events_backends[env.application.account_id][env.region].put_events(
        [
            {
                "Source": SOURCE,
                "DetailType": detail_type or RESOURCE_STATUS,
                "Detail": json.dumps(detail),
                "Resources": [env.environment_arn],
            }
        ]
    )


def _set_health(env: Environment, health_status: str, causes: list[str]) -> None:
    env.health_status, env.health, env.causes = health_status, COLORS.get(health_status, "Grey"), list(causes)


# --- the operation ----------------------------------------------------------------------------------------


class EnvironmentOperation(progress.Operation):
    """One environment launch or update: the environment is Launching / Updating until it reaches Ready."""

    MODEL = MODEL

    def __init__(self, env: Environment, action: str, version: str | None, previous: str | None) -> None:
        start = "Launching" if action == "create" else "Updating"
        super().__init__([(start, "Ready")])
        self.env, self.action, self.version, self.previous = env, action, version, previous
        self.outcome = "succeeded"  # or "failed" (fail_update), "aborted" (AbortEnvironmentUpdate)
        self.failure: list[str] = []
        with progress.held():
            env.status = start
            env.abortable_operation_in_progress = action == "update"
            env.date_updated = utcnow()
            env.operation = self
            if action == "create":
                record_event(env, "INFO", "createEnvironment is starting.")
                _status_change(env, "Environment creation started", "INFO", "createEnvironment is starting.")
            else:
                record_event(env, "INFO", "Environment update is starting.")
                _status_change(env, "Environment update started", "INFO", "Environment update is starting.")
            self.track()

    def on_status(self, old: str, new: str) -> None:
        if new != "Ready":
            return
        env = self.env
        env.status = "Ready"
        env.abortable_operation_in_progress = False
        env.date_updated = utcnow()
        if self.action == "create":
            _set_health(env, "Ok", [])
            record_event(env, "INFO", "createEnvironment completed successfully.")
            _status_change(env, "Environment creation successful", "INFO", "createEnvironment completed successfully.")
            return
        if self.outcome == "succeeded":
            if self.version:
                _set_health(env, "Ok", [])
                record_event(env, "INFO", "New application version was deployed to running EC2 instances.")
            record_event(env, "INFO", "Environment update completed successfully.")
            _status_change(env, "Environment update successful", "INFO", "Environment update completed successfully.")
            return
        if self.outcome == "aborted":
            _set_health(env, "Warning", [ABORTED])
            record_event(env, "WARN", ABORTED, self.version)
        else:
            for message in self.failure:
                record_event(env, "ERROR", message, self.version)
            record_event(env, "ERROR", "Failed to deploy application.", self.version)
        # The Developer Guide's field mapping: an update that did not succeed is "Environment update failed".
        _status_change(env, "Environment update failed", "ERROR", "Failed to deploy configuration.")

    def abort(self) -> None:
        """The deployment stops where it is; Elastic Beanstalk returns the environment to Ready (this model's pace)."""
        with progress.held():
            self.outcome = "aborted"
            self.env.abortable_operation_in_progress = False
            record_event(self.env, "WARN", "Abort of the environment update is in progress.")
            self._restart_clock()

    def fail(self, messages: list[str]) -> None:
        with progress.held():
            self.outcome, self.failure = "failed", list(messages)
            _set_health(self.env, "Severe", [m for m in messages if m])
            self.finish()


# --- the calls moto lacks ---------------------------------------------------------------------------------


def _application(backend: EBBackend, name: str) -> Application:
    application = backend.applications.get(name)
    if application is None:
        raise InvalidParameterValueError(f"No Application named '{name}' found.")
    return application


def _environments(backend: EBBackend) -> list[Environment]:
    found = [env for app in backend.applications.values() for env in app.environments.values()]
    for env in found:
        _prepare(env)
    return found


def _find(backend: EBBackend, name: str | None, environment_id: str | None) -> Environment:
    if not name and not environment_id:
        raise MissingRequiredParameter("You must specify either EnvironmentId or EnvironmentName.")
    for env in _environments(backend):
        named = (name and env.environment_name == name) or (environment_id and env.environment_id == environment_id)
        if named and env.status != "Terminated":
            return env
    what = f"EnvironmentName = '{name}'" if name else f"EnvironmentId = '{environment_id}'"
    raise InvalidParameterValueError(f"No Environment found for {what}.")


def _version(backend: EBBackend, application: str, label: str) -> dict[str, Any]:
    version = _versions(backend).get((application, label))
    if version is None:
        raise InvalidParameterValueError(f"No Application Version named '{label}' found.")
    return version


def progress_of(env: Environment, described: bool) -> None:
    """Let the environment's operation move (a describe call counts for "manual")."""
    operation = env.operation
    if operation is None or operation.done:
        return
    with progress.held():
        if described:
            operation.advance()
        operation.status  # noqa: B018 - reading progresses it


def launch_environment(backend: EBBackend, params: dict[str, Any]) -> Environment:
    """CreateEnvironment: with a VersionLabel the version must exist; the environment launches."""
    application = _application(backend, params.get("ApplicationName", ""))
    version = params.get("VersionLabel")
    if version:
        _version(backend, application.application_name, version)
    tags = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
    env = backend.create_environment(
        application, environment_name=params["EnvironmentName"], stack_name=params.get("SolutionStackName"), tags=tags
    )
    _prepare(env)
    env.version_label = version
    env.description = params.get("Description") or ""
    env.solution_stack_name = params.get("SolutionStackName") or env.solution_stack_name
    EnvironmentOperation(env, "create", version, None)
    return env


def update_environment(backend: EBBackend, params: dict[str, Any]) -> Environment:
    """UpdateEnvironment: deploy a version (or a configuration) to a Ready environment."""
    env = _find(backend, params.get("EnvironmentName"), params.get("EnvironmentId"))
    version = params.get("VersionLabel")
    configuration = any(params.get(k) for k in ("OptionSettings", "OptionsToRemove", "TemplateName"))
    if version and configuration:
        raise InvalidParameterCombination("Attempting to update both the release and configuration is not allowed.")
    if version:
        _version(backend, env.application_name, version)
    if env.status != "Ready":
        raise InvalidParameterValueError(
            f"Environment named {env.environment_name} is in an invalid state for this operation. Must be Ready."
        )
    with progress.held():
        previous = env.version_label
        if params.get("Description") is not None:
            env.description = params["Description"]
        if version:
            env.version_label = version
            env.health = "Grey"  # while it deploys, as the API Reference's example shows
        EnvironmentOperation(env, "update", version, previous)
    return env


def abort_environment_update(backend: EBBackend, params: dict[str, Any]) -> None:
    """AbortEnvironmentUpdate: only an update still in progress (and not in its clean-up) can be cancelled."""
    env = _find(backend, params.get("EnvironmentName"), params.get("EnvironmentId"))
    operation = env.operation
    with progress.held():
        if operation is None or operation.done or not env.abortable_operation_in_progress:
            # The API Reference documents no message for this; the wording is the emulator's.
            raise InvalidParameterValueError(
                f"Environment named {env.environment_name} has no abortable operation in progress."
            )
        operation.abort()


def create_application_version(backend: EBBackend, params: dict[str, Any]) -> dict[str, Any]:
    name, label = params.get("ApplicationName", ""), params.get("VersionLabel", "")
    if name not in backend.applications and str(params.get("AutoCreateApplication")).lower() == "true":
        backend.create_application(name)
    _application(backend, name)
    if (name, label) in _versions(backend):
        raise InvalidParameterValueError(f"Application Version {label} already exists.")
    now = utcnow().replace(tzinfo=UTC)
    version: dict[str, Any] = {
        "ApplicationVersionArn": f"arn:aws:elasticbeanstalk:{backend.region_name}:{backend.account_id}:"
        f"applicationversion/{name}/{label}",
        "ApplicationName": name,
        "Description": params.get("Description") or "",
        "VersionLabel": label,
        "DateCreated": now,
        "DateUpdated": now,
        # "Unprocessed - Application version wasn't pre-processed or validated" unless Process is true
        "Status": "Processed" if str(params.get("Process")).lower() == "true" else "Unprocessed",
    }
    if params.get("SourceBundle"):
        version["SourceBundle"] = dict(params["SourceBundle"])
    _versions(backend)[(name, label)] = version
    return version


def describe_application_versions(backend: EBBackend, params: dict[str, Any]) -> list[dict[str, Any]]:
    name, labels = params.get("ApplicationName"), params.get("VersionLabels") or []
    found = [
        copy.deepcopy(v)
        for (app, label), v in _versions(backend).items()
        if (not name or app == name) and (not labels or label in labels)
    ]
    return sorted(found, key=lambda v: v["DateCreated"], reverse=True)


def delete_application_version(backend: EBBackend, params: dict[str, Any]) -> None:
    name, label = params.get("ApplicationName", ""), params.get("VersionLabel", "")
    _application(backend, name)
    _version(backend, name, label)
    del _versions(backend)[(name, label)]


def describe_events(backend: EBBackend, params: dict[str, Any]) -> list[dict[str, Any]]:
    environment = params.get("EnvironmentName")
    if params.get("EnvironmentId"):
        environment = _find(backend, None, params["EnvironmentId"]).environment_name
    floor = SEVERITIES.index(params["Severity"]) if params.get("Severity") in SEVERITIES else 0
    start, end = params.get("StartTime"), params.get("EndTime")
    found = []
    for event in reversed(_events(backend)):
        if params.get("ApplicationName") and event["ApplicationName"] != params["ApplicationName"]:
            continue
        if environment and event["EnvironmentName"] != environment:
            continue
        if params.get("VersionLabel") and event.get("VersionLabel") != params["VersionLabel"]:
            continue
        if SEVERITIES.index(event["Severity"]) < floor:
            continue
        if start is not None and event["EventDate"] < _time(start):
            continue
        if end is not None and event["EventDate"] >= _time(end):  # "up to, but not including, the EndTime"
            continue
        found.append(dict(event))
    return found[: int(params.get("MaxRecords") or MAX_EVENTS)]


def describe_environment_health(backend: EBBackend, params: dict[str, Any]) -> dict[str, Any]:
    env = _find(backend, params.get("EnvironmentName"), params.get("EnvironmentId"))
    progress_of(env, described=True)
    return {
        "EnvironmentName": env.environment_name,
        "HealthStatus": env.health_status,
        "Status": env.status,
        "Color": env.health,
        "Causes": list(env.causes),
        "RefreshedAt": utcnow().replace(tzinfo=UTC),
    }


def describe_environments(backend: EBBackend, params: dict[str, Any]) -> list[dict[str, Any]]:
    names, ids = params.get("EnvironmentNames") or [], params.get("EnvironmentIds") or []
    found = []
    for env in _environments(backend):
        if params.get("ApplicationName") and env.application_name != params["ApplicationName"]:
            continue
        if names and env.environment_name not in names:
            continue
        if ids and env.environment_id not in ids:
            continue
        if params.get("VersionLabel") and env.version_label != params["VersionLabel"]:
            continue
        progress_of(env, described=True)
        found.append(describe(env))
    return found


# --- what Elastic Beanstalk's own workflow does (tests and the demo play it) --------------------------------


def environment(account: str, region: str, name: str) -> Environment:
    return _find(eb_backends[account][region], name, None)


def finish(account: str, region: str, name: str) -> None:
    """The operation in flight on the environment reaches Ready now (an abort under way finishes too)."""
    env = environment(account, region, name)
    if env.operation is not None and not env.operation.done:
        env.operation.finish()


def fail_update(account: str, region: str, name: str, messages: list[str]) -> None:
    """The update in flight fails on the instances (``messages`` are the ERROR events Elastic Beanstalk writes)."""
    env = environment(account, region, name)
    if env.operation is None or env.operation.done:
        raise ValueError(f"environment {name} has no update in flight")
    env.operation.fail(messages)


def report_health(account: str, region: str, name: str, health_status: str, causes: list[str]) -> None:
    """Enhanced health sees the environment go to ``health_status`` for ``causes`` (a version that deployed but
    fails its requests): the WARN event Elastic Beanstalk writes and "Health status change" on the bus."""
    env = environment(account, region, name)
    with progress.held():
        before = env.health_status
        _set_health(env, health_status, causes)
        message = f"Environment health has transitioned from {before} to {health_status}. {' '.join(causes)}".strip()
        record_event(env, "WARN" if COLORS.get(health_status) != "Green" else "INFO", message)
        _status_change(env, "Environment health changed", "INFO", message, HEALTH_STATUS)


def mark_version(account: str, region: str, application: str, label: str, status: str) -> None:
    """An application version's processing ended ``status`` (Failed: "the AWS CodeBuild build failed or
    configuration files didn't pass validation. This application version isn't usable")."""
    if status not in VERSION_STATUSES:
        raise ValueError(f"{status} is not one of {', '.join(VERSION_STATUSES)}")
    _version(eb_backends[account][region], application, label)["Status"] = status


# --- wiring -----------------------------------------------------------------------------------------------


def _params(self: EBResponse) -> dict[str, Any]:
    return dict(self._get_params())


def _create_environment_response(self: EBResponse) -> ActionResult:
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/api/API_CreateEnvironment.html
    return ActionResult(describe(self.elasticbeanstalk_backend.launch_environment(_params(self))))


def _update_environment_response(self: EBResponse) -> ActionResult:
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/api/API_UpdateEnvironment.html
    return ActionResult(describe(self.elasticbeanstalk_backend.update_environment(_params(self))))


def _abort_response(self: EBResponse) -> EmptyResult:
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/api/API_AbortEnvironmentUpdate.html
    abort_environment_update(self.elasticbeanstalk_backend, _params(self))
    return EmptyResult()


def _describe_environments_response(self: EBResponse) -> ActionResult:
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/api/API_DescribeEnvironments.html
    return ActionResult({"Environments": describe_environments(self.elasticbeanstalk_backend, _params(self))})


def _create_version_response(self: EBResponse) -> ActionResult:
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/api/API_CreateApplicationVersion.html
    return ActionResult(
        {"ApplicationVersion": create_application_version(self.elasticbeanstalk_backend, _params(self))}
    )


def _describe_versions_response(self: EBResponse) -> ActionResult:
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/api/API_DescribeApplicationVersions.html
    found = describe_application_versions(self.elasticbeanstalk_backend, _params(self))
    return ActionResult({"ApplicationVersions": found})


def _delete_version_response(self: EBResponse) -> EmptyResult:
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/api/API_DeleteApplicationVersion.html
    delete_application_version(self.elasticbeanstalk_backend, _params(self))
    return EmptyResult()


def _describe_events_response(self: EBResponse) -> ActionResult:
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/api/API_DescribeEvents.html
    return ActionResult({"Events": describe_events(self.elasticbeanstalk_backend, _params(self))})


def _health_response(self: EBResponse) -> ActionResult:
    # https://docs.aws.amazon.com/elasticbeanstalk/latest/api/API_DescribeEnvironmentHealth.html
    return ActionResult(describe_environment_health(self.elasticbeanstalk_backend, _params(self)))


def _launch(self: EBBackend, params: dict[str, Any]) -> Environment:
    return launch_environment(self, params)


def _update(self: EBBackend, params: dict[str, Any]) -> Environment:
    return update_environment(self, params)


def install() -> None:
    """Before cloudtrail.install, which records the CreateEnvironment and UpdateEnvironment calls."""
    EBBackend.launch_environment = _launch  # type: ignore[attr-defined]
    EBBackend.update_environment = _update  # type: ignore[attr-defined]
    EBResponse.create_environment = _create_environment_response  # type: ignore[method-assign]
    EBResponse.describe_environments = _describe_environments_response  # type: ignore[method-assign]
    EBResponse.update_environment = _update_environment_response  # type: ignore[attr-defined]
    EBResponse.abort_environment_update = _abort_response  # type: ignore[attr-defined]
    EBResponse.create_application_version = _create_version_response  # type: ignore[attr-defined]
    EBResponse.describe_application_versions = _describe_versions_response  # type: ignore[attr-defined]
    EBResponse.delete_application_version = _delete_version_response  # type: ignore[attr-defined]
    EBResponse.describe_events = _describe_events_response  # type: ignore[attr-defined]
    EBResponse.describe_environment_health = _health_response  # type: ignore[attr-defined]
