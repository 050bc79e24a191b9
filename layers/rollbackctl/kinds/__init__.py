"""Target kinds: the one place that lists them (as flagger's router factory and argo-rollouts' list of traffic
routers are). Everything else asks the registry and never tests a kind's name.

Adding a kind: a module here with an instance that satisfies ``base.TargetKind``, one line in ``KINDS``, its
IAM in template.yaml (tests/static/test_kinds.py says what is missing), a contract-test row in
tests/kinds/test_contract.py. See docs/adding-a-kind.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..aws import Clients
from ..model import PipelineRef, Plan
from ..store import Ledger
from .base import (
    AlreadyGoingBack,
    Checked,
    NoWayBack,
    ReadBack,
    Refusal,
    RestoreIncomplete,
    Seen,
    Ships,
    Target,
    TargetKind,
)
from .beanstalk_environment import BEANSTALK_ENVIRONMENT
from .cloudformation_stack import CLOUDFORMATION_STACK
from .codedeploy_group import CODEDEPLOY_GROUP
from .ecs_service import ECS_SERVICE
from .lambda_alias import LAMBDA_ALIAS
from .pipeline_stage import PIPELINE_STAGE

KINDS: tuple[TargetKind, ...] = (
    LAMBDA_ALIAS,
    ECS_SERVICE,
    CODEDEPLOY_GROUP,
    CLOUDFORMATION_STACK,
    PIPELINE_STAGE,
    BEANSTALK_ENVIRONMENT,
)
# The kind that puts back what it ships, for targets with no way back of their own: the pipeline stage.
SHIPS: Ships | None = PIPELINE_STAGE
_BY_NAME: dict[str, TargetKind] = {k.name: k for k in KINDS}

__all__ = [
    "KINDS",
    "SHIPS",
    "AlreadyGoingBack",
    "Checked",
    "NoWayBack",
    "ReadBack",
    "Refusal",
    "RestoreIncomplete",
    "Seen",
    "Ships",
    "Target",
    "TargetKind",
    "find",
    "from_codedeploy",
    "from_metric",
    "labels",
    "of",
    "parse",
    "pipeline_of",
    "plan",
    "plan_shipping",
    "short_name",
]


def parse(arn: str) -> Target | None:
    """The target an ARN names, or None when it is no kind's (handled once, by the caller)."""
    arn = arn.strip()
    return next((t for k in KINDS if (t := k.parse(arn)) is not None), None)


def of(kind_or_target: str | Target) -> TargetKind:
    return _BY_NAME[kind_or_target if isinstance(kind_or_target, str) else kind_or_target.kind]


def from_metric(namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None:
    return next((t for k in KINDS if (t := k.from_metric(namespace, dims, region, account)) is not None), None)


def find(clients: Clients, namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None:
    """A metric that names its target only through AWS (asked of every kind, after from_metric found nothing)."""
    return next((t for k in KINDS if (t := k.find(clients, namespace, dims, region, account)) is not None), None)


def plan(clients: Clients, target: Target, ledger: Ledger, pipeline: PipelineRef | None) -> Plan:
    """The way back for ``target``: its kind's own; for a kind that has none (NoWayBack), the stage of the pipeline
    that ships it (``pipeline``, from rollback:pipeline). A target that is itself a pipeline goes back through the
    stage ``pipeline`` names, when a tag names one."""
    kind = of(target)
    if SHIPS is not None and pipeline is not None and kind.name == SHIPS.name:
        return SHIPS.plan_shipping(clients, pipeline, target, ledger)
    try:
        return kind.plan(clients, target, ledger)
    except NoWayBack as none:
        return plan_shipping(clients, none, pipeline, target, ledger)


def pipeline_of(plan: Plan) -> PipelineRef | None:
    """The pipeline stage a plan goes back through (the shipping kind's plans), which Contain then blocks."""
    return SHIPS.pipeline_of(plan) if SHIPS is not None and plan.kind == SHIPS.name else None


def plan_shipping(
    clients: Clients, why: NoWayBack, pipeline: PipelineRef | None, target: Target, ledger: Ledger
) -> Plan:
    """The way back for a target whose kind has none (``why``): roll back the pipeline stage that ships it."""
    if pipeline is None:
        raise Refusal(
            f"{why}; tag the alarm or the target rollback:pipeline=PIPELINE/STAGE with the stage that ships it, and "
            "rollbackctl rolls that stage back instead"
        )
    if SHIPS is None:
        raise Refusal(f"{why}; and rollbackctl cannot roll back pipeline {pipeline.name} itself")
    return SHIPS.plan_shipping(clients, pipeline, target, ledger)


def from_codedeploy(clients: Clients, deployment: dict[str, Any], region: str, account: str) -> Target | None:
    return next((t for k in KINDS if (t := k.from_codedeploy(clients, deployment, region, account)) is not None), None)


def labels() -> str:
    """What a target may be, for a refusal that names the forms ("a Lambda alias ARN (...) or an ECS ...")."""
    names = [k.label for k in KINDS]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def short_name(arn: str | None) -> str:
    """How people say a target: NAME:ALIAS, CLUSTER/SERVICE, ...; an unknown ARN as it is."""
    if not arn:
        return "no target"
    target = parse(arn)
    return target.name if target else arn
