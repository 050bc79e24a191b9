"""CodeDeploy stop-with-rollback: a mechanism more than one kind uses (Lambda aliases and ECS services
deployed blue/green by CodeDeploy). Plain functions that the kinds call; it knows no kind.

rollbackctl never fights a deployment in flight by moving traffic under it: it stops the deployment with
rollback and confirms traffic is back on the original version or task set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..aws import AWS_ERRORS, Clients, error_code
from ..model import Plan
from ..outcomes import Refusal
from ..store import Ledger

# CodeDeploy's DeploymentStatus values of a deployment still moving traffic (the API Reference's enum:
# Created | Queued | InProgress | Baking | Succeeded | Failed | Stopped | Ready). Baking: the traffic has
# shifted and CodeDeploy waits before it terminates the original: a rollback is still possible.
ACTIVE = ("Created", "Queued", "InProgress", "Baking", "Ready")
STRATEGY = "codedeploy-stop"
READ_ACTIONS = frozenset(
    {
        "codedeploy:ListApplications",
        "codedeploy:ListDeploymentGroups",
        "codedeploy:ListDeployments",
        "codedeploy:GetDeployment",
        "codedeploy:GetDeploymentGroup",
    }
)
WRITE_ACTIONS = frozenset({"codedeploy:StopDeployment"})
GONE = frozenset({"DeploymentDoesNotExistException"})


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


def appspec_resource(spec: dict[str, Any], resource_type: str) -> dict[str, Any] | None:
    for resource in spec.get("Resources", []):
        if not isinstance(resource, dict):
            continue
        for body in resource.values():
            if isinstance(body, dict) and body.get("Type") == resource_type:
                properties = body.get("Properties", {})
                return properties if isinstance(properties, dict) else None
    return None


def active_deployment(clients: Clients, is_on_target: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """The CodeDeploy deployment currently shifting traffic on a target (``is_on_target`` tells), if any."""
    cd = clients.codedeploy
    for application in cd.list_applications().get("applications", []):
        for group in cd.list_deployment_groups(applicationName=application).get("deploymentGroups", []):
            ids = cd.list_deployments(
                applicationName=application, deploymentGroupName=group, includeOnlyStatuses=list(ACTIVE)
            ).get("deployments", [])
            for deployment_id in ids:
                deployment: dict[str, Any] = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
                if is_on_target(deployment):
                    return deployment
    return None


def plan_stop(
    kind: str, target: str, deployment: dict[str, Any], original: str, replacement: str, ledger: Ledger
) -> Plan:
    """Stop the deployment with rollback; traffic returns to ``original`` (its version or task set)."""
    deployment_id = deployment["deploymentId"]
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
    details = {"deployment_id": deployment_id, "platform": str(deployment.get("computePlatform"))}
    return Plan(kind, STRATEGY, target, replacement or "?", original, details)


def stop(clients: Clients, plan: Plan, redecide_if_completed: bool = False) -> str | None:
    """StopDeployment with rollback; returns what on-call is told while CodeDeploy's rollback runs.

    A deployment that finished in the meantime: where traffic is now is read back next (Lambda, ECS), or, with
    ``redecide_if_completed``, DeploymentAlreadyCompletedException goes to the caller to decide again (a kind whose
    finished deployment goes back another way, e.g. by a new deployment)."""
    deployment_id = plan.details["deployment_id"]
    try:
        clients.codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    except AWS_ERRORS as exc:
        if error_code(exc) != "DeploymentAlreadyCompletedException" or redecide_if_completed:
            raise
        return None
    return f"CodeDeploy deployment {deployment_id} stopped with rollback"


def describe(plan: Plan, short: Callable[[str], str]) -> str:
    return (
        f"stop CodeDeploy deployment {plan.details['deployment_id']} with rollback, so traffic returns from "
        f"{short(plan.from_version)} to {short(plan.to_version)}"
    )
