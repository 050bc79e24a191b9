"""The fault matrix (issue 17): every task state of the workflow, and every dependency it calls, faulted one at a
time, through the real workflow. Columns: the function's sandbox ending before its handler runs; ending right after
its change went through and before it returned (a timeout, as Lambda reports one); and each dependency the step
calls (DynamoDB, SSM, SNS, Secrets Manager, CloudWatch, the target's own API) throttled, failing (5xx), denied and
timing out, on every call that step makes.

Every cell must hold, each read back from AWS, never from what the workflow says of itself:
- truth: the record says rolled_back exactly when the target reads back restored;
- once: AWS applied each mutating call at most once for the deployment;
- nothing lost: one execution, finished, and one incident record for the alarm;
- a page when a human is needed (anything but a clean rollback): a message reached on-call naming what the
  record says.

One controller per row (a fresh target and fresh sandboxes per cell, so no kill switch or client is cached across
cells); the rows run side by side. The matrix is printed at the end of the run (tests/e2e/conftest.py).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import pytest

from rollbackctl.emulator import deploy, estate
from rollbackctl.emulator.demo import drain_messages, fire_and_wait, subscribe_queue
from rollbackctl.emulator.faults import TIMEOUT, Faults
from rollbackctl.emulator.slack import SlackCatcher
from rollbackctl.store import IncidentStore
from tests.conftest import TEMPLATE

# service -> its error codes for (throttled, failing, denied), as its API names them (botocore's models and the
# services' common errors); "timeout" is the network not answering (botocore's ReadTimeoutError)
CODES = {
    "dynamodb": ("ThrottlingException", "InternalServerError", "AccessDeniedException"),
    "ssm": ("ThrottlingException", "InternalServerError", "AccessDeniedException"),
    "sns": ("Throttling", "InternalError", "AuthorizationError"),
    "secretsmanager": ("ThrottlingException", "InternalServiceError", "AccessDeniedException"),
    "cloudwatch": ("Throttling", "InternalFailure", "AccessDenied"),
    "lambda": ("TooManyRequestsException", "ServiceException", "AccessDeniedException"),
    "ecs": ("ThrottlingException", "ServerException", "AccessDeniedException"),
    "codepipeline": ("ThrottlingException", "InternalFailure", "AccessDeniedException"),
    "elasticbeanstalk": ("Throttling", "InternalFailure", "AccessDenied"),
}
FAULTS_OF_A_DEPENDENCY = ("throttled", "5xx", "denied", "timeout")
DEPENDENCIES = ("dynamodb", "ssm", "sns", "secretsmanager", "cloudwatch", "target")
CRASHES = ("dies-before", "dies-after-change")
COLUMNS = (*CRASHES, *(f"{d}:{f}" for d in DEPENDENCIES for f in FAULTS_OF_A_DEPENDENCY))
FUNCTION = "rollbackctl-{}"
SESSION = botocore.session.get_session()


@dataclass
class Case:
    alarm: str
    restored: Callable[[], bool]


@dataclass
class Kind:
    name: str
    services: tuple[str, ...]  # the target's own API, as botocore names the services
    setup: Callable[[Any, str], Case]  # (aws, a suffix unique to the cell) -> the estate, built


def _canary(aws: Any, n: str) -> Case:
    name = f"checkout{n}"
    estate.lambda_with_versions(aws, name, 2)
    estate.alias(aws, name, "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, f"{name}-errors", name, "live")

    def restored() -> bool:
        alias = aws.client("lambda").get_alias(FunctionName=name, Name="live")
        return bool(alias["FunctionVersion"] == "1" and not alias["RoutingConfig"]["AdditionalVersionWeights"])

    return Case(f"{name}-errors", restored)


def _service_with_pipeline(aws: Any, n: str) -> Case:
    service = f"web{n}"
    estate.service_shipped_by_pipeline(aws, service, f"{service}-pipeline", f"{service}-5xx")

    def restored() -> bool:
        found = aws.client("ecs").describe_services(cluster="prod", services=[service])["services"][0]
        return bool(found["deployments"][0]["taskDefinition"].endswith(f"/{service}:1"))

    return Case(f"{service}-5xx", restored)


def _environment(aws: Any, n: str) -> Case:
    """Elastic Beanstalk: a change that takes time, so the workflow waits and reads it back (ReadBackRestore)."""
    from moto.moto_api import state_manager

    application, environment = f"shop{n}", f"shop{n}-prod"
    arn = estate.beanstalk_moved(aws, application, environment)
    estate.custom_alarm(aws, f"{environment}-errors", "Shop/Checkout", f"Errors{n}", tags={"rollback:target": arn})
    # the update finishes at its second read: Restore starts it and reads it under way, ReadBackRestore reads it done
    state_manager.set_transition("elasticbeanstalk::environment", {"progression": "manual", "times": 2})

    def restored() -> bool:
        [found] = aws.client("elasticbeanstalk").describe_environments(EnvironmentNames=[environment])["Environments"]
        return bool(found["Status"] == "Ready" and found.get("VersionLabel") == "v1")

    return Case(f"{environment}-errors", restored)


CANARY = Kind("canary", ("lambda",), _canary)
SERVICE = Kind("ecs+pipeline", ("ecs", "codepipeline"), _service_with_pipeline)
ENVIRONMENT = Kind("beanstalk", ("elasticbeanstalk",), _environment)


@dataclass
class Row:
    state: str
    function: str  # the function's short name
    invocation: int  # which invocation of it in the incident is this state's
    kind: Kind
    after_change: tuple[str, str]  # the call after which "dies-after-change" ends the sandbox
    calls: set[str] = field(default_factory=set)  # the dependencies it calls (checked against the clean run)

    @property
    def id(self) -> str:
        return f"{self.state}[{self.kind.name}]"


ROWS = [
    Row("Triage", "triage", 1, CANARY, ("dynamodb", "TransactWriteItems"), {"dynamodb", "ssm", "cloudwatch", "target"}),
    Row("Restore", "restore", 1, CANARY, ("lambda", "UpdateAlias"), {"dynamodb", "ssm", "target"}),
    Row("Restore", "restore", 1, SERVICE, ("ecs", "UpdateService"), {"dynamodb", "ssm", "target"}),
    Row("ReadBackRestore", "restore", 2, ENVIRONMENT, ("dynamodb", "PutItem"), {"dynamodb", "target"}),
    Row("Contain", "contain", 1, SERVICE, ("codepipeline", "DisableStageTransition"), {"dynamodb", "target"}),
    Row("Diagnose", "diagnose", 1, CANARY, ("cloudwatch", "DescribeAlarms"), {"cloudwatch", "target"}),
    Row("RecordAndNotify", "notify", 1, CANARY, ("sns", "Publish"), {"dynamodb", "sns", "secretsmanager"}),
    Row("Verify", "verify", 1, CANARY, ("dynamodb", "UpdateItem"), {"dynamodb", "sns", "secretsmanager", "cloudwatch"}),
]

SLACK_SECRET = "oncall/slack-webhook"  # nosec B105 - a secret's name


@dataclass
class Stand:
    """One controller, its on-call queue and its Slack, for one row's cells."""

    aws: Any
    controller: Any
    oncall: str
    slack: SlackCatcher
    cells: int = 0


@pytest.fixture
def stand(aws: Any) -> Iterator[Stand]:
    with SlackCatcher() as slack:
        aws.client("secretsmanager").create_secret(Name=SLACK_SECRET, SecretString=slack.url)
        overrides = {
            "SlackWebhookSecretId": SLACK_SECRET,
            "RateCapCount": "100",  # one target per cell: the rate cap is not what this matrix is about
            "RateCapGlobalCount": "100",
            "VerifyBakeSeconds": "1",
        }
        controller = deploy(aws, TEMPLATE, overrides=overrides)
        yield Stand(aws, controller, subscribe_queue(aws, controller.outputs["NotificationTopicArn"]), slack)


def inject(faults: Faults, row: Row, column: str) -> None:
    function = FUNCTION.format(row.function)
    if column == "dies-before":  # the process exits before the handler runs (as a crash at init would)
        faults.crash(function, "Runtime.ExitError", invocation=row.invocation)
        return
    if column == "dies-after-change":  # the function times out right after its change went through
        faults.crash(function, "Sandbox.Timedout", after=row.after_change, invocation=row.invocation)
        return
    dependency, fault = column.split(":")
    services = row.kind.services if dependency == "target" else (dependency,)
    for service in services:
        throttled, failing, denied = CODES[service]
        code = {"throttled": throttled, "5xx": failing, "denied": denied, "timeout": TIMEOUT}[fault]
        service_id = SESSION.get_service_model(service).service_id.hyphenize()  # as the before-send event names it
        faults.add(service_id, None, code, f"injected {fault}", function=function, invocation=row.invocation)


@dataclass
class Cell:
    outcome: str  # what the record says, "+page" when a human was paged
    broken: list[str]  # every property the cell violated


def run_cell(stand: Stand, faults: Faults, row: Row, column: str | None) -> Cell:
    aws = stand.aws
    stand.cells += 1
    case = row.kind.setup(aws, f"-{stand.cells}")
    aws.runtime.containers.clear()  # fresh sandboxes: nothing cached from the cell before
    drain_messages(aws, stand.oncall)
    faults.clear()
    if column is not None:
        inject(faults, row, column)
    finished = fire_and_wait(aws, stand.controller, case.alarm)
    broken: list[str] = []
    if column is not None and not faults.hits:
        broken.append("untested: the fault was never hit")
    if len(finished) != 1 or finished[0]["status"] not in ("SUCCEEDED", "FAILED"):
        broken.append(f"lost: executions {[f['status'] for f in finished]}")
    records = [
        i
        for i in IncidentStore(aws.client("dynamodb"), stand.controller.outputs["IncidentTableName"]).list()
        if i.trigger.name == case.alarm
    ]
    if len(records) != 1:
        return Cell("lost", [*broken, f"lost: {len(records)} incident records for the alarm"])
    [incident] = records
    restored = case.restored()
    if (incident.action == "rolled_back") != restored:
        broken.append(f"lie: the record says {incident.action} and the target reads back restored={restored}")
    twice = [call for call, n in collections.Counter((s, o) for _, s, o in faults.applied).items() if n > 1]
    if twice:
        broken.append(f"twice: {twice}")
    messages = drain_messages(aws, stand.oncall)
    failed_steps = [s for s in incident.steps if s.get("status") == "failed"]
    human = incident.action != "rolled_back" or incident.error is not None or bool(failed_steps)
    human = human or finished[0]["status"] == "FAILED"
    paged = any(m["MessageAttributes"].get("action", {}).get("Value") == incident.action for m in messages)
    if human and not paged:
        broken.append(f"unpaged: {incident.action} ({incident.reason}); messages {[m['Subject'] for m in messages]}")
    if row.state == "Diagnose" and column is not None and ":" in column:
        # a source that fails is noted as missing, and the diagnosis still stands on what the event itself said
        diagnosis = incident.diagnosis
        if diagnosis is None or diagnosis.category == "unclassified":
            broken.append(f"diagnosis lost: {diagnosis}")
        elif not any(e.get("missing") for e in diagnosis.evidence):
            broken.append("the failed source is not noted as missing")
    outcome = incident.action or "?"
    if incident.action == "rolled_back" and human:
        outcome += "!"  # restored, with a failure recorded
    return Cell(outcome + ("+page" if human and paged else ""), broken)


def called(faults: Faults, row: Row) -> set[str]:
    """The dependencies the row's step called in a clean run, as the matrix's columns name them."""
    function = FUNCTION.format(row.function)
    services = {s for f, n, s, _ in faults.invocation_calls if (f, n) == (function, row.invocation)}
    return {"target" if s in row.kind.services else s for s in services} & set(DEPENDENCIES)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_every_cell_of_the_row_holds(stand: Stand, faults: Faults, row: Row, record_property: Any) -> None:
    clean = run_cell(stand, faults, row, None)
    assert clean.outcome == "rolled_back" and not clean.broken, clean
    # the columns that apply are the dependencies the step really calls: a declared one it no longer calls, or one
    # it calls undeclared, fails here rather than leaving a column that tests nothing
    assert called(faults, row) == row.calls
    cells: dict[str, Cell] = {}
    for column in COLUMNS:
        dependency = column.split(":")[0]
        if column in CRASHES or dependency in row.calls:
            cells[column] = run_cell(stand, faults, row, column)
    record_property("fault_matrix", json.dumps({row.id: {c: cell.outcome for c, cell in cells.items()}}))
    broken = {column: cell.broken for column, cell in cells.items() if cell.broken}
    assert not broken, json.dumps(broken, indent=1)


# --- the printed matrix ---------------------------------------------------------------------------------------------

SHORT = {"rolled_back": "RB", "failed": "F", "refused": "RF", "ignored": "IG", "dry_run": "DR", "lost": "LOST"}
LEGEND = (
    "RB rolled back | RB! rolled back, a failure recorded | F failed, not restored | RF refused | + paged | "
    "- not called by that step; each dependency: throttled/5xx/denied/timeout"
)


def short(outcome: str) -> str:
    base, _, page = outcome.partition("+")
    bang = "!" if base.endswith("!") else ""
    return SHORT.get(base.rstrip("!"), base) + bang + ("+" if page else "")


def table(rows: dict[str, dict[str, str]]) -> list[str]:
    """The matrix, one line per row (task state and target kind), cells by outcome."""
    head = ["state", "dies-before", "dies-after", *DEPENDENCIES]
    lines = []
    for row, cells in rows.items():
        groups = [
            "/".join(short(cells[f"{d}:{f}"]) if f"{d}:{f}" in cells else "-" for f in FAULTS_OF_A_DEPENDENCY)
            for d in DEPENDENCIES
        ]
        lines.append([row, short(cells.get("dies-before", "-")), short(cells.get("dies-after-change", "-")), *groups])
    widths = [max(len(str(r[i])) for r in [head, *lines]) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *lines]]
    counts = collections.Counter(short(o) for cells in rows.values() for o in cells.values())
    out.append(f"{sum(counts.values())} cells: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    out.append(LEGEND)
    return out
