"""rollbackctl: the command line. Human output by default, ``--json`` for machines.

``demo``, ``local-aws`` and ``invoke`` (without AWS_ENDPOINT_URL) use the embedded emulator; ``run`` and
``history`` talk to the deployed controller at AWS_ENDPOINT_URL (a running ``local-aws``) or real AWS.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from .aws import AWS_ERRORS, client, error_code, recorded_before_bake, wait_for_execution
from .model import Incident
from .terminal import block, line

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
out = Console()
err = Console(stderr=True)

StackOption = Annotated[str, typer.Option("--stack-name", envvar="ROLLBACKCTL_STACK", help="The controller's stack.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
TemplateOption = Annotated[Path, typer.Option("--template", "-t", help="The SAM template to deploy.")]
OverridesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--parameter-overrides",
        help="Key=Value Key2=Value2 (or ParameterKey=K,ParameterValue=V), as sam deploy takes them; repeatable.",
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit."""
    sys.stderr.write(f"rollbackctl: {' '.join(message.split())}\n")
    raise typer.Exit(code)


def read_event(path: Path) -> tuple[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read: {exc}")
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{path}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")


def stack_outputs(stack_name: str) -> dict[str, str]:
    try:
        stacks = client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except AWS_ERRORS as exc:
        fail(f"cannot find the controller's stack {stack_name!r}: {exc}", 1)
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def caller_identity() -> str:
    """Who is acting, as IAM knows them (STS GetCallerIdentity), never a name the caller types; recorded as such."""
    try:
        arn = str(client("sts").get_caller_identity()["Arn"])
    except AWS_ERRORS as exc:
        fail(f"cannot tell who you are (sts:GetCallerIdentity failed: {error_code(exc) or type(exc).__name__})", 1)
    return f"{arn} (STS caller identity)"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _overrides(values: list[str] | None) -> dict[str, str]:
    from .emulator import DeployError, parse_overrides

    try:
        return parse_overrides(values or [])
    except DeployError as exc:
        fail(str(exc))


@app.command()
def demo(
    template: TemplateOption = Path("template.yaml"),
    overrides: OverridesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy the controller into the embedded emulator, play the scenarios, print the timeline."""
    from .emulator.demo import Outcome, play
    from .mrkdwn import shown
    from .report import print_incident

    def show(outcome: Outcome) -> None:
        if as_json:
            return
        s = outcome.scenario
        mark = ("as expected", "green") if outcome.ok else ("NOT as expected", "bold red")
        out.rule(line((s.name, "bold"), f": {s.story}"))
        if outcome.incident:
            print_incident(out, outcome.incident, title=line(f"{outcome.incident.incident_id}  (", mark, ")"))
        for message in outcome.messages:
            out.print(line("  ", ("on-call received:", "dim"), " ", (str(message.get("Subject", "")), "bold")))
            for text in str(message.get("Message", "")).splitlines():
                out.print(line(f"    {text}"))
        for payload in outcome.slack:
            fields = [shown(f["text"]).replace("\n", ": ", 1) for b in payload["blocks"] for f in b.get("fields", [])]
            out.print(
                line(
                    "  ",
                    ("Slack received:", "dim"),
                    " ",
                    (shown(payload["text"]), "bold"),
                    f"  {' | '.join(fields)[:200]}",
                )
            )
        for problem in outcome.problems:
            out.print(line("  ", ("problem:", "red"), f" {problem}"))

    if not as_json:
        out.print("[bold]rollbackctl demo[/]: deploying template.yaml into the embedded AWS emulator ...")
    started = time.monotonic()
    outcomes = play(template, _overrides(overrides), show)
    passed = sum(o.ok for o in outcomes)
    if as_json:
        print_json(
            [
                {
                    "scenario": o.scenario.name,
                    "ok": o.ok,
                    "problems": o.problems,
                    "incident": o.incident.to_dict() if o.incident else None,
                }
                for o in outcomes
            ]
        )
    else:
        out.rule()
        colour = "green" if passed == len(outcomes) else "red"
        out.print(
            f"[{colour}]{passed}/{len(outcomes)} scenarios ended as expected[/] in {time.monotonic() - started:.1f} s"
        )
    raise typer.Exit(0 if passed == len(outcomes) else 1)


@app.command("local-aws")
def local_aws(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 4566,
    deploy_controller: Annotated[
        bool, typer.Option("--deploy", help="Deploy the controller from the template.")
    ] = False,
    template: TemplateOption = Path("template.yaml"),
    overrides: OverridesOption = None,
    stack_name: StackOption = "rollbackctl",
    members: Annotated[
        list[str] | None,
        typer.Option(
            "--member",
            help="ACCOUNT[/REGION]: also deploy member/template.yaml there (repeatable; the region defaults to the "
            "hub's) and add the account to MemberAccounts. Needs --deploy.",
        ),
    ] = None,
) -> None:
    """Serve the embedded emulator on 127.0.0.1 until stopped (Ctrl-C)."""
    from .emulator import DeployError, Emulator, deploy, deploy_member

    params = _overrides(overrides)
    places = [_member(raw) for raw in members or []]
    if places and not deploy_controller:
        fail("--member needs --deploy: the member stack takes the hub's outputs as its parameters")
    if places:
        listed = [a for a in params.get("MemberAccounts", "").split(",") if a.strip()]
        params["MemberAccounts"] = ",".join(dict.fromkeys(listed + [account for account, _ in places]))
    aws = Emulator(port=port).start()
    try:
        if deploy_controller:
            try:
                deployment = deploy(aws, template, stack_name, params)
                for account, region in places:
                    deploy_member(aws, deployment, account, region or deployment.region)
                    err.print(f"member stack deployed in account {account}, {region or deployment.region}")
            except DeployError as exc:
                fail(str(exc), 1)
            # One JSON line with the template Outputs, once the controller is ready.
            sys.stdout.write(json.dumps(deployment.outputs) + "\n")
            sys.stdout.flush()
        err.print(
            f"embedded AWS on http://127.0.0.1:{port} (export AWS_ENDPOINT_URL=http://127.0.0.1:{port}); "
            "Ctrl-C stops it"
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        aws.stop()


def _member(raw: str) -> tuple[str, str]:
    """ACCOUNT[/REGION] of --member, or one clear line and exit 2."""
    account, _, region = raw.strip().partition("/")
    if not re.fullmatch(r"[0-9]{12}", account):
        fail(f"--member {raw!r}: the account must be 12 digits (ACCOUNT or ACCOUNT/REGION)")
    if region and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]", region):
        fail(f"--member {raw!r}: {region!r} is not a region name such as us-west-2")
    return account, region


def _incident_for_event(outputs: dict[str, str], event_id: str) -> Incident | None:
    from .store import IncidentStore

    store = IncidentStore(client("dynamodb"), outputs["IncidentTableName"])
    matches = [i for i in store.list(limit=1000) if event_id and i.trigger.event_id == event_id]
    return matches[0] if matches else None


def _wait_for_incident(
    sfn: Any, execution_arn: str, timeout: float, wait_verify: bool
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(DescribeExecution, the record if the execution is baking before its verify step and we don't wait)."""
    found: list[dict[str, Any]] = []

    def recorded(_: dict[str, Any]) -> bool:
        record = None if wait_verify else recorded_before_bake(sfn, execution_arn)
        found.extend([record] if record is not None else [])
        return record is not None

    described = wait_for_execution(sfn, execution_arn, timeout, until=recorded)
    return described, (found[0] if found else None)


@app.command()
def run(
    event_file: Annotated[Path, typer.Argument(help="An EventBridge event (JSON), e.g. events/alarm-*.json.")],
    stack_name: StackOption = "rollbackctl",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workflow.")] = 900.0,
    wait_verify: Annotated[
        bool,
        typer.Option(
            "--wait-verify/--no-wait-verify",
            help="After a rollback, also wait out the verify bake (VerifyBakeSeconds) for the follow-up.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Send one event through the deployed controller, wait for the workflow, print the incident.

    A rollback's verify step waits VerifyBakeSeconds before its follow-up; by default `run` returns once the
    incident is recorded and on-call told (the follow-up comes later: `rollbackctl history`)."""
    from .report import print_incident

    text, event = read_event(event_file)
    outputs = stack_outputs(stack_name)
    sfn = client("stepfunctions")
    # Exactly what EventBridge delivers to the workflow: the event, untouched. The execution is named after
    # the event's content, so running the same file again is a no-op that returns the same execution.
    name = "run-" + hashlib.sha256(text.encode()).hexdigest()[:32]
    try:
        execution_arn = sfn.start_execution(stateMachineArn=outputs["StateMachineArn"], name=name, input=text)[
            "executionArn"
        ]
        started = "started"
    except AWS_ERRORS as exc:
        if error_code(exc) != "ExecutionAlreadyExists":
            fail(f"cannot start the workflow: {exc}", 1)
        execution_arn = outputs["StateMachineArn"].replace(":stateMachine:", ":execution:") + f":{name}"
        started = "this file was already run as"
    if not as_json:
        err.print(line(f"{started} {execution_arn}"))
    try:
        described, record = _wait_for_incident(sfn, execution_arn, timeout, wait_verify)
    except TimeoutError as exc:
        fail(str(exc), 1)
    if record is not None:
        incident: Incident | None = Incident.from_dict(record)
        if not as_json:
            bake = (record.get("verify") or {}).get("bake_seconds")
            err.print(
                line(f"verifying after a {bake} s bake: the follow-up goes to on-call then (rollbackctl history)")
            )
    elif described["status"] == "SUCCEEDED":
        incident = Incident.from_dict(json.loads(described["output"]))
    else:
        event_id = event.get("id", "") if isinstance(event, dict) else ""
        incident = _incident_for_event(outputs, event_id if isinstance(event_id, str) else "")
        if incident is None:
            fail(f"workflow {described['status']}: {described.get('error', '')} {described.get('cause', '')}", 1)
    assert incident is not None
    if incident.decision == "duplicate" and not as_json:
        out.print(line((incident.reason, "dim")))
        raise typer.Exit(0)
    if as_json:
        print_json(incident.to_dict())
    else:
        print_incident(out, incident)
    raise typer.Exit(0 if described["status"] == "SUCCEEDED" or record is not None else 1)


AccountOption = Annotated[str | None, typer.Option(help="Only this account (12 digits): a member's, or the hub's.")]
RegionOption = Annotated[str | None, typer.Option(help="Only this region.")]


def _where(account: str | None, region: str | None) -> None:
    if account is not None and not re.fullmatch(r"[0-9]{12}", account):
        fail(f"--account must be a 12-digit account id, got {account!r}")
    if region is not None and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]", region):
        fail(f"--region must be a region name such as us-east-1, got {region!r}")


@app.command()
def history(
    stack_name: StackOption = "rollbackctl",
    limit: Annotated[int, typer.Option(min=1, help="At most this many incidents.")] = 50,
    account: AccountOption = None,
    region: RegionOption = None,
    target: Annotated[
        str | None, typer.Option(help="Only incidents of this target (its ARN, or its short name: NAME:ALIAS, ...).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only incidents since then: an ISO 8601 time, or an age such as 30m, 12h, 7d.")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="Only incidents that ended so: rolled_back, refused, failed, dry_run, ignored.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Incidents, newest first (every account and region the hub serves, unless --account / --region)."""
    from .operations import HistoryFilter
    from .report import history_table
    from .store import IncidentStore

    _where(account, region)
    try:
        wanted = HistoryFilter.of(account, region, target, since, action)
    except ValueError as exc:
        fail(str(exc))
    outputs = stack_outputs(stack_name)
    store = IncidentStore(client("dynamodb"), outputs["IncidentTableName"])
    incidents = [i for i in store.list(limit if wanted.everything else 100_000) if wanted.keeps(i)][:limit]
    if as_json:
        print_json([i.to_dict() for i in incidents])
    else:
        out.print(history_table(incidents))


@app.command()
def good(
    target: Annotated[str, typer.Argument(help="The target's ARN (a Lambda alias, an ECS service, ...).")],
    version: Annotated[str, typer.Argument(help="Its version to trust: a published version, a task definition, ...")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it is good (recorded in the ledger).")] = "",
    stack_name: StackOption = "rollbackctl",
) -> None:
    """Record a known-good version by hand (day one, before any deployment has been watched): who (your IAM
    identity) and why go in the ledger, and rollbacks then go back to it by the same rules. It must be one of the
    target's own versions, still restorable, and not marked bad by an incident."""
    from .aws import Clients
    from .kinds import Refusal
    from .operations import mark_good
    from .store import Ledger

    if not reason.strip():
        fail("say why it is good: --reason TEXT (it is recorded in the ledger)")
    outputs = stack_outputs(stack_name)
    by = caller_identity()
    clients = Clients.create()
    try:
        note = mark_good(clients, Ledger(clients.dynamodb, outputs["LedgerTableName"]), target, version, by, reason)
    except Refusal as exc:
        fail(str(exc))
    except AWS_ERRORS as exc:
        fail(f"cannot read {target[:300]}: {error_code(exc) or type(exc).__name__}: {exc}", 1)
    out.print(line(("good", "green"), f" {version} of {target}: {note}"))


@app.command()
def status(
    stack_name: StackOption = "rollbackctl",
    account: AccountOption = None,
    region: RegionOption = None,
    as_json: JsonOption = False,
) -> None:
    """What rollbackctl guards right now, in one account and region (default: your credentials'): each target
    (kind, the alarms that guard it, the version serving, the known-good, the mode), the pipeline stages it
    blocked and the incident that did, the kill switch (who set it and why), the rate cap's use."""
    from .aws import Clients
    from .operations import status as read_status
    from .report import status_tables

    _where(account, region)
    outputs = stack_outputs(stack_name)
    try:
        me = client("sts").get_caller_identity()["Account"]
        triage = client("lambda").get_function_configuration(FunctionName=f"{stack_name}-triage")
    except AWS_ERRORS as exc:
        fail(f"cannot read the controller {stack_name!r}: {error_code(exc) or type(exc).__name__}", 1)
    settings = {k: str(v) for k, v in ((triage.get("Environment") or {}).get("Variables") or {}).items()}
    import boto3

    clients = Clients.create(boto3.session.Session(region_name=region) if region else None)
    where = str(clients.cloudwatch.meta.region_name)
    try:
        found = read_status(
            Clients.create(), clients, outputs, settings, account or me, where, live=(account or me) == me
        )
    except AWS_ERRORS as exc:
        fail(f"cannot read the status of account {account or me}, {where}: {error_code(exc) or type(exc).__name__}", 1)
    if as_json:
        print_json(found.to_dict())
    else:
        for table in status_tables(found):
            out.print(table)


@app.command()
def lint(
    stack_name: StackOption = "rollbackctl",
    as_json: JsonOption = False,
) -> None:
    """What will not work when it matters, in your credentials' account and region; exit 1 when anything is found:
    an alarm whose rollback:target tag or dimensions point at a target that does not exist, a rollback:* tag that is
    not one or has a value that is not valid, a rollback:pipeline naming a pipeline or stage that does not exist, a
    guarded target whose known-good version is not restorable. Read-only."""
    from dataclasses import asdict

    from rich.table import Table

    from .aws import Clients
    from .operations import lint as find
    from .store import Ledger

    outputs = stack_outputs(stack_name)
    clients = Clients.create()
    try:
        findings = find(clients, Ledger(clients.dynamodb, outputs["LedgerTableName"]))
    except AWS_ERRORS as exc:
        fail(f"cannot read what rollbackctl guards: {error_code(exc) or type(exc).__name__}: {exc}", 1)
    if as_json:
        print_json([asdict(f) for f in findings])
    elif findings:
        table = Table(title=f"{len(findings)} finding(s): these will not work when it matters")
        for column in ("where", "problem", "fix"):
            table.add_column(column)
        for f in findings:
            table.add_row(line((f.where, "bold")), line((f.problem, "yellow")), line(f.fix))
        out.print(table)
    else:
        out.print(line(("nothing found", "green"), ": every alarm points at a target that exists, every tag is valid"))
    raise typer.Exit(1 if findings else 0)


@app.command()
def show(
    incident_id: Annotated[str, typer.Argument(help="The incident (inc-...), as history lists it.")],
    stack_name: StackOption = "rollbackctl",
    as_json: JsonOption = False,
) -> None:
    """One incident: what fired, what was decided and changed, why, who was told, and how it was verified."""
    from .report import print_incident
    from .store import IncidentStore

    if not re.fullmatch(r"inc-[0-9A-Za-z-]{1,80}", incident_id):
        fail(f"{incident_id[:100]!r} is not an incident id (inc-..., as history lists them)")
    outputs = stack_outputs(stack_name)
    incident = IncidentStore(client("dynamodb"), outputs["IncidentTableName"]).get(incident_id)
    if incident is None:
        fail(f"no incident {incident_id} in {outputs['IncidentTableName']} (rollbackctl history lists them)")
    if as_json:
        print_json(incident.to_dict())
    else:
        print_incident(out, incident)


@app.command()
def unblock(
    pipeline: Annotated[str, typer.Argument(help="The pipeline rollbackctl blocked.")],
    stage: Annotated[str | None, typer.Argument(help="The stage (default: every stage rollbackctl blocked).")] = None,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it is safe to ship again (recorded).")] = "",
    everything: Annotated[
        bool, typer.Option("--all", help="Also lift transitions that rollbackctl did not disable (a change freeze).")
    ] = False,
    stack_name: StackOption = "rollbackctl",
    as_json: JsonOption = False,
) -> None:
    """Re-enable the inbound transitions rollbackctl disabled and record who (your IAM identity) and why in the
    incident that blocked each. A transition a human disabled stays disabled unless --all."""
    from .aws import Clients
    from .pipelines import unblock as do_unblock
    from .pipelines import unblock_step
    from .store import IncidentStore

    if not reason.strip():
        fail("say why it is safe to ship again: --reason TEXT (it is recorded in the incident)")
    outputs = stack_outputs(stack_name)
    by = caller_identity()
    clients = Clients.create()
    try:
        done = do_unblock(clients, pipeline, stage, by, reason.strip(), everything)
    except LookupError as exc:
        fail(str(exc), 1)
    except AWS_ERRORS as exc:
        fail(f"cannot unblock {pipeline}: {exc}", 1)
    store = IncidentStore(clients.dynamodb, outputs["IncidentTableName"])
    for entry in done:
        incident = store.get(entry["incident_id"]) if entry.get("incident_id") else None
        if incident is not None:
            incident.record_step(unblock_step(pipeline), "done", entry["detail"])
            store.put(incident)
    if as_json:
        print_json(done)
    elif not done:
        out.print(line(f"nothing to unblock: no inbound transition of {pipeline} is disabled"))
    for entry in [] if as_json else done:
        out.print(
            line(
                ("unblocked", "green"),
                f" {pipeline}/{entry['stage']} (blocked by {entry.get('incident_id') or '?'}): {entry['reason']}",
            )
        )


KILL_SWITCH = "/rollbackctl/kill-switch"


def _switch(value: str, reason: str) -> None:
    from .operations import set_kill_switch

    if not reason.strip():
        fail("say why: --reason TEXT (it is recorded with the kill switch)")
    try:
        description = set_kill_switch(client("ssm"), KILL_SWITCH, value, caller_identity(), reason)
    except AWS_ERRORS as exc:
        fail(f"cannot set {KILL_SWITCH}: {exc}", 1)
    out.print(line("kill switch ", (value, "bold"), f" ({description}); takes effect within 10 seconds"))


@app.command()
def pause(reason: Annotated[str, typer.Option("--reason", "-r", help="Why (recorded).")] = "") -> None:
    """Set the kill switch: rollbackctl makes no mutating call until resumed (who: your IAM identity)."""
    _switch("on", reason)


@app.command()
def resume(reason: Annotated[str, typer.Option("--reason", "-r", help="Why (recorded).")] = "") -> None:
    """Clear the kill switch (who: your IAM identity)."""
    _switch("off", reason)


@app.command()
def rollback(
    target: Annotated[str, typer.Argument(help="The target's ARN (a Lambda alias, an ECS service, ...).")],
    to: Annotated[str | None, typer.Option("--to", help="The version / task definition to go back to.")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --to: override the known-good rule.")] = False,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (recorded).")] = "",
    stack_name: StackOption = "rollbackctl",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workflow.")] = 900.0,
    as_json: JsonOption = False,
) -> None:
    """Start the rollback workflow by hand for one target (same safety rules as an alarm, the rate cap included).

    --to names a version of the target's own function (a published version, never $LATEST) or a revision of its
    own task-definition family; it must be known-good unless --force. Who asked is your IAM identity (STS)."""
    from . import kinds
    from .operations import manual_rollback
    from .report import print_incident

    if force and not to:
        fail("--force only goes with --to VERSION: it overrides the known-good rule for that version")
    if not reason.strip():
        fail("say why: --reason TEXT (it is recorded in the incident)")
    named = kinds.parse(target)
    if named is None:
        fail(f"{target[:300]} is not {kinds.labels()}")
    asked = manual_rollback(named, to or "", force, caller_identity(), reason)
    outputs = stack_outputs(stack_name)
    sfn = client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=outputs["StateMachineArn"], name=asked.name, input=asked.input)
    described = wait_for_execution(sfn, execution["executionArn"], timeout)
    if described["status"] != "SUCCEEDED":
        fail(f"workflow {described['status']}: {described.get('cause', '')}", 1)
    incident = Incident.from_dict(json.loads(described["output"]))
    if as_json:
        print_json(incident.to_dict())
    else:
        print_incident(out, incident)
    raise typer.Exit(0 if incident.action in ("rolled_back", "dry_run") else 1)


@app.command()
def diagnose(
    event_file: Annotated[Path | None, typer.Argument(help="An event (JSON) to diagnose, as delivered.")] = None,
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="The pipeline's latest execution.")] = None,
    deployment: Annotated[str | None, typer.Option("--deployment", help="A CodeDeploy deployment id.")] = None,
    alarm: Annotated[str | None, typer.Option("--alarm", help="A CloudWatch alarm name.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Why is the latest deployment failing? Read-only, against AWS_ENDPOINT_URL or real AWS."""
    from . import events
    from .aws import Clients
    from .diagnosis import classify
    from .evidence import gather
    from .model import Incident, PipelineRef, Trigger, iso, utcnow

    chosen = [c for c in (event_file, pipeline, deployment, alarm) if c]
    if len(chosen) != 1:
        fail("give exactly one of: EVENT_FILE, --pipeline NAME, --deployment ID, --alarm NAME")
    clients = Clients.create()
    region = clients.codepipeline.meta.region_name
    now = iso(utcnow())
    try:
        if pipeline:
            latest = clients.codepipeline.list_pipeline_executions(pipelineName=pipeline, maxResults=1)[
                "pipelineExecutionSummaries"
            ]
            if not latest:
                fail(f"pipeline {pipeline} has no executions", 1)
            trigger = Trigger(
                "pipeline", pipeline, latest[0]["pipelineExecutionId"], latest[0]["status"], now, region=region
            )
            incident = Incident("diagnose", trigger, now, pipeline=PipelineRef(pipeline, None, "--pipeline"))
        elif deployment:
            incident = Incident("diagnose", Trigger("codedeploy", deployment, deployment, "", now, region=region), now)
        elif alarm:
            incident = Incident("diagnose", Trigger("alarm", alarm, alarm, "", now, region=region), now)
        else:
            assert event_file is not None
            _, event = read_event(event_file)
            try:
                signal = events.parse(event)
            except events.InvalidEvent as exc:
                fail(f"{event_file}: {exc}")
            incident = Incident("diagnose", signal.trigger(), now)
            if isinstance(signal, events.PipelineFailure):
                incident.pipeline = PipelineRef(signal.pipeline, signal.stage or None, "the event")
            if isinstance(signal, events.EcsDeploymentFailure):
                incident.target = signal.service_arn
        result = classify(gather(incident, clients))
    except AWS_ERRORS as exc:
        fail(f"cannot diagnose: {exc}", 1)
    if as_json:
        print_json({"trigger": incident.trigger.__dict__, "diagnosis": result.__dict__})
        return
    out.print(line((f"{incident.trigger.kind} {incident.trigger.name}", "bold"), f" ({incident.trigger.id})"))
    out.print(line(("why", "bold"), f": [{result.category}] {result.summary}"))
    out.print(line(("fix", "bold"), f": {result.remediation}"))
    for item in result.evidence:
        out.print(line(f"  - {json.dumps(item, default=str)[:400]}"))


FUNCTIONS_DIR = "functions"


@app.command()
def invoke(
    function: Annotated[
        str,
        typer.Argument(help="A folder under functions/: triage, restore, contain, ..., gate, slack_actions."),
    ],
    event_file: Annotated[Path, typer.Argument(help="The event to hand the handler (JSON).")],
    template: TemplateOption = Path("template.yaml"),
    overrides: OverridesOption = None,
    stack_name: StackOption = "rollbackctl",
) -> None:
    """Run one function's handler like ``sam local invoke``, without Docker.

    With AWS_ENDPOINT_URL set, the handler runs here with the environment of the function deployed
    there; otherwise the controller is first deployed into an embedded emulator.
    """
    from .emulator import DeployError, Emulator, deploy
    from .emulator.runtime import InProcessRuntime

    code_dir = template.parent / FUNCTIONS_DIR / function
    if not (code_dir / "app.py").is_file():
        names = sorted(p.parent.name for p in (template.parent / FUNCTIONS_DIR).glob("*/app.py"))
        fail(f"no function {function!r}; choose one of: {', '.join(names)}")
    _, event = read_event(event_file)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    aws = None if endpoint else Emulator().start()
    try:
        if aws is not None:
            try:
                deploy(aws, template, stack_name, _overrides(overrides))
            except DeployError as exc:
                fail(str(exc), 1)
        name = f"{stack_name}-{function}"
        config = client("lambda").get_function_configuration(FunctionName=name)
        runtime = InProcessRuntime(os.environ.get("AWS_DEFAULT_REGION", "us-east-1"), endpoint)
        runtime.register(name, code_dir.resolve())
        fn = SimpleNamespace(
            function_name=name,
            handler=config["Handler"],
            version="$LATEST",
            function_arn=config["FunctionArn"],
            memory_size=config["MemorySize"],
            last_modified=config["LastModified"],
            environment_vars=(config.get("Environment") or {}).get("Variables", {}),
        )
        payload, errored, logs = runtime.invoke(fn, event)
    finally:
        if aws is not None:
            aws.stop()
    if logs:
        err.print(block(logs.rstrip()))
    sys.stdout.write(json.dumps(json.loads(payload), indent=2) + "\n")
    raise typer.Exit(1 if errored else 0)


OVERRIDES_FLAG = "--parameter-overrides"


def sam_style(argv: list[str]) -> list[str]:
    """``--parameter-overrides`` as ``sam deploy`` takes it: ``K=V K2=V2`` after one flag (Click takes one value per
    flag), the flag repeated, and ``ParameterKey=K,ParameterValue=V``: every ``=``-token after the flag, up to the
    next option, becomes one more value of it. A flag with no value is left for Click to refuse."""
    out: list[str] = []
    taking = pending = False  # after the flag; the flag seen and no value yet
    for arg in argv:
        if taking and not arg.startswith("-") and "=" in arg:  # "--" starts with "-": the end of the options
            out += [OVERRIDES_FLAG, arg]
            pending = False
            continue
        if pending:
            out.append(OVERRIDES_FLAG)
        taking = pending = arg == OVERRIDES_FLAG
        if arg.startswith(OVERRIDES_FLAG + "="):  # the flag=its first value, then maybe more
            out += [OVERRIDES_FLAG, arg.split("=", 1)[1]]
            taking = True
        elif not taking:
            out.append(arg)
    if pending:
        out.append(OVERRIDES_FLAG)
    return out


def main() -> None:
    app(args=sam_style(sys.argv[1:]), prog_name="rollbackctl")


if __name__ == "__main__":
    main()
