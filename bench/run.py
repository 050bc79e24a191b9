"""``make bench``: measure rollbackctl on the embedded emulator, print a table, write bench/results.json.

1. cold start: every handler module's import in a fresh interpreter against ``import boto3``;
2. time to restore: canary incidents through the deployed workflow against two floors, interleaved;
   cost per incident from the same incidents (transitions, invocations, calls);
3. alarm storm: many events for many services, redeliveries, duplicates and flapping, concurrently.

Exit status 1 when the controller did something wrong (a rollback missing or extra, a failed execution,
an alias not read back as expected); missed performance goals are reported, not failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, str(Path(__file__).absolute().parent.parent))

# The botocore hooks go in before any botocore session exists (every later session inherits them).
from bench import calls

RECORDER = calls.install()

from bench import aws_model, coldstart, common, cost, report, restore, storm  # noqa: E402

RESULTS = common.ROOT / "bench" / "results.json"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50, help="canary incidents measured (after warm-up)")
    parser.add_argument("--warmup", type=int, default=2, help="rounds run first and not measured (cold starts)")
    parser.add_argument("--storm", type=int, default=1000, help="alarm events in the storm")
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--canaries", type=int, default=20, help="services mid-deployment in the storm")
    parser.add_argument("--workers", type=int, default=16, help="threads delivering the storm's events")
    parser.add_argument("--rounds", type=int, default=9, help="cold-start rounds (median reported)")
    parser.add_argument("--only", default="coldstart,restore,storm", help="phases to run, comma-separated")
    parser.add_argument("--quick", action="store_true", help="a small run for trying things (not for the README)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.incidents, args.warmup, args.rounds = 8, 1, 3
        args.storm, args.services, args.canaries = 200, 10, 4
    return args


def _git() -> dict[str, Any]:
    def git(*cmd: str) -> str:
        try:
            out = subprocess.run(  # noqa: S603
                ["git", *cmd],  # noqa: S607
                cwd=common.ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except OSError:
            return ""
        return out.stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def _memory(aws: Any, controller: common.Controller) -> dict[str, int]:
    lam = aws.client("lambda")
    return {
        name: int(lam.get_function_configuration(FunctionName=name)["MemorySize"])
        for name in controller.functions.values()
    }


def _asl_parse_ms(aws: Any, machines: dict[str, str]) -> dict[str, float]:
    """The emulator parses a state machine's ASL (ANTLR) on every execution: a cost AWS does not have,
    proportional to the definition's size, paid on the critical path before the first state runs."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    sfn = aws.client("stepfunctions")
    out = {}
    for label, arn in machines.items():
        definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        AmazonStateLanguageParser.parse(definition)
        times = []
        for _ in range(15):
            start = time.perf_counter()
            AmazonStateLanguageParser.parse(definition)
            times.append(time.perf_counter() - start)
        out[label] = round(statistics.median(times) * 1000, 2)
    return out


MEMBER_ACCOUNT = "222222222222"


def _member(aws: Any, controller: common.Controller) -> restore.InAccount | None:
    """A member account beside the hub (member/template.yaml deployed there), when this checkout has one."""
    outputs = controller.deployment.outputs
    if not (common.ROOT / "member" / "template.yaml").exists() or "MemberTrustedRoleArns" not in outputs:
        return None
    from rollbackctl.emulator import deploy_member

    deploy_member(aws, controller.deployment, MEMBER_ACCOUNT, aws.region)
    return restore.InAccount(aws, MEMBER_ACCOUNT)


def _restore_phase(args: argparse.Namespace, console: Any, results: dict[str, Any]) -> None:
    from rollbackctl.emulator import Emulator

    with Emulator(time_scale=common.TIME_SCALE) as aws:
        RECORDER.reset()
        RECORDER.wrap_runtime(aws.runtime)
        controller = common.deploy_controller(aws)
        results["parameter_overrides"] = controller.overrides
        member = _member(aws, controller)

        def progress(done: int, total: int) -> None:
            if done % 10 == 0 or done == total:
                console.print(f"  round {done}/{total}")

        measured = restore.run(aws, controller, RECORDER, args.incidents, args.warmup, progress=progress, member=member)
        floor_machine = next(
            m["stateMachineArn"]
            for m in aws.client("stepfunctions").list_state_machines()["stateMachines"]
            if m["name"] == "bench-floor"
        )
        measured["where_the_time_goes"]["emulator_asl_parse_ms"] = _asl_parse_ms(
            aws, {"workflow": controller.state_machine, "floor_a": floor_machine}
        )
        costs = cost.per_incident(measured, _memory(aws, controller))
    orders_ok = measured["incidents"] > 0 and all(
        measured[k] == measured["incidents"]
        for k in (
            "diagnosis_after_restore",
            "notification_after_restore",
            "history_diagnosis_after_restore",
            "history_notification_after_restore",
        )
    )
    measured.pop("per_incident")
    results.update(measured)
    results["restore_first_ok"] = orders_ok
    results.update(costs)


def _storm_phase(args: argparse.Namespace, results: dict[str, Any]) -> None:
    from rollbackctl.emulator import Emulator

    with Emulator(time_scale=common.TIME_SCALE) as aws:
        RECORDER.reset()
        RECORDER.wrap_runtime(aws.runtime)
        controller = common.deploy_controller(aws)
        measured = storm.run(aws, controller, RECORDER, args.storm, args.services, args.canaries, workers=args.workers)
    measured["storm_mutating_floor"] = measured["storm_expected_rollbacks"]  # one UpdateAlias per rollback
    results.update(measured)


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = _parse(argv)
    console = Console(stderr=True)
    phases = {p.strip() for p in args.only.split(",") if p.strip()}
    started = time.perf_counter()
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "git": _git(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "time_scale": common.TIME_SCALE,
    }
    try:
        from importlib.metadata import version

        results["machine"]["moto"] = version("moto")
        results["machine"]["boto3"] = version("boto3")
    except Exception:  # noqa: S110 -- informational only
        pass
    if "coldstart" in phases:
        console.print(f"[bold]cold start[/]: {args.rounds} rounds of boto3 and every handler, fresh interpreters")
        cold = coldstart.run(args.rounds)
        results["coldstart"] = cold
        results["import_ratio_max"] = cold["import_ratio_max"]
    if "restore" in phases:
        console.print(f"[bold]time to restore[/]: {args.warmup} warm-up + {args.incidents} rounds of 3 samples")
        _restore_phase(args, console, results)
    if "storm" in phases:
        console.print(
            f"[bold]alarm storm[/]: {args.storm} events, {args.services} services, {args.canaries} mid-canary"
        )
        _storm_phase(args, results)
    model = aws_model.estimate(results)
    if model is not None:
        results["aws_model"] = model
    results["goals"] = report.goals(results)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    problems = results.get("problems", []) + results.get("storm_problems", [])
    if "storm_rollbacks" in results and results["storm_rollbacks"] != results["storm_expected_rollbacks"]:
        problems.append(
            f"storm: {results['storm_rollbacks']} rollbacks, expected {results['storm_expected_rollbacks']}"
        )
    if "restore_first_ok" in results and not results["restore_first_ok"]:
        problems.append("diagnosis or notification happened before the restore in some incident")
    results["problems_total"] = len(problems)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
    Console(width=max(100, Console().width)).print(report.rich_table(results))
    console.print(f"wrote {args.out} in {results['seconds']:.0f} s")
    for problem in problems:
        console.print(f"[bold red]problem[/]: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
