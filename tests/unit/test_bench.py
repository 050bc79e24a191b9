"""The bench's own arithmetic (make bench is not part of make test; these helpers are)."""

from __future__ import annotations

import pytest

from bench import aws_model, common, cost, report, restore
from bench.calls import is_mutating
from rollbackctl.emulator.deployer import load_template
from tests.conftest import TEMPLATE


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


def test_the_history_says_diagnosis_and_notification_came_after_the_restore_through_an_alias() -> None:
    """Triage and Restore are invoked through their alias (resource ...:function:NAME:live): the history check
    still finds the restore task and orders the later tasks after it."""
    functions = {"RestoreFunction": "rb-restore", "DiagnoseFunction": "rb-diagnose", "NotifyFunction": "rb-notify"}
    controller = common.Controller(deployment=type("D", (), {"functions": functions, "outputs": {}})(), overrides={})
    arn = "arn:aws:lambda:us-east-1:123456789012:function:"

    def task(state: str, resource: str, entered: int, exited: int) -> list[dict[str, object]]:
        return [
            {"type": "TaskStateEntered", "timestamp": entered, "stateEnteredEventDetails": {"name": state}},
            {"type": "LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails": {"resource": resource}},
            {"type": "TaskStateExited", "timestamp": exited, "stateExitedEventDetails": {"name": state}},
        ]

    events = task("Restore", arn + "rb-restore:live", 1, 2) + task("Diagnose", arn + "rb-diagnose", 3, 4)
    events += task("RecordAndNotify", arn + "rb-notify", 5, 6)
    order = restore._order_after_restore(controller, [], 0.0, events)
    assert order["history_diagnosis_after_restore"] and order["history_notification_after_restore"]
    early = task("Diagnose", arn + "rb-diagnose", 0, 1) + task("Restore", arn + "rb-restore:live", 1, 2)
    assert not restore._order_after_restore(controller, [], 0.0, early)["history_diagnosis_after_restore"]


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
        "storm_drain_seconds": 12.0,
        "transitions_per_incident": 9,
    }
    goals = report.goals(results)
    assert not goals["restore_ratio"]["met"]
    assert all(goals[k]["met"] for k in goals if k != "restore_ratio")
    results["goals"] = goals
    results["storm_events"], results["storm_services"] = 1000, 50
    table = report.markdown(results)
    assert table.splitlines()[0] == "| measure | value | goal | |"
    assert "| storm_calls_per_event | 1.80 | <= 2 | met |" in table
    assert "| storm_drain_seconds | 12.0 | <= 60 | met |" in table


def test_the_aws_model_adds_the_counted_hops_calls_and_code_of_the_path() -> None:
    results = {
        "critical_path_operations": ["dynamodb:Query", "lambda:GetAlias", "lambda:UpdateAlias"],
        "where_the_time_goes": {
            "workflow_p50_ms": {
                "triage_handler": 30.0,
                "triage_aws_calls": 20.0,
                "restore_until_alias_back": 8.0,
                "restore_aws_calls": 6.0,
            }
        },
        "coldstart": {"handlers": {"triage": {"median_ms": 300.0}, "restore": {"median_ms": 200.0}}},
    }
    model = aws_model.estimate(results)
    assert model is not None
    hops = aws_model.HOPS_MS
    fixed = hops["alarm_to_eventbridge_rule"] + hops["rule_to_start_execution"]
    tasks = 2 * (hops["state_machine_to_task"] + hops["lambda_invoke_warm"])
    assert model["calls_ms"] == 6 + 40 + 60 and model["code_ms"] == 12.0
    assert model["p50_warm_ms"] == round(fixed + tasks + 12 + 106)
    inits = 2 * hops["lambda_runtime_init"] + aws_model.INIT_CPU_FACTOR * 500
    assert model["p50_cold_ms"] == round(model["p50_warm_ms"] + inits)
    assert model["p50_cold_snapstart_ms"] == round(model["p50_warm_ms"] + 2 * hops["snapstart_restore"])
    assert set(model["assumptions"]) >= set(hops) - {"lambda_invoke_warm"} and model["baselines"]
    assert "p50_member_warm_ms" not in model
    member = aws_model.estimate({**results, "member": {"p50_ms": 1.0}})
    assert member is not None
    assert member["p50_member_warm_ms"] == round(model["p50_warm_ms"] + 2 * aws_model.CALL_MS["sts:AssumeRole"])
    assert aws_model.estimate({"critical_path_operations": []}) is None


def test_the_cold_start_targets_are_every_function_with_its_environment() -> None:
    from bench import coldstart

    targets = coldstart.function_targets()
    functions = {
        name
        for name, body in load_template(TEMPLATE)["Resources"].items()
        if body["Type"] == "AWS::Serverless::Function"
    }
    assert {t.label for t in targets} == {name.removesuffix("Function").lower() for name in functions}
    for target in targets:
        assert (target.code_dir / f"{target.module}.py").is_file()
        assert target.env["INCIDENT_TABLE"] and target.env["MODE"] in ("enforce", "dry-run")
        assert target.env["TOPIC_ARN"].startswith("arn:aws:sns:")


def test_every_handler_imports_in_the_environment_the_cold_start_gives_it() -> None:
    """What make bench's first phase does, once per function: a handler whose settings are missing fails its
    import (config reads them at cold start), and with it the bench."""
    from bench import coldstart

    for target in coldstart.function_targets():
        wall, cpu = coldstart.time_import(target)
        assert wall > 0 and cpu > 0, target.label
