"""Hypothesis strategies: events of every kind rollbackctl accepts, then mutated the way hostile or broken
producers would (wrong types, huge strings, missing keys, unicode, extra nesting)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from tests.conftest import load_event

ACCEPTED = [
    "alarm-lambda-alias-dimensions.json",
    "alarm-composite.json",
    "ecs-deployment-failed.json",
    "codedeploy-deployment-failure.json",
    "codepipeline-action-failed.json",
    "codepipeline-execution-failed.json",
    "cloudformation-stack-update-failed.json",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=50),
    st.text(min_size=5000, max_size=20000),
    st.sampled_from(["", " ", "ALARM", "arn:aws:lambda:::", "\u202e\x00"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def _apply(event: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
    if not path:
        return value if op == "replace" else ({"wrapped": event} if op == "nest" else event)
    parent = event
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == "delete" and isinstance(parent, dict):
        del parent[last]
    elif op == "nest":
        parent[last] = [parent[last]] if isinstance(parent[last], dict) else {"v": parent[last]}
    else:
        parent[last] = value
    return event


@st.composite
def hostile_events(draw: st.DrawFn, names: list[str] = ACCEPTED) -> Any:
    event: Any = copy.deepcopy(load_event(draw(st.sampled_from(names))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(paths(event)))
        op = draw(st.sampled_from(["replace", "delete", "nest"]))
        event = _apply(event, path, op, draw(values))
    return event
