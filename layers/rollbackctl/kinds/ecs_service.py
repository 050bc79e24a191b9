"""Target kind: an ECS service (``arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE``).

How it goes back depends on how it deploys, all of it this kind's business:
- a native ``BLUE_GREEN`` / ``LINEAR`` / ``CANARY`` service deployment in flight: ``StopServiceDeployment``
  (stopType ``ROLLBACK``), read back until the service serves the source revision again;
- a CodeDeploy blue/green deployment in flight: stopped with rollback (the CodeDeploy mechanism);
- a target group taking a weighted share of an ALB listener: its weight goes to 0 (the ALB mechanism);
- rolling: ``UpdateService`` back to the task definition of the previous deployment (the ACTIVE deployment while
  a rollout is in progress, else the ledger's known-good).
Restorable: the task definition to go back to is ``ACTIVE`` and every image of it that lives in ECR is still in its
repository (images elsewhere are not checked, and the incident says so). Versions are task definition ARNs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..aws import AWS_ERRORS, Clients, error_code
from ..mechanisms import alb, codedeploy
from ..model import Incident, Plan, short_version
from ..store import Ledger
from .base import Checked, ReadBack, Refusal, RestoreIncomplete, Seen, Target

ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):service/"
    r"(?P<cluster>[A-Za-z0-9_-]{1,255})/(?P<service>[A-Za-z0-9_-]{1,255})$"
)
# An image in ECR: ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPOSITORY[:TAG][@sha256:DIGEST]
ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
NATIVE = "ecs-native"
ROLLING = "ecs-rolling"
# ECS ServiceDeploymentStatus values (API Reference, ServiceDeployment): what a stop with rollback walks through
IN_FLIGHT = ["PENDING", "IN_PROGRESS"]
ROLLING_BACK = ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED")


def family(task_definition: str) -> str:
    """The family of ``family:revision`` or of a task definition ARN (``...:task-definition/family:revision``)."""
    return task_definition.rsplit("task-definition/", 1)[-1].rsplit(":", 1)[0]


class EcsService:
    name = "ecs-service"
    label = "an ECS service ARN (arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE)"
    # what a change or a read answers when the service is gone (ListTagsForResource: InvalidParameterException)
    gone = frozenset({"ServiceNotFoundException", "ClusterNotFoundException", "InvalidParameterException"}) | (
        codedeploy.GONE | alb.GONE
    )
    conflict: frozenset[str] = frozenset()
    poll_seconds = 5
    read_actions = (
        frozenset(
            {
                "ecs:DescribeServices",
                "ecs:ListTagsForResource",
                "ecs:DescribeTaskDefinition",
                "ecs:ListServiceDeployments",
                "ecs:DescribeServiceDeployments",
                "ecs:DescribeServiceRevisions",
                "ecr:DescribeImages",
            }
        )
        | codedeploy.READ_ACTIONS
        | alb.READ_ACTIONS
    )
    write_actions = (
        frozenset({"ecs:UpdateService", "ecs:StopServiceDeployment"}) | codedeploy.WRITE_ACTIONS | alb.WRITE_ACTIONS
    )
    delegated_actions: frozenset[str] = frozenset()
    trail_events = frozenset({"UpdateService"})

    # --- recognise -------------------------------------------------------------------------------------------
    def parse(self, arn: str) -> Target | None:
        match = ARN.match(arn)
        if match is None:
            return None
        cluster, service = match["cluster"], match["service"]
        return Target(
            arn,
            self.name,
            match["partition"],
            match["region"],
            match["account"],
            f"{cluster}/{service}",
            (cluster, service),
        )

    def build(self, cluster: str, service: str, region: str, account: str, partition: str = "aws") -> Target | None:
        return self.parse(f"arn:{partition}:ecs:{region}:{account}:service/{cluster}/{service}")

    def from_metric(self, namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None:
        cluster, service = dims.get("ClusterName"), dims.get("ServiceName")
        if namespace != "AWS/ECS" or not cluster or not service:
            return None
        return self.build(cluster, service, region, account)

    def find(
        self, clients: Clients, namespace: str, dims: Mapping[str, str], region: str, account: str
    ) -> Target | None:
        return None  # every metric that names this kind names it directly (from_metric)

    def from_codedeploy(self, clients: Clients, deployment: dict[str, Any], region: str, account: str) -> Target | None:
        if deployment.get("computePlatform") != "ECS":
            return None
        group = clients.codedeploy.get_deployment_group(
            applicationName=deployment["applicationName"], deploymentGroupName=deployment["deploymentGroupName"]
        )["deploymentGroupInfo"]
        for service in group.get("ecsServices", []):
            return self.build(service["clusterName"], service["serviceName"], region, account)
        return None

    def tags(self, clients: Clients, target: Target) -> dict[str, str]:
        response = clients.ecs.list_tags_for_resource(resourceArn=target.arn)
        return {t["key"]: t["value"] for t in response.get("tags", [])}

    # --- decide ----------------------------------------------------------------------------------------------
    def _service(self, clients: Clients, target: Target) -> dict[str, Any]:
        cluster, service = target.parts
        services = clients.ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
        if not services or services[0].get("status") != "ACTIVE":
            raise Refusal(f"ECS service {target.name} does not exist or is not ACTIVE; nothing to roll back")
        found: dict[str, Any] = services[0]
        return found

    def plan(self, clients: Clients, target: Target, ledger: Ledger) -> Plan:
        service = self._service(clients, target)
        controller = (service.get("deploymentController") or {}).get("type", "ECS")
        if controller == "CODE_DEPLOY":
            deployment = codedeploy.active_deployment(
                clients, lambda d: self.from_codedeploy(clients, d, target.region, target.account) == target
            )
            if deployment is not None:
                # The replacement is what the AppSpec deploys; the original is the other task set. (Not "the
                # PRIMARY one": once production traffic has moved, the replacement is PRIMARY while CodeDeploy
                # waits before it terminates the original, and a rollback is still possible.)
                spec = codedeploy.appspec_resource(codedeploy.appspec(deployment), "AWS::ECS::Service") or {}
                sets = service.get("taskSets", [])
                replacement = str(spec.get("TaskDefinition") or "")
                if not replacement:  # an AppSpec without it: the task set not serving production is the new one
                    replacement = next((s["taskDefinition"] for s in sets if s.get("status") != "PRIMARY"), "")
                original = next((s["taskDefinition"] for s in sets if s["taskDefinition"] != replacement), "")
                return codedeploy.plan_stop(self.name, target.arn, deployment, original, replacement, ledger)
        native = self._plan_native(clients, target, service, ledger)
        if native is not None:
            return native
        groups = [lb["targetGroupArn"] for lb in service.get("loadBalancers", []) if lb.get("targetGroupArn")]
        details = {"cluster": target.parts[0], "service": target.parts[1]}
        return alb.plan(clients, self.name, target.arn, groups, ledger, details) or self._plan_rolling(
            target, service, ledger
        )

    def _plan_native(self, clients: Clients, target: Target, service: dict[str, Any], ledger: Ledger) -> Plan | None:
        """A BLUE_GREEN, LINEAR or CANARY service deployment in flight: stop it with rollback."""
        strategy = (service.get("deploymentConfiguration") or {}).get("strategy", "ROLLING")
        if strategy == "ROLLING":
            return None
        cluster, name = target.parts
        briefs = clients.ecs.list_service_deployments(cluster=cluster, service=name, status=IN_FLIGHT).get(
            "serviceDeployments", []
        )
        if not briefs:
            return None
        arn = briefs[0]["serviceDeploymentArn"]
        (deployment,) = clients.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
        sources = [s["arn"] for s in deployment.get("sourceServiceRevisions", []) if s.get("arn")]
        goal = (deployment.get("targetServiceRevision") or {}).get("arn", "")
        if not sources:
            raise Refusal(
                f"the {strategy} deployment {arn} of {target.name} has no source revision to go back to "
                "(the service's first deployment); rollbackctl never guesses a version"
            )
        revisions = clients.ecs.describe_service_revisions(serviceRevisionArns=[sources[0], goal])["serviceRevisions"]
        by_arn = {r["serviceRevisionArn"]: r for r in revisions}
        original = str((by_arn.get(sources[0]) or {}).get("taskDefinition", ""))
        replacement = str((by_arn.get(goal) or {}).get("taskDefinition", "")) or "?"
        if not original:
            raise Refusal(f"the source revision {sources[0]} of {target.name} names no task definition")
        if ledger.is_bad(target.arn, original):
            raise Refusal(
                f"ECS service {target.name} would go back to {short_version(original)}, which the ledger marks bad; "
                "rollbackctl never rolls back into a known-bad version"
            )
        details = {"cluster": cluster, "service": name, "service_deployment": arn, "strategy": strategy}
        return Plan(self.name, NATIVE, target.arn, replacement, original, details)

    def _plan_rolling(self, target: Target, service: dict[str, Any], ledger: Ledger) -> Plan:
        """Rolling: the ACTIVE deployment while one is in progress, else the ledger's known-good."""
        deployments = service.get("deployments", [])
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        if primary is None:
            raise Refusal(f"ECS service {target.name} has no PRIMARY deployment to roll back")
        current = primary["taskDefinition"]
        previous = next(
            (
                d["taskDefinition"]
                for d in deployments
                if d.get("status") == "ACTIVE" and d["taskDefinition"] != current
            ),
            None,
        )
        source = "the ACTIVE deployment still running"
        if previous is None:
            good = ledger.known_good(target.arn, current)
            previous, source = (good.version, "the ledger") if good else (None, "")
        if previous is None:
            raise Refusal(
                f"ECS service {target.name} runs {current} with no deployment in progress, and the "
                "ledger holds no known-good task definition; rollbackctl never guesses a version"
            )
        if ledger.is_bad(target.arn, previous):
            raise Refusal(
                f"ECS service {target.name} would go back to {previous}, which the ledger marks bad; "
                "rollbackctl never rolls back into a known-bad version"
            )
        details = {"cluster": target.parts[0], "service": target.parts[1], "source": source}
        return Plan(self.name, ROLLING, target.arn, current, previous, details)

    def plan_to(self, clients: Clients, target: Target, version: str) -> Plan:
        service = self._service(clients, target)
        primary = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)
        if primary is None:
            raise Refusal(f"ECS service {target.name} has no PRIMARY deployment")
        own = family(primary["taskDefinition"])
        if family(version) != own:
            raise Refusal(
                f"{version[:200]} is not a revision of {own}, the task definition family that {target.name} runs: "
                "a service goes back only within its own family; nothing was changed"
            )
        try:  # family:revision or an ARN: the record and the change name the ARN
            arn = str(
                clients.ecs.describe_task_definition(taskDefinition=version)["taskDefinition"]["taskDefinitionArn"]
            )
        except AWS_ERRORS as exc:
            raise Refusal(
                f"task definition {version[:200]} does not exist ({error_code(exc)}); nothing was changed"
            ) from exc
        details = {"cluster": target.parts[0], "service": target.parts[1], "source": "asked for by an operator"}
        return Plan(self.name, ROLLING, target.arn, primary["taskDefinition"], arn, details)

    def restorable(self, clients: Clients, plan: Plan) -> Checked:
        """A task definition to start tasks from again must be ACTIVE, of the service's family, and its ECR images
        must still exist. (A stop with rollback returns to tasks that are still running: nothing to check.)"""
        if plan.strategy != ROLLING:
            return Checked()
        try:
            described = clients.ecs.describe_task_definition(taskDefinition=plan.to_version)["taskDefinition"]
        except AWS_ERRORS as exc:
            raise Refusal(
                f"the task definition {plan.to_version} to go back to is gone "
                f"({error_code(exc) or type(exc).__name__}); nothing was changed"
            ) from exc
        if described.get("status") != "ACTIVE":
            raise Refusal(
                f"the task definition {short_version(plan.to_version)} to go back to is {described.get('status')}, "
                "not ACTIVE (deregistered); nothing was changed"
            )
        if described.get("family") != family(plan.from_version):
            raise Refusal(f"{plan.to_version[:200]} is not a revision of {family(plan.from_version)}; nothing changed")
        outside = []
        for container in described.get("containerDefinitions", []):
            image = str(container.get("image", ""))
            match = ECR_IMAGE.match(image)
            if match is None:
                outside.append(image)
                continue
            self._image_exists(clients, image, match)
        note = f"images outside ECR were not checked: {', '.join(sorted(set(outside)))[:300]}" if outside else ""
        return Checked((note,) if note else ())

    def _image_exists(self, clients: Clients, image: str, match: re.Match[str]) -> None:
        image_id = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"] or "latest"}
        try:
            clients.ecr.describe_images(
                registryId=match["registry"], repositoryName=match["repository"], imageIds=[image_id]
            )
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
                where = "its repository no longer exists" if code == "RepositoryNotFoundException" else "it is gone"
                raise Refusal(
                    f"the image {image} of the task definition to go back to cannot be pulled: {where} from ECR "
                    f"repository {match['repository']}; nothing was changed"
                ) from exc
            raise

    # --- act, and read back ----------------------------------------------------------------------------------
    def apply(self, clients: Clients, plan: Plan) -> str | None:
        if plan.strategy == codedeploy.STRATEGY:
            return codedeploy.stop(clients, plan)
        if plan.strategy == alb.STRATEGY:
            alb.shift(clients, plan)
            return None
        if plan.strategy == NATIVE:
            arn = plan.details["service_deployment"]
            clients.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
            back_to = short_version(plan.to_version)
            return f"ECS is rolling service deployment {arn.rsplit('/', 1)[-1]} back to {back_to}"
        clients.ecs.update_service(
            cluster=plan.details["cluster"], service=plan.details["service"], taskDefinition=plan.to_version
        )
        return None

    def read_back(self, clients: Clients, plan: Plan) -> ReadBack:
        if plan.strategy == alb.STRATEGY:
            alb.read_back(clients, plan)
            return "done"
        if plan.strategy == NATIVE:
            arn = plan.details["service_deployment"]
            (deployment,) = clients.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
            status = str(deployment.get("status"))
            if status in ROLLING_BACK:
                return "pending"
            if status != "ROLLBACK_SUCCESSFUL":
                raise RestoreIncomplete(
                    f"service deployment {arn} of {plan.target} ended {status}, not ROLLBACK_SUCCESSFUL: "
                    f"{deployment.get('statusReason', '')}"
                )
        target = self.parse(plan.target)
        assert target is not None
        serving = self._primary(self._service(clients, target))
        if serving == plan.to_version:
            return "done"
        if plan.strategy == codedeploy.STRATEGY:
            return "pending"  # CodeDeploy's rollback is moving production traffic back to the original task set
        raise RestoreIncomplete(
            f"{plan.target} reads back serving {short_version(serving)}, expected {short_version(plan.to_version)}"
        )

    @staticmethod
    def _primary(service: dict[str, Any]) -> str:
        if service.get("taskSets"):  # blue/green: the PRIMARY task set serves production traffic
            return str(next((s["taskDefinition"] for s in service["taskSets"] if s.get("status") == "PRIMARY"), ""))
        return str(next((d["taskDefinition"] for d in service.get("deployments", []) if d["status"] == "PRIMARY"), ""))

    def serving(self, clients: Clients, target: Target) -> str | None:
        cluster, name = target.parts
        described = clients.ecs.describe_services(cluster=cluster, services=[name]).get("services", [])
        deployments = described[0].get("deployments", []) if described else []
        primary = [d for d in deployments if d.get("status") == "PRIMARY"]
        return str(primary[0]["taskDefinition"]) if len(deployments) == 1 and primary else None

    def versions(self, plan: Plan) -> tuple[str, str] | None:
        # ALB weights move traffic between target groups: those are not versions of this service.
        return None if plan.strategy == alb.STRATEGY else (plan.from_version, plan.to_version)

    def artifacts(self, clients: Clients, target: Target, version: str) -> tuple[str, ...]:
        """The task definition's images by digest: the digest it names, or the one ECR holds for its tag
        (DescribeImages); an image outside ECR, or one ECR will not describe, by its reference (a tag can move)."""
        if ":task-definition/" not in version:
            return ()
        described = clients.ecs.describe_task_definition(taskDefinition=version)["taskDefinition"]
        found: list[str] = []
        for container in described.get("containerDefinitions", []):
            image = str(container.get("image", ""))
            match = ECR_IMAGE.match(image)
            digest = match["digest"] if match else None
            if match is not None and digest is None:
                try:
                    details = clients.ecr.describe_images(
                        registryId=match["registry"],
                        repositoryName=match["repository"],
                        imageIds=[{"imageTag": match["tag"] or "latest"}],
                    )["imageDetails"]
                    digest = str(details[0]["imageDigest"]) if details else None
                except AWS_ERRORS:
                    digest = None
            found.append(f"image:{digest}" if digest else f"image:{image}")
        return tuple(sorted(set(found)))

    # --- explain ---------------------------------------------------------------------------------------------
    def evidence(self, clients: Clients, incident: Incident, target: Target) -> list[dict[str, Any]]:
        """The rollout's own account of why it failed (ECS rolloutStateReason, or the event's reason)."""
        reason = incident.trigger.reason if incident.trigger.kind == "ecs-deployment" else ""
        cluster, name = target.parts
        described = clients.ecs.describe_services(cluster=cluster, services=[name])["services"]
        deployments = described[0].get("deployments", []) if described else []
        primary: dict[str, Any] = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
        message = reason or str(primary.get("rolloutStateReason", ""))
        if not message and primary.get("rolloutState") != "FAILED":
            return []
        return [
            {"source": "ecs", "code": str(primary.get("rolloutState", "")), "message": message, "service": target.name}
        ]

    def describe(self, plan: Plan) -> str:
        d = plan.details
        if plan.strategy == ROLLING:
            return (
                f"update ECS service {d['cluster']}/{d['service']} back from {short_version(plan.from_version)} to "
                f"{short_version(plan.to_version)} ({d.get('source', '')})"
            )
        if plan.strategy == NATIVE:
            return (
                f"stop the {d['strategy']} deployment of ECS service {d['cluster']}/{d['service']} with rollback, so "
                f"traffic returns from {short_version(plan.from_version)} to {short_version(plan.to_version)}"
            )
        if plan.strategy == alb.STRATEGY:
            return alb.describe(plan, f"ECS service {d['cluster']}/{d['service']}")
        return codedeploy.describe(plan, short_version)

    def link(self, target: Target, console: str) -> tuple[str, str]:
        cluster, service = target.parts
        return (
            f"ECS {target.name}",
            f"{console}/ecs/v2/clusters/{quote(cluster)}/services/{quote(service)}/health?region={target.region}",
        )

    # --- feed the ledger -------------------------------------------------------------------------------------
    def seen(self, event: dict[str, Any], clients: Clients) -> list[Seen]:
        detail = event.get("detail") or {}
        if event.get("detail-type") == "AWS API Call via CloudTrail":
            if detail.get("eventName") != "UpdateService":
                return []
            service = (detail.get("responseElements") or {}).get("service") or {}
            arn, definition = service.get("serviceArn"), service.get("taskDefinition")
            return [Seen(str(arn), str(definition), "started")] if arn and definition and self.parse(arn) else []
        if event.get("source") == "aws.ecs" and detail.get("eventName") == "SERVICE_DEPLOYMENT_COMPLETED":
            target = self.parse(str((event.get("resources") or [""])[0]))
            current = self.serving(clients, target) if target else None
            return [Seen(target.arn, current, "succeeded", "ecs")] if target and current else []
        return []


ECS_SERVICE = EcsService()
