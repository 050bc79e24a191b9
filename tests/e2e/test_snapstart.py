"""SnapStart for the two functions before traffic moves (template parameter SnapStart).

The workflow always invokes Triage's and Restore's published alias ``live`` (SnapStart applies to published
versions only); SnapStart=on turns it on for those versions; after a restore, each function makes its credentials
and clients again (rollbackctl.snapstart), through the runtime hook the managed runtime provides.
"""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import pytest

from rollbackctl.emulator import deploy, estate
from rollbackctl.emulator.demo import fire_and_wait
from tests.conftest import TEMPLATE

STEPS = ("TriageFunction", "RestoreFunction")


def canary(aws: Any) -> str:
    estate.lambda_with_versions(aws, "checkout", 2)
    estate.alias(aws, "checkout", "live", "1", canary=("2", 0.1))
    estate.lambda_errors_alarm(aws, "checkout-errors", "checkout", "live")
    return "checkout-errors"


@pytest.mark.parametrize("snap_start, apply_on, optimized", [("on", "PublishedVersions", "On"), ("off", "None", "Off")])
def test_triage_and_restore_run_from_their_published_alias(
    aws: Any, snap_start: str, apply_on: str, optimized: str
) -> None:
    controller = deploy(aws, TEMPLATE, overrides={"SnapStart": snap_start})
    lam = aws.client("lambda")
    definition = json.loads(
        aws.client("stepfunctions").describe_state_machine(stateMachineArn=controller.outputs["StateMachineArn"])[
            "definition"
        ]
    )
    for step, state in zip(STEPS, ("Triage", "Restore"), strict=True):
        name = controller.functions[step]
        alias = lam.get_alias(FunctionName=name, Name="live")
        assert alias["FunctionVersion"] != "$LATEST"
        assert definition["States"][state]["Resource"] == alias["AliasArn"]
        published = lam.get_function_configuration(FunctionName=name, Qualifier="live")["SnapStart"]
        assert published == {"ApplyOn": apply_on, "OptimizationStatus": optimized}
        assert lam.get_function_configuration(FunctionName=name)["SnapStart"]["OptimizationStatus"] == "Off"
    [finished] = fire_and_wait(aws, controller, canary(aws))
    assert json.loads(finished["output"])["action"] == "rolled_back"


def test_after_a_restore_each_step_makes_its_clients_again(
    aws: Any, controller: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the runtime's hook library present (as in Lambda's managed runtime), the functions register a rebuild
    of what their init made; run, it replaces the credentials' clients."""
    hooks: list[Any] = []
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", types.SimpleNamespace(register_after_restore=hooks.append))
    fire_and_wait(aws, controller, canary(aws))  # cold-starts every step, the hook library in place
    modules = {name: c.module for (name, _), c in aws.runtime.containers.items()}
    made = [modules[controller.functions[step]] for step in STEPS]
    assert sorted(h.__module__ for h in hooks) == sorted(m.__name__ for m in made)
    for module in made:
        before = module.CLIENTS
        module.make_again()
        assert module.CLIENTS is not before
