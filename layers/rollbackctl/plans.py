"""The known-good rules (DESIGN.md): what version a target goes back to, and how. Reads AWS only.

Every function returns a Plan or raises Refusal with a reason on-call can act on. Never a guess.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import targets
from .aws import AWS_ERRORS, Clients, error_code
from .model import Plan, short_version
from .store import Ledger

# CodeDeploy statuses of a deployment that is still moving traffic
CODEDEPLOY_ACTIVE = ["Created", "Queued", "InProgress", "Ready"]
# What `rollbackctl rollback --to` may name for an alias: a published version of its own function.
PUBLISHED_VERSION = re.compile(r"^[0-9]{1,10}$")


class Refusal(Exception):
    """The controller will not act, and says exactly why."""


def _alias_parts(target: str) -> tuple[str, str]:
    match = targets.LAMBDA_ALIAS_ARN.match(target)
    if match is None:
        raise Refusal(f"{target} is not a Lambda alias ARN")
    return match["function"], match["alias"]


def _service_parts(target: str) -> tuple[str, str]:
    match = targets.ECS_SERVICE_ARN.match(target)
    if match is None:
        raise Refusal(f"{target} is not an ECS service ARN")
    return match["cluster"], match["service"]


def appspec(deployment: dict[str, Any]) -> dict[str, Any]:
    """The AppSpec of a CodeDeploy Lambda/ECS deployment (JSON or YAML content)."""
    revision = deployment.get("revision") or {}
    content = (revision.get("appSpecContent") or {}).get("content") or (revision.get("string") or {}).get("content")
    if not content:
        return {}
    try:
        parsed = json.loads(content)
    except ValueError:
        import yaml  # only YAML AppSpecs need it: not on every cold start

        parsed = yaml.safe_load(content)  # AppSpecs are YAML as often as JSON
    return parsed if isinstance(parsed, dict) else {}


def appspec_resource(spec: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for resource in spec.get("Resources", []):
        if not isinstance(resource, dict):
            continue
        for body in resource.values():
            if isinstance(body, dict) and body.get("Type") == kind:
                properties = body.get("Properties", {})
                return properties if isinstance(properties, dict) else None
    return None


def lambda_target_of(deployment: dict[str, Any], region: str, account: str) -> tuple[str, dict[str, Any]] | None:
    fn = appspec_resource(appspec(deployment), "AWS::Lambda::Function")
    if not fn or not fn.get("Name") or not fn.get("Alias"):
        return None
    return f"arn:aws:lambda:{region}:{account}:function:{fn['Name']}:{fn['Alias']}", fn


def ecs_target_of(clients: Clients, deployment: dict[str, Any], region: str, account: str) -> str | None:
    group = clients.codedeploy.get_deployment_group(
        applicationName=deployment["applicationName"], deploymentGroupName=deployment["deploymentGroupName"]
    )["deploymentGroupInfo"]
    for service in group.get("ecsServices", []):
        return f"arn:aws:ecs:{region}:{account}:service/{service['clusterName']}/{service['serviceName']}"
    return None


def active_codedeploy_deployment(clients: Clients, target: str, region: str, account: str) -> dict[str, Any] | None:
    """The CodeDeploy deployment currently shifting traffic on this target, if any (never fight it)."""
    cd = clients.codedeploy
    for application in cd.list_applications().get("applications", []):
        for group in cd.list_deployment_groups(applicationName=application).get("deploymentGroups", []):
            ids = cd.list_deployments(
                applicationName=application, deploymentGroupName=group, includeOnlyStatuses=CODEDEPLOY_ACTIVE
            ).get("deployments", [])
            for deployment_id in ids:
                deployment = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
                platform = deployment.get("computePlatform")
                if platform == "Lambda":
                    found = lambda_target_of(deployment, region, account)
                    if found and found[0] == target:
                        return dict(deployment)
                elif platform == "ECS" and ecs_target_of(clients, deployment, region, account) == target:
                    return dict(deployment)
    return None


def plan_codedeploy_stop(clients: Clients, target: str, deployment: dict[str, Any], ledger: Ledger) -> Plan:
    """Blue/green: stop the deployment with rollback; traffic returns to the original version or task set."""
    deployment_id = deployment["deploymentId"]
    if deployment.get("computePlatform") == "Lambda":
        _, fn = lambda_target_of(deployment, "", "") or ("", {})
        original, replacement = str(fn.get("CurrentVersion", "")), str(fn.get("TargetVersion", ""))
    else:
        cluster, service = _service_parts(target)
        described = clients.ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        sets = described.get("taskSets", [])
        original = next((s["taskDefinition"] for s in sets if s.get("status") == "PRIMARY"), "")
        replacement = next((s["taskDefinition"] for s in sets if s.get("status") != "PRIMARY"), "")
    if not original:
        raise Refusal(
            f"CodeDeploy deployment {deployment_id} on {target} does not say what it replaced; "
            "rollbackctl never guesses a version"
        )
    if ledger.is_bad(target, original):
        raise Refusal(
            f"CodeDeploy deployment {deployment_id} would roll back to {original}, which the ledger "
            "marks bad; rollbackctl never rolls back into a known-bad version"
        )
    return Plan(
        "lambda-alias" if deployment.get("computePlatform") == "Lambda" else "ecs-service",
        "codedeploy-stop",
        target,
        replacement or "?",
        original,
        {"deployment_id": deployment_id, "platform": str(deployment.get("computePlatform"))},
    )


def plan_lambda_alias(clients: Clients, target: str, ledger: Ledger) -> Plan:
    function, alias_name = _alias_parts(target)
    try:
        alias = clients.lambda_.get_alias(FunctionName=function, Name=alias_name)
    except AWS_ERRORS as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise Refusal(f"alias {function}:{alias_name} does not exist; nothing to roll back") from exc
        raise
    stable = str(alias["FunctionVersion"])
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    details = {"function_name": function, "alias": alias_name, "revision_id": alias["RevisionId"]}
    if weights:
        canary = sorted(weights, key=lambda v: (len(v), v))[-1]
        if ledger.is_bad(target, stable):
            raise Refusal(
                f"alias {function}:{alias_name} is mid-canary from {stable} to {canary}, but the ledger marks "
                f"version {stable} bad; rollbackctl never rolls back into a known-bad version"
            )
        return Plan("lambda-alias", "canary", target, canary, stable, details)
    good = ledger.known_good(target, stable)
    if good is None:
        raise Refusal(
            f"alias {function}:{alias_name} serves version {stable} with no canary routing, and the ledger "
            "holds no known-good version to return to; rollbackctl never guesses a version"
        )
    return Plan("lambda-alias", "repoint", target, stable, good.version, details)


def plan_ecs_service(clients: Clients, target: str, ledger: Ledger) -> Plan:
    """Rolling: the ACTIVE deployment while one is in progress, else the ledger's known-good."""
    cluster, service = _service_parts(target)
    services = clients.ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    if not services or services[0].get("status") != "ACTIVE":
        raise Refusal(f"ECS service {cluster}/{service} does not exist or is not ACTIVE; nothing to roll back")
    deployments = services[0].get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        raise Refusal(f"ECS service {cluster}/{service} has no PRIMARY deployment to roll back")
    current = primary["taskDefinition"]
    previous = next(
        (d["taskDefinition"] for d in deployments if d.get("status") == "ACTIVE" and d["taskDefinition"] != current),
        None,
    )
    source = "the ACTIVE deployment still running"
    if previous is None:
        good = ledger.known_good(target, current)
        previous, source = (good.version, "the ledger") if good else (None, "")
    if previous is None:
        raise Refusal(
            f"ECS service {cluster}/{service} runs {current} with no deployment in progress, and the "
            "ledger holds no known-good task definition; rollbackctl never guesses a version"
        )
    if ledger.is_bad(target, previous):
        raise Refusal(
            f"ECS service {cluster}/{service} would go back to {previous}, which the ledger marks bad; "
            "rollbackctl never rolls back into a known-bad version"
        )
    try:
        described = clients.ecs.describe_task_definition(taskDefinition=previous)["taskDefinition"]
    except AWS_ERRORS as exc:
        raise Refusal(
            f"the previous task definition {previous} of {cluster}/{service} is gone "
            f"({error_code(exc) or type(exc).__name__}); nothing was changed"
        ) from exc
    if described.get("status") != "ACTIVE":
        raise Refusal(
            f"the previous task definition {previous} of {cluster}/{service} is "
            f"{described.get('status')}; nothing was changed"
        )
    return Plan(
        "ecs-service",
        "ecs-rolling",
        target,
        current,
        previous,
        {"cluster": cluster, "service": service, "source": source},
    )


def weighted_forwards(clients: Clients, target_group: str) -> list[dict[str, Any]]:
    """ALB listeners and rules whose forward action splits traffic between this target group and others."""
    elb = clients.elbv2
    found = []
    groups = elb.describe_target_groups(TargetGroupArns=[target_group])["TargetGroups"]
    for balancer in groups[0].get("LoadBalancerArns", []) if groups else []:
        for listener in elb.describe_listeners(LoadBalancerArn=balancer)["Listeners"]:
            places = [("listener", listener["ListenerArn"], listener.get("DefaultActions", []))]
            for rule in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
                if not rule.get("IsDefault"):
                    places.append(("rule", rule["RuleArn"], rule.get("Actions", [])))
            for kind, arn, actions in places:
                for action in actions:
                    weights = {
                        g["TargetGroupArn"]: int(g.get("Weight", 0))
                        for g in (action.get("ForwardConfig") or {}).get("TargetGroups", [])
                    }
                    others = [g for g, w in weights.items() if g != target_group and w > 0]
                    if weights.get(target_group, 0) > 0 and others:
                        found.append({"kind": kind, "arn": arn, "weights": weights, "stable": others})
    return found


def plan_alb_weights(clients: Clients, target: str, ledger: Ledger) -> Plan | None:
    """An ECS service whose target group takes a weighted share of an ALB listener: shift it to the others."""
    cluster, service = _service_parts(target)
    described = clients.ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    groups = [
        lb["targetGroupArn"]
        for lb in (described[0].get("loadBalancers", []) if described else [])
        if lb.get("targetGroupArn")
    ]
    for group in groups:
        forwards = weighted_forwards(clients, group)
        if not forwards:
            continue
        stable = forwards[0]["stable"][0]
        if ledger.is_bad(target, stable):
            raise Refusal(
                f"the other target group {stable} of {cluster}/{service} is marked bad in the ledger; "
                "rollbackctl never shifts traffic onto a known-bad version"
            )
        return Plan(
            "ecs-service",
            "alb-weights",
            target,
            group,
            stable,
            {"cluster": cluster, "service": service, "forwards": json.dumps(forwards)},
        )
    return None


def serving(clients: Clients, target: str) -> str | None:
    """The one version that takes all of the target's traffic, or None while traffic is split."""
    if targets.kind_of(target) == "lambda-alias":
        function, alias_name = _alias_parts(target)
        alias = clients.lambda_.get_alias(FunctionName=function, Name=alias_name)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return None if weights else str(alias["FunctionVersion"])
    cluster, service = _service_parts(target)
    described = clients.ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    deployments = described[0].get("deployments", []) if described else []
    primary = [d for d in deployments if d.get("status") == "PRIMARY"]
    return str(primary[0]["taskDefinition"]) if len(deployments) == 1 and primary else None


def plan_for(clients: Clients, target: str, ledger: Ledger, region: str, account: str) -> Plan:
    """A blue/green deployment in flight is stopped with rollback; a weighted ALB split goes back to the
    stable group; otherwise the target itself is moved back."""
    deployment = active_codedeploy_deployment(clients, target, region, account)
    if deployment is not None:
        return plan_codedeploy_stop(clients, target, deployment, ledger)
    if targets.kind_of(target) == "lambda-alias":
        return plan_lambda_alias(clients, target, ledger)
    return plan_alb_weights(clients, target, ledger) or plan_ecs_service(clients, target, ledger)


def plan_to_version(clients: Clients, target: str, version: str) -> Plan:
    """An operator's explicit version (rollbackctl rollback --to): it must exist; whether it may be used
    (known-good, or --force) is triage's call."""
    if targets.kind_of(target) == "lambda-alias":
        function, alias_name = _alias_parts(target)
        if not PUBLISHED_VERSION.match(version):
            raise Refusal(
                f"{version[:80]!r} is not a published version of {function} (a number such as 3; never $LATEST or "
                "an alias): an alias goes back only to one of its own function's versions; nothing was changed"
            )
        try:
            alias = clients.lambda_.get_alias(FunctionName=function, Name=alias_name)
            clients.lambda_.get_function_configuration(FunctionName=function, Qualifier=version)
        except AWS_ERRORS as exc:
            raise Refusal(
                f"{function}:{alias_name} or its version {version} does not exist "
                f"({error_code(exc) or type(exc).__name__}); nothing was changed"
            ) from exc
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        current = sorted(weights, key=lambda v: (len(v), v))[-1] if weights else str(alias["FunctionVersion"])
        details = {"function_name": function, "alias": alias_name, "revision_id": alias["RevisionId"]}
        return Plan("lambda-alias", "repoint", target, current, version, details)
    cluster, service = _service_parts(target)
    services = clients.ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    primary = next(
        (d for d in (services[0].get("deployments", []) if services else []) if d["status"] == "PRIMARY"), None
    )
    if primary is None:
        raise Refusal(f"ECS service {cluster}/{service} does not exist or has no PRIMARY deployment")
    family = _family(primary["taskDefinition"])
    if _family(version) != family:
        raise Refusal(
            f"{version[:200]} is not a revision of {family}, the task definition family that {cluster}/{service} "
            "runs: a service goes back only within its own family; nothing was changed"
        )
    try:
        described = clients.ecs.describe_task_definition(taskDefinition=version)["taskDefinition"]
    except AWS_ERRORS as exc:
        raise Refusal(f"task definition {version} does not exist ({error_code(exc)}); nothing was changed") from exc
    if described.get("family") != family:
        raise Refusal(f"{version[:200]} is not a revision of {family}; nothing was changed")
    if described.get("status") != "ACTIVE":
        raise Refusal(f"task definition {version} is {described.get('status')}; nothing was changed")
    return Plan(
        "ecs-service",
        "ecs-rolling",
        target,
        primary["taskDefinition"],
        described["taskDefinitionArn"],
        {"cluster": cluster, "service": service, "source": "asked for by an operator"},
    )


def _family(task_definition: str) -> str:
    """The family of ``family:revision`` or of a task definition ARN (``...:task-definition/family:revision``)."""
    return task_definition.rsplit("task-definition/", 1)[-1].rsplit(":", 1)[0]


def describe(plan: Plan) -> str:
    d = plan.details
    if plan.strategy == "canary":
        return (
            f"remove the canary routing of alias {d['function_name']}:{d['alias']} so version "
            f"{plan.from_version} gets no traffic and stable version {plan.to_version} gets all of it"
        )
    if plan.strategy == "repoint":
        return (
            f"point alias {d['function_name']}:{d['alias']} back from version {plan.from_version} to "
            f"known-good version {plan.to_version}"
        )
    if plan.strategy == "ecs-rolling":
        return (
            f"update ECS service {d['cluster']}/{d['service']} back from {short_version(plan.from_version)} to "
            f"{short_version(plan.to_version)} ({d.get('source', '')})"
        )
    if plan.strategy == "alb-weights":
        return (
            f"send the ALB traffic of ECS service {d['cluster']}/{d['service']} (target group "
            f"{short_version(plan.from_version)}) back to target group {short_version(plan.to_version)}"
        )
    return (
        f"stop CodeDeploy deployment {d['deployment_id']} with rollback, so traffic returns from "
        f"{short_version(plan.from_version)} to {short_version(plan.to_version)}"
    )
