"""The bench's own arithmetic (make bench is not part of make test; these helpers are)."""

from __future__ import annotations

import pytest

from bench import common, cost, report
from bench.calls import is_mutating


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert common.percentile(values, 50) == 50
    assert common.percentile(values, 95) == 95
    assert common.percentile([3.0], 95) == 3.0
    stats = common.summary_ms([0.010, 0.020, 0.030])
    assert stats["p50_ms"] == 20.0 and stats["p95_ms"] == 30.0 and stats["n"] == 3


def test_transitions_count_states_entered_and_task_retries() -> None:
    events = [
        {"type": "ExecutionStarted"},
        {"type": "TaskStateEntered"},
        {"type": "LambdaFunctionScheduled"},
        {"type": "LambdaFunctionFailed"},
        {"type": "LambdaFunctionScheduled"},  # a retry: billed as another transition
        {"type": "TaskStateExited"},
        {"type": "ChoiceStateEntered"},
        {"type": "SucceedStateEntered"},
        {"type": "ExecutionSucceeded"},
    ]
    assert common.transitions(events) == 4


def test_elbv2_mutating_calls_count_under_either_service_name() -> None:
    assert is_mutating("lambda", "UpdateAlias")
    assert is_mutating("elbv2", "ModifyListener")
    assert not is_mutating("lambda", "GetAlias")


def test_cost_per_incident_from_counted_work() -> None:
    incident = {
        "transitions": 10,
        "invocations": [("triage", 0.0101, 1000), ("restore", 0.005, 500)],
        "calls": [
            ("triage", "dynamodb", "PutItem", 1500, 0.002),  # 2 write units
            ("triage", "dynamodb", "GetItem", 100, 0.001),
            ("restore", "lambda", "UpdateAlias", 200, 0.002),
            ("restore", "sns", "Publish", 800, 0.001),
        ],
    }
    out = cost.per_incident({"per_incident": [incident, incident]}, {"triage": 256, "restore": 1024})
    assert out["transitions_per_incident"] == 10
    assert out["lambda_invocations_per_incident"] == 2
    assert out["dynamodb_wru_per_incident"] == 2 and out["dynamodb_rru_per_incident"] == 1
    # billed per 1 ms, rounded up: 11 ms at 0.25 GB + 5 ms at 1 GB
    assert out["lambda_gb_seconds_per_incident"] == pytest.approx(0.25 * 0.011 + 1.0 * 0.005)
    lines = out["cost_usd_per_incident_lines"]
    assert lines["stepfunctions"] == pytest.approx(10 * 0.025 / 1000)
    assert out["cost_usd_per_incident"] == pytest.approx(sum(lines.values()), rel=1e-2)
    assert out["cost_assumptions"] and out["cost_prices"]


def test_goals_and_the_readme_table() -> None:
    results = {
        "restore_ratio": 2.0,
        "import_ratio_max": 1.2,
        "storm_rollbacks": 20,
        "storm_expected_rollbacks": 20,
        "storm_mutating_calls": 20,
        "storm_mutating_floor": 20,
        "storm_calls_per_event": 1.8,
        "transitions_per_incident": 9,
    }
    goals = report.goals(results)
    assert not goals["restore_ratio"]["met"]
    assert all(goals[k]["met"] for k in goals if k != "restore_ratio")
    results["goals"] = goals
    results["storm_events"], results["storm_services"], results["storm_drain_seconds"] = 1000, 50, 12.0
    table = report.markdown(results)
    assert table.splitlines()[0] == "| measure | value | goal | |"
    assert "| storm_calls_per_event | 1.80 | <= 3 | met |" in table


def test_the_cold_start_targets_are_every_function_with_its_environment() -> None:
    from bench import coldstart

    targets = coldstart.function_targets()
    assert {"triage", "restore", "notify"} <= {t.label for t in targets}
    for target in targets:
        assert (target.code_dir / f"{target.module}.py").is_file()
        assert target.env["INCIDENT_TABLE"] and target.env["MODE"] in ("enforce", "dry-run")
        assert target.env["TOPIC_ARN"].startswith("arn:aws:sns:")
