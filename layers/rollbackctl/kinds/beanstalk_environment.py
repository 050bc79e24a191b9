"""Target kind: an Elastic Beanstalk environment (``arn:aws:elasticbeanstalk:REGION:ACCOUNT:environment/APP/ENV``).

Known-good (DESIGN.md): the previous version label that was good, by the rules of an alias moved at once: the
ledger (a label is good when its deployment succeeded, "Environment update successful", or when it served past the
watch window). Never guessed: with none, refused. Versions are Beanstalk version labels. Restorable: the
application version still exists and is not ``Failed`` (nor still being processed).

How it goes back, from the API Reference and the Developer Guide:
- the environment is Ready (the bad version finished deploying): ``UpdateEnvironment(VersionLabel=known-good)``,
  read back until the environment is Ready on the known-good label.
- an update is in flight (Updating): UpdateEnvironment is refused until the environment is Ready ("Environment
  named X is in an invalid state for this operation. Must be Ready."), so the change has two steps. First
  ``AbortEnvironmentUpdate``: it stops the deployment where it is, so no further batch of instances gets the bad
  version, and brings the environment back to Ready sooner than waiting would. Waiting for the update to end lets it
  reach every instance. The abort is not the way back by itself: "for application version deployments, canceling
  the deployment simply stops the deployment; some instances will have the new application version and others will
  continue to run the existing application version" (Developer Guide, "Canceling environment configuration updates
  and application deployments"). So once the environment is Ready, the second step deploys the known-good version
  (``UpdateEnvironment``) to every instance. An update that can no longer be aborted (``AbortableOperationInProgress``
  false: "during the cleanup phase ... you can no longer cancel the update") is waited for, then the same second
  step follows.
The workflow runs the second step when the read-back says ``next``, after checking the kill switch again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from ..aws import AWS_ERRORS, Clients, error_code
from ..model import Incident, Plan, parse_time
from ..store import Ledger
from .base import AlreadyGoingBack, Checked, ReadBack, Refusal, RestoreIncomplete, Seen, Target

ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):elasticbeanstalk:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):environment/"
    r"(?P<application>[^/\x00-\x1f]{1,100})/(?P<environment>[A-Za-z0-9-]{4,40})$"
)
NAMESPACE = "AWS/ElasticBeanstalk"
UPDATE = "beanstalk-update"  # UpdateEnvironment to the known-good label
ABORT = "beanstalk-abort"  # AbortEnvironmentUpdate, then UpdateEnvironment once Ready
WAIT = "beanstalk-wait"  # an update that can no longer be aborted: wait for it, then UpdateEnvironment
# ApplicationVersionDescription.Status values a version can be deployed from ("Failed ... This application version
# isn't usable"; Processing and Building are not finished).
DEPLOYABLE = ("Processed", "Unprocessed")
# The "Elastic Beanstalk resource status change" Status of an operation that completed (Developer Guide, "Elastic
# Beanstalk event field mapping").
SUCCEEDED = ("Environment update successful", "Environment creation successful")
# How far the environment's DateUpdated may lie after the status-change event's EventDate for the event still to be
# about the environment's current state (an update takes minutes; the two clocks are not one).
SETTLE_SECONDS = 1.0
EVIDENCE_EVENTS = 10
DEPLOYMENT_STARTS = ("Environment update is starting.", "createEnvironment is starting.")


class BeanstalkEnvironment:
    name = "beanstalk-environment"
    label = "an Elastic Beanstalk environment ARN (arn:aws:elasticbeanstalk:REGION:ACCOUNT:environment/APP/ENV)"
    gone = frozenset({"ResourceNotFoundException"})  # ListTagsForResource of an environment that does not exist
    # UpdateEnvironment / AbortEnvironmentUpdate answer InvalidParameterValue when the environment is no longer in the
    # state triage read (not Ready any more, or gone): read it again and decide again.
    conflict = frozenset({"InvalidParameterValue"})
    poll_seconds = 5  # read back often: restored_at is when the read-back saw the update finish
    read_actions = frozenset(
        {
            "elasticbeanstalk:DescribeEnvironments",
            "elasticbeanstalk:ListTagsForResource",
            "elasticbeanstalk:DescribeApplicationVersions",
        }
    )
    write_actions = frozenset({"elasticbeanstalk:UpdateEnvironment", "elasticbeanstalk:AbortEnvironmentUpdate"})
    # Elastic Beanstalk deploys a version with its caller's permissions (Developer Guide, "Elastic Beanstalk user
    # policy"), on what it created itself: the environment's stack, its Auto Scaling group, its storage bucket.
    delegated_actions = frozenset(
        {
            "cloudformation:DescribeStacks",
            "cloudformation:DescribeStackResource",
            "cloudformation:DescribeStackResources",
            "cloudformation:GetTemplate",
            "cloudformation:UpdateStack",
            "autoscaling:SuspendProcesses",
            "autoscaling:ResumeProcesses",
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeScalingActivities",
            "ec2:DescribeInstances",
            "s3:GetObject",
            "s3:PutObject",
        }
    )
    trail_events = frozenset({"UpdateEnvironment", "CreateEnvironment"})

    # --- recognise -------------------------------------------------------------------------------------------
    def parse(self, arn: str) -> Target | None:
        match = ARN.match(arn)
        if match is None:
            return None
        application, environment = match["application"], match["environment"]
        return Target(
            arn,
            self.name,
            match["partition"],
            match["region"],
            match["account"],
            f"{application}/{environment}",
            (application, environment),
        )

    def build(
        self, application: str, environment: str, region: str, account: str, partition: str = "aws"
    ) -> Target | None:
        return self.parse(
            f"arn:{partition}:elasticbeanstalk:{region}:{account}:environment/{application}/{environment}"
        )

    def from_metric(self, namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None:
        return None  # the metrics name the environment, not its application: find() asks Elastic Beanstalk

    def find(
        self, clients: Clients, namespace: str, dims: Mapping[str, str], region: str, account: str
    ) -> Target | None:
        """``AWS/ElasticBeanstalk`` ``EnvironmentName``: the application is read from DescribeEnvironments."""
        name = dims.get("EnvironmentName")
        if namespace != NAMESPACE or not name:
            return None
        found = clients.elasticbeanstalk.describe_environments(EnvironmentNames=[name], IncludeDeleted=False).get(
            "Environments", []
        )
        applications = {e["ApplicationName"] for e in found if e.get("Status") != "Terminated"}
        if len(applications) != 1:
            return None  # none, or the name in more than one application: the metric does not say which
        return self.build(applications.pop(), name, region, account)

    def from_codedeploy(self, clients: Clients, deployment: dict[str, Any], region: str, account: str) -> Target | None:
        return None  # Elastic Beanstalk deploys by itself, never through CodeDeploy

    def tags(self, clients: Clients, target: Target) -> dict[str, str]:
        response = clients.elasticbeanstalk.list_tags_for_resource(ResourceArn=target.arn)
        return {t["Key"]: t["Value"] for t in response.get("ResourceTags", [])}

    # --- decide ----------------------------------------------------------------------------------------------
    def _environment(self, clients: Clients, target: Target) -> dict[str, Any]:
        application, name = target.parts
        found = clients.elasticbeanstalk.describe_environments(
            ApplicationName=application, EnvironmentNames=[name], IncludeDeleted=False
        ).get("Environments", [])
        live = [e for e in found if e.get("Status") not in ("Terminating", "Terminated")]
        if not live:
            raise Refusal(f"Elastic Beanstalk environment {target.name} does not exist; nothing to roll back")
        environment: dict[str, Any] = live[0]
        return environment

    def plan(self, clients: Clients, target: Target, ledger: Ledger) -> Plan:
        environment = self._environment(clients, target)
        current = str(environment.get("VersionLabel") or "")
        if not current:
            raise Refusal(
                f"Elastic Beanstalk environment {target.name} runs no application version (the sample application): "
                "there is no deployment to roll back"
            )
        if environment.get("Status") == "Updating" and any(
            e.version == current and e.status == "good" for e in ledger.entries(target.arn)
        ):
            raise AlreadyGoingBack(
                f"Elastic Beanstalk environment {target.name} is already being updated to version {current}, which "
                "the ledger knows as good: it is going back by other means, and rollbackctl does not fight it"
            )
        good = ledger.known_good(target.arn, current)
        if good is None:
            bad = sorted(e.version for e in ledger.entries(target.arn) if e.status == "bad" and e.version != current)
            marked = f" (it marks {', '.join(bad)} known-bad)" if bad else ""
            raise Refusal(
                f"Elastic Beanstalk environment {target.name} runs version {current}, and the ledger holds no "
                f"known-good version label to return to{marked}; rollbackctl never guesses a version and never rolls "
                "back into a known-bad one"
            )
        return self._plan(target, environment, good.version, "the ledger")

    def _plan(self, target: Target, environment: dict[str, Any], to: str, source: str) -> Plan:
        status, current = str(environment.get("Status")), str(environment.get("VersionLabel") or "")
        details = {
            "application": target.parts[0],
            "environment": target.parts[1],
            "environment_id": str(environment.get("EnvironmentId", "")),
            "source": source,
        }
        if status == "Ready":
            return Plan(self.name, UPDATE, target.arn, current, to, {**details, "phase": "update"})
        if status == "Updating":
            abortable = bool(environment.get("AbortableOperationInProgress"))
            strategy, phase = (ABORT, "abort") if abortable else (WAIT, "wait")
            return Plan(self.name, strategy, target.arn, current, to, {**details, "phase": phase})
        raise Refusal(
            f"Elastic Beanstalk environment {target.name} is {status}: it can be updated only when Ready, and "
            f"rollbackctl does not act on an environment that is {status.lower()}"
        )

    def plan_to(self, clients: Clients, target: Target, version: str) -> Plan:
        environment = self._environment(clients, target)
        self._version(clients, target.parts[0], version, f"{version[:100]!r} is not")
        return self._plan(target, environment, version, "asked for by an operator")

    def _version(self, clients: Clients, application: str, label: str, what: str) -> dict[str, Any]:
        found = clients.elasticbeanstalk.describe_application_versions(
            ApplicationName=application, VersionLabels=[label]
        ).get("ApplicationVersions", [])
        if not found:
            raise Refusal(
                f"{what} an application version of {application}: version {label} no longer exists (deleted), so the "
                "environment cannot go back to it; nothing was changed"
            )
        version: dict[str, Any] = found[0]
        return version

    def restorable(self, clients: Clients, plan: Plan) -> Checked:
        """The version to go back to still exists as an application version and can be deployed."""
        application = plan.details["application"]
        version = self._version(clients, application, plan.to_version, f"known-good {plan.to_version} is not")
        status = str(version.get("Status", "Unprocessed"))
        if status not in DEPLOYABLE:
            raise Refusal(
                f"application version {plan.to_version} of {application} is {status}, not deployable "
                f"({', '.join(DEPLOYABLE)}); nothing was changed"
            )
        return Checked()

    # --- act, and read back ----------------------------------------------------------------------------------
    def apply(self, clients: Clients, plan: Plan) -> str | None:
        """One step by ``plan.details["phase"]``: abort (-> aborting) or wait (-> waiting) for the update in flight;
        update (and, once the update in flight ended, aborting or waiting): deploy the known-good (-> deploy)."""
        d = plan.details
        if d["phase"] == "abort":
            clients.elasticbeanstalk.abort_environment_update(EnvironmentName=d["environment"])
            d["phase"] = "aborting"
            return (
                f"Elastic Beanstalk is aborting the update of {d['environment']} to {plan.from_version}; "
                f"known-good {plan.to_version} is deployed once the environment is Ready"
            )
        if d["phase"] == "wait":
            d["phase"] = "waiting"
            return (
                f"the update of {d['environment']} to {plan.from_version} can no longer be aborted; known-good "
                f"{plan.to_version} is deployed once it ends"
            )
        clients.elasticbeanstalk.update_environment(EnvironmentName=d["environment"], VersionLabel=plan.to_version)
        d["phase"] = "deploy"
        return f"Elastic Beanstalk is deploying known-good {plan.to_version} to {d['environment']}"

    def read_back(self, clients: Clients, plan: Plan) -> ReadBack:
        target = self.parse(plan.target)
        assert target is not None
        try:
            environment = self._environment(clients, target)
        except Refusal as gone:
            raise RestoreIncomplete(f"{plan.target}: {gone}") from gone
        status, label = str(environment.get("Status")), str(environment.get("VersionLabel") or "")
        if status in ("Updating", "Launching"):
            return "pending"
        phase = plan.details.get("phase")
        if status == "Ready" and phase in ("aborting", "waiting"):
            return "next"  # the update in flight has ended: the known-good goes out next
        if status == "Ready" and label == plan.to_version and phase == "deploy":
            return "done"
        raise RestoreIncomplete(
            f"{plan.target} reads back {status} on version {label or '-'}, expected Ready on {plan.to_version}"
        )

    def serving(self, clients: Clients, target: Target) -> str | None:
        environment = self._environment(clients, target)
        if environment.get("Status") != "Ready":
            return None  # while it updates, instances may run either version
        return str(environment.get("VersionLabel") or "") or None

    def versions(self, plan: Plan) -> tuple[str, str] | None:
        return plan.from_version, plan.to_version

    def artifacts(self, clients: Clients, target: Target, version: str) -> tuple[str, ...]:
        """The application version's source bundle (S3 bucket and key): a label is only a name within one
        application, the bundle is what ships."""
        found = clients.elasticbeanstalk.describe_application_versions(
            ApplicationName=target.parts[0], VersionLabels=[version]
        ).get("ApplicationVersions", [])
        bundle = (found[0].get("SourceBundle") or {}) if found else {}
        if not bundle.get("S3Bucket") or not bundle.get("S3Key"):
            return ()
        return (f"bundle:s3://{bundle['S3Bucket']}/{bundle['S3Key']}",)

    # --- explain ---------------------------------------------------------------------------------------------
    def evidence(self, clients: Clients, incident: Incident, target: Target) -> list[dict[str, Any]]:
        """The environment's own WARN and ERROR events of the deployment that went bad (DescribeEvents, newest
        first, back to the start of that update and before rollbackctl acted), and its health causes."""
        application, name = target.parts
        events = clients.elasticbeanstalk.describe_events(
            ApplicationName=application,
            EnvironmentName=name,
            EndTime=parse_time(incident.started_at),
            MaxRecords=100,
        ).get("Events", [])
        found: list[dict[str, Any]] = []
        for event in events:
            message = str(event.get("Message", ""))
            if message in DEPLOYMENT_STARTS:
                break
            if event.get("Severity") in ("WARN", "ERROR", "FATAL") and len(found) < EVIDENCE_EVENTS:
                found.append(
                    {
                        "source": "beanstalk",
                        "code": str(event.get("Severity")),
                        "message": message[:500],
                        "environment": target.name,
                        "version": str(event.get("VersionLabel") or incident.from_version or ""),
                        "at": str(event.get("EventDate", "")),
                    }
                )
        try:
            health = clients.elasticbeanstalk.describe_environment_health(
                EnvironmentName=name, AttributeNames=["HealthStatus", "Causes", "Color"]
            )
        except AWS_ERRORS as exc:  # basic health (not enhanced) has no such report: the events stand alone
            found.append(
                {"source": "beanstalk", "missing": error_code(exc) or type(exc).__name__, "message": str(exc)[:300]}
            )
            return found
        causes = [str(c) for c in health.get("Causes", []) if c]
        if causes:
            found.append(
                {
                    "source": "beanstalk",
                    "code": f"health:{health.get('HealthStatus', '')}",
                    "message": "; ".join(causes)[:500],
                    "environment": target.name,
                }
            )
        return found

    def describe(self, plan: Plan) -> str:
        d = plan.details
        where = f"Elastic Beanstalk environment {d['application']}/{d['environment']}"
        back = f"deploy known-good version {plan.to_version} ({d.get('source', 'the ledger')})"
        if plan.strategy == ABORT:
            return f"abort the update of {where} to {plan.from_version} (AbortEnvironmentUpdate), then {back}"
        if plan.strategy == WAIT:
            return f"let the update of {where} to {plan.from_version} end (it can no longer be aborted), then {back}"
        return f"{back} to {where} in place of {plan.from_version} (UpdateEnvironment)"

    def link(self, target: Target, console: str) -> tuple[str, str]:
        application, environment = target.parts
        return (
            f"Elastic Beanstalk {target.name}",
            f"{console}/elasticbeanstalk/home?region={target.region}#/environments?applicationName="
            f"{quote(application)}&environmentName={quote(environment)}",
        )

    # --- feed the ledger -------------------------------------------------------------------------------------
    def seen(self, event: dict[str, Any], clients: Clients) -> list[Seen]:
        detail = event.get("detail") or {}
        region, account = str(event.get("region", "")), str(event.get("account", ""))
        if event.get("detail-type") == "AWS API Call via CloudTrail":
            if detail.get("eventSource") != "elasticbeanstalk.amazonaws.com" or detail.get("eventName") not in (
                self.trail_events
            ):
                return []
            request = detail.get("requestParameters") or {}
            response = detail.get("responseElements") or {}
            version = request.get("versionLabel")
            target = self.parse(str(response.get("environmentArn", ""))) or self.build(
                str(response.get("applicationName", "")), str(response.get("environmentName", "")), region, account
            )
            return [Seen(target.arn, str(version), "started")] if target and version else []
        if event.get("source") != "aws.elasticbeanstalk" or event.get("detail-type") != (
            "Elastic Beanstalk resource status change"
        ):
            return []
        if detail.get("Status") not in SUCCEEDED:
            return []
        target = self.parse(str((event.get("resources") or [""])[0])) or self.build(
            str(detail.get("ApplicationName", "")), str(detail.get("EnvironmentName", "")), region, account
        )
        if target is None:
            return []
        environment = self._environment(clients, target)
        # The event names no version: the environment's label is the one that update deployed only while the
        # environment is Ready and has not changed since (a newer update may be under way, or even done).
        updated, at = environment.get("DateUpdated"), detail.get("EventDate")
        changed = (
            isinstance(updated, datetime)
            and isinstance(at, int | float)
            and updated.timestamp() > at / 1000 + SETTLE_SECONDS
        )
        version = environment.get("VersionLabel") if environment.get("Status") == "Ready" and not changed else None
        return [Seen(target.arn, str(version), "succeeded", "elasticbeanstalk")] if version else []


BEANSTALK_ENVIRONMENT = BeanstalkEnvironment()
