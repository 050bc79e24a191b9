"""Shared fixtures: the repository's own events/ files, and the embedded emulator with the controller."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def fresh_event(name: str) -> dict[str, Any]:
    """A sample event as if it had just been emitted (an older alarm predates the estate's deployment, and
    rollbackctl rightly ignores an alarm that was red before the deployment began)."""
    import time

    event = load_event(name)
    now = time.time()
    event["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    state = (event.get("detail") or {}).get("state")
    if isinstance(state, dict):
        state["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(now))
    return event


@pytest.fixture
def aws() -> Iterator[Any]:
    """The embedded AWS, in this process, with a fast clock (Wait and Retry intervals ~1000x shorter)."""
    from rollbackctl.emulator import Emulator

    with Emulator(time_scale=0.001) as emulator:
        yield emulator


@pytest.fixture
def controller(aws: Any) -> Any:
    """The controller deployed from the real template.yaml into the emulator."""
    from rollbackctl.emulator import deploy

    return deploy(aws, TEMPLATE)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault matrix (e2e/test_fault_matrix.py), when its rows ran: each row's cells by outcome. Here, not in
    e2e/conftest.py: with xdist the controlling process, which prints the summary, loads only this conftest."""
    rows: dict[str, dict[str, str]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", []):
                if name == "fault_matrix":
                    rows.update(json.loads(value))
    if rows:
        from tests.e2e.test_fault_matrix import ROWS, table

        order = [row.id for row in ROWS]
        terminalreporter.section("fault matrix (issue 17)")
        for line in table({r: rows[r] for r in sorted(rows, key=order.index)}):
            terminalreporter.write_line(line)
