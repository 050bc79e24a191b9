"""Target kind: a CodeDeploy deployment group that deploys to EC2 and on-premises instances (compute platform
``Server``, in place or blue/green): ``arn:aws:codedeploy:REGION:ACCOUNT:deploymentgroup:APPLICATION/GROUP``.

How it goes back:
- a deployment in flight (Created, Queued, InProgress, Baking, Ready): stopped with rollback (the CodeDeploy
  mechanism); CodeDeploy's own rollback deployment (``rollbackInfo.rollbackDeploymentId``, creator
  ``codeDeployRollback``) redeploys the group's last successful revision, and is read back until it Succeeded;
- the group's newest deployment finished (Succeeded, Failed or Stopped) and is bad: a new deployment
  (``CreateDeployment``) of the known-good revision, as CodeDeploy's own redeploy, read back until it Succeeded.
Known-good: the newest revision whose deployment to this group Succeeded (CodeDeploy's own history: ListDeployments,
BatchGetDeployments), other than the current one, that the ledger does not mark bad. A rollback CodeDeploy runs by
itself is never fought; one it already finished is not rolled back further (a human is paged).
Restorable: the revision's S3 object exists (HeadObject, with its version and its eTag when the revision names
them); a GitHub revision cannot be checked, and the incident says so.
Versions, in the kind's own words: ``s3://BUCKET/KEY?versionId=V`` (``?etag=E`` when the revision names only an
eTag, bare when neither) and ``OWNER/REPO@COMMIT``.
Alarms name it by its tag, or by the ``AutoScalingGroupName`` dimension (AWS/EC2, AWS/AutoScaling) of an Auto
Scaling group the deployment group deploys to; CodeDeploy Server deployments name it by their application and group.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from ..aws import AWS_ERRORS, Clients, error_code
from ..mechanisms import codedeploy
from ..model import Incident, Plan, utcnow
from ..store import Ledger
from .base import AlreadyGoingBack, Checked, ReadBack, Refusal, RestoreIncomplete, Seen, Target

ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):codedeploy:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):deploymentgroup:"
    r"(?P<application>[A-Za-z0-9._+=,@-]{1,100})/(?P<group>[A-Za-z0-9._+=,@-]{1,100})$"
)
REDEPLOY = "codedeploy-redeploy"
PLATFORM = "Server"
FINISHED = ["Succeeded", "Failed", "Stopped"]
ROLLBACK_CREATOR = "codeDeployRollback"
ASG_NAMESPACES = ("AWS/EC2", "AWS/AutoScaling")
BATCH = 25  # BatchGetDeployments: at most 25 ids a call
RECENT = timedelta(days=14)  # the history read first (ListDeployments createTimeRange), before all of it
MAX_EVIDENCE_TARGETS = 10
LOG_TAIL = 1000  # characters of an instance's log tail kept as evidence (CodeDeploy keeps up to 4 KB)
# What S3 HeadObject answers when the object (or its version, or its bucket) is not there. Without s3:ListBucket,
# S3 answers 403 for a missing key as well: that cannot be told from a denial, and either way it is not restorable.
S3_MISSING = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NoSuchBucket", "400", "403", "AccessDenied"})


def version(revision: Mapping[str, Any] | None) -> str:
    """A revision in the kind's own words ('' for a revision of no Server deployment)."""
    revision = revision or {}
    if revision.get("revisionType") == "S3":
        s3 = revision.get("s3Location") or {}
        words = f"s3://{s3.get('bucket', '')}/{s3.get('key', '')}"
        if s3.get("version"):
            return f"{words}?versionId={s3['version']}"
        return f"{words}?etag={str(s3['eTag']).strip(chr(34))}" if s3.get("eTag") else words
    if revision.get("revisionType") == "GitHub":
        github = revision.get("gitHubLocation") or {}
        return f"{github.get('repository', '')}@{github.get('commitId', '')}"
    return ""


class CodeDeployGroup:
    name = "codedeploy-group"
    label = (
        "a CodeDeploy deployment group ARN, EC2/on-premises "
        "(arn:aws:codedeploy:REGION:ACCOUNT:deploymentgroup:APPLICATION/GROUP)"
    )
    gone = frozenset({"DeploymentGroupDoesNotExistException", "ApplicationDoesNotExistException"}) | codedeploy.GONE
    # StopDeployment of a deployment that finished since triage read it: decide again (it now needs a redeploy)
    conflict = frozenset({"DeploymentAlreadyCompletedException"})
    poll_seconds = 5  # a Server deployment takes minutes (each instance runs its hooks): read back as ECS is
    read_actions = codedeploy.READ_ACTIONS | frozenset(
        {"codedeploy:BatchGetDeployments", "codedeploy:ListTagsForResource", "s3:GetObject", "s3:GetObjectVersion"}
    )
    write_actions = codedeploy.WRITE_ACTIONS | frozenset({"codedeploy:CreateDeployment"})
    delegated_actions: frozenset[str] = frozenset()
    trail_events = frozenset({"CreateDeployment"})

    # --- recognise -------------------------------------------------------------------------------------------
    def parse(self, arn: str) -> Target | None:
        match = ARN.match(arn)
        if match is None:
            return None
        application, group = match["application"], match["group"]
        return Target(
            arn,
            self.name,
            match["partition"],
            match["region"],
            match["account"],
            f"{application}/{group}",
            (application, group),
        )

    def build(self, application: str, group: str, region: str, account: str, partition: str = "aws") -> Target | None:
        return self.parse(f"arn:{partition}:codedeploy:{region}:{account}:deploymentgroup:{application}/{group}")

    def from_metric(self, namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None:
        return None  # an Auto Scaling group names its deployment group only through CodeDeploy (find)

    def find(
        self, clients: Clients, namespace: str, dims: Mapping[str, str], region: str, account: str
    ) -> Target | None:
        """The Server deployment group that deploys to the Auto Scaling group the metric names."""
        asg = dims.get("AutoScalingGroupName")
        if namespace not in ASG_NAMESPACES or not asg:
            return None
        cd = clients.codedeploy
        for application in _pages(cd.list_applications, "applications"):
            for name in _pages(cd.list_deployment_groups, "deploymentGroups", applicationName=application):
                group = cd.get_deployment_group(applicationName=application, deploymentGroupName=name)
                info = group["deploymentGroupInfo"]
                if info.get("computePlatform") != PLATFORM:
                    break  # every group of an application deploys to its compute platform
                if any(a.get("name") == asg for a in info.get("autoScalingGroups") or []):
                    return self.build(application, name, region, account)
        return None

    def from_codedeploy(self, clients: Clients, deployment: dict[str, Any], region: str, account: str) -> Target | None:
        if deployment.get("computePlatform") != PLATFORM:
            return None
        return self.build(str(deployment["applicationName"]), str(deployment["deploymentGroupName"]), region, account)

    def tags(self, clients: Clients, target: Target) -> dict[str, str]:
        self._group(clients, target)  # a group that is gone has no tags to list: say so (DeploymentGroupDoesNot...)
        response = clients.codedeploy.list_tags_for_resource(ResourceArn=target.arn)
        return {t["Key"]: t["Value"] for t in response.get("Tags", [])}

    # --- decide ----------------------------------------------------------------------------------------------
    def _group(self, clients: Clients, target: Target) -> dict[str, Any]:
        application, name = target.parts
        group: dict[str, Any] = clients.codedeploy.get_deployment_group(
            applicationName=application, deploymentGroupName=name
        )["deploymentGroupInfo"]
        return group

    def _server_group(self, clients: Clients, target: Target) -> dict[str, Any]:
        try:
            group = self._group(clients, target)
        except AWS_ERRORS as exc:
            if error_code(exc) in self.gone:
                raise Refusal(
                    f"CodeDeploy deployment group {target.name} does not exist; nothing to roll back"
                ) from exc
            raise
        if group.get("computePlatform") != PLATFORM:
            raise Refusal(
                f"CodeDeploy deployment group {target.name} deploys to {group.get('computePlatform')}, not to EC2 or "
                "on-premises instances: guard the Lambda alias or the ECS service it deploys instead"
            )
        return group

    def _deployments(
        self, clients: Clients, target: Target, statuses: list[str], since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The group's deployments in ``statuses`` (created after ``since``), newest first (CodeDeploy's history)."""
        application, name = target.parts
        cd = clients.codedeploy
        window = {"createTimeRange": {"start": since}} if since is not None else {}
        ids = _pages(
            cd.list_deployments,
            "deployments",
            applicationName=application,
            deploymentGroupName=name,
            includeOnlyStatuses=statuses,
            **window,
        )
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), BATCH):
            found += cd.batch_get_deployments(deploymentIds=ids[start : start + BATCH]).get("deploymentsInfo", [])
        return sorted(found, key=lambda d: d["createTime"], reverse=True)

    def _recent(
        self, clients: Clients, target: Target, statuses: list[str], enough: Callable[[list[dict[str, Any]]], bool]
    ) -> list[dict[str, Any]]:
        """The recent history when it is ``enough`` to decide (a group may have thousands of deployments, and triage
        comes before the change), else the whole of it: what is newest in the window is newest of all."""
        recent = self._deployments(clients, target, statuses, utcnow() - RECENT)
        return recent if enough(recent) else self._deployments(clients, target, statuses)

    def plan(self, clients: Clients, target: Target, ledger: Ledger) -> Plan:
        self._server_group(clients, target)
        application, name = target.parts
        details = {"application": application, "group": name}
        in_flight = self._deployments(clients, target, list(codedeploy.ACTIVE))
        if in_flight:
            deployment = in_flight[0]
            if deployment.get("creator") == ROLLBACK_CREATOR:
                raise AlreadyGoingBack(
                    f"CodeDeploy is rolling deployment group {target.name} back by itself: its rollback deployment "
                    f"{deployment['deploymentId']} of {version(deployment.get('revision'))} is "
                    f"{deployment.get('status')}; rollbackctl never fights it"
                )
            # CodeDeploy's rollback redeploys the last known good revision: the deployment's previousRevision.
            back_to = deployment.get("previousRevision") or {}
            plan = codedeploy.plan_stop(
                self.name,
                target.arn,
                deployment,
                version(back_to),
                version(deployment.get("revision")),
                ledger,
            )
            plan.details.update(details, revision=json.dumps(back_to, sort_keys=True))
            return plan
        history = self._recent(
            clients,
            target,
            FINISHED,
            lambda found: (
                bool(found)
                and self._known_good(found, version(found[0].get("revision")), target, ledger)[0] is not None
            ),
        )
        if not history:
            raise Refusal(
                f"CodeDeploy deployment group {target.name} has no deployment in flight and none that finished; "
                "nothing to roll back"
            )
        current = history[0]
        serving = version(current.get("revision"))
        if current.get("creator") == ROLLBACK_CREATOR and current.get("status") == "Succeeded":
            raise Refusal(
                f"CodeDeploy already rolled deployment group {target.name} back to {serving} (deployment "
                f"{current['deploymentId']}, its rollback of "
                f"{(current.get('rollbackInfo') or {}).get('rollbackTriggeringDeploymentId', 'a failed deployment')}), "
                "and the alarm is still red: the deployment is not the suspect any more, so rollbackctl pages a human "
                "instead of rolling back further"
            )
        good, skipped = self._known_good(history, serving, target, ledger)
        if good is None:
            if skipped:
                raise Refusal(
                    f"CodeDeploy deployment group {target.name} runs {serving}; every other revision that Succeeded on "
                    f"it is marked bad in the ledger ({', '.join(skipped[:3])}); rollbackctl never rolls back into a "
                    "known-bad version"
                )
            raise Refusal(
                f"CodeDeploy deployment group {target.name} runs {serving} ({current.get('status')}), and no other "
                "revision ever Succeeded on it, so there is no known-good revision to go back to; rollbackctl never "
                "guesses a version"
            )
        details.update(
            deployment_id=str(current["deploymentId"]),  # the bad deployment: its evidence
            revision=json.dumps(good.get("revision") or {}, sort_keys=True),
            good_deployment_id=str(good["deploymentId"]),
        )
        return Plan(self.name, REDEPLOY, target.arn, serving, version(good.get("revision")), details)

    @staticmethod
    def _known_good(
        history: list[dict[str, Any]], serving: str, target: Target, ledger: Ledger
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """The newest deployment that Succeeded with another revision than ``serving``, not marked bad."""
        skipped: list[str] = []
        for deployment in history:
            words = version(deployment.get("revision"))
            if deployment.get("status") != "Succeeded" or not words or words == serving or words in skipped:
                continue
            if ledger.is_bad(target.arn, words):
                skipped.append(words)
                continue
            return deployment, skipped
        return None, skipped

    def plan_to(self, clients: Clients, target: Target, version_words: str) -> Plan:
        """An operator's ``--to``: a revision this group deployed before (its words as the ledger has them)."""
        self._server_group(clients, target)
        history = self._deployments(clients, target, FINISHED)
        if not history:
            raise Refusal(f"CodeDeploy deployment group {target.name} has no finished deployment; nothing was changed")
        chosen = next((d for d in history if version(d.get("revision")) == version_words), None)
        if chosen is None:
            raise Refusal(
                f"{version_words[:200]} is not a revision deployment group {target.name} ever deployed "
                "(s3://BUCKET/KEY?versionId=V or OWNER/REPO@COMMIT, as the ledger writes them): a group goes back "
                "only to its own revisions; nothing was changed"
            )
        application, name = target.parts
        details = {
            "application": application,
            "group": name,
            "deployment_id": str(history[0]["deploymentId"]),
            "revision": json.dumps(chosen.get("revision") or {}, sort_keys=True),
            "good_deployment_id": str(chosen["deploymentId"]),
        }
        return Plan(self.name, REDEPLOY, target.arn, version(history[0].get("revision")), version_words, details)

    def restorable(self, clients: Clients, plan: Plan) -> Checked:
        """The revision to go back to (the redeploy's, or the one CodeDeploy's rollback redeploys) can still be
        fetched: its S3 object exists, at its version and with its eTag when the revision names them."""
        revision = json.loads(plan.details.get("revision") or "{}")
        if revision.get("revisionType") == "GitHub":
            return Checked((f"GitHub revision {version(revision)} was not checked: rollbackctl cannot see GitHub",))
        if revision.get("revisionType") != "S3":
            raise Refusal(f"the revision to go back to, {version(revision) or revision!r}, is neither in S3 nor GitHub")
        s3 = revision.get("s3Location") or {}
        where = f"s3://{s3.get('bucket')}/{s3.get('key')}"
        kwargs: dict[str, Any] = {"Bucket": s3.get("bucket"), "Key": s3.get("key")}
        if s3.get("version"):
            kwargs["VersionId"] = s3["version"]
        try:
            head = clients.s3.head_object(**kwargs)
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in S3_MISSING:
                which = f"version {s3['version']} of " if s3.get("version") else ""
                raise Refusal(
                    f"the revision to go back to cannot be fetched: {which}the S3 object {where} is gone (S3 answered "
                    f"{code}), so CodeDeploy could not deploy {plan.to_version}; nothing was changed"
                ) from exc
            raise
        wanted, found = str(s3.get("eTag") or "").strip('"'), str(head.get("ETag") or "").strip('"')
        if wanted and wanted != found:
            raise Refusal(
                f"the S3 object {where} of the revision to go back to was overwritten: its eTag is now {found}, not "
                f"the revision's {wanted}; nothing was changed"
            )
        if not s3.get("version") and not wanted:
            unpinned = (
                f"{where} names no version or eTag: it exists, but CodeDeploy deploys whatever object the key "
                "holds now, which rollbackctl cannot tell from the known-good one"
            )
            return Checked((unpinned,))
        return Checked()

    # --- act, and read back ----------------------------------------------------------------------------------
    def apply(self, clients: Clients, plan: Plan) -> str | None:
        d = plan.details
        if plan.strategy == codedeploy.STRATEGY:
            stopped = codedeploy.stop(clients, plan, redecide_if_completed=True)
            info = clients.codedeploy.get_deployment(deploymentId=d["deployment_id"])["deploymentInfo"]
            rollback = (info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
            if rollback:
                return f"{stopped}: rollback deployment {rollback} of {plan.to_version} started"
            return stopped
        created = clients.codedeploy.create_deployment(
            applicationName=d["application"],
            deploymentGroupName=d["group"],
            revision=json.loads(d["revision"]),
            description=f"rollbackctl: back to known-good {plan.to_version}"[:256],
        )
        d["restore_deployment_id"] = str(created["deploymentId"])
        return f"deployment {created['deploymentId']} of known-good {plan.to_version} started (CreateDeployment)"

    def read_back(self, clients: Clients, plan: Plan) -> ReadBack:
        cd, d = clients.codedeploy, plan.details
        if plan.strategy == codedeploy.STRATEGY:
            info = cd.get_deployment(deploymentId=d["deployment_id"])["deploymentInfo"]
            rollback = info.get("rollbackInfo") or {}
            deployment_id = str(rollback.get("rollbackDeploymentId") or "")
            if not deployment_id:
                if info.get("status") in codedeploy.ACTIVE:
                    return "pending"  # the stop is still under way
                raise RestoreIncomplete(
                    f"CodeDeploy deployment {d['deployment_id']} of {plan.target} ended {info.get('status')} and "
                    f"CodeDeploy started no rollback deployment: {rollback.get('rollbackMessage', 'no reason given')}"
                )
            what = f"CodeDeploy's rollback deployment {deployment_id}"
        else:
            deployment_id = d["restore_deployment_id"]
            what = f"deployment {deployment_id} of known-good {plan.to_version}"
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        status = str(info.get("status"))
        if status == "Succeeded":
            return "done"
        if status in codedeploy.ACTIVE:
            return "pending"
        error = info.get("errorInformation") or {}
        raise RestoreIncomplete(
            f"{what} on {plan.target} ended {status}, not Succeeded: {error.get('code', '')} "
            f"{error.get('message', '')}".strip()
        )

    def serving(self, clients: Clients, target: Target) -> str | None:
        """The revision of the group's newest deployment when it Succeeded (while one runs, or after one failed,
        the instances may run either)."""
        history = self._recent(clients, target, FINISHED + list(codedeploy.ACTIVE), bool)
        if not history or history[0].get("status") != "Succeeded":
            return None
        return version(history[0].get("revision")) or None

    def versions(self, plan: Plan) -> tuple[str, str] | None:
        return plan.from_version, plan.to_version

    def artifacts(self, clients: Clients, target: Target, version: str) -> tuple[str, ...]:
        """The revision itself (s3://BUCKET/KEY with its eTag or version, OWNER/REPO@COMMIT): the same bundle
        deployed to any group, in any account."""
        return (f"revision:{version}",)

    # --- explain ---------------------------------------------------------------------------------------------
    def evidence(self, clients: Clients, incident: Incident, target: Target) -> list[dict[str, Any]]:
        """What each instance's CodeDeploy agent reported: the lifecycle event whose hook script failed, its error
        code, script, message and the tail of its log (ListDeploymentTargets, BatchGetDeploymentTargets)."""
        deployment_id = incident.plan.details.get("deployment_id", "") if incident.plan is not None else ""
        if not deployment_id and incident.trigger.kind == "codedeploy":
            deployment_id = incident.trigger.id
        if not deployment_id:
            return []
        cd = clients.codedeploy
        try:
            ids = cd.list_deployment_targets(deploymentId=deployment_id, targetFilters={"TargetStatus": ["Failed"]})[
                "targetIds"
            ][:MAX_EVIDENCE_TARGETS]
        except AWS_ERRORS as exc:
            if error_code(exc) == "DeploymentNotStartedException":
                return []  # no instance has done anything yet
            raise
        if not ids:
            return []
        link = f"https://{target.region}.console.aws.amazon.com/codesuite/codedeploy/deployments/{deployment_id}"
        found: list[dict[str, Any]] = []
        for entry in cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids)["deploymentTargets"]:
            instance = entry.get("instanceTarget") or {}
            for event in instance.get("lifecycleEvents") or []:
                diagnostics = event.get("diagnostics") or {}
                if event.get("status") != "Failed" and diagnostics.get("errorCode") in (None, "", "Success"):
                    continue
                found.append(
                    {
                        "source": "codedeploy-instance",
                        "code": str(diagnostics.get("errorCode") or event.get("status")),
                        "message": str(diagnostics.get("message") or ""),
                        "instance": str(instance.get("targetId", "")),
                        "event": str(event.get("lifecycleEventName", "")),
                        "script": str(diagnostics.get("scriptName") or ""),
                        "log_tail": str(diagnostics.get("logTail") or "")[-LOG_TAIL:],
                        "deployment": deployment_id,
                        "link": f"{link}?region={target.region}",
                    }
                )
        return found

    def describe(self, plan: Plan) -> str:
        d = plan.details
        if plan.strategy == codedeploy.STRATEGY:
            return codedeploy.describe(plan, str)
        return (
            f"deploy known-good revision {plan.to_version} to CodeDeploy deployment group {d['application']}/"
            f"{d['group']} again (a new deployment, as CodeDeploy's redeploy), replacing {plan.from_version}"
        )

    def link(self, target: Target, console: str) -> tuple[str, str]:
        application, group = target.parts
        return (
            f"CodeDeploy {target.name}",
            f"{console}/codesuite/codedeploy/applications/{quote(application)}/deployment-groups/{quote(group)}"
            f"?region={target.region}",
        )

    # --- feed the ledger -------------------------------------------------------------------------------------
    def seen(self, event: dict[str, Any], clients: Clients) -> list[Seen]:
        detail = event.get("detail") or {}
        region, account = str(event.get("region", "")), str(event.get("account", ""))
        if event.get("detail-type") == "AWS API Call via CloudTrail":
            if detail.get("eventName") != "CreateDeployment":
                return []
            deployment_id = (detail.get("responseElements") or {}).get("deploymentId")
            what = "started"
        elif event.get("source") == "aws.codedeploy" and detail.get("state") == "SUCCESS":
            deployment_id, what = detail.get("deploymentId"), "succeeded"
        else:
            return []
        if not deployment_id:
            return []
        deployment = clients.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        target = self.from_codedeploy(clients, deployment, region, account)
        words = version(deployment.get("revision"))
        if target is None or not words:
            return []
        if what == "started":
            return [Seen(target.arn, words, "started")]
        return [Seen(target.arn, words, "succeeded", "codedeploy")]


def _pages(call: Any, key: str, **kwargs: Any) -> list[str]:
    """Every name a CodeDeploy List* call returns, following nextToken."""
    found: list[str] = []
    token: str | None = None
    while True:
        response = call(**kwargs, **({"nextToken": token} if token else {}))
        found += response.get(key, [])
        token = response.get("nextToken")
        if not token:
            return found


CODEDEPLOY_GROUP = CodeDeployGroup()
