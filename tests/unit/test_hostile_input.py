"""Every event kind, mutated: accepted, or rejected with a clean validation error. Never a crash."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings

from rollbackctl import events
from rollbackctl.model import Incident
from tests.hostile import hostile_events

EXAMPLES = 1200


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_events())
def test_any_mutation_is_accepted_or_cleanly_rejected(event: Any) -> None:
    try:
        signal = events.parse(event)
    except events.InvalidEvent as exc:
        assert str(exc)  # a reason a human can read
        return
    trigger = signal.trigger()
    # what the workflow carries between states must survive JSON
    incident = Incident("inc-x", trigger, "2026-01-01T00:00:00.000Z")
    assert Incident.from_dict(json.loads(json.dumps(incident.to_dict()))) == incident
