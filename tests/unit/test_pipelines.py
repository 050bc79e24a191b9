"""Pipeline helpers that need no AWS: the tag contract and DisableStageTransition's reason rules."""

from __future__ import annotations

import re

from rollbackctl import pipelines

AWS_REASON = re.compile(r"^[a-zA-Z0-9!@ \(\)\.\*\?\-]{1,300}$")


def test_pipeline_tag_with_and_without_a_stage() -> None:
    ref = pipelines.from_tags(("alarm", {}), ("target", {"rollback:pipeline": "web-pipeline/Deploy"}))
    assert ref is not None and (ref.name, ref.stage, ref.source) == (
        "web-pipeline",
        "Deploy",
        "tag rollback:pipeline on the target",
    )
    ref = pipelines.from_tags(("alarm", {"rollback:pipeline": "web-pipeline"}), ("target", {}))
    assert ref is not None and (ref.name, ref.stage) == ("web-pipeline", None)
    assert pipelines.from_tags(("alarm", {}), ("target", {"rollback:pipeline": " "})) is None


def test_the_alarm_tag_wins_over_the_target_tag() -> None:
    ref = pipelines.from_tags(("alarm", {"rollback:pipeline": "a"}), ("target", {"rollback:pipeline": "b"}))
    assert ref is not None and ref.name == "a"


def test_transition_reason_fits_what_aws_accepts_and_keeps_the_incident_id() -> None:
    text = "rollbackctl inc-20261122T021603-5e724a95 blocked bad version web:2 of prod/web " + "é_x" * 200
    reason = pipelines.transition_reason(text)
    assert AWS_REASON.match(reason)
    assert pipelines.INCIDENT_IN_REASON.search(reason).group(1) == "inc-20261122T021603-5e724a95"  # type: ignore[union-attr]
    assert "web 2 of prod web" in reason
