"""The results as a Rich table (terminal) and as the README's markdown table.

``python -m bench.report [bench/results.json]`` prints the markdown table of a saved run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

GOALS: list[tuple[str, str, str, Any]] = [
    # (key, label, goal text, predicate)
    ("restore_ratio", "restore_ratio (p50 workflow / p50 floor a)", "<= 1.5", lambda v: v <= 1.5),
    (
        "member_restore_ratio",
        "member_restore_ratio (p50 in a member / p50 in the hub)",
        "<= 1.2",
        lambda v: v <= 1.2,
    ),
    ("critical_path_calls", "critical_path_calls (triage start -> the change, floor 2)", "<= 5", lambda v: v <= 5),
    ("import_ratio_max", "import_ratio_max (worst handler / import boto3)", "<= 1.5", lambda v: v <= 1.5),
    ("storm_rollbacks", "storm_rollbacks", "= storm_expected_rollbacks", None),
    ("storm_mutating_calls", "storm_mutating_calls", "= floor (one UpdateAlias per rollback)", None),
    ("storm_calls_per_event", "storm_calls_per_event", "<= 2", lambda v: v <= 2),
    ("storm_drain_seconds", "storm_drain_seconds", "<= 60", lambda v: v <= 60),
    ("transitions_per_incident", "transitions_per_incident", "<= 15", lambda v: v <= 15),
]


def goals(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for key, label, text, predicate in GOALS:
        if key in ("member_restore_ratio", "critical_path_calls") and key not in results:
            continue  # a checkout without members (a baseline) measures no member incident; an old one no path
        value = results.get(key)
        if key == "storm_rollbacks":
            met = value == results.get("storm_expected_rollbacks")
        elif key == "storm_mutating_calls":
            met = value == results.get("storm_mutating_floor")
        else:
            met = value is not None and bool(predicate(value))
        out[key] = {"label": label, "value": value, "goal": text, "met": met}
    return out


def _ms(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "-"
    return f"{stats['p50_ms']:.1f} / {stats['p95_ms']:.1f}"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, value, goal, status) for the summary table."""
    g = results.get("goals", goals(results))

    def status(key: str) -> str:
        return "" if key not in g else ("met" if g[key]["met"] else "MISSED")

    def goal(key: str) -> str:
        return g[key]["goal"] if key in g else ""

    r: list[tuple[str, str, str, str]] = []
    if "workflow" in results:
        r += [
            ("restore p50 / p95 ms: workflow (alarm -> alias back)", _ms(results["workflow"]), "", ""),
            ("restore p50 / p95 ms: floor (a) one-task state machine", _ms(results["floor_a"]), "", ""),
            ("restore p50 / p95 ms: floor (b) bare GetAlias + UpdateAlias", _ms(results["floor_b"]), "", ""),
            (
                "restore_ratio (p50 workflow / p50 floor a)",
                f"{results['restore_ratio']:.2f}",
                goal("restore_ratio"),
                status("restore_ratio"),
            ),
            ("restore_ratio_api (p50 workflow / p50 floor b)", f"{results['restore_ratio_api']:.2f}", "", ""),
        ]
    if "member" in results:
        r += [
            ("restore p50 / p95 ms: the same incident in a member account", _ms(results["member"]), "", ""),
            (
                "member_restore_ratio (p50 in a member / p50 in the hub)",
                f"{results['member_restore_ratio']:.2f}",
                goal("member_restore_ratio"),
                status("member_restore_ratio"),
            ),
        ]
    if "critical_path_calls" in results:
        r.append(
            (
                "critical_path_calls (triage start -> the change, floor 2)",
                f"{results['critical_path_calls']:g}",
                goal("critical_path_calls"),
                status("critical_path_calls"),
            )
        )
    if "workflow" in results:
        r += [
            (
                "diagnosis / notification after the restore",
                f"{results['diagnosis_after_restore']}/{results['incidents']} / "
                f"{results['notification_after_restore']}/{results['incidents']}",
                "all",
                "met" if results.get("restore_first_ok") else "MISSED",
            ),
        ]
    if "import_ratio_max" in results:
        cold = results.get("coldstart") or {}
        if cold:
            worst = cold["worst_handler"]
            r += [
                ("import boto3, median ms", f"{cold['boto3_import_ms']:.0f}", "", ""),
                (f"worst handler import ({worst}), median ms", f"{cold['handlers'][worst]['median_ms']:.0f}", "", ""),
            ]
        r.append(
            (
                "import_ratio_max (worst handler / import boto3)",
                f"{results['import_ratio_max']:.2f}",
                goal("import_ratio_max"),
                status("import_ratio_max"),
            )
        )
    if "storm_rollbacks" in results:
        r += [
            (
                "storm: events / services / mid-deployment",
                f"{results['storm_events']} / {results['storm_services']} / {results['storm_expected_rollbacks']}",
                "",
                "",
            ),
            (
                "storm_rollbacks (storm_expected_rollbacks)",
                f"{results['storm_rollbacks']} ({results['storm_expected_rollbacks']})",
                "exactly",
                status("storm_rollbacks"),
            ),
            (
                "storm_mutating_calls (floor)",
                f"{results['storm_mutating_calls']} ({results['storm_mutating_floor']})",
                "at the floor",
                status("storm_mutating_calls"),
            ),
            (
                "storm_calls_per_event",
                f"{results['storm_calls_per_event']:.2f}",
                goal("storm_calls_per_event"),
                status("storm_calls_per_event"),
            ),
            (
                "storm_drain_seconds",
                f"{results['storm_drain_seconds']:.1f}",
                goal("storm_drain_seconds"),
                status("storm_drain_seconds"),
            ),
        ]
    if "transitions_per_incident" in results:
        r.append(
            (
                "transitions_per_incident (Standard)",
                f"{results['transitions_per_incident']:g}",
                goal("transitions_per_incident"),
                status("transitions_per_incident"),
            )
        )
        if "lambda_invocations_per_incident" in results:
            r += [
                ("Lambda invocations per incident", f"{results['lambda_invocations_per_incident']:g}", "", ""),
                (
                    "cost per incident, USD (list prices; AWS-like durations)",
                    f"{results['cost_usd_per_incident']:.6f} ({results['cost_usd_per_incident_aws_like']:.6f})",
                    "",
                    "",
                ),
            ]
    model = results.get("aws_model")
    if model:
        cold = f" / {model['p50_cold_ms']} / {model['p50_cold_snapstart_ms']}" if "p50_cold_ms" in model else ""
        r.append(
            (
                "time to restore on AWS, model p50 ms: warm / cold / cold with SnapStart",
                f"{model['p50_warm_ms']}{cold}",
                "",
                "",
            )
        )
    return r


def markdown(results: dict[str, Any]) -> str:
    lines = ["| measure | value | goal | |", "|---|---|---|---|"]
    for measure, value, goal, status in rows(results):
        mark = {"met": "met", "MISSED": "**missed**"}.get(status, "")
        lines.append(f"| {measure} | {value} | {goal} | {mark} |")
    return "\n".join(lines)


def rich_table(results: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title="rollbackctl bench (embedded emulator)", show_lines=False)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("goal")
    table.add_column("")
    for measure, value, goal, status in rows(results):
        style = {"met": "green", "MISSED": "bold red"}.get(status, "")
        table.add_row(measure, value, goal, f"[{style}]{status}[/]" if style else "")
    return table


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).parent / "results.json"
    print(markdown(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
