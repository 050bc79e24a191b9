"""Cold start: the import of each function's handler module in a fresh interpreter, against ``import boto3``.

Each target is timed inside its own new ``python`` process (perf_counter around the import statement, so
interpreter start-up is not counted), with the environment the function gets: the template's Globals and
its own variables, resolved as the deployer resolves them, plus what the emulator's Lambda runtime sets.
Importing a handler module runs its module-level code too (clients, Powertools objects, settings): that
is the function's init phase. Rounds are interleaved and shuffled (boto3 and every function in each round)
so machine noise lands on all of them alike; the median of the rounds is reported.

Also runnable on its own, e.g. to compare two checkouts side by side in one run:
``python -m bench.coldstart --rounds 9 --roots /work/main /tmp/bench-scratch``
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ROOT, STACK

TIMER = (
    "import sys, time\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "t, c = time.perf_counter(), time.process_time()\n"
    "import {module}\n"
    "print(time.perf_counter() - t, time.process_time() - c)\n"
)
REF_FORMS = {
    "AWS::SNS::Topic": "arn:aws:sns:us-east-1:123456789012:{name}",
    "AWS::Serverless::StateMachine": "arn:aws:states:us-east-1:123456789012:stateMachine:{name}",
    "AWS::SQS::Queue": "https://sqs.us-east-1.amazonaws.com/123456789012/{name}",
    "AWS::Serverless::LayerVersion": "arn:aws:lambda:us-east-1:123456789012:layer:{name}:1",
}

# Parameters under which the template creates every function (the Slack actions function needs both Slack secrets
# named); the secrets themselves are never read at import.
EVERY_FUNCTION = {
    "SlackWebhookSecretId": "rollbackctl/slack-webhook",
    "SlackSigningSecretId": "rollbackctl/slack-signing",
}


@dataclass
class Target:
    label: str
    root: Path
    code_dir: Path
    module: str
    env: dict[str, str]


def function_targets(root: Path = ROOT, label_prefix: str = "") -> list[Target]:
    """Every AWS::Serverless::Function of root/template.yaml, with its resolved environment."""
    from rollbackctl.emulator.deployer import Stack, _merge_globals, load_template, resolve_parameters
    from rollbackctl.emulator.runtime import InProcessRuntime

    template = load_template(root / "template.yaml")
    resources: dict[str, Any] = template.get("Resources", {})

    class DryStack(Stack):
        """Resolves the template without creating anything: names and ARNs shaped as AWS returns them."""

        def get_att(self, resource: str, attribute: str) -> str:
            if resource not in resources and resource.endswith("Role"):  # a role SAM generates for a function
                return f"arn:aws:iam::123456789012:role/{STACK}-{resource}"
            kind = resources[resource]["Type"].split("::")[-1].lower()
            return f"arn:aws:{kind}:us-east-1:123456789012:{resource}/{attribute}"

    declared = template.get("Parameters") or {}
    overrides = {k: v for k, v in EVERY_FUNCTION.items() if k in declared}  # a baseline may predate some
    stack = DryStack(template, STACK, "us-east-1", resolve_parameters(template, overrides))
    for logical, body in resources.items():
        form = REF_FORMS.get(body.get("Type", ""), "{name}")
        stack.refs[logical] = form.format(name=f"{STACK}-{logical}")
    base = InProcessRuntime("us-east-1").base_environment()
    globals_fn = (template.get("Globals") or {}).get("Function", {})
    targets = []
    for logical, body in resources.items():
        if body.get("Type") != "AWS::Serverless::Function":
            continue
        if body.get("Condition") and not stack.conditions[body["Condition"]]:
            continue  # a function these parameters do not create
        props = stack.resolve(_merge_globals(body.get("Properties", {}), globals_fn))
        variables = {k: str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
        module = str(props["Handler"]).rpartition(".")[0]
        name = logical.removesuffix("Function").lower()
        targets.append(Target(f"{label_prefix}{name}", root, root / props["CodeUri"], module, {**base, **variables}))
    return targets


def boto3_target(root: Path = ROOT, label: str = "boto3") -> Target:
    from rollbackctl.emulator.runtime import InProcessRuntime

    return Target(label, root, root, "boto3", InProcessRuntime("us-east-1").base_environment())


def _env(target: Target, extra: dict[str, str] | None = None) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")}
    return {**keep, "PYTHONPATH": str(target.root / "layers"), **target.env, **(extra or {})}


def time_import(target: Target) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the import. CPU time is what the import itself costs; wall time is
    what a cold start waits, and on a shared machine it includes other processes' turns on the CPU."""
    result = subprocess.run(  # noqa: S603 -- our interpreter, our script
        [sys.executable, "-c", TIMER.format(module=target.module), str(target.code_dir)],
        env=_env(target),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing {target.label} failed:\n{result.stderr[-2000:]}")
    wall, cpu = result.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def import_profile(target: Target, top: int = 12) -> dict[str, Any]:
    """``python -X importtime``: what the handler module's import spends its time on. ``module_body_ms`` is
    the module's own code (clients, Powertools objects...); ``imports`` the direct imports it triggers
    (cumulative, each counted once: whatever was imported earlier is free later)."""
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            f"import sys; sys.path.insert(0, {str(target.code_dir)!r}); import {target.module}",
        ],
        env=_env(target),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match[1]), int(match[2]), len(match[3]) // 2, match[4]))
    root = next((r for r in rows if r[3] == target.module and r[2] <= 1), None)
    if root is None:
        return {}
    depth = root[2] + 1
    index = rows.index(root)
    # importtime prints children before their parent: the direct children are the rows just above the
    # root at depth+1 back to the previous row at the root's depth or shallower.
    children = []
    for row in reversed(rows[:index]):
        if row[2] <= root[2]:
            break
        if row[2] == depth:
            children.append(row)
    children.sort(key=lambda r: -r[1])
    return {
        "total_ms": round(root[1] / 1000, 1),
        "module_body_ms": round(root[0] / 1000, 1),
        "imports": {name: round(cum / 1000, 1) for _, cum, _, name in children[:top]},
    }


def measure(
    targets: list[Target], rounds: int = 9, warmup: int = 1, seed: int = 8
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(wall, cpu) seconds per target label, ``rounds`` each, after ``warmup`` rounds (bytecode caches)."""
    rng = random.Random(seed)  # noqa: S311 -- a seeded shuffle, not a secret
    wall: dict[str, list[float]] = {t.label: [] for t in targets}
    cpu: dict[str, list[float]] = {t.label: [] for t in targets}
    for round_ in range(warmup + rounds):
        order = list(targets)
        rng.shuffle(order)
        for target in order:
            seconds, cpu_seconds = time_import(target)
            if round_ >= warmup:
                wall[target.label].append(seconds)
                cpu[target.label].append(cpu_seconds)
    return wall, cpu


def run(rounds: int = 9, root: Path = ROOT) -> dict[str, Any]:
    functions = function_targets(root)
    baseline = boto3_target(root)
    wall, cpu = measure([baseline, *functions], rounds)
    medians = {label: statistics.median(v) for label, v in wall.items()}
    cpu_medians = {label: statistics.median(v) for label, v in cpu.items()}
    base, cpu_base = medians["boto3"], cpu_medians["boto3"]
    per_function = {
        t.label: {
            "median_ms": round(medians[t.label] * 1000, 1),
            "min_ms": round(min(wall[t.label]) * 1000, 1),
            "ratio": round(medians[t.label] / base, 3),
            "cpu_median_ms": round(cpu_medians[t.label] * 1000, 1),
            "cpu_ratio": round(cpu_medians[t.label] / cpu_base, 3),
        }
        for t in functions
    }
    worst = max(functions, key=lambda t: medians[t.label])
    worst_cpu = max(functions, key=lambda t: cpu_medians[t.label])
    return {
        "rounds": rounds,
        "boto3_import_ms": round(base * 1000, 1),
        "boto3_import_min_ms": round(min(wall["boto3"]) * 1000, 1),
        "boto3_import_cpu_ms": round(cpu_base * 1000, 1),
        "handlers": per_function,
        "worst_handler": worst.label,
        "import_ratio_max": round(medians[worst.label] / base, 3),
        "import_ratio_max_cpu": round(cpu_medians[worst_cpu.label] / cpu_base, 3),
        "profile": {t.label: import_profile(t) for t in functions},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--roots", nargs="+", type=Path, default=[ROOT], help="checkouts to compare, interleaved")
    args = parser.parse_args(argv)
    targets: list[Target] = []
    for index, root in enumerate(args.roots):
        prefix = f"{index}:" if len(args.roots) > 1 else ""
        targets.append(boto3_target(root.resolve(), f"{prefix}boto3"))
        targets.extend(function_targets(root.resolve(), prefix))
    wall, cpu = measure(targets, args.rounds)
    for index, root in enumerate(args.roots):
        print(f"{index}: {root}" if len(args.roots) > 1 else str(root))
    # boto3 is the same in every checkout: one baseline from all of its rounds
    base = statistics.median([s for label, v in wall.items() if label.endswith("boto3") for s in v])
    cpu_base = statistics.median([s for label, v in cpu.items() if label.endswith("boto3") for s in v])
    print(f"{'target':<14}{'wall ms':>9}{'ratio':>8}{'cpu ms':>9}{'ratio':>8}")
    for label in wall:
        w, c = statistics.median(wall[label]), statistics.median(cpu[label])
        print(f"{label:<14}{w * 1000:>9.1f}{w / base:>8.2f}{c * 1000:>9.1f}{c / cpu_base:>8.2f}")


if __name__ == "__main__":
    main()
