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
from .base import Checked, ReadBack, Refusal, RestoreIncomplete, Seen, Target, TargetKind
from .ecs_service import ECS_SERVICE
from .lambda_alias import LAMBDA_ALIAS

KINDS: tuple[TargetKind, ...] = (LAMBDA_ALIAS, ECS_SERVICE)
_BY_NAME: dict[str, TargetKind] = {k.name: k for k in KINDS}

__all__ = [
    "KINDS",
    "Checked",
    "ReadBack",
    "Refusal",
    "RestoreIncomplete",
    "Seen",
    "Target",
    "TargetKind",
    "from_codedeploy",
    "from_metric",
    "labels",
    "of",
    "parse",
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
