"""The calls before traffic moves: what the event already says is not asked of AWS again.

An alarm that propagates its tags (ActionConfiguration.AlarmTagsPropagation) sends them in its state-change event
(``detail.alarmTags``, ``alarmTagsStatus`` SUCCESS): triage takes them from there and makes no tag lookup. Shown by
AWS's answer: with CloudWatch's ListTagsForResource refused to the controller, the alarm's own tags still decide.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rollbackctl.emulator import estate
from rollbackctl.emulator.demo import fire_and_wait
from rollbackctl.emulator.faults import Faults


def canary(aws: Any, name: str, propagate_tags: bool) -> None:
    estate.lambda_with_versions(aws, name, 2)
    estate.alias(aws, name, "live", "1", canary=("2", 0.1))
    tags = {"rollback:mode": "dry-run"}
    estate.lambda_errors_alarm(aws, f"{name}-errors", name, "live", tags, propagate_tags=propagate_tags)


def weights(aws: Any, name: str) -> dict[str, float]:
    alias = aws.client("lambda").get_alias(FunctionName=name, Name="live")
    return dict((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})


@pytest.mark.parametrize("propagate_tags", [True, False])
def test_an_alarm_that_sends_its_tags_needs_no_tag_lookup(
    aws: Any, controller: Any, faults: Faults, propagate_tags: bool
) -> None:
    canary(aws, "checkout", propagate_tags)
    faults.add("cloudwatch", "ListTagsForResource", "AccessDeniedException", "not authorized")
    [finished] = fire_and_wait(aws, controller, "checkout-errors")
    assert weights(aws, "checkout") == {"2": 0.1}  # a dry run, or nothing: the canary is where it was
    if propagate_tags:
        incident = json.loads(finished["output"])
        assert incident["action"] == "dry_run", incident["reason"]
        assert "rollback:mode=dry-run" in incident["reason"]
        assert not [hit for hit in faults.hits if hit[1] == "ListTagsForResource"]
    else:  # the tags had to be looked up, and CloudWatch refused: the step failed (recorded and paged)
        assert finished["status"] == "FAILED"
        assert [hit for hit in faults.hits if hit[1] == "ListTagsForResource"]
