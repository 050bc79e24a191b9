"""What every target kind is: a small protocol, the parsed target, and the two outcomes a kind can raise.

A target kind (a Lambda alias, an ECS service, ...) is one module behind ``TargetKind``; ``kinds/__init__.py`` is
the only place that lists them. Everything that differs between kinds lives in its module: how its ARN reads,
which alarms and deployments name it, its known-good rules, whether that version can still be deployed, how it
goes back and is read back, its evidence and how it is described. The rest of the code asks the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..aws import Clients
from ..model import Incident, PipelineRef, Plan
from ..outcomes import Refusal, RestoreIncomplete
from ..store import Ledger

__all__ = [
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
]


class AlreadyGoingBack(Refusal):
    """The target is already going back by its own means (a stack CloudFormation is rolling back, a stage whose
    onFailure rollback runs): recorded as ignored, never fought."""


class NoWayBack(Refusal):
    """The kind cannot go back by itself (a stack whose update finished): the pipeline stage that ships the target
    may (``rollback:pipeline``); without one, this is the refusal and its reason says what to do."""


@dataclass(frozen=True)
class Target:
    """A target ARN, parsed once: what it is, where it lives, and its names."""

    arn: str
    kind: str  # the registry key, e.g. "lambda-alias"
    partition: str
    region: str
    account: str
    name: str  # how people say it: "checkout:live", "prod/web"
    parts: tuple[str, ...] = ()  # the names in the ARN: ("checkout", "live"), ("prod", "web")


@dataclass
class Seen:
    """What a deployment event tells the ledger: a version started (or succeeded) on a target."""

    target: str
    version: str
    kind: Literal["started", "succeeded"]
    actor: str = ""  # who, when the event says (Track fills it in from CloudTrail's userIdentity)
    at: str = ""
    role: str = ""  # the IAM role behind the caller's session, when the caller was an assumed role


# "done": the change finished; "pending": still under way (read again after poll_seconds); "next": its first step
# finished and the plan has another (an update aborted, then the known-good deployed): the workflow checks the kill
# switch again, applies the plan again (``apply`` reads ``plan.details`` for the step) and reads back as before.
ReadBack = Literal["done", "pending", "next"]


@dataclass(frozen=True)
class Checked:
    """What the restorable check found: nothing missing (or it raised Refusal), plus what it could not check."""

    notes: tuple[str, ...] = field(default=())


class TargetKind(Protocol):
    name: str  # the registry key, kept in the record as plan.kind
    label: str  # "a Lambda alias ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME:ALIAS)"
    gone: frozenset[str]  # error codes of a change meaning "the target disappeared"
    conflict: frozenset[str]  # codes meaning "changed since triage read it: decide again"
    poll_seconds: int  # how often the workflow reads back a change that takes time
    read_actions: frozenset[str]  # IAM actions triage and restore read with (checked against template.yaml)
    write_actions: frozenset[str]  # IAM actions that change the target (checked against template.yaml)
    # IAM actions the target's service makes with rollbackctl's credentials while it goes back (Elastic Beanstalk
    # deploys with its caller's permissions), on the service's own resources: granted to Restore, never called here
    delegated_actions: frozenset[str]
    trail_events: frozenset[str]  # CloudTrail eventNames Track learns deployments from (template.yaml's rule)

    # recognise
    def parse(self, arn: str) -> Target | None: ...
    def from_metric(self, namespace: str, dims: Mapping[str, str], region: str, account: str) -> Target | None: ...
    # a metric that names the target only through AWS (an Auto Scaling group of a deployment group, an environment
    # name without its application): None when this kind cannot tell, or the metric is not about it
    def find(
        self, clients: Clients, namespace: str, dims: Mapping[str, str], region: str, account: str
    ) -> Target | None: ...
    def from_codedeploy(
        self, clients: Clients, deployment: dict[str, Any], region: str, account: str
    ) -> Target | None: ...
    def tags(self, clients: Clients, target: Target) -> dict[str, str]: ...

    # decide (raise Refusal; never guess)
    def plan(self, clients: Clients, target: Target, ledger: Ledger) -> Plan: ...
    def plan_to(self, clients: Clients, target: Target, version: str) -> Plan: ...
    def restorable(self, clients: Clients, plan: Plan) -> Checked: ...

    # act, and read back. ``apply`` may note in ``plan.details`` what ``read_back`` needs (a new deployment id);
    # it returns what to tell on-call when the change takes time ("rollback deployment d-... started"), or None.
    # ``read_back`` answering "next" has the workflow apply the plan again for the change's next step.
    def apply(self, clients: Clients, plan: Plan) -> str | None: ...
    def read_back(self, clients: Clients, plan: Plan) -> ReadBack: ...
    def serving(self, clients: Clients, target: Target) -> str | None: ...
    # what the ledger records, under plan.target: (bad, good); also bad then, the artifacts the bad version brought,
    # as ledger keys in ``plan.details["bad_artifacts"]`` (a JSON list; a pipeline's source revisions)
    def versions(self, plan: Plan) -> tuple[str, str] | None: ...
    # what a version is made of, in words that mean the same in every account and region (a Lambda CodeSha256, image
    # digests, a CodeDeploy revision, source revisions): an artifact an incident rolled back is bad everywhere
    def artifacts(self, clients: Clients, target: Target, version: str) -> tuple[str, ...]: ...

    # explain
    def evidence(self, clients: Clients, incident: Incident, target: Target) -> list[dict[str, Any]]: ...
    def describe(self, plan: Plan) -> str: ...
    def link(self, target: Target, console: str) -> tuple[str, str]: ...

    # feed the ledger
    def seen(self, event: dict[str, Any], clients: Clients) -> list[Seen]: ...


class Ships(Protocol):
    """A kind that can put back what it ships (a pipeline stage): the fallback for a target whose own kind has no
    way back (NoWayBack) and whose alarm or target names its pipeline (``rollback:pipeline``)."""

    name: str

    def plan_shipping(self, clients: Clients, pipeline: PipelineRef, target: Target, ledger: Ledger) -> Plan: ...
    # the pipeline and stage one of its plans goes back through (what Contain blocks afterwards)
    def pipeline_of(self, plan: Plan) -> PipelineRef: ...
