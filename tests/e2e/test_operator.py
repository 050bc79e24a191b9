"""Operator controls through the deployed workflow: pause / resume, a rollback by hand, the rate cap."""

from __future__ import annotations

import json
import time
from typing import Any

from typer.testing import CliRunner

from rollbackctl.cli import app
from rollbackctl.emulator import deploy, estate
from rollbackctl.emulator.demo import fire_and_wait
from tests.conftest import ACCOUNT, TEMPLATE
from tests.e2e.conftest import as_role

CHECKOUT = "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"
runner = CliRunner()


def canary(aws: Any, name: str = "checkout", versions: int = 2) -> None:
    estate.lambda_with_versions(aws, name, versions)
    estate.alias(aws, name, "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, f"{name}-live-errors", name, "live")


def alias(aws: Any, name: str = "checkout") -> tuple[str, dict[str, float]]:
    found = aws.client("lambda").get_alias(FunctionName=name, Name="live")
    return found["FunctionVersion"], (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def test_pause_stops_every_mutation_and_resume_lifts_it_both_recorded(aws: Any, controller: Any, faults: Any) -> None:
    canary(aws)
    assert runner.invoke(app, ["pause"]).exit_code == 2  # a reason is required
    with as_role(aws, "alice"):
        paused = runner.invoke(app, ["pause", "--reason", "migration in progress"])
    assert paused.exit_code == 0, paused.output
    [incident] = fire_and_wait(aws, controller, "checkout-live-errors")
    assert json.loads(incident["output"])["action"] == "refused"
    assert faults.mutating_calls() == []
    assert alias(aws) == ("1", {"2": 0.1})

    with as_role(aws, "bob"):
        assert runner.invoke(app, ["resume", "--reason", "migration done"]).exit_code == 0
    history = aws.client("ssm").get_parameter_history(Name="/rollbackctl/kill-switch")["Parameters"]
    # who: the caller's IAM identity as STS reports it, never a name typed on the command line
    assert [(p["Value"], p.get("Description", "").split(" at ")[0]) for p in history[-2:]] == [
        ("on", f"on by arn:aws:sts::{ACCOUNT}:assumed-role/alice/alice-session (STS caller identity)"),
        ("off", f"off by arn:aws:sts::{ACCOUNT}:assumed-role/bob/bob-session (STS caller identity)"),
    ]
    assert "migration in progress" in history[-2]["Description"]


def test_rollback_by_hand_follows_the_same_rules(aws: Any, controller: Any) -> None:
    canary(aws)
    with as_role(aws, "carol"):
        result = runner.invoke(app, ["rollback", CHECKOUT, "--reason", "customers report errors", "--json"])
    assert result.exit_code == 0, result.output
    incident = json.loads(result.stdout)
    assert incident["action"] == "rolled_back"
    assert incident["trigger"]["kind"] == "manual"
    carol = f"arn:aws:sts::{ACCOUNT}:assumed-role/carol/carol-session (STS caller identity)"
    assert f"asked for by {carol} (customers report errors)" in incident["reason"]
    assert runner.invoke(app, ["rollback", CHECKOUT, "--by", "mallory", "--reason", "x"]).exit_code == 2
    assert alias(aws) == ("1", {})


def test_rollback_to_a_version_not_known_good_needs_force_and_says_so(aws: Any, controller: Any) -> None:
    estate.lambda_with_versions(aws, "checkout", 3)
    estate.alias(aws, "checkout", "live", "3")
    refused = runner.invoke(app, ["rollback", CHECKOUT, "--to", "1", "--reason", "back to the old one", "--json"])
    assert refused.exit_code == 1
    assert "not known-good" in json.loads(refused.stdout)["reason"]
    assert alias(aws) == ("3", {})
    assert runner.invoke(app, ["rollback", CHECKOUT, "--force", "--reason", "x"]).exit_code == 2

    forced = runner.invoke(app, ["rollback", CHECKOUT, "--to", "1", "--force", "--reason", "old one", "--json"])
    assert forced.exit_code == 0, forced.output
    incident = json.loads(forced.stdout)
    assert incident["action"] == "rolled_back"
    assert "--force: the known-good rule was overridden" in incident["reason"]
    assert alias(aws) == ("1", {})


def test_past_the_rate_cap_rollbacks_page_instead_of_act(aws: Any, faults: Any) -> None:
    # The cap counts in fixed windows (of 3600 s here): keep both rollbacks inside one window.
    remaining = 3600 - time.time() % 3600
    if remaining < 30:
        time.sleep(remaining + 1)
    controller = deploy(aws, TEMPLATE, overrides={"RateCapCount": "1"})
    canary(aws, "checkout")
    canary(aws, "payments")
    [first] = fire_and_wait(aws, controller, "checkout-live-errors")
    [second] = fire_and_wait(aws, controller, "payments-live-errors")
    assert json.loads(first["output"])["action"] == "rolled_back"
    capped = json.loads(second["output"])
    assert capped["action"] == "refused" and "rate cap reached" in capped["reason"]
    assert alias(aws, "payments") == ("1", {"2": 0.1})
    assert faults.mutating_calls() == [("lambda", "UpdateAlias")]
