"""Operations that take time: moto's state manager drives them, one ticker keeps them moving (progress.py)."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from moto.moto_api import state_manager

from rollbackctl.emulator import Emulator, progress


def test_in_process_an_operation_stays_where_it_is_until_a_transition_is_set(aws: Any) -> None:
    for model in progress.MODELS:
        assert state_manager.get_transition(model) == {"progression": "manual", "times": progress.HELD}


def test_local_aws_moves_every_model_every_five_seconds_until_told_otherwise(http_aws: Any) -> None:
    for model in progress.MODELS:
        url = f"{http_aws.endpoint_url}/moto-api/state-manager/get-transition?model_name={model}"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert json.loads(response.read()) == {"progression": "time", "seconds": 5}


def test_a_transition_a_test_sets_ends_with_its_emulator() -> None:
    with Emulator():
        state_manager.set_transition("ecs::deployment", {"progression": "immediate"})
    assert state_manager.get_transition("ecs::deployment") == progress.IN_PROCESS_TRANSITION


class Toy(progress.Operation):
    """A model that is not AWS's: how the next one plugs in."""

    MODEL = "emulator-test::toy"

    def __init__(self) -> None:
        super().__init__([("A", "B"), ("B", "C")])
        self.steps: list[tuple[str, str]] = []
        self.track()

    def on_status(self, old: str, new: str) -> None:
        self.steps.append((old, new))


def test_the_ticker_walks_each_step_and_drops_what_finished(aws: Any) -> None:
    state_manager.set_transition(Toy.MODEL, {"progression": "immediate"})
    try:
        toy = Toy()
        deadline = time.monotonic() + 2
        while toy in progress.REGISTRY.in_flight() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert toy.steps == [("A", "B"), ("B", "C")]  # nobody read it: the ticker did, and each step ran
        assert toy not in progress.REGISTRY.in_flight()
    finally:
        state_manager.unset_transition(Toy.MODEL)


def test_setting_a_status_by_hand_runs_the_steps_in_between(aws: Any) -> None:
    state_manager.set_transition(Toy.MODEL, {"progression": "manual", "times": progress.HELD})
    try:
        toy = Toy()
        toy.status = "C"
        assert toy.steps == [("A", "B"), ("B", "C")] and toy.done
        toy.restart([("X", "Y")], "X")
        assert toy.steps[-1] == ("C", "X") and not toy.done
        toy.finish()
        assert toy.status == "Y" and toy.steps[-1] == ("X", "Y")
    finally:
        state_manager.unset_transition(Toy.MODEL)
