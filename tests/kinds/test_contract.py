"""Every target kind keeps the protocol's contract, against the emulator without Step Functions.

A row per kind (``SEEDS``): an estate mid-deployment, the version it must go back to. For each: the ARN parses
to the kind and back, the plan names the known-good, it is restorable, the change reads back done and the target
then serves the known-good; a known-bad known-good is refused. A kind without a row fails the first test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from rollbackctl import kinds
from rollbackctl.aws import Clients
from rollbackctl.emulator import ACCOUNT, estate
from rollbackctl.emulator import cloudformation as cloudformation_model
from rollbackctl.emulator import ecs as ecs_model
from rollbackctl.kinds import Refusal, TargetKind
from rollbackctl.store import Ledger


@dataclass
class Seeded:
    arn: str
    good: str  # what the target must go back to
    settle: Callable[[], None] = lambda: None  # what AWS does by itself after the change (a rollout completing)
    # whether the plan's from/to are versions the ledger holds (a stack's are statuses: its known-good is
    # CloudFormation's own, so the ledger holds none of them and none can steer the plan)
    versioned: bool = True


def lambda_alias(aws: Any) -> Seeded:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    return Seeded(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:checkout:live", "1")


def ecs_service(aws: Any) -> Seeded:
    one, two = estate.task_definitions(aws, "web", 2)
    arn = estate.ecs_service(aws, "prod", "web", one)
    aws.client("ecs").update_service(cluster="prod", service="web", taskDefinition=two)
    return Seeded(arn, one, lambda: ecs_model.complete_rollout(ACCOUNT, "us-east-1", "prod", "web"))


def beanstalk_environment(aws: Any) -> Seeded:
    """shop/shop-prod launched on v1 and moved to v2, both updates completed: Track learned v1 good from Elastic
    Beanstalk's own "Environment creation successful" event (the ledger is the kind's only known-good)."""
    from moto.moto_api import state_manager

    from rollbackctl.emulator import patches

    arn = estate.beanstalk_moved(aws)
    patches.drain()  # Track has recorded what the events said before the test reads the ledger
    state_manager.set_transition("elasticbeanstalk::environment", {"progression": "immediate"})
    return Seeded(arn, "v1")


def cloudformation_stack(aws: Any) -> Seeded:
    arn = estate.stack(aws, "shop", "r1")
    estate.stack_mid_update(aws, "shop", "r2")
    return Seeded(
        arn,
        "UPDATE_ROLLBACK_COMPLETE",
        lambda: cloudformation_model.finish(ACCOUNT, "us-east-1", "shop"),
        versioned=False,
    )


def codedeploy_group(aws: Any) -> Seeded:
    from moto.moto_api import state_manager

    from rollbackctl.kinds.codedeploy_group import version

    estate.auto_scaling_group(aws, "web-asg")
    arn = estate.server_group(aws, "web", "prod", ["web-asg"])
    one = estate.s3_revision(aws, "web-revisions", "web.zip", b"release 1")
    estate.server_deployed(aws, "web", "prod", one)
    estate.server_deployed(aws, "web", "prod", estate.s3_revision(aws, "web-revisions", "web.zip", b"release 2"))
    # From here on CodeDeploy deploys at once: the redeploy of the known-good reads back Succeeded.
    state_manager.set_transition("codedeploy::deployment", {"progression": "immediate"})
    return Seeded(arn, version(one))


def pipeline_stage(aws: Any) -> Seeded:
    from moto.moto_api import state_manager

    arn = estate.release_pipeline(aws, "orders-pipeline")
    good, _ = estate.release_history(aws, "orders-pipeline", ["c1", "c2"])  # c2 "succeeded", then went bad
    # CodePipeline runs the rollback execution by itself, at once (nothing else is in flight).
    state_manager.set_transition("codepipeline::execution", {"progression": "immediate"})
    return Seeded(arn, good)


SEEDS: dict[str, Callable[[Any], Seeded]] = {
    "lambda-alias": lambda_alias,
    "ecs-service": ecs_service,
    "beanstalk-environment": beanstalk_environment,
    "cloudformation-stack": cloudformation_stack,
    "codedeploy-group": codedeploy_group,
    "pipeline-stage": pipeline_stage,
}


def kind_id(kind: TargetKind) -> str:
    return kind.name


@pytest.fixture
def clients(aws: Any, controller: Any) -> Clients:
    return Clients.create(aws.session())


@pytest.fixture
def ledger(aws: Any, controller: Any) -> Ledger:
    return Ledger(aws.client("dynamodb"), controller.outputs["LedgerTableName"])


def test_every_kind_has_a_contract_row() -> None:
    assert set(SEEDS) == {kind.name for kind in kinds.KINDS}


@pytest.mark.parametrize("kind", kinds.KINDS, ids=kind_id)
def test_plan_restorable_apply_read_back_serving(aws: Any, clients: Clients, ledger: Ledger, kind: TargetKind) -> None:
    seeded = SEEDS[kind.name](aws)
    target = kind.parse(seeded.arn)
    assert target is not None and target.arn == seeded.arn and target.kind == kind.name
    assert kinds.parse(seeded.arn) == target and kinds.of(target) is kind
    assert target.account == ACCOUNT and target.region == "us-east-1" and target.name in seeded.arn
    assert all(other.parse(seeded.arn) is None for other in kinds.KINDS if other is not kind)

    plan = kind.plan(clients, target, ledger)
    assert (plan.kind, plan.target, plan.to_version) == (kind.name, seeded.arn, seeded.good)
    assert plan.from_version != plan.to_version and kind.describe(plan)
    kind.restorable(clients, plan)
    assert kind.serving(clients, target) != seeded.good
    kind.apply(clients, plan)
    if kind.read_back(clients, plan) == "pending":  # a change that takes time: AWS finishes it, then it reads back
        seeded.settle()
    assert kind.read_back(clients, plan) == "done"
    seeded.settle()
    assert kind.serving(clients, target) == seeded.good
    assert kind.versions(plan) == ((plan.from_version, plan.to_version) if seeded.versioned else None)
    # what each version is made of, in words that mean the same in any account: the bad one is made of something
    made_of = kind.artifacts(clients, target, plan.from_version)
    assert all(isinstance(a, str) and ":" in a for a in made_of)
    assert bool(made_of) == seeded.versioned
    label, url = kind.link(target, "https://us-east-1.console.aws.amazon.com")
    assert target.name in label and url.startswith("https://us-east-1.console.aws.amazon.com/")


@pytest.mark.parametrize("kind", kinds.KINDS, ids=kind_id)
def test_a_known_bad_known_good_is_refused(aws: Any, clients: Clients, ledger: Ledger, kind: TargetKind) -> None:
    seeded = SEEDS[kind.name](aws)
    ledger.record(seeded.arn, seeded.good, "bad", "rolled back by an earlier incident")
    target = kind.parse(seeded.arn)
    assert target is not None
    if not seeded.versioned:  # the ledger holds no versions of it: a row there names nothing the plan goes back to
        assert kind.plan(clients, target, ledger).to_version == seeded.good
        return
    with pytest.raises(Refusal, match="known-bad"):
        kind.plan(clients, target, ledger)


@pytest.mark.parametrize("kind", kinds.KINDS, ids=kind_id)
def test_an_arn_of_no_kind_parses_to_nothing(kind: TargetKind) -> None:
    for arn in ("arn:aws:sns:us-east-1:123456789012:topic", "", "arn:aws:lambda:us-east-1:1:function:x:y"):
        assert kind.parse(arn) is None
    assert kinds.parse("arn:aws:sqs:us-east-1:123456789012:queue") is None
